//! `mkimage build --verity`, `mkimage verity`, and the tree in `info`,
//! `verify`, `ls`, `cat` and `extract`: images of generated trees read back
//! in full through the verifying device, tampering found, and agreement
//! with cryptsetup's `veritysetup` when it is installed.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use drivers::verity::{BLOCK, Hex, VerityDevice, locate, parse_root_hash};
use drivers::{BlockDevice, FileDisk};
use fs_rofs::RofsFs;
use fs_rofs::writer::{BuildOptions, EntryMeta, FileSource, Format, ImageBuilder};
use tempfile::TempDir;
use vfs::{FileSystem, FileType, Inode};

fn mkimage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mkimage"))
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("run mkimage")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(args: &[&str]) -> Output {
    let out = mkimage(args);
    assert!(
        out.status.success(),
        "mkimage {args:?}: {}",
        text(&out.stderr)
    );
    out
}

/// Exit 1, no panic, one `mkimage:` message; returns stderr.
fn fails(args: &[&str]) -> String {
    let out = mkimage(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "mkimage {args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.starts_with("mkimage: "), "{err}");
    err
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    fastrand::Rng::with_seed(seed).fill(&mut bytes);
    bytes
}

/// The `root hash: HEX` line a command printed.
fn printed_root(out: &Output) -> String {
    text(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("root hash: "))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no root hash line in {:?}", text(&out.stdout)))
}

/// A host tree with files at every block boundary, a big directory, nested
/// directories and a symlink (followed by `--dir`).
fn generated_tree(root: &Path) {
    let put = |path: &str, data: &[u8]| {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, data).unwrap();
    };
    for (i, size) in [
        0,
        1,
        511,
        512,
        4095,
        4096,
        4097,
        65_539,
        1 << 20,
        (3 << 20) + 7,
    ]
    .into_iter()
    .enumerate()
    {
        put(&format!("sizes/f{size}"), &pattern(size, i as u64));
    }
    for i in 0..600 {
        put(&format!("many/entry{i:04}"), format!("{i}\n").as_bytes());
    }
    put("a/b/c/d/e/deep.txt", b"deep");
    std::os::unix::fs::symlink("../sizes/f1", root.join("a/link")).unwrap();
}

/// Every file of `fs` under `dir`, compared with the host tree at `host`.
fn compare(fs_dir: &Arc<dyn Inode>, host: &Path, files: &mut usize) {
    for entry in fs::read_dir(host).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let child = fs_dir
            .lookup(&name)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // `--dir` keeps host symlinks as symlinks.
        let meta = fs::symlink_metadata(entry.path()).unwrap();
        if meta.file_type().is_symlink() {
            assert_eq!(child.file_type(), FileType::Symlink);
            let target = fs::read_link(entry.path()).unwrap();
            assert_eq!(child.readlink().unwrap(), target.to_str().unwrap());
        } else if meta.is_dir() {
            assert_eq!(child.file_type(), FileType::Directory);
            compare(&child, &entry.path(), files);
        } else {
            let want = fs::read(entry.path()).unwrap();
            let mut got = vec![0u8; want.len() + 10];
            let mut done = 0;
            loop {
                let n = child.read_at(done as u64, &mut got[done..]).unwrap();
                if n == 0 {
                    break;
                }
                done += n;
            }
            assert_eq!(done, want.len(), "{name}");
            assert!(got[..done] == want[..], "{name}: contents differ");
            *files += 1;
        }
    }
}

/// Mount `image` through the verifying device with `root` and compare the
/// whole tree with `host`; returns the device's counters.
fn read_back_verified(image: &Path, root: &str, host: &Path) -> drivers::verity::VerityStats {
    let disk: Arc<dyn BlockDevice> = Arc::new(FileDisk::open(image, 512).unwrap());
    let dev = Arc::new(VerityDevice::open(disk, parse_root_hash(root).unwrap()).unwrap());
    let fs = RofsFs::mount(dev.clone(), "").unwrap();
    let mut files = 0;
    compare(&fs.root().unwrap(), host, &mut files);
    assert!(files > 600);
    let stats = dev.stats();
    assert_eq!(stats.failures, 0);
    stats
}

