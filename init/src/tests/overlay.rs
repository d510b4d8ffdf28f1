//! Overlays at boot: `root=overlay` (the stack, its size, `/tmp` apart,
//! verified lowers, each root failure's code through the hidden layer),
//! roots stacked on hidden entries of the command line, directories
//! overlaid from `vfs.fstab=` and `/etc/fstab`, and what `mount`/`df` show.

use std::format;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

use vfs::{Errno, MountFlags, OpenFlags, Vfs};

use super::platform::{Machine, TestPlatform, image};
use super::verity::{hex, machine, tamper, with_tree};
use crate::shell::Shell;
use crate::{
    EXIT_BAD_CMDLINE, EXIT_NO_ROOT_DISK, EXIT_ROOT_MOUNT_FAILED, EXIT_ROOT_VERIFY_FAILED, cmdline,
    mount_all, run,
};

const HEAP: u64 = 8 << 20;

fn rows(vfs: &Vfs) -> Vec<(String, String, String, bool)> {
    vfs.mounts()
        .into_iter()
        .map(|m| {
            let ro = m.flags.contains(MountFlags::RDONLY);
            (m.target, m.fs_type, m.options, ro)
        })
        .collect()
}

fn row(target: &str, fs_type: &str, options: &str, ro: bool) -> (String, String, String, bool) {
    (target.into(), fs_type.into(), options.into(), ro)
}

fn boot(disk: Vec<u8>, cmdline: &str) -> (TestPlatform, crate::Mounted) {
    let platform = TestPlatform::new(HEAP);
    let machine = Machine::new(Some(disk), cmdline);
    let mounted = mount_all(&platform, &machine.boot())
        .unwrap_or_else(|f| panic!("{cmdline}: exit {}: {}", f.code, f.message));
    (platform, mounted)
}

fn bytes_of(vfs: &Vfs, path: &str) -> u64 {
    let s = vfs.statfs(path).expect("statfs");
    s.blocks * u64::from(s.block_size)
}

#[test]
fn root_overlay_stacks_the_image_under_a_ramfs_of_half_the_heap() {
    let (_platform, mounted) = boot(image(&[]), "root=overlay");
    let vfs = &mounted.vfs;
    let lowerdir = "lowerdir=@root.lower,upperdir=@root.upper";
    assert_eq!(
        rows(vfs),
        vec![
            row("@root.lower", "rofs", "", true),
            row("@root.upper", "ramfs", "size=4194304", false),
            row("/", "overlay", lowerdir, false),
            row("/dev", "devfs", "", false),
            row("/tmp", "ramfs", "size=4194304", false),
        ]
    );
    // Writable: a new file, an append to an image file, a delete.
    vfs.write_file("/etc/new.conf", b"made at run time")
        .expect("new file");
    let fd = vfs
        .open("/etc/motd", OpenFlags::O_WRONLY | OpenFlags::O_APPEND, 0)
        .expect("open for append");
    vfs.write(fd, b"more\n").expect("append");
    vfs.close(fd).expect("close");
    vfs.unlink("/data/a.txt").expect("unlink an image file");
    assert_eq!(vfs.read_file("/etc/motd").expect("motd"), b"hello\nmore\n");
    assert_eq!(vfs.stat("/data/a.txt"), Err(Errno::ENOENT));
    // The lower layer is untouched: a read-only view of it still has it all.
    vfs.mount(
        None,
        "/tmp",
        "overlay",
        MountFlags::empty(),
        "lowerdir=@root.lower",
    )
    .expect("a read-only view of the hidden lower");
    assert_eq!(vfs.read_file("/tmp/etc/motd").expect("motd"), b"hello\n");
    assert_eq!(
        vfs.read_file("/tmp/data/a.txt").expect("a.txt"),
        b"0123456789abcdefghij"
    );
    assert_eq!(vfs.stat("/tmp/etc/new.conf"), Err(Errno::ENOENT));
    assert_eq!(
        vfs.write_file("/tmp/x", b"x"),
        Err(Errno::EROFS),
        "a lower-only overlay is read-only"
    );
    vfs.umount("/tmp").expect("umount the view");
    // The hidden layers are pinned by the root.
    assert_eq!(vfs.umount("@root.lower"), Err(Errno::EBUSY));
    assert_eq!(vfs.umount("@root.upper"), Err(Errno::EBUSY));
    // df /: the upper layer's space, with the overlay's magic.
    let root = vfs.statfs("/").expect("statfs /");
    let upper = vfs.statfs("@root.upper").expect("statfs upper");
    assert_eq!(root.fs_type, fs_overlay::OVERLAYFS_MAGIC);
    assert_eq!(
        (root.blocks, root.blocks_free, root.block_size),
        (upper.blocks, upper.blocks_free, upper.block_size)
    );
    assert_eq!(bytes_of(vfs, "/"), HEAP / 2);
    assert!(upper.blocks_free < upper.blocks, "the copy-up used space");
}

