//! Optional encryption of every packet and frame (cargo feature `encryption`).
//!
//! A node with a [`Keyring`] in [`Config::keyring`](crate::Config) seals everything it
//! sends with the primary key and opens what it receives with any key of the ring, so keys
//! rotate without downtime: add the new key everywhere, make it primary everywhere, then
//! remove the old one. A packet no key opens (another key, no encryption, tampered) is
//! dropped and counted as [`RecvError::Decrypt`](crate::RecvError::Decrypt): a node without
//! the key never joins.
//!
//! The cipher is XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`): constant-time in
//! software on every target (no reliance on AES instructions), and its 192-bit nonce can be
//! drawn at random from the node's generator for the life of a key, however many nodes
//! share it and however many packets they send; a 96-bit random nonce (AES-GCM,
//! ChaCha20-Poly1305) is only safe for about 2^32 packets per key across the whole cluster.
//!
//! ```text
//! sealed   0xE5 | nonce (24 bytes) | ciphertext of the plain packet | tag (16 bytes)
//! ```
//! The leading byte, also the associated data, can never start a plain packet (which
//! starts with the protocol version).

use crate::prelude::*;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use core::fmt;

/// The first byte of a sealed packet.
pub const SEALED: u8 = 0xE5;
/// Length of a key, bytes.
pub const KEY_LEN: usize = 32;
/// The nonce's length: [`Keyring::seal`] takes one drawn at random for every message.
pub const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Bytes sealing adds to a packet: the leading byte, the nonce and the tag.
pub const SEAL_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;
/// Most keys a ring holds (every received packet may be tried against each).
pub const MAX_KEYS: usize = 8;

/// The keys a node accepts; the first one (the primary) seals what it sends.
#[derive(Clone, PartialEq, Eq)]
pub struct Keyring {
    keys: Vec<[u8; KEY_LEN]>,
}

impl fmt::Debug for Keyring {
    /// Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keyring({} keys)", self.keys.len())
    }
}

/// Why a [`Keyring`] change was refused; the ring is unchanged.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyringError {
    /// Already [`MAX_KEYS`] keys.
    Full,
    /// The key is not in the ring.
    Unknown,
    /// The primary key cannot be removed: make another one primary first.
    Primary,
    /// Not 64 hex digits (32 bytes).
    BadHex,
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyringError::Full => "the keyring is full",
            KeyringError::Unknown => "no such key in the keyring",
            KeyringError::Primary => "the primary key cannot be removed; switch to another first",
            KeyringError::BadHex => "a key is 64 hex digits (32 bytes)",
        })
    }
}

impl core::error::Error for KeyringError {}

impl Keyring {
    /// A ring of one key, the primary.
    pub fn new(primary: [u8; KEY_LEN]) -> Self {
        Keyring { keys: vec![primary] }
    }

    /// Parses a key written as 64 hex digits.
    pub fn parse_key(hex: &str) -> Result<[u8; KEY_LEN], KeyringError> {
        let hex = hex.trim().as_bytes();
        if hex.len() != 2 * KEY_LEN {
            return Err(KeyringError::BadHex);
        }
        let digit = |c: u8| (c as char).to_digit(16).ok_or(KeyringError::BadHex);
        let mut key = [0u8; KEY_LEN];
        for (byte, pair) in key.iter_mut().zip(hex.chunks_exact(2)) {
            if let [hi, lo] = *pair {
                *byte = (digit(hi)? * 16 + digit(lo)?) as u8;
            }
        }
        Ok(key)
    }

    /// The key that seals what this node sends.
    pub fn primary(&self) -> &[u8; KEY_LEN] {
        &self.keys[0]
    }

    /// Every key accepted, the primary first.
    pub fn keys(&self) -> impl Iterator<Item = &[u8; KEY_LEN]> {
        self.keys.iter()
    }

    /// Accepts `key` too (already there: nothing changes).
    pub fn add(&mut self, key: [u8; KEY_LEN]) -> Result<(), KeyringError> {
        if self.keys.contains(&key) {
            return Ok(());
        }
        if self.keys.len() >= MAX_KEYS {
            return Err(KeyringError::Full);
        }
        self.keys.push(key);
        Ok(())
    }

    /// Makes `key`, already in the ring, the primary.
    pub fn use_key(&mut self, key: &[u8; KEY_LEN]) -> Result<(), KeyringError> {
        let at = self.keys.iter().position(|k| k == key).ok_or(KeyringError::Unknown)?;
        self.keys[..=at].rotate_right(1);
        Ok(())
    }

