//! The VFS API over ramfs: every call, every errno case the VFS defines.

use std::sync::Arc;

use vfs::{
    DEFAULT_MAX_FDS, Errno, FileType, FixedClock, MountFlags, OpenFlags, S_IFMT, Timespec, Vfs,
    Whence,
};

const T0: Timespec = Timespec::new(1_700_000_000, 5);

const RD: OpenFlags = OpenFlags::O_RDONLY;
const WR: OpenFlags = OpenFlags::O_WRONLY;
const RW: OpenFlags = OpenFlags::O_RDWR;
const CREAT: OpenFlags = OpenFlags::O_CREAT;

fn vfs_with_fds(max_fds: usize) -> Vfs {
    let vfs = Vfs::with_max_fds(Arc::new(FixedClock(T0)), max_fds);
    vfs.register(std::sync::Arc::new(fs_ramfs::RamFsType))
        .unwrap();
    vfs.mount(None, "/", "ramfs", MountFlags::empty(), "")
        .unwrap();
    vfs
}

fn vfs() -> Vfs {
    vfs_with_fds(DEFAULT_MAX_FDS)
}

fn kind(vfs: &Vfs, path: &str) -> FileType {
    FileType::from_mode(vfs.lstat(path).unwrap().mode).unwrap()
}

fn names(entries: &[vfs::DirEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.name.as_str()).collect()
}

// ----- open -----

#[test]
fn open_create_write_read_back() {
    let v = vfs();
    let fd = v.open("/f", RW | CREAT, 0o640).unwrap();
    assert_eq!(v.write(fd, b"hello world").unwrap(), 11);
    assert_eq!(v.lseek(fd, 0, Whence::Set).unwrap(), 0);
    let mut buf = [0u8; 32];
    assert_eq!(v.read(fd, &mut buf).unwrap(), 11);
    assert_eq!(&buf[..11], b"hello world");
    assert_eq!(v.read(fd, &mut buf).unwrap(), 0);
    v.close(fd).unwrap();
    let st = v.stat("/f").unwrap();
    assert_eq!(st.mode, 0o100640);
    assert_eq!(st.size, 11);
}

#[test]
fn open_missing_is_enoent() {
    let v = vfs();
    assert_eq!(v.open("/nope", RD, 0), Err(Errno::ENOENT));
    assert_eq!(v.open("/nope/x", RW | CREAT, 0o644), Err(Errno::ENOENT));
}

#[test]
fn open_excl_on_existing_is_eexist() {
    let v = vfs();
    v.write_file("/f", b"x").unwrap();
    assert_eq!(
        v.open("/f", RW | CREAT | OpenFlags::O_EXCL, 0o644),
        Err(Errno::EEXIST)
    );
    // O_EXCL does not follow a final symlink, even a dangling one.
    v.symlink("/dangling-target", "/l").unwrap();
    assert_eq!(
        v.open("/l", RW | CREAT | OpenFlags::O_EXCL, 0o644),
        Err(Errno::EEXIST)
    );
    assert_eq!(v.stat("/dangling-target"), Err(Errno::ENOENT));
}

#[test]
fn open_creat_through_dangling_symlink_creates_target() {
    let v = vfs();
    v.mkdir("/d", 0o755).unwrap();
    v.symlink("t", "/d/l").unwrap();
    let fd = v.open("/d/l", WR | CREAT, 0o600).unwrap();
    v.write(fd, b"via link").unwrap();
    v.close(fd).unwrap();
    assert_eq!(v.read_file("/d/t").unwrap(), b"via link");
}

#[test]
fn open_directory_flag_on_file_is_enotdir() {
    let v = vfs();
    v.write_file("/f", b"").unwrap();
    assert_eq!(
        v.open("/f", RD | OpenFlags::O_DIRECTORY, 0),
        Err(Errno::ENOTDIR)
    );
    v.mkdir("/d", 0o755).unwrap();
    let fd = v.open("/d", RD | OpenFlags::O_DIRECTORY, 0).unwrap();
    v.close(fd).unwrap();
}

#[test]
fn open_directory_for_writing_is_eisdir() {
    let v = vfs();
    v.mkdir("/d", 0o755).unwrap();
    assert_eq!(v.open("/d", WR, 0), Err(Errno::EISDIR));
    assert_eq!(v.open("/d", RW, 0), Err(Errno::EISDIR));
    assert_eq!(v.open("/d", RD | CREAT, 0o644), Err(Errno::EISDIR));
    assert_eq!(v.open("/", RD | OpenFlags::O_TRUNC, 0), Err(Errno::EISDIR));
    let fd = v.open("/d", RD, 0).unwrap();
    assert!(v.fstat(fd).unwrap().mode & S_IFMT == FileType::Directory.mode_bits());
    v.close(fd).unwrap();
}

#[test]
fn open_creat_with_trailing_slash_is_eisdir() {
    let v = vfs();
    assert_eq!(v.open("/new/", WR | CREAT, 0o644), Err(Errno::EISDIR));
    assert_eq!(v.stat("/new"), Err(Errno::ENOENT));
}

#[test]
fn open_nofollow_on_symlink_is_eloop() {
    let v = vfs();
    v.write_file("/f", b"x").unwrap();
    v.symlink("/f", "/l").unwrap();
    assert_eq!(
        v.open("/l", RD | OpenFlags::O_NOFOLLOW, 0),
        Err(Errno::ELOOP)
    );
    // O_NOFOLLOW only concerns the final component.
    v.mkdir("/d", 0o755).unwrap();
    v.write_file("/d/g", b"y").unwrap();
    v.symlink("/d", "/ld").unwrap();
    let fd = v.open("/ld/g", RD | OpenFlags::O_NOFOLLOW, 0).unwrap();
    v.close(fd).unwrap();
}

#[test]
fn open_trunc_empties_the_file() {
    let v = vfs();
    v.write_file("/f", b"0123456789").unwrap();
    let fd = v.open("/f", WR | OpenFlags::O_TRUNC, 0).unwrap();
    assert_eq!(v.fstat(fd).unwrap().size, 0);
    v.close(fd).unwrap();
}

#[test]
fn open_append_writes_at_end() {
    let v = vfs();
    v.write_file("/f", b"abc").unwrap();
    let fd = v.open("/f", WR | OpenFlags::O_APPEND, 0).unwrap();
    v.lseek(fd, 0, Whence::Set).unwrap();
    // An empty write moves nothing, even with O_APPEND.
    assert_eq!(v.write(fd, b"").unwrap(), 0);
    assert_eq!(v.lseek(fd, 0, Whence::Cur).unwrap(), 0);
    v.write(fd, b"def").unwrap();
    assert_eq!(v.lseek(fd, 0, Whence::Cur).unwrap(), 6);
    v.close(fd).unwrap();
    assert_eq!(v.read_file("/f").unwrap(), b"abcdef");
}

