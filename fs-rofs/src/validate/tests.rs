//! The validator against the rules written the obvious way: random small
//! tables, mostly valid trees with one mutation, must be accepted exactly
//! when the obvious check accepts them.

use alloc::vec;
use alloc::vec::Vec;

use super::{Rules, check};
use crate::format::{S_IFDIR, S_IFREG};
use crate::image::{Entry, InodeRecord, Tables};
use crate::problem::Problem;

struct Fake {
    inodes: Vec<InodeRecord>,
    entries: Vec<(u64, Vec<u8>)>,
}

impl Tables for Fake {
    fn inode_count(&self) -> u64 {
        self.inodes.len() as u64
    }

    fn entry_count(&self) -> u64 {
        self.entries.len() as u64
    }

    fn inode(&self, ino: u64) -> Result<InodeRecord, Problem> {
        let i = ino.checked_sub(1).ok_or(Problem::InodeNumber { ino })?;
        self.inodes
            .get(i as usize)
            .copied()
            .ok_or(Problem::InodeNumber { ino })
    }

    fn entry(&self, index: u64) -> Result<Entry<'_>, Problem> {
        let (ino, name) = self
            .entries
            .get(index as usize)
            .ok_or(Problem::EntryName { index })?;
        Ok(Entry { ino: *ino, name })
    }

    fn bytes(&self, _start: u64, _count: u64) -> Option<&[u8]> {
        None
    }

    fn lookup(&self, _dir: &InodeRecord, _name: &[u8]) -> Result<Option<u64>, Problem> {
        Ok(None)
    }
}

fn obvious_name(name: &[u8], utf8: bool) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != b"."
        && name != b".."
        && !name.contains(&0)
        && !name.contains(&b'/')
        && (!utf8 || core::str::from_utf8(name).is_ok())
}

/// What `check` must decide, written the obvious way: every run in range
/// and pairwise disjoint, every entry of every run valid (and runs sorted),
/// each directory but the root named by exactly one entry, none naming the
/// root, and all directories reachable from the root.
fn obvious(fake: &Fake, utf8: bool, sorted: bool) -> bool {
    let n = fake.inodes.len() as u64;
    let m = fake.entries.len() as u64;
    let is_dir = |ino: u64| (1..=n).contains(&ino) && fake.inodes[ino as usize - 1].mode == S_IFDIR;
    let dirs: Vec<u64> = (1..=n).filter(|&i| is_dir(i)).collect();
    let run = |d: u64| {
        let r = &fake.inodes[d as usize - 1];
        r.start..r.start.saturating_add(r.count)
    };
    if dirs.iter().any(|&d| run(d).end > m) {
        return false;
    }
    for (i, &a) in dirs.iter().enumerate() {
        for &b in &dirs[i + 1..] {
            let (ra, rb) = (run(a), run(b));
            // Ranges that share an index (empty ones share none).
            if ra.clone().any(|i| rb.contains(&i)) {
                return false;
            }
        }
    }
    let mut named = vec![0u32; n as usize + 1];
    for &d in &dirs {
        let entries = &fake.entries[run(d).start as usize..run(d).end as usize];
        for (ino, name) in entries {
            if !(1..=n).contains(ino) || !obvious_name(name, utf8) {
                return false;
            }
            named[*ino as usize] += 1;
        }
        if sorted && entries.windows(2).any(|w| w[0].1 >= w[1].1) {
            return false;
        }
    }
    if dirs.iter().any(|&d| named[d as usize] != u32::from(d != 1)) {
        return false;
    }
    // Reachability by depth-first search.
    let mut seen = vec![false; n as usize + 1];
    let mut stack = vec![1u64];
    while let Some(d) = stack.pop() {
        if core::mem::replace(&mut seen[d as usize], true) {
            continue;
        }
        for (ino, _) in &fake.entries[run(d).start as usize..run(d).end as usize] {
            if is_dir(*ino) {
                stack.push(*ino);
            }
        }
    }
    dirs.iter().all(|&d| seen[d as usize])
}

