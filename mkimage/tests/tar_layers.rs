//! `build --tar`: a tar made (with the `tar` crate) from a tree with every
//! object kind gives back that tree; gzip and stdin give the same image;
//! OCI whiteout layers hide what they should; a truncated or corrupt
//! archive fails naming the member and leaves nothing behind.

mod common;

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use tempfile::TempDir;

/// A tar of `tree`: sorted, pax mtimes with nanoseconds, GNU long names,
/// hard links as `Link` members, symlinks as `Symlink` members.
fn tar_of(tree: &Path) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut first_names = HashMap::new();
    add(&mut builder, tree, tree, &mut first_names);
    builder.into_inner().expect("finish tar")
}

fn add(
    b: &mut tar::Builder<Vec<u8>>,
    root: &Path,
    path: &Path,
    first_names: &mut HashMap<(u64, u64), String>,
) {
    let meta = fs::symlink_metadata(path).expect("lstat");
    let rel = path
        .strip_prefix(root)
        .expect("below")
        .to_string_lossy()
        .into_owned();
    let name = if rel.is_empty() {
        "./".to_string()
    } else {
        rel.clone()
    };
    let mtime = format!("{}.{:09}", meta.mtime(), meta.mtime_nsec());
    b.append_pax_extensions([("mtime", mtime.as_bytes())])
        .expect("pax");
    let mut h = tar::Header::new_gnu();
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(u64::from(meta.uid()));
    h.set_gid(u64::from(meta.gid()));
    h.set_mtime(meta.mtime().max(0) as u64);
    h.set_size(0);
    let kind = meta.file_type();
    if kind.is_dir() {
        h.set_entry_type(tar::EntryType::Directory);
        b.append_data(&mut h, &name, &[][..]).expect("dir");
        let mut children: Vec<_> = fs::read_dir(path)
            .expect("read_dir")
            .map(|e| e.expect("entry").path())
            .collect();
        children.sort();
        for child in children {
            add(b, root, &child, first_names);
        }
    } else if kind.is_symlink() {
        h.set_entry_type(tar::EntryType::Symlink);
        let target = fs::read_link(path).expect("readlink");
        b.append_link(&mut h, &name, &target).expect("symlink");
    } else if let Some(first) = first_names.get(&(meta.dev(), meta.ino())) {
        h.set_entry_type(tar::EntryType::Link);
        b.append_link(&mut h, &name, first).expect("hard link");
    } else {
        if meta.nlink() > 1 {
            first_names.insert((meta.dev(), meta.ino()), rel.clone());
        }
        let data = fs::read(path).expect("read");
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, &name, data.as_slice()).expect("file");
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

/// Nothing but `keep` in `dir`: no image, no `.partial`, no spill directory.
fn only(dir: &Path, keep: &[&str]) {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, keep, "left behind in {}", dir.display());
}

