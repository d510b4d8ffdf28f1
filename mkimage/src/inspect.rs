//! `ls`, `cat`, `extract`, `info` and `verify`: every read of an image goes
//! through the same no_std reader the guest uses (`fs_rofs`), over a
//! [`FileDisk`], so the host tool checks exactly what the kernel will see.

use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use drivers::{BlockDevice, FileDisk};
use fs_rofs::RofsFs;
use vfs::{DirEntry, FileSystem, FileType, Inode, Stat};

use crate::CliError;

/// Sector size the image is read with; every image is a multiple of it.
const SECTOR: usize = 512;
/// Read size for file data: large requests, few calls.
const COPY_CHUNK: usize = 1 << 20;
/// Symlinks followed while resolving one path before giving up (ELOOP).
const MAX_SYMLINKS: usize = 40;

fn open_disk(image: &Path) -> Result<Arc<dyn BlockDevice>, CliError> {
    let disk = FileDisk::open(image, SECTOR)
        .map_err(|e| CliError::msg(format!("cannot open image '{}': {e}", image.display())))?;
    Ok(Arc::new(disk))
}

/// Mount `image` with the ROFS reader (through the verifying device when a
/// root hash is given); a refused image is explained with the reader's own
/// diagnosis.
pub(crate) fn mount(image: &Path, root_hash: Option<&str>) -> Result<Arc<RofsFs>, CliError> {
    let disk = crate::verity::data_device(image, open_disk(image)?, root_hash)?;
    RofsFs::mount(disk.clone(), "").map_err(|errno| {
        let why = match fs_rofs::inspect(disk.as_ref()) {
            Err(e) => e.to_string(),
            Ok(_) => errno.to_string(),
        };
        CliError::msg(format!("{}: {why}", image.display()))
    })
}

fn errno_msg(image: &Path, path: &str, e: vfs::Errno) -> CliError {
    CliError::msg(format!("{}: {path}: {e}", image.display()))
}

/// Resolve an absolute image `path`, following symlinks in every component
/// and, when `follow_last`, in the last one.
fn resolve(
    fs: &RofsFs,
    image: &Path,
    path: &str,
    follow_last: bool,
) -> Result<Arc<dyn Inode>, CliError> {
    let root = fs.root().map_err(|e| errno_msg(image, "/", e))?;
    let fail = |e: vfs::Errno| errno_msg(image, path, e);
    // Components still to walk, in reverse, so a symlink target can be pushed.
    let mut todo: Vec<String> = path
        .split('/')
        .rev()
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let mut stack: Vec<Arc<dyn Inode>> = vec![root.clone()];
    let mut links = 0;
    while let Some(name) = todo.pop() {
        let current = stack.last().cloned().unwrap_or_else(|| root.clone());
        match name.as_str() {
            "." => continue,
            ".." => {
                if stack.len() > 1 {
                    stack.pop();
                }
                continue;
            }
            _ => {}
        }
        if current.file_type() != FileType::Directory {
            return Err(fail(vfs::Errno::ENOTDIR));
        }
        let child = current.lookup(&name).map_err(fail)?;
        let last = todo.is_empty();
        if child.file_type() == FileType::Symlink && (!last || follow_last) {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(fail(vfs::Errno::ELOOP));
            }
            let target = child.readlink().map_err(fail)?;
            if target.starts_with('/') {
                stack.truncate(1);
            }
            todo.extend(
                target
                    .split('/')
                    .rev()
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            );
            continue;
        }
        stack.push(child);
    }
    Ok(stack.pop().unwrap_or(root))
}

/// All entries of a directory, sorted by name (v1 directories are not).
fn read_dir(dir: &Arc<dyn Inode>) -> Result<Vec<DirEntry>, vfs::Errno> {
    let mut entries = Vec::new();
    dir.readdir(0, &mut |entry, _| {
        entries.push(entry.to_entry());
        true
    })?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// A name from the image that is safe to use as one path component.
fn check_name(image: &Path, dir_path: &str, name: &str) -> Result<(), CliError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(CliError::msg(format!(
            "{}: corrupt image: directory '{dir_path}' has an invalid entry name {name:?}",
            image.display()
        )));
    }
    Ok(())
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// How `ls` prints an entry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Listing {
    Names,
    Long,
    /// Long, with each file's stored (compressed) bytes after its size.
    LongStored,
}

