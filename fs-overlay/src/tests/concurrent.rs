//! Threads copying up and changing one overlay at once: no deadlock, no
//! lost copy, and the VFS's cached view equals a fresh one afterwards.

use alloc::format;
use alloc::sync::Arc;
use alloc::vec;
use std::thread;

use vfs::{FileSystem, OpenFlags};

use super::*;

const NAMES: [&str; 4] = ["a", "b", "c", "d"];

/// Every entry under `dir`, one line each (type, size, link count).
fn walk(v: &Vfs, dir: &str, out: &mut Vec<String>) {
    let mut entries = v.read_dir(dir).unwrap();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for e in entries {
        let path = format!("{}/{}", dir.trim_end_matches('/'), e.name);
        let st = v.lstat(&path).unwrap();
        out.push(format!("{path} {:o} {} {}", st.mode, st.size, st.nlink));
        if e.file_type == vfs::FileType::Directory {
            walk(v, &path, out);
        }
    }
}

#[test]
fn concurrent_changes_keep_the_overlay_consistent() {
    let data = pattern(200_000, 5);
    let dirs: Vec<String> = NAMES.iter().map(|a| format!("/{a}")).collect();
    let paths: Vec<String> = NAMES
        .iter()
        .flat_map(|a| NAMES.iter().map(move |b| format!("/{a}/{b}")))
        .collect();
    let mut entries = vec![];
    entries.extend(dirs.iter().map(|d| Entry::Dir(d, 0o755)));
    entries.extend(paths.iter().map(|p| Entry::File(p, &data, 0o644)));
    let s = Arc::new(Stack::new(&entries));
    let start = Arc::new(std::sync::Barrier::new(3));
    let threads: Vec<_> = (0..3u64)
        .map(|t| {
            let s = s.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                let mut rng = t.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                let mut next = |n: usize| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    (rng % n as u64) as usize
                };
                for _ in 0..5000 {
                    let p = format!("/{}/{}", NAMES[next(4)], NAMES[next(4)]);
                    let q = format!("/{}/{}", NAMES[next(4)], NAMES[next(4)]);
                    // Outcomes race; only consistency is checked.
                    let _ = match next(9) {
                        0 => s.vfs.open(&p, OpenFlags::O_WRONLY, 0).and_then(|fd| {
                            let _ = s.vfs.pwrite(fd, b"x", 7);
                            s.vfs.close(fd)
                        }),
                        1 => s.vfs.truncate(&p, 1000),
                        2 => s.vfs.chmod(&p, 0o600),
                        3 => s.vfs.unlink(&p),
                        4 => s.vfs.rename(&p, &q),
                        5 => s.vfs.link(&p, &q),
                        6 => s.vfs.write_file(&p, b"new"),
                        7 => s.vfs.read_dir(&format!("/{}", NAMES[next(4)])).map(|_| ()),
                        _ => s.vfs.stat(&p).map(|_| ()),
                    };
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut warm = Vec::new();
    walk(&s.vfs, "/", &mut warm);
    let fresh = vfs_on(s.overlay.clone() as Arc<dyn FileSystem>);
    let mut cold = Vec::new();
    walk(&fresh, "/", &mut cold);
    assert_eq!(warm, cold);
    // Every file reads whole; copies are complete (lower data, or changed).
    for line in &warm {
        let path = line.split(' ').next().unwrap();
        if s.stat(path).file_type() == Some(vfs::FileType::Regular) {
            assert_eq!(s.read(path).len() as u64, s.stat(path).size, "{path}");
        }
    }
    // No temporary is left in the upper layer.
    let mut upper = Vec::new();
    walk(&s.raw(), "/", &mut upper);
    assert!(
        upper.iter().all(|l| !l.contains(".wh..wh.tmp")),
        "{upper:?}"
    );
    assert!(
        upper.len() > NAMES.len(),
        "the threads changed things: {upper:?}"
    );
}
