//! The built-in command interpreter: `run=` scripts and commands, and the
//! interactive shell on the console. Syntax in [`parse`]; the commands are
//! grouped by kind, one file each, behind the table in `command`:
//!
//! | file | commands |
//! |---|---|
//! | `files` | `cat`, `stat`, `rm`, `mv`, `ln`, `cp`, `echo`, `touch` |
//! | `dirs` | `ls`, `mkdir`, `find`, `cd`, `pwd` |
//! | `tree` | `rm -r`, `cp -r` and the file copy loop |
//! | `system` | `df`, `mount`, `umount`, `sync`, `uptime`, `cachestat`, `help`, `debug-*` |
//! | `data` | `hexdump`, `crc32`, `readspeed` |
//!
//! What they share: `walk` (the recursive walk with loop detection and
//! memory bounded by depth) and `out` (a command's output, the console or a
//! streamed redirection that stops the command at its first write error).
//!
//! Errors print the errno name, e.g.
//! `cat: /nope: ENOENT (No such file or directory)`.

mod command;
mod data;
mod dirs;
mod files;
mod out;
pub mod parse;
mod system;
mod tree;
mod walk;

use alloc::string::String;
use alloc::vec::Vec;

use vfs::Vfs;

use crate::platform::read_byte;
use crate::{Platform, print, println};

pub use out::{OUT_BUFFER, Out};

/// What the caller should do after a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    PowerOff,
}

/// The interpreter: a VFS to work on and a console to talk to.
pub struct Shell<'a> {
    pub platform: &'a dyn Platform,
    pub vfs: &'a Vfs,
}

const MAX_LINE: usize = 1024;

impl<'a> Shell<'a> {
    pub fn new(platform: &'a dyn Platform, vfs: &'a Vfs) -> Shell<'a> {
        Shell { platform, vfs }
    }

    /// Run parsed commands in order. A failing command prints its error and
    /// the script goes on, like `sh` without `-e`. Returns PowerOff if
    /// `poweroff` ran.
    pub fn run_commands(&self, cmds: &[parse::Command]) -> Flow {
        for cmd in cmds {
            if self.run_one(cmd) == Flow::PowerOff {
                return Flow::PowerOff;
            }
        }
        Flow::Continue
    }

    fn run_one(&self, cmd: &parse::Command) -> Flow {
        let args: Vec<&str> = cmd.args.iter().map(String::as_str).collect();
        let name = args.first().copied().unwrap_or("");
        // As sh: the target is opened (created, truncated) before the
        // command runs, and a target that cannot be opened skips it.
        let mut out = match &cmd.redirect {
            None => Out::Console(self.platform),
            Some(r) => match Out::file(self.vfs, &r.path, r.append) {
                Ok(out) => out,
                Err(e) => {
                    println!(self.platform, "{name}: {}: {e}", r.path);
                    return Flow::Continue;
                }
            },
        };
        let flow = command::dispatch(self, &args, &mut out);
        if let (Some(r), Err(e)) = (&cmd.redirect, out.finish()) {
            println!(self.platform, "{name}: {}: {e}", r.path);
        }
        flow
    }

    /// Run a script given as text (a file's contents or the inline `run=` value).
    pub fn run_script(&self, name: &str, text: &str) -> Flow {
        match parse::parse_script(text) {
            Ok(cmds) => self.run_commands(&cmds),
            Err((line, msg)) => {
                println!(self.platform, "{name}:{line}: {msg}");
                Flow::Continue
            }
        }
    }

    /// Read one line from the console with echo. Backspace/DEL erase, Ctrl-U
    /// clears the line, Ctrl-C abandons it. None on Ctrl-D at an empty line.
    fn read_line(&self) -> Option<String> {
        let p = self.platform;
        let mut line: Vec<u8> = Vec::new();
        loop {
            match read_byte(p) {
                b'\r' | b'\n' => {
                    println!(p);
                    return Some(String::from_utf8_lossy(&line).into_owned());
                }
                0x08 | 0x7f => {
                    if line.pop().is_some() {
                        print!(p, "\x08 \x08");
                    }
                }
                0x15 => {
                    for _ in 0..line.len() {
                        print!(p, "\x08 \x08");
                    }
                    line.clear();
                }
                0x03 => {
                    println!(p, "^C");
                    return Some(String::new());
                }
                0x04 if line.is_empty() => {
                    println!(p);
                    return None;
                }
                b if (0x20..0x7f).contains(&b) && line.len() < MAX_LINE => {
                    line.push(b);
                    p.console_write(&[b]);
                }
                _ => {}
            }
        }
    }

    /// The interactive shell; returns when the user powers off (or Ctrl-D).
    pub fn interactive(&self) {
        println!(
            self.platform,
            "Type `help` for the commands, `poweroff` to leave."
        );
        loop {
            let cwd = self.vfs.getcwd().unwrap_or_else(|_| String::from("?"));
            print!(self.platform, "{cwd}# ");
            let Some(line) = self.read_line() else { return };
            if self.run_script("shell", &line) == Flow::PowerOff {
                return;
            }
        }
    }
}