pub fn ls(
    image: &Path,
    root_hash: Option<&str>,
    path: &str,
    recursive: bool,
    long: bool,
) -> Result<(), CliError> {
    let fs = mount(image, root_hash)?;
    let long = match (long, fs.compressed()) {
        (false, _) => Listing::Names,
        (true, false) => Listing::Long,
        (true, true) => Listing::LongStored,
    };
    let path = normalize(path);
    let inode = resolve(&fs, image, &path, false)?;
    let out = io::stdout();
    let mut out = io::BufWriter::new(out.lock());
    if inode.file_type() != FileType::Directory {
        print_entry(&mut out, image, &path, &path, &inode, long)?;
    } else if recursive {
        let mut visited = HashSet::new();
        visited.insert(inode.ino());
        print_entry(&mut out, image, &path, &path, &inode, long)?;
        ls_tree(&mut out, image, &path, &inode, long, &mut visited)?;
    } else {
        for entry in read_dir(&inode).map_err(|e| errno_msg(image, &path, e))? {
            check_name(image, &path, &entry.name)?;
            let child_path = join(&path, &entry.name);
            let child = inode
                .lookup(&entry.name)
                .map_err(|e| errno_msg(image, &child_path, e))?;
            print_entry(&mut out, image, &child_path, &entry.name, &child, long)?;
        }
    }
    out.flush().map_err(CliError::from_stdout)
}

fn ls_tree(
    out: &mut dyn Write,
    image: &Path,
    path: &str,
    dir: &Arc<dyn Inode>,
    long: Listing,
    visited: &mut HashSet<u64>,
) -> Result<(), CliError> {
    for entry in read_dir(dir).map_err(|e| errno_msg(image, path, e))? {
        check_name(image, path, &entry.name)?;
        let child_path = join(path, &entry.name);
        let child = dir
            .lookup(&entry.name)
            .map_err(|e| errno_msg(image, &child_path, e))?;
        print_entry(out, image, &child_path, &child_path, &child, long)?;
        if child.file_type() == FileType::Directory {
            if !visited.insert(child.ino()) {
                return Err(CliError::msg(format!(
                    "{}: corrupt image: directory '{child_path}' (inode {}) appears twice",
                    image.display(),
                    child.ino()
                )));
            }
            ls_tree(out, image, &child_path, &child, long, visited)?;
        }
    }
    Ok(())
}

fn print_entry(
    out: &mut dyn Write,
    image: &Path,
    path: &str,
    shown: &str,
    inode: &Arc<dyn Inode>,
    long: Listing,
) -> Result<(), CliError> {
    if long == Listing::Names {
        return writeln!(out, "{shown}").map_err(CliError::from_stdout);
    }
    let stat = inode.getattr().map_err(|e| errno_msg(image, path, e))?;
    let link = if inode.file_type() == FileType::Symlink {
        let target = inode.readlink().map_err(|e| errno_msg(image, path, e))?;
        format!(" -> {target}")
    } else {
        String::new()
    };
    // Compressed images: the bytes a file takes in the image, beside its size.
    let stored = match long {
        Listing::LongStored => format!(" {:>10}", stat.blocks * 512),
        _ => String::new(),
    };
    writeln!(
        out,
        "{} {:>3} {:>5} {:>5} {:>10}{stored} {} {shown}{link}",
        statfmt::mode_string(stat.mode),
        stat.nlink,
        stat.uid,
        stat.gid,
        stat.size,
        statfmt::UtcTime::from_unix(stat.mtime.sec),
    )
    .map_err(CliError::from_stdout)
}

fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

pub fn cat(image: &Path, root_hash: Option<&str>, path: &str) -> Result<(), CliError> {
    let fs = mount(image, root_hash)?;
    let path = normalize(path);
    let inode = resolve(&fs, image, &path, true)?;
    if inode.file_type() != FileType::Regular {
        return Err(errno_msg(image, &path, inode.not_a_file()));
    }
    let out = io::stdout();
    let mut out = out.lock();
    copy_out(
        &inode,
        &mut out,
        |e| errno_msg(image, &path, e),
        CliError::from_stdout,
    )?;
    out.flush().map_err(CliError::from_stdout)
}

/// Stream a file's data into `out` in large chunks.
fn copy_out(
    inode: &Arc<dyn Inode>,
    out: &mut dyn Write,
    read_err: impl Fn(vfs::Errno) -> CliError,
    write_err: impl Fn(io::Error) -> CliError,
) -> Result<u64, CliError> {
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut offset = 0u64;
    loop {
        let n = inode.read_at(offset, &mut buf).map_err(&read_err)?;
        if n == 0 {
            return Ok(offset);
        }
        let chunk = buf.get(..n).ok_or_else(|| read_err(vfs::Errno::EIO))?;
        out.write_all(chunk).map_err(&write_err)?;
        offset += n as u64;
    }
}

/// State of one extraction.
struct Extractor<'a> {
    image: &'a Path,
    /// Host path of the first name of each multiply-linked file.
    linked: HashMap<u64, PathBuf>,
    visited: HashSet<u64>,
    /// Directories get their mode and mtime after their contents are written.
    dir_fixups: Vec<(PathBuf, Stat)>,
}

