//! `mkimage`: the host tool that builds ROFS root images from OSv-style
//! manifests, host trees (`--dir`) and tar archives (`--tar`), and lists,
//! extracts, describes, verifies and FUSE-mounts them.
//!
//! Building streams file data straight into the output file; inspection goes
//! through the same no_std reader the guest kernel uses (`fs_rofs`) over a
//! [`drivers::FileDisk`]. Every failure is a message and a non-zero exit,
//! never a panic. See `manifest` for the manifest syntax and its extensions.

#![forbid(unsafe_code)]

mod build;
mod classes;
mod dir_input;
mod exclude;
mod fuse_image;
mod fuse_mount;
mod inputs;
mod inspect;
mod manifest;
mod plan;
mod policy;
mod restore;
mod root;
mod spill;
mod tar_input;
mod tree_walk;
mod verity;

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use fs_rofs::writer::Format;

#[derive(Parser)]
#[command(
    name = "mkimage",
    version,
    about = "Build, list, extract and verify ROFS images"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// OSv's ROFS (512-byte blocks, no permissions, no checksums).
    V1,
    /// Our format: permissions, owners, times, sorted directories, CRC32s.
    V2,
    /// Ours, read on demand: constant-time mount, per-block CRC32s, small
    /// files inline, entry types in directories (4096-byte blocks).
    V3,
}

#[derive(Clone, Copy, ValueEnum)]
enum CompressArg {
    /// LZ4 (lz4_flex), stored raw where a cluster does not shrink.
    Lz4,
}

#[derive(Subcommand)]
enum Command {
    /// Build an image from a manifest, a host directory and/or tar archives.
    Build {
        /// The manifest (OSv usr.manifest syntax).
        #[arg(short, long)]
        manifest: Option<PathBuf>,
        /// The image file to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Define a manifest variable used as %(var)s.
        #[arg(short = 'D', value_name = "VAR=VALUE")]
        define: Vec<String>,
        /// Image format.
        #[arg(long, value_enum, default_value = "v3")]
        format: FormatArg,
        /// Block size in bytes (v1: 512 only; v2: a power of two from 512 to 65536, default 4096;
        /// v3: 4096 only).
        #[arg(long)]
        block_size: Option<u32>,
        /// Compress file data (format v3): each file in clusters, each compressed alone.
        #[arg(long, value_enum)]
        compress: Option<CompressArg>,
        /// Compression cluster size in bytes: a power of two from 4096 to 1048576.
        #[arg(long, default_value_t = 65536)]
        cluster_size: u32,
        #[command(flatten)]
        inputs: inputs::InputArgs,
        /// Do not add empty /dev and /tmp (the kernel's default mount points) when the
        /// manifest has none.
        #[arg(long)]
        no_mount_points: bool,
        /// Append a dm-verity hash tree (veritysetup's format) and print its root hash.
        #[arg(long)]
        verity: bool,
        #[command(flatten)]
        tree: verity::TreeOptions,
    },
    /// Append a dm-verity hash tree to an existing image and print its root hash.
    Verity {
        image: PathBuf,
        #[command(flatten)]
        tree: verity::TreeOptions,
        /// Replace the tree of an image that already has one.
        #[arg(long)]
        force: bool,
    },
    /// List a directory of an image (or one entry).
    Ls {
        image: PathBuf,
        #[arg(default_value = "/")]
        path: String,
        /// Recurse into subdirectories, printing full paths.
        #[arg(short = 'R')]
        recursive: bool,
        /// Long format: mode, links, uid, gid, size, mtime (UTC).
        #[arg(short = 'l')]
        long: bool,
        #[command(flatten)]
        root: RootHashArg,
    },
    /// Write one file of an image to stdout (symlinks are followed).
    Cat {
        image: PathBuf,
        path: String,
        #[command(flatten)]
        root: RootHashArg,
    },
    /// Copy the whole tree of an image into a host directory.
    Extract {
        image: PathBuf,
        dir: PathBuf,
        #[command(flatten)]
        root: RootHashArg,
    },
    /// Print the superblock, counts and sizes (and the dm-verity tree's).
    Info { image: PathBuf },
    /// Check all structure and checksums, and every block against the
    /// dm-verity tree when there is one; exits 1 naming each problem.
    Verify {
        image: PathBuf,
        #[command(flatten)]
        root: RootHashArg,
    },
    /// Mount an image read-only on a host directory through FUSE (until
    /// SIGINT/SIGTERM or umount).
    Mount {
        image: PathBuf,
        dir: PathBuf,
        /// Return once mounted, serving from a background process.
        #[arg(long)]
        daemon: bool,
        #[command(flatten)]
        root: RootHashArg,
    },
}

