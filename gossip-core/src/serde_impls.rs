//! `serde` for [`NodeId`], whose inline/shared representation is private: an id is its
//! bytes, written as a string when they are UTF-8 (every id a person typed) and as bytes
//! otherwise, and read back from either.

use crate::identity::NodeId;
use core::fmt;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match core::str::from_utf8(self.as_bytes()) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => serializer.serialize_bytes(self.as_bytes()),
        }
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(IdVisitor)
    }
}

struct IdVisitor;

impl<'de> Visitor<'de> for IdVisitor {
    type Value = NodeId;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a node id: a string or bytes")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeId, E> {
        Ok(NodeId::copy_from_slice(v.as_bytes()))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<NodeId, E> {
        Ok(NodeId::copy_from_slice(v))
    }

    /// Formats without a bytes type (JSON) write bytes as a list of numbers. The list is
    /// bounded by the longest id the protocol carries, so a hostile input cannot make it
    /// allocate more.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeId, A::Error> {
        let mut buf = [0u8; crate::MAX_ID_LEN];
        let mut len = 0;
        while let Some(byte) = seq.next_element::<u8>()? {
            let slot = buf.get_mut(len).ok_or_else(|| de::Error::invalid_length(len + 1, &self))?;
            *slot = byte;
            len += 1;
        }
        Ok(NodeId::copy_from_slice(&buf[..len]))
    }
}