#[test]
fn root_size_sets_the_upper_limit_and_tmp_is_apart() {
    let (_platform, mounted) = boot(image(&[]), "root=overlay root.size=1M");
    let vfs = &mounted.vfs;
    assert_eq!(bytes_of(vfs, "/"), 1 << 20);
    assert_eq!(bytes_of(vfs, "/tmp"), HEAP / 2);
    // Filling / leaves /tmp's space alone, and the reverse.
    let big = vec![7u8; 2 << 20];
    let before = vfs.statfs("/").expect("statfs /").blocks_free;
    assert_eq!(vfs.write_file("/big", &big), Err(Errno::ENOSPC));
    vfs.unlink("/big").expect("the partly written file");
    assert_eq!(vfs.statfs("/").expect("statfs /").blocks_free, before);
    let tmp = vfs.statfs("/tmp").expect("statfs /tmp");
    assert_eq!(tmp.blocks_free, tmp.blocks);
    vfs.write_file("/tmp/big", &big).expect("/tmp has room");
    vfs.write_file("/small", b"still room in /")
        .expect("/ has room");
}

#[test]
fn root_overlay_composes_with_a_command_line_root_and_its_options() {
    let (_platform, mounted) = boot(
        image(&[]),
        "vfs.fstab=vblk0:/:rofs::verify;none:/tmp:ramfs::size=1M root=overlay root.size=2M",
    );
    let vfs = &mounted.vfs;
    assert_eq!(
        rows(vfs),
        vec![
            row("@root.lower", "rofs", "verify", true),
            row("@root.upper", "ramfs", "size=2097152", false),
            row(
                "/",
                "overlay",
                "lowerdir=@root.lower,upperdir=@root.upper",
                false
            ),
            row("/tmp", "ramfs", "size=1M", false),
        ]
    );
    vfs.write_file("/data/c.txt", b"c").expect("write");
    assert_eq!(vfs.read_dir("/data").expect("ls").len(), 3);
}

#[test]
fn root_overlay_over_a_verified_disk() {
    let mut bytes = image(&[]);
    let (disk, root) = with_tree(core::mem::take(&mut bytes));
    let platform = TestPlatform::new(HEAP);
    let m = machine(
        vec![disk.clone()],
        &format!("root=overlay rofs.roothash={}", hex(&root)),
    );
    let mounted = mount_all(&platform, &m.boot()).expect("verified overlay root");
    let vfs = &mounted.vfs;
    assert_eq!(rows(vfs)[0], row("@root.lower", "rofs", "", true));
    vfs.write_file("/etc/motd", b"replaced").expect("write");
    assert_eq!(vfs.read_file("/etc/motd").expect("motd"), b"replaced");

    // A tampered block reads as EIO through the overlay, and a copy-up of
    // that file fails the same way, leaving no copy behind.
    let mut tampered = disk.clone();
    tamper(&mut tampered, b"0123456789abcdefghij");
    let m = machine(
        vec![tampered],
        &format!("root=overlay rofs.roothash={}", hex(&root)),
    );
    let mounted = mount_all(&platform, &m.boot()).expect("mounts: the tree is intact");
    let vfs = &mounted.vfs;
    assert_eq!(vfs.read_file("/data/a.txt"), Err(Errno::EIO));
    assert_eq!(
        vfs.open("/data/a.txt", OpenFlags::O_WRONLY, 0).err(),
        Some(Errno::EIO)
    );
    assert_eq!(vfs.read_file("/data/a.txt"), Err(Errno::EIO));
    assert_eq!(vfs.read_file("/etc/motd").expect("motd"), b"hello\n");

    // A wrong root hash: the root's own code and line, through the layer.
    let mut wrong = root;
    wrong[0] ^= 1;
    let m = machine(
        vec![disk],
        &format!("root=overlay rofs.roothash={} test", hex(&wrong)),
    );
    assert_eq!(run(&platform, &m.boot()), EXIT_ROOT_VERIFY_FAILED);
    let out = platform.take_output();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with("FATAL: root verification failed: /dev/vblk0: root hash mismatch"),
        "{out}"
    );
}

