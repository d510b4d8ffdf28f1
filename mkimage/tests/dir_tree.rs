//! `build --dir` is a faithful copy: extracting the image gives back the
//! tree (`diff -r --no-dereference` and a metadata comparison), builds are
//! reproducible under SOURCE_DATE_EPOCH, special files are refused or
//! skipped by name, and `--exclude`, `--all-root`, `--mtime`, `--root` and
//! symlink DAGs behave as documented.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use common::*;
use tempfile::TempDir;

fn build_dir(tree: &Path, image: &Path, extra: &[&str]) {
    let mut args = vec![
        "build",
        "--dir",
        p(tree),
        "-o",
        p(image),
        "--no-mount-points",
    ];
    args.extend_from_slice(extra);
    ok(&args);
}

#[test]
fn dir_round_trip_is_faithful() {
    let tmp = TempDir::new().expect("tempdir");
    let tree = tmp.path().join("tree");
    every_kind_tree(&tree);
    let image = tmp.path().join("t.img");
    let out = extract_round_trip(&tree, &image, &[], false);
    ok(&["verify", p(&image)]);
    assert!(same_inode(
        &out.join("usr/lib/linked"),
        &out.join("etc/linked3")
    ));
    // The listing shows what the tree had: links as links, odd modes kept.
    let listing = stdout(&ok(&["ls", p(&image), "/", "-R", "-l"]));
    for want in [
        "/etc/rel-link -> hostname",
        "-rwsr-xr-x",
        "-rwxr-s---",
        "drwxrwxrwt",
        "----------",
        "/etc/dangling -> ../nowhere/at/all",
        "/lib -> usr/lib",
    ] {
        assert!(listing.contains(want), "{want:?} missing from\n{listing}");
    }
}

/// Nanosecond mtimes survive `--dir` → image → `extract`, in v2 and in v3
/// (`info`, `ls -l`, `extract` all read v3).
#[test]
fn dir_round_trip_keeps_nanoseconds() {
    for format in ["v2", "v3"] {
        let tmp = TempDir::new().expect("tempdir");
        let tree = tmp.path().join("tree");
        every_kind_tree(&tree);
        let image = tmp.path().join("t.img");
        extract_round_trip(&tree, &image, &["--format", format], true);
    }
}

/// Build `tree` into `image` with `args`, extract it beside the image and
/// compare the trees (owners when root; nanoseconds when `nsec`). Returns
/// the extracted tree's path.
fn extract_round_trip(tree: &Path, image: &Path, args: &[&str], nsec: bool) -> PathBuf {
    build_dir(tree, image, args);
    let out = image.with_extension("out");
    ok(&["extract", p(image), p(&out)]);
    compare_trees(
        tree,
        &out,
        Check {
            owners: is_root(),
            nsec,
        },
    );
    out
}

#[test]
fn builds_are_reproducible_across_host_order_and_times() {
    let tmp = TempDir::new().expect("tempdir");
    let make = |name: &str, reverse: bool, time: i64| {
        let tree = tmp.path().join(name);
        fs::create_dir_all(tree.join("d")).expect("mkdir");
        let mut names: Vec<String> = (0..50).map(|i| format!("f{i:02}")).collect();
        if reverse {
            names.reverse();
        }
        for n in &names {
            fs::write(tree.join("d").join(n), n.as_bytes()).expect("write");
        }
        fs::hard_link(tree.join("d/f07"), tree.join("d/z-link")).expect("link");
        symlink("d/f01", tree.join("s")).expect("symlink");
        for n in names.iter().map(|n| format!("d/{n}")).chain([
            "d".into(),
            "s".into(),
            "d/z-link".into(),
        ]) {
            set_time(&tree.join(n), time, 5);
        }
        set_time(&tree, time, 7);
        tree
    };
    let a = make("a", false, 1_700_000_000);
    let b = make("b", true, 1_800_000_000);
    let build = |tree: &Path, image: &str| {
        let image = tmp.path().join(image);
        let out = mkimage(
            &["build", "--dir", p(tree), "-o", p(&image)],
            Some("1000000000"),
        );
        assert!(out.status.success(), "{}", stderr(&out));
        fs::read(&image).expect("image")
    };
    let ia = build(&a, "a.img");
    let ib = build(&b, "b.img");
    assert!(ia == ib, "same tree, different bytes");
    // --mtime wins over SOURCE_DATE_EPOCH and is recorded.
    let image = tmp.path().join("m.img");
    ok(&["build", "--dir", p(&a), "-o", p(&image), "--mtime", "86400"]);
    let out = stdout(&ok(&["ls", p(&image), "/d", "-l"]));
    assert!(out.contains("1970-01-02 00:00:00 f00"), "{out}");
    // Times older than the clamp are kept.
    let image = tmp.path().join("old.img");
    ok(&[
        "build",
        "--dir",
        p(&a),
        "-o",
        p(&image),
        "--mtime",
        "1900000000",
    ]);
    let out = stdout(&ok(&["ls", p(&image), "/d", "-l"]));
    assert!(out.contains("2023-11-14 22:13:20 f00"), "{out}");
}

