//! Mounting and unmounting at run time: covering, crossing, EBUSY.

use vfs::{Errno, MountFlags, Vfs};

use super::Outcome;
use super::check::{RW_CREATE, ensure, equal, ok, open, want_err};

pub(super) fn mount_umount(vfs: &Vfs) -> Outcome {
    let point = "/tmp/m";
    ok(vfs.mkdir(point, 0o755), "mkdir /tmp/m")?;
    ok(
        vfs.write_file("/tmp/m/under", b"hidden"),
        "file under the mount point",
    )?;
    ok(
        vfs.mount(None, point, "ramfs", MountFlags::empty(), ""),
        "mount ramfs",
    )?;
    let result: Outcome = (|| {
        let tmp = ok(vfs.stat("/tmp"), "stat /tmp")?;
        let inner = ok(vfs.stat(point), "stat mount root")?;
        ensure(inner.dev != tmp.dev, || {
            "mount root has the parent's dev".into()
        })?;
        ensure(
            vfs.mounts()
                .iter()
                .any(|m| m.target == point && m.fs_type == "ramfs"),
            || "not in mount table".into(),
        )?;
        equal(
            ok(vfs.read_dir(point), "read_dir fresh mount")?.len(),
            0,
            "entries of a fresh ramfs",
        )?;
        ok(
            vfs.write_file("/tmp/m/inside", b"in the new fs"),
            "write inside",
        )?;
        equal(
            ok(vfs.stat("/tmp/m/inside"), "stat inside")?.dev,
            inner.dev,
            "dev of a file inside",
        )?;
        equal(
            ok(vfs.stat("/tmp/m/.."), "stat ..")?.ino,
            tmp.ino,
            "'..' of the mount root",
        )?;
        want_err(
            vfs.rename("/tmp/m/inside", "/tmp/outside"),
            Errno::EXDEV,
            "rename across mounts",
        )?;
        Ok(())
    })();
    let unmounted = ok(vfs.umount(point), "umount");
    result?;
    unmounted?;
    ensure(!vfs.mounts().iter().any(|m| m.target == point), || {
        "still in mount table".into()
    })?;
    want_err(
        vfs.stat("/tmp/m/inside"),
        Errno::ENOENT,
        "file of the unmounted fs",
    )?;
    equal(
        ok(
            vfs.read_file("/tmp/m/under"),
            "file under the mount point again",
        )?
        .as_slice(),
        b"hidden",
        "covered file",
    )?;
    ok(vfs.unlink("/tmp/m/under"), "unlink under")?;
    ok(vfs.rmdir(point), "rmdir /tmp/m")
}

pub(super) fn umount_busy(vfs: &Vfs) -> Outcome {
    let point = "/tmp/busy";
    ok(vfs.mkdir(point, 0o755), "mkdir")?;
    ok(
        vfs.mount(None, point, "ramfs", MountFlags::empty(), ""),
        "mount",
    )?;
    let result: Outcome = (|| {
        let fd = open(vfs, "/tmp/busy/open", RW_CREATE, 0o644)?;
        let busy = want_err(vfs.umount(point), Errno::EBUSY, "umount with an open file");
        ok(vfs.close(fd), "close")?;
        busy?;
        ok(vfs.mkdir("/tmp/busy/sub", 0o755), "mkdir sub")?;
        ok(
            vfs.mount(None, "/tmp/busy/sub", "ramfs", MountFlags::empty(), ""),
            "nested mount",
        )?;
        let nested =
            want_err(vfs.umount(point), Errno::EBUSY, "umount with a submount").and(want_err(
                vfs.rmdir("/tmp/busy/sub"),
                Errno::EBUSY,
                "rmdir a mount point",
            ));
        ok(vfs.umount("/tmp/busy/sub"), "umount nested")?;
        nested?;
        want_err(
            vfs.umount("/tmp/busy/sub"),
            Errno::EINVAL,
            "umount of a non-mount-point",
        )?;
        want_err(
            vfs.umount("/tmp/busy/open"),
            Errno::EINVAL,
            "umount of a file",
        )?;
        want_err(
            vfs.mount(None, "/tmp/busy/none", "ramfs", MountFlags::empty(), ""),
            Errno::ENOENT,
            "mount on a missing dir",
        )?;
        want_err(
            vfs.mount(None, "/tmp/busy/sub", "nosuchfs", MountFlags::empty(), ""),
            Errno::ENODEV,
            "mount of an unknown type",
        )
    })();
    let unmounted = ok(vfs.umount(point), "final umount");
    result?;
    unmounted?;
    ok(vfs.rmdir(point), "rmdir")
}