#[test]
fn open_with_invalid_access_mode_is_einval() {
    let v = vfs();
    v.write_file("/f", b"").unwrap();
    assert_eq!(
        v.open("/f", OpenFlags::from_bits_retain(3), 0),
        Err(Errno::EINVAL)
    );
}

// ----- descriptors -----

#[test]
fn bad_descriptors_are_ebadf() {
    let v = vfs();
    let mut buf = [0u8; 4];
    assert_eq!(v.read(-1, &mut buf), Err(Errno::EBADF));
    assert_eq!(v.write(i32::MIN, b"x"), Err(Errno::EBADF));
    assert_eq!(v.read(77, &mut buf), Err(Errno::EBADF));
    assert_eq!(v.close(77), Err(Errno::EBADF));
    assert_eq!(v.fstat(-5), Err(Errno::EBADF));
    assert_eq!(v.lseek(3, 0, Whence::Set), Err(Errno::EBADF));
    assert_eq!(v.fsync(3), Err(Errno::EBADF));
    assert_eq!(v.dup(-1), Err(Errno::EBADF));
    assert_eq!(v.getdents(9, 10), Err(Errno::EBADF));
    let fd = v.open("/", RD, 0).unwrap();
    v.close(fd).unwrap();
    assert_eq!(v.close(fd), Err(Errno::EBADF));
    assert_eq!(v.fstat(fd), Err(Errno::EBADF));
}

#[test]
fn read_on_write_only_and_write_on_read_only_are_ebadf() {
    let v = vfs();
    v.write_file("/f", b"data").unwrap();
    let wfd = v.open("/f", WR, 0).unwrap();
    let rfd = v.open("/f", RD, 0).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(v.read(wfd, &mut buf), Err(Errno::EBADF));
    assert_eq!(v.pread(wfd, &mut buf, 0), Err(Errno::EBADF));
    assert_eq!(v.write(rfd, b"x"), Err(Errno::EBADF));
    assert_eq!(v.pwrite(rfd, b"x", 0), Err(Errno::EBADF));
    assert_eq!(v.read(rfd, &mut buf).unwrap(), 4);
}

#[test]
fn fd_exhaustion_gives_emfile_and_lowest_fd_is_reused() {
    let v = vfs_with_fds(8);
    v.write_file("/f", b"").unwrap();
    let fds: Vec<i32> = (0..8).map(|_| v.open("/f", RD, 0).unwrap()).collect();
    assert_eq!(fds, (0..8).collect::<Vec<_>>());
    assert_eq!(v.open("/f", RD, 0), Err(Errno::EMFILE));
    assert_eq!(v.dup(0), Err(Errno::EMFILE));
    // EMFILE must not create the file.
    assert_eq!(v.open("/g", WR | CREAT, 0o644), Err(Errno::EMFILE));
    assert_eq!(v.stat("/g"), Err(Errno::ENOENT));
    v.close(5).unwrap();
    v.close(2).unwrap();
    assert_eq!(v.open("/f", RD, 0).unwrap(), 2);
    assert_eq!(v.open("/f", RD, 0).unwrap(), 5);
    assert_eq!(v.dup2(0, 8), Err(Errno::EBADF));
}

#[test]
fn default_fd_limit_is_1024() {
    let v = vfs();
    v.write_file("/f", b"").unwrap();
    for expect in 0..1024 {
        assert_eq!(v.open("/f", RD, 0).unwrap(), expect);
    }
    assert_eq!(v.open("/f", RD, 0), Err(Errno::EMFILE));
}

#[test]
fn dup_shares_the_offset() {
    let v = vfs();
    v.write_file("/f", b"abcdef").unwrap();
    let fd = v.open("/f", RD, 0).unwrap();
    let fd2 = v.dup(fd).unwrap();
    assert_eq!(fd2, fd + 1);
    let mut buf = [0u8; 2];
    v.read(fd, &mut buf).unwrap();
    v.read(fd2, &mut buf).unwrap();
    assert_eq!(&buf, b"cd");
    v.close(fd).unwrap();
    v.read(fd2, &mut buf).unwrap();
    assert_eq!(&buf, b"ef");
}

#[test]
fn dup2_replaces_and_checks() {
    let v = vfs();
    v.write_file("/a", b"A").unwrap();
    v.write_file("/b", b"B").unwrap();
    let a = v.open("/a", RD, 0).unwrap();
    let b = v.open("/b", RD, 0).unwrap();
    assert_eq!(v.dup2(a, b).unwrap(), b);
    let mut buf = [0u8; 1];
    v.read(b, &mut buf).unwrap();
    assert_eq!(&buf, b"A");
    assert_eq!(v.dup2(a, a).unwrap(), a);
    assert_eq!(v.dup2(a, 100).unwrap(), 100);
    assert_eq!(v.dup2(a, -1), Err(Errno::EBADF));
    assert_eq!(v.dup2(55, 56), Err(Errno::EBADF));
    // dup2 onto itself with a closed fd is still EBADF.
    assert_eq!(v.dup2(57, 57), Err(Errno::EBADF));
}

// ----- data -----

#[test]
fn pread_and_pwrite_leave_the_offset() {
    let v = vfs();
    let fd = v.open("/f", RW | CREAT, 0o644).unwrap();
    v.write(fd, b"0123456789").unwrap();
    assert_eq!(v.pwrite(fd, b"ab", 2).unwrap(), 2);
    let mut buf = [0u8; 4];
    assert_eq!(v.pread(fd, &mut buf, 1).unwrap(), 4);
    assert_eq!(&buf, b"1ab4");
    assert_eq!(v.lseek(fd, 0, Whence::Cur).unwrap(), 10);
    assert_eq!(v.pread(fd, &mut buf, 100).unwrap(), 0);
}

