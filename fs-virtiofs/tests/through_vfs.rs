//! virtio-fs end to end: a `vfs::Vfs` over the backend over an in-process
//! FUSE server on a real temporary directory. Each test checks what the
//! guest sees and what landed on the host, and counts the requests.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use common::{Config, FakeServer, ManualClock, mount_root};
use fs_virtiofs::proto::Opcode;
use fs_virtiofs::{FUSE_SUPER_MAGIC, VirtioFsType};
use vfs::{Errno, FileType, FixedClock, MountFlags, OpenFlags, Timespec, Vfs};

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock(Timespec::new(1_700_000_000, 0)))
}

fn server(dir: &Path) -> Arc<FakeServer> {
    Arc::new(FakeServer::new(dir))
}

fn no_violations(server: &FakeServer) {
    assert_eq!(server.violations(), Vec::<String>::new());
}

/// The host tree under `dir`: path -> "dir", "file:<bytes>" or "link:<target>".
fn host_tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let ft = entry.file_type().unwrap();
            if ft.is_dir() {
                out.insert(rel, "dir".into());
                walk(base, &path, out);
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.insert(rel, format!("link:{}", target.display()));
            } else {
                let data = std::fs::read(&path).unwrap();
                out.insert(rel, format!("file:{}", String::from_utf8_lossy(&data)));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn namespace_and_data_round_trip_to_the_host() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "from host").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/deep.txt"), "deep").unwrap();
    std::fs::write(dir.path().join("gone.txt"), "delete me").unwrap();
    let server = server(dir.path());
    let vfs = mount_root(server.clone(), clock());

    // Files the host wrote before the mount read correctly.
    assert_eq!(vfs.read_file("/hello.txt").unwrap(), b"from host");
    assert_eq!(vfs.read_file("/sub/deep.txt").unwrap(), b"deep");
    assert_eq!(vfs.read_file("/nope"), Err(Errno::ENOENT));

    vfs.write_file("/new.txt", b"written in the guest").unwrap();
    assert_eq!(vfs.read_file("/new.txt").unwrap(), b"written in the guest");
    vfs.mkdir("/d", 0o750).unwrap();
    vfs.rename("/new.txt", "/d/moved.txt").unwrap();
    assert_eq!(vfs.stat("/new.txt"), Err(Errno::ENOENT));
    vfs.symlink("moved.txt", "/d/link").unwrap();
    assert_eq!(vfs.readlink("/d/link").unwrap(), "moved.txt");
    assert_eq!(vfs.read_file("/d/link").unwrap(), b"written in the guest");
    vfs.link("/d/moved.txt", "/hard.txt").unwrap();
    let a = vfs.stat("/hard.txt").unwrap();
    let b = vfs.stat("/d/moved.txt").unwrap();
    assert_eq!((a.ino, a.nlink, b.nlink), (b.ino, 2, 2));
    vfs.unlink("/hard.txt").unwrap();
    assert_eq!(vfs.stat("/d/moved.txt").unwrap().nlink, 1);
    vfs.unlink("/gone.txt").unwrap();
    vfs.mkdir("/empty", 0o755).unwrap();
    vfs.write_file("/d/inner", b"x").unwrap();
    assert_eq!(vfs.rmdir("/d"), Err(Errno::ENOTEMPTY));
    vfs.rmdir("/empty").unwrap();
    assert_eq!(vfs.stat("/empty"), Err(Errno::ENOENT));

    // Attributes.
    let st = vfs.stat("/d").unwrap();
    assert_eq!(st.mode, 0o040750);
    vfs.chmod("/d/moved.txt", 0o600).unwrap();
    assert_eq!(vfs.stat("/d/moved.txt").unwrap().mode, 0o100600);
    let when = Timespec::new(1_234_567_890, 123_456_789);
    vfs.utimens("/d/moved.txt", None, Some(when)).unwrap();
    assert_eq!(vfs.stat("/d/moved.txt").unwrap().mtime, when);
    let host_meta = std::fs::metadata(dir.path().join("d/moved.txt")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(host_meta.mode() & 0o7777, 0o600);
    assert_eq!(
        (host_meta.mtime(), host_meta.mtime_nsec()),
        (1_234_567_890, 123_456_789)
    );
    vfs.truncate("/d/moved.txt", 7).unwrap();
    assert_eq!(vfs.stat("/d/moved.txt").unwrap().size, 7);

    // Listing (the VFS adds . and ..; types come from the server).
    let mut names: Vec<(String, FileType)> = vfs
        .read_dir("/d")
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.file_type))
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        names,
        [
            ("inner".to_string(), FileType::Regular),
            ("link".to_string(), FileType::Symlink),
            ("moved.txt".to_string(), FileType::Regular),
        ]
    );

    // Exactly these changes exist on the host.
    let expected: BTreeMap<String, String> = [
        ("hello.txt", "file:from host"),
        ("sub", "dir"),
        ("sub/deep.txt", "file:deep"),
        ("d", "dir"),
        ("d/moved.txt", "file:written"),
        ("d/link", "link:moved.txt"),
        ("d/inner", "file:x"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(host_tree(dir.path()), expected);
    no_violations(&server);
}

#[test]
fn large_reads_and_writes_take_one_request_per_max_size() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let vfs = mount_root(server.clone(), clock());
    let mib = 1 << 20;
    let data: Vec<u8> = (0..3 * mib).map(|i| (i * 7 % 251) as u8).collect();

    let fd = vfs
        .open("/big", OpenFlags::O_RDWR | OpenFlags::O_CREAT, 0o644)
        .unwrap();
    server.reset_counts();
    assert_eq!(vfs.pwrite(fd, &data[..mib], 0).unwrap(), mib);
    assert_eq!(server.io_sizes(Opcode::Write), [mib as u32]);
    assert_eq!(vfs.pwrite(fd, &data[mib..], mib as u64).unwrap(), 2 * mib);
    assert_eq!(server.io_sizes(Opcode::Write), [mib as u32; 3]);

    let mut back = vec![0u8; 3 * mib];
    assert_eq!(vfs.pread(fd, &mut back[..mib], 0).unwrap(), mib);
    assert_eq!(server.io_sizes(Opcode::Read), [mib as u32]);
    assert_eq!(
        vfs.pread(fd, &mut back[mib..], mib as u64).unwrap(),
        2 * mib
    );
    assert_eq!(server.io_sizes(Opcode::Read).len(), 3);
    assert!(back == data);
    // A read past the end is short, and costs one request (a page-cache
    // fill from the page it starts in).
    server.reset_counts();
    let mut tail = vec![0u8; 4096];
    assert_eq!(vfs.pread(fd, &mut tail, 3 * mib as u64 - 100).unwrap(), 100);
    assert_eq!(server.io_sizes(Opcode::Read), [fs_virtiofs::FILL as u32]);
    vfs.close(fd).unwrap();
    assert!(std::fs::read(dir.path().join("big")).unwrap() == data);
    no_violations(&server);
}

