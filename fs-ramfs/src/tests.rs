//! Unit tests straight through the backend traits (no VFS).

extern crate std;

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI64, Ordering};

use vfs::{
    Clock, DirEntryRef, Errno, FileSystem, FileType, Inode, MountContext, MountSource, SetAttr,
    Timespec,
};

use crate::{PAGE_SIZE, RamFs};

/// A clock the test moves by hand.
#[derive(Default)]
struct StepClock(AtomicI64);

impl StepClock {
    fn set(&self, sec: i64) {
        self.0.store(sec, Ordering::SeqCst);
    }
}

impl Clock for StepClock {
    fn now(&self) -> Timespec {
        Timespec::new(self.0.load(Ordering::SeqCst), 0)
    }
}

fn fs_with(limit: Option<u64>) -> (Arc<RamFs>, Arc<dyn Inode>, Arc<StepClock>) {
    let clock = Arc::new(StepClock::default());
    clock.set(1000);
    let fs = RamFs::new(clock.clone(), limit);
    let root = fs.root().unwrap();
    (fs, root, clock)
}

fn file(dir: &Arc<dyn Inode>, name: &str) -> Arc<dyn Inode> {
    dir.create(name, 0o100644, 0).unwrap()
}

fn read_all(inode: &Arc<dyn Inode>) -> Vec<u8> {
    let size = inode.getattr().unwrap().size as usize;
    let mut buf = vec![0xAAu8; size + 10];
    let n = inode.read_at(0, &mut buf).unwrap();
    assert_eq!(n, size);
    buf.truncate(n);
    buf
}

fn names(dir: &Arc<dyn Inode>) -> Vec<String> {
    let mut out = Vec::new();
    dir.readdir(0, &mut |e: DirEntryRef<'_>, _| {
        out.push(e.name.to_string());
        true
    })
    .unwrap();
    out
}

fn nlink(inode: &Arc<dyn Inode>) -> u32 {
    inode.getattr().unwrap().nlink
}

#[test]
fn sparse_file_reads_zeros_in_holes_and_allocates_little() {
    let (fs, root, _) = fs_with(None);
    let f = file(&root, "sparse");
    let far = 10 * PAGE_SIZE as u64 + 5;
    assert_eq!(f.write_at(far, b"xyz").unwrap(), 3);
    let st = f.getattr().unwrap();
    assert_eq!(st.size, far + 3);
    // One small page buffer, not ten pages.
    assert!(
        fs.used_bytes() <= PAGE_SIZE as u64,
        "used {}",
        fs.used_bytes()
    );
    assert!(st.blocks * 512 >= fs.used_bytes());

    // A read across the hole and into the data.
    let mut buf = vec![0xFFu8; 20];
    assert_eq!(f.read_at(far - 10, &mut buf).unwrap(), 13);
    assert_eq!(&buf[..10], &[0u8; 10]);
    assert_eq!(&buf[10..13], b"xyz");
    assert_eq!(
        &buf[13..],
        &[0xFFu8; 7],
        "bytes past the end are left alone"
    );

    // Reads at and past the end.
    assert_eq!(f.read_at(far + 3, &mut buf).unwrap(), 0);
    assert_eq!(f.read_at(u64::MAX, &mut buf).unwrap(), 0);

    // Growing with truncate makes a hole too.
    f.truncate(far + 3 + 100_000).unwrap();
    let mut tail = vec![0xFFu8; 100_000];
    assert_eq!(f.read_at(far + 3, &mut tail).unwrap(), 100_000);
    assert!(tail.iter().all(|&b| b == 0));
}

#[test]
fn writes_inside_a_short_page_buffer_grow_it() {
    let (_fs, root, _) = fs_with(None);
    let f = file(&root, "f");
    f.write_at(0, b"hello").unwrap();
    f.write_at(3000, b"world").unwrap();
    let data = read_all(&f);
    assert_eq!(data.len(), 3005);
    assert_eq!(&data[..5], b"hello");
    assert!(data[5..3000].iter().all(|&b| b == 0));
    assert_eq!(&data[3000..], b"world");

    // A read that starts past the end of a short page buffer (the file grew
    // by truncate, not by writing).
    let g = file(&root, "g");
    g.write_at(0, b"0123456789").unwrap();
    g.truncate(5000).unwrap();
    let mut buf = [0xFFu8; 100];
    assert_eq!(g.read_at(3000, &mut buf).unwrap(), 100);
    assert_eq!(buf, [0u8; 100]);
    assert_eq!(g.read_at(5, &mut buf).unwrap(), 100);
    assert_eq!(&buf[..5], b"56789");
    assert!(buf[5..].iter().all(|&b| b == 0));
}