#[test]
fn offsets_beyond_i64_are_einval() {
    let v = vfs();
    let fd = v.open("/f", RW | CREAT, 0o644).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(v.pread(fd, &mut buf, u64::MAX), Err(Errno::EINVAL));
    assert_eq!(v.pread(fd, &mut buf, 1 << 63), Err(Errno::EINVAL));
    assert_eq!(v.pwrite(fd, b"x", u64::MAX), Err(Errno::EINVAL));
    assert_eq!(v.ftruncate(fd, u64::MAX), Err(Errno::EINVAL));
    assert_eq!(v.truncate("/f", 1 << 63), Err(Errno::EINVAL));
    // The length is checked before the path or the descriptor, as Linux.
    assert_eq!(v.truncate("/missing", 1 << 63), Err(Errno::EINVAL));
    assert_eq!(v.ftruncate(-1, u64::MAX), Err(Errno::EINVAL));
    assert_eq!(v.lseek(fd, i64::MAX, Whence::Set).unwrap(), i64::MAX as u64);
    assert_eq!(v.lseek(fd, 1, Whence::Cur), Err(Errno::EINVAL));
    // offset + length past i64::MAX is EINVAL (Linux's rw_verify_area);
    // an empty transfer there is fine.
    assert_eq!(v.read(fd, &mut buf), Err(Errno::EINVAL));
    assert_eq!(v.write(fd, b"x"), Err(Errno::EINVAL));
    assert_eq!(v.read(fd, &mut []).unwrap(), 0);
    assert_eq!(
        v.pread(fd, &mut buf, i64::MAX as u64 - 3),
        Err(Errno::EINVAL)
    );
    assert_eq!(v.pread(fd, &mut buf, i64::MAX as u64 - 4).unwrap(), 0);
}

#[test]
fn lseek_edge_cases() {
    let v = vfs();
    let fd = v.open("/f", RW | CREAT, 0o644).unwrap();
    v.write(fd, b"0123456789").unwrap();
    assert_eq!(v.lseek(fd, 3, Whence::Set).unwrap(), 3);
    assert_eq!(v.lseek(fd, 2, Whence::Cur).unwrap(), 5);
    assert_eq!(v.lseek(fd, -5, Whence::Cur).unwrap(), 0);
    assert_eq!(v.lseek(fd, -1, Whence::Cur), Err(Errno::EINVAL));
    assert_eq!(v.lseek(fd, -1, Whence::Set), Err(Errno::EINVAL));
    assert_eq!(v.lseek(fd, i64::MIN, Whence::End), Err(Errno::EINVAL));
    assert_eq!(v.lseek(fd, -10, Whence::End).unwrap(), 0);
    assert_eq!(v.lseek(fd, -11, Whence::End), Err(Errno::EINVAL));
    // A failed seek leaves the offset alone.
    assert_eq!(v.lseek(fd, 0, Whence::Cur).unwrap(), 0);
    // Past the end, then a write leaves a hole of zeros.
    assert_eq!(v.lseek(fd, 4, Whence::End).unwrap(), 14);
    v.write(fd, b"!").unwrap();
    assert_eq!(v.read_file("/f").unwrap(), b"0123456789\0\0\0\0!");
    assert_eq!(v.lseek(fd, i64::MAX, Whence::End), Err(Errno::EINVAL));
}

#[test]
fn truncate_and_ftruncate() {
    let v = vfs();
    v.write_file("/f", b"abcdef").unwrap();
    v.truncate("/f", 3).unwrap();
    assert_eq!(v.read_file("/f").unwrap(), b"abc");
    v.truncate("/f", 5).unwrap();
    assert_eq!(v.read_file("/f").unwrap(), b"abc\0\0");
    let fd = v.open("/f", RW, 0).unwrap();
    v.ftruncate(fd, 1).unwrap();
    assert_eq!(v.fstat(fd).unwrap().size, 1);
    let rfd = v.open("/f", RD, 0).unwrap();
    assert_eq!(v.ftruncate(rfd, 0), Err(Errno::EINVAL));
    v.mkdir("/d", 0o755).unwrap();
    assert_eq!(v.truncate("/d", 0), Err(Errno::EISDIR));
    let dfd = v.open("/d", RD, 0).unwrap();
    assert_eq!(v.ftruncate(dfd, 0), Err(Errno::EINVAL));
    assert_eq!(v.truncate("/missing", 0), Err(Errno::ENOENT));
}

#[test]
fn fsync_works_on_open_files() {
    let v = vfs();
    let fd = v.open("/f", WR | CREAT, 0o644).unwrap();
    v.write(fd, b"x").unwrap();
    v.fsync(fd).unwrap();
    v.sync().unwrap();
}

#[test]
fn read_and_write_on_directory_fd() {
    let v = vfs();
    v.mkdir("/d", 0o755).unwrap();
    let fd = v.open("/d", RD, 0).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(v.read(fd, &mut buf), Err(Errno::EISDIR));
    assert_eq!(v.write(fd, b"x"), Err(Errno::EBADF));
}

#[test]
fn unlinked_file_stays_usable_through_its_fd() {
    let v = vfs();
    let fd = v.open("/f", RW | CREAT, 0o644).unwrap();
    v.write(fd, b"before").unwrap();
    v.unlink("/f").unwrap();
    assert_eq!(v.stat("/f"), Err(Errno::ENOENT));
    v.write(fd, b"+after").unwrap();
    let mut buf = [0u8; 32];
    let n = v.pread(fd, &mut buf, 0).unwrap();
    assert_eq!(&buf[..n], b"before+after");
    assert_eq!(v.fstat(fd).unwrap().nlink, 0);
    // A new file of the same name is a different inode.
    v.write_file("/f", b"new").unwrap();
    assert_ne!(v.stat("/f").unwrap().ino, v.fstat(fd).unwrap().ino);
    v.close(fd).unwrap();
    assert_eq!(v.read_file("/f").unwrap(), b"new");
}

#[test]
fn read_file_and_write_file() {
    let v = vfs();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    v.write_file("/big", &big).unwrap();
    assert_eq!(v.read_file("/big").unwrap(), big);
    v.write_file("/big", b"small").unwrap();
    assert_eq!(v.read_file("/big").unwrap(), b"small");
    assert_eq!(v.read_file("/"), Err(Errno::EISDIR));
    assert_eq!(v.write_file("/", b"x"), Err(Errno::EISDIR));
}

// ----- attributes -----

#[test]
fn stat_reports_all_fields() {
    let v = vfs();
    v.write_file("/f", &[7u8; 1000]).unwrap();
    let st = v.stat("/f").unwrap();
    assert_eq!(st.mode, 0o100644);
    assert_eq!(st.nlink, 1);
    assert_eq!(st.size, 1000);
    assert!(
        st.blocks >= 2,
        "1000 bytes need at least two 512-byte blocks"
    );
    assert_eq!(st.mtime, T0);
    assert_eq!(st.ctime, T0);
    assert_eq!(st.dev, v.mounts()[0].dev);
    assert_ne!(st.ino, v.stat("/").unwrap().ino);
    let root = v.stat("/").unwrap();
    assert_eq!(root.mode & S_IFMT, 0o040000);
    let fd = v.open("/f", RD, 0).unwrap();
    assert_eq!(v.fstat(fd).unwrap(), st);
}

