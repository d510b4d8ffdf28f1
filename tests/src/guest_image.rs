//! The root image the in-guest suites and the in-guest benchmark run against.
//!
//! The content is generated (deterministic pseudo-random data from a seed) and
//! written with [`fs_rofs::writer`]. Alongside the tree the image carries what
//! the guest checks it against, all computed here on the host:
//! - `/crc32.list`: `CRC32HEX SIZE /path` for every regular file (except itself);
//! - `/selftest.expect`: directory sizes, symlink targets, hard-link groups,
//!   loops, dangling links and CRCs of byte ranges (format in
//!   `init/src/selftest/`);
//! - and, through [`GuestImage::selftest_cmdline_word`], the raw disk's size and
//!   first bytes, which cannot be stored inside the image itself.
//!
//! Building the full image takes a few seconds (64 MiB of data), so it is
//! cached under the cargo target dir, keyed by a hash of everything that
//! determines its bytes: the spec, this generator's source, and the fs-rofs
//! sources (the writer's format).

use std::collections::hash_map::DefaultHasher;
use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use fs_rofs::writer::{BuildOptions, EntryMeta, FileSource, Format, ImageBuilder};

/// What goes into a generated image.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct ImageSpec {
    /// Size of `/big.bin`.
    pub big_bytes: u64,
    /// Entries in `/many`.
    pub many_entries: u32,
    /// Directory levels under `/deep`.
    pub deep_levels: u32,
    /// Seed of all generated content.
    pub seed: u64,
}

impl ImageSpec {
    /// The image the guest tests and the benchmark use: 64 MiB big file,
    /// a 10,000-entry directory.
    pub fn full() -> ImageSpec {
        ImageSpec {
            big_bytes: 64 << 20,
            many_entries: 10_000,
            deep_levels: 24,
            seed: 0x5eed_2026,
        }
    }

    /// A small image with the same shapes, for host unit tests and boots that
    /// only need a valid root.
    pub fn small() -> ImageSpec {
        ImageSpec {
            big_bytes: 300_000,
            many_entries: 120,
            deep_levels: 20,
            seed: 7,
        }
    }
}

/// A built image on disk and the host's facts about its raw bytes.
#[derive(Clone, Debug)]
pub struct GuestImage {
    pub path: PathBuf,
    /// Bytes of the image file (what the guest's /dev/vblk0 must report).
    pub size: u64,
    /// The first 16 bytes.
    pub head: [u8; 16],
    /// CRC32 of bytes 1..=65536 (an unaligned range across sectors).
    pub crc_from_1: u32,
    /// Regular-file lines in `/crc32.list`.
    pub listed_files: usize,
}

impl GuestImage {
    /// The `selftest.disk=SIZE:HEAD:CRC` kernel command-line word the suite
    /// checks /dev/vblk0 against.
    pub fn selftest_cmdline_word(&self) -> String {
        let head: String = self.head.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "selftest.disk={}:{}:{:08x}",
            self.size, head, self.crc_from_1
        )
    }

    /// Read the facts back from an image file.
    pub fn from_file(path: &Path) -> io::Result<GuestImage> {
        let mut file = File::open(path)?;
        let size = file.metadata()?.len();
        let mut first = vec![0u8; 65_537];
        file.read_exact(&mut first)?;
        let mut head = [0u8; 16];
        head.copy_from_slice(&first[..16]);
        let listed_files = 0;
        Ok(GuestImage {
            path: path.to_path_buf(),
            size,
            head,
            crc_from_1: crc32fast::hash(&first[1..]),
            listed_files,
        })
    }
}

/// Where cached images and scratch files go: `<target>/tmp/guest-images`
/// (the integration tests' `CARGO_TARGET_TMPDIR`), the target dir found from
/// the running executable as the first ancestor holding cargo's
/// `CACHEDIR.TAG`; `std::env::temp_dir()` when run from elsewhere.
pub fn default_cache_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let target = exe
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(|t| t.join("tmp"));
    target
        .unwrap_or_else(std::env::temp_dir)
        .join("guest-images")
}