#[test]
fn appends_build_a_large_file_correctly() {
    let (fs, root, _) = fs_with(None);
    let f = file(&root, "big");
    let mut expected = Vec::new();
    let mut offset = 0u64;
    for i in 0..700u32 {
        // Odd sizes so writes straddle page boundaries.
        let chunk: Vec<u8> = (0..3001u32)
            .map(|j| (i.wrapping_mul(31) ^ j) as u8)
            .collect();
        assert_eq!(f.write_at(offset, &chunk).unwrap(), chunk.len());
        offset += chunk.len() as u64;
        expected.extend_from_slice(&chunk);
    }
    assert_eq!(read_all(&f), expected);
    // Space held is the pages, not a multiple of the data.
    let pages = expected.len().div_ceil(PAGE_SIZE) as u64;
    assert!(fs.used_bytes() <= pages * PAGE_SIZE as u64);
    // Unaligned reads straddling pages.
    for (off, len) in [(65_530usize, 20usize), (1, 200_000), (2_000_000, 100_000)] {
        let mut buf = vec![0u8; len];
        let n = f.read_at(off as u64, &mut buf).unwrap();
        let want = &expected[off.min(expected.len())..(off + len).min(expected.len())];
        assert_eq!(&buf[..n], want, "off {off} len {len}");
    }
}

#[test]
fn truncate_shrink_then_grow_reads_zeros() {
    let (fs, root, _) = fs_with(None);
    let f = file(&root, "t");
    f.write_at(0, &vec![7u8; 3 * PAGE_SIZE]).unwrap();
    assert_eq!(fs.used_bytes(), 3 * PAGE_SIZE as u64);
    f.truncate(PAGE_SIZE as u64 + 10).unwrap();
    assert_eq!(
        fs.used_bytes(),
        2 * PAGE_SIZE as u64,
        "the third page is freed"
    );
    f.truncate(3 * PAGE_SIZE as u64).unwrap();
    let data = read_all(&f);
    assert!(data[..PAGE_SIZE + 10].iter().all(|&b| b == 7));
    assert!(data[PAGE_SIZE + 10..].iter().all(|&b| b == 0));
    f.truncate(0).unwrap();
    assert_eq!(fs.used_bytes(), 0);
    assert_eq!(f.getattr().unwrap().size, 0);
    assert_eq!(f.truncate(u64::MAX), Err(Errno::EFBIG));
    assert_eq!(f.write_at(crate::MAX_FILE_SIZE, b"x"), Err(Errno::EFBIG));
}

#[test]
fn size_limit_gives_enospc_and_space_comes_back() {
    let limit = 4 * PAGE_SIZE as u64;
    let (fs, root, _) = fs_with(Some(limit));
    let f = file(&root, "a");
    let data = vec![1u8; 5 * PAGE_SIZE];
    // A short write up to the limit, then ENOSPC.
    assert_eq!(f.write_at(0, &data).unwrap(), 4 * PAGE_SIZE);
    assert_eq!(f.write_at(4 * PAGE_SIZE as u64, b"x"), Err(Errno::ENOSPC));
    let g = file(&root, "b");
    assert_eq!(g.write_at(0, b"x"), Err(Errno::ENOSPC));
    // Holes cost nothing, even past the limit.
    g.truncate(100 * PAGE_SIZE as u64).unwrap();
    assert_eq!(fs.used_bytes(), limit);
    let st = fs.statfs().unwrap();
    assert_eq!(st.blocks_free, 0);
    assert_eq!(st.blocks * u64::from(st.block_size), limit);

    // Truncating frees space.
    f.truncate(2 * PAGE_SIZE as u64).unwrap();
    assert_eq!(g.write_at(0, &data[..PAGE_SIZE]).unwrap(), PAGE_SIZE);
    // Unlinking the last name of a file nobody holds frees it.
    drop(f);
    root.unlink("a").unwrap();
    assert_eq!(fs.used_bytes(), PAGE_SIZE as u64);
    assert_eq!(
        fs.statfs().unwrap().blocks_free * 4096,
        3 * PAGE_SIZE as u64
    );
}