#[test]
fn lstat_does_not_follow_but_stat_does() {
    let v = vfs();
    v.write_file("/f", b"xyz").unwrap();
    v.symlink("/f", "/l").unwrap();
    let l = v.lstat("/l").unwrap();
    assert_eq!(l.mode & S_IFMT, FileType::Symlink.mode_bits());
    assert_eq!(l.size, 2);
    assert_eq!(v.stat("/l").unwrap().ino, v.stat("/f").unwrap().ino);
    // A trailing slash forces following: "/l/" is the file, not a dir.
    assert_eq!(v.lstat("/l/"), Err(Errno::ENOTDIR));
}

#[test]
fn chmod_changes_permission_bits_only() {
    let v = vfs();
    v.write_file("/f", b"").unwrap();
    v.chmod("/f", 0o4751).unwrap();
    assert_eq!(v.stat("/f").unwrap().mode, 0o104751);
    v.chmod("/f", 0o170600).unwrap();
    assert_eq!(v.stat("/f").unwrap().mode, 0o100600);
    assert_eq!(v.chmod("/missing", 0o600), Err(Errno::ENOENT));
}

#[test]
fn utimens_sets_and_omits() {
    let v = vfs();
    v.write_file("/f", b"").unwrap();
    let a = Timespec::new(100, 1);
    let m = Timespec::new(200, 2);
    v.utimens("/f", Some(a), Some(m)).unwrap();
    let st = v.stat("/f").unwrap();
    assert_eq!((st.atime, st.mtime), (a, m));
    let m2 = Timespec::new(300, 3);
    v.utimens("/f", None, Some(m2)).unwrap();
    let st = v.stat("/f").unwrap();
    assert_eq!((st.atime, st.mtime), (a, m2));
    assert_eq!(
        v.utimens("/f", Some(Timespec::new(1, 1_000_000_000)), None),
        Err(Errno::EINVAL)
    );
}

// ----- directories -----

#[test]
fn getdents_has_dots_and_resumes_across_calls() {
    let v = vfs();
    v.mkdir("/d", 0o755).unwrap();
    for i in 0..10 {
        v.write_file(&format!("/d/f{i}"), b"").unwrap();
    }
    let fd = v.open("/d", RD | OpenFlags::O_DIRECTORY, 0).unwrap();
    let first = v.getdents(fd, 3).unwrap();
    assert_eq!(names(&first), [".", "..", "f0"]);
    assert_eq!(first[0].ino, v.stat("/d").unwrap().ino);
    assert_eq!(first[1].ino, v.stat("/").unwrap().ino);
    let mut seen: Vec<String> = Vec::new();
    loop {
        let batch = v.getdents(fd, 4).unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 4);
        seen.extend(batch.into_iter().map(|e| e.name));
    }
    let expect: Vec<String> = (1..10).map(|i| format!("f{i}")).collect();
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, expect);
    // Rewind starts over.
    assert_eq!(v.lseek(fd, 0, Whence::Set).unwrap(), 0);
    assert_eq!(v.getdents(fd, 100).unwrap().len(), 12);
    // telldir/seekdir: a position taken between calls resumes there.
    v.lseek(fd, 0, Whence::Set).unwrap();
    v.getdents(fd, 5).unwrap();
    let mark = v.lseek(fd, 0, Whence::Cur).unwrap();
    let after_mark = v.getdents(fd, 3).unwrap();
    v.getdents(fd, 100).unwrap();
    assert_eq!(v.lseek(fd, mark as i64, Whence::Set).unwrap(), mark);
    assert_eq!(v.getdents(fd, 3).unwrap(), after_mark);
    assert_eq!(v.lseek(fd, 1, Whence::Set).unwrap(), 1);
    assert_eq!(names(&v.getdents(fd, 1).unwrap()), [".."]);
    assert_eq!(v.lseek(fd, -1, Whence::Set), Err(Errno::EINVAL));
    assert_eq!(v.lseek(fd, 0, Whence::End), Err(Errno::EINVAL));
}

#[test]
fn getdents_with_entries_added_and_removed_between_calls() {
    let v = vfs();
    v.mkdir("/d", 0o755).unwrap();
    for i in 0..6 {
        v.write_file(&format!("/d/f{i}"), b"").unwrap();
    }
    let fd = v.open("/d", RD, 0).unwrap();
    let mut seen: Vec<String> = names(&v.getdents(fd, 4).unwrap())
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(seen.len(), 4);
    let read_file_names: Vec<String> = seen
        .iter()
        .filter(|n| n.starts_with('f'))
        .cloned()
        .collect();
    // Remove one already returned and one not yet returned; add a new one.
    let unread: Vec<String> = (0..6)
        .map(|i| format!("f{i}"))
        .filter(|n| !read_file_names.contains(n))
        .collect();
    v.unlink(&format!("/d/{}", read_file_names[0])).unwrap();
    v.unlink(&format!("/d/{}", unread[0])).unwrap();
    v.write_file("/d/new", b"").unwrap();
    loop {
        let batch = v.getdents(fd, 2).unwrap();
        if batch.is_empty() {
            break;
        }
        seen.extend(batch.into_iter().map(|e| e.name));
    }
    // Every entry present throughout shows exactly once; the removed unread one never.
    for n in unread.iter().skip(1) {
        assert_eq!(
            seen.iter().filter(|s| *s == n).count(),
            1,
            "{n} in {seen:?}"
        );
    }
    assert!(!seen.contains(&unread[0]));
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), seen.len(), "no duplicates: {seen:?}");
}

#[test]
fn getdents_errors() {
    let v = vfs();
    v.write_file("/f", b"").unwrap();
    let fd = v.open("/f", RD, 0).unwrap();
    assert_eq!(v.getdents(fd, 10), Err(Errno::ENOTDIR));
    let dfd = v.open("/", RD, 0).unwrap();
    assert_eq!(v.getdents(dfd, 0), Err(Errno::EINVAL));
}