#[test]
fn a_smaller_max_write_splits_writes() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        max_write: 64 * 1024,
        max_pages: 16,
        ..Config::default()
    };
    let server = Arc::new(FakeServer::with_config(dir.path(), config));
    let vfs = mount_root(server.clone(), clock());
    let data = vec![0x5a; 1 << 20];
    vfs.write_file("/f", &data).unwrap();
    assert_eq!(server.io_sizes(Opcode::Write), [64 * 1024; 16]);
    assert_eq!(vfs.read_file("/f").unwrap(), data);
    assert!(
        server
            .io_sizes(Opcode::Read)
            .iter()
            .all(|&s| s <= 16 * 4096)
    );
    no_violations(&server);
}

#[test]
fn readdir_cookies_hold_across_calls() {
    let dir = tempfile::tempdir().unwrap();
    let mut host_names = Vec::new();
    for i in 0..1000 {
        let name = format!("file-{i:04}-{}", "x".repeat(i % 40));
        std::fs::write(dir.path().join(&name), "").unwrap();
        host_names.push(name);
    }
    host_names.sort();
    let server = server(dir.path());
    let vfs = mount_root(server.clone(), clock());
    let fd = vfs
        .open("/", OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY, 0)
        .unwrap();
    server.reset_counts();
    let mut seen = Vec::new();
    let mut calls = 0;
    loop {
        let batch = vfs.getdents(fd, 7).unwrap();
        if batch.is_empty() {
            break;
        }
        calls += 1;
        if calls == 20 {
            // Entries made during the scan may show or not; the others
            // still come exactly once.
            vfs.write_file("/zz-added-late", b"").unwrap();
        }
        seen.extend(batch.into_iter().map(|e| e.name));
    }
    seen.retain(|n| n != "." && n != ".." && n != "zz-added-late");
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, host_names, "every name exactly once");
    assert!(calls > 100);
    // Replies are reused across getdents calls: a few READDIRs, not one per call.
    let readdirs = server.count(Opcode::Readdir);
    assert!(
        readdirs <= 8,
        "{readdirs} READDIR requests for {calls} calls"
    );
    vfs.close(fd).unwrap();
    no_violations(&server);
}

