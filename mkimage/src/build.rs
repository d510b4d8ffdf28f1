//! `mkimage build`: manifest and `--dir` to an image file.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use fs_rofs::writer::{BuildOptions, EntryMeta, FileSource, Format, ImageBuilder, ImageSummary};

use crate::manifest;
use crate::plan::{self, Plan, What};

/// Everything `build` needs, already parsed from the command line.
pub struct BuildArgs {
    pub manifest: Option<PathBuf>,
    pub output: PathBuf,
    pub defines: HashMap<String, String>,
    pub format: Format,
    pub block_size: Option<u32>,
    pub dir: Option<PathBuf>,
    /// Leave out the empty `/dev` and `/tmp` added for the kernel's default mounts.
    pub no_mount_points: bool,
    /// Append a dm-verity tree (`--verity`), made this way.
    pub verity: Option<crate::verity::TreeOptions>,
}

/// Directories the kernel's default fstab mounts on (devfs, ramfs). A read-only
/// root cannot create them at boot, so images get them unless the manifest
/// says otherwise or `--no-mount-points` is given.
const DEFAULT_MOUNT_POINTS: [&str; 2] = ["/dev", "/tmp"];

/// Buffer for the image file: large writes, few system calls.
const OUTPUT_BUFFER: usize = 1 << 20;

pub fn run(args: &BuildArgs) -> Result<(), String> {
    let default_mtime = source_date_epoch()?;
    let mut plan = Plan::default();
    if let Some(dir) = &args.dir {
        plan.add_host_dir(dir).map_err(|e| e.to_string())?;
    }
    if let Some(path) = &args.manifest {
        let text = fs::read_to_string(path)
            .map_err(|e| format!("cannot read manifest '{}': {e}", path.display()))?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let label = path.display().to_string();
        let lines =
            manifest::parse(&text, &label, base, &args.defines).map_err(|e| e.to_string())?;
        plan.apply(&lines).map_err(|e| e.to_string())?;
    }
    if args.manifest.is_none() && args.dir.is_none() {
        return Err("nothing to build: give -m MANIFEST and/or --dir DIR".to_string());
    }
    if !args.no_mount_points {
        for path in DEFAULT_MOUNT_POINTS {
            plan.add_default_dir(path);
        }
    }

    let block_size = block_size(args.format, args.block_size)?;
    let opts = BuildOptions {
        format: args.format,
        block_size,
        default_mtime,
    };
    let builder = feed(&plan, opts)?;
    let summary = write_image(builder, &args.output, args.verity.as_ref())?;
    eprintln!(
        "mkimage: wrote {} ({} bytes: {} files, {} directories, {} symlinks, {} data bytes, {} deduplicated)",
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

/// The block size for `format`: v1 (OSv) only knows 512; v2 takes a power
/// of two from 512 to 64 KiB and defaults to 4096.
fn block_size(format: Format, asked: Option<u32>) -> Result<u32, String> {
    match (format, asked) {
        (Format::V1, None | Some(512)) => Ok(512),
        (Format::V1, Some(n)) => Err(format!("--block-size {n}: format v1 needs 512-byte blocks")),
        (_, None) => Ok(4096),
        (_, Some(n)) if n.is_power_of_two() && (512..=65536).contains(&n) => Ok(n),
        (_, Some(n)) => Err(format!(
            "--block-size {n}: must be a power of two from 512 to 65536"
        )),
    }
}

/// `SOURCE_DATE_EPOCH` (reproducible builds), else 0.
fn source_date_epoch() -> Result<i64, String> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .map_err(|_| format!("SOURCE_DATE_EPOCH '{text}' is not a whole number of seconds")),
        _ => Ok(0),
    }
}

/// Hand the plan to the image builder, in sorted guest-path order.
fn feed(plan: &Plan, opts: BuildOptions) -> Result<ImageBuilder, String> {
    let mut builder = ImageBuilder::new(opts);
    let first_names = plan::hard_link_groups(plan);
    for (guest, entry) in &plan.entries {
        let meta = EntryMeta {
            mode: entry.mode,
            uid: entry.uid,
            gid: entry.gid,
            mtime: entry.mtime,
        };
        let result = match &entry.what {
            What::Dir => builder.add_dir(guest, meta),
            What::Symlink { target } => builder.add_symlink(guest, target, meta),
            What::File { host, link_key } => match link_key.and_then(|key| first_names.get(&key)) {
                Some(first) if *first != guest.as_str() => builder.add_hardlink(guest, first),
                _ => builder.add_file(guest, FileSource::Path(host.clone()), meta),
            },
        };
        result.map_err(|e| format!("{}: {guest}: {e}", plan.origin(entry)))?;
    }
    Ok(builder)
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
