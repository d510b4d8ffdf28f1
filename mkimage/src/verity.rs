//! dm-verity for images: `build --verity`, the `verity` subcommand, the
//! tree check of `verify`, the tree lines of `info`, and reading through
//! the verifying device with `--root-hash HEX`.
//!
//! Trees are built by `drivers::verity` from the image streamed in large
//! reads, never held whole; only the digests (1/128 of the data) stay in
//! memory.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use drivers::BlockDevice;
use drivers::verity::{
    BLOCK, Digest, HashTree, Hex, MAX_SALT, TreeBuilder, VerityDevice, VerityError, decode_hex,
    default_salt, locate, parse_root_hash,
};

use crate::CliError;

/// Read size while hashing an image and while checking one.
const CHUNK: usize = 1 << 20;
/// Bad blocks named one by one in `verify`'s report before it only counts.
const LISTED_BAD_BLOCKS: usize = 10;

/// How to make a tree (for `build --verity` and `verity`).
#[derive(Args, Clone, Debug, Default)]
pub struct TreeOptions {
    /// Salt as hex (up to 256 bytes), or - for none. Default: derived from
    /// the image, so builds stay reproducible.
    #[arg(long, value_name = "HEX")]
    pub salt: Option<String>,
    /// Also write the root hash (hex and a newline) to this file.
    #[arg(long, value_name = "FILE")]
    pub root_hash_file: Option<PathBuf>,
}

pub fn parse_salt(text: &str) -> Result<Vec<u8>, String> {
    if text == "-" {
        return Ok(Vec::new());
    }
    let mut salt = [0u8; MAX_SALT];
    match decode_hex(text, &mut salt) {
        Some(n) => Ok(salt[..n].to_vec()),
        None => Err(format!(
            "--salt '{text}': expected up to 512 hex digits, or - for no salt"
        )),
    }
}

/// `--root-hash HEX` as 32 bytes.
pub fn parse_root(text: &str) -> Result<Digest, CliError> {
    parse_root_hash(text).map_err(|e| CliError::msg(format!("--root-hash '{text}': {e}")))
}

/// Hash the first `data_bytes` of `path` (zero-padded to 4096) and make the
/// tree, then cut the file to the padded data and append the superblock,
/// tree and locator. Prints `root hash: HEX` and writes the root hash file.
fn append(path: &Path, data_bytes: u64, opts: &TreeOptions) -> Result<HashTree, String> {
    let name = path.display();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("cannot open '{name}': {e}"))?;
    if data_bytes == 0 {
        return Err(format!(
            "'{name}' is empty: nothing to build a hash tree over"
        ));
    }
    let salt = match &opts.salt {
        Some(text) => parse_salt(text)?,
        None => {
            let mut first = vec![0u8; BLOCK.min(data_bytes as usize)];
            read_exact_at(&file, &mut first, 0).map_err(|e| format!("reading '{name}': {e}"))?;
            first.resize(BLOCK, 0);
            default_salt(data_bytes.next_multiple_of(BLOCK as u64), &first).to_vec()
        }
    };
    let mut builder = TreeBuilder::new(&salt).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; CHUNK];
    let mut offset = 0u64;
    while offset < data_bytes {
        let n = (data_bytes - offset).min(CHUNK as u64) as usize;
        read_exact_at(&file, &mut buf[..n], offset)
            .map_err(|e| format!("reading '{name}': {e}"))?;
        builder
            .update(&buf[..n])
            .map_err(|e| format!("'{name}': {e}"))?;
        offset += n as u64;
    }
    let tree = builder.finish().map_err(|e| format!("'{name}': {e}"))?;
    let write_err = |e: std::io::Error| format!("writing '{name}': {e}");
    file.set_len(tree.data_bytes()).map_err(write_err)?;
    let mut out = BufWriter::with_capacity(CHUNK, &file);
    out.seek(SeekFrom::Start(tree.data_bytes()))
        .map_err(write_err)?;
    tree.write_appendix(&mut |part: &[u8]| out.write_all(part))
        .map_err(write_err)?;
    out.flush().map_err(write_err)?;
    drop(out);
    announce(&tree.root_hash(), opts)?;
    Ok(tree)
}

fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    file.read_exact_at(buf, offset)
}

fn announce(root: &Digest, opts: &TreeOptions) -> Result<(), String> {
    println!("root hash: {}", Hex(root));
    if let Some(path) = &opts.root_hash_file {
        std::fs::write(path, format!("{}\n", Hex(root)))
            .map_err(|e| format!("cannot write '{}': {e}", path.display()))?;
    }
    Ok(())
}

/// `build --verity`: the tree for the image just written to `partial`.
pub fn append_to_new_image(partial: &Path, opts: &TreeOptions) -> Result<HashTree, String> {
    let len = std::fs::metadata(partial)
        .map_err(|e| format!("'{}': {e}", partial.display()))?
        .len();
    append(partial, len, opts)
}

