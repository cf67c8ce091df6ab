//! Optional compression of a packet's messages (cargo feature `compression`), flagged in
//! the header so a receiver knows.
//!
//! ```text
//! compressed   version u8 | flags u8 = COMPRESSED | cluster | sender | plain_len u32 | LZ4 block
//! ```
//! The header stays readable; everything after it is one LZ4 block (`lz4_flex`, built
//! without unsafe code) of the messages, `plain_len` bytes once inflated. Inflating gives
//! back the plain packet (flags 0) for [`decode`](super::decode), which itself still refuses
//! the flag: a build without the feature drops compressed packets as
//! [`DecodeError::UnknownFlags`], so turn compression on only once every node runs a build
//! with the feature (every such build accepts compressed input, whatever its settings).

use super::{DecodeError, Reader, VERSION};
use crate::prelude::*;

/// The header flag of a compressed packet.
pub const COMPRESSED: u8 = 1;

/// Where the header of `packet` ends (version, flags, cluster, sender).
fn header_len(packet: &[u8]) -> Result<usize, DecodeError> {
    let mut r = Reader::new(packet);
    let version = r.u8("version")?;
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    r.u8("flags")?;
    let cluster = usize::from(r.u8("cluster length")?);
    r.bytes(cluster, "cluster")?;
    let sender = usize::from(r.u8("sender length")?);
    r.bytes(sender, "sender")?;
    Ok(packet.len().saturating_sub(r.remaining()))
}

/// `packet` (a plain encoded packet) with its messages compressed, if that is shorter.
/// `None` for anything else, a packet with header flags set included.
pub fn compress(packet: &[u8]) -> Option<Vec<u8>> {
    if packet.get(1) != Some(&0) {
        return None;
    }
    let head = header_len(packet).ok()?;
    let (header, body) = packet.split_at_checked(head)?;
    let plain_len = u32::try_from(body.len()).ok()?;
    let block = lz4_flex::block::compress(body);
    let len = head.saturating_add(4).saturating_add(block.len());
    if len >= packet.len() {
        return None;
    }
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(header);
    if let Some(flags) = out.get_mut(1) {
        *flags = COMPRESSED;
    }
    out.extend_from_slice(&plain_len.to_be_bytes());
    out.extend_from_slice(&block);
    Some(out)
}

/// The plain packet inside a compressed `packet`, at most `max_len` bytes; `None` when
/// `packet` is not compressed (decode it as it is).
pub fn inflate(packet: &[u8], max_len: usize) -> Result<Option<Vec<u8>>, DecodeError> {
    if packet.get(1).is_none_or(|&flags| flags != COMPRESSED) {
        return Ok(None);
    }
    let head = header_len(packet)?;
    let (header, rest) = packet.split_at_checked(head).ok_or(DecodeError::Truncated { field: "header" })?;
    let mut r = Reader::new(rest);
    let plain_len = r.u32("plain length")? as usize;
    let max = max_len.saturating_sub(head);
    if plain_len > max {
        return Err(DecodeError::TooLong { field: "inflated packet", len: plain_len, max });
    }
    let block = r.bytes(r.remaining(), "compressed block")?;
    let mut out = vec![0u8; head.saturating_add(plain_len)];
    let (out_header, out_body) = out.split_at_mut(head);
    out_header.copy_from_slice(header);
    if let Some(flags) = out_header.get_mut(1) {
        *flags = 0;
    }
    match lz4_flex::block::decompress_into(block, out_body) {
        Ok(n) if n == plain_len => Ok(Some(out)),
        _ => Err(DecodeError::BadCompression),
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use super::*;
    use crate::wire::{Header, Message, decode};
    use bytes::BytesMut;
    use proptest::prelude::*;

    fn packet(ids: &[Vec<u8>]) -> Vec<u8> {
        let mut out = BytesMut::new();
        Header { cluster: b"prod", sender: b"node-1" }.encode(&mut out);
        for id in ids {
            let addr = "10.0.0.1:7946".parse().unwrap();
            Message::Alive { incarnation: 3, id, addr, meta: b"zone=a" }.encode(&mut out);
        }
        out.to_vec()
    }

    proptest! {
        // Whatever compresses inflates back to the very same packet, and is shorter.
        #[test]
        fn compressed_packets_inflate_to_the_original(ids in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..40), 1..30)) {
            let plain = packet(&ids);
            prop_assert_eq!(inflate(&plain, 1 << 20).unwrap(), None, "a plain packet is left alone");
            if let Some(small) = compress(&plain) {
                prop_assert!(small.len() < plain.len());
                prop_assert_eq!(small[1], COMPRESSED);
                let back = inflate(&small, 1 << 20).unwrap().unwrap();
                prop_assert_eq!(&back, &plain);
                prop_assert!(decode(&back, &Default::default()).is_ok());
                prop_assert!(decode(&small, &Default::default()).is_err(), "decode alone refuses the flag");
            }
        }
    }

    #[test]
    fn a_repetitive_packet_shrinks_and_lies_about_its_size_are_refused() {
        let ids: Vec<Vec<u8>> = (0..40).map(|i| format!("service-node-{i:03}.prod.example.com").into_bytes()).collect();
        let plain = packet(&ids);
        let small = compress(&plain).expect("forty similar records compress");
        assert!(small.len() * 2 < plain.len(), "{} -> {} bytes", plain.len(), small.len());
        // A claimed size above the limit is refused before any allocation.
        let err = inflate(&small, plain.len() - 1).unwrap_err();
        assert!(matches!(err, DecodeError::TooLong { field: "inflated packet", .. }), "{err}");
        // A claimed size that the block does not fill, or a corrupted block.
        let head = header_len(&small).unwrap();
        let mut wrong_len = small.clone();
        wrong_len[head + 3] ^= 1;
        assert!(inflate(&wrong_len, 1 << 20).is_err());
        let mut cut = small.clone();
        cut.truncate(small.len() - 5);
        assert_eq!(inflate(&cut, 1 << 20), Err(DecodeError::BadCompression));
        assert!(inflate(&small[..3], 1 << 20).is_err(), "a truncated header");
        assert_eq!(compress(&small), None, "a packet with flags set is not ours to compress");
    }

    // Found by the `inflate` fuzz target: a "plain" packet with flag bits set compressed,
    // and inflated with flags 0, so the round trip changed a byte. Only flag-free packets
    // (all the encoder makes) are compressed now.
    #[test]
    fn regression_a_packet_with_flags_is_not_compressed() {
        let mut plain = packet(&vec![b"abcdefgh".to_vec(); 20]);
        plain[1] = 0x80;
        assert_eq!(compress(&plain), None);
        crate::fuzzing::inflate(&plain);
    }
}