/// A random tree of up to 7 inodes, laid out as a writer would, then
/// (usually) one random mutation.
fn random_tables(rng: &mut fastrand::Rng, sorted_layout: bool) -> Fake {
    // Bytes that matter: separators, NUL, dots, non-ASCII (valid and not).
    const ALPHABET: &[u8] = b"ab.../\0\xc3\xa9\xff";
    let n = 1 + rng.usize(..7);
    let kinds: Vec<u32> = (0..n)
        .map(|i| {
            if i == 0 || rng.bool() {
                S_IFDIR
            } else {
                S_IFREG
            }
        })
        .collect();
    let dirs: Vec<usize> = (0..n).filter(|&i| kinds[i] == S_IFDIR).collect();
    // Each inode but the root hangs from a random directory before it.
    let mut children: Vec<Vec<u64>> = vec![Vec::new(); n];
    for i in 1..n {
        let parents: Vec<usize> = dirs.iter().copied().filter(|&d| d < i).collect();
        children[parents[rng.usize(..parents.len())]].push(i as u64 + 1);
    }
    let mut inodes = vec![InodeRecord::default(); n];
    let mut entries = Vec::new();
    for (i, kind) in kinds.iter().enumerate() {
        inodes[i].mode = *kind;
        if *kind != S_IFDIR {
            continue;
        }
        let mut names: Vec<Vec<u8>> = (0..children[i].len())
            .map(|k| {
                let mut name = vec![b'a' + k as u8];
                for _ in 0..rng.usize(..3) {
                    name.push(if rng.u8(..8) == 0 {
                        ALPHABET[rng.usize(..ALPHABET.len())]
                    } else {
                        b'a' + rng.u8(..3)
                    });
                }
                name
            })
            .collect();
        if sorted_layout {
            names.sort();
        }
        inodes[i].start = entries.len() as u64;
        inodes[i].count = names.len() as u64;
        entries.extend(children[i].iter().copied().zip(names));
    }
    let mut fake = Fake { inodes, entries };
    mutate(rng, &mut fake);
    fake
}

fn mutate(rng: &mut fastrand::Rng, fake: &mut Fake) {
    let (n, m) = (fake.inodes.len(), fake.entries.len());
    let dirs: Vec<usize> = (0..n).filter(|&i| fake.inodes[i].mode == S_IFDIR).collect();
    let dir = dirs[rng.usize(..dirs.len())];
    match rng.u8(..8) {
        0 if m > 0 => fake.entries[rng.usize(..m)].0 = rng.u64(..n as u64 + 2),
        1 if m > 1 => fake.entries.swap(rng.usize(..m), rng.usize(..m)),
        // Directory runs only: file records are not what this checks.
        2 => fake.inodes[dir].start = rng.u64(..m as u64 + 2),
        3 => fake.inodes[dir].count = rng.u64(..m as u64 + 2),
        4 if m > 0 => {
            let e = rng.usize(..m);
            fake.entries[e].1 = vec![b'/', b'.', 0, 0xff, 0xc3][rng.usize(..5)..].to_vec();
        }
        5 if m > 1 => {
            let (a, b) = (rng.usize(..m), rng.usize(..m));
            fake.entries[a].1 = fake.entries[b].1.clone();
        }
        _ => {}
    }
}

#[test]
fn check_agrees_with_the_obvious_rules() {
    // Seeded, so a failure reproduces.
    let mut rng = fastrand::Rng::with_seed(0x9E37_79B9_7F4A_7C15);
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..20_000 {
        let sorted_layout = round % 2 == 0;
        let fake = random_tables(&mut rng, sorted_layout);
        for (utf8, sorted) in [(true, true), (false, false)] {
            let rules = Rules {
                data_blocks: 1..2,
                block_size: 512,
                utf8,
                sorted,
            };
            let want = obvious(&fake, utf8, sorted);
            let got = check(&fake, &rules);
            assert_eq!(
                got.is_ok(),
                want,
                "round {round}, utf8 {utf8}: {:?} {:?} -> {got:?}",
                fake.inodes,
                fake.entries
            );
            if want {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
    }
    // Both outcomes are well represented.
    assert!(accepted > 2000 && refused > 2000, "{accepted} {refused}");
}