#[test]
fn tar_of_a_tree_gives_back_the_tree() {
    let tmp = TempDir::new().expect("tempdir");
    let tree = tmp.path().join("tree");
    every_kind_tree(&tree);
    let tar = tar_of(&tree);
    let tar_path = tmp.path().join("t.tar");
    fs::write(&tar_path, &tar).expect("write tar");
    let image = tmp.path().join("t.img");
    ok(&[
        "build",
        "--tar",
        p(&tar_path),
        "-o",
        p(&image),
        "--no-mount-points",
    ]);
    ok(&["verify", p(&image)]);
    let out = tmp.path().join("out");
    ok(&["extract", p(&image), p(&out)]);
    compare_trees(
        &tree,
        &out,
        Check {
            owners: is_root(),
            nsec: false,
        },
    );
    assert!(same_inode(
        &out.join("usr/lib/linked"),
        &out.join("etc/linked3")
    ));

    // The same archive gzipped, read from stdin, makes the same image.
    let gz = tmp.path().join("t.tar.gz");
    fs::write(&gz, gzip(&tar)).expect("write gz");
    let image2 = tmp.path().join("t2.img");
    ok(&[
        "build",
        "--tar",
        p(&gz),
        "-o",
        p(&image2),
        "--no-mount-points",
    ]);
    assert!(
        fs::read(&image).expect("a") == fs::read(&image2).expect("b"),
        "gzip changed the image"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_mkimage"))
        .args(["build", "--tar", "-", "-o", p(&image2), "--no-mount-points"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&gzip(&tar))
        .expect("feed");
    let done = child.wait_with_output().expect("wait");
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(
        fs::read(&image).expect("a") == fs::read(&image2).expect("b"),
        "stdin changed the image"
    );
}

fn member(
    b: &mut tar::Builder<Vec<u8>>,
    kind: tar::EntryType,
    path: &str,
    data: &[u8],
    link: Option<&str>,
) {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_mtime(1_000_000);
    h.set_size(data.len() as u64);
    match link {
        Some(target) => b.append_link(&mut h, path, target).expect("link"),
        None => b.append_data(&mut h, path, data).expect("member"),
    }
}

#[test]
fn oci_whiteout_layers() {
    use tar::EntryType::{Directory as D, Link as L, Regular as F, Symlink as S};
    let tmp = TempDir::new().expect("tempdir");
    let mut lower = tar::Builder::new(Vec::new());
    for dir in ["a", "b", "b/sub", "c", "e"] {
        member(&mut lower, D, dir, b"", None);
    }
    for file in ["a/x", "a/y", "b/z", "b/sub/w", "c/q", "d", "e/hard"] {
        member(&mut lower, F, file, file.as_bytes(), None);
    }
    member(&mut lower, S, "a/link-to-y", b"", Some("y"));
    // Large enough to be spilled to a file rather than kept in memory.
    let big: Vec<u8> = (0..1100 * 1024u32).map(|i| (i % 251) as u8).collect();
    member(&mut lower, F, "e/big", &big, None);
    let lower = lower.into_inner().expect("lower");

    let mut upper = tar::Builder::new(Vec::new());
    member(&mut upper, F, "a/.wh.x", b"", None);
    member(&mut upper, D, "b", b"", None);
    // A new name before the opaque marker of the same layer stays.
    member(&mut upper, F, "b/new", b"new", None);
    member(&mut upper, F, "b/.wh..wh..opq", b"", None);
    member(&mut upper, F, "c", b"c is a file now", None);
    member(&mut upper, F, ".wh.d", b"", None);
    member(&mut upper, L, "e/link", b"", Some("e/hard"));
    // pax: a uid beyond the octal header field and a nanosecond time;
    // a GNU long name.
    upper
        .append_pax_extensions([("uid", &b"3000000"[..]), ("mtime", &b"1700000000.5"[..])])
        .expect("pax");
    member(&mut upper, F, "a/pax", b"p", None);
    let long = format!("a/{}/{}", "l".repeat(150), "m".repeat(120));
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(F);
    h.set_mode(0o600);
    h.set_size(4);
    b_append(&mut upper, &mut h, &long, b"long");
    let upper = upper.into_inner().expect("upper");

    let (l, u) = (
        tmp.path().join("lower.tar"),
        tmp.path().join("upper.tar.gz"),
    );
    fs::write(&l, &lower).expect("write");
    fs::write(&u, gzip(&upper)).expect("write");
    let image = tmp.path().join("l.img");
    ok(&[
        "build",
        "--tar",
        p(&l),
        "--tar",
        p(&u),
        "-o",
        p(&image),
        "--no-mount-points",
    ]);
    let listing = stdout(&ok(&["ls", p(&image), "/", "-R", "-l"]));
    let names: Vec<&str> = listing
        .lines()
        .map(|line| line.split_whitespace().nth(7).expect("path"))
        .collect();
    let long_guest = format!("/{long}");
    let long_dir = format!("/a/{}", "l".repeat(150));
    let want = vec![
        "/",
        "/a",
        "/a/link-to-y",
        &long_dir,
        &long_guest,
        "/a/pax",
        "/a/y",
        "/b",
        "/b/new",
        "/c",
        "/e",
        "/e/big",
        "/e/hard",
        "/e/link",
    ];
    assert_eq!(names, want, "{listing}");
    let line = |path: &str| {
        listing
            .lines()
            .find(|l| l.split_whitespace().nth(7) == Some(path))
            .unwrap_or_else(|| panic!("{path} missing"))
            .to_string()
    };
    assert!(line("/e/link").starts_with("-rw-r--r--   2"), "{listing}");
    assert!(line("/a/pax").contains(" 3000000 "), "{listing}");
    assert!(line("/a/pax").contains("2023-11-14 22:13:20"), "{listing}");
    assert!(line(&long_guest).starts_with("-rw-------"), "{listing}");
    assert_eq!(ok(&["cat", p(&image), "/c"]).stdout, b"c is a file now");
    assert!(
        ok(&["cat", p(&image), "/e/big"]).stdout == big,
        "spilled data differs"
    );
    assert_eq!(ok(&["cat", p(&image), &long_guest]).stdout, b"long");
}

/// `append_data` with a GNU header writes a long-name entry for a long path.
fn b_append(b: &mut tar::Builder<Vec<u8>>, h: &mut tar::Header, path: &str, data: &[u8]) {
    b.append_data(h, path, data).expect("long name member");
}

#[test]
fn truncated_and_corrupt_archives_name_the_member() {
    let tmp = TempDir::new().expect("tempdir");
    let mut b = tar::Builder::new(Vec::new());
    member(&mut b, tar::EntryType::Regular, "one", b"0123456789", None);
    member(&mut b, tar::EntryType::Regular, "two", b"2", None);
    let noise: Vec<u8> = (0..100 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    member(&mut b, tar::EntryType::Regular, "big.bin", &noise, None);
    let tar = b.into_inner().expect("tar");
    let work = tmp.path().join("work");
    fs::create_dir(&work).expect("mkdir");
    let bad = work.join("bad.tar");
    let image = work.join("x.img");

    // Cut inside big.bin's data.
    fs::write(&bad, &tar[..3 * 512 + 50 * 1024]).expect("write");
    let err = fails(&["build", "--tar", p(&bad), "-o", p(&image)]);
    assert!(
        err.contains("member 'big.bin': archive ends inside the member's data"),
        "{err}"
    );
    only(&work, &["bad.tar"]);

    // Cut inside a header.
    fs::write(&bad, &tar[..2 * 512 + 100]).expect("write");
    let err = fails(&["build", "--tar", p(&bad), "-o", p(&image)]);
    assert!(err.contains("after member 'one'"), "{err}");
    only(&work, &["bad.tar"]);

    // A flipped byte in the second header: its checksum no longer matches.
    let mut corrupt = tar.clone();
    corrupt[2 * 512] ^= 0x55;
    fs::write(&bad, &corrupt).expect("write");
    let err = fails(&["build", "--tar", p(&bad), "-o", p(&image)]);
    assert!(
        err.contains("corrupt or truncated archive after member 'one' (byte 522)"),
        "{err}"
    );
    only(&work, &["bad.tar"]);

    // A corrupt gzip stream names the member being read.
    let mut gz = gzip(&tar);
    let at = gz.len() / 2;
    gz[at] ^= 0xff;
    fs::write(&bad, &gz).expect("write");
    let err = fails(&["build", "--tar", p(&bad), "-o", p(&image)]);
    assert!(err.contains("bad.tar"), "{err}");
    only(&work, &["bad.tar"]);

    // `..` in a member name is refused, naming it.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(1);
    h.as_gnu_mut().expect("gnu").name[..9].copy_from_slice(b"../escape");
    h.set_cksum();
    b.append(&h, &b"x"[..]).expect("append");
    fs::write(&bad, b.into_inner().expect("tar")).expect("write");
    let err = fails(&["build", "--tar", p(&bad), "-o", p(&image)]);
    assert!(
        err.contains("member '../escape': path has a '..' component"),
        "{err}"
    );
    only(&work, &["bad.tar"]);
}
