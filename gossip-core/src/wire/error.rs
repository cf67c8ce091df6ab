//! Why a received packet could not be decoded.

use core::fmt;

/// A decoding failure: the packet is dropped whole and nothing it said is applied.
///
/// `Copy` and allocation-free, so the hostile-input path costs nothing beyond a counter.
#[non_exhaustive]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The packet ended before `field` was complete.
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// The header's protocol version is not one this build speaks.
    UnsupportedVersion(u8),
    /// The header set flag bits this build does not know.
    UnknownFlags(u8),
    /// A message tag this build does not know.
    UnknownMessage(u8),
    /// A member state byte outside the known states.
    UnknownState(u8),
    /// An address family byte other than 4 or 6.
    UnknownAddressFamily(u8),
    /// A node id of length zero.
    EmptyId {
        /// Which id.
        field: &'static str,
    },
    /// A length above the configured limit.
    TooLong {
        /// The field whose length was too large.
        field: &'static str,
        /// The length the peer claimed.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// More items than the configured limit or than the remaining bytes could hold.
    TooMany {
        /// What was being counted.
        field: &'static str,
        /// The count the peer claimed.
        count: usize,
        /// The limit that applied.
        max: usize,
    },
    /// A packet with a header but no message.
    NoMessages,
    /// A key/value write kind other than delete (0) or set (1).
    UnknownWriteKind(u8),
    /// A key/value digest scope other than complete (0), sums (1) or listed (2).
    UnknownDigestScope(u8),
    /// A compressed packet whose block does not inflate to its stated length.
    BadCompression,
}

impl DecodeError {
    /// Number of distinct kinds, for per-kind counters.
    pub const KINDS: usize = 13;

    /// A stable index per variant in `0..KINDS`, for per-kind counters.
    pub fn kind(&self) -> usize {
        match self {
            DecodeError::Truncated { .. } => 0,
            DecodeError::UnsupportedVersion(_) => 1,
            DecodeError::UnknownFlags(_) => 2,
            DecodeError::UnknownMessage(_) => 3,
            DecodeError::UnknownState(_) => 4,
            DecodeError::UnknownAddressFamily(_) => 5,
            DecodeError::EmptyId { .. } => 6,
            DecodeError::TooLong { .. } => 7,
            DecodeError::TooMany { .. } => 8,
            DecodeError::NoMessages => 9,
            DecodeError::UnknownWriteKind(_) => 10,
            DecodeError::UnknownDigestScope(_) => 11,
            DecodeError::BadCompression => 12,
        }
    }

    /// The name of each kind, indexed by [`DecodeError::kind`].
    pub const KIND_NAMES: [&'static str; Self::KINDS] = [
        "truncated",
        "unsupported_version",
        "unknown_flags",
        "unknown_message",
        "unknown_state",
        "unknown_address_family",
        "empty_id",
        "too_long",
        "too_many",
        "no_messages",
        "unknown_write_kind",
        "unknown_digest_scope",
        "bad_compression",
    ];
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { field } => write!(f, "packet truncated in {field}"),
            DecodeError::UnsupportedVersion(v) => write!(f, "unsupported protocol version {v}"),
            DecodeError::UnknownFlags(b) => write!(f, "unknown header flags {b:#04x}"),
            DecodeError::UnknownMessage(t) => write!(f, "unknown message tag {t}"),
            DecodeError::UnknownState(s) => write!(f, "unknown member state {s}"),
            DecodeError::UnknownAddressFamily(a) => write!(f, "unknown address family {a}"),
            DecodeError::EmptyId { field } => write!(f, "empty node id in {field}"),
            DecodeError::TooLong { field, len, max } => {
                write!(f, "{field} is {len} bytes, the limit is {max}")
            }
            DecodeError::TooMany { field, count, max } => {
                write!(f, "{count} {field}, the limit is {max}")
            }
            DecodeError::NoMessages => f.write_str("packet carries no message"),
            DecodeError::UnknownWriteKind(k) => write!(f, "unknown key write kind {k}"),
            DecodeError::UnknownDigestScope(k) => write!(f, "unknown key digest scope {k}"),
            DecodeError::BadCompression => f.write_str("compressed block does not inflate to its stated length"),
        }
    }
}

impl core::error::Error for DecodeError {}
