//! Write the seed corpora into `seeds/<target>/`. Run from
//! `fs-virtiofs/fuzz`: `cargo run --bin make_seeds`.
//!
//! `session` seeds are recordings of the `session` target's run against an
//! honest tiny server, so the fuzzer starts from a full, valid session;
//! `reply_parser` seeds are valid headers, listings and entries.

use std::path::Path;
use std::sync::Arc;

use fs_virtiofs::proto::dirent::push_dirent;
use fs_virtiofs::proto::{Attr, EntryOut, OutHeader};
use fs_virtiofs_fuzz::{Replay, TinyServer, reply, run};
use zerocopy::IntoBytes;

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let session = Path::new("seeds/session");
    let server = Arc::new(TinyServer::default());
    run(server.clone());
    let recorded = server.recorded.lock().unwrap().clone();
    // Replaying the recording takes the same path, reply for reply.
    let replay = Arc::new(Replay::new(&recorded));
    run(replay.clone());
    assert_eq!(
        replay.consumed(),
        recorded.len(),
        "replay diverged from the recording"
    );
    write(session, "honest", &recorded);
    // The same session cut short: the daemon vanishes half way.
    write(session, "vanishing", &recorded[..recorded.len() / 2]);

    let parser = Path::new("seeds/reply_parser");
    let mut header = OutHeader {
        len: 16,
        error: 0,
        unique: 9,
    }
    .as_bytes()
    .to_vec();
    header.extend(16u32.to_le_bytes());
    header.extend(64u32.to_le_bytes());
    header.extend(9u32.to_le_bytes());
    write(parser, "header", &header);
    let mut listing = Vec::new();
    for (i, name) in [&b"."[..], b"..", b"file", b"a-longer-name"]
        .iter()
        .enumerate()
    {
        push_dirent(&mut listing, 100 + i as u64, i as u64 + 1, 8, name);
    }
    write(parser, "listing", &listing);
    let entry = EntryOut {
        nodeid: 5,
        attr: Attr {
            mode: 0o100644,
            size: 10,
            ..Attr::default()
        },
        ..EntryOut::default()
    };
    let mut plus = entry.as_bytes().to_vec();
    push_dirent(&mut plus, 5, 1, 8, b"file");
    write(parser, "direntplus", &plus);
    write(parser, "error", &reply(3, Err(2)));
    write(parser, "target", b"../some/where");
}
