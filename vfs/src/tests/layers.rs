//! `lowerdir=`/`upperdir=` resolved into `MountSource::Layers`, and the
//! pins that keep layer mounts in place.

use alloc::string::String;
use alloc::vec::Vec;

use super::{same, stacking_vfs};
use crate::testfs::TestFs;
use crate::*;

const NO_FLAGS: MountFlags = MountFlags::empty();

#[test]
fn path_layers_are_the_named_directories() {
    let (v, root, stack) = stacking_vfs();
    for d in ["/lower1", "/lower2", "/up", "/merged"] {
        v.mkdir(d, 0o755).unwrap();
    }
    v.symlink("/lower2", "/l2link").unwrap();
    let up = TestFs::new(false);
    v.mount_fs(up.clone(), "none", "/up", NO_FLAGS, "").unwrap();
    v.mkdir("/up/data", 0o755).unwrap();
    let options = "size=8M,lowerdir=/lower1:/l2link/,upperdir=/up/data,workdir=/up/work,verify";
    v.mount(None, "/merged", "stack", NO_FLAGS, options)
        .unwrap();

    let seen = stack.seen.lock();
    assert_eq!(seen.len(), 1);
    let (layers, type_options) = &seen[0];
    // Layer options (workdir= too) are the VFS's; the rest is the type's.
    assert_eq!(type_options, "size=8M,verify");
    let names: Vec<&str> = layers.lower.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["/lower1", "/l2link/"], "topmost first, as given");
    let root_dir = root.root().unwrap();
    // The symlink is followed to the directory it names.
    for (layer, dir) in layers.lower.iter().zip(["lower1", "lower2"]) {
        assert!(same(&layer.dir, &root_dir.lookup(dir).unwrap()), "{dir}");
        assert!(same(&layer.fs, &root));
        assert!(!layer.read_only);
        assert_eq!(
            layer.dir.ino(),
            v.stat(&alloc::format!("/{dir}")).unwrap().ino
        );
    }
    let upper = layers.upper.as_ref().unwrap();
    assert_eq!(upper.name, "/up/data");
    assert!(same(
        &upper.dir,
        &up.root().unwrap().lookup("data").unwrap()
    ));
    assert!(same(&upper.fs, &up));

    // The mount table keeps the whole options string.
    let row = v
        .mounts()
        .into_iter()
        .find(|m| m.target == "/merged")
        .unwrap();
    assert_eq!(
        (
            row.source.as_str(),
            row.fs_type.as_str(),
            row.options.as_str()
        ),
        ("none", "stack", options)
    );
    assert_ne!(
        v.stat("/merged").unwrap().dev,
        v.stat("/lower1").unwrap().dev
    );
}

#[test]
fn a_mount_point_layer_is_the_mounted_root_with_its_mode() {
    let (v, _root, stack) = stacking_vfs();
    v.mkdir("/ro", 0o755).unwrap();
    v.mkdir("/m", 0o755).unwrap();
    let ro = TestFs::new(false);
    v.mount_fs(ro.clone(), "none", "/ro", MountFlags::RDONLY, "")
        .unwrap();
    v.mount(None, "/m", "stack", NO_FLAGS, "lowerdir=/ro")
        .unwrap();
    let seen = stack.seen.lock();
    let layer = &seen[0].0.lower[0];
    assert!(same(&layer.dir, &ro.root().unwrap()));
    assert!(layer.read_only, "the layer's mount is read-only");
    assert!(seen[0].0.upper.is_none());
}

#[test]
fn hidden_mounts_as_layers() {
    let (v, _root, stack) = stacking_vfs();
    let base = TestFs::new(true);
    let upper = TestFs::new(false);
    v.mount_fs(base.clone(), "/dev/vblk0", "@base", NO_FLAGS, "")
        .unwrap();
    v.mount_fs(upper.clone(), "none", "@upper", NO_FLAGS, "")
        .unwrap();
    v.mkdir("/m", 0o755).unwrap();
    v.mount(
        Some("none"),
        "/m",
        "stack",
        NO_FLAGS,
        "lowerdir=@base,upperdir=@upper",
    )
    .unwrap();
    let seen = stack.seen.lock();
    let (layers, type_options) = &seen[0];
    assert_eq!(type_options, "");
    let lower = &layers.lower[0];
    assert_eq!(lower.name, "@base");
    assert!(same(&lower.dir, &base.root().unwrap()) && same(&lower.fs, &base));
    assert!(lower.read_only, "a read-only filesystem");
    let up = layers.upper.as_ref().unwrap();
    assert_eq!(up.name, "@upper");
    assert!(same(&up.dir, &upper.root().unwrap()) && same(&up.fs, &upper));
    assert!(!up.read_only);
}