#[test]
fn build_verity_reads_back_through_the_verifying_device() {
    let dir = TempDir::new().unwrap();
    let tree = dir.path().join("tree");
    generated_tree(&tree);
    for format in ["v1", "v2"] {
        let image = dir.path().join(format!("{format}.img"));
        let root_file = dir.path().join(format!("{format}.root"));
        let out = ok(&[
            "build",
            "--dir",
            p(&tree),
            "-o",
            p(&image),
            "--format",
            format,
            "--verity",
            "--root-hash-file",
            p(&root_file),
        ]);
        let root = printed_root(&out);
        assert_eq!(fs::read_to_string(&root_file).unwrap(), format!("{root}\n"));
        let stats = read_back_verified(&image, &root, &tree);
        assert!(stats.blocks_verified > 1000, "{format}: {stats:?}");

        // The tree sits after the filesystem, padded to 4096; the image ends
        // with the locator.
        let disk = FileDisk::open(&image, 512).unwrap();
        let info = locate(&disk).unwrap();
        assert_eq!(Hex(&info.stored_root).to_string(), root);
        assert_eq!(info.hash_offset % BLOCK as u64, 0);
        assert_eq!(info.locator_offset + BLOCK as u64, disk.size_bytes());

        // The CLI reads it too, with and without the root hash.
        let plain = ok(&["cat", p(&image), "/sizes/f4097"]).stdout;
        let verified = ok(&["cat", p(&image), "/sizes/f4097", "--root-hash", &root]).stdout;
        assert_eq!(plain, fs::read(tree.join("sizes/f4097")).unwrap());
        assert_eq!(plain, verified);
        let listing = ok(&["ls", p(&image), "/many", "--root-hash", &root]).stdout;
        assert_eq!(text(&listing).lines().count(), 600);
        let out_dir = dir.path().join(format!("{format}-extracted"));
        ok(&["extract", p(&image), p(&out_dir), "--root-hash", &root]);
        assert_eq!(
            fs::read(out_dir.join("sizes/f3145735")).unwrap(),
            fs::read(tree.join("sizes/f3145735")).unwrap()
        );

        let verify = ok(&["verify", p(&image)]);
        assert_eq!(printed_root(&verify), root);
        assert!(text(&verify.stdout).contains("dm-verity tree OK"));
        ok(&["verify", p(&image), "--root-hash", &root]);
        let info_out = text(&ok(&["info", p(&image)]).stdout);
        assert!(
            info_out.contains(&format!("root hash:      {root}")),
            "{info_out}"
        );
        assert!(info_out.contains(&format!("hash offset:    {}", info.hash_offset)));
    }
}

#[test]
fn verity_subcommand_on_writer_images_and_any_file() {
    let dir = TempDir::new().unwrap();
    // An image straight from fs_rofs's writer, as the fs-rofs tests make them.
    let mut builder = ImageBuilder::new(BuildOptions {
        format: Format::V2,
        block_size: 4096,
        default_mtime: 0,
    });
    let meta = EntryMeta::default();
    let big = pattern(700_001, 9);
    builder.add_dir("/d", meta.clone()).unwrap();
    builder
        .add_file("/d/big", FileSource::Bytes(big.clone()), meta.clone())
        .unwrap();
    builder.add_symlink("/d/l", "big", meta).unwrap();
    let mut bytes = Cursor::new(Vec::new());
    builder.write(&mut bytes, &mut |_, _| {}).unwrap();
    let image = dir.path().join("writer.img");
    fs::write(&image, bytes.into_inner()).unwrap();
    let before = fs::read(&image).unwrap();

    let root = printed_root(&ok(&["verity", p(&image)]));
    let after = fs::read(&image).unwrap();
    assert!(after.starts_with(&before), "the filesystem bytes are kept");
    assert_eq!(
        ok(&["cat", p(&image), "/d/l", "--root-hash", &root]).stdout,
        big
    );

    // A second tree is refused; --force replaces it (here with a new salt).
    let err = fails(&["verity", p(&image)]);
    assert!(
        err.contains("already has a dm-verity tree") && err.contains(&root),
        "{err}"
    );
    assert_eq!(
        fs::read(&image).unwrap(),
        after,
        "a refused run changes nothing"
    );
    let forced = printed_root(&ok(&["verity", p(&image), "--force", "--salt", "abcdef"]));
    assert_ne!(forced, root);
    assert_eq!(
        fs::read(&image).unwrap().len(),
        after.len(),
        "the old tree was replaced"
    );
    assert!(text(&ok(&["info", p(&image)]).stdout).contains("salt:           abcdef"));
    // Forcing with the default salt again gives back the first tree.
    assert_eq!(printed_root(&ok(&["verity", p(&image), "--force"])), root);
    assert_eq!(fs::read(&image).unwrap(), after);

    // Any file: the tree does not care what filesystem the data holds.
    let raw = dir.path().join("raw.bin");
    fs::write(&raw, pattern(10 * BLOCK + 3, 4)).unwrap();
    let raw_root = printed_root(&ok(&["verity", p(&raw)]));
    let disk: Arc<dyn BlockDevice> = Arc::new(FileDisk::open(&raw, 512).unwrap());
    let dev = VerityDevice::open(disk, parse_root_hash(&raw_root).unwrap()).unwrap();
    let mut all = vec![0u8; 11 * BLOCK];
    dev.read_blocks(0, &mut all).unwrap();
    assert_eq!(all[..10 * BLOCK + 3], pattern(10 * BLOCK + 3, 4)[..]);
    assert!(all[10 * BLOCK + 3..].iter().all(|&b| b == 0));
    let empty = dir.path().join("empty.bin");
    fs::write(&empty, b"").unwrap();
    assert!(fails(&["verity", p(&empty)]).contains("empty"));
}

