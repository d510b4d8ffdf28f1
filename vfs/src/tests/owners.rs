//! chown and lchown through `Inode::setattr`.

use super::vfs;
use crate::testfs::TestFs;
use crate::*;

fn owner(st: Stat) -> (u32, u32) {
    (st.uid, st.gid)
}

#[test]
fn chown_changes_what_it_is_given() {
    let v = vfs();
    v.write_file("/f", b"x").unwrap();
    v.chown("/f", Some(5), None).unwrap();
    assert_eq!(owner(v.stat("/f").unwrap()), (5, 0));
    v.chown("/f", None, Some(7)).unwrap();
    assert_eq!(owner(v.stat("/f").unwrap()), (5, 7));
    v.chown("/f", None, None).unwrap();
    assert_eq!(owner(v.stat("/f").unwrap()), (5, 7));
    assert_eq!(v.chown("/nope", Some(1), None), Err(Errno::ENOENT));
    assert_eq!(v.lchown("/nope", Some(1), None), Err(Errno::ENOENT));
}

#[test]
fn chown_follows_a_symlink_and_lchown_does_not() {
    let v = vfs();
    v.write_file("/f", b"x").unwrap();
    v.symlink("/f", "/l").unwrap();
    v.lchown("/l", Some(9), Some(9)).unwrap();
    assert_eq!(owner(v.lstat("/l").unwrap()), (9, 9));
    assert_eq!(owner(v.stat("/f").unwrap()), (0, 0));
    v.chown("/l", Some(3), Some(4)).unwrap();
    assert_eq!(owner(v.stat("/f").unwrap()), (3, 4));
    assert_eq!(owner(v.lstat("/l").unwrap()), (9, 9));
}

#[test]
fn chown_on_a_read_only_mount_is_erofs() {
    let v = vfs();
    v.mkdir("/ro", 0o755).unwrap();
    v.write_file("/ro/f", b"x").unwrap();
    v.mount_fs(TestFs::new(true), "none", "/ro", MountFlags::empty(), "")
        .unwrap();
    assert_eq!(v.chown("/ro", Some(1), None), Err(Errno::EROFS));
    assert_eq!(v.lchown("/ro", None, Some(1)), Err(Errno::EROFS));
    assert_eq!(v.chown("/ro", None, None), Err(Errno::EROFS));
    v.mkdir("/rw", 0o755).unwrap();
    v.mount_fs(TestFs::new(false), "none", "/rw", MountFlags::RDONLY, "")
        .unwrap();
    assert_eq!(v.chown("/rw", Some(1), Some(1)), Err(Errno::EROFS));
    assert_eq!(owner(v.stat("/rw").unwrap()), (0, 0));
}