/// `mkimage verity IMAGE`: add a tree to an existing image (of any
/// filesystem). One that already has a tree is refused unless `force`,
/// which replaces the tree over the same data.
pub fn add_tree(image: &Path, opts: &TreeOptions, force: bool) -> Result<(), CliError> {
    let name = image.display();
    let len = std::fs::metadata(image)
        .map_err(|e| CliError::msg(format!("cannot open image '{name}': {e}")))?
        .len();
    let disk = open(image)?;
    let data_bytes = match locate(disk.as_ref()) {
        Err(VerityError::NoTree) => len,
        Ok(info) if force => info.data_bytes,
        Ok(info) => {
            return Err(CliError::msg(format!(
                "{name}: already has a dm-verity tree (root hash {}); --force replaces it",
                Hex(&info.stored_root)
            )));
        }
        Err(e) => {
            return Err(CliError::msg(format!(
                "{name}: has a damaged dm-verity tree ({e}); cannot tell where its data ends"
            )));
        }
    };
    drop(disk);
    match append(image, data_bytes, opts) {
        Ok(tree) => {
            eprintln!(
                "mkimage: added a dm-verity tree to {name} ({} data blocks, hash offset {}, {} bytes appended)",
                tree.geometry().data_blocks,
                tree.data_bytes(),
                tree.appendix_bytes()
            );
            Ok(())
        }
        Err(e) => {
            // Put the image back as it was (without a tree) where possible.
            if let Ok(file) = OpenOptions::new().write(true).open(image) {
                let _ = file.set_len(data_bytes.min(len));
            }
            Err(CliError::Message(e))
        }
    }
}

fn open(image: &Path) -> Result<Arc<dyn BlockDevice>, CliError> {
    let disk = drivers::FileDisk::open(image, 512)
        .map_err(|e| CliError::msg(format!("cannot open image '{}': {e}", image.display())))?;
    Ok(Arc::new(disk))
}

/// The device the filesystem is read from: the image itself, or with
/// `--root-hash` its data area through the verifying device.
pub fn data_device(
    image: &Path,
    disk: Arc<dyn BlockDevice>,
    root_hash: Option<&str>,
) -> Result<Arc<dyn BlockDevice>, CliError> {
    let Some(text) = root_hash else {
        return Ok(disk);
    };
    let root = parse_root(text)?;
    let device = VerityDevice::open(disk, root)
        .map_err(|e| CliError::msg(format!("{}: {e}", image.display())))?;
    Ok(Arc::new(device))
}

/// `info` lines for the tree, if the image has one (or a damaged one).
pub fn info_lines(disk: &dyn BlockDevice) -> String {
    let mut s = String::new();
    let mut line = |key: &str, value: String| {
        let _ = writeln!(s, "{key:<16}{value}");
    };
    match locate(disk) {
        Err(VerityError::NoTree) => line("verity:", "none".to_string()),
        Err(e) => line("verity:", format!("damaged: {e}")),
        Ok(info) => {
            line(
                "verity:",
                format!(
                    "dm-verity, sha256, {} data blocks of 4096, {} levels",
                    info.data_blocks(),
                    info.levels()
                ),
            );
            line("hash offset:", info.hash_offset.to_string());
            line(
                "hash bytes:",
                format!(
                    "{} (superblock block and tree; tree {} bytes)",
                    info.hash_area_bytes(),
                    info.tree_bytes
                ),
            );
            let salt = info.salt.as_bytes();
            line(
                "salt:",
                if salt.is_empty() {
                    "-".to_string()
                } else {
                    Hex(salt).to_string()
                },
            );
            line("uuid:", uuid_text(&info.uuid));
            line("root hash:", Hex(&info.stored_root).to_string());
        }
    }
    s
}

fn uuid_text(uuid: &[u8; 16]) -> String {
    let hex = Hex(uuid).to_string();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// What `verify` found about the tree.
pub enum TreeCheck {
    /// No tree (and none was asked for).
    None,
    /// Every data block and every hash block matched.
    Good {
        root: Digest,
        data_blocks: u64,
        hash_blocks: u64,
    },
    /// Problems, one line each.
    Bad(Vec<String>),
}

/// Check the whole tree: every data block read through the verifying
/// device, which checks every hash block on the way. Without `root_hash`
/// the tree is checked against its own top block (consistency, not
/// authenticity) and that root hash is printed for comparison.
pub fn check(disk: &Arc<dyn BlockDevice>, root_hash: Option<&str>) -> Result<TreeCheck, CliError> {
    let given = root_hash.map(parse_root).transpose()?;
    let info = match locate(disk.as_ref()) {
        Err(VerityError::NoTree) if given.is_none() => return Ok(TreeCheck::None),
        Err(e) => return Ok(TreeCheck::Bad(vec![format!("dm-verity: {e}")])),
        Ok(info) => info,
    };
    let root = given.unwrap_or(info.stored_root);
    let device = match VerityDevice::open(disk.clone(), root) {
        Ok(device) => device,
        Err(e) => return Ok(TreeCheck::Bad(vec![format!("dm-verity: {e}")])),
    };
    let mut bad = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    let per_chunk = (CHUNK / BLOCK) as u64;
    let total = device.num_blocks();
    let mut start = 0u64;
    while start < total {
        let count = (total - start).min(per_chunk);
        let chunk = &mut buf[..count as usize * BLOCK];
        if device.read_blocks(start, chunk).is_err() {
            // Find the blocks that fail, one by one.
            for block in start..start + count {
                if let Err(e) = device.read_blocks(block, &mut chunk[..BLOCK]) {
                    bad.push((block, e));
                }
            }
        }
        start += count;
    }
    if bad.is_empty() {
        return Ok(TreeCheck::Good {
            root,
            data_blocks: total,
            hash_blocks: info.geometry.tree_blocks,
        });
    }
    let mut problems: Vec<String> = bad
        .iter()
        .take(LISTED_BAD_BLOCKS)
        .map(|(block, e)| {
            format!(
                "dm-verity: data block {block} (bytes {}..{}): {e}",
                block * BLOCK as u64,
                (block + 1) * BLOCK as u64
            )
        })
        .collect();
    if bad.len() > LISTED_BAD_BLOCKS {
        problems.push(format!(
            "dm-verity: {} more data blocks fail verification",
            bad.len() - LISTED_BAD_BLOCKS
        ));
    }
    Ok(TreeCheck::Bad(problems))
}
