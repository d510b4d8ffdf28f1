//! v1 names that no host directory can hold (issue 8.7): two entries of one
//! directory with the same bytes, or with different bytes that read the same
//! once decoded lossily. Mount accepts them (lookup finds the first, as
//! OSv's linear scan does); inspect and verify report each, one per line.

mod common;

use common::tables::rename;
use common::*;
use fs_rofs::writer::{EntryMeta, FileSource, Format, ImageBuilder};
use vfs::FileSystem;

/// `/dir/xa` and `/dir/xb` made one name, `/lossy/qa` and `/lossy/qb` made
/// `q\xff` and `q\xfe` (both read as "q\u{FFFD}"); `/ok` is untouched.
fn clashing_v1() -> Vec<u8> {
    let mut b = ImageBuilder::new(options(Format::V1, 512));
    for (path, data) in [
        ("/dir/xa", "first"),
        ("/dir/xb", "second"),
        ("/lossy/qa", "a"),
        ("/lossy/qb", "b"),
        ("/ok/qc", "c"),
    ] {
        let source = FileSource::Bytes(data.as_bytes().to_vec());
        b.add_file(path, source, EntryMeta::default()).unwrap();
    }
    let mut image = write_image(b).0;
    rename(&mut image, "/dir/xb", b"xa");
    rename(&mut image, "/lossy/qa", b"q\xff");
    rename(&mut image, "/lossy/qb", b"q\xfe");
    image
}

const EXPECTED: [&str; 2] = [
    r#"/dir: 2 entries named "xa""#,
    "/lossy: 2 entries read as \"q\u{FFFD}\" (names that are not UTF-8)",
];

#[test]
fn mount_accepts_and_lookup_finds_the_first() {
    let fs = mount(clashing_v1()).expect("v1 allows duplicate names");
    let dir = fs.root().unwrap().lookup("dir").unwrap();
    let found = dir.lookup("xa").unwrap();
    let mut buf = [0u8; 16];
    let n = found.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"first");
    let mut names = Vec::new();
    dir.readdir(0, &mut |e, _| {
        names.push(e.name.to_string());
        true
    })
    .unwrap();
    assert_eq!(names, ["xa", "xa"]);
}

#[test]
fn inspect_and_verify_report_each_clash() {
    let image = clashing_v1();
    let info = fs_rofs::inspect(&*disk(image.clone())).unwrap();
    let shown: Vec<String> = info.name_clashes.iter().map(|p| p.to_string()).collect();
    assert_eq!(shown, EXPECTED);
    let problems = fs_rofs::verify(&*disk(image)).unwrap_err();
    let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(shown, EXPECTED);
}

#[test]
fn clean_images_have_no_clashes() {
    for format in [Format::V1, Format::V2] {
        let info = fs_rofs::inspect(&*disk(small_tree(format, 512))).unwrap();
        assert!(info.name_clashes.is_empty(), "{format:?}");
    }
}