    /// Stops accepting `key`; it must not be the primary.
    pub fn remove(&mut self, key: &[u8; KEY_LEN]) -> Result<(), KeyringError> {
        let at = self.keys.iter().position(|k| k == key).ok_or(KeyringError::Unknown)?;
        if at == 0 {
            return Err(KeyringError::Primary);
        }
        self.keys.remove(at);
        Ok(())
    }

    /// `plain` sealed with the primary key under `nonce`, which MUST be random (from the
    /// node's generator); the adapter also seals its discovery announcements with it.
    pub fn seal(&self, nonce: [u8; NONCE_LEN], plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plain.len() + SEAL_OVERHEAD);
        out.push(SEALED);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let cipher = XChaCha20Poly1305::new(self.primary().into());
        // Encrypted where it lies. Encryption only fails for messages beyond 2^38 bytes;
        // packets are far smaller.
        let body = &mut out[1 + NONCE_LEN..];
        let tag = cipher.encrypt_in_place_detached(XNonce::from_slice(&nonce), &[SEALED], body).unwrap_or_default();
        out.extend_from_slice(&tag);
        out
    }

    /// The plain packet inside `sealed`, if some key of the ring opens it.
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        let (&lead, rest) = sealed.split_first()?;
        if lead != SEALED || rest.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, rest) = rest.split_at(NONCE_LEN);
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        self.keys.iter().find_map(|key| {
            let mut plain = body.to_vec();
            let cipher = XChaCha20Poly1305::new(key.into());
            let opened = cipher.decrypt_in_place_detached(
                XNonce::from_slice(nonce),
                &[SEALED],
                &mut plain,
                Tag::from_slice(tag),
            );
            opened.is_ok().then_some(plain)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; KEY_LEN] = [1; KEY_LEN];
    const B: [u8; KEY_LEN] = [2; KEY_LEN];

    #[test]
    fn a_ring_opens_what_any_of_its_keys_sealed_and_nothing_else() {
        let plain = b"\x01\x00hello";
        let sealed = Keyring::new(A).seal([7; NONCE_LEN], plain);
        assert_eq!(sealed.len(), plain.len() + SEAL_OVERHEAD);
        assert_eq!(sealed[0], SEALED);
        let mut ring = Keyring::new(B);
        assert_eq!(ring.open(&sealed), None, "another key");
        ring.add(A).unwrap();
        assert_eq!(ring.open(&sealed).as_deref(), Some(&plain[..]), "a secondary key opens it");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x40;
            assert_eq!(ring.open(&bad), None, "byte {i} tampered");
            assert_eq!(ring.open(&sealed[..i]), None, "cut at {i}");
        }
        assert_eq!(ring.open(plain), None, "a plain packet");
    }

    #[test]
    fn rotation_keeps_the_primary_first_and_refuses_what_would_break_it() {
        let mut ring = Keyring::new(A);
        assert_eq!(ring.remove(&A), Err(KeyringError::Primary));
        assert_eq!(ring.use_key(&B), Err(KeyringError::Unknown));
        ring.add(B).unwrap();
        ring.add(B).unwrap();
        assert_eq!(ring.keys().count(), 2);
        ring.use_key(&B).unwrap();
        assert_eq!(ring.primary(), &B);
        ring.remove(&A).unwrap();
        assert_eq!(ring.keys().collect::<Vec<_>>(), vec![&B]);
        for i in 0..MAX_KEYS as u8 {
            let _ = ring.add([i + 10; KEY_LEN]);
        }
        assert_eq!(ring.keys().count(), MAX_KEYS);
        assert_eq!(ring.add([99; KEY_LEN]), Err(KeyringError::Full));
        assert!(!format!("{ring:?}").contains("2, 2"), "Debug prints no key bytes");
    }

    #[test]
    fn keys_parse_from_hex() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let key = Keyring::parse_key(hex).unwrap();
        assert_eq!(&key[..4], &[0x00, 0x11, 0x22, 0x33]);
        assert_eq!(key[31], 0xff);
        for bad in ["", "00", &hex[1..], &format!("{hex}00"), &hex.replace('a', "g")] {
            assert_eq!(Keyring::parse_key(bad), Err(KeyringError::BadHex), "{bad:?}");
        }
    }
}