#[test]
fn root_failures_through_the_lower_layer_keep_their_codes() {
    let platform = TestPlatform::new(HEAP);
    let fatal = |disk: Option<Vec<u8>>, cmdline: &str| {
        let machine = Machine::new(disk, cmdline);
        mount_all(&platform, &machine.boot()).err().expect("fatal")
    };
    let f = fatal(None, "root=overlay");
    assert_eq!(f.code, EXIT_NO_ROOT_DISK);
    assert_eq!(
        f.message,
        "no root disk: /dev/vblk0 not found (disks found: none)"
    );
    let f = fatal(Some(vec![0u8; 1 << 16]), "root=overlay");
    assert_eq!(f.code, EXIT_ROOT_MOUNT_FAILED);
    assert!(
        f.message
            .starts_with("cannot mount root /dev/vblk0 on @root.lower type rofs (ro): EINVAL"),
        "{}",
        f.message
    );
    // A hidden layer the root names, on a disk that is not there.
    let f = fatal(
        Some(image(&[])),
        "vfs.fstab=vblk1:@base:rofs;none:/:overlay::lowerdir=@base",
    );
    assert_eq!(f.code, EXIT_NO_ROOT_DISK);
    assert_eq!(
        f.message,
        "no root disk: /dev/vblk1 not found (disks found: vblk0)"
    );
    // The overlay itself refusing its options is a root mount failure.
    let f = fatal(
        Some(image(&[])),
        "vfs.fstab=vblk0:@base:rofs;none:/:overlay::lowerdir=@base,metacopy=on",
    );
    assert_eq!(f.code, EXIT_ROOT_MOUNT_FAILED);
    assert!(
        f.message.starts_with(
            "cannot mount root none on / type overlay (rw,lowerdir=@base,metacopy=on): EINVAL"
        ),
        "{}",
        f.message
    );
}

#[test]
fn bad_root_words_are_a_bad_command_line() {
    for (line, error) in [
        (
            "root=ramfs",
            "root=`ramfs`: the root kinds are root=overlay and root=virtiofs:TAG",
        ),
        ("root=overlay root=overlay", "root= given twice"),
        (
            "root=overlay root.size=big",
            "root.size=`big`: not a size (such as 16M)",
        ),
        (
            "root=overlay root.size=1",
            "root.size=`1`: must be at least 4K",
        ),
        (
            "root.size=8M",
            "root.size= needs root=overlay (a read-only root has no size)",
        ),
    ] {
        assert_eq!(cmdline::parse(line), Err(error.to_string()), "{line}");
    }
    // The kernel turns a parse error into this exit code.
    assert_eq!(EXIT_BAD_CMDLINE, 5);
}

#[test]
fn hidden_entries_mount_before_the_root_whatever_their_place() {
    let (_platform, mounted) = boot(
        image(&[]),
        "vfs.fstab=none:/:overlay::lowerdir=@base,upperdir=@up \
         vfs.fstab=none:/tmp:ramfs \
         vfs.fstab=vblk0:@base:rofs \
         vfs.fstab=none:@up:ramfs::size=1M \
         vfs.fstab=none:@spare:nosuchfs",
    );
    let vfs = &mounted.vfs;
    assert_eq!(
        rows(vfs),
        vec![
            row("@base", "rofs", "", true),
            row("@up", "ramfs", "size=1M", false),
            row("/", "overlay", "lowerdir=@base,upperdir=@up", false),
            row("/tmp", "ramfs", "", false),
        ],
        "a hidden entry the root does not need may fail"
    );
    vfs.write_file("/data/new", b"n").expect("writable root");
    assert_eq!(bytes_of(vfs, "/"), 1 << 20);
}

