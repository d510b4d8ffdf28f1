//! The `build` options that choose and shape its inputs besides the
//! manifest: `--dir`, `--tar`, `--root` and what is kept of host metadata.

use std::path::PathBuf;

use clap::Args;

/// Flattened into `mkimage build`.
#[derive(Args, Clone, Debug, Default)]
pub struct InputArgs {
    /// Copy this host tree faithfully at the root: symlinks, hard links,
    /// modes, owners and times as they are (manifest entries apply after).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// A tar archive (optionally gzipped; `-` is stdin) to unpack at the root.
    /// Repeat for ordered layers, lowest first; OCI whiteouts (`.wh.NAME`,
    /// `.wh..wh..opq`) remove what lower layers put there.
    #[arg(long, value_name = "FILE")]
    pub tar: Vec<PathBuf>,
    /// Symlinks that manifest lines follow resolve inside DIR, as under
    /// chroot (absolute targets start at DIR, `..` stops at DIR).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Owners of --dir and --tar entries become 0:0.
    #[arg(long)]
    pub all_root: bool,
    /// Clamp every time to T (seconds since the epoch), and use T where an
    /// entry has none; overrides SOURCE_DATE_EPOCH.
    #[arg(long, value_name = "T", allow_negative_numbers = true)]
    pub mtime: Option<i64>,
    /// Leave out --dir and --tar paths matching GLOB (relative to the tree
    /// root; `*`, `?`, `**`, `[...]`; a GLOB without `/` matches a name at
    /// any depth). Repeatable.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Skip sockets, fifos and device nodes with a warning (formats v1 and
    /// v2 cannot store them) instead of failing.
    #[arg(long)]
    pub skip_special: bool,
}