#[test]
fn inode_limit_gives_enospc() {
    let clock: Arc<dyn Clock> = Arc::new(StepClock::default());
    let fs = RamFs::with_limits(clock, None, Some(3), 0o755);
    let root = fs.root().unwrap();
    root.create("a", 0o644, 0).unwrap();
    root.mkdir("b", 0o755).unwrap();
    root.symlink("c", "a").unwrap();
    assert_eq!(root.create("d", 0o644, 0).err(), Some(Errno::ENOSPC));
    root.unlink("c").unwrap();
    root.create("d", 0o644, 0).unwrap();
}

#[test]
fn unlinked_file_stays_usable_until_last_reference() {
    let (fs, root, _) = fs_with(None);
    let f = file(&root, "victim");
    f.write_at(0, b"still here").unwrap();
    root.unlink("victim").unwrap();
    assert_eq!(root.lookup("victim").err(), Some(Errno::ENOENT));
    assert_eq!(nlink(&f), 0);
    assert_eq!(read_all(&f), b"still here");
    f.write_at(10, &vec![5u8; 100_000]).unwrap();
    assert_eq!(f.getattr().unwrap().size, 100_010);
    assert!(fs.used_bytes() >= 100_010);
    // A file with no name cannot be linked back.
    assert_eq!(root.link("again", &f), Err(Errno::ENOENT));
    drop(f);
    assert_eq!(fs.used_bytes(), 0, "space is returned on the last drop");
}

#[test]
fn link_counts() {
    let (_fs, root, _) = fs_with(None);
    assert_eq!(nlink(&root), 2);
    let d = root.mkdir("d", 0o755).unwrap();
    assert_eq!(nlink(&root), 3);
    assert_eq!(nlink(&d), 2);
    d.mkdir("e", 0o755).unwrap();
    assert_eq!(nlink(&d), 3);
    let f = file(&d, "f");
    assert_eq!(nlink(&d), 3, "files do not count");
    root.link("f2", &f).unwrap();
    assert_eq!(nlink(&f), 2);
    assert_eq!(root.lookup("f2").unwrap().ino(), f.ino());
    assert_eq!(root.link("f2", &f), Err(Errno::EEXIST));
    assert_eq!(root.link("dd", &d), Err(Errno::EPERM));
    d.unlink("f").unwrap();
    assert_eq!(nlink(&f), 1);
    assert_eq!(d.rmdir("e"), Ok(()));
    assert_eq!(nlink(&d), 2);
    assert_eq!(root.rmdir("d"), Ok(()));
    assert_eq!(nlink(&root), 2);
    assert_eq!(nlink(&d), 0);
    // A removed directory takes no new entries.
    assert_eq!(d.create("x", 0o644, 0).err(), Some(Errno::ENOENT));
}

#[test]
fn remove_errors() {
    let (_fs, root, _) = fs_with(None);
    let d = root.mkdir("d", 0o755).unwrap();
    file(&d, "f");
    assert_eq!(root.rmdir("d"), Err(Errno::ENOTEMPTY));
    assert_eq!(root.unlink("d"), Err(Errno::EISDIR));
    assert_eq!(d.rmdir("f"), Err(Errno::ENOTDIR));
    assert_eq!(root.unlink("nope"), Err(Errno::ENOENT));
    assert_eq!(root.rmdir("nope"), Err(Errno::ENOENT));
    assert_eq!(root.mkdir("d", 0o755).err(), Some(Errno::EEXIST));
    assert_eq!(d.create("f", 0o644, 0).err(), Some(Errno::EEXIST));
    assert_eq!(root.symlink("d", "x").err(), Some(Errno::EEXIST));
    let f = d.lookup("f").unwrap();
    assert_eq!(f.lookup("x").err(), Some(Errno::ENOTDIR));
    assert_eq!(f.create("x", 0o644, 0).err(), Some(Errno::ENOTDIR));
    assert_eq!(root.create("dir", 0o040755, 0).err(), Some(Errno::EPERM));
    let mut buf = [0u8; 4];
    assert_eq!(d.read_at(0, &mut buf), Err(Errno::EISDIR));
    assert_eq!(d.write_at(0, &buf), Err(Errno::EISDIR));
    assert_eq!(f.readlink(), Err(Errno::EINVAL));
}