#[test]
fn layer_mounts_stay_pinned_while_a_stack_uses_them() {
    let (v, _root, _stack) = stacking_vfs();
    for d in ["/lower", "/m", "/m2"] {
        v.mkdir(d, 0o755).unwrap();
    }
    let lower = TestFs::new(false);
    v.mount_fs(lower.clone(), "none", "/lower", NO_FLAGS, "")
        .unwrap();
    v.mkdir("/lower/a", 0o755).unwrap();
    v.mkdir("/lower/b", 0o755).unwrap();
    v.mount(None, "@upper", "testfs", NO_FLAGS, "").unwrap();
    // /lower serves two layers of one stack, and one of another.
    let two = "lowerdir=/lower/a:/lower/b,upperdir=@upper";
    v.mount(None, "/m", "stack", NO_FLAGS, two).unwrap();
    v.mount(None, "/m2", "stack", NO_FLAGS, "lowerdir=/lower/a")
        .unwrap();
    assert_eq!(v.umount("/lower"), Err(Errno::EBUSY));
    assert_eq!(v.umount("@upper"), Err(Errno::EBUSY));
    v.umount("/m").unwrap();
    assert_eq!(v.umount("/lower"), Err(Errno::EBUSY), "/m2 still uses it");
    v.umount("@upper").unwrap();
    v.umount("/m2").unwrap();
    v.umount("/lower").unwrap();
    assert_eq!(
        lower.unmounts.load(core::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(v.mounts().len(), 1);
}

#[test]
fn failed_stacked_mounts_release_their_pins() {
    let (v, _root, stack) = stacking_vfs();
    v.mkdir("/lower", 0o755).unwrap();
    v.mkdir("/m", 0o755).unwrap();
    v.mount(None, "/lower", "testfs", NO_FLAGS, "").unwrap();
    // The type refuses.
    assert_eq!(
        v.mount(None, "/m", "stack", NO_FLAGS, "lowerdir=/lower,fail"),
        Err(Errno::EIO)
    );
    // Built, then refused when attaching: "/" is taken.
    assert_eq!(
        v.mount(None, "/", "stack", NO_FLAGS, "lowerdir=/lower"),
        Err(Errno::EBUSY)
    );
    assert_eq!(stack.seen.lock().len(), 2, "both reached the type");
    assert_eq!(v.mounts().len(), 2);
    v.umount("/lower").unwrap();
}

#[test]
fn bad_layer_options() {
    let (v, _root, stack) = stacking_vfs();
    for d in ["/lmnt", "/m"] {
        v.mkdir(d, 0o755).unwrap();
    }
    v.mount(None, "/lmnt", "testfs", NO_FLAGS, "").unwrap();
    v.mkdir("/lmnt/dir", 0o755).unwrap();
    v.write_file("/lmnt/file", b"x").unwrap();
    let many = alloc::format!("lowerdir=/lmnt/dir{}", ":/lmnt/dir".repeat(500));
    let cases: &[(&str, Errno)] = &[
        ("lowerdir=/nope", Errno::ENOENT),
        ("lowerdir=/lmnt/file", Errno::ENOTDIR),
        ("lowerdir=/lmnt/dir:/lmnt/file", Errno::ENOTDIR),
        ("lowerdir=/lmnt/dir,upperdir=/lmnt/nope", Errno::ENOENT),
        ("lowerdir=/lmnt/dir,upperdir=/lmnt/file", Errno::ENOTDIR),
        ("lowerdir=lmnt/dir", Errno::EINVAL),
        ("lowerdir=@nope", Errno::ENOENT),
        ("lowerdir=@bad/name", Errno::EINVAL),
        ("lowerdir=@", Errno::EINVAL),
        ("upperdir=/lmnt/dir", Errno::EINVAL),
        ("workdir=/lmnt/dir", Errno::EINVAL),
        ("lowerdir=/lmnt/dir,lowerdir=/lmnt/dir", Errno::EINVAL),
        (
            "lowerdir=/lmnt/dir,upperdir=/lmnt/dir,upperdir=/lmnt/dir",
            Errno::EINVAL,
        ),
        ("lowerdir=", Errno::EINVAL),
        ("lowerdir", Errno::EINVAL),
        ("lowerdir=/lmnt/dir,upperdir=", Errno::EINVAL),
        ("lowerdir=/lmnt/dir::/lmnt/dir", Errno::EINVAL),
        ("lowerdir=/lmnt/dir:", Errno::EINVAL),
        (&many, Errno::EINVAL),
    ];
    for (options, errno) in cases {
        assert_eq!(
            v.mount(None, "/m", "stack", NO_FLAGS, options),
            Err(*errno),
            "{options}"
        );
    }
    // A source word (a tag, a device path) cannot come with layers.
    let layered = "lowerdir=/lmnt/dir";
    assert_eq!(
        v.mount(Some("tag"), "/m", "stack", NO_FLAGS, layered),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        v.mount(Some("/dev/vblk0"), "/m", "stack", NO_FLAGS, layered),
        Err(Errno::EINVAL)
    );
    let named = MountSource::Named(String::from("tag"));
    assert_eq!(
        v.mount_source(named.clone(), "/m", "stack", NO_FLAGS, layered),
        Err(Errno::EINVAL)
    );
    assert!(stack.seen.lock().is_empty(), "the type never ran");
    assert_eq!(v.mounts().len(), 2, "failed mounts leave no trace");
    v.umount("/lmnt").unwrap();

    // The diagnosis says which part is wrong.
    let diagnose = |source: &MountSource, options| v.diagnose_mount(source, "stack", options);
    let none = MountSource::None;
    assert_eq!(
        diagnose(&none, "lowerdir=/m:/nope").as_deref(),
        Some("in layer '/nope'")
    );
    assert_eq!(
        diagnose(&none, "upperdir=/m").as_deref(),
        Some("layer options need lowerdir=")
    );
    assert_eq!(
        diagnose(&none, "lowerdir=/m,lowerdir=/m").as_deref(),
        Some("lowerdir= given twice")
    );
    assert_eq!(
        diagnose(&named, layered).as_deref(),
        Some("a source cannot be given with layer options")
    );
    assert_eq!(
        diagnose(&none, "lowerdir=/m"),
        None,
        "fine layers: the type's say"
    );
}
