//! Replies from a hostile (or broken) server: each malformed reply gives the
//! caller an errno and leaves the mount usable, and thousands of seeded
//! random mutations of good replies never panic or hang.
//!
//! `HOSTILE_SEED=N` replays one seed of the random run; failures print it.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Action, FakeServer, Rule, Tamper, body, fix_len, mount_root};
use fs_virtiofs::TransportError;
use fs_virtiofs::proto::dirent::push_dirent;
use fs_virtiofs::proto::{DirentHeader, EntryOut, OUT_HEADER_LEN, Opcode};
use vfs::{Errno, FixedClock, MountFlags, OpenFlags, Timespec, Vfs};

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock(Timespec::new(1_700_000_000, 0)))
}

fn populate(dir: &Path) {
    std::fs::write(dir.join("f"), vec![7u8; 8192]).unwrap();
    std::fs::create_dir(dir.join("d")).unwrap();
    for i in 0..5 {
        std::fs::write(dir.join(format!("d/e{i}")), "e").unwrap();
    }
    for i in 0..40 {
        std::fs::write(dir.join(format!("n{i}")), format!("{i}")).unwrap();
        std::os::unix::fs::symlink(format!("target{i}"), dir.join(format!("l{i}"))).unwrap();
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    tamper: Arc<Tamper>,
    vfs: Vfs,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let server = Arc::new(FakeServer::new(dir.path()));
    let tamper = Arc::new(Tamper::new(server, Tamper::honest()));
    let vfs = mount_root(tamper.clone(), clock());
    Setup {
        _dir: dir,
        tamper,
        vfs,
    }
}

/// Apply `edit` to every reply to `op` (others pass); `edit` returns the
/// length to claim.
fn on(op: Opcode, mut edit: impl FnMut(&mut Vec<u8>, usize) -> usize + Send + 'static) -> Rule {
    Box::new(move |seen, bytes, room| {
        if seen == op {
            Action::Reply(edit(bytes, room))
        } else {
            Action::Reply(bytes.len())
        }
    })
}

fn set_error(bytes: &mut [u8], error: i32) {
    bytes[4..8].copy_from_slice(&error.to_ne_bytes());
}

impl Setup {
    /// Run `op` under `rule`, then check the mount still works honestly.
    fn expect<T: std::fmt::Debug>(
        &self,
        what: &str,
        rule: Rule,
        expected: Errno,
        op: impl FnOnce(&Vfs) -> Result<T, Errno>,
    ) {
        self.tamper.set_rule(rule);
        let got = op(&self.vfs);
        self.tamper.set_rule(Tamper::honest());
        match got {
            Err(e) => assert_eq!(e, expected, "{what}"),
            Ok(v) => panic!("{what}: got Ok({v:?}), expected {expected:?}"),
        }
        assert_eq!(
            self.vfs.stat("/f").map(|s| s.size),
            Ok(8192),
            "after {what}"
        );
    }
}

#[test]
fn malformed_headers() {
    let s = setup();
    let stat = |v: &Vfs| v.stat("/f");
    s.expect(
        "short body",
        on(Opcode::Getattr, |b, _| {
            b.truncate(60);
            fix_len(b);
            b.len()
        }),
        Errno::EIO,
        stat,
    );
    s.expect(
        "header shorter than received",
        on(Opcode::Getattr, |b, _| {
            b[..4].copy_from_slice(&50u32.to_ne_bytes());
            b.len()
        }),
        Errno::EIO,
        stat,
    );
    s.expect(
        "received shorter than header says",
        on(Opcode::Getattr, |b, _| b.len() - 8),
        Errno::EIO,
        stat,
    );
    s.expect(
        "claims more than the buffer",
        on(Opcode::Getattr, |b, room| {
            b.extend([0u8; 64]);
            fix_len(b);
            room + 64
        }),
        Errno::EIO,
        stat,
    );
    s.expect(
        "shorter than a header",
        on(Opcode::Getattr, |_, _| 10),
        Errno::EIO,
        stat,
    );
    s.expect(
        "wrong unique",
        on(Opcode::Getattr, |b, _| {
            b[8] ^= 1;
            b.len()
        }),
        Errno::EIO,
        stat,
    );
}

#[test]
fn errors_outside_the_errno_range() {
    let s = setup();
    let stat = |v: &Vfs| v.stat("/f");
    let error_reply = |error: i32| {
        on(Opcode::Getattr, move |b, _| {
            b.truncate(OUT_HEADER_LEN);
            set_error(b, error);
            fix_len(b);
            b.len()
        })
    };
    s.expect("positive error", error_reply(1), Errno::EIO, stat);
    s.expect("error -4096", error_reply(-4096), Errno::EIO, stat);
    s.expect("error i32::MIN", error_reply(i32::MIN), Errno::EIO, stat);
    s.expect("unknown errno", error_reply(-4000), Errno::EIO, stat);
    s.expect("known errno", error_reply(-13), Errno::EACCES, stat);
    s.expect(
        "error with a body",
        on(Opcode::Getattr, |b, _| {
            set_error(b, -2);
            b.len()
        }),
        Errno::EIO,
        stat,
    );
}

#[test]
fn malformed_attributes_and_entries() {
    let s = setup();
    let stat = |v: &Vfs| v.stat("/f");
    // AttrOut: attr_valid(8) nsec(4) dummy(4), then Attr: mode at 60, nsecs at 48..60.
    let attr = OUT_HEADER_LEN + 16;
    s.expect(
        "mode without a type",
        on(Opcode::Getattr, move |b, _| {
            b[attr + 60..attr + 64].copy_from_slice(&0o644u32.to_ne_bytes());
            b.len()
        }),
        Errno::EIO,
        stat,
    );
    s.expect(
        "a file turned directory",
        on(Opcode::Getattr, move |b, _| {
            b[attr + 60..attr + 64].copy_from_slice(&0o40755u32.to_ne_bytes());
            b.len()
        }),
        Errno::EIO,
        stat,
    );
    s.expect(
        "nanoseconds past a second",
        on(Opcode::Getattr, move |b, _| {
            b[attr + 52..attr + 56].copy_from_slice(&2_000_000_000u32.to_ne_bytes());
            b.len()
        }),
        Errno::EIO,
        stat,
    );

    // A LOOKUP the server counted but whose entry is bad: EIO, and the
    // lookup is forgotten anyway.
    s.vfs.sync().unwrap();
    let live = s.tamper.server.live_nodes();
    let entry_attr = OUT_HEADER_LEN + 40;
    s.expect(
        "entry without a type",
        on(Opcode::Lookup, move |b, _| {
            b[entry_attr + 60..entry_attr + 64].copy_from_slice(&0u32.to_ne_bytes());
            b.len()
        }),
        Errno::EIO,
        |v| v.stat("/n1"),
    );
    s.vfs.sync().unwrap();
    assert_eq!(s.tamper.server.live_nodes(), live);
    s.expect(
        "negative entry",
        on(Opcode::Lookup, |b, _| {
            body(b)[..8].copy_from_slice(&0u64.to_ne_bytes());
            b.len()
        }),
        Errno::ENOENT,
        |v| v.stat("/n2"),
    );
    s.expect(
        "entry reply too short",
        on(Opcode::Lookup, |b, _| {
            b.truncate(OUT_HEADER_LEN + 100);
            fix_len(b);
            b.len()
        }),
        Errno::EIO,
        |v| v.stat("/n3"),
    );
    assert!(s.tamper.server.violations().is_empty());
}

#[test]
fn reads_and_writes_beyond_what_was_asked() {
    let s = setup();
    let read = |v: &Vfs| v.read_file("/f");
    s.expect(
        "more data than asked",
        on(Opcode::Read, |b, room| {
            b.extend(vec![1u8; 100]);
            fix_len(b);
            room + 100
        }),
        Errno::EIO,
        read,
    );
    s.expect(
        "write reports more than sent",
        on(Opcode::Write, |b, _| {
            body(b)[..4].copy_from_slice(&1_000_000u32.to_ne_bytes());
            b.len()
        }),
        Errno::EIO,
        |v| v.write_file("/n4", b"abc"),
    );
    s.expect(
        "write reply too long",
        on(Opcode::Write, |b, room| {
            b.extend([0u8; 8]);
            fix_len(b);
            room + 8
        }),
        Errno::EIO,
        |v| v.write_file("/n5", b"abc"),
    );
    // A short write is a short write, not an error.
    s.tamper.set_rule(on(Opcode::Write, |b, _| {
        body(b)[..4].copy_from_slice(&2u32.to_ne_bytes());
        b.len()
    }));
    let fd = s.vfs.open("/n6", OpenFlags::O_WRONLY, 0).unwrap();
    assert_eq!(s.vfs.write(fd, b"abcdef"), Ok(2));
    s.tamper.set_rule(Tamper::honest());
    s.vfs.close(fd).unwrap();
    assert_eq!(s.tamper.server.open_handles(), 0);
    // An OPEN reply we cannot read names no fh we could release: the
    // server keeps that one open (as with Linux's FUSE).
    s.expect(
        "open reply too short",
        on(Opcode::Open, |b, _| {
            b.truncate(OUT_HEADER_LEN + 8);
            fix_len(b);
            b.len()
        }),
        Errno::EIO,
        read,
    );
    assert_eq!(s.tamper.server.open_handles(), 1);
}

/// A READDIR reply of records `(off, kind, name)`.
fn listing(records: &[(u64, u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for &(off, kind, name) in records {
        push_dirent(&mut out, 99, off, kind, name);
    }
    out
}

fn readdir_reply(records: Vec<u8>) -> Rule {
    let mut sent = false;
    on(Opcode::Readdir, move |b, _| {
        b.truncate(OUT_HEADER_LEN);
        if !sent {
            b.extend(&records);
            sent = true;
        }
        fix_len(b);
        b.len()
    })
}

#[test]
fn malformed_directory_listings() {
    let s = setup();
    let list = |v: &Vfs| v.read_dir("/d");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("slash in a name", listing(&[(1, 8, b"a/b")])),
        ("NUL in a name", listing(&[(1, 8, b"a\0b")])),
        ("empty name", listing(&[(1, 8, b"")])),
        ("zero offset", listing(&[(0, 8, b"x")])),
        ("bad type", listing(&[(1, 99, b"x")])),
        ("cookie handed back", listing(&[(1, 8, b"x"), (0, 8, b"y")])),
        ("name past the end", {
            let mut l = listing(&[(1, 8, b"abc")]);
            l[16..20].copy_from_slice(&500u32.to_ne_bytes());
            l
        }),
        ("no padding", {
            let mut l = listing(&[(1, 8, b"abc")]);
            l.truncate(size_of::<DirentHeader>() + 3);
            l
        }),
    ];
    for (what, records) in cases {
        s.expect(what, readdir_reply(records), Errno::EIO, list);
    }
    // A server that hands back the cookie it was asked for, on a later page.
    let mut page = 0;
    let looping: Rule = on(Opcode::Readdir, move |b, _| {
        b.truncate(OUT_HEADER_LEN);
        page += 1;
        b.extend(listing(&[(5, 8, format!("p{page}").as_bytes())]));
        fix_len(b);
        b.len()
    });
    s.expect("endless listing", looping, Errno::EIO, list);
    // Dots are fine (the VFS adds its own), and so is a long name at the limit.
    let long = vec![b'z'; 255];
    s.tamper.set_rule(readdir_reply(listing(&[
        (1, 4, b"."),
        (2, 4, b".."),
        (3, 8, &long),
    ])));
    let names: Vec<String> = s
        .vfs
        .read_dir("/d")
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, [String::from_utf8(long).unwrap()]);
    s.tamper.set_rule(Tamper::honest());
    assert_eq!(s.vfs.read_dir("/d").unwrap().len(), 5);
    assert_eq!(s.tamper.server.open_handles(), 0);
}

#[test]
fn malformed_link_targets_and_statfs() {
    let s = setup();
    let target = |edit: fn(&mut Vec<u8>)| {
        on(Opcode::Readlink, move |b, _| {
            edit(b);
            fix_len(b);
            b.len()
        })
    };
    s.expect(
        "NUL in a target",
        target(|b| b[OUT_HEADER_LEN] = 0),
        Errno::EIO,
        |v| v.readlink("/l1"),
    );
    s.expect(
        "empty target",
        target(|b| b.truncate(OUT_HEADER_LEN)),
        Errno::EIO,
        |v| v.readlink("/l2"),
    );
    s.expect(
        "target of PATH_MAX",
        target(|b| b.resize(OUT_HEADER_LEN + 4096, b'a')),
        Errno::EIO,
        |v| v.readlink("/l3"),
    );
    s.expect(
        "non-UTF-8 target",
        target(|b| b[OUT_HEADER_LEN] = 0xff),
        Errno::EIO,
        |v| v.readlink("/l4"),
    );
    assert_eq!(s.vfs.readlink("/l5").unwrap(), "target5");
    s.expect(
        "short statfs",
        on(Opcode::Statfs, |b, _| {
            b.truncate(OUT_HEADER_LEN + 40);
            fix_len(b);
            b.len()
        }),
        Errno::EIO,
        |v| v.statfs("/"),
    );
}

#[test]
fn a_bad_create_reply_releases_what_the_server_opened() {
    let s = setup();
    let entry_attr = OUT_HEADER_LEN + 40;
    s.expect(
        "create with an untyped entry",
        on(Opcode::Create, move |b, _| {
            b[entry_attr + 60..entry_attr + 64].copy_from_slice(&0u32.to_ne_bytes());
            b.len()
        }),
        Errno::EIO,
        |v| v.write_file("/fresh", b"x"),
    );
    assert_eq!(s.tamper.server.open_handles(), 0);
    s.expect(
        "create reply without its open part",
        on(Opcode::Create, |b, _| {
            b.truncate(OUT_HEADER_LEN + size_of::<EntryOut>());
            fix_len(b);
            b.len()
        }),
        Errno::EIO,
        |v| v.write_file("/fresh2", b"x"),
    );
}

#[test]
fn a_vanished_daemon_gives_eio_everywhere() {
    let s = setup();
    s.tamper
        .set_rule(Box::new(|_, _, _| Action::Fail(TransportError::Timeout)));
    assert_eq!(s.vfs.stat("/f"), Err(Errno::EIO));
    s.tamper
        .set_rule(Box::new(|_, _, _| Action::Fail(TransportError::Broken)));
    assert_eq!(s.vfs.read_file("/f"), Err(Errno::EIO));
    assert_eq!(s.vfs.write_file("/x", b"x"), Err(Errno::EIO));
    assert_eq!(s.vfs.read_dir("/"), Err(Errno::EIO));
    assert_eq!(s.vfs.statfs("/"), Err(Errno::EIO));
    assert_eq!(s.vfs.mkdir("/m", 0o755), Err(Errno::EIO));
    s.tamper
        .set_rule(Box::new(|_, _, _| Action::Fail(TransportError::NoMemory)));
    assert_eq!(s.vfs.stat("/f"), Err(Errno::ENOMEM));
}

#[test]
fn a_malformed_init_refuses_the_mount() {
    for (what, edit) in [
        (
            "short",
            (|b: &mut Vec<u8>| b.truncate(OUT_HEADER_LEN + 24)) as fn(&mut Vec<u8>),
        ),
        ("error", |b| {
            b.truncate(OUT_HEADER_LEN);
            set_error(b, -38);
        }),
        ("wrong major", |b| b[OUT_HEADER_LEN] = 6),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let server = Arc::new(FakeServer::new(dir.path()));
        let tamper = Arc::new(Tamper::new(
            server,
            on(Opcode::Init, move |b, _| {
                edit(b);
                fix_len(b);
                b.len()
            }),
        ));
        let vfs = Vfs::new(clock());
        vfs.register(Arc::new(fs_virtiofs::VirtioFsType::new(vec![(
            "t".to_string(),
            tamper as Arc<dyn fs_virtiofs::FuseTransport>,
        )])))
        .unwrap();
        let result = vfs.mount(Some("t"), "/", "virtiofs", MountFlags::empty(), "");
        assert!(
            matches!(result, Err(Errno::EIO | Errno::ENOSYS)),
            "{what}: {result:?}"
        );
    }
}

/// One random edit of a good reply.
fn mutate(rng: &mut fastrand::Rng, bytes: &mut Vec<u8>, room: usize) -> Action {
    let len = bytes.len();
    match rng.u32(0..10) {
        0 => {
            bytes.truncate(rng.usize(0..=len));
            if rng.bool() && bytes.len() >= 4 {
                fix_len(bytes);
            }
            Action::Reply(bytes.len())
        }
        1 => {
            let extra = rng.usize(1..64);
            bytes.extend((0..extra).map(|_| rng.u8(..)));
            if rng.bool() {
                fix_len(bytes);
            }
            Action::Reply(bytes.len())
        }
        2..=5 => {
            for _ in 0..rng.usize(1..4) {
                let at = rng.usize(0..len.max(1));
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= 1 << rng.u32(0..8);
                }
            }
            Action::Reply(len)
        }
        6 => {
            if len >= 8 {
                let error = *rng
                    .choice(&[1, -1, -2, -4095, -4096, i32::MIN, i32::MAX])
                    .unwrap();
                set_error(bytes, error);
            }
            Action::Reply(len)
        }
        7 => Action::Reply(rng.usize(0..room + 100)),
        8 => {
            // Plausible-looking body values: big numbers in random fields.
            if len > OUT_HEADER_LEN + 8 {
                let at = rng.usize(OUT_HEADER_LEN..len - 8);
                bytes[at..at + 8].copy_from_slice(&rng.u64(..).to_ne_bytes());
            }
            Action::Reply(len)
        }
        _ => Action::Fail(TransportError::Timeout),
    }
}