#[test]
fn builds_with_trees_are_reproducible_and_salts_differ_per_image() {
    let dir = TempDir::new().unwrap();
    let tree = dir.path().join("tree");
    generated_tree(&tree);
    let build = |name: &str, extra: &[&str]| {
        let image = dir.path().join(name);
        let mut args = vec!["build", "--dir", p(&tree), "-o", p(&image), "--verity"];
        args.extend_from_slice(extra);
        let root = printed_root(&ok(&args));
        (fs::read(&image).unwrap(), root)
    };
    let (a, root_a) = build("a.img", &[]);
    let (b, root_b) = build("b.img", &[]);
    assert!(a == b, "same inputs, same bytes");
    assert_eq!(root_a, root_b);
    let salt_of = |name: &str| {
        text(&ok(&["info", p(&dir.path().join(name))]).stdout)
            .lines()
            .find_map(|l| l.strip_prefix("salt:").map(|s| s.trim().to_string()))
            .unwrap()
    };
    assert_eq!(salt_of("a.img").len(), 64);
    fs::write(tree.join("sizes/f1"), b"X").unwrap();
    let (_, root_c) = build("c.img", &[]);
    assert_ne!(root_c, root_a);
    assert_ne!(
        salt_of("c.img"),
        salt_of("a.img"),
        "the default salt follows the image"
    );
    let (_, _) = build("d.img", &["--salt", "-"]);
    assert_eq!(salt_of("d.img"), "-");
    let (_, _) = build("e.img", &["--salt", &"7f".repeat(256)]);
    assert_eq!(salt_of("e.img"), "7f".repeat(256));
}

#[test]
fn bad_options_fail_cleanly_and_leave_no_image() {
    let dir = TempDir::new().unwrap();
    let tree = dir.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    fs::write(tree.join("f"), b"f").unwrap();
    let image = dir.path().join("x.img");
    for salt in ["xyz", "abc", &"00".repeat(257)] {
        let err = fails(&[
            "build",
            "--dir",
            p(&tree),
            "-o",
            p(&image),
            "--verity",
            "--salt",
            salt,
        ]);
        assert!(err.contains("--salt"), "{err}");
    }
    let err = fails(&["build", "--dir", p(&tree), "-o", p(&image), "--salt", "00"]);
    assert!(err.contains("need --verity"), "{err}");
    assert!(!image.exists());
    assert!(!dir.path().join("x.img.partial").exists());
    let bad_file = dir.path().join("no/such/dir/root");
    fails(&[
        "build",
        "--dir",
        p(&tree),
        "-o",
        p(&image),
        "--verity",
        "--root-hash-file",
        p(&bad_file),
    ]);
    assert!(!image.exists(), "a failed build leaves no image");
    assert!(!dir.path().join("x.img.partial").exists());

    ok(&["build", "--dir", p(&tree), "-o", p(&image)]);
    for root in ["", "00", &"g".repeat(64), &"0".repeat(65)] {
        let err = fails(&["ls", p(&image), "--root-hash", root]);
        assert!(err.contains("--root-hash"), "{err}");
    }
    // A root hash for an image without a tree.
    let zero = "0".repeat(64);
    let err = fails(&["cat", p(&image), "/f", "--root-hash", &zero]);
    assert!(err.contains("no dm-verity tree"), "{err}");
    let err = fails(&["verify", p(&image), "--root-hash", &zero]);
    assert!(err.contains("no dm-verity tree"), "{err}");
    // Without one, verify and info say nothing is wrong.
    assert!(!text(&ok(&["verify", p(&image)]).stdout).contains("root hash"));
    assert!(text(&ok(&["info", p(&image)]).stdout).contains("verity:         none"));
}