#[test]
fn special_nodes_and_symlinks_hold_metadata() {
    let (_fs, root, _) = fs_with(None);
    let dev = root.create("null", 0o020666, 0x0103).unwrap();
    let st = dev.getattr().unwrap();
    assert_eq!(st.mode, 0o020666);
    assert_eq!(st.rdev, 0x0103);
    assert_eq!(dev.file_type(), FileType::CharDevice);
    let fifo = root.create("pipe", 0o010600, 0).unwrap();
    assert_eq!(fifo.file_type(), FileType::Fifo);
    let link = root.symlink("l", "some/where").unwrap();
    assert_eq!(link.readlink().unwrap(), "some/where");
    let st = link.getattr().unwrap();
    assert_eq!(st.mode, 0o120777);
    assert_eq!(st.size, 10);
    let listing: Vec<(String, FileType)> = {
        let mut v = Vec::new();
        root.readdir(0, &mut |e, _| {
            v.push((e.name.to_string(), e.file_type));
            true
        })
        .unwrap();
        v
    };
    assert_eq!(
        listing,
        vec![
            ("l".to_string(), FileType::Symlink),
            ("null".to_string(), FileType::CharDevice),
            ("pipe".to_string(), FileType::Fifo),
        ]
    );
}

#[test]
fn rename_files_and_directories() {
    let (_fs, root, _) = fs_with(None);
    let a = root.mkdir("a", 0o755).unwrap();
    let b = root.mkdir("b", 0o755).unwrap();
    let f = file(&a, "f");
    f.write_at(0, b"F").unwrap();
    let g = file(&b, "g");
    g.write_at(0, b"G").unwrap();

    // File over file, across directories: the victim loses its name.
    a.rename("f", &b, "g").unwrap();
    assert_eq!(names(&a), Vec::<String>::new());
    assert_eq!(names(&b), vec!["g"]);
    assert_eq!(read_all(&b.lookup("g").unwrap()), b"F");
    assert_eq!(nlink(&g), 0);

    // Same inode under two names: nothing happens.
    b.link("h", &f).unwrap();
    b.rename("g", &b, "h").unwrap();
    assert_eq!(names(&b), vec!["g", "h"]);
    b.rename("g", &b, "g").unwrap();
    assert_eq!(names(&b), vec!["g", "h"]);

    // Directory moves update both parents' link counts.
    let sub = a.mkdir("sub", 0o755).unwrap();
    assert_eq!((nlink(&a), nlink(&b)), (3, 2));
    a.rename("sub", &b, "moved").unwrap();
    assert_eq!((nlink(&a), nlink(&b)), (2, 3));
    assert_eq!(b.lookup("moved").unwrap().ino(), sub.ino());

    // Directory over an empty directory; over a non-empty one fails.
    let empty = a.mkdir("empty", 0o755).unwrap();
    b.rename("moved", &a, "empty").unwrap();
    assert_eq!(nlink(&empty), 0);
    assert_eq!((nlink(&a), nlink(&b)), (3, 2));
    let full = a.mkdir("full", 0o755).unwrap();
    file(&full, "x");
    assert_eq!(a.rename("empty", &a, "full"), Err(Errno::ENOTEMPTY));

    // Type mismatches.
    assert_eq!(b.rename("g", &a, "full"), Err(Errno::EISDIR));
    assert_eq!(a.rename("full", &b, "g"), Err(Errno::ENOTDIR));
    assert_eq!(a.rename("missing", &b, "z"), Err(Errno::ENOENT));

    // A directory into itself or below itself.
    assert_eq!(root.rename("a", &a, "x"), Err(Errno::EINVAL));
    assert_eq!(root.rename("a", &full, "x"), Err(Errno::EINVAL));
    // A file over a directory that is an ancestor.
    assert_eq!(full.rename("x", &root, "a"), Err(Errno::EISDIR));
    // A directory over its own directory (locked already, and not empty).
    full.mkdir("sub", 0o755).unwrap();
    assert_eq!(full.rename("sub", &a, "full"), Err(Errno::ENOTEMPTY));
    // A directory over a further ancestor.
    assert_eq!(full.rename("sub", &root, "a"), Err(Errno::ENOTEMPTY));

    // Another filesystem's directory.
    let (_other_fs, other_root, _) = fs_with(None);
    assert_eq!(a.rename("full", &other_root, "full"), Err(Errno::EXDEV));
    assert_eq!(other_root.link("l", &f), Err(Errno::EXDEV));

    // Into a removed directory.
    let gone = root.mkdir("gone", 0o755).unwrap();
    root.rmdir("gone").unwrap();
    assert_eq!(b.rename("g", &gone, "g"), Err(Errno::ENOENT));
}

