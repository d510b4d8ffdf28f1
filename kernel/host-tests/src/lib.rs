//! Compiles the kernel's pure parsing modules for the host so `cargo test`
//! can check them.
extern crate alloc;

#[path = "../../src/cmdline.rs"]
pub mod cmdline;
#[path = "../../src/fstab.rs"]
pub mod fstab;
#[path = "../../src/shell/parse.rs"]
pub mod parse;
