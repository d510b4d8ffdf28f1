//! Construction, the `overlay` type, read-only overlays and statfs.

use alloc::sync::Arc;

use vfs::{Errno, FileSystem, FsType, Layers, MountContext, MountSource, OpenFlags};

use crate::{OVERLAYFS_MAGIC, OverlayFs, OverlayType};

use super::*;

fn lower() -> Arc<dyn FileSystem> {
    rofs(&[Entry::File("/f", b"lower", 0o644)])
}

#[test]
fn the_overlay_type_takes_layers_only() {
    let upper = fs_ramfs::RamFs::new(clock(), None);
    let layers = Layers {
        lower: alloc::vec![layer("base", lower(), true)],
        upper: Some(layer("upper", upper, false)),
    };
    let ctx = |source, options: &str| {
        MountContext::new(
            source,
            options,
            clock(),
            vfs::pagecache::PageCache::new(1 << 20),
        )
    };
    let fs = OverlayType
        .create(&ctx(MountSource::Layers(layers.clone()), ""))
        .unwrap();
    assert_eq!(fs.fs_type(), "overlay");
    assert!(!fs.is_read_only());
    let vfs = vfs_on(fs);
    assert_eq!(vfs.read_file("/f").unwrap(), b"lower");
    vfs.write_file("/f", b"upper").unwrap();
    assert_eq!(vfs.read_file("/f").unwrap(), b"upper");

    for options in [
        "index=on,redirect_dir=off,metacopy=off,xino=off",
        "workdir=/w",
    ] {
        assert!(
            OverlayType
                .create(&ctx(MountSource::Layers(layers.clone()), options))
                .is_ok()
        );
    }
    for options in ["index=off", "redirect_dir=on", "size=1M", "bogus"] {
        let made = OverlayType.create(&ctx(MountSource::Layers(layers.clone()), options));
        assert_eq!(made.err(), Some(Errno::EINVAL), "{options}");
        assert!(
            OverlayType
                .diagnose(&ctx(MountSource::Layers(layers.clone()), options))
                .is_some()
        );
    }
    let none = OverlayType.create(&ctx(MountSource::None, ""));
    assert_eq!(none.err(), Some(Errno::EINVAL));
    assert!(OverlayType.diagnose(&ctx(MountSource::None, "")).is_some());
    let no_lower = Layers {
        lower: Vec::new(),
        upper: layers.upper.clone(),
    };
    let made = OverlayType.create(&ctx(MountSource::Layers(no_lower), ""));
    assert_eq!(made.err(), Some(Errno::EINVAL));
}

#[test]
fn a_file_is_not_a_layer() {
    let fs = lower();
    let file = fs.root().unwrap().lookup("f").unwrap();
    let layers = Layers {
        lower: alloc::vec![vfs::Layer {
            name: "file".into(),
            fs,
            dir: file,
            read_only: true,
        }],
        upper: None,
    };
    assert_eq!(OverlayFs::new(layers, "").err(), Some(Errno::ENOTDIR));
}

#[test]
fn the_upper_directory_cannot_also_be_lower() {
    let fs: Arc<dyn FileSystem> = fs_ramfs::RamFs::new(clock(), None);
    let layers = Layers {
        lower: alloc::vec![layer("a", lower(), true), layer("same", fs.clone(), true)],
        upper: Some(layer("same", fs, false)),
    };
    assert_eq!(OverlayFs::new(layers, "").err(), Some(Errno::EINVAL));
}

#[test]
fn without_a_writable_upper_the_overlay_is_read_only() {
    let only_lower = Layers {
        lower: alloc::vec![layer("a", lower(), true)],
        upper: None,
    };
    let ro_upper = Layers {
        lower: alloc::vec![layer("a", lower(), true)],
        upper: Some(layer(
            "upper",
            ramfs_tree(|v| v.write_file("/g", b"from the read-only upper").unwrap()),
            true,
        )),
    };
    for layers in [only_lower, ro_upper] {
        let fs = OverlayFs::new(layers, "").unwrap();
        assert!(fs.is_read_only());
        let vfs = vfs_on(fs.clone());
        assert_eq!(vfs.read_file("/f").unwrap(), b"lower");
        assert_eq!(errno(vfs.open("/f", OpenFlags::O_WRONLY, 0)), Errno::EROFS);
        assert_eq!(errno(vfs.mkdir("/d", 0o755)), Errno::EROFS);
        // Through the inode, past the VFS's own check.
        let f = fs.root().unwrap().lookup("f").unwrap();
        assert_eq!(f.truncate(0), Err(Errno::EROFS));
        assert_eq!(f.write_at(0, b"x"), Err(Errno::EROFS));
        assert!(fs.statfs().is_ok());
    }
}

#[test]
fn statfs_reports_the_upper_layer() {
    let s = Stack::over(alloc::vec![lower()], Some(1 << 20));
    let empty = s.vfs.statfs("/").unwrap();
    assert_eq!(empty.fs_type, OVERLAYFS_MAGIC);
    assert_eq!(empty.blocks, (1 << 20) / 4096);
    assert_eq!(empty.blocks_free, empty.blocks);
    s.vfs.write_file("/big", &pattern(256 * 1024, 9)).unwrap();
    let used = s.vfs.statfs("/").unwrap();
    assert_eq!(used.blocks_free, empty.blocks_free - 64);
    assert_eq!(used.blocks, empty.blocks);
}

/// A lower directory that lists one name forever and fails lookups: the
/// overlay answers with errors, never a hang or a panic.
struct Broken;

impl vfs::Inode for Broken {
    fn ino(&self) -> vfs::InodeNo {
        1
    }

    fn file_type(&self) -> vfs::FileType {
        vfs::FileType::Directory
    }

    fn getattr(&self) -> vfs::VfsResult<vfs::Stat> {
        Ok(vfs::Stat {
            mode: 0o040755,
            nlink: 2,
            ..vfs::Stat::default()
        })
    }

    fn lookup(&self, _name: &str) -> vfs::VfsResult<Arc<dyn vfs::Inode>> {
        Err(Errno::EIO)
    }

    fn readdir(&self, cookie: u64, sink: &mut vfs::DirSink<'_>) -> vfs::VfsResult<()> {
        let entry = vfs::DirEntryRef {
            ino: 2,
            file_type: vfs::FileType::Regular,
            name: "again",
        };
        // Bounded, so a regression fails instead of hanging the suite.
        for _ in 0..1_000_000 {
            if !sink(entry, cookie) {
                break;
            }
        }
        Ok(())
    }

    fn as_any(&self) -> &dyn core::any::Any {
        self
    }
}

#[test]
fn a_broken_lower_layer_gives_errors() {
    let broken_fs = lower();
    let layers = Layers {
        lower: alloc::vec![vfs::Layer {
            name: "broken".into(),
            fs: broken_fs,
            dir: Arc::new(Broken),
            read_only: true,
        }],
        upper: Some(layer("upper", fs_ramfs::RamFs::new(clock(), None), false)),
    };
    let vfs = vfs_on(OverlayFs::new(layers, "").unwrap());
    assert_eq!(errno(vfs.read_dir("/")), Errno::EIO);
    assert_eq!(errno(vfs.stat("/x")), Errno::EIO);
    assert_eq!(errno(vfs.write_file("/x", b"")), Errno::EIO);
    assert_eq!(errno(vfs.mkdir("/d", 0o755)), Errno::EIO);
}