#[test]
fn readdir_cookies_survive_inserts_and_removes() {
    let (_fs, root, _) = fs_with(None);
    let all: Vec<String> = (0..300).map(|i| std::format!("n{i:03}")).collect();
    for name in &all {
        file(&root, name);
    }
    // Read the first 100 entries.
    let mut seen = Vec::new();
    let mut cookie = 0;
    root.readdir(0, &mut |e, next| {
        seen.push(e.name.to_string());
        cookie = next;
        seen.len() < 100
    })
    .unwrap();
    assert_eq!(seen, all[..100]);
    // Remove the last name read and some unread ones; add new names on both
    // sides of the cursor.
    root.unlink("n099").unwrap();
    root.unlink("n150").unwrap();
    root.unlink("n151").unwrap();
    file(&root, "a-before");
    file(&root, "n0995");
    file(&root, "z-after");
    // Resume: every untouched entry after the cursor comes exactly once, in order.
    let mut rest = Vec::new();
    let mut cookies = Vec::new();
    root.readdir(cookie, &mut |e, next| {
        rest.push(e.name.to_string());
        cookies.push(next);
        true
    })
    .unwrap();
    let mut expected: Vec<String> = all[100..]
        .iter()
        .filter(|n| *n != "n150" && *n != "n151")
        .cloned()
        .collect();
    expected.insert(0, "n0995".into());
    expected.push("z-after".into());
    assert_eq!(rest, expected);
    // A cookie of a removed name still resumes at the right place.
    let cookie_of_n200 = cookies[rest.iter().position(|n| n == "n200").unwrap()];
    root.unlink("n200").unwrap();
    let mut after = Vec::new();
    root.readdir(cookie_of_n200, &mut |e, _| {
        after.push(e.name.to_string());
        after.len() < 2
    })
    .unwrap();
    assert_eq!(after, vec!["n201", "n202"]);
    // A name that comes back keeps its cookie.
    file(&root, "n200");
    let mut again = 0;
    root.readdir(0, &mut |e, next| {
        if e.name == "n200" {
            again = next;
        }
        true
    })
    .unwrap();
    assert_eq!(again, cookie_of_n200);
    // A cookie that was never handed out reads as the end.
    let mut count = 0;
    root.readdir(u64::MAX, &mut |_, _| {
        count += 1;
        true
    })
    .unwrap();
    assert_eq!(count, 0);
}

#[test]
fn readdir_batches_cover_big_directories_in_order() {
    let (_fs, root, _) = fs_with(None);
    let mut want: Vec<String> = (0..1000)
        .map(|i| std::format!("{}", i * 7919 % 1000))
        .collect();
    for name in &want {
        root.mkdir(name, 0o755).unwrap();
    }
    want.sort();
    assert_eq!(names(&root), want);
    assert_eq!(nlink(&root), 1002);
    assert_eq!(root.getattr().unwrap().size, 20 * 1002);
}

