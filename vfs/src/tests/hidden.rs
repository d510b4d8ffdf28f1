//! Hidden mounts (`@name`): in the mount table, reachable by no path, and
//! usable as layers before anything is mounted on `/`.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use super::{Stack, register_testfs, vfs_with_types};
use crate::testfs::TestFs;
use crate::*;

const NO_FLAGS: MountFlags = MountFlags::empty();

fn targets(v: &Vfs) -> Vec<String> {
    v.mounts().into_iter().map(|m| m.target).collect()
}

#[test]
fn hidden_mounts_are_listed_but_reachable_by_no_path() {
    let v = vfs_with_types();
    let scratch = TestFs::new(false);
    // Two more inodes than the root filesystem, so statfs tells them apart.
    scratch.root().unwrap().mkdir("a", 0o755).unwrap();
    v.mount_fs(scratch.clone(), "none", "@scratch", NO_FLAGS, "size=1M")
        .unwrap();
    let rows = v.mounts();
    let row = rows.last().unwrap();
    assert_eq!(
        (
            row.target.as_str(),
            row.fs_type.as_str(),
            row.options.as_str()
        ),
        ("@scratch", "testfs", "size=1M")
    );
    assert_ne!(row.dev, rows[0].dev);
    assert_eq!(v.statfs("@scratch").unwrap().files, 3);
    assert_eq!(v.statfs("/").unwrap().files, 2);
    for path in ["/a", "@scratch", "/@scratch", "@scratch/a"] {
        assert_eq!(v.stat(path), Err(Errno::ENOENT), "{path}");
    }
    assert!(v.read_dir("/").unwrap().is_empty());

    // One mount per name, however it is made.
    let again = v.mount_fs(TestFs::new(false), "none", "@scratch", NO_FLAGS, "");
    assert_eq!(again, Err(Errno::EBUSY));
    let again = v.mount(None, "@scratch", "testfs", NO_FLAGS, "");
    assert_eq!(again, Err(Errno::EBUSY));
    for bad in ["@", "@a/b", "@a b", "@\u{e4}", "@a:b"] {
        assert_eq!(
            v.mount(None, bad, "testfs", NO_FLAGS, ""),
            Err(Errno::EINVAL),
            "{bad}"
        );
        assert_eq!(v.umount(bad), Err(Errno::EINVAL), "{bad}");
        assert_eq!(v.statfs(bad), Err(Errno::EINVAL), "{bad}");
    }
    assert_eq!(targets(&v), ["/", "@scratch"]);

    v.umount("@scratch").unwrap();
    assert_eq!(scratch.unmounts.load(Ordering::Relaxed), 1);
    assert_eq!(targets(&v), ["/"]);
    assert_eq!(v.statfs("@scratch"), Err(Errno::ENOENT));
    assert_eq!(v.umount("@scratch"), Err(Errno::ENOENT));
    // The name is free again.
    v.mount(None, "@scratch", "testfs", NO_FLAGS, "").unwrap();
    assert_eq!(targets(&v), ["/", "@scratch"]);
}

#[test]
fn root_on_a_stack_of_hidden_mounts() {
    let v = Vfs::new(Arc::new(FixedClock(Timespec::ZERO)));
    register_testfs(&v);
    let stack = Arc::new(Stack::default());
    v.register(stack.clone()).unwrap();
    // Before a root, only hidden mounts can be made.
    assert_eq!(
        v.mount(None, "/mnt", "testfs", NO_FLAGS, ""),
        Err(Errno::ENOENT)
    );
    v.mount(None, "@base", "testfs", MountFlags::RDONLY, "")
        .unwrap();
    v.mount(None, "@upper", "testfs", NO_FLAGS, "size=8M")
        .unwrap();
    assert_eq!(v.stat("/"), Err(Errno::ENOENT), "no root yet");
    assert_eq!(v.statfs("@base").unwrap().fs_type, 0x1234);
    // Path layers need the tree.
    assert_eq!(
        v.mount(None, "/", "stack", NO_FLAGS, "lowerdir=/base"),
        Err(Errno::ENOENT)
    );
    v.mount(
        None,
        "/",
        "stack",
        NO_FLAGS,
        "lowerdir=@base,upperdir=@upper",
    )
    .unwrap();
    assert_eq!(targets(&v), ["@base", "@upper", "/"]);
    let rows = v.mounts();
    assert!(rows[0].flags.contains(MountFlags::RDONLY));
    assert_eq!(rows[2].options, "lowerdir=@base,upperdir=@upper");
    // The stack is the root: usable like any other.
    v.mkdir("/etc", 0o755).unwrap();
    v.write_file("/etc/motd", b"hi").unwrap();
    assert_eq!(v.read_file("/etc/motd").unwrap(), b"hi");
    assert_eq!(v.stat("/").unwrap().dev, rows[2].dev);
    {
        let seen = stack.seen.lock();
        let layers = &seen.last().unwrap().0;
        assert!(layers.lower[0].read_only);
        assert!(!layers.upper.as_ref().unwrap().read_only);
    }
    assert_eq!(v.umount("@base"), Err(Errno::EBUSY));
    assert_eq!(v.umount("@upper"), Err(Errno::EBUSY));
    assert_eq!(v.umount("/"), Err(Errno::EBUSY));
}
