//! Write seed images for the `mount_walk` target into `corpus/mount_walk`.
//! Run from `fs-rofs/fuzz`: `cargo run --bin make_seeds`.

use std::io::Cursor;

use fs_rofs::writer::{BuildOptions, EntryMeta, FileSource, Format, ImageBuilder};

fn image(format: Format, block_size: u32, lz4: bool) -> Vec<u8> {
    let mut b = ImageBuilder::new(BuildOptions { format, block_size, default_mtime: 0 });
    if lz4 {
        b.compress_lz4(4096).unwrap();
        b.add_file("/data/text", FileSource::Bytes(b"abcd".repeat(3000)), EntryMeta::default()).unwrap();
    }
    let m = EntryMeta::default;
    b.add_file("/etc/hostname", FileSource::Bytes(b"seed\n".to_vec()), m()).unwrap();
    b.add_file("/etc/empty", FileSource::Bytes(Vec::new()), m()).unwrap();
    b.add_file("/data/blob", FileSource::Bytes((0..1300u32).map(|i| i as u8).collect()), m()).unwrap();
    b.add_file("/data/dup", FileSource::Bytes((0..1300u32).map(|i| i as u8).collect()), m()).unwrap();
    b.add_dir("/a/b/c", m()).unwrap();
    b.add_symlink("/a/b/c/up", "../../../etc/hostname", m()).unwrap();
    b.add_symlink("/loop", "/loop", m()).unwrap();
    b.add_hardlink("/a/link", "/etc/hostname").unwrap();
    let mut out = Cursor::new(Vec::new());
    b.write(&mut out, &mut |_, _| {}).unwrap();
    out.into_inner()
}

fn main() {
    let dir = std::path::Path::new("corpus/mount_walk");
    std::fs::create_dir_all(dir).unwrap();
    for (name, format, bs, lz4) in [
        ("v1", Format::V1, 512, false),
        ("v2-512", Format::V2, 512, false),
        ("v2-4096", Format::V2, 4096, false),
        ("v3", Format::V3, 4096, false),
        ("v3-lz4", Format::V3, 4096, true),
    ] {
        let bytes = image(format, bs, lz4);
        for flags in [0u8, 1, 2, 3] {
            let mut seed = vec![flags];
            seed.extend_from_slice(&bytes);
            std::fs::write(dir.join(format!("{name}-flags{flags}")), seed).unwrap();
        }
    }
    let golden = std::fs::read("../../tests/data/osv-rofs-v1/golden-v1.rofs").unwrap();
    let mut seed = vec![0u8];
    seed.extend_from_slice(&golden);
    std::fs::write(dir.join("golden-v1"), seed).unwrap();
}