#[test]
fn statfs_reports_the_host_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let vfs = mount_root(server.clone(), clock());
    let ours = vfs.statfs("/").unwrap();
    let host = rustix::fs::statvfs(dir.path()).unwrap();
    assert_eq!(ours.fs_type, FUSE_SUPER_MAGIC);
    assert_eq!(ours.blocks, host.f_blocks);
    assert_eq!(u64::from(ours.block_size), host.f_bsize);
    assert_eq!(u64::from(ours.name_max), host.f_namemax);
}

/// A ramfs on `/` with the share on `/mnt` (and `/mnt2`).
fn mount_under_ramfs(server: Arc<FakeServer>) -> Vfs {
    let vfs = Vfs::new(clock());
    vfs.register(Arc::new(fs_ramfs::RamFsType)).unwrap();
    vfs.register(Arc::new(VirtioFsType::new(vec![(
        "share".to_string(),
        server as Arc<dyn fs_virtiofs::FuseTransport>,
    )])))
    .unwrap();
    vfs.mount(None, "/", "ramfs", MountFlags::empty(), "")
        .unwrap();
    vfs.mkdir("/mnt", 0o755).unwrap();
    vfs.mkdir("/mnt2", 0o755).unwrap();
    vfs.mount(Some("share"), "/mnt", "virtiofs", MountFlags::empty(), "")
        .unwrap();
    vfs
}

#[test]
fn every_lookup_is_forgotten_and_every_handle_released() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..50 {
        std::fs::create_dir(dir.path().join(format!("d{i}"))).unwrap();
        std::fs::write(dir.path().join(format!("d{i}/f")), format!("{i}")).unwrap();
    }
    let server = server(dir.path());
    let vfs = mount_under_ramfs(server.clone());
    let mut fds = Vec::new();
    for i in 0..50 {
        assert_eq!(
            vfs.read_file(&format!("/mnt/d{i}/f")).unwrap(),
            format!("{i}").as_bytes()
        );
        fds.push(
            vfs.open(&format!("/mnt/d{i}"), OpenFlags::O_RDONLY, 0)
                .unwrap(),
        );
        vfs.stat(&format!("/mnt/d{i}/missing")).unwrap_err();
    }
    vfs.write_file("/mnt/new", b"n").unwrap();
    vfs.unlink("/mnt/new").unwrap();
    assert!(server.live_nodes() >= 100);
    assert_eq!(server.open_handles(), 50);
    for fd in fds {
        vfs.close(fd).unwrap();
    }
    assert_eq!(server.open_handles(), 0);
    vfs.umount("/mnt").unwrap();
    assert_eq!(
        *server.live_at_destroy.lock().unwrap(),
        [0],
        "every lookup forgotten before DESTROY"
    );
    assert_eq!(server.count(Opcode::Destroy), 1);
    // FORGETs went out in batches.
    assert!(server.count(Opcode::BatchForget) >= 1);
    assert!(server.count(Opcode::BatchForget) < 10);
    no_violations(&server);

    // A new mount starts a new session on the same device.
    vfs.mount(Some("share"), "/mnt", "virtiofs", MountFlags::empty(), "")
        .unwrap();
    assert_eq!(server.count(Opcode::Init), 2);
    assert_eq!(vfs.read_file("/mnt/d3/f").unwrap(), b"3");
    no_violations(&server);
}

#[test]
fn two_mounts_of_one_tag_share_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let vfs = mount_under_ramfs(server.clone());
    vfs.mount(Some("share"), "/mnt2", "virtiofs", MountFlags::empty(), "")
        .unwrap();
    assert_eq!(server.count(Opcode::Init), 1);
    vfs.write_file("/mnt/a", b"seen twice").unwrap();
    assert_eq!(vfs.read_file("/mnt2/a").unwrap(), b"seen twice");
    vfs.umount("/mnt2").unwrap();
    assert_eq!(vfs.read_file("/mnt/a").unwrap(), b"seen twice");
    no_violations(&server);
}