#[test]
fn read_dir_lists_without_dots() {
    let v = vfs();
    v.mkdir("/d", 0o755).unwrap();
    v.mkdir("/d/sub", 0o755).unwrap();
    v.write_file("/d/f", b"").unwrap();
    v.symlink("f", "/d/l").unwrap();
    let mut entries = v.read_dir("/d").unwrap();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(names(&entries), ["f", "l", "sub"]);
    assert_eq!(entries[0].file_type, FileType::Regular);
    assert_eq!(entries[1].file_type, FileType::Symlink);
    assert_eq!(entries[2].file_type, FileType::Directory);
    assert_eq!(entries[2].ino, v.stat("/d/sub").unwrap().ino);
    assert_eq!(v.read_dir("/d/f"), Err(Errno::ENOTDIR));
}

/// /d (dir) with /d/sub (dir), /full (dir) holding /full/x, and /f (file).
fn fixture() -> Vfs {
    let v = vfs();
    v.mkdir("/d", 0o755).unwrap();
    v.mkdir("/d/sub", 0o755).unwrap();
    v.mkdir("/full", 0o755).unwrap();
    v.write_file("/full/x", b"").unwrap();
    v.write_file("/f", b"").unwrap();
    v
}

#[test]
fn mkdir_sets_mode_and_nlink() {
    let v = vfs();
    v.mkdir("/d", 0o700).unwrap();
    let st = v.stat("/d").unwrap();
    assert_eq!((st.mode, st.nlink), (0o040700, 2));
    v.mkdir("/e/", 0o755).unwrap();
    assert_eq!(kind(&v, "/e"), FileType::Directory);
}

#[test]
fn mkdir_existing_is_eexist() {
    let v = fixture();
    assert_eq!(v.mkdir("/d", 0o755), Err(Errno::EEXIST));
    assert_eq!(v.mkdir("/f", 0o755), Err(Errno::EEXIST));
    assert_eq!(v.mkdir("/", 0o755), Err(Errno::EEXIST));
    assert_eq!(v.mkdir("/d/.", 0o755), Err(Errno::EEXIST));
    assert_eq!(v.mkdir("/d/..", 0o755), Err(Errno::EEXIST));
}

#[test]
fn mkdir_missing_parent_is_enoent() {
    let v = fixture();
    assert_eq!(v.mkdir("/x/y", 0o755), Err(Errno::ENOENT));
}

#[test]
fn mkdir_under_a_file_is_enotdir() {
    let v = fixture();
    assert_eq!(v.mkdir("/f/y", 0o755), Err(Errno::ENOTDIR));
}

#[test]
fn rmdir_removes_an_empty_dir() {
    let v = fixture();
    v.rmdir("/d/sub/").unwrap();
    assert_eq!(v.stat("/d/sub"), Err(Errno::ENOENT));
    assert_eq!(v.stat("/d").unwrap().nlink, 2);
}

#[test]
fn rmdir_non_empty_is_enotempty() {
    let v = fixture();
    assert_eq!(v.rmdir("/full"), Err(Errno::ENOTEMPTY));
    assert_eq!(v.rmdir("/d/.."), Err(Errno::ENOTEMPTY));
}

#[test]
fn rmdir_file_is_enotdir() {
    let v = fixture();
    assert_eq!(v.rmdir("/f"), Err(Errno::ENOTDIR));
}

#[test]
fn rmdir_dot_is_einval() {
    let v = fixture();
    assert_eq!(v.rmdir("/d/."), Err(Errno::EINVAL));
}

#[test]
fn rmdir_root_is_ebusy() {
    let v = fixture();
    assert_eq!(v.rmdir("/"), Err(Errno::EBUSY));
}

#[test]
fn rmdir_missing_is_enoent() {
    let v = fixture();
    assert_eq!(v.rmdir("/nope"), Err(Errno::ENOENT));
}

#[test]
fn unlink_removes_a_file_and_a_symlink_not_its_target() {
    let v = fixture();
    v.unlink("/f").unwrap();
    assert_eq!(v.stat("/f"), Err(Errno::ENOENT));
    v.write_file("/t", b"").unwrap();
    v.symlink("/t", "/l").unwrap();
    v.unlink("/l").unwrap();
    assert!(v.stat("/t").is_ok());
}

#[test]
fn unlink_directory_is_eisdir() {
    let v = fixture();
    assert_eq!(v.unlink("/d"), Err(Errno::EISDIR));
    assert_eq!(v.unlink("/"), Err(Errno::EISDIR));
    assert_eq!(v.unlink("/d/."), Err(Errno::EISDIR));
}

#[test]
fn unlink_missing_is_enoent() {
    let v = fixture();
    assert_eq!(v.unlink("/nope"), Err(Errno::ENOENT));
}

#[test]
fn unlink_file_with_trailing_slash_is_enotdir() {
    let v = fixture();
    assert_eq!(v.unlink("/f/"), Err(Errno::ENOTDIR));
    assert_eq!(v.unlink("/f/x"), Err(Errno::ENOTDIR));
}

#[test]
fn hard_links_share_ino_and_nlink() {
    let v = vfs();
    v.write_file("/a", b"shared").unwrap();
    v.mkdir("/d", 0o755).unwrap();
    v.link("/a", "/d/b").unwrap();
    let a = v.stat("/a").unwrap();
    let b = v.stat("/d/b").unwrap();
    assert_eq!(a.ino, b.ino);
    assert_eq!(a.nlink, 2);
    assert_eq!(b.nlink, 2);
    v.write_file("/d/b", b"changed").unwrap();
    assert_eq!(v.read_file("/a").unwrap(), b"changed");
    v.unlink("/a").unwrap();
    assert_eq!(v.stat("/d/b").unwrap().nlink, 1);
}

#[test]
fn link_directory_is_eperm() {
    let v = fixture();
    assert_eq!(v.link("/d", "/d2"), Err(Errno::EPERM));
}

#[test]
fn link_onto_existing_is_eexist() {
    let v = fixture();
    assert_eq!(v.link("/f", "/d"), Err(Errno::EEXIST));
    assert_eq!(v.link("/f", "/full/x"), Err(Errno::EEXIST));
}

#[test]
fn link_missing_source_or_parent_is_enoent() {
    let v = fixture();
    assert_eq!(v.link("/nope", "/x"), Err(Errno::ENOENT));
    assert_eq!(v.link("/f", "/nodir/x"), Err(Errno::ENOENT));
    assert_eq!(v.link("/f", "/g/"), Err(Errno::ENOENT));
}

#[test]
fn link_does_not_follow_a_symlink() {
    let v = fixture();
    v.symlink("/f", "/l").unwrap();
    v.link("/l", "/l2").unwrap();
    assert_eq!(kind(&v, "/l2"), FileType::Symlink);
}