/// `/etc` overlaid, `/` still read-only: the checks both fstab forms share.
fn check_etc_overlay(vfs: &Vfs) {
    let targets: Vec<String> = vfs.mounts().into_iter().map(|m| m.target).collect();
    assert!(targets.contains(&"@etc.upper".to_string()), "{targets:?}");
    assert!(targets.contains(&"/etc".to_string()), "{targets:?}");
    let etc = vfs
        .mounts()
        .into_iter()
        .find(|m| m.target == "/etc")
        .expect("/etc");
    assert_eq!(etc.fs_type, "overlay");
    assert!(etc.options.starts_with("lowerdir=/etc,upperdir=@etc.upper"));
    assert_eq!(vfs.read_file("/etc/motd").expect("motd"), b"hello\n");
    vfs.write_file("/etc/motd", b"changed\n")
        .expect("write /etc");
    vfs.write_file("/etc/new", b"new\n")
        .expect("create in /etc");
    vfs.unlink("/etc/demo.sh").expect("delete in /etc");
    assert_eq!(vfs.read_file("/etc/motd").expect("motd"), b"changed\n");
    let mut names: Vec<String> = vfs
        .read_dir("/etc")
        .expect("ls /etc")
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    assert!(names.contains(&"new".to_string()), "{names:?}");
    assert!(!names.contains(&"demo.sh".to_string()), "{names:?}");
    assert_eq!(vfs.write_file("/data/x", b"x"), Err(Errno::EROFS));
    assert_eq!(bytes_of(vfs, "/etc"), 1 << 20);
    // The symlink into /etc now reads the changed file.
    assert_eq!(vfs.read_file("/links/motd").expect("link"), b"changed\n");
}

#[test]
fn a_directory_overlaid_from_the_command_line() {
    let (_platform, mounted) = boot(
        image(&[]),
        "vfs.fstab=vblk0:/:rofs vfs.fstab=none:@etc.upper:ramfs::size=1M \
         vfs.fstab=none:/etc:overlay::lowerdir=/etc,upperdir=@etc.upper",
    );
    check_etc_overlay(&mounted.vfs);
}

#[test]
fn a_directory_overlaid_from_etc_fstab() {
    let fstab: &[u8] = b"# /etc writable, / read-only\n\
        none @etc.upper ramfs rw,size=1M 0 0\n\
        none /etc overlay lowerdir=/etc,upperdir=@etc.upper,workdir=/tmp 0 0\n\
        none @etc.upper ramfs rw 0 0\n";
    let (_platform, mounted) = boot(image(&[("/etc/fstab", fstab)]), "");
    check_etc_overlay(&mounted.vfs);
    // The second @etc.upper line was skipped as mounted.
    let count = mounted
        .vfs
        .mounts()
        .iter()
        .filter(|m| m.target == "@etc.upper")
        .count();
    assert_eq!(count, 1);
}

#[test]
fn mount_and_df_show_the_stack() {
    let platform = TestPlatform::new(HEAP);
    let machine = Machine::new(Some(image(&[])), "root=overlay root.size=2M");
    let mounted = mount_all(&platform, &machine.boot()).expect("mount");
    let shell = Shell::new(&platform, &mounted.vfs);
    shell.run_script("t", "echo hi > /etc/hi; mount; df; df /");
    let text = platform.take_output();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..5],
        [
            "/dev/vblk0 on @root.lower type rofs (ro)",
            "none on @root.upper type ramfs (rw,size=2097152)",
            "none on / type overlay (rw,lowerdir=@root.lower,upperdir=@root.upper)",
            "none on /dev type devfs (rw)",
            "none on /tmp type ramfs (rw,size=4194304)",
        ],
        "{text}"
    );
    let header = "Filesystem     Type        Size     Used    Avail  Use% Mounted on";
    assert_eq!(lines[5], header, "{text}");
    let upper = lines
        .iter()
        .find(|l| l.ends_with(" @root.upper"))
        .expect("df row of the upper layer");
    assert!(
        upper.starts_with("none           ramfs      2048K"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("/dev/vblk0     rofs    ") && l.ends_with(" @root.lower")),
        "{text}"
    );
    // `df /`: one row, the overlay's, with the upper layer's figures.
    assert_eq!(lines[lines.len() - 2], header, "{text}");
    let root_row = lines[lines.len() - 1];
    assert!(
        root_row.starts_with("none           overlay    2048K"),
        "{text}"
    );
    assert!(root_row.ends_with("% /"), "{text}");
    let used = |row: &str| row.split_whitespace().nth(3).map(str::to_string);
    assert_eq!(used(root_row), used(upper), "{text}");
}