#[derive(clap::Args)]
struct RootHashArg {
    /// Read through the dm-verity tree, trusting only this root hash (64 hex digits).
    #[arg(long, value_name = "HEX")]
    root_hash: Option<String>,
}

/// Why a command failed.
pub enum CliError {
    /// Printed on stderr, exit status 1.
    Message(String),
    /// stdout was closed (`mkimage cat ... | head`): stop quietly.
    BrokenPipe,
}

impl CliError {
    pub fn msg(text: impl Into<String>) -> Self {
        CliError::Message(text.into())
    }

    pub fn from_stdout(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            CliError::BrokenPipe
        } else {
            CliError::Message(format!("writing to stdout: {e}"))
        }
    }
}

impl From<String> for CliError {
    fn from(text: String) -> Self {
        CliError::Message(text)
    }
}

fn parse_defines(defines: &[String]) -> Result<HashMap<String, String>, CliError> {
    let mut map = HashMap::new();
    for define in defines {
        let (name, value) = define
            .split_once('=')
            .ok_or_else(|| CliError::msg(format!("-D '{define}': expected VAR=VALUE")))?;
        map.insert(name.to_string(), value.to_string());
    }
    Ok(map)
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Build {
            manifest,
            output,
            define,
            format,
            block_size,
            compress,
            cluster_size,
            inputs,
            no_mount_points,
            verity,
            tree,
        } => {
            if !verity && (tree.salt.is_some() || tree.root_hash_file.is_some()) {
                return Err(CliError::msg("--salt and --root-hash-file need --verity"));
            }
            if let Some(salt) = &tree.salt {
                verity::parse_salt(salt)?;
            }
            let args = build::BuildArgs {
                manifest,
                output,
                defines: parse_defines(&define)?,
                format: match format {
                    FormatArg::V1 => Format::V1,
                    FormatArg::V2 => Format::V2,
                    FormatArg::V3 => Format::V3,
                },
                block_size,
                inputs,
                no_mount_points,
                verity: verity.then_some(tree),
                lz4_cluster_size: compress.map(|CompressArg::Lz4| cluster_size),
            };
            Ok(build::run(&args)?)
        }
        Command::Verity { image, tree, force } => verity::add_tree(&image, &tree, force),
        Command::Ls {
            image,
            path,
            recursive,
            long,
            root,
        } => inspect::ls(&image, root.root_hash.as_deref(), &path, recursive, long),
        Command::Cat { image, path, root } => {
            inspect::cat(&image, root.root_hash.as_deref(), &path)
        }
        Command::Extract { image, dir, root } => {
            inspect::extract(&image, root.root_hash.as_deref(), &dir)
        }
        Command::Info { image } => inspect::info(&image),
        Command::Verify { image, root } => inspect::verify(&image, root.root_hash.as_deref()),
        Command::Mount {
            image,
            dir,
            daemon,
            root,
        } => fuse_mount::run(&image, root.root_hash.as_deref(), &dir, daemon),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(CliError::Message(text)) => {
            eprintln!("mkimage: {text}");
            ExitCode::FAILURE
        }
    }
}