#[test]
fn verify_finds_tampering_anywhere() {
    let dir = TempDir::new().unwrap();
    let tree = dir.path().join("tree");
    generated_tree(&tree);
    let image = dir.path().join("t.img");
    let root = printed_root(&ok(&[
        "build",
        "--dir",
        p(&tree),
        "-o",
        p(&image),
        "--verity",
    ]));
    let good = fs::read(&image).unwrap();
    let info = locate(&FileDisk::open(&image, 512).unwrap()).unwrap();
    let tamper = |offset: u64| {
        let mut bytes = good.clone();
        bytes[offset as usize] ^= 0x10;
        fs::write(&image, bytes).unwrap();
    };
    // A data block: verify names it (and ROFS's own CRC may too).
    tamper(5 * BLOCK as u64 + 100);
    let err = fails(&["verify", p(&image)]);
    assert!(
        err.contains("dm-verity: data block 5 (bytes 20480..24576)"),
        "{err}"
    );
    // A level-0 hash block that is not the last: the 128 blocks under it.
    tamper(info.tree_offset + (info.geometry.level_start[0]) * BLOCK as u64 + 7);
    let err = fails(&["verify", p(&image)]);
    assert!(err.contains("dm-verity: data block 0 "), "{err}");
    assert!(err.contains("118 more data blocks fail"), "{err}");
    // The top block: the tree no longer matches the given root.
    tamper(info.tree_offset + 9);
    let err = fails(&["verify", p(&image), "--root-hash", &root]);
    assert!(err.contains("root hash mismatch"), "{err}");
    let err = fails(&["cat", p(&image), "/sizes/f1", "--root-hash", &root]);
    assert!(
        err.contains("root hash mismatch") && !err.trim_end().contains('\n'),
        "{err}"
    );
    // The superblock's salt, and the locator.
    tamper(info.hash_offset + 88);
    assert!(fails(&["verify", p(&image), "--root-hash", &root]).contains("root hash mismatch"));
    tamper(info.locator_offset + 20);
    let err = fails(&["verify", p(&image)]);
    assert!(err.contains("verity locator: CRC mismatch"), "{err}");
    assert!(text(&ok(&["info", p(&image)]).stdout).contains("verity:         damaged"));
    let err = fails(&["verity", p(&image)]);
    assert!(err.contains("damaged dm-verity tree"), "{err}");
    // Restored, all is well again.
    fs::write(&image, &good).unwrap();
    ok(&["verify", p(&image), "--root-hash", &root]);
}

fn veritysetup() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("veritysetup"))
                .collect()
        })
        .unwrap_or_default();
    candidates.push("/usr/sbin/veritysetup".into());
    candidates.push("/sbin/veritysetup".into());
    let found = candidates.into_iter().find(|p| p.is_file());
    if found.is_none() {
        eprintln!(
            "SKIPPED: veritysetup not installed (apt-get install cryptsetup-bin; tests/setup.sh does)"
        );
    }
    found
}

#[test]
fn veritysetup_agrees_with_our_images() {
    let Some(tool) = veritysetup() else { return };
    let dir = TempDir::new().unwrap();
    let tree = dir.path().join("tree");
    generated_tree(&tree);
    let run = |args: &[&str]| {
        let out = Command::new(&tool).args(args).output().unwrap();
        (
            out.status.success(),
            format!("{}{}", text(&out.stdout), text(&out.stderr)),
        )
    };
    for (name, extra) in [
        ("v2.img", &["--format", "v2"][..]),
        ("v1.img", &["--format", "v1"][..]),
        ("salted.img", &["--salt", "0123456789abcdef"][..]),
        ("unsalted.img", &["--salt", "-"][..]),
    ] {
        let image = dir.path().join(name);
        let mut args = vec!["build", "--dir", p(&tree), "-o", p(&image), "--verity"];
        args.extend_from_slice(extra);
        let root = printed_root(&ok(&args));
        let info = locate(&FileDisk::open(&image, 512).unwrap()).unwrap();
        let offset = format!("--hash-offset={}", info.hash_offset);
        let (accepted, out) = run(&["verify", p(&image), p(&image), &root, &offset]);
        assert!(accepted, "{name}: veritysetup verify refused it:\n{out}");

        // veritysetup format over the same data and salt: the same root.
        let data = dir.path().join("data");
        let bytes = fs::read(&image).unwrap();
        fs::write(&data, &bytes[..info.data_bytes as usize]).unwrap();
        let hash = dir.path().join("hash");
        let _ = fs::remove_file(&hash);
        let salt = info.salt.as_bytes();
        let salt_arg = if salt.is_empty() {
            "-".to_string()
        } else {
            Hex(salt).to_string()
        };
        let (formatted, out) = run(&["format", p(&data), p(&hash), &format!("--salt={salt_arg}")]);
        assert!(formatted, "{out}");
        let theirs = out
            .lines()
            .find_map(|l| l.strip_prefix("Root hash:"))
            .map(|r| r.trim().to_string())
            .unwrap();
        assert_eq!(theirs, root, "{name}");
    }
    // `mkimage verity` on an image built without a tree, likewise.
    let image = dir.path().join("later.img");
    ok(&["build", "--dir", p(&tree), "-o", p(&image)]);
    let root = printed_root(&ok(&["verity", p(&image)]));
    let info = locate(&FileDisk::open(&image, 512).unwrap()).unwrap();
    let offset = format!("--hash-offset={}", info.hash_offset);
    let (accepted, out) = run(&["verify", p(&image), p(&image), &root, &offset]);
    assert!(accepted, "{out}");
}