#[test]
fn create_then_write_needs_no_open_and_no_truncate() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let vfs = mount_root(server.clone(), clock());
    server.reset_counts();
    vfs.write_file("/x", b"payload").unwrap();
    assert_eq!(server.count(Opcode::Create), 1);
    assert_eq!(server.count(Opcode::Open), 0);
    assert_eq!(server.count(Opcode::Setattr), 0);
    assert_eq!(server.count(Opcode::Write), 1);
    assert_eq!(server.count(Opcode::Release), 1);
    // Rewriting an existing file does truncate it.
    vfs.write_file("/x", b"p2").unwrap();
    assert_eq!(server.count(Opcode::Setattr), 1);
    assert_eq!(std::fs::read(dir.path().join("x")).unwrap(), b"p2");
    no_violations(&server);
}

#[test]
fn attributes_are_cached_for_the_time_the_server_allows() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "abc").unwrap();
    let config = Config {
        attr_valid: 5,
        ..Config::default()
    };
    let server = Arc::new(FakeServer::with_config(dir.path(), config));
    let clock = Arc::new(ManualClock::default());
    let vfs = mount_root(server.clone(), clock.clone());
    assert_eq!(vfs.stat("/f").unwrap().size, 3);
    server.reset_counts();
    for _ in 0..10 {
        assert_eq!(vfs.stat("/f").unwrap().size, 3);
    }
    assert_eq!(server.count(Opcode::Getattr), 0);
    // The host changes the file: we see it once the timeout runs out.
    std::fs::write(dir.path().join("f"), "abcdef").unwrap();
    assert_eq!(vfs.stat("/f").unwrap().size, 3);
    clock.advance(6);
    assert_eq!(vfs.stat("/f").unwrap().size, 6);
    assert_eq!(server.count(Opcode::Getattr), 1);
    // Our own write drops the cached value at once.
    let fd = vfs
        .open("/f", OpenFlags::O_WRONLY | OpenFlags::O_APPEND, 0)
        .unwrap();
    vfs.write(fd, b"gh").unwrap();
    assert_eq!(vfs.fstat(fd).unwrap().size, 8);
    vfs.close(fd).unwrap();
    // A namespace change drops every cached value (link counts moved).
    let before = vfs.stat("/f").unwrap();
    vfs.link("/f", "/g").unwrap();
    assert_eq!(vfs.stat("/f").unwrap().nlink, before.nlink + 1);
    no_violations(&server);
}

#[test]
fn without_a_timeout_every_stat_asks_the_server() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "abc").unwrap();
    let server = server(dir.path());
    let vfs = mount_root(server.clone(), clock());
    vfs.stat("/f").unwrap();
    server.reset_counts();
    for _ in 0..5 {
        vfs.stat("/f").unwrap();
    }
    assert_eq!(server.count(Opcode::Getattr), 5);
    std::fs::write(dir.path().join("f"), "abcdef").unwrap();
    assert_eq!(vfs.stat("/f").unwrap().size, 6);
}

#[test]
fn mount_failures_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let vfs = Vfs::new(clock());
    let good = server(dir.path());
    let old = Arc::new(FakeServer::with_config(
        dir.path(),
        Config {
            minor: 22,
            ..Config::default()
        },
    ));
    let future = Arc::new(FakeServer::with_config(
        dir.path(),
        Config {
            major: 8,
            ..Config::default()
        },
    ));
    let fs_type = Arc::new(VirtioFsType::new(vec![
        (
            "good".to_string(),
            good as Arc<dyn fs_virtiofs::FuseTransport>,
        ),
        ("old".to_string(), old),
        ("future".to_string(), future),
    ]));
    assert_eq!(
        fs_type.tags().collect::<Vec<_>>(),
        ["good", "old", "future"]
    );
    vfs.register(fs_type).unwrap();
    let try_mount = |tag: &str, options: &str| {
        vfs.mount(Some(tag), "/", "virtiofs", MountFlags::empty(), options)
    };
    let why = |tag: &str, options: &str| {
        vfs.diagnose_mount(
            &vfs::MountSource::Named(tag.to_string()),
            "virtiofs",
            options,
        )
        .unwrap()
    };
    assert_eq!(try_mount("nosuch", ""), Err(Errno::ENODEV));
    assert_eq!(
        why("nosuch", ""),
        "virtiofs: no device with tag 'nosuch' (devices: good, old, future)"
    );
    assert_eq!(try_mount("good", "bogus=1"), Err(Errno::EINVAL));
    assert!(why("good", "bogus=1").contains("unknown option 'bogus'"));
    assert_eq!(try_mount("old", ""), Err(Errno::EIO));
    assert!(why("old", "").contains("FUSE 7.22"), "{}", why("old", ""));
    assert_eq!(try_mount("future", ""), Err(Errno::EIO));
    assert!(
        why("future", "").contains("FUSE 8.x"),
        "{}",
        why("future", "")
    );
    assert_eq!(
        vfs.mount(None, "/", "virtiofs", MountFlags::empty(), ""),
        Err(Errno::EINVAL)
    );
    try_mount("good", "").unwrap();
}

