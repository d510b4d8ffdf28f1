//! The built-in command interpreter: `run=` scripts and commands, and the
//! interactive shell on the serial console. Syntax in [`parse`], commands in
//! [`commands`]. Errors print the errno name, e.g.
//! `cat: /nope: ENOENT (No such file or directory)`.

pub mod commands;
pub mod parse;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use vfs::{OpenFlags, Vfs};

use crate::{print, println, serial};

/// Where a command's output goes: the console, or a buffer for `> file`.
pub enum Out {
    Console,
    Buffer(Vec<u8>),
}

impl Out {
    pub fn bytes(&mut self, data: &[u8]) {
        match self {
            Out::Console => serial::write_bytes(data),
            Out::Buffer(b) => b.extend_from_slice(data),
        }
    }
}

impl fmt::Write for Out {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}

/// What the caller should do after a command.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    PowerOff,
}

/// Run parsed commands in order. A failing command prints its error and the
/// script goes on, like `sh` without `-e`. Returns PowerOff if `poweroff` ran.
pub fn run_commands(vfs: &Vfs, cmds: &[parse::Command]) -> Flow {
    for cmd in cmds {
        if run_one(vfs, cmd) == Flow::PowerOff {
            return Flow::PowerOff;
        }
    }
    Flow::Continue
}

fn run_one(vfs: &Vfs, cmd: &parse::Command) -> Flow {
    let mut out = match cmd.redirect {
        Some(_) => Out::Buffer(Vec::new()),
        None => Out::Console,
    };
    let args: Vec<&str> = cmd.args.iter().map(String::as_str).collect();
    let flow = commands::dispatch(vfs, &args, &mut out);
    if let (Some(redirect), Out::Buffer(data)) = (&cmd.redirect, out) {
        let mut flags = OpenFlags::O_WRONLY | OpenFlags::O_CREAT;
        flags |= if redirect.append {
            OpenFlags::O_APPEND
        } else {
            OpenFlags::O_TRUNC
        };
        let result = vfs.open(&redirect.path, flags, 0o644).and_then(|fd| {
            let written = commands::write_all(vfs, fd, &data);
            let closed = vfs.close(fd);
            written.and(closed)
        });
        if let Err(e) = result {
            println!(
                "{}: {}: {}",
                args.first().copied().unwrap_or(""),
                redirect.path,
                e
            );
        }
    }
    flow
}

/// Run a script given as text (a file's contents or the inline `run=` value).
pub fn run_script(vfs: &Vfs, name: &str, text: &str) -> Flow {
    match parse::parse_script(text) {
        Ok(cmds) => run_commands(vfs, &cmds),
        Err((line, msg)) => {
            println!("{name}:{line}: {msg}");
            Flow::Continue
        }
    }
}

const MAX_LINE: usize = 1024;

/// Read one line from the console with echo. Backspace/DEL erase, Ctrl-U
/// clears the line, Ctrl-C abandons it. None on Ctrl-D at an empty line.
fn read_line() -> Option<String> {
    let mut line: Vec<u8> = Vec::new();
    loop {
        match serial::read_byte() {
            b'\r' | b'\n' => {
                println!();
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            0x08 | 0x7f => {
                if line.pop().is_some() {
                    print!("\x08 \x08");
                }
            }
            0x15 => {
                for _ in 0..line.len() {
                    print!("\x08 \x08");
                }
                line.clear();
            }
            0x03 => {
                println!("^C");
                return Some(String::new());
            }
            0x04 if line.is_empty() => {
                println!();
                return None;
            }
            b if (0x20..0x7f).contains(&b) && line.len() < MAX_LINE => {
                line.push(b);
                serial::write_bytes(&[b]);
            }
            _ => {}
        }
    }
}

/// The interactive shell; returns when the user powers off (or Ctrl-D).
pub fn interactive(vfs: &Vfs) {
    println!("Type `help` for the commands, `poweroff` to leave.");
    loop {
        let cwd = vfs.getcwd().unwrap_or_else(|_| String::from("?"));
        print!("{cwd}# ");
        let Some(line) = read_line() else { return };
        if run_script(vfs, "shell", &line) == Flow::PowerOff {
            return;
        }
    }
}