/// Extract the whole image into `dest`. An image whose directories hold
/// names no host directory can (v1 allows two entries with one name, and
/// names that read the same once decoded) is refused before anything is
/// written, with one line per clash.
pub fn extract(image: &Path, root_hash: Option<&str>, dest: &Path) -> Result<(), CliError> {
    let fs = mount(image, root_hash)?;
    refuse_name_clashes(image)?;
    let root = fs.root().map_err(|e| errno_msg(image, "/", e))?;
    match fs::create_dir(dest) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dest.is_dir() => {}
        Err(e) => {
            return Err(CliError::msg(format!(
                "cannot create '{}': {e}",
                dest.display()
            )));
        }
    }
    let mut ex = Extractor {
        image,
        linked: HashMap::new(),
        visited: HashSet::from([root.ino()]),
        dir_fixups: Vec::new(),
    };
    ex.extract_dir(&root, "/", dest)?;
    if let Ok(stat) = root.getattr() {
        ex.dir_fixups.push((dest.to_path_buf(), stat));
    }
    // Innermost first, so a read-only directory is fixed after its children.
    for (path, stat) in ex.dir_fixups.iter().rev() {
        set_mode_and_time(path, stat).map_err(|e| host_err(path, e))?;
    }
    Ok(())
}

fn refuse_name_clashes(image: &Path) -> Result<(), CliError> {
    let info = fs_rofs::inspect(open_disk(image)?.as_ref())
        .map_err(|e| CliError::msg(format!("{}: {e}", image.display())))?;
    if info.name_clashes.is_empty() {
        return Ok(());
    }
    let mut message = format!(
        "{}: cannot extract: {} name clash(es), nothing written",
        image.display(),
        info.name_clashes.len()
    );
    for clash in &info.name_clashes {
        message.push_str(&format!("\n  {clash}"));
    }
    Err(CliError::msg(message))
}

fn host_err(path: &Path, e: io::Error) -> CliError {
    CliError::msg(format!("'{}': {e}", path.display()))
}

fn set_mode_and_time(path: &Path, stat: &Stat) -> io::Result<()> {
    crate::restore::restore(path, stat, false, crate::restore::restores_owners())
}

impl Extractor<'_> {
    fn extract_dir(
        &mut self,
        dir: &Arc<dyn Inode>,
        path: &str,
        host: &Path,
    ) -> Result<(), CliError> {
        let image = self.image;
        for entry in read_dir(dir).map_err(|e| errno_msg(image, path, e))? {
            check_name(image, path, &entry.name)?;
            let child_path = join(path, &entry.name);
            let child_host = host.join(&entry.name);
            let child = dir
                .lookup(&entry.name)
                .map_err(|e| errno_msg(image, &child_path, e))?;
            let stat = child
                .getattr()
                .map_err(|e| errno_msg(image, &child_path, e))?;
            match child.file_type() {
                FileType::Directory => {
                    if !self.visited.insert(child.ino()) {
                        return Err(CliError::msg(format!(
                            "{}: corrupt image: directory '{child_path}' (inode {}) appears twice",
                            image.display(),
                            child.ino()
                        )));
                    }
                    // create_dir fails on anything already there, so a
                    // symlink can never redirect what follows.
                    fs::create_dir(&child_host).map_err(|e| host_err(&child_host, e))?;
                    self.extract_dir(&child, &child_path, &child_host)?;
                    self.dir_fixups.push((child_host, stat));
                }
                FileType::Symlink => {
                    let target = child
                        .readlink()
                        .map_err(|e| errno_msg(image, &child_path, e))?;
                    std::os::unix::fs::symlink(&target, &child_host)
                        .map_err(|e| host_err(&child_host, e))?;
                    crate::restore::restore(
                        &child_host,
                        &stat,
                        true,
                        crate::restore::restores_owners(),
                    )
                    .map_err(|e| host_err(&child_host, e))?;
                }
                FileType::Regular => {
                    if stat.nlink > 1 {
                        if let Some(first) = self.linked.get(&child.ino()) {
                            fs::hard_link(first, &child_host)
                                .map_err(|e| host_err(&child_host, e))?;
                            continue;
                        }
                        self.linked.insert(child.ino(), child_host.clone());
                    }
                    // O_CREAT|O_EXCL fails on anything already there, even
                    // a symlink, so nothing is written through one.
                    let mut file = OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&child_host)
                        .map_err(|e| host_err(&child_host, e))?;
                    let written = copy_out(
                        &child,
                        &mut file,
                        |e| errno_msg(image, &child_path, e),
                        |e| host_err(&child_host, e),
                    )?;
                    if written != stat.size {
                        return Err(CliError::msg(format!(
                            "{}: {child_path}: read {written} bytes of {}",
                            image.display(),
                            stat.size
                        )));
                    }
                    drop(file);
                    set_mode_and_time(&child_host, &stat).map_err(|e| host_err(&child_host, e))?;
                }
                other => {
                    return Err(CliError::msg(format!(
                        "{}: {child_path}: cannot extract a {other:?}",
                        image.display()
                    )));
                }
            }
        }
        Ok(())
    }
}

