//! The shell's walks and redirections in bounded memory: under a heap cap a
//! few MiB above what is already allocated, `ls -R` and `find` of a
//! 100,000-entry directory and of a 1,000-level chain finish, and outputs
//! many times the cap stream through a redirection. The cap is the test: a
//! listing collected whole, or an output held in memory, fails its
//! allocation and aborts this binary.
//!
//! One `#[test]`, so no other test's allocations share the cap.

mod common;

use std::alloc::System;

use cap::Cap;
use common::graph::{GraphFs, Node, dir};
use common::{Console, run, vfs_with};
use vfs::MountFlags;

#[global_allocator]
static HEAP: Cap<System> = Cap::new(System, usize::MAX);

/// Headroom over what is allocated when a case starts.
const HEADROOM: usize = 3 << 20;

const WIDE: u64 = 100_000;
const DEPTH: u64 = 1_000;

/// Run `script` with at most [`HEADROOM`] more bytes of heap; returns the
/// console's line count and its first lines.
fn capped(vfs: &vfs::Vfs, script: &str) -> (u64, String) {
    let console = Console::counting();
    let shell = init::shell::Shell::new(&console, vfs);
    HEAP.set_limit(HEAP.allocated() + HEADROOM)
        .expect("set the heap cap");
    shell.run_script("t", script);
    HEAP.set_limit(usize::MAX).expect("lift the heap cap");
    (console.lines(), console.take())
}

#[test]
fn walks_and_redirections_stay_within_a_few_mib() {
    // /g/wide: 100,000 entries naming one file; /g/deep/d/d/...: a chain of
    // 1,000 directories (a path of about 2,000 bytes).
    let mut nodes = vec![
        dir(&[("wide", 2), ("deep", 4)]),
        Node::Wide {
            count: WIDE,
            target: 3,
        },
        Node::File(b"x".to_vec()),
    ];
    for level in 0..DEPTH {
        let next = 4 + level + 1;
        if level + 1 < DEPTH {
            nodes.push(Node::Dir(vec![("d".to_string(), next)]));
        } else {
            nodes.push(Node::Dir(Vec::new()));
        }
    }
    let vfs = vfs_with("");
    vfs.mkdir("/g", 0o755).expect("mkdir /g");
    vfs.mount_fs(GraphFs::new(nodes), "graph", "/g", MountFlags::RDONLY, "")
        .expect("mount /g");

    // ls -R: a block per directory; the wide one too big to sort, so it
    // streams in directory order and says so.
    let (lines, text) = capped(&vfs, "ls -R /g");
    assert!(
        text.starts_with("/g:\ndeep\nwide\n\n/g/deep:\nd\n\n"),
        "{text}"
    );
    // /g: header, deep, wide, blank; each chain level: header, d, blank
    // (the last one has no d); /g/wide: header, the note, its entries, blank.
    assert_eq!(lines, 4 + (3 * DEPTH - 1) + (WIDE + 3));
    let (lines, _) = capped(&vfs, "find /g");
    assert_eq!(lines, 1 + 2 + WIDE + (DEPTH - 1));
    // `ls -l` must stat every entry, and the VFS keeps a dentry for each
    // path it resolved (no eviction of positive dentries yet), so it is not
    // capped here; the growth is printed for the record.
    let before = HEAP.allocated();
    let console = Console::counting();
    init::shell::Shell::new(&console, &vfs).run_script("t", "ls -l /g/wide");
    assert_eq!(console.lines(), WIDE + 1);
    println!(
        "ls -l of {WIDE} entries left {} bytes allocated ({} per entry, the VFS's dentry cache)",
        HEAP.allocated() - before,
        (HEAP.allocated() - before) / WIDE as usize
    );

    // About 80 MB of hexdump lines and 64 MiB of zeros, through the 64 KiB
    // redirect buffer into /dev/null.
    let (lines, text) = capped(
        &vfs,
        "hexdump -n 16M /dev/zero > /dev/null; cat /g/deep > /dev/null",
    );
    assert_eq!(lines, 1, "{text}");
    assert_eq!(text, "cat: /g/deep: EISDIR (Is a directory)\n");
    vfs.mkdir("/small", 0o755).expect("mkdir");
    vfs.mount(None, "/small", "ramfs", MountFlags::empty(), "size=512K")
        .expect("mount /small");
    let (_, text) = capped(
        &vfs,
        "cat /dev/zero > /small/f; cp /dev/zero /small/g; echo done",
    );
    assert_eq!(
        text,
        "cat: /small/f: ENOSPC (No space left on device)\n\
         cp: /small/g: ENOSPC (No space left on device)\n\
         done\n"
    );
    let report = run(&vfs, "ls -l /small");
    assert!(report.contains(" 524288 "), "{report}");
}