#[test]
fn special_files_are_refused_by_name_or_skipped() {
    let tmp = TempDir::new().expect("tempdir");
    let tree = tmp.path().join("tree");
    fs::create_dir_all(tree.join("run")).expect("mkdir");
    fs::write(tree.join("keep"), b"k").expect("write");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        tree.join("run/fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .expect("mkfifo");
    let _socket = std::os::unix::net::UnixListener::bind(tree.join("run/sock")).expect("socket");
    if is_root() {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            tree.join("null"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0o666),
            rustix::fs::makedev(1, 3),
        )
        .expect("mknod");
    }
    let image = tmp.path().join("s.img");
    let err = fails(&["build", "--dir", p(&tree), "-o", p(&image)]);
    assert!(err.contains("/run/fifo: fifo cannot be stored"), "{err}");
    assert!(err.contains("/run/sock: socket cannot be stored"), "{err}");
    if is_root() {
        assert!(
            err.contains("/null: character device 1:3 cannot be stored"),
            "{err}"
        );
    }
    assert!(err.contains("--skip-special"), "{err}");
    assert!(!image.exists() && !tmp.path().join("s.img.partial").exists());
    let out = ok(&[
        "build",
        "--dir",
        p(&tree),
        "-o",
        p(&image),
        "--skip-special",
    ]);
    let err = stderr(&out);
    assert!(err.contains("warning: skipping --dir"), "{err}");
    assert!(err.contains("/run/fifo: fifo"), "{err}");
    let listing = stdout(&ok(&["ls", p(&image), "/", "-R"]));
    assert!(
        listing.contains("/keep") && listing.contains("/run\n"),
        "{listing}"
    );
    assert!(
        !listing.contains("fifo") && !listing.contains("sock"),
        "{listing}"
    );
}

#[test]
fn exclude_and_all_root() {
    let tmp = TempDir::new().expect("tempdir");
    let tree = tmp.path().join("tree");
    fs::create_dir_all(tree.join("var/cache/apt")).expect("mkdir");
    fs::create_dir_all(tree.join("srv/var/cache")).expect("mkdir");
    fs::write(tree.join("var/cache/apt/pkg"), b"p").expect("write");
    fs::write(tree.join("a.log"), b"l").expect("write");
    fs::write(tree.join("srv/b.log"), b"l").expect("write");
    fs::write(tree.join("srv/keep"), b"k").expect("write");
    if is_root() {
        chown(&tree.join("srv/keep"), 1000, 1000);
    }
    let image = tmp.path().join("e.img");
    build_dir(
        &tree,
        &image,
        &[
            "--exclude",
            "*.log",
            "--exclude",
            "/var/cache",
            "--all-root",
        ],
    );
    let listing = stdout(&ok(&["ls", p(&image), "/", "-R", "-l"]));
    assert!(!listing.contains(".log"), "{listing}");
    assert!(!listing.contains(" /var/cache"), "{listing}");
    assert!(listing.contains(" /var\n"), "{listing}");
    assert!(listing.contains("/srv/var/cache"), "{listing}");
    assert!(listing.contains("    0     0          1 "), "{listing}");
    assert!(!listing.contains(" 1000 "), "{listing}");
    let err = fails(&[
        "build",
        "--dir",
        p(&tree),
        "-o",
        p(&image),
        "--exclude",
        "[",
    ]);
    assert!(err.contains("--exclude '['"), "{err}");
}

