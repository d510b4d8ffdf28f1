//! Our trees against cryptsetup's: `veritysetup format` on the same data
//! and salt gives the same root hash and the same hash-area bytes, and
//! `veritysetup verify` accepts our images at their hash offset.
//!
//! Runs when `veritysetup` (Debian's `cryptsetup-bin`, installed by
//! `tests/setup.sh`) is present; otherwise each test says it is skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{build_image, pattern};
use drivers::verity::{BLOCK, Hex};

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

fn uuid_text(uuid: [u8; 16]) -> String {
    let hex = Hex(&uuid).to_string();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn run(tool: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(tool)
        .args(args)
        .output()
        .expect("run veritysetup");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn root_hash_line(text: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix("Root hash:"))
        .map(|rest| rest.trim().to_string())
        .unwrap_or_else(|| panic!("no root hash in:\n{text}"))
}

#[test]
fn format_gives_the_same_root_and_bytes_and_verify_accepts() {
    let Some(tool) = veritysetup() else { return };
    let dir = tempfile::tempdir().unwrap();
    let salts: [Vec<u8>; 3] = [pattern(32, 1), Vec::new(), pattern(256, 2)];
    let mut checked = 0;
    for (case, blocks) in [1usize, 2, 128, 129, 1000, 128 * 128 + 3]
        .into_iter()
        .enumerate()
    {
        for salt in &salts {
            let data = pattern(blocks * BLOCK, case as u64 * 10 + salt.len() as u64);
            let (image, tree) = build_image(&data, salt);
            let data_path = dir.path().join("data");
            let hash_path = dir.path().join("hash");
            let image_path = dir.path().join("image");
            std::fs::write(&data_path, &data).unwrap();
            let _ = std::fs::remove_file(&hash_path);
            std::fs::write(&image_path, &image).unwrap();
            let salt_arg = if salt.is_empty() {
                "-".to_string()
            } else {
                Hex(salt).to_string()
            };
            let (ok, text) = run(
                &tool,
                &[
                    "format",
                    data_path.to_str().unwrap(),
                    hash_path.to_str().unwrap(),
                    &format!("--salt={salt_arg}"),
                    &format!("--uuid={}", uuid_text(tree.uuid())),
                ],
            );
            assert!(ok, "veritysetup format failed:\n{text}");
            let label = format!("{blocks} blocks, {}-byte salt", salt.len());
            assert_eq!(
                root_hash_line(&text),
                Hex(&tree.root_hash()).to_string(),
                "{label}"
            );
            // Same superblock (same UUID given) and same tree, byte for byte.
            let theirs = std::fs::read(&hash_path).unwrap();
            let ours = &image[data.len()..image.len() - BLOCK];
            assert_eq!(theirs.len(), ours.len(), "{label}: hash area size");
            assert!(theirs == ours, "{label}: hash area bytes differ");

            let root = Hex(&tree.root_hash()).to_string();
            let offset = format!("--hash-offset={}", tree.data_bytes());
            let path = image_path.to_str().unwrap();
            let (ok, text) = run(&tool, &["verify", path, path, &root, &offset]);
            assert!(ok, "{label}: veritysetup verify refused our image:\n{text}");
            let mut wrong = tree.root_hash();
            wrong[0] ^= 0x80;
            let (ok, _) = run(
                &tool,
                &["verify", path, path, &Hex(&wrong).to_string(), &offset],
            );
            assert!(!ok, "{label}: veritysetup verify accepted a wrong root");
            checked += 1;
        }
    }
    assert_eq!(checked, 18);
}
