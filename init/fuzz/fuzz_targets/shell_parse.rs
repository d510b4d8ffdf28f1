//! The shell's script parser on any text: an error with a line number
//! inside the script, or commands that each have a name and come in line
//! order. Never a panic.
#![no_main]

use init::shell::parse::parse_script;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.split('\n').count();
    match parse_script(&text) {
        Ok(commands) => {
            let mut previous = 1;
            for command in &commands {
                assert!(!command.args.is_empty(), "{text:?}");
                assert!(
                    command.line >= previous && command.line <= lines,
                    "{text:?}"
                );
                previous = command.line;
            }
        }
        Err((line, message)) => {
            assert!(line >= 1 && line <= lines, "{text:?}");
            assert!(!message.is_empty());
        }
    }
});
