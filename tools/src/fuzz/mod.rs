//! Fuzz targets on the stable toolchain (issue 11), shared by the bounded pass in
//! `tools/tests/fuzz.rs` (proptest feeds them bytes, and shrinks a failure) and the long runner
//! `fuzz` (`tools/src/bin/fuzz.rs`, random bytes from a seed it prints).
//!
//! Every target is a `fn(&[u8])` in the manner of libFuzzer: it reads the bytes as a sequence of
//! choices through [`Input`] (arbitrary bytes, a seed to mutate, a command, a time, ...), runs
//! the code under test and asserts its properties. A panic is a finding. The same bytes always
//! make the same run, so a seed or a shrunk input reproduces it.

mod targets;
mod templates;
pub mod world;

pub use targets::*;
pub use templates::templates;

/// A fuzz target: its name for `--target`, what it checks, and the longest input worth making.
pub struct Target {
    pub name: &'static str,
    pub about: &'static str,
    pub run: fn(&[u8]),
    pub max_len: usize,
}

/// Every target, in the order `--target all` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "entry",
        about: "EntryView::parse of arbitrary and mutated entries; accepted ones round-trip",
        run: targets::entry,
        max_len: 1024,
    },
    Target {
        name: "postings",
        about: "postings Decoder and Index over arbitrary bytes; encode then decode round-trips",
        run: targets::postings,
        max_len: 1024,
    },
    Target {
        name: "views",
        about: "views marker, chunks and deltas: arbitrary and mutated bytes; the chain vouches",
        run: targets::views,
        max_len: 1024,
    },
    Target {
        name: "load",
        about: "Projections::load of arbitrary and mutated records; garbage is an Err",
        run: targets::load,
        max_len: 1024,
    },
    Target {
        name: "checkpoint",
        about: "NoteVerifier::from_vkey and open of arbitrary and mutated notes and vkeys",
        run: targets::checkpoint,
        max_len: 512,
    },
    Target {
        name: "decide",
        about: "decide over random command sequences applied to a world; refusals and events well-formed",
        run: targets::decide,
        max_len: 2048,
    },
    Target {
        name: "apply",
        about: "Recorded::from_entry and Projections::apply of arbitrary data for every event type",
        run: targets::apply,
        max_len: 2048,
    },
    Target {
        name: "grpc",
        about: "every mutating gRPC request decoded from arbitrary bytes, translated as its handler does, decided",
        run: targets::grpc,
        max_len: 2048,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// Reads a fuzz input as choices. Past its end every read is zero, so any input is complete.
pub struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data, pos: 0 }
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos = self.pos.saturating_add(1);
        b
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from(self.u16()) | (u32::from(self.u16()) << 16)
    }

    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// True about `num` times in `den`.
    pub fn chance(&mut self, num: u8, den: u8) -> bool {
        (self.u8() % den.max(1)) < num
    }

    /// A number in `0..n` (`0` when `n` is 0); one byte when `n` fits one.
    pub fn below(&mut self, n: usize) -> usize {
        match n {
            0 | 1 => 0,
            2..=256 => usize::from(self.u8()) % n,
            _ => (self.u32() as usize) % n,
        }
    }

    pub fn choose<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len())]
    }

    /// Up to `max` bytes, fewer when the input runs out.
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = self.below(max.saturating_add(1));
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(n).min(self.data.len());
        self.pos = start.saturating_add(n);
        &self.data[start..end]
    }

    /// Every byte not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        self.pos = self.data.len();
        &self.data[start..]
    }

    /// A small "interesting" or arbitrary u64.
    pub fn number(&mut self) -> u64 {
        match self.below(8) {
            0 => 0,
            1 => 1,
            2 => u64::MAX,
            3 => u64::MAX - 1,
            4 => u64::from(u32::MAX) + 1,
            5 | 6 => self.below(8) as u64,
            _ => self.u64(),
        }
    }

    /// Arbitrary text (lossy UTF-8 of up to `max` bytes).
    pub fn text(&mut self, max: usize) -> String {
        String::from_utf8_lossy(self.bytes(max)).into_owned()
    }
}

/// Tokens worth splicing into text formats: JSON syntax, numbers at the edges, separators.
const DICTIONARY: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"null",
    b"true",
    b"0",
    b"-1",
    b"1.5",
    b"1e999",
    b"18446744073709551615",
    b"18446744073709551616",
    b"4294967296",
    b"\\u0000",
    b"\\ud800",
    b"\\\"",
    b"\n",
    b"\n\n",
    b"\r\n",
    b" ",
    b"+",
    b"\xe2\x80\x94 ",
    b"\xff",
    b"\xc3\xa9",
    b"=",
    b"AAAA",
];

/// Applies 1 to 8 mutations chosen by `u`: bit flips, byte sets, inserts, deletions,
/// duplications and dictionary splices.
pub fn mutate(mut bytes: Vec<u8>, u: &mut Input<'_>) -> Vec<u8> {
    let n = 1 + u.below(8);
    for _ in 0..n {
        let len = bytes.len();
        let at = u.below(len + 1);
        match u.below(7) {
            0 if len > 0 => {
                let i = at.min(len - 1);
                bytes[i] ^= 1 << u.below(8);
            }
            1 if len > 0 => {
                let i = at.min(len - 1);
                bytes[i] = *u.choose(&[0u8, 0x7f, 0x80, 0xff, b'"', b'\\', b'0', b'9', b'a']);
            }
            2 => bytes.insert(at, u.u8()),
            3 if len > 0 => {
                let end = at.saturating_add(1 + u.below(16)).min(len);
                bytes.drain(at.min(len)..end);
            }
            4 if len > 0 => {
                let from = u.below(len);
                let end = from.saturating_add(1 + u.below(32)).min(len);
                let piece = bytes[from..end].to_vec();
                bytes.splice(at..at, piece);
            }
            5 => {
                let tok = *u.choose(DICTIONARY);
                bytes.splice(at..at, tok.iter().copied());
            }
            _ if len > 0 => {
                // Overwrite with a dictionary token.
                let tok = *u.choose(DICTIONARY);
                let end = at.saturating_add(tok.len()).min(len);
                bytes.splice(at.min(len)..end, tok.iter().copied());
            }
            _ => bytes.push(u.u8()),
        }
    }
    bytes
}

/// xorshift64*: the runner's source of inputs. Deterministic from its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so nearby seeds give unrelated streams (and never zero).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// The input of one execution: a length biased towards short inputs, then random bytes.
    pub fn input(&mut self, max_len: usize) -> Vec<u8> {
        let max = max_len as u64;
        let len = match self.below(4) {
            0 => self.below(33),
            1 => self.below(max / 4 + 1),
            _ => self.below(max + 1),
        } as usize;
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}