/// Run one random operation; whether it failed with EIO (what hostile
/// replies give; the other errnos are the operation's own).
fn random_op(rng: &mut fastrand::Rng, vfs: &Vfs) -> bool {
    let name = |rng: &mut fastrand::Rng| {
        let pool = [
            "/f", "/d", "/d/e1", "/n1", "/n7", "/l3", "/new", "/new2", "/dir", "/dir/x",
        ];
        *rng.choice(&pool).unwrap()
    };
    let a = name(rng);
    let b = name(rng);
    let result = match rng.u32(0..16) {
        0 => vfs.stat(a).map(drop),
        1 => vfs.read_file(a).map(drop),
        2 => vfs.write_file(a, &vec![3u8; rng.usize(0..20_000)]),
        3 => vfs.read_dir(a).map(drop),
        4 => vfs.mkdir(a, 0o755),
        5 => vfs.unlink(a),
        6 => vfs.rmdir(a),
        7 => vfs.rename(a, b),
        8 => vfs.symlink("target", a),
        9 => vfs.readlink(a).map(drop),
        10 => vfs.link(a, b),
        11 => vfs.truncate(a, rng.u64(0..10_000)),
        12 => vfs.statfs(a).map(drop),
        13 => vfs.chmod(a, 0o600),
        14 => vfs.open(a, OpenFlags::O_RDONLY, 0).and_then(|fd| {
            let mut buf = vec![0u8; 5000];
            let r = vfs.pread(fd, &mut buf, rng.u64(0..9000)).map(drop);
            let _ = vfs.getdents(fd, 3);
            vfs.close(fd)?;
            r
        }),
        _ => vfs.lstat(a).map(drop),
    };
    result == Err(Errno::EIO)
}

