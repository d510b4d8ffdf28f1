//! `mkimage build`: `--dir`, `--tar` layers and a manifest, in that order,
//! to an image file.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fs_rofs::writer::{BuildOptions, EntryMeta, FileSource, Format, ImageBuilder, ImageSummary};

use crate::exclude::Excludes;
use crate::inputs::InputArgs;
use crate::manifest;
use crate::plan::{self, Entry, Plan, Source, What};
use crate::policy::InputPolicy;
use crate::root::HostRoot;
use crate::spill::{Spill, SpillRef};
use crate::{dir_input, tar_input};

/// Everything `build` needs, already parsed from the command line.
pub struct BuildArgs {
    pub manifest: Option<PathBuf>,
    pub output: PathBuf,
    pub defines: HashMap<String, String>,
    pub format: Format,
    pub block_size: Option<u32>,
    pub inputs: InputArgs,
    /// Leave out the empty `/dev` and `/tmp` added for the kernel's default mounts.
    pub no_mount_points: bool,
    /// Append a dm-verity tree (`--verity`), made this way.
    pub verity: Option<crate::verity::TreeOptions>,
    /// `--compress lz4`: the cluster size (format v3 only).
    pub lz4_cluster_size: Option<u32>,
}

/// Directories the kernel's default fstab mounts on (devfs, ramfs). A read-only
/// root cannot create them at boot, so images get them unless the manifest
/// says otherwise or `--no-mount-points` is given.
const DEFAULT_MOUNT_POINTS: [&str; 2] = ["/dev", "/tmp"];

/// Buffer for the image file: large writes, few system calls.
const OUTPUT_BUFFER: usize = 1 << 20;

pub fn run(args: &BuildArgs) -> Result<(), String> {
    let inputs = &args.inputs;
    // --mtime wins over SOURCE_DATE_EPOCH; either clamps host times.
    let epoch = match inputs.mtime {
        Some(t) => Some(t),
        None => source_date_epoch()?,
    };
    let policy = InputPolicy {
        excludes: Excludes::new(&inputs.exclude)?,
        all_root: inputs.all_root,
        clamp: epoch,
        skip_special: inputs.skip_special,
    };
    if args.manifest.is_none() && inputs.dir.is_none() && inputs.tar.is_empty() {
        return Err("nothing to build: give -m MANIFEST, --dir DIR and/or --tar FILE".to_string());
    }
    let mut plan = Plan::default();
    if let Some(root) = &inputs.root {
        plan.root = Some(HostRoot::new(root).map_err(|e| format!("--root: {e}"))?);
    }
    if let Some(dir) = &inputs.dir {
        dir_input::add_tree(&mut plan, dir, &policy).map_err(|e| e.to_string())?;
    }
    // Spilled tar data must outlive the write; it is removed on return.
    let mut spill = None;
    for (layer, tar) in inputs.tar.iter().enumerate() {
        let spill = match &mut spill {
            Some(spill) => spill,
            None => spill.insert(Spill::beside(&args.output)?),
        };
        tar_input::add_layer(&mut plan, tar, layer, spill, &policy)?;
    }
    if let Some(path) = &args.manifest {
        let bytes = fs::read(path)
            .map_err(|e| format!("cannot read manifest '{}': {e}", path.display()))?;
        let text = manifest_text(bytes, path)?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let label = path.display().to_string();
        let lines =
            manifest::parse(&text, &label, base, &args.defines).map_err(|e| e.to_string())?;
        plan.apply(&lines).map_err(|e| e.to_string())?;
    }
    if !args.no_mount_points {
        for path in DEFAULT_MOUNT_POINTS {
            plan.add_default_dir(path);
        }
    }
    let skipped = special_files(&mut plan, policy.skip_special)?;

    let block_size = block_size(args.format, args.block_size)?;
    let opts = BuildOptions {
        format: args.format,
        block_size,
        default_mtime: epoch.unwrap_or(0),
    };
    let mut builder = feed(plan, opts)?;
    if let Some(cluster_size) = args.lz4_cluster_size {
        if args.format != Format::V3 {
            return Err(String::from("--compress needs --format v3"));
        }
        builder
            .compress_lz4(cluster_size)
            .map_err(|e| format!("--cluster-size: {e}"))?;
    }
    let summary = write_image(builder, &args.output, args.verity.as_ref())?;
    let skipped = if skipped > 0 {
        format!(", {skipped} special files skipped")
    } else {
        String::new()
    };
    eprintln!(
        "mkimage: wrote {} ({} bytes: {} files, {} directories, {} symlinks, {} data bytes, {} deduplicated{skipped})",
        args.output.display(),
        summary.image_bytes,
        summary.files,
        summary.dirs,
        summary.symlinks,
        summary.data_bytes,
        summary.deduplicated_bytes
    );
    Ok(())
}