pub fn info(image: &Path) -> Result<(), CliError> {
    let disk = open_disk(image)?;
    let info = fs_rofs::inspect(disk.as_ref())
        .map_err(|e| CliError::msg(format!("{}: {e}", image.display())))?;
    let mut out = io::stdout().lock();
    write!(out, "{}", format_info(&info)).map_err(CliError::from_stdout)?;
    if info.incompat & fs_rofs::format::v3::V3_INCOMPAT_LZ4 != 0 {
        // Per file class, through the reader (stored bytes per file).
        let fs = mount(image, None)?;
        write!(out, "{}", crate::classes::lines(&fs)).map_err(CliError::from_stdout)?;
    }
    write!(out, "{}", crate::verity::info_lines(disk.as_ref())).map_err(CliError::from_stdout)
}

/// `key: value` lines, one per superblock fact.
fn format_info(info: &fs_rofs::ImageInfo) -> String {
    let crc = |c: Option<u32>| c.map_or_else(|| "-".to_string(), |c| format!("{c:08x}"));
    let mut s = String::new();
    let mut line = |key: &str, value: String| s.push_str(&format!("{key:<16}{value}\n"));
    line("format:", format!("v{}", info.version));
    line("block size:", info.block_size.to_string());
    line(
        "features:",
        format!(
            "compat {:#x}, incompat {:#x}, ro_compat {:#x}",
            info.compat, info.incompat, info.ro_compat
        ),
    );
    line("inodes:", info.inodes.to_string());
    line("directories:", info.dirs.to_string());
    line("files:", info.files.to_string());
    line("symlinks:", info.symlinks.to_string());
    line("dir entries:", info.dirents.to_string());
    line("data bytes:", info.data_bytes.to_string());
    if info.version >= 3 {
        let features = match info.incompat & fs_rofs::format::v3::V3_INCOMPAT_LZ4 {
            0 => String::from("none"),
            _ => format!("lz4, {} KiB clusters", info.cluster_size / 1024),
        };
        line("compression:", features);
        line("file bytes:", info.raw_bytes.to_string());
        line("inline bytes:", info.inline_bytes.to_string());
        // What the files' bytes take in the data blocks, against their size.
        let in_blocks = info.raw_bytes.saturating_sub(info.inline_bytes);
        let ratio = match in_blocks {
            0 => String::from("-"),
            n => format!("{:.3}", info.data_bytes as f64 / n as f64),
        };
        line("stored/raw:", ratio);
    }
    line("metadata bytes:", info.metadata_bytes.to_string());
    line("image bytes:", info.image_bytes.to_string());
    line("superblock crc:", crc(info.superblock_crc32));
    line("metadata crc:", crc(info.metadata_crc32));
    for clash in &info.name_clashes {
        line("name clash:", clash.to_string());
    }
    s
}

pub fn verify(image: &Path, root_hash: Option<&str>) -> Result<(), CliError> {
    let disk = open_disk(image)?;
    let tree = crate::verity::check(&disk, root_hash)?;
    let mut problems: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    match fs_rofs::verify(disk.as_ref()) {
        Ok(report) => lines.push(format!(
            "{}: OK (format v{}, {} inodes, {} files with {} bytes checked against their CRC32)",
            image.display(),
            report.info.version,
            report.info.inodes,
            report.files_checked,
            report.bytes_checked
        )),
        Err(found) => problems.extend(found.iter().map(ToString::to_string)),
    }
    match tree {
        crate::verity::TreeCheck::None => {}
        crate::verity::TreeCheck::Good {
            root,
            data_blocks,
            hash_blocks,
        } => {
            lines.push(format!(
                "{}: dm-verity tree OK ({data_blocks} data blocks and {hash_blocks} hash blocks verified)",
                image.display()
            ));
            lines.push(format!("root hash: {}", drivers::verity::Hex(&root)));
        }
        crate::verity::TreeCheck::Bad(found) => problems.extend(found),
    }
    if problems.is_empty() {
        let mut out = io::stdout().lock();
        for line in lines {
            writeln!(out, "{line}").map_err(CliError::from_stdout)?;
        }
        return Ok(());
    }
    let mut message = format!("{}: {} problem(s) found", image.display(), problems.len());
    for problem in &problems {
        message.push_str(&format!("\n  {problem}"));
    }
    Err(CliError::msg(message))
}