#[test]
fn symlink_and_readlink() {
    let v = vfs();
    v.mkdir("/d", 0o755).unwrap();
    v.write_file("/d/f", b"target").unwrap();
    v.symlink("f", "/d/rel").unwrap();
    v.symlink("../d/f", "/d/up").unwrap();
    assert_eq!(v.readlink("/d/rel").unwrap(), "f");
    // Relative targets resolve against the link's directory, not the cwd.
    assert_eq!(v.read_file("/d/rel").unwrap(), b"target");
    assert_eq!(v.read_file("/d/up").unwrap(), b"target");
    assert_eq!(v.readlink("/d/f"), Err(Errno::EINVAL));
    assert_eq!(v.readlink("/d"), Err(Errno::EINVAL));
    assert_eq!(v.symlink("x", "/d/f"), Err(Errno::EEXIST));
    assert_eq!(v.symlink("", "/d/empty"), Err(Errno::ENOENT));
    assert_eq!(v.symlink("x", "/nodir/l"), Err(Errno::ENOENT));
    v.symlink("/nowhere", "/dangling").unwrap();
    assert_eq!(v.stat("/dangling"), Err(Errno::ENOENT));
    assert_eq!(v.readlink("/dangling").unwrap(), "/nowhere");
}

#[test]
fn rename_replaces_a_file() {
    let v = vfs();
    v.write_file("/a", b"A").unwrap();
    v.write_file("/b", b"B").unwrap();
    let ino = v.stat("/a").unwrap().ino;
    v.rename("/a", "/b").unwrap();
    assert_eq!(v.stat("/a"), Err(Errno::ENOENT));
    assert_eq!(v.read_file("/b").unwrap(), b"A");
    assert_eq!(v.stat("/b").unwrap().ino, ino);
}

#[test]
fn rename_onto_itself_or_a_hard_link_does_nothing() {
    let v = vfs();
    v.write_file("/a", b"A").unwrap();
    v.rename("/a", "/a").unwrap();
    assert_eq!(v.read_file("/a").unwrap(), b"A");
    v.link("/a", "/b").unwrap();
    v.rename("/a", "/b").unwrap();
    assert!(v.stat("/a").is_ok(), "both names stay");
    assert_eq!(v.stat("/b").unwrap().nlink, 2);
}

#[test]
fn rename_moves_directories_with_contents() {
    let v = vfs();
    v.mkdir("/a", 0o755).unwrap();
    v.mkdir("/a/sub", 0o755).unwrap();
    v.write_file("/a/sub/f", b"deep").unwrap();
    v.stat("/a/sub/f").unwrap();
    v.mkdir("/b", 0o755).unwrap();
    v.rename("/a", "/b/moved").unwrap();
    assert_eq!(v.stat("/a/sub/f"), Err(Errno::ENOENT));
    assert_eq!(v.read_file("/b/moved/sub/f").unwrap(), b"deep");
    assert_eq!(
        v.stat("/b/moved/sub/..").unwrap().ino,
        v.stat("/b/moved").unwrap().ino
    );
    // Replacing an empty directory works.
    v.mkdir("/empty", 0o755).unwrap();
    v.rename("/b/moved", "/empty").unwrap();
    assert_eq!(v.read_file("/empty/sub/f").unwrap(), b"deep");
}

#[test]
fn rename_directory_into_its_own_subtree_is_einval() {
    let v = fixture();
    assert_eq!(v.rename("/d", "/d/sub/inside"), Err(Errno::EINVAL));
    assert_eq!(v.rename("/d", "/d/inside"), Err(Errno::EINVAL));
    assert!(v.stat("/d/sub").is_ok());
}

#[test]
fn rename_onto_non_empty_dir_is_enotempty() {
    let v = fixture();
    assert_eq!(v.rename("/d", "/full"), Err(Errno::ENOTEMPTY));
    // The target is an ancestor of the source: also ENOTEMPTY, as Linux.
    assert_eq!(v.rename("/d/sub", "/d"), Err(Errno::ENOTEMPTY));
}

#[test]
fn rename_file_onto_dir_is_eisdir() {
    let v = fixture();
    assert_eq!(v.rename("/f", "/d"), Err(Errno::EISDIR));
    assert!(v.stat("/f").is_ok());
}

#[test]
fn rename_dir_onto_file_is_enotdir() {
    let v = fixture();
    assert_eq!(v.rename("/d", "/f"), Err(Errno::ENOTDIR));
    assert_eq!(v.rename("/f/", "/g"), Err(Errno::ENOTDIR));
}

#[test]
fn rename_missing_is_enoent() {
    let v = fixture();
    assert_eq!(v.rename("/nope", "/x"), Err(Errno::ENOENT));
    assert_eq!(v.rename("/f", "/nodir/x"), Err(Errno::ENOENT));
}

#[test]
fn rename_dot_or_dotdot_is_ebusy() {
    let v = fixture();
    assert_eq!(v.rename("/d/.", "/x"), Err(Errno::EBUSY));
    assert_eq!(v.rename("/f", "/d/.."), Err(Errno::EBUSY));
    assert_eq!(v.rename("/d/sub", "/d/sub/.."), Err(Errno::EBUSY));
}

#[test]
fn mknod_creates_special_files() {
    let v = vfs();
    v.mknod("/fifo", 0o010644, 0).unwrap();
    assert_eq!(v.stat("/fifo").unwrap().mode, 0o010644);
    v.mknod("/plain", 0o600, 0).unwrap();
    assert_eq!(v.stat("/plain").unwrap().mode, 0o100600);
    v.mknod("/chr", 0o020600, 0x105).unwrap();
    assert_eq!(v.stat("/chr").unwrap().rdev, 0x105);
    assert_eq!(v.mknod("/fifo", 0o010644, 0), Err(Errno::EEXIST));
    assert_eq!(v.mknod("/dir", 0o040755, 0), Err(Errno::EPERM));
    assert_eq!(v.mknod("/lnk", 0o120777, 0), Err(Errno::EINVAL));
    assert_eq!(v.mknod("/nodir/x", 0o010644, 0), Err(Errno::ENOENT));
}

#[test]
fn ioctl_reaches_the_backend() {
    let v = vfs();
    v.write_file("/f", b"").unwrap();
    let fd = v.open("/f", RD, 0).unwrap();
    assert_eq!(v.ioctl(fd, 0x5401, 0), Err(Errno::ENOTTY));
    assert_eq!(v.ioctl(-1, 0x5401, 0), Err(Errno::EBADF));
}

// ----- cwd -----