#[test]
fn random_mutations_never_panic_or_hang() {
    let seeds: Vec<u64> = match std::env::var("HOSTILE_SEED") {
        Ok(s) => vec![s.parse().expect("HOSTILE_SEED is a number")],
        Err(_) => (1..=8).collect(),
    };
    let (mut mutated, mut failed, mut ops) = (0, 0, 0);
    for seed in seeds {
        match std::panic::catch_unwind(|| run_seed(seed)) {
            Ok(counts) => {
                mutated += counts.0;
                failed += counts.1;
                ops += OPS;
            }
            Err(_) => panic!("hostile run failed; replay with HOSTILE_SEED={seed}"),
        }
    }
    eprintln!("{ops} operations, {mutated} replies mutated, {failed} operations gave EIO");
    // The run must really have been hostile.
    assert!(
        mutated >= 3000 && failed >= 1000,
        "{mutated} mutated, {failed} EIO"
    );
}

const OPS: usize = 2000;

/// Replies mutated and operations failed in one seeded run.
fn run_seed(seed: u64) -> (usize, usize) {
    let s = setup();
    let rng = Arc::new(std::sync::Mutex::new(fastrand::Rng::with_seed(seed)));
    let rule_rng = rng.clone();
    let mutated = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = mutated.clone();
    s.tamper.set_rule(Box::new(move |_, bytes, room| {
        let mut rng = rule_rng.lock().unwrap();
        if rng.u32(0..10) < 4 {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            mutate(&mut rng, bytes, room)
        } else {
            Action::Reply(bytes.len())
        }
    }));
    let mut ops_rng = fastrand::Rng::with_seed(seed ^ 0x9e37_79b9);
    let mut failed = 0;
    for _ in 0..OPS {
        failed += usize::from(random_op(&mut ops_rng, &s.vfs));
    }
    // Honest again: the mount still works for new names.
    s.tamper.set_rule(Tamper::honest());
    let path = format!("/after-{seed}");
    s.vfs.write_file(&path, b"recovered").unwrap();
    assert_eq!(s.vfs.read_file(&path).unwrap(), b"recovered");
    s.vfs.unlink(&path).unwrap();
    (mutated.load(std::sync::atomic::Ordering::Relaxed), failed)
}
