//! Keyed hashing for maps indexed by ids that peers choose: SipHash with keys drawn from
//! the node's random generator, so a peer cannot aim collisions at us (HashDoS) and a
//! seeded run stays reproducible. No protocol decision iterates these maps.

use crate::identity::NodeId;
use core::hash::BuildHasher;
use rand_core::RngCore;

/// SipHash keys; builds the hashers of an [`IdMap`].
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Keys {
    k0: u64,
    k1: u64,
}

impl Keys {
    /// Fresh keys from the node's generator.
    pub(crate) fn from_rng(rng: &mut impl RngCore) -> Self {
        Keys { k0: rng.next_u64(), k1: rng.next_u64() }
    }
}

impl BuildHasher for Keys {
    type Hasher = siphasher::sip::SipHasher;

    fn build_hasher(&self) -> Self::Hasher {
        siphasher::sip::SipHasher::new_with_keys(self.k0, self.k1)
    }
}

/// A map from node id to `V`, looked up by id or by `&[u8]`.
pub(crate) type IdMap<V> = hashbrown::HashMap<NodeId, V, Keys>;

/// An empty [`IdMap`] hashing with `keys`.
pub(crate) fn id_map<V>(keys: Keys) -> IdMap<V> {
    hashbrown::HashMap::with_hasher(keys)
}
