//! The member table's by-id index: an open-addressing hash table of slot numbers, one
//! `u32` per bucket, probed linearly. Each entry packs the slot number in its low bits and
//! a tag from the id's hash in the rest, so a lookup usually reads one cache line of the
//! index and then the one slot whose tag matches: two memory reads where a table with
//! separate control bytes takes three. At 10,000 members a node does millions of lookups
//! a minute, each a likely cache miss in a simulator holding n² members.
//!
//! The caller owns the ids and the hashing: it passes each id's hash, and a function from
//! slot number to hash when the table grows.

use crate::prelude::*;
/// An empty bucket.
const EMPTY: u32 = 0;
/// A bucket whose entry was removed; probing goes on past it.
const REMOVED: u32 = 1;

/// Slot numbers indexed by id hash (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct IdIndex {
    /// `tag << bits | slot`, with tags odd so that no entry is `EMPTY` or `REMOVED`.
    buckets: Vec<u32>,
    /// log2 of the bucket count: the width of the slot field.
    bits: u32,
    len: usize,
    removed: usize,
}

impl IdIndex {
    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    /// The tag field of an entry for `hash`: high hash bits, odd.
    fn tag(&self, hash: u64) -> u32 {
        ((hash >> 32) as u32 >> self.bits) | 1
    }

    /// The slot whose entry has `hash` and for which `is` holds (it compares the id).
    pub(crate) fn find(&self, hash: u64, is: impl Fn(u32) -> bool) -> Option<u32> {
        if self.buckets.is_empty() {
            return None;
        }
        let (tag, mask, slot_mask) = (self.tag(hash), self.mask(), self.mask() as u32);
        let mut pos = hash as usize & mask;
        loop {
            let e = self.buckets[pos];
            if e == EMPTY {
                return None;
            }
            if e >> self.bits == tag && is(e & slot_mask) {
                return Some(e & slot_mask);
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Reads the first bucket a lookup of `hash` reads, to bring it into the cache.
    pub(crate) fn touch(&self, hash: u64) {
        if let Some(&e) = self.buckets.get(hash as usize & self.mask()) {
            core::hint::black_box(e);
        }
    }

    /// Adds `slot` under `hash` (not present yet). `hash_of` gives the hash of any slot
    /// already indexed, for when the table grows.
    pub(crate) fn insert(&mut self, hash: u64, slot: u32, hash_of: impl Fn(u32) -> u64) {
        let cap = self.buckets.len();
        if (self.len + self.removed + 1) * 4 > cap * 3 || slot as usize >= cap {
            let need = (self.len + 1).max(slot as usize + 1);
            let mut new_cap = cap.max(8);
            while need * 4 > new_cap * 3 || slot as usize >= new_cap {
                new_cap *= 2;
            }
            self.rebuild(new_cap, &hash_of);
        }
        self.place(hash, slot);
        self.len += 1;
    }

    /// Removes the entry of `slot`, whose hash is `hash`.
    pub(crate) fn remove(&mut self, hash: u64, slot: u32) {
        if self.buckets.is_empty() {
            return;
        }
        let (mask, slot_mask) = (self.mask(), self.mask() as u32);
        let mut pos = hash as usize & mask;
        loop {
            let e = self.buckets[pos];
            if e == EMPTY {
                return;
            }
            if e != REMOVED && e & slot_mask == slot {
                self.buckets[pos] = REMOVED;
                self.len -= 1;
                self.removed += 1;
                return;
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Writes an entry into the first free bucket of its probe sequence.
    fn place(&mut self, hash: u64, slot: u32) {
        let (tag, mask) = (self.tag(hash), self.mask());
        let mut pos = hash as usize & mask;
        while self.buckets[pos] > REMOVED {
            pos = (pos + 1) & mask;
        }
        if self.buckets[pos] == REMOVED {
            self.removed -= 1;
        }
        self.buckets[pos] = tag << self.bits | slot;
    }

    /// Re-creates the table with `cap` buckets (a power of two), dropping removed entries.
    fn rebuild(&mut self, cap: usize, hash_of: &impl Fn(u32) -> u64) {
        let old = core::mem::take(&mut self.buckets);
        let old_mask = old.len().wrapping_sub(1) as u32;
        self.buckets = vec![EMPTY; cap];
        self.bits = cap.trailing_zeros();
        self.removed = 0;
        // In slot order: `hash_of` reads each slot, and in bucket order nearly every read
        // missed the cache.
        let mut slots: Vec<u32> = old.into_iter().filter(|&e| e > REMOVED).map(|e| e & old_mask).collect();
        slots.sort_unstable();
        for slot in slots {
            self.place(hash_of(slot), slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;
    use proptest::prelude::*;

    /// A poor hash on purpose: many collisions and shared tags exercise the probing.
    fn hash(key: u32) -> u64 {
        u64::from(key % 7) << 40 | u64::from(key % 13)
    }

    proptest! {
        // Against a map model: after any sequence of inserts and removals, exactly the
        // live keys are found, each at its slot, and the count is right.
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((any::<bool>(), 0..64u32), 0..300)) {
            let mut index = IdIndex::default();
            let mut model: BTreeMap<u32, u32> = BTreeMap::new(); // key -> slot
            let mut slot_key: Vec<Option<u32>> = Vec::new(); // slot -> key
            for (insert, key) in ops {
                if insert && !model.contains_key(&key) {
                    let slot = slot_key.iter().position(Option::is_none).unwrap_or(slot_key.len());
                    if slot == slot_key.len() {
                        slot_key.push(None);
                    }
                    slot_key[slot] = Some(key);
                    let keys = slot_key.clone();
                    index.insert(hash(key), slot as u32, |s| hash(keys[s as usize].unwrap()));
                    model.insert(key, slot as u32);
                } else if !insert && let Some(slot) = model.remove(&key) {
                    index.remove(hash(key), slot);
                    slot_key[slot as usize] = None;
                }
                prop_assert_eq!(index.len(), model.len());
            }
            for key in 0..64u32 {
                let found = index.find(hash(key), |s| slot_key[s as usize] == Some(key));
                prop_assert_eq!(found, model.get(&key).copied(), "key {}", key);
            }
        }
    }
}