#[test]
fn timestamps_follow_posix() {
    let (_fs, root, clock) = fs_with(None);
    clock.set(2000);
    let f = file(&root, "f");
    let st = f.getattr().unwrap();
    assert_eq!(
        (st.atime.sec, st.mtime.sec, st.ctime.sec),
        (2000, 2000, 2000)
    );
    assert_eq!(
        root.getattr().unwrap().mtime.sec,
        2000,
        "create touches the directory"
    );

    clock.set(2100);
    f.write_at(0, b"data").unwrap();
    let st = f.getattr().unwrap();
    assert_eq!(
        (st.atime.sec, st.mtime.sec, st.ctime.sec),
        (2000, 2100, 2100)
    );
    assert_eq!(
        root.getattr().unwrap().mtime.sec,
        2000,
        "writes do not touch the directory"
    );

    clock.set(2200);
    let mut buf = [0u8; 4];
    f.read_at(0, &mut buf).unwrap();
    assert_eq!(f.getattr().unwrap().atime.sec, 2200);

    clock.set(2300);
    f.truncate(1).unwrap();
    let st = f.getattr().unwrap();
    assert_eq!((st.mtime.sec, st.ctime.sec), (2300, 2300));

    clock.set(2400);
    f.setattr(&SetAttr {
        mode: Some(0o600),
        ..Default::default()
    })
    .unwrap();
    let st = f.getattr().unwrap();
    assert_eq!(
        (st.mode, st.mtime.sec, st.ctime.sec),
        (0o100600, 2300, 2400)
    );

    clock.set(2500);
    root.link("g", &f).unwrap();
    assert_eq!(f.getattr().unwrap().ctime.sec, 2500);
    assert_eq!(root.getattr().unwrap().mtime.sec, 2500);

    clock.set(2600);
    let d = root.mkdir("d", 0o755).unwrap();
    root.rename("g", &d, "g").unwrap();
    let (rs, ds) = (root.getattr().unwrap(), d.getattr().unwrap());
    assert_eq!(
        (rs.mtime.sec, rs.ctime.sec, ds.mtime.sec, ds.ctime.sec),
        (2600, 2600, 2600, 2600)
    );

    clock.set(2700);
    d.unlink("g").unwrap();
    assert_eq!(d.getattr().unwrap().mtime.sec, 2700);
    assert_eq!(f.getattr().unwrap().ctime.sec, 2700);

    let t = Timespec::new(42, 7);
    f.setattr(&SetAttr {
        atime: Some(t),
        mtime: Some(t),
        ..Default::default()
    })
    .unwrap();
    let st = f.getattr().unwrap();
    assert_eq!((st.atime, st.mtime), (t, t));
}

#[test]
fn dropping_a_very_deep_tree_does_not_recurse() {
    let (fs, root, _) = fs_with(None);
    let mut dir = root.clone();
    for _ in 0..100_000 {
        dir = dir.mkdir("d", 0o755).unwrap();
    }
    file(&dir, "leaf").write_at(0, b"x").unwrap();
    drop(dir);
    root.rename("d", &root, "e").unwrap();
    // Dropping the filesystem frees the whole chain iteratively; a recursive
    // drop would overflow the test thread's stack.
    let used = fs.used_bytes();
    assert!(used > 0);
    drop(root);
    drop(fs);
}

#[test]
fn mount_options() {
    let ctx = |options: &str| {
        MountContext::new(
            MountSource::None,
            options,
            Arc::new(StepClock::default()),
            vfs::pagecache::PageCache::new(1 << 20),
        )
    };
    let fs = crate::new_fs(&ctx("size=1M,nr_inodes=10,mode=1777")).unwrap();
    assert_eq!(fs.fs_type(), "ramfs");
    let st = fs.statfs().unwrap();
    assert_eq!(st.blocks * u64::from(st.block_size), 1 << 20);
    assert_eq!(st.files, 10);
    assert_eq!(fs.root().unwrap().getattr().unwrap().mode, 0o041777);
    assert!(crate::new_fs(&ctx("")).is_ok());
    assert!(crate::new_fs(&ctx("size=0")).is_ok());
    for bad in [
        "size=",
        "size=12Q",
        "size=99999999999999999999",
        "bogus",
        "size",
        "mode=9",
    ] {
        assert_eq!(crate::new_fs(&ctx(bad)).err(), Some(Errno::EINVAL), "{bad}");
    }
}

#[test]
fn concurrent_renames_and_lookups_do_not_deadlock() {
    let (_fs, root, _) = fs_with(None);
    let a = root.mkdir("a", 0o755).unwrap();
    let b = root.mkdir("b", 0o755).unwrap();
    for i in 0..20 {
        file(&a, &std::format!("f{i}"));
    }
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (a, b, root) = (a.clone(), b.clone(), root.clone());
            std::thread::spawn(move || {
                for round in 0..2000 {
                    let name = std::format!("f{}", (round + t) % 20);
                    let (from, to) = if (round + t) % 2 == 0 {
                        (&a, &b)
                    } else {
                        (&b, &a)
                    };
                    let _ = from.rename(&name, to, &name);
                    // Always refused (into itself), but takes both locks.
                    assert_eq!(root.rename("a", &a, "x"), Err(Errno::EINVAL));
                    let _ = to.lookup(&name);
                    let _ = names(from);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(names(&a).len() + names(&b).len(), 20);
}