#[test]
fn root_resolves_absolute_links_inside_the_tree() {
    let tmp = TempDir::new().expect("tempdir");
    let rootfs = tmp.path().join("rootfs");
    let marker = format!("mkimage-test-{}", std::process::id());
    fs::create_dir_all(rootfs.join("etc").join(&marker)).expect("mkdir");
    fs::create_dir_all(rootfs.join("usr/lib/jvm")).expect("mkdir");
    fs::write(
        rootfs.join("etc").join(&marker).join("jvm.cfg"),
        b"from the image",
    )
    .expect("write");
    symlink(
        format!("/etc/{marker}/jvm.cfg"),
        rootfs.join("usr/lib/jvm/jvm.cfg"),
    )
    .expect("symlink");
    symlink(
        format!("../../../../../../../etc/{marker}"),
        rootfs.join("usr/lib/up"),
    )
    .expect("symlink");
    let manifest = tmp.path().join("m");
    // Without a root the absolute link points at the build host: dangling.
    fs::write(&manifest, "/usr/**: rootfs/usr/**\n").expect("manifest");
    let image = tmp.path().join("r.img");
    let err = fails(&["build", "-m", p(&manifest), "-o", p(&image)]);
    assert!(
        err.contains("jvm.cfg' not found (dangling symlink)"),
        "{err}"
    );
    // `[root DIR]` in the manifest, or `--root DIR`.
    fs::write(
        &manifest,
        "[root rootfs]\n/usr/**: rootfs/usr/**\n/cfg: rootfs/usr/lib/jvm/jvm.cfg\n",
    )
    .expect("manifest");
    ok(&["build", "-m", p(&manifest), "-o", p(&image)]);
    let cat = |path: &str| ok(&["cat", p(&image), path]).stdout;
    assert_eq!(cat("/usr/lib/jvm/jvm.cfg"), b"from the image");
    assert_eq!(cat("/cfg"), b"from the image");
    // `..` past the top stops at the root, like chroot.
    assert_eq!(cat("/usr/lib/up/jvm.cfg"), b"from the image");
    fs::write(&manifest, "/usr/**: rootfs/usr/**\n").expect("manifest");
    ok(&[
        "build",
        "-m",
        p(&manifest),
        "-o",
        p(&image),
        "--root",
        p(&rootfs),
    ]);
    assert_eq!(cat("/usr/lib/jvm/jvm.cfg"), b"from the image");
    let err = fails(&[
        "build",
        "-m",
        p(&manifest),
        "-o",
        p(&image),
        "--root",
        "/nonexistent-root",
    ]);
    assert!(
        err.contains("--root: root directory '/nonexistent-root'"),
        "{err}"
    );
}

