//! The generator behind `/dev/urandom` and `/dev/random`.

/// xoshiro256** (Blackman and Vigna), seeded through SplitMix64.
///
/// Fast (about 1 ns per 8 bytes) with good statistical quality and a period of
/// 2^256 - 1, but **not cryptographically secure**: its output is fully
/// determined by the seed, and 256 consecutive output bits reveal the state.
/// Good for tests, hashing seeds and simulations; do not make keys with it.
/// The same seed always gives the same stream, which keeps guest runs
/// reproducible.
#[derive(Clone, Debug)]
pub struct Xoshiro256StarStar {
    state: [u64; 4],
}

/// One SplitMix64 step: spreads a seed's bits over a full 64-bit word.
fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Xoshiro256StarStar {
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        // SplitMix64 never yields an all-zero state from four steps.
        let state = [
            splitmix64(&mut x),
            splitmix64(&mut x),
            splitmix64(&mut x),
            splitmix64(&mut x),
        ];
        Xoshiro256StarStar { state }
    }

    /// A generator in exactly this state (for checking reference vectors).
    #[cfg(test)]
    pub(crate) fn from_state(state: [u64; 4]) -> Self {
        Xoshiro256StarStar { state }
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    pub fn fill_bytes(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let bytes = self.next_u64().to_le_bytes();
            rest.copy_from_slice(&bytes[..rest.len()]);
        }
    }

    /// Fold `data` into the state (what writing to /dev/urandom does). The
    /// state is re-derived through SplitMix64 so it can never become all zero.
    pub fn mix(&mut self, data: &[u8]) {
        let mut acc = self.next_u64();
        for chunk in data.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            acc = splitmix64(&mut (acc ^ u64::from_le_bytes(word)));
        }
        let fresh = Self::new(acc ^ self.state[0]);
        for (s, f) in self.state.iter_mut().zip(fresh.state) {
            *s ^= f;
        }
        if self.state == [0; 4] {
            *self = fresh;
        }
    }
}
