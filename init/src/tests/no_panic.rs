//! Random and mutated inputs to every parser of the crate (command line,
//! both fstab forms, shell syntax) must give errors, never panics.

use std::string::String;
use std::vec::Vec;

const ALPHABET: &[u8] = b" \t\n\r;:=\"'\\#>/,-.abcdefghijklmnopqrstuvwxyz0123456789";
const SEEDS: &[&str] = &[
    "run=\"ls /;cat /x\" log=debug vfs.fstab=vblk0:/:rofs::verify",
    "vfs.fstab=none:/tmp:ramfs::size=32M fstab=vblk0:/:rofs;none:/dev:devfs test",
    "/dev/vblk0 / rofs ro 0 0\nnone /tmp ramfs rw,size=8M 0 0\n# c\n",
    "echo \"a b\" 'c' d\\ e > /tmp/x; cat /tmp/x >> y # c\nls -l",
    "rofs.roothash=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff vfs.fstab=vblk0:/:rofs::verify,roothash=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
    "/dev/vblk1 /d rofs ro,roothash=ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100 0 0\n",
];

fn inputs(seed: u64, count: usize) -> Vec<String> {
    // Seeded, so a failure reproduces.
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::new();
    for i in 0..count {
        let mut bytes: Vec<u8> = SEEDS[i % SEEDS.len()].bytes().collect();
        for _ in 0..(rng.u64(..) % 8 + 1) {
            let pos = (rng.u64(..) as usize) % (bytes.len() + 1);
            let c = ALPHABET[(rng.u64(..) as usize) % ALPHABET.len()];
            match rng.u64(..) % 3 {
                0 if pos < bytes.len() => bytes[pos] = c,
                1 if pos < bytes.len() => {
                    bytes.remove(pos);
                }
                _ => bytes.insert(pos, c),
            }
        }
        out.push(String::from_utf8_lossy(&bytes).into_owned());
        let len = (rng.u64(..) % 64) as usize;
        let random: String = (0..len)
            .map(|_| ALPHABET[(rng.u64(..) as usize) % ALPHABET.len()] as char)
            .collect();
        out.push(random);
    }
    out
}

#[test]
fn parsers_never_panic() {
    let mut parsed = 0;
    for text in inputs(0x9E37_79B9_7F4A_7C15, 5000) {
        parsed += usize::from(crate::cmdline::parse(&text).is_ok());
        let (entries, _errors) = crate::fstab::parse_etc_fstab(&text);
        for e in entries {
            assert!(e.target.starts_with('/'), "{text:?}");
        }
        let _ = crate::fstab::parse_cmdline_entry(&text);
        let _ = crate::shell::parse::parse_script(&text);
    }
    // The mutations keep some inputs valid, so both paths are exercised.
    assert!(parsed > 0);
}