/// The manifest as text; bytes that are not UTF-8 are an error naming the
/// first line that holds them.
fn manifest_text(bytes: Vec<u8>, path: &Path) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = 1 + bytes
            .get(..at)
            .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count());
        format!(
            "{}:{line}: line is not valid UTF-8 (is this a manifest?)",
            path.display()
        )
    })
}

/// Sockets, fifos and device nodes: formats v1 and v2 cannot store them, so
/// the build fails with one line naming each, or (`--skip-special`) drops
/// them with a warning naming each. Returns how many were skipped.
fn special_files(plan: &mut Plan, skip: bool) -> Result<usize, String> {
    let specials: Vec<String> = plan
        .entries
        .iter()
        .filter_map(|(guest, entry)| match entry.what {
            What::Special { file_type, rdev } => Some(format!(
                "{}: {guest}: {} cannot be stored in formats v1/v2",
                plan.origin(entry),
                describe_special(file_type, rdev)
            )),
            _ => None,
        })
        .collect();
    if specials.is_empty() {
        return Ok(0);
    }
    if !skip {
        return Err(format!(
            "{}\nmkimage: {} special file(s) refused; --skip-special leaves them out",
            specials.join("\nmkimage: "),
            specials.len()
        ));
    }
    for line in &specials {
        eprintln!("mkimage: warning: skipping {line}");
    }
    plan.entries
        .retain(|_, entry| !matches!(entry.what, What::Special { .. }));
    Ok(specials.len())
}

fn describe_special(file_type: vfs::FileType, rdev: u64) -> String {
    let (major, minor) = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
    match file_type {
        vfs::FileType::CharDevice => format!("character device {major}:{minor}"),
        vfs::FileType::BlockDevice => format!("block device {major}:{minor}"),
        vfs::FileType::Fifo => "fifo".to_string(),
        vfs::FileType::Socket => "socket".to_string(),
        other => format!("{other:?}"),
    }
}

/// The block size for `format`: v1 (OSv) only knows 512; v2 takes a power
/// of two from 512 to 64 KiB and defaults to 4096.
fn block_size(format: Format, asked: Option<u32>) -> Result<u32, String> {
    match (format, asked) {
        (Format::V1, None | Some(512)) => Ok(512),
        (Format::V1, Some(n)) => Err(format!("--block-size {n}: format v1 needs 512-byte blocks")),
        (Format::V3, None | Some(4096)) => Ok(4096),
        (Format::V3, Some(n)) => Err(format!(
            "--block-size {n}: format v3 needs 4096-byte blocks"
        )),
        (_, None) => Ok(4096),
        (_, Some(n)) if n.is_power_of_two() && (512..=65536).contains(&n) => Ok(n),
        (_, Some(n)) => Err(format!(
            "--block-size {n}: must be a power of two from 512 to 65536"
        )),
    }
}

/// `SOURCE_DATE_EPOCH` (reproducible builds), when set.
fn source_date_epoch() -> Result<Option<i64>, String> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("SOURCE_DATE_EPOCH '{text}' is not a whole number of seconds")),
        _ => Ok(None),
    }
}

