//! The shell's commands, on the test image with ramfs on /tmp: exact output
//! for the listing and data commands, effects for the rest.

use std::string::String;

use super::platform::{Machine, TestPlatform, image};
use crate::mount_all;
use crate::shell::{Flow, Shell};

/// Run `script` on a freshly booted test image; returns the flow and the output.
fn sh(script: &str) -> (Flow, String) {
    let platform = TestPlatform::new(8 << 20);
    let machine = Machine::new(Some(image(&[])), "");
    let mounted = mount_all(&platform, &machine.boot()).expect("mount");
    let flow = Shell::new(&platform, &mounted.vfs).run_script("t", script);
    (flow, platform.take_output())
}

fn out(script: &str) -> String {
    sh(script).1
}

#[test]
fn echo_redirects_and_cat() {
    assert_eq!(
        out("echo hello > /tmp/a; echo -n more >> /tmp/a; cat /tmp/a /etc/motd"),
        "hello\nmorehello\n"
    );
    // Any command's output can be redirected; errors still reach the console.
    assert_eq!(
        out("ls /data > /tmp/l; cat /nope > /tmp/l; cat /tmp/l"),
        "cat: /nope: ENOENT (No such file or directory)\n"
    );
    assert_eq!(
        out("echo x > /etc/new"),
        "echo: /etc/new: EROFS (Read-only file system)\n"
    );
}

#[test]
fn ls_long_prints_mode_links_owner_size_time() {
    assert_eq!(
        out("ls -l /data /links"),
        "/data:\n\
         -rw-r--r--   1    0    0         20 2023-11-14 22:13:20 a.txt\n\
         -rw-r--r--   1    0    0          0 2023-11-14 22:13:20 b.txt\n\
         \n\
         /links:\n\
         lrwxrwxrwx   1    0    0         11 2023-11-14 22:13:20 motd -> ../etc/motd\n\
         \n"
    );
    assert_eq!(out("ls /etc"), "demo.sh\nmotd\n");
    assert_eq!(
        out("ls /nope /etc/motd"),
        "ls: /nope: ENOENT (No such file or directory)\n/etc/motd\n"
    );
}

#[test]
fn mkdir_p_ls_r_find_and_rm_r() {
    let (_, text) = sh("mkdir -p /tmp/a/b/c; echo x > /tmp/a/b/f; ls -R /tmp/a; \
         find /tmp -name 'f*'; find /tmp/a -type d; rm -r /tmp/a; ls /tmp; \
         rm /tmp/a; rm -f /tmp/a; mkdir /tmp/x/y");
    assert_eq!(
        text,
        "/tmp/a:\nb\n\n/tmp/a/b:\nc\nf\n\n/tmp/a/b/c:\n\n\
         /tmp/a/b/f\n\
         /tmp/a\n/tmp/a/b\n/tmp/a/b/c\n\
         rm: /tmp/a: ENOENT (No such file or directory)\n\
         mkdir: /tmp/x/y: ENOENT (No such file or directory)\n"
    );
}

#[test]
fn cp_mv_ln_stat() {
    let text = out(
        "cp /data/a.txt /tmp; mv /tmp/a.txt /tmp/b; ln -s b /tmp/s; ln /tmp/b /tmp/h; \
         cat /tmp/s; echo; ls /tmp; stat /tmp/s",
    );
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("0123456789abcdefghij"));
    assert_eq!(lines.next(), Some("b"));
    assert_eq!(lines.next(), Some("h"));
    assert_eq!(lines.next(), Some("s"));
    assert_eq!(lines.next(), Some("  File: /tmp/s -> b"));
    let size_line = lines.next().unwrap_or_default();
    assert!(size_line.starts_with("  Size: 1\t"), "{text}");
    assert!(size_line.ends_with("\tsymbolic link"), "{text}");
    assert!(text.contains("Access: (0777/lrwxrwxrwx)"), "{text}");
    assert!(
        text.contains("Modify: 2023-11-14 22:13:20.000000000"),
        "{text}"
    );
    assert_eq!(out("ln /data/a.txt"), "ln: usage: ln [-s] TARGET LINK\n");
}

#[test]
fn hexdump_and_crc32() {
    assert_eq!(
        out("hexdump -s 2 -n 0x14 /data/a.txt"),
        "00000002  32 33 34 35 36 37 38 39  61 62 63 64 65 66 67 68  |23456789abcdefgh|\n\
         00000012  69 6a                                             |ij|\n\
         00000014\n"
    );
    assert_eq!(
        out("crc32 /data/a.txt /data/b.txt"),
        std::format!(
            "{:08x} 20 /data/a.txt\n00000000 0 /data/b.txt\n",
            crc32fast::hash(b"0123456789abcdefghij")
        )
    );
    assert_eq!(
        out("hexdump -n"),
        "hexdump: usage: hexdump [-s OFFSET] [-n LENGTH] FILE\n"
    );
}

#[test]
fn df_and_mount_list_the_table() {
    let text = out("mount; df /tmp");
    assert_eq!(
        text.lines().take(3).collect::<std::vec::Vec<_>>(),
        [
            "/dev/vblk0 on / type rofs (ro)",
            "none on /dev type devfs (rw)",
            "none on /tmp type ramfs (rw,size=4194304)",
        ]
    );
    assert!(
        text.contains("Filesystem     Type       Size     Used    Avail  Use% Mounted on\n"),
        "{text}"
    );
    assert!(
        text.contains("none           ramfs     4096K       0B    4096K    0% /tmp"),
        "{text}"
    );
    let text = out(
        "mkdir /tmp/m; mount -t ramfs -o size=1M none /tmp/m; mount; umount /tmp/m; umount /tmp/m",
    );
    assert!(
        text.contains("none on /tmp/m type ramfs (rw,size=1M)"),
        "{text}"
    );
    assert!(
        text.ends_with("umount: /tmp/m: EINVAL (Invalid argument)\n"),
        "{text}"
    );
}

#[test]
fn info_and_errors() {
    assert_eq!(out("nosuch arg"), "nosuch: command not found\n");
    assert_eq!(
        out("cd /data; pwd; cd /etc/motd"),
        "/data\ncd: /etc/motd: ENOTDIR (Not a directory)\n"
    );
    assert!(out("uptime").starts_with("up 0.0"));
    assert!(out("help").starts_with("commands:\n"));
    assert!(out("readspeed /data/a.txt 7").starts_with("20 bytes in "));
    assert_eq!(
        out("debug-fault"),
        "debug-fault: no unmapped address on this platform\n"
    );
    assert_eq!(out("echo 'open"), "t:1: unterminated quote\n");
    assert_eq!(out("ls -z"), "ls: unknown option -z\n");
}

#[test]
fn poweroff_stops_the_script() {
    let (flow, text) = sh("echo a; poweroff; echo b");
    assert_eq!(flow, Flow::PowerOff);
    assert_eq!(text, "a\n");
    assert_eq!(sh("echo a").0, Flow::Continue);
}