/// Seeded mutations of `seed` (characters from `alphabet` replaced,
/// removed or inserted), for the no-panic test.
fn mutate(rng: &mut fastrand::Rng, seed: &str, alphabet: &[u8]) -> String {
    let mut bytes: Vec<u8> = seed.bytes().collect();
    for _ in 0..rng.usize(1..6) {
        let pos = rng.usize(..=bytes.len());
        let c = alphabet[rng.usize(..alphabet.len())];
        match rng.u8(..3) {
            0 if pos < bytes.len() => bytes[pos] = c,
            1 if pos < bytes.len() => {
                bytes.remove(pos);
            }
            _ => bytes.insert(pos, c),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn random_overlay_tables_mount_or_fail_cleanly() {
    const CMDLINES: &[&str] = &[
        "root=overlay root.size=1M vfs.fstab=vblk0:@b:rofs;none:@u:ramfs::size=1M;none:/:overlay::lowerdir=@b,upperdir=@u",
        "vfs.fstab=vblk0:/:rofs vfs.fstab=none:@e:ramfs::size=1M vfs.fstab=none:/etc:overlay::lowerdir=/etc:/data,upperdir=@e,workdir=/tmp",
        "root=overlay vfs.fstab=none:/:overlay::lowerdir=@x vfs.fstab=vblk0:@x:rofs::verify",
    ];
    const FSTAB: &str = "none @e ramfs size=1M 0 0\n\
        none /etc overlay lowerdir=/etc:@e,upperdir=@e 0 0\n\
        none /data overlay lowerdir=/data,upperdir=/tmp 0 0\n";
    let alphabet = b" ;:=,@/.-abcdeflorstuvwxyz0123456789MK\n";
    let mut rng = fastrand::Rng::with_seed(0x0e7e_21a7);
    let platform = TestPlatform::new(HEAP);
    let (mut mounted_count, mut refused) = (0, 0);
    for i in 0..600 {
        let (cmdline, fstab) = if i % 2 == 0 {
            (
                mutate(&mut rng, CMDLINES[i / 2 % CMDLINES.len()], alphabet),
                String::new(),
            )
        } else {
            (
                "root=overlay".to_string(),
                mutate(&mut rng, FSTAB, alphabet),
            )
        };
        let Ok(config) = cmdline::parse(&cmdline) else {
            continue;
        };
        let disk = image(&[("/etc/fstab", fstab.as_bytes())]);
        let mut machine = Machine::new(Some(disk), "");
        machine.config = config;
        machine.cmdline = cmdline.clone();
        match mount_all(&platform, &machine.boot()) {
            Ok(mounted) => {
                mounted_count += 1;
                let vfs = &mounted.vfs;
                for m in vfs.mounts() {
                    assert!(m.target.starts_with(['/', '@']), "{cmdline:?} {fstab:?}");
                }
                let _ = vfs.write_file("/etc/x", b"x");
                let _ = vfs.read_dir("/etc");
                let _ = vfs.statfs("/");
            }
            Err(fatal) => {
                refused += 1;
                assert!(!fatal.message.is_empty() && !fatal.message.contains('\n'));
            }
        }
    }
    assert!(
        mounted_count > 0 && refused > 0,
        "{mounted_count} {refused}"
    );
}

#[test]
fn the_shell_mounts_an_overlay_at_run_time() {
    let platform = TestPlatform::new(HEAP);
    let machine = Machine::new(Some(image(&[])), "");
    let mounted = mount_all(&platform, &machine.boot()).expect("mount");
    let shell = Shell::new(&platform, &mounted.vfs);
    shell.run_script(
        "t",
        "mount -t ramfs -o size=1M none @etc.up; \
         mount -t overlay -o lowerdir=/etc,upperdir=@etc.up,workdir=/tmp none /etc; \
         echo hi >> /etc/motd; cat /etc/motd; umount @etc.up; mount",
    );
    let text = platform.take_output();
    assert!(
        text.starts_with("hello\nhi\numount: @etc.up: EBUSY"),
        "{text}"
    );
    assert!(
        text.ends_with(
            "none on @etc.up type ramfs (rw,size=1M)\n\
             none on /etc type overlay (rw,lowerdir=/etc,upperdir=@etc.up,workdir=/tmp)\n"
        ),
        "{text}"
    );
}