#[test]
fn chdir_and_getcwd() {
    let v = vfs();
    assert_eq!(v.getcwd().unwrap(), "/");
    v.mkdir("/a", 0o755).unwrap();
    v.mkdir("/a/b", 0o755).unwrap();
    v.chdir("/a//b/").unwrap();
    assert_eq!(v.getcwd().unwrap(), "/a/b");
    v.write_file("rel", b"r").unwrap();
    assert_eq!(v.read_file("/a/b/rel").unwrap(), b"r");
    v.chdir("..").unwrap();
    assert_eq!(v.getcwd().unwrap(), "/a");
    assert_eq!(v.read_file("b/../b/./rel").unwrap(), b"r");
    assert_eq!(v.chdir("b/rel"), Err(Errno::ENOTDIR));
    assert_eq!(v.chdir("nope"), Err(Errno::ENOENT));
    assert_eq!(v.getcwd().unwrap(), "/a");
    // The cwd follows a rename of itself.
    v.rename("/a", "/z").unwrap();
    assert_eq!(v.getcwd().unwrap(), "/z");
}

#[test]
fn removed_cwd_gives_enoent() {
    let v = vfs();
    v.mkdir("/gone", 0o755).unwrap();
    v.chdir("/gone").unwrap();
    v.rmdir("/gone").unwrap();
    assert_eq!(v.getcwd(), Err(Errno::ENOENT));
    assert_eq!(v.open("new", WR | CREAT, 0o644), Err(Errno::ENOENT));
    assert_eq!(v.mkdir("sub", 0o755), Err(Errno::ENOENT));
    v.chdir("/").unwrap();
    assert_eq!(v.getcwd().unwrap(), "/");
}

// ----- path resolution -----

#[test]
fn dots_and_slashes() {
    let v = vfs();
    v.mkdir("/a", 0o755).unwrap();
    v.write_file("/a/f", b"").unwrap();
    let ino = v.stat("/a/f").unwrap().ino;
    assert_eq!(v.stat("//a///f").unwrap().ino, ino);
    assert_eq!(v.stat("/./a/./f").unwrap().ino, ino);
    assert_eq!(v.stat("/a/../a/f").unwrap().ino, ino);
    assert_eq!(
        v.stat("/../../a/f").unwrap().ino,
        ino,
        "`..` never climbs above /"
    );
    assert_eq!(v.stat("/..").unwrap().ino, v.stat("/").unwrap().ino);
    assert_eq!(v.stat("a/f").unwrap().ino, ino);
    assert_eq!(v.stat("/a/").unwrap().ino, v.stat("/a").unwrap().ino);
}

#[test]
fn trailing_slash_on_a_file_is_enotdir() {
    let v = vfs();
    v.write_file("/f", b"").unwrap();
    assert_eq!(v.stat("/f/"), Err(Errno::ENOTDIR));
    assert_eq!(v.open("/f/", RD, 0), Err(Errno::ENOTDIR));
    assert_eq!(v.stat("/f/."), Err(Errno::ENOTDIR));
    assert_eq!(v.stat("/f/x"), Err(Errno::ENOTDIR));
}

#[test]
fn empty_path_is_enoent_and_nul_is_einval() {
    let v = vfs();
    assert_eq!(v.stat(""), Err(Errno::ENOENT));
    assert_eq!(v.open("", RD, 0), Err(Errno::ENOENT));
    assert_eq!(v.mkdir("", 0o755), Err(Errno::ENOENT));
    assert_eq!(v.stat("/a\0b"), Err(Errno::EINVAL));
    assert_eq!(v.mkdir("/a\0", 0o755), Err(Errno::EINVAL));
    assert_eq!(v.symlink("x\0y", "/l"), Err(Errno::EINVAL));
}

#[test]
fn name_length_boundaries() {
    let v = vfs();
    let ok = "n".repeat(255);
    let long = "n".repeat(256);
    v.write_file(&format!("/{ok}"), b"").unwrap();
    assert!(v.stat(&format!("/{ok}")).is_ok());
    assert_eq!(
        v.write_file(&format!("/{long}"), b""),
        Err(Errno::ENAMETOOLONG)
    );
    assert_eq!(v.stat(&format!("/{long}")), Err(Errno::ENAMETOOLONG));
    assert_eq!(
        v.mkdir(&format!("/{long}"), 0o755),
        Err(Errno::ENAMETOOLONG)
    );
    // 4095 bytes is a valid path; 4096 is not.
    let path_ok = format!("/{}", "./".repeat(2047));
    assert_eq!(path_ok.len(), 4095);
    assert_eq!(v.stat(&path_ok).unwrap().ino, v.stat("/").unwrap().ino);
    let path_long = format!("{path_ok}.");
    assert_eq!(path_long.len(), 4096);
    assert_eq!(v.stat(&path_long), Err(Errno::ENAMETOOLONG));
}

#[test]
fn symlink_cycle_is_eloop() {
    let v = vfs();
    v.symlink("/b", "/a").unwrap();
    v.symlink("/a", "/b").unwrap();
    assert_eq!(v.stat("/a"), Err(Errno::ELOOP));
    assert_eq!(v.open("/a", RD, 0), Err(Errno::ELOOP));
    assert_eq!(v.stat("/a/x"), Err(Errno::ELOOP));
    v.symlink("self", "/self").unwrap();
    assert_eq!(v.stat("/self"), Err(Errno::ELOOP));
    assert!(v.lstat("/self").is_ok());
}

#[test]
fn forty_links_resolve_and_forty_one_are_eloop() {
    let v = vfs();
    v.write_file("/l0", b"end").unwrap();
    for i in 1..=41 {
        v.symlink(&format!("l{}", i - 1), &format!("/l{i}"))
            .unwrap();
    }
    assert_eq!(v.read_file("/l40").unwrap(), b"end");
    assert_eq!(v.stat("/l41"), Err(Errno::ELOOP));
}

#[test]
fn symlinks_mid_path_are_followed() {
    let v = vfs();
    v.mkdir("/real", 0o755).unwrap();
    v.mkdir("/real/in", 0o755).unwrap();
    v.write_file("/real/in/f", b"x").unwrap();
    v.symlink("real", "/rl").unwrap();
    v.symlink("/rl/in", "/abs").unwrap();
    assert_eq!(v.read_file("/rl/in/f").unwrap(), b"x");
    assert_eq!(v.read_file("/abs/f").unwrap(), b"x");
    // `..` after a symlink goes up from the target, as in Linux.
    assert_eq!(v.stat("/abs/..").unwrap().ino, v.stat("/real").unwrap().ino);
    v.write_file("/file", b"").unwrap();
    v.symlink("/file", "/lf").unwrap();
    assert_eq!(v.stat("/lf/x"), Err(Errno::ENOTDIR));
}