#[test]
fn read_only_mounts_refuse_changes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "ro").unwrap();
    let server = server(dir.path());
    let vfs = Vfs::new(clock());
    vfs.register(Arc::new(VirtioFsType::new(vec![(
        "share".to_string(),
        server.clone() as Arc<dyn fs_virtiofs::FuseTransport>,
    )])))
    .unwrap();
    vfs.mount(Some("share"), "/", "virtiofs", MountFlags::RDONLY, "")
        .unwrap();
    assert_eq!(vfs.read_file("/f").unwrap(), b"ro");
    assert_eq!(vfs.write_file("/g", b"x"), Err(Errno::EROFS));
    assert_eq!(vfs.unlink("/f"), Err(Errno::EROFS));
    assert_eq!(vfs.mkdir("/d", 0o755), Err(Errno::EROFS));
    assert_eq!(
        server.count(Opcode::Create) + server.count(Opcode::Unlink),
        0
    );
}

#[test]
fn unknown_listing_types_are_looked_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("file"), "").unwrap();
    std::os::unix::fs::symlink("file", dir.path().join("link")).unwrap();
    let config = Config {
        unknown_types: true,
        ..Config::default()
    };
    let server = Arc::new(FakeServer::with_config(dir.path(), config));
    let vfs = mount_root(server.clone(), clock());
    let mut entries: Vec<_> = vfs
        .read_dir("/")
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.file_type))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        entries,
        [
            ("file".to_string(), FileType::Regular),
            ("link".to_string(), FileType::Symlink),
            ("sub".to_string(), FileType::Directory),
        ]
    );
    no_violations(&server);
}

#[test]
fn special_files_are_made_but_never_opened_on_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let vfs = mount_root(server.clone(), clock());
    vfs.mknod("/fifo", 0o010644, 0).unwrap();
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(dir.path().join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(vfs.stat("/fifo").unwrap().file_type(), Some(FileType::Fifo));
    assert_eq!(vfs.open("/fifo", OpenFlags::O_RDONLY, 0), Err(Errno::ENXIO));
    assert_eq!(server.count(Opcode::Open), 0);
}

#[test]
fn unlinked_open_files_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let vfs = mount_root(server.clone(), clock());
    vfs.write_file("/f", b"still here").unwrap();
    let fd = vfs.open("/f", OpenFlags::O_RDWR, 0).unwrap();
    vfs.unlink("/f").unwrap();
    assert!(!dir.path().join("f").exists());
    let mut buf = [0u8; 10];
    assert_eq!(vfs.pread(fd, &mut buf, 0).unwrap(), 10);
    assert_eq!(&buf, b"still here");
    vfs.close(fd).unwrap();
    assert_eq!(server.open_handles(), 0);
    no_violations(&server);
}

#[test]
fn append_writes_go_to_the_host_end_of_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let vfs = mount_root(server.clone(), clock());
    vfs.write_file("/log", b"one\n").unwrap();
    let fd = vfs
        .open("/log", OpenFlags::O_WRONLY | OpenFlags::O_APPEND, 0)
        .unwrap();
    // The host appends behind our back.
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("log"))
        .unwrap()
        .write_all(b"host\n")
        .unwrap();
    vfs.write(fd, b"two\n").unwrap();
    vfs.close(fd).unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("log")).unwrap(),
        b"one\nhost\ntwo\n"
    );
}

#[test]
fn fsync_reaches_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let vfs = mount_root(server.clone(), clock());
    let fd = vfs
        .open("/f", OpenFlags::O_WRONLY | OpenFlags::O_CREAT, 0o644)
        .unwrap();
    vfs.write(fd, b"durable").unwrap();
    vfs.fsync(fd).unwrap();
    assert_eq!(server.count(Opcode::Fsync), 1);
    vfs.close(fd).unwrap();
    vfs.sync().unwrap();
    no_violations(&server);
}