/// Hand the plan to the image builder, in sorted guest-path order. The plan
/// is consumed so that in-memory tar data moves into the builder instead of
/// being copied.
fn feed(plan: Plan, opts: BuildOptions) -> Result<ImageBuilder, String> {
    let mut builder = ImageBuilder::new(opts);
    let first_names = plan::hard_link_groups(&plan);
    let Plan {
        entries, origins, ..
    } = plan;
    for (guest, entry) in entries {
        let meta = writer_meta(&entry);
        let origin = origins.get(entry.origin);
        let result = match entry.what {
            What::Dir => builder.add_dir(&guest, meta),
            What::Symlink { target } => builder.add_symlink(&guest, &target, meta),
            What::File { source, link_key } => {
                match link_key.and_then(|key| first_names.get(&key)) {
                    Some(first) if *first != guest => builder.add_hardlink(&guest, first),
                    _ => builder.add_file(&guest, file_source(source), meta),
                }
            }
            // Refused or dropped by `special_files` before this point.
            What::Special { .. } => Err(fs_rofs::writer::BuildError::InvalidOption(
                "special files cannot be stored".to_string(),
            )),
        };
        result.map_err(|e| match origin {
            Some(origin) => format!("{origin}: {guest}: {e}"),
            None => format!("{guest}: {e}"),
        })?;
    }
    Ok(builder)
}

/// The writer's view of an entry (v2 and v3 store the nanoseconds).
fn writer_meta(entry: &Entry) -> EntryMeta {
    EntryMeta {
        mode: entry.mode,
        uid: entry.uid,
        gid: entry.gid,
        mtime: entry.mtime,
        mtime_nsec: entry.mtime_nsec,
    }
}

/// The writer's view of a file's data. A spilled tar member has a file of
/// its own today (offset 0, the whole file); a writer that takes byte
/// ranges of one spill file would get `offset` and `len` here.
fn file_source(source: Source) -> FileSource {
    match source {
        Source::Host(path) => FileSource::Path(path),
        Source::Spill(SpillRef { path, .. }) => FileSource::Path(path),
        Source::Memory(data) => {
            FileSource::Bytes(Arc::try_unwrap(data).unwrap_or_else(|shared| (*shared).clone()))
        }
    }
}

/// Write to a temporary name beside `output` and rename at the end, so a
/// failed build never leaves a half-written image under the real name.
fn write_image(
    builder: ImageBuilder,
    output: &Path,
    verity: Option<&crate::verity::TreeOptions>,
) -> Result<ImageSummary, String> {
    let mut partial = output.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file = File::create(&partial)
        .map_err(|e| format!("cannot create '{}': {e}", partial.display()))?;
    let mut out = BufWriter::with_capacity(OUTPUT_BUFFER, file);
    let bar = progress_bar();
    let mut progress = |done: u64, total: u64| {
        if let Some(bar) = &bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    };
    let result = builder
        .write(&mut out, &mut progress)
        .map_err(|e| format!("writing '{}': {e}", output.display()))
        .and_then(|summary| {
            out.flush()
                .map_err(|e| format!("writing '{}': {e}", output.display()))?;
            Ok(summary)
        });
    drop(out);
    // The tree covers the finished image, so it is added before the rename.
    let result = result.and_then(|mut summary| {
        if let Some(opts) = verity {
            let tree = crate::verity::append_to_new_image(&partial, opts)?;
            summary.image_bytes = tree.data_bytes() + tree.appendix_bytes();
        }
        Ok(summary)
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(summary) => {
            fs::rename(&partial, output)
                .map_err(|e| format!("cannot rename to '{}': {e}", output.display()))?;
            Ok(summary)
        }
        Err(e) => {
            let _ = fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// A byte progress bar, only when a person is watching stderr.
fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    ) {
        bar.set_style(style);
    }
    Some(bar)
}