#[test]
fn symlink_dags_stay_linear() {
    let tmp = TempDir::new().expect("tempdir");
    let tree = tmp.path().join("dag");
    // d0 .. d24: each d{i} has two links to d{i+1}. Followed naively that is
    // 2^24 paths; each directory is walked once, later arrivals are links.
    const LEVELS: usize = 24;
    for i in 0..=LEVELS {
        fs::create_dir_all(tree.join(format!("d{i}"))).expect("mkdir");
        fs::write(tree.join(format!("d{i}/file")), format!("{i}")).expect("write");
    }
    for i in 0..LEVELS {
        let next = format!("../d{}", i + 1);
        symlink(&next, tree.join(format!("d{i}/a"))).expect("symlink");
        symlink(&next, tree.join(format!("d{i}/b"))).expect("symlink");
    }
    let manifest = tmp.path().join("m");
    fs::write(&manifest, "/x/**: dag/d0/**\n").expect("manifest");
    let image = tmp.path().join("dag.img");
    let start = std::time::Instant::now();
    ok(&[
        "build",
        "-m",
        p(&manifest),
        "-o",
        p(&image),
        "--no-mount-points",
    ]);
    assert!(
        start.elapsed().as_secs() < 60,
        "walk took {:?}",
        start.elapsed()
    );
    let listing = stdout(&ok(&["ls", p(&image), "/", "-R", "-l"]));
    assert!(listing.lines().count() < 4 * LEVELS + 10, "{listing}");
    // The first arrival is a copy, the second a link to it; every file is
    // still reachable through the links.
    assert!(listing.contains("/x/a/file"), "{listing}");
    assert!(listing.contains("/x/b -> a\n"), "{listing}");
    assert_eq!(ok(&["cat", p(&image), "/x/b/b/b/file"]).stdout, b"3");
}

#[test]
fn binary_manifest_names_its_first_bad_line() {
    let tmp = TempDir::new().expect("tempdir");
    let manifest = tmp.path().join("garbage.manifest");
    fs::write(&manifest, b"# fine\n/a: ->b\n\xff\xfe\x00binary\n").expect("write");
    let image = tmp.path().join("g.img");
    let err = fails(&["build", "-m", p(&manifest), "-o", p(&image)]);
    assert!(
        err.contains("garbage.manifest:3: line is not valid UTF-8"),
        "{err}"
    );
}

/// `--format v3 --compress lz4`: extract gives the tree back; `info`
/// names the compression and the stored/raw ratio; `verify` checks every
/// block and cluster; `ls -l` shows the stored bytes beside the size.
#[test]
fn dir_round_trip_v3_lz4() {
    let tmp = TempDir::new().expect("tempdir");
    let tree = tmp.path().join("tree");
    every_kind_tree(&tree);
    let text: String = (0..40_000).map(|i| format!("line {}\n", i % 100)).collect();
    fs::write(tree.join("compressible.txt"), &text).expect("write");
    let image = tmp.path().join("t.img");
    let lz4 = [
        "--format",
        "v3",
        "--compress",
        "lz4",
        "--cluster-size",
        "16384",
    ];
    extract_round_trip(&tree, &image, &lz4, true);
    let info = stdout(&ok(&["info", p(&image)]));
    assert!(info.contains("format:         v3\n"), "{info}");
    assert!(
        info.contains("compression:    lz4, 16 KiB clusters\n"),
        "{info}"
    );
    let ratio: f64 = info
        .lines()
        .find_map(|l| l.strip_prefix("stored/raw:"))
        .expect("ratio line")
        .trim()
        .parse()
        .expect("a number");
    assert!(ratio > 0.0 && ratio < 0.5, "{info}");
    // Per file class: the text file compresses well.
    let txt: f64 = info
        .lines()
        .find_map(|l| l.strip_prefix("ratio .txt:"))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a .txt class line")
        .parse()
        .expect("a number");
    assert!(txt > 0.0 && txt < 0.25, "{info}");
    let verified = stdout(&ok(&["verify", p(&image)]));
    assert!(verified.contains("OK (format v3"), "{verified}");
    let listing = stdout(&ok(&["ls", p(&image), "/compressible.txt", "-l"]));
    let fields: Vec<&str> = listing.split_whitespace().collect();
    let (size, stored): (u64, u64) = (fields[4].parse().unwrap(), fields[5].parse().unwrap());
    assert_eq!(size, text.len() as u64, "{listing}");
    assert!(stored > 0 && stored < size / 4, "{listing}");
    // Compression needs v3.
    let refused = fails(&[
        "build",
        "--dir",
        p(&tree),
        "-o",
        p(&image),
        "--format",
        "v2",
        "--compress",
        "lz4",
    ]);
    assert!(
        refused.contains("--compress needs --format v3"),
        "{refused}"
    );
}
