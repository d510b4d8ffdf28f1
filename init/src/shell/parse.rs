//! Shell syntax: commands separated by newlines or `;`, words separated by
//! blanks, `"..."` and `'...'` quoting, `\` escaping the next character
//! outside single quotes, `#` starting a comment at the start of a word, and
//! output redirection `> file` / `>> file`. Pure (unit-tested on the host).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Where a command's output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    pub path: String,
    pub append: bool,
}

/// One parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub args: Vec<String>,
    pub redirect: Option<Redirect>,
    /// 1-based line of the script the command came from.
    pub line: usize,
}

#[derive(Default)]
struct Builder {
    args: Vec<String>,
    word: String,
    in_word: bool,
    /// A `>`/`>>` was seen; the next word is its target.
    pending_redirect: Option<bool>,
    redirect: Option<Redirect>,
}

impl Builder {
    fn end_word(&mut self) -> Result<(), String> {
        if !self.in_word {
            return Ok(());
        }
        let word = core::mem::take(&mut self.word);
        self.in_word = false;
        match self.pending_redirect.take() {
            Some(append) => {
                if self.redirect.is_some() {
                    return Err("more than one output redirection".to_string());
                }
                self.redirect = Some(Redirect { path: word, append });
            }
            None => self.args.push(word),
        }
        Ok(())
    }

    fn end_command(&mut self, line: usize, out: &mut Vec<Command>) -> Result<(), String> {
        self.end_word()?;
        if self.pending_redirect.is_some() {
            return Err("`>` without a file name".to_string());
        }
        let args = core::mem::take(&mut self.args);
        let redirect = self.redirect.take();
        if args.is_empty() {
            if redirect.is_some() {
                return Err("redirection without a command".to_string());
            }
            return Ok(());
        }
        out.push(Command {
            args,
            redirect,
            line,
        });
        Ok(())
    }
}

/// Parse a whole script. Errors carry the 1-based line number.
pub fn parse_script(text: &str) -> Result<Vec<Command>, (usize, String)> {
    let mut out = Vec::new();
    let mut b = Builder::default();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    let mut quote: Option<char> = None;
    let mut comment = false;
    while let Some(c) = chars.next() {
        if comment {
            if c == '\n' {
                comment = false;
                b.end_command(line, &mut out).map_err(|e| (line, e))?;
                line += 1;
            }
            continue;
        }
        if let Some(q) = quote {
            if c == q {
                quote = None;
            } else if c == '\\' && q == '"' && matches!(chars.peek(), Some('"' | '\\')) {
                b.word.extend(chars.next());
            } else {
                if c == '\n' {
                    line += 1;
                }
                b.word.push(c);
            }
            continue;
        }
        match c {
            '"' | '\'' => {
                quote = Some(c);
                b.in_word = true;
            }
            '\\' => {
                if let Some(next) = chars.next() {
                    if next == '\n' {
                        line += 1;
                    } else {
                        b.word.push(next);
                        b.in_word = true;
                    }
                }
            }
            '#' if !b.in_word => comment = true,
            '>' => {
                b.end_word().map_err(|e| (line, e))?;
                if b.pending_redirect.is_some() {
                    return Err((line, "`>` without a file name".to_string()));
                }
                let append = chars.peek() == Some(&'>');
                if append {
                    chars.next();
                }
                b.pending_redirect = Some(append);
            }
            ';' | '\n' => {
                b.end_command(line, &mut out).map_err(|e| (line, e))?;
                if c == '\n' {
                    line += 1;
                }
            }
            ' ' | '\t' | '\r' => b.end_word().map_err(|e| (line, e))?,
            c => {
                b.word.push(c);
                b.in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err((line, "unterminated quote".to_string()));
    }
    b.end_command(line, &mut out).map_err(|e| (line, e))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmd: &Command) -> Vec<&str> {
        cmd.args.iter().map(String::as_str).collect()
    }

    #[test]
    fn commands_and_separators() {
        let cmds = parse_script("ls /;cat /etc/motd\n\n  echo  a   b  ").unwrap();
        assert_eq!(cmds.len(), 3);
        assert_eq!(args(&cmds[0]), ["ls", "/"]);
        assert_eq!(args(&cmds[1]), ["cat", "/etc/motd"]);
        assert_eq!(args(&cmds[2]), ["echo", "a", "b"]);
        assert_eq!(cmds[2].line, 3);
    }

    #[test]
    fn quotes_escapes_comments() {
        let cmds = parse_script("echo \"a b\" 'c;d' e\\ f # note\n# whole line\necho x#y").unwrap();
        assert_eq!(cmds.len(), 2);
        assert_eq!(args(&cmds[0]), ["echo", "a b", "c;d", "e f"]);
        assert_eq!(args(&cmds[1]), ["echo", "x#y"]);
        assert_eq!(cmds[1].line, 3);
        let cmds = parse_script(r#"echo "say \"hi\"" ''"#).unwrap();
        assert_eq!(args(&cmds[0]), ["echo", "say \"hi\"", ""]);
    }

    #[test]
    fn redirections() {
        let cmds = parse_script("echo hello > /tmp/x; echo more >>/tmp/x").unwrap();
        assert_eq!(
            cmds[0].redirect,
            Some(Redirect {
                path: "/tmp/x".into(),
                append: false
            })
        );
        assert_eq!(args(&cmds[0]), ["echo", "hello"]);
        assert_eq!(
            cmds[1].redirect,
            Some(Redirect {
                path: "/tmp/x".into(),
                append: true
            })
        );
        let cmds = parse_script("echo a>b").unwrap();
        assert_eq!(args(&cmds[0]), ["echo", "a"]);
        assert_eq!(cmds[0].redirect.as_ref().unwrap().path, "b");
    }

    #[test]
    fn errors_carry_line_numbers() {
        assert_eq!(parse_script("ls\necho >").unwrap_err().0, 2);
        assert_eq!(parse_script("echo 'open").unwrap_err().0, 1);
        assert!(parse_script("echo a > b > c").is_err());
        assert!(parse_script("> x").is_err());
        assert!(parse_script("echo > > x").is_err());
    }

    #[test]
    fn empty_input() {
        assert!(parse_script("").unwrap().is_empty());
        assert!(parse_script(" ;; \n # c").unwrap().is_empty());
    }
}
