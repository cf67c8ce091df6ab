//! The run digest: every transmit and event folded in order into one 64-bit value, so a
//! seed replays to the same `trace_hash` on every run and machine.

use gossip_core::Event;

/// A 64-bit running digest (word-wise multiply-rotate mixing; fixed constants, so it is
/// the same everywhere). Not cryptographic: it detects divergence, nothing more.
#[derive(Clone, Debug)]
pub struct Digest(u64);

impl Default for Digest {
    fn default() -> Self {
        Digest(0xcbf2_9ce4_8422_2325)
    }
}

impl Digest {
    /// The digest so far.
    pub fn value(&self) -> u64 {
        self.0
    }

    /// Folds in one word.
    pub fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    }

    /// Folds in bytes, eight at a time, and their length.
    pub fn bytes(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes(c.try_into().expect("8-byte chunk")));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.word(u64::from_le_bytes(tail));
        self.word(bytes.len() as u64);
    }

    /// Folds in an event raised by node `node`: its kind, subject and incarnation.
    pub fn event(&mut self, node: usize, event: &Event) {
        let (kind, id, incarnation) = match event {
            Event::MemberUp(m) => (1, Some(&m.id), m.incarnation),
            Event::MemberUpdated(m) => (2, Some(&m.id), m.incarnation),
            Event::MemberSuspect { id, incarnation } => (3, Some(id), *incarnation),
            Event::MemberDown { id, incarnation } => (4, Some(id), *incarnation),
            Event::MemberLeft { id, incarnation } => (5, Some(id), *incarnation),
            Event::Refuted { incarnation } => (6, None, *incarnation),
            Event::Joined => (7, None, 0),
            _ => (8, None, 0),
        };
        self.word(node as u64);
        self.word(kind | (u64::from(incarnation) << 8));
        if let Some(id) = id {
            self.bytes(id.as_bytes());
        }
    }
}