/// Build (or reuse from `cache_dir`) the image for `spec`.
pub fn build_cached(spec: &ImageSpec, cache_dir: &Path) -> Result<GuestImage, String> {
    fs::create_dir_all(cache_dir).map_err(|e| format!("create {}: {e}", cache_dir.display()))?;
    let key = cache_key(spec);
    let path = cache_dir.join(format!("guest-{key:016x}.img"));
    let listed_path = path.with_extension("count");
    // The `.count` file is written before the rename, so an image next to a
    // readable count is complete.
    if path.is_file()
        && let Ok(text) = fs::read_to_string(&listed_path)
        && let Ok(listed) = text.trim().parse()
    {
        let mut image =
            GuestImage::from_file(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
        image.listed_files = listed;
        return Ok(image);
    }
    // Build under a unique name and rename, so concurrent builders never see
    // a half-written image.
    let tmp = cache_dir.join(format!("guest-{key:016x}.{}.tmp", std::process::id()));
    let built = build(spec, &tmp, cache_dir);
    let listed = match built {
        Ok(listed) => listed,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    fs::write(&listed_path, listed.to_string())
        .map_err(|e| format!("write {}: {e}", listed_path.display()))?;
    fs::rename(&tmp, &path).map_err(|e| format!("rename to {}: {e}", path.display()))?;
    let _ = fs::write(path.with_extension("spec"), format!("{spec:?}"));
    remove_stale(cache_dir, spec, &path);
    let mut image =
        GuestImage::from_file(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
    image.listed_files = listed;
    Ok(image)
}

/// Drop cached images of the same spec built by older generator or writer
/// versions (a full image is ~70 MiB). Each image has a `.spec` file naming
/// its spec, so a small and a full image can coexist.
fn remove_stale(cache_dir: &Path, spec: &ImageSpec, keep: &Path) {
    let Ok(entries) = fs::read_dir(cache_dir) else {
        return;
    };
    let spec_text = format!("{spec:?}");
    for entry in entries.flatten() {
        let path = entry.path();
        if path == keep || path.extension().is_none_or(|e| e != "img") {
            continue;
        }
        if fs::read_to_string(path.with_extension("spec")).is_ok_and(|s| s == spec_text) {
            let _ = fs::remove_file(&path);
            let _ = fs::remove_file(path.with_extension("spec"));
            let _ = fs::remove_file(path.with_extension("count"));
        }
    }
}

/// Hash of everything that determines the image's bytes.
fn cache_key(spec: &ImageSpec) -> u64 {
    let mut hasher = DefaultHasher::new();
    spec.hash(&mut hasher);
    include_str!("guest_image.rs").hash(&mut hasher);
    // Every file under fs-rofs/src (the writer and format live in
    // subdirectories too).
    let mut sources = Vec::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../fs-rofs/src")];
    while let Some(dir) = dirs.pop() {
        for path in fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
        {
            if path.is_dir() {
                dirs.push(path);
            } else {
                sources.push(path);
            }
        }
    }
    sources.sort();
    for source in sources {
        source.file_name().hash(&mut hasher);
        fs::read(&source).unwrap_or_default().hash(&mut hasher);
    }
    hasher.finish()
}

/// A small, fast, deterministic generator (SplitMix64), so the content does
/// not depend on any crate's version.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }
}

/// `len` pseudo-random bytes determined by `seed`.
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    SplitMix64::new(seed).fill(&mut data);
    data
}

fn edge_content(seed: u64, size: usize) -> Vec<u8> {
    content(seed ^ ((size as u64) << 8) ^ 0xed9e, size)
}

/// File sizes around block boundaries (512 and 4096) and larger.
pub const EDGE_SIZES: &[usize] = &[
    0, 1, 2, 511, 512, 513, 1023, 1024, 1025, 4095, 4096, 4097, 8191, 8192, 8193, 65_535, 65_536,
    65_537, 131_075, 1_048_575, 1_048_576, 1_048_577, 3_145_733,
];

/// Collects the tree and the host-side facts while adding entries.
struct Generator {
    builder: ImageBuilder,
    /// `/crc32.list` lines, keyed by path (sorted output).
    crc_lines: std::collections::BTreeMap<String, (u32, u64)>,
    expect: Vec<String>,
}

impl Generator {
    fn file(&mut self, path: &str, data: Vec<u8>) -> Result<(), String> {
        self.crc_lines.insert(
            path.to_string(),
            (crc32fast::hash(&data), data.len() as u64),
        );
        self.builder
            .add_file(path, FileSource::Bytes(data), EntryMeta::default())
            .map_err(|e| format!("add {path}: {e}"))
    }

    fn dir(&mut self, path: &str) -> Result<(), String> {
        self.builder
            .add_dir(path, EntryMeta::default())
            .map_err(|e| format!("add dir {path}: {e}"))
    }

    fn symlink(&mut self, path: &str, target: &str) -> Result<(), String> {
        self.builder
            .add_symlink(path, target, EntryMeta::default())
            .map_err(|e| format!("add symlink {path}: {e}"))
    }

    fn hardlink(&mut self, path: &str, existing: &str) -> Result<(), String> {
        let facts = *self
            .crc_lines
            .get(existing)
            .ok_or_else(|| format!("hard link to unknown {existing}"))?;
        self.crc_lines.insert(path.to_string(), facts);
        self.builder
            .add_hardlink(path, existing)
            .map_err(|e| format!("add hard link {path}: {e}"))
    }
}

/// The in-guest suites run on a compressed v3 root: format v3, LZ4 in
/// 64 KiB clusters.
fn guest_builder() -> Result<ImageBuilder, String> {
    let mut builder = ImageBuilder::new(BuildOptions {
        format: Format::V3,
        ..BuildOptions::default()
    });
    builder.compress_lz4(65536).map_err(|e| e.to_string())?;
    Ok(builder)
}

/// Write the image for `spec` to `out_path`; returns the number of files
/// listed in `/crc32.list`. `scratch_dir` holds the big file's source while
/// the image is written.
pub fn build(spec: &ImageSpec, out_path: &Path, scratch_dir: &Path) -> Result<usize, String> {
    let mut generator = Generator {
        builder: guest_builder()?,
        crc_lines: Default::default(),
        expect: vec![
            "# generated by tests/src/guest_image.rs; read by init/src/selftest/".to_string(),
        ],
    };
    let g = &mut generator;
    let seed = spec.seed;
    // Mount points the kernel needs on a read-only root.
    g.dir("/dev")?;
    g.dir("/tmp")?;
    g.file("/hello.txt", b"hello from the guest image\n".to_vec())?;
    // /etc for the overlay suite (root=overlay): files to append to, patch
    // in the middle and rename. No /etc/fstab: the kernel would apply it.
    g.file("/etc/motd", b"welcome to the test image\n".to_vec())?;
    g.file(
        "/etc/hosts",
        b"127.0.0.1 localhost\n::1 localhost\n".to_vec(),
    )?;
    g.file("/etc/app/app.conf", content(seed ^ 0xc0f, 2000))?;
    g.file("/etc/app/defaults.conf", content(seed ^ 0xdef, 300))?;

    for &size in EDGE_SIZES {
        g.file(&format!("/sizes/s-{size}.bin"), edge_content(seed, size))?;
    }
    g.expect
        .push(format!("dir-count /sizes {}", EDGE_SIZES.len() + 1)); // + hard-third.bin below

    // Deep path.
    let mut deep = String::from("/deep");
    for level in 1..=spec.deep_levels {
        deep.push_str(&format!("/d{level:02}"));
    }
    let deep_file = format!("{deep}/leaf.txt");
    let leaf = content(seed ^ 0xdee9, 777);
    g.expect.push(format!("deep {deep_file} {}", leaf.len()));
    g.file(&deep_file, leaf)?;

    // Unusual but valid names.
    g.file(
        &format!("/names/{}", "n".repeat(255)),
        b"longest name\n".to_vec(),
    )?;
    g.file(
        "/names/ünïcødé-名前.txt",
        "utf-8 name\n".as_bytes().to_vec(),
    )?;
    g.file("/names/.hidden", b"dot file\n".to_vec())?;
    g.file("/names/a..b", b"two dots inside\n".to_vec())?;

    // Identical contents (the writer may store them once).
    let dup = content(seed ^ 0xd0d0, 100_000);
    g.file("/dup/a.bin", dup.clone())?;
    g.file("/dup/b.bin", dup)?;

    // Hard links: three names, one inode.
    g.file("/hard/orig.bin", content(seed ^ 0x4a4d, 5000))?;
    g.hardlink("/hard/second.bin", "/hard/orig.bin")?;
    g.hardlink("/sizes/hard-third.bin", "/hard/orig.bin")?;
    g.expect
        .push("hardlink 3 /hard/orig.bin /hard/second.bin /sizes/hard-third.bin".to_string());

    // Symlinks: (path, target, what it resolves to).
    let links = [
        ("/links/rel", "../sizes/s-4096.bin", "/sizes/s-4096.bin"),
        ("/links/abs", "/sizes/s-1.bin", "/sizes/s-1.bin"),
        ("/links/dir", "/deep/d01", "/deep/d01"),
        ("/links/dir-rel", "../deep/d01/d02", "/deep/d01/d02"),
        ("/links/chain1", "chain2", "/sizes/s-512.bin"),
        ("/links/chain2", "./chain3", "/sizes/s-512.bin"),
        (
            "/links/chain3",
            "/links/../sizes/s-512.bin",
            "/sizes/s-512.bin",
        ),
        ("/links/to-hard", "../hard/second.bin", "/hard/orig.bin"),
    ];
    for (path, target, resolved) in links {
        g.symlink(path, target)?;
        g.expect.push(format!("symlink {path} {target} {resolved}"));
    }
    g.symlink("/links/loop-a", "loop-b")?;
    g.symlink("/links/loop-b", "/links/loop-a")?;
    g.symlink("/links/self", "self")?;
    g.expect.push("loop /links/loop-a".to_string());
    g.expect.push("loop /links/self".to_string());
    g.symlink("/links/dangling", "/no/such/target")?;
    g.expect.push("dangling /links/dangling".to_string());

    // The big directory: mostly empty files (each data-bearing file takes at
    // least one block), every 100th with content.
    for i in 0..spec.many_entries {
        let data = if i % 100 == 0 {
            content(seed ^ u64::from(i) << 8 ^ 0x3a4e, 1 + (i as usize % 3000))
        } else {
            Vec::new()
        };
        g.file(&format!("/many/f{i:05}"), data)?;
    }
    g.expect
        .push(format!("dir-count /many {}", spec.many_entries));

    // The big file: streamed from a scratch file, never held in memory.
    let big_src = scratch_dir.join(format!("big-src.{}.tmp", std::process::id()));
    let big_crc = write_big_source(&big_src, spec.big_bytes, big_seed(spec))
        .map_err(|e| format!("write {}: {e}", big_src.display()))?;
    g.crc_lines
        .insert("/big.bin".to_string(), (big_crc, spec.big_bytes));
    g.builder
        .add_file(
            "/big.bin",
            FileSource::Path(big_src.clone()),
            EntryMeta::default(),
        )
        .map_err(|e| format!("add /big.bin: {e}"))?;

    // Byte ranges at unaligned offsets, CRCs computed from the generators.
    let big = spec.big_bytes;
    let ranges = [
        (0, 1),
        (1, 4095),
        (4095, 2),
        (4096 * 3 - 7, 8192 + 14),
        (big / 2 + 3, 1 << 20),
        (big - 5, 100),
    ];
    for (offset, len) in ranges {
        let (got, crc) =
            range_crc(&big_src, offset, len).map_err(|e| format!("range of big source: {e}"))?;
        g.expect
            .push(format!("range /big.bin {offset} {len} {got} {crc:08x}"));
    }
    let edge = edge_content(seed, 1_048_577);
    for (offset, len) in [(511u64, 3usize), (1_048_576, 4), (4097, 70_000)] {
        let bytes =
            &edge[(offset as usize).min(edge.len())..(offset as usize + len).min(edge.len())];
        g.expect.push(format!(
            "range /sizes/s-1048577.bin {offset} {len} {} {:08x}",
            bytes.len(),
            crc32fast::hash(bytes)
        ));
    }

    let expect = g.expect.join("\n") + "\n";
    g.crc_lines.insert(
        "/selftest.expect".to_string(),
        (crc32fast::hash(expect.as_bytes()), expect.len() as u64),
    );
    let mut crc_list = String::new();
    for (path, (crc, size)) in &g.crc_lines {
        crc_list.push_str(&format!("{crc:08x} {size} {path}\n"));
    }
    let listed = g.crc_lines.len();
    g.builder
        .add_file(
            "/crc32.list",
            FileSource::Bytes(crc_list.into_bytes()),
            EntryMeta::default(),
        )
        .map_err(|e| format!("add /crc32.list: {e}"))?;
    g.builder
        .add_file(
            "/selftest.expect",
            FileSource::Bytes(expect.into_bytes()),
            EntryMeta::default(),
        )
        .map_err(|e| format!("add /selftest.expect: {e}"))?;

    let result = write_image(generator.builder, out_path);
    let _ = fs::remove_file(&big_src);
    result?;
    Ok(listed)
}

fn write_image(builder: ImageBuilder, out_path: &Path) -> Result<(), String> {
    let file = File::create(out_path).map_err(|e| format!("create {}: {e}", out_path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    builder
        .write(&mut out, &mut |_, _| {})
        .map_err(|e| format!("write image: {e}"))?;
    let mut file = out.into_inner().map_err(|e| format!("flush image: {e}"))?;
    // A whole number of 4 KiB blocks, so every machine sees the same size.
    let len = file.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    let padded = len.next_multiple_of(4096);
    file.set_len(padded).map_err(|e| e.to_string())?;
    file.sync_all().map_err(|e| e.to_string())
}

fn big_seed(spec: &ImageSpec) -> u64 {
    spec.seed ^ 0xb16
}

/// The first `len` bytes of `/big.bin` for `spec` (to find its data in an image).
pub fn big_file_prefix(spec: &ImageSpec, len: usize) -> Vec<u8> {
    content(big_seed(spec), len.min(spec.big_bytes as usize))
}

fn write_big_source(path: &Path, len: u64, seed: u64) -> io::Result<u32> {
    let mut out = BufWriter::new(File::create(path)?);
    let mut rng = SplitMix64::new(seed);
    let mut chunk = vec![0u8; 1 << 20];
    let mut crc = crc32fast::Hasher::new();
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        rng.fill(&mut chunk[..n]);
        crc.update(&chunk[..n]);
        out.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    Ok(crc.finalize())
}

/// (bytes that exist, CRC32 of them) for `len` bytes at `offset` of a file.
fn range_crc(path: &Path, offset: u64, len: usize) -> io::Result<(usize, u32)> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(len);
    file.take(len as u64).read_to_end(&mut buf)?;
    Ok((buf.len(), crc32fast::hash(&buf)))
}

/// Bytes of the metadata region of a v2 image (offset, length), read from the
/// superblock: used to corrupt it on purpose.
pub fn metadata_region(image: &[u8]) -> Option<(u64, u64)> {
    let field = |at: usize| {
        image
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    };
    // SuperBlock layout (fs-rofs/src/format.rs): meta_offset at byte 56, meta_len at 64.
    Some((field(56)?, field(64)?))
}

/// A copy of `image` with one byte of its metadata flipped: in the middle
/// of the metadata region (v2), or in the root inode's block (v3, whose
/// mount reads only that block), so the mount fails.
pub fn corrupt_metadata(image: &Path, out: &Path) -> Result<(), String> {
    let mut bytes = fs::read(image).map_err(|e| format!("read {}: {e}", image.display()))?;
    if bytes.get(8) == Some(&3) {
        // v3 superblock: root_ino at byte 64; inode n is at byte 8n.
        let root = bytes
            .get(64..72)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            .ok_or("image too short for a superblock")?;
        let at = (root * 8 / 4096 * 4096 + 100) as usize;
        let byte = bytes.get_mut(at).ok_or("root inode outside the image")?;
        *byte ^= 0x5a;
        return fs::write(out, bytes).map_err(|e| format!("write {}: {e}", out.display()));
    }
    let (offset, len) = metadata_region(&bytes).ok_or("image too short for a superblock")?;
    let at = offset
        .checked_add(len / 2)
        .filter(|&at| at < bytes.len() as u64 && len > 0)
        .ok_or("bad metadata region")?;
    bytes[at as usize] ^= 0x5a;
    fs::write(out, bytes).map_err(|e| format!("write {}: {e}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use drivers::{BlockDevice, RamDisk};
    use fs_rofs::RofsFs;
    use vfs::{Clock, FixedClock, Vfs};

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("guest-image-test-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    fn mount(bytes: Vec<u8>) -> Result<Vfs, vfs::Errno> {
        let disk: Arc<dyn BlockDevice> = Arc::new(RamDisk::from_bytes(512, bytes));
        let fs = RofsFs::mount(disk, "")?;
        let clock: Arc<dyn Clock> = Arc::new(FixedClock::default());
        let vfs = Vfs::new(clock);
        vfs.mount_fs(fs, "ramdisk", "/", vfs::MountFlags::RDONLY, "")?;
        Ok(vfs)
    }

    #[test]
    fn generator_is_deterministic_and_crc_list_matches_the_reader() {
        // Its own folder: the tests run in parallel and each removes its own.
        let dir = scratch().join("determinism");
        fs::create_dir_all(&dir).expect("dir");
        let spec = ImageSpec::small();
        let (a, b) = (dir.join("a.img"), dir.join("b.img"));
        let listed = build(&spec, &a, &dir).expect("build a");
        build(&spec, &b, &dir).expect("build b");
        let bytes = fs::read(&a).expect("read a");
        assert_eq!(
            bytes,
            fs::read(&b).expect("read b"),
            "same spec, same bytes"
        );
        assert_eq!(bytes.len() % 4096, 0);

        // Every line of /crc32.list matches what the ROFS reader returns.
        let vfs = mount(bytes).expect("mount the generated image");
        let list =
            String::from_utf8(vfs.read_file("/crc32.list").expect("crc32.list")).expect("utf-8");
        assert_eq!(list.lines().count(), listed);
        for line in list.lines() {
            let words: Vec<&str> = line.split(' ').collect();
            let data = vfs
                .read_file(words[2])
                .unwrap_or_else(|e| panic!("read {}: {e}", words[2]));
            assert_eq!(
                format!("{:08x}", crc32fast::hash(&data)),
                words[0],
                "{line}"
            );
            assert_eq!(data.len().to_string(), words[1], "{line}");
        }
        assert_eq!(
            vfs.read_dir("/many").expect("many").len(),
            spec.many_entries as usize
        );
        assert_eq!(vfs.stat("/big.bin").expect("big").size, spec.big_bytes);
        let expect =
            String::from_utf8(vfs.read_file("/selftest.expect").expect("expect")).expect("utf-8");
        assert!(expect.contains("loop /links/loop-a"));
        assert_eq!(vfs.stat("/links/loop-a").unwrap_err(), vfs::Errno::ELOOP);
        assert_eq!(vfs.stat("/hard/second.bin").expect("hard").nlink, 3);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn range_lines_match_the_file_bytes() {
        let dir = scratch().join("ranges");
        fs::create_dir_all(&dir).expect("dir");
        let img = dir.join("r.img");
        build(&ImageSpec::small(), &img, &dir).expect("build");
        let vfs = mount(fs::read(&img).expect("read")).expect("mount");
        let big = vfs.read_file("/big.bin").expect("big");
        let expect =
            String::from_utf8(vfs.read_file("/selftest.expect").expect("expect")).expect("utf-8");
        let mut checked = 0;
        for line in expect.lines().filter(|l| l.starts_with("range /big.bin ")) {
            let w: Vec<&str> = line.split(' ').collect();
            let (offset, len): (usize, usize) =
                (w[2].parse().expect("offset"), w[3].parse().expect("len"));
            let bytes = &big[offset.min(big.len())..(offset + len).min(big.len())];
            assert_eq!(w[4], bytes.len().to_string(), "{line}");
            assert_eq!(w[5], format!("{:08x}", crc32fast::hash(bytes)), "{line}");
            checked += 1;
        }
        assert!(checked >= 5);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn cache_reuses_the_image_and_facts_match_the_bytes() {
        let dir = scratch().join("cache");
        let first = build_cached(&ImageSpec::small(), &dir).expect("first");
        let modified = fs::metadata(&first.path)
            .and_then(|m| m.modified())
            .expect("mtime");
        let second = build_cached(&ImageSpec::small(), &dir).expect("second");
        assert_eq!(first.path, second.path);
        assert_eq!(
            modified,
            fs::metadata(&second.path)
                .and_then(|m| m.modified())
                .expect("mtime")
        );
        let bytes = fs::read(&first.path).expect("read");
        assert_eq!(first.size, bytes.len() as u64);
        assert_eq!(&first.head[..], &bytes[..16]);
        assert_eq!(first.crc_from_1, crc32fast::hash(&bytes[1..65_537]));
        assert!(
            first
                .selftest_cmdline_word()
                .starts_with(&format!("selftest.disk={}:", bytes.len()))
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn corrupted_metadata_fails_the_mount() {
        let dir = scratch().join("corrupt");
        fs::create_dir_all(&dir).expect("dir");
        let (good, bad) = (dir.join("good.img"), dir.join("bad.img"));
        build(&ImageSpec::small(), &good, &dir).expect("build");
        corrupt_metadata(&good, &bad).expect("corrupt");
        assert!(mount(fs::read(&good).expect("read")).is_ok());
        assert!(
            mount(fs::read(&bad).expect("read")).is_err(),
            "a flipped metadata byte must fail the mount"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