/// ROFS over the verifying device: a flipped bit in a file's data fails
/// reads of that file with EIO and leaves the others readable; one in the
/// superblock or the metadata fails the mount with EIO. Over the raw image
/// the same flip in file data goes unnoticed (without `verify`): that is
/// the difference the tree makes.
#[test]
fn rofs_over_the_verifying_device_gives_eio() {
    let dir = TempDir::new().unwrap();
    let mut builder = ImageBuilder::new(BuildOptions {
        format: Format::V2,
        block_size: 4096,
        default_mtime: 0,
    });
    let a = pattern(100_000, 1);
    let b = pattern(50_000, 2);
    builder
        .add_file("/a", FileSource::Bytes(a.clone()), EntryMeta::default())
        .unwrap();
    builder
        .add_file("/b", FileSource::Bytes(b.clone()), EntryMeta::default())
        .unwrap();
    let mut bytes = Cursor::new(Vec::new());
    let summary = builder.write(&mut bytes, &mut |_, _| {}).unwrap();
    let image = dir.path().join("rofs.img");
    fs::write(&image, bytes.into_inner()).unwrap();
    let root = parse_root_hash(&printed_root(&ok(&["verity", p(&image)]))).unwrap();
    let good = fs::read(&image).unwrap();
    let a_at = good.windows(64).position(|w| w == &a[5000..5064]).unwrap();

    let read_all = |inode: &Arc<dyn Inode>| -> Result<Vec<u8>, vfs::Errno> {
        let mut out = vec![0u8; inode.getattr()?.size as usize];
        let mut done = 0;
        while done < out.len() {
            let n = inode.read_at(done as u64, &mut out[done..])?;
            assert!(n > 0);
            done += n;
        }
        Ok(out)
    };
    let mount = |bytes: &[u8], verified: bool| -> Result<Arc<RofsFs>, vfs::Errno> {
        let path = dir.path().join("tampered.img");
        fs::write(&path, bytes).unwrap();
        let disk: Arc<dyn BlockDevice> = Arc::new(FileDisk::open(&path, 512).unwrap());
        if verified {
            let dev = VerityDevice::open(disk, root).map_err(|_| vfs::Errno::EIO)?;
            RofsFs::mount(Arc::new(dev), "")
        } else {
            RofsFs::mount(disk, "")
        }
    };

    let fs_good = mount(&good, true).unwrap();
    let root_dir = fs_good.root().unwrap();
    assert_eq!(read_all(&root_dir.lookup("a").unwrap()).unwrap(), a);

    let mut tampered = good.clone();
    tampered[a_at] ^= 1;
    let fs_v = mount(&tampered, true).unwrap();
    let dir_v = fs_v.root().unwrap();
    assert_eq!(read_all(&dir_v.lookup("a").unwrap()), Err(vfs::Errno::EIO));
    assert_eq!(read_all(&dir_v.lookup("b").unwrap()).unwrap(), b);
    let fs_raw = mount(&tampered, false).unwrap();
    let unverified = read_all(&fs_raw.root().unwrap().lookup("a").unwrap()).unwrap();
    assert_ne!(unverified, a, "the raw read returns the tampered bytes");

    for offset in [100, summary.image_bytes as usize - 20] {
        let mut tampered = good.clone();
        tampered[offset] ^= 4;
        assert_eq!(
            mount(&tampered, true).err(),
            Some(vfs::Errno::EIO),
            "byte {offset}"
        );
    }
}