// ----- dentry cache coherence -----

#[test]
fn negative_entries_turn_positive_on_create() {
    let v = vfs();
    for make in 0..4 {
        let p = format!("/n{make}");
        assert_eq!(v.stat(&p), Err(Errno::ENOENT));
        match make {
            0 => v.write_file(&p, b"").unwrap(),
            1 => v.mkdir(&p, 0o755).unwrap(),
            2 => v.symlink("/", &p).unwrap(),
            _ => {
                v.write_file("/src", b"").unwrap();
                v.link("/src", &p).unwrap();
            }
        }
        assert!(v.lstat(&p).is_ok(), "{p}");
    }
}

#[test]
fn names_reappear_as_new_objects() {
    let v = vfs();
    v.mkdir("/d", 0o755).unwrap();
    v.write_file("/d/f", b"").unwrap();
    let old = v.stat("/d").unwrap().ino;
    v.unlink("/d/f").unwrap();
    v.rmdir("/d").unwrap();
    assert_eq!(v.stat("/d/f"), Err(Errno::ENOENT));
    v.write_file("/d", b"now a file").unwrap();
    let st = v.stat("/d").unwrap();
    assert_ne!(st.ino, old);
    assert_eq!(st.mode & S_IFMT, FileType::Regular.mode_bits());
    assert_eq!(v.stat("/d/f"), Err(Errno::ENOTDIR));
    v.write_file("/x", b"").unwrap();
    v.rename("/x", "/y").unwrap();
    assert_eq!(v.stat("/x"), Err(Errno::ENOENT));
    assert!(v.stat("/y").is_ok());
}

// ----- mounts and concurrency basics -----

#[test]
fn nothing_mounted() {
    let v = Vfs::new(Arc::new(FixedClock(T0)));
    assert_eq!(v.stat("/"), Err(Errno::ENOENT));
    assert_eq!(v.getcwd(), Err(Errno::ENOENT));
    assert!(v.mounts().is_empty());
    v.register(std::sync::Arc::new(fs_ramfs::RamFsType))
        .unwrap();
    assert_eq!(
        v.register(std::sync::Arc::new(fs_ramfs::RamFsType)),
        Err(Errno::EBUSY)
    );
    assert_eq!(
        v.mount(None, "/tmp", "ramfs", MountFlags::empty(), ""),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        v.mount(None, "/", "nofs", MountFlags::empty(), ""),
        Err(Errno::ENODEV)
    );
    assert_eq!(
        v.mount(None, "/", "ramfs", MountFlags::empty(), "bogus=1"),
        Err(Errno::EINVAL)
    );
    v.mount(None, "/", "ramfs", MountFlags::empty(), "size=1M")
        .unwrap();
    assert!(v.stat("/").is_ok());
    let statfs = v.statfs("/").unwrap();
    assert!(statfs.blocks > 0);
}

#[test]
fn concurrent_renames_and_lookups_stay_consistent() {
    let v = Arc::new(vfs());
    v.mkdir("/a", 0o755).unwrap();
    v.write_file("/a/x", b"payload").unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let renamer = {
        let (v, stop) = (v.clone(), stop.clone());
        std::thread::spawn(move || {
            for i in 0..2000 {
                let (from, to) = if i % 2 == 0 {
                    ("/a/x", "/a/y")
                } else {
                    ("/a/y", "/a/x")
                };
                v.rename(from, to).unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        for p in ["/a/x", "/a/y"] {
            match v.read_file(p) {
                Ok(data) => {
                    assert_eq!(data, b"payload");
                }
                Err(e) => assert_eq!(e, Errno::ENOENT),
            }
        }
    }
    renamer.join().unwrap();
    // 2000 renames end where they started, and the cache agrees with ramfs.
    assert_eq!(v.read_file("/a/x").unwrap(), b"payload");
    assert_eq!(v.stat("/a/y"), Err(Errno::ENOENT));
    assert_eq!(names(&v.read_dir("/a").unwrap()), ["x"]);
}

#[test]
fn vfs_is_shared_between_threads() {
    let v = Arc::new(vfs());
    v.mkdir("/d", 0o755).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let v = v.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let p = format!("/d/t{t}-{i}");
                    v.write_file(&p, p.as_bytes()).unwrap();
                    assert_eq!(v.read_file(&p).unwrap(), p.as_bytes());
                    if i % 2 == 0 {
                        v.unlink(&p).unwrap();
                    }
                    assert!(v.stat("/d").is_ok());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(v.read_dir("/d").unwrap().len(), 400);
}

#[test]
fn random_paths_and_descriptors_never_panic() {
    let v = vfs();
    v.mkdir("/a", 0o755).unwrap();
    v.write_file("/a/f", b"data").unwrap();
    v.symlink("..", "/a/up").unwrap();
    v.symlink("/a/loop", "/a/loop").unwrap();
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let pieces = [
        "a",
        "f",
        "up",
        "loop",
        ".",
        "..",
        "",
        "x",
        "\0",
        "é",
        &"n".repeat(256),
    ];
    for _ in 0..20_000 {
        let mut path = String::new();
        if rng.bool() {
            path.push('/');
        }
        for _ in 0..rng.usize(0..6) {
            path.push_str(pieces[rng.usize(..pieces.len())]);
            for _ in 0..rng.usize(0..3) {
                path.push('/');
            }
        }
        let fd = rng.i32(-3..8);
        let mut buf = [0u8; 16];
        let _ = match rng.u8(0..14) {
            0 => v.stat(&path).map(|_| ()),
            1 => v.lstat(&path).map(|_| ()),
            2 => v
                .open(&path, OpenFlags::from_bits_retain(rng.u32(..)), 0o644)
                .map(|_| ()),
            3 => v.mkdir(&path, 0o755),
            4 => v.rmdir(&path),
            5 => v.unlink(&path),
            6 => v.rename(&path, "/a/g"),
            7 => v.symlink(&path, "/a/s"),
            8 => v.readlink(&path).map(|_| ()),
            9 => v.read(fd, &mut buf).map(|_| ()),
            10 => v.pwrite(fd, b"x", rng.u64(..)).map(|_| ()),
            11 => v.lseek(fd, rng.i64(..), Whence::Cur).map(|_| ()),
            12 => v.getdents(fd, rng.usize(0..4)).map(|_| ()),
            _ => v.close(fd),
        };
    }
    // The tree is still usable afterwards.
    assert!(v.stat("/").is_ok());
    v.chdir("/").unwrap();
    assert_eq!(v.getcwd().unwrap(), "/");
}
