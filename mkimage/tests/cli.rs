//! End-to-end tests of the `mkimage` binary: build images from manifests and
//! trees, then read them back with the tool's own `ls`, `cat`, `extract`,
//! `info` and `verify`.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

fn mkimage(args: &[&str], epoch: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mkimage"));
    cmd.args(args);
    match epoch {
        Some(e) => cmd.env("SOURCE_DATE_EPOCH", e),
        None => cmd.env_remove("SOURCE_DATE_EPOCH"),
    };
    cmd.output().expect("run mkimage")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run and require success.
fn ok(args: &[&str]) -> Output {
    let out = mkimage(args, None);
    assert!(
        out.status.success(),
        "mkimage {args:?} failed: {}",
        stderr(&out)
    );
    out
}

/// Run and require a clean failure (exit 1, no panic); returns stderr.
fn fails(args: &[&str]) -> String {
    let out = mkimage(args, None);
    assert_eq!(
        out.status.code(),
        Some(1),
        "mkimage {args:?}: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

fn write(path: &Path, data: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(path, data).expect("write");
}

/// A small host tree used by several tests.
fn sample_tree(root: &Path) {
    write(&root.join("tree/etc/hostname"), b"guest\n");
    write(&root.join("tree/etc/passwd"), b"root:x:0:0::/:/bin/sh\n");
    write(&root.join("tree/lib/libfoo.so"), &vec![0x5a; 10_000]);
    write(&root.join("tree/lib/.hidden"), b"hidden");
    write(&root.join("tree/lib/sub/deep.txt"), b"deep");
    fs::create_dir_all(root.join("tree/empty")).expect("mkdir");
    write(&root.join("build/x64/lib/arch.so"), b"arch-specific");
    write(&root.join("secret"), b"s3cret");
    write(&root.join("first"), b"first version");
    write(&root.join("second"), b"second version");
    symlink("hostname", root.join("tree/etc/host-link")).expect("symlink");
}

fn build(root: &Path, manifest: &str, extra: &[&str]) -> PathBuf {
    let manifest_path = root.join("usr.manifest");
    fs::write(&manifest_path, manifest).expect("manifest");
    let image = root.join("root.img");
    // The default /dev and /tmp are tested on their own below; here they would
    // only pad every expected listing.
    let mut args = vec![
        "build",
        "-m",
        p(&manifest_path),
        "-o",
        p(&image),
        "--no-mount-points",
    ];
    args.extend_from_slice(extra);
    ok(&args);
    image
}

fn ls_long(image: &Path) -> BTreeMap<String, String> {
    let out = ok(&["ls", p(image), "/", "-R", "-l"]);
    stdout(&out)
        .lines()
        .map(|line| {
            // mode nlink uid gid size date time path [-> target]
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert!(fields.len() >= 8, "odd ls line {line:?}");
            let path = fields[7].to_string();
            let rest = [&fields[..5], &fields[8..]].concat().join(" ");
            (path, rest)
        })
        .collect()
}

fn cat(image: &Path, path: &str) -> Vec<u8> {
    ok(&["cat", p(image), path]).stdout
}

#[test]
fn manifest_features_round_trip() {
    let dir = TempDir::new().expect("tempdir");
    let root = dir.path();
    sample_tree(root);
    let manifest = "\
[manifest]
# comment, then a blank line

/etc/**: tree/etc/**
/usr/lib/**: tree/lib/**
/&/lib/arch.so: build/%(arch)s/&
/opt/empty: tree/empty
/links/rel: ->../etc/hostname
/links/kept: !tree/etc/host-link
/links/followed: tree/etc/host-link
/etc/shadow: secret {mode=0600 uid=0 gid=42}
/etc/passwd: first
/etc/passwd: second
/abs: ABS {uid=7}
";
    let manifest = manifest.replace("ABS", p(&root.join("first")));
    let image = build(root, &manifest, &["-D", "arch=x64"]);
    let listing = ls_long(&image);
    let expected = [
        ("/", "drwxr-xr-x"),
        ("/abs", "-rw-r--r-- 1 7 0 13"),
        ("/etc", "drwxr-xr-x"),
        ("/etc/host-link", "-rw-r--r-- 1 0 0 6"),
        ("/etc/hostname", "-rw-r--r-- 1 0 0 6"),
        ("/etc/passwd", "-rw-r--r-- 1 0 0 14"),
        ("/etc/shadow", "-rw------- 1 0 42 6"),
        ("/lib", "drwxr-xr-x"),
        ("/lib/arch.so", "-rw-r--r-- 1 0 0 13"),
        ("/links", "drwxr-xr-x"),
        ("/links/followed", "-rw-r--r-- 1 0 0 6"),
        ("/links/kept", "lrwxrwxrwx 1 0 0 8 -> hostname"),
        ("/links/rel", "lrwxrwxrwx 1 0 0 15 -> ../etc/hostname"),
        ("/opt", "drwxr-xr-x"),
        ("/opt/empty", "drwxr-xr-x"),
        ("/usr", "drwxr-xr-x"),
        ("/usr/lib", "drwxr-xr-x"),
        ("/usr/lib/.hidden", "-rw-r--r-- 1 0 0 6"),
        ("/usr/lib/libfoo.so", "-rw-r--r-- 1 0 0 10000"),
        ("/usr/lib/sub", "drwxr-xr-x"),
        ("/usr/lib/sub/deep.txt", "-rw-r--r-- 1 0 0 4"),
    ];
    let paths: Vec<&str> = listing.keys().map(String::as_str).collect();
    let expected_paths: Vec<&str> = expected.iter().map(|(path, _)| *path).collect();
    assert_eq!(paths, expected_paths);
    for (path, prefix) in expected {
        assert!(
            listing[path].starts_with(prefix),
            "{path}: {:?} lacks {prefix:?}",
            listing[path]
        );
    }
    assert_eq!(cat(&image, "/etc/passwd"), b"second version");
    assert_eq!(cat(&image, "/etc/shadow"), b"s3cret");
    assert_eq!(cat(&image, "/lib/arch.so"), b"arch-specific");
    assert_eq!(cat(&image, "/usr/lib/libfoo.so"), vec![0x5a; 10_000]);
    assert_eq!(cat(&image, "/usr/lib/.hidden"), b"hidden");
    // cat follows symlinks, relative and kept ones alike.
    assert_eq!(cat(&image, "/links/rel"), b"guest\n");
    assert_eq!(cat(&image, "/links/followed"), b"guest\n");
    // A plain ls lists names of one directory, sorted.
    let out = ok(&["ls", p(&image), "/links"]);
    assert_eq!(stdout(&out), "followed\nkept\nrel\n");
    ok(&["verify", p(&image)]);
}

#[test]
fn tree_attributes_and_mtime() {
    let dir = TempDir::new().expect("tempdir");
    let root = dir.path();
    sample_tree(root);
    let image = build(
        root,
        "/lib/**: tree/lib/** {mode=0640 gid=5 mtime=86400}\n/t: first {mtime=-1}\n",
        &[],
    );
    let listing = ls_long(&image);
    // mode applies to the tree's files; owner and time to every entry.
    assert!(listing["/lib"].starts_with("drwxr-xr-x"), "{listing:?}");
    assert!(listing["/lib"].contains(" 0 5 "), "{listing:?}");
    assert!(listing["/lib/sub"].starts_with("drwxr-xr-x"), "{listing:?}");
    assert!(
        listing["/lib/sub/deep.txt"].starts_with("-rw-r----- 1 0 5 4"),
        "{listing:?}"
    );
    let out = stdout(&ok(&["ls", p(&image), "/lib/sub", "-l"]));
    assert!(out.contains("1970-01-02 00:00:00 deep.txt"), "{out}");
    let out = stdout(&ok(&["ls", p(&image), "/t", "-l"]));
    assert!(out.contains("1969-12-31 23:59:59 /t"), "{out}");
}

#[test]
fn manifest_errors_name_file_and_line() {
    let dir = TempDir::new().expect("tempdir");
    let root = dir.path();
    sample_tree(root);
    let manifest_path = root.join("usr.manifest");
    let image = root.join("root.img");
    let cases: &[(&str, &str)] = &[
        (
            "# c\n/a: tree/etc/hostname\n/lib/x.so: lib/x.so\n",
            "usr.manifest:3: host file 'lib/x.so' not found",
        ),
        (
            "/a: %(nope)s/x\n",
            "usr.manifest:1: undefined variable 'nope' (define it with -D nope=...)",
        ),
        (
            "\n/a/../b: first\n",
            "usr.manifest:2: guest path '/a/../b' has a '..' component",
        ),
        (
            "/a: first {colour=red}\n",
            "usr.manifest:1: unknown attribute 'colour' (known: mode, uid, gid, mtime)",
        ),
        (
            "relative: first\n",
            "usr.manifest:1: guest path 'relative' is not absolute",
        ),
        (
            "/x/**: tree/nothing/**\n",
            "usr.manifest:1: host file 'tree/nothing' not found",
        ),
        (
            "/x/**: first/**\n",
            "usr.manifest:1: host path 'first' is not a directory",
        ),
        (
            "/a: first\n/: first\n",
            "usr.manifest:2: the root '/' can only be a directory",
        ),
        (
            "/just-a-path\n",
            "usr.manifest:1: expected '/guest/path: host/path', got '/just-a-path'",
        ),
    ];
    for (text, message) in cases {
        fs::write(&manifest_path, text).expect("manifest");
        let err = fails(&["build", "-m", p(&manifest_path), "-o", p(&image)]);
        // The manifest is named as given on the command line.
        let expected = format!("mkimage: {}/{message}", p(root));
        assert_eq!(err.trim_end(), expected, "manifest {text:?}");
        assert!(!image.exists(), "no image is left after a failed build");
    }
    let long = "n".repeat(256);
    fs::write(&manifest_path, format!("/{long}: first\n")).expect("manifest");
    let err = fails(&["build", "-m", p(&manifest_path), "-o", p(&image)]);
    assert!(err.contains("usr.manifest:1: guest path"), "{err}");
    assert!(
        err.contains("has a name of 256 bytes (at most 255)"),
        "{err}"
    );

    // A dangling host symlink is a missing file.
    symlink("nowhere", root.join("dangling")).expect("symlink");
    fs::write(&manifest_path, "/d: dangling\n").expect("manifest");
    let err = fails(&["build", "-m", p(&manifest_path), "-o", p(&image)]);
    assert!(
        err.ends_with("usr.manifest:1: host file 'dangling' not found (dangling symlink)\n"),
        "{err}"
    );

    // Relative manifest paths are reported as given.
    let out = Command::new(env!("CARGO_BIN_EXE_mkimage"))
        .current_dir(root)
        .args(["build", "-m", "usr.manifest", "-o", "x.img"])
        .output()
        .expect("run");
    assert_eq!(
        stderr(&out),
        "mkimage: usr.manifest:1: host file 'dangling' not found (dangling symlink)\n"
    );

    let err = fails(&[
        "build",
        "-m",
        p(&manifest_path),
        "-o",
        p(&image),
        "-D",
        "novalue",
    ]);
    assert!(err.contains("-D 'novalue': expected VAR=VALUE"), "{err}");
    let err = fails(&["build", "-o", p(&image)]);
    assert!(err.contains("nothing to build"), "{err}");
}

#[test]
fn builds_are_reproducible_and_follow_source_date_epoch() {
    let dir = TempDir::new().expect("tempdir");
    let root = dir.path();
    sample_tree(root);
    fs::write(
        root.join("m"),
        "/etc/**: tree/etc/**\n/lib/**: tree/lib/**\n/l: ->/etc\n",
    )
    .expect("manifest");
    let image_at = |name: &str, epoch: Option<&str>| {
        let image = root.join(name);
        let out = mkimage(&["build", "-m", p(&root.join("m")), "-o", p(&image)], epoch);
        assert!(out.status.success(), "{}", stderr(&out));
        fs::read(&image).expect("image")
    };
    let a = image_at("a.img", None);
    // Touch a host file's timestamps: the image must not change.
    let f = fs::File::options()
        .append(true)
        .open(root.join("tree/etc/hostname"))
        .expect("open");
    f.set_modified(std::time::SystemTime::now()).expect("touch");
    let b = image_at("b.img", None);
    assert_eq!(a, b, "same inputs, different bytes");
    let c = image_at("c.img", Some("1700000000"));
    assert_ne!(a, c, "SOURCE_DATE_EPOCH is not recorded");
    assert_eq!(c, image_at("d.img", Some("1700000000")));
    let out = ok(&["ls", p(&root.join("c.img")), "/etc", "-l"]);
    assert!(
        stdout(&out).contains("2023-11-14 22:13:20"),
        "{}",
        stdout(&out)
    );
    let out = ok(&["ls", p(&root.join("a.img")), "/etc", "-l"]);
    assert!(
        stdout(&out).contains("1970-01-01 00:00:00"),
        "{}",
        stdout(&out)
    );
    let out = mkimage(
        &[
            "build",
            "-m",
            p(&root.join("m")),
            "-o",
            p(&root.join("e.img")),
        ],
        Some("soon"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("SOURCE_DATE_EPOCH 'soon'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn dir_option_with_and_without_manifest() {
    let dir = TempDir::new().expect("tempdir");
    let root = dir.path();
    sample_tree(root);
    let tree = root.join("tree");
    let image = root.join("dir.img");
    ok(&["build", "--dir", p(&tree), "-o", p(&image)]);
    let listing = ls_long(&image);
    for path in [
        "/etc/hostname",
        "/lib/.hidden",
        "/lib/sub/deep.txt",
        "/empty",
        "/etc/host-link",
    ] {
        assert!(
            listing.contains_key(path),
            "{path} missing from {listing:?}"
        );
    }
    // A --dir tree is copied faithfully: host symlinks stay symlinks
    // (issue 13; before it they were followed).
    assert!(
        listing["/etc/host-link"].starts_with("lrwxrwxrwx"),
        "{listing:?}"
    );
    assert!(
        listing["/etc/host-link"].ends_with("-> hostname"),
        "{listing:?}"
    );
    assert_eq!(cat(&image, "/lib/sub/deep.txt"), b"deep");

    // Manifest entries apply after the tree.
    let image = build(
        root,
        "/etc/hostname: second\n/extra: ->/etc\n",
        &["--dir", p(&tree)],
    );
    assert_eq!(cat(&image, "/etc/hostname"), b"second version");
    assert_eq!(cat(&image, "/etc/passwd"), b"root:x:0:0::/:/bin/sh\n");
    assert!(ls_long(&image)["/extra"].ends_with("-> /etc"));
}

#[test]
fn host_hard_links_stay_hard_links() {
    let dir = TempDir::new().expect("tempdir");
    let root = dir.path();
    write(&root.join("t/a"), b"shared data");
    fs::hard_link(root.join("t/a"), root.join("t/b")).expect("link");
    write(&root.join("t/c"), b"shared data");
    for format in ["v2", "v3"] {
        let image = build(root, "/x/**: t/**\n", &["--format", format]);
        let listing = ls_long(&image);
        assert!(
            listing["/x/a"].starts_with("-rw-r--r-- 2 0 0 11"),
            "{listing:?}"
        );
        assert!(
            listing["/x/b"].starts_with("-rw-r--r-- 2 0 0 11"),
            "{listing:?}"
        );
        assert!(
            listing["/x/c"].starts_with("-rw-r--r-- 1 0 0 11"),
            "{listing:?}"
        );
        assert_eq!(cat(&image, "/x/b"), b"shared data");
        ok(&["verify", p(&image)]);
        let info = stdout(&ok(&["info", p(&image)]));
        if format == "v2" {
            // c is a separate inode, but its equal data is stored once.
            assert!(info.contains("data bytes:     11\n"), "{info}");
        } else {
            // v3: small files live inline with their inode (a and b are one).
            assert!(info.contains("inline bytes:   22\n"), "{info}");
            assert!(info.contains("data bytes:     0\n"), "{info}");
        }
    }
}

#[test]
fn both_formats_and_block_sizes() {
    let dir = TempDir::new().expect("tempdir");
    let root = dir.path();
    sample_tree(root);
    let manifest = "/etc/**: tree/etc/**\n/lib/**: tree/lib/**\n/l: ->/etc/hostname\n";
    for (args, version, block) in [
        (&["--format", "v1"][..], "v1", "512"),
        (&["--format", "v2"][..], "v2", "4096"),
        (&["--format", "v2", "--block-size", "512"][..], "v2", "512"),
        (&[][..], "v3", "4096"),
        (&["--format", "v3", "--compress", "lz4"][..], "v3", "4096"),
    ] {
        let image = build(root, manifest, args);
        let info = stdout(&ok(&["info", p(&image)]));
        assert!(
            info.contains(&format!("format:         {version}\n")),
            "{info}"
        );
        assert!(
            info.contains(&format!("block size:     {block}\n")),
            "{info}"
        );
        assert!(info.contains("symlinks:       1\n"), "{info}");
        assert!(info.contains("files:          6\n"), "{info}");
        assert!(info.contains("directories:    4\n"), "{info}");
        assert_eq!(cat(&image, "/lib/libfoo.so"), vec![0x5a; 10_000]);
        assert_eq!(cat(&image, "/l"), b"guest\n");
        let names = stdout(&ok(&["ls", p(&image), "/", "-R"]));
        assert_eq!(
            names,
            "/\n/etc\n/etc/host-link\n/etc/hostname\n/etc/passwd\n/l\n/lib\n/lib/.hidden\n\
             /lib/libfoo.so\n/lib/sub\n/lib/sub/deep.txt\n"
        );
        let verified = stdout(&ok(&["verify", p(&image)]));
        assert!(verified.contains("OK"), "{verified}");
        let size = fs::metadata(&image).expect("image").len();
        assert_eq!(size % block.parse::<u64>().expect("number"), 0);
    }
    let image = root.join("bad.img");
    let err = fails(&[
        "build",
        "-m",
        p(&root.join("usr.manifest")),
        "-o",
        p(&image),
        "--format",
        "v1",
        "--block-size",
        "4096",
    ]);
    assert!(err.contains("block"), "{err}");
}

#[test]
fn builds_the_osv_golden_manifest_like_osv() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/osv-rofs-v1");
    let dir = TempDir::new().expect("tempdir");
    // A copy, because git does not keep the tree's empty directory.
    copy_tree(&data.join("tree"), &dir.path().join("tree"));
    fs::create_dir_all(dir.path().join("tree/empty-dir")).expect("mkdir");
    let manifest = dir.path().join("golden.manifest");
    fs::copy(data.join("golden.manifest"), &manifest).expect("copy manifest");
    let image = dir.path().join("ours.rofs");
    let golden = data.join("golden-v1.rofs");
    ok(&[
        "build",
        "-m",
        p(&manifest),
        "-o",
        p(&image),
        "--format",
        "v1",
        "--no-mount-points",
    ]);
    // Same tree as OSv's own generator made, seen through the same reader.
    let ours = stdout(&ok(&["ls", p(&image), "/", "-R", "-l"]));
    let theirs = stdout(&ok(&["ls", p(&golden), "/", "-R", "-l"]));
    let strip = |listing: &str| -> Vec<String> {
        // Keep type, size, path and link target; v1 has no modes or times.
        listing
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                format!("{} {} {}", &f[0][..1], f[4], f[7..].join(" "))
            })
            .collect()
    };
    assert_eq!(strip(&ours), strip(&theirs));
    for path in [
        "/etc/fstab",
        "/data/size-100003.bin",
        "/data/size-0.bin",
        "/many/f0292.txt",
    ] {
        assert_eq!(cat(&image, path), cat(&golden, path), "{path}");
    }
}

#[test]
fn verify_names_corrupted_file_data() {
    let dir = TempDir::new().expect("tempdir");
    let root = dir.path();
    let marker = b"UNIQUE-MARKER-CONTENT-0123456789";
    // Past v3's inline limit, so the data is in a data block in every format.
    let mut victim = marker.to_vec();
    victim.resize(5000, b'.');
    write(&root.join("t/victim.bin"), &victim);
    write(&root.join("t/other.txt"), b"other");
    for format in ["v2", "v3"] {
        let image = build(root, "/data/**: t/**\n", &["--format", format]);
        ok(&["verify", p(&image)]);
        let mut bytes = fs::read(&image).expect("image");
        let at = bytes
            .windows(marker.len())
            .position(|w| w == marker)
            .expect("data in image");
        bytes[at + 3] ^= 0x01;
        fs::write(&image, &bytes).expect("corrupt");
        let err = fails(&["verify", p(&image)]);
        assert!(err.contains("/data/victim.bin"), "{err}");
        assert!(err.contains("data CRC32 mismatch"), "{err}");
        assert!(!err.contains("other.txt"), "{err}");
    }
}

#[test]
fn info_reports_counts_and_sizes() {
    let dir = TempDir::new().expect("tempdir");
    let root = dir.path();
    sample_tree(root);
    let image = build(root, "/lib/**: tree/lib/**\n/a: ->b\n", &[]);
    let info = stdout(&ok(&["info", p(&image)]));
    let field = |key: &str| -> String {
        info.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("{key} missing in {info}"))
            .trim()
            .to_string()
    };
    assert_eq!(field("format:"), "v3");
    assert_eq!(field("files:"), "3");
    assert_eq!(field("directories:"), "3");
    assert_eq!(field("symlinks:"), "1");
    assert_eq!(field("inodes:"), "7");
    let image_bytes: u64 = field("image bytes:").parse().expect("number");
    assert_eq!(image_bytes, fs::metadata(&image).expect("image").len());
    let data_bytes: u64 = field("data bytes:").parse().expect("number");
    assert!(data_bytes >= 10_000, "{info}");
    assert_eq!(field("metadata crc:").len(), 8, "{info}");
    assert_eq!(field("compression:"), "none", "{info}");
}

#[test]
fn extract_round_trip() {
    let dir = TempDir::new().expect("tempdir");
    let root = dir.path();
    sample_tree(root);
    let src = root.join("tree");
    fs::set_permissions(src.join("lib/libfoo.so"), fs::Permissions::from_mode(0o755))
        .expect("chmod");
    fs::hard_link(src.join("etc/passwd"), src.join("etc/passwd-link")).expect("link");
    // Keep host symlinks, so the extracted tree matches the source exactly.
    let image = build(root, "/**: !tree/**\n", &[]);
    let out = root.join("out");
    ok(&["extract", p(&image), p(&out)]);
    compare_trees(&src, &out);
    let a = fs::metadata(out.join("etc/passwd")).expect("stat");
    let b = fs::metadata(out.join("etc/passwd-link")).expect("stat");
    assert_eq!(a.ino(), b.ino(), "hard link lost");
    assert_eq!(
        fs::metadata(out.join("lib/libfoo.so"))
            .expect("stat")
            .mode()
            & 0o777,
        0o755
    );
    // Extracting again over the result refuses to overwrite.
    let err = fails(&["extract", p(&image), p(&out)]);
    assert!(err.contains("exists"), "{err}");
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn compare_trees(a: &Path, b: &Path) {
    let mut names_a: Vec<_> = fs::read_dir(a)
        .expect("read a")
        .map(|e| e.expect("entry").file_name())
        .collect();
    let mut names_b: Vec<_> = fs::read_dir(b)
        .expect("read b")
        .map(|e| e.expect("entry").file_name())
        .collect();
    names_a.sort();
    names_b.sort();
    assert_eq!(names_a, names_b, "{} vs {}", a.display(), b.display());
    for name in names_a {
        let (pa, pb) = (a.join(&name), b.join(&name));
        let (ma, mb) = (
            fs::symlink_metadata(&pa).expect("a"),
            fs::symlink_metadata(&pb).expect("b"),
        );
        assert_eq!(ma.file_type(), mb.file_type(), "{}", pa.display());
        if ma.is_dir() {
            compare_trees(&pa, &pb);
        } else if ma.file_type().is_symlink() {
            assert_eq!(
                fs::read_link(&pa).expect("a"),
                fs::read_link(&pb).expect("b")
            );
        } else {
            assert_eq!(
                fs::read(&pa).expect("a"),
                fs::read(&pb).expect("b"),
                "{}",
                pa.display()
            );
        }
    }
}

#[test]
fn lookups_report_missing_paths_and_wrong_types() {
    let dir = TempDir::new().expect("tempdir");
    let root = dir.path();
    sample_tree(root);
    let image = build(root, "/etc/**: tree/etc/**\n/loop: ->/loop\n", &[]);
    let err = fails(&["cat", p(&image), "/etc/nope"]);
    assert!(err.contains("/etc/nope"), "{err}");
    let err = fails(&["cat", p(&image), "/etc"]);
    assert!(err.contains("/etc"), "{err}");
    let err = fails(&["cat", p(&image), "/loop"]);
    assert!(err.contains("/loop"), "{err}");
    let err = fails(&["ls", p(&image), "/etc/hostname/x"]);
    assert!(err.contains("/etc/hostname/x"), "{err}");
    // ls of a file lists that file.
    assert_eq!(
        stdout(&ok(&["ls", p(&image), "/etc/hostname"])),
        "/etc/hostname\n"
    );
    let err = fails(&["ls", p(&root.join("missing.img"))]);
    assert!(err.contains("cannot open image"), "{err}");
}

#[test]
fn bad_images_never_panic() {
    let dir = TempDir::new().expect("tempdir");
    let root = dir.path();
    sample_tree(root);
    let mut images = Vec::new();
    for format in ["v1", "v2", "v3"] {
        let image = build(
            root,
            "/etc/**: tree/etc/**\n/lib/**: tree/lib/**\n/l: ->/etc\n",
            &["--format", format],
        );
        images.push((format, fs::read(&image).expect("image")));
    }
    let bad = root.join("bad.img");
    let out_dir = root.join("extract");
    // Runs every command on `bytes`; returns whether verify accepted it.
    let try_all = |bytes: &[u8], what: &str| -> bool {
        fs::write(&bad, bytes).expect("write");
        let _ = fs::remove_dir_all(&out_dir);
        let mut verified = false;
        for args in [
            vec!["ls", p(&bad), "/", "-R", "-l"],
            vec!["cat", p(&bad), "/lib/libfoo.so"],
            vec!["extract", p(&bad), p(&out_dir)],
            vec!["info", p(&bad)],
            vec!["verify", p(&bad)],
        ] {
            let out = mkimage(&args, None);
            assert_ne!(
                out.status.code(),
                Some(101),
                "{what}: {args:?} panicked: {}",
                stderr(&out)
            );
            assert!(
                out.status.code().is_some(),
                "{what}: {args:?} killed by a signal"
            );
            if !out.status.success() {
                assert!(
                    stderr(&out).starts_with("mkimage: "),
                    "{what}: {args:?}: {}",
                    stderr(&out)
                );
            }
            verified = args[0] == "verify" && out.status.success();
        }
        verified
    };
    try_all(b"", "empty file");
    try_all(&[0xff; 4096], "garbage");
    // A simple deterministic generator, so failures are reproducible.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (format, image) in &images {
        assert!(
            !try_all(&image[..image.len() / 2], "truncated"),
            "{format}: truncated image verified"
        );
        // Flip bytes where the structure is: the superblock, and the
        // non-zero bytes of the last 4 KiB (the metadata tables).
        let tail = image.len().saturating_sub(4096);
        let targets: Vec<usize> = (0..160)
            .chain((tail..image.len()).filter(|&i| image[i] != 0))
            .collect();
        for _ in 0..24 {
            let at = targets[(next() % targets.len() as u64) as usize];
            let mut bytes = image.clone();
            bytes[at] ^= 1 << (next() % 8);
            let verified = try_all(&bytes, &format!("{format}: flip at {at}"));
            // v2 checksums its superblock and metadata, v3 its superblock's
            // 136 bytes and each metadata block: every flip there is caught.
            if *format == "v2" || (*format == "v3" && (at < 136 || at >= tail)) {
                assert!(!verified, "{format}: flip at {at} passed verify");
            }
        }
    }
}

#[test]
fn default_mount_points_are_added_unless_the_manifest_has_them() {
    let dir = TempDir::new().expect("tempdir");
    let root = dir.path();
    fs::write(root.join("hello"), "hi\n").expect("write");
    // No /dev or /tmp in the manifest: both appear as empty directories.
    let image = root.join("a.img");
    fs::write(root.join("a.manifest"), "/hello: hello\n").expect("manifest");
    ok(&["build", "-m", p(&root.join("a.manifest")), "-o", p(&image)]);
    let listing = ls_long(&image);
    for path in ["/dev", "/tmp"] {
        let line = listing
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing: {listing:?}"));
        assert!(line.starts_with('d'), "{path}: {line}");
    }
    // The manifest's own /tmp (a symlink here) wins over the default.
    let image = root.join("b.img");
    fs::write(root.join("b.manifest"), "/hello: hello\n/tmp: ->/hello\n").expect("manifest");
    ok(&["build", "-m", p(&root.join("b.manifest")), "-o", p(&image)]);
    let listing = ls_long(&image);
    assert!(listing["/tmp"].starts_with('l'), "{}", listing["/tmp"]);
    assert!(listing["/dev"].starts_with('d'));
    // --no-mount-points leaves them out.
    let image = root.join("c.img");
    ok(&[
        "build",
        "-m",
        p(&root.join("a.manifest")),
        "-o",
        p(&image),
        "--no-mount-points",
    ]);
    let listing = ls_long(&image);
    assert!(
        !listing.contains_key("/dev") && !listing.contains_key("/tmp"),
        "{listing:?}"
    );
}

/// Replace the one occurrence of `from` in the image with `to` (same length).
fn patch_once(image: &Path, from: &[u8], to: &[u8]) {
    let mut bytes = fs::read(image).expect("image");
    let found: Vec<usize> = (0..bytes.len() - from.len())
        .filter(|&i| bytes[i..i + from.len()] == *from)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{:?} in the image",
        String::from_utf8_lossy(from)
    );
    bytes[found[0]..found[0] + to.len()].copy_from_slice(to);
    fs::write(image, &bytes).expect("patch");
}

/// A v1 image (no checksums, OSv allows it) whose directory entries name
/// one file twice, and two names that read the same once decoded: verify
/// and info report each clash on its own line, extract refuses before
/// writing anything.
#[test]
fn v1_name_clashes_are_reported_and_extract_refuses() {
    let dir = TempDir::new().expect("tempdir");
    let root = dir.path();
    write(&root.join("t/same/clash-name-AAA"), b"first");
    write(&root.join("t/same/clash-name-BBB"), b"second");
    write(&root.join("t/lossy/lossy-name-Q1"), b"q1");
    write(&root.join("t/lossy/lossy-name-Q2"), b"q2");
    let image = build(root, "/**: t/**\n", &["--format", "v1"]);
    ok(&["verify", p(&image)]);
    patch_once(&image, b"clash-name-BBB", b"clash-name-AAA");
    patch_once(&image, b"lossy-name-Q1", b"lossy-name-Q\xff");
    patch_once(&image, b"lossy-name-Q2", b"lossy-name-Q\xfe");
    let clashes = [
        r#"/same: 2 entries named "clash-name-AAA""#,
        "/lossy: 2 entries read as \"lossy-name-Q\u{FFFD}\" (names that are not UTF-8)",
    ];
    let err = fails(&["verify", p(&image)]);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines[0].ends_with("2 problem(s) found"), "{err}");
    assert_eq!(lines[1].trim(), clashes[1], "{err}");
    assert_eq!(lines[2].trim(), clashes[0], "{err}");
    let info = stdout(&ok(&["info", p(&image)]));
    let reported: Vec<&str> = info
        .lines()
        .filter_map(|l| l.strip_prefix("name clash:"))
        .map(str::trim)
        .collect();
    assert_eq!(reported, [clashes[1], clashes[0]], "{info}");
    let dest = root.join("out");
    let err = fails(&["extract", p(&image), p(&dest)]);
    assert!(
        err.contains("cannot extract: 2 name clash(es), nothing written"),
        "{err}"
    );
    assert!(
        err.contains(clashes[0]) && err.contains(clashes[1]),
        "{err}"
    );
    assert!(!dest.exists(), "nothing extracted");
}

/// A v1 image whose directory entry points back at the root: every
/// command refuses it, and verify and info say which entry.
#[test]
fn cyclic_images_are_refused_and_explained() {
    let dir = TempDir::new().expect("tempdir");
    let root = dir.path();
    write(&root.join("t/top/loop-entry/file"), b"x");
    let image = build(root, "/**: t/**\n", &["--format", "v1"]);
    // The v1 entry head (u64 inode number, u16 length) precedes the name.
    let bytes = fs::read(&image).expect("image");
    let name = b"loop-entry";
    let at = (0..bytes.len() - name.len())
        .find(|&i| bytes[i..i + name.len()] == *name)
        .expect("entry in the image");
    let mut head = bytes[at - 10..at].to_vec();
    head[..8].copy_from_slice(&1u64.to_le_bytes());
    let mut patched = bytes.clone();
    patched[at - 10..at].copy_from_slice(&head);
    fs::write(&image, &patched).expect("patch");
    let why = r#"corrupt image: entry "loop-entry" in /top points at the root"#;
    for cmd in ["verify", "info"] {
        let err = fails(&[cmd, p(&image)]);
        assert!(err.contains(why), "{cmd}: {err}");
    }
    let err = fails(&["ls", p(&image), "/", "-R"]);
    assert!(err.contains(why), "{err}");
}
