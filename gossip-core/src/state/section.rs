//! The key/value section of a sync: digest first, then the deltas the peer lacks.

use super::State;
use super::store::{OwnerDelta, delta_len};
use crate::digest;
use crate::identity::NodeId;
use crate::prelude::*;
use crate::shared::Shared;
use crate::sync::SyncPart;
use crate::wire::{self, KvScope, KvScopeOut, KvSection, KvWrite};
use alloc::collections::BTreeMap;

impl State {
    /// Encodes the key/value section of one part of a sync, digest-first (`None` when
    /// there is nothing to say):
    ///
    /// - request: our digest as bucket sums (nothing when we know no keys);
    /// - response: our owners of the buckets whose sums differ from the request's, listed
    ///   (nothing when none differ). To a request without keys, the deltas it lacks;
    /// - push-back: the deltas the responder lacks by its listing, and our own owners of
    ///   the same buckets, listed;
    /// - answer: the deltas the requester lacks by the push-back's listing.
    ///
    /// So two nodes that agree exchange one request's sums (half a byte per owner), and
    /// otherwise list the owners of the buckets that differ, where each side sent its
    /// whole digest before. Deltas take at most half a stream frame and the budget, and a
    /// listing goes only where the budget has room for it (else the response says nothing
    /// of keys, and the push-back carries its deltas alone); a peer's section with a
    /// complete digest gets what it lacks by that digest.
    pub(crate) fn section<R>(
        &mut self,
        sh: &mut Shared<'_, R>,
        part: SyncPart,
        peer: Option<&KvSection<'_>>,
    ) -> Option<Vec<u8>> {
        let room = (sh.config.max_stream_frame / 2).min(sh.kv_room());
        let peer_digest = |s: &KvSection<'_>| -> BTreeMap<NodeId, u64> {
            s.digest().map(|(id, max)| (NodeId::copy_from_slice(id), max)).collect()
        };
        let in_set = |set: &wire::BucketSet<'_>, id: &[u8]| set.contains(digest::bucket(id, set.log2()));
        let scope = peer.map(KvSection::scope);
        let out = match (part, scope) {
            (SyncPart::Request, _) => {
                if self.store.owners() == 0 {
                    return None;
                }
                let sums = self.store.bucket_sums(digest::kv_log2_for(self.store.owners()));
                encode_deltas(KvScopeOut::Sums(&sums), core::iter::empty(), &[])
            }
            (SyncPart::Response, None) => {
                let deltas = self.store.delta(&BTreeMap::new(), room);
                if deltas.is_empty() {
                    return None;
                }
                encode_deltas(KvScopeOut::Complete, core::iter::empty(), &deltas)
            }
            (SyncPart::Response, Some(KvScope::Sums(theirs))) => {
                let log2 = theirs.log2();
                let mine = self.store.bucket_sums(log2);
                let mut bits = vec![0u8; wire::bitmap_len(log2)];
                let mut any = false;
                for (b, (m, t)) in mine.iter().zip(theirs.iter()).enumerate() {
                    if *m != t {
                        bits[b / 8] |= 1 << (b % 8);
                        any = true;
                    }
                }
                if !any {
                    return None;
                }
                let listed = self.store.listed(log2, &bits);
                if listing_len(&listed) > sh.kv_room() && self.pushes_waiting() {
                    return None; // the budget is for our pushes: this sync settles membership only
                }
                let listed = listed.iter().map(|(id, max)| (id.as_bytes(), *max));
                encode_deltas(KvScopeOut::Listed { log2, bits: &bits }, listed, &[])
            }
            (SyncPart::Response, Some(KvScope::Complete)) => {
                let deltas = self.store.delta(&peer_digest(peer?), room);
                let digest = self.store.digest().map(|(id, max)| (id.as_bytes(), max)).collect::<Vec<_>>();
                encode_deltas(KvScopeOut::Complete, digest.into_iter(), &deltas)
            }
            (SyncPart::PushBack, Some(KvScope::Complete)) => {
                let deltas = self.store.delta(&peer_digest(peer?), room);
                if deltas.is_empty() {
                    return None;
                }
                encode_deltas(KvScopeOut::Complete, core::iter::empty(), &deltas)
            }
            (SyncPart::PushBack, Some(KvScope::Listed(set))) => {
                let deltas = self.store.delta_within(&peer_digest(peer?), |id| in_set(&set, id), room);
                let listed = self.store.listed(set.log2(), set.bits());
                let spent: usize = deltas.iter().map(delta_len).sum();
                if listing_len(&listed) > sh.kv_room().saturating_sub(spent) && self.pushes_waiting() {
                    // Over budget: the deltas only, and no answer to them.
                    if deltas.is_empty() {
                        return None;
                    }
                    encode_deltas(KvScopeOut::Complete, core::iter::empty(), &deltas)
                } else {
                    let listed = listed.iter().map(|(id, max)| (id.as_bytes(), *max));
                    encode_deltas(KvScopeOut::Listed { log2: set.log2(), bits: set.bits() }, listed, &deltas)
                }
            }
            (SyncPart::Answer, Some(KvScope::Listed(set))) => {
                let deltas = self.store.delta_within(&peer_digest(peer?), |id| in_set(&set, id), room);
                if deltas.is_empty() {
                    return None;
                }
                encode_deltas(KvScopeOut::Complete, core::iter::empty(), &deltas)
            }
            _ => return None, // a section that part never answers (a peer's mistake)
        };
        sh.kv_spend(out.len());
        sh.stats.kv_sync_bytes += out.len() as u64;
        Some(out)
    }
}

/// Encoded size of a listing of these owners' digest entries.
fn listing_len(listed: &[(&NodeId, u64)]) -> usize {
    listed.iter().map(|(id, _)| wire::digest_entry_len(id.as_bytes())).sum()
}

/// Encodes a key/value section of `scope`, `digest` entries and `deltas`.
fn encode_deltas<'a>(
    scope: KvScopeOut<'_>,
    digest: impl ExactSizeIterator<Item = (&'a [u8], u64)>,
    deltas: &'a [OwnerDelta],
) -> Vec<u8> {
    let mut out = Vec::new();
    wire::encode_section(
        &mut out,
        scope,
        digest,
        deltas.iter().map(|d| {
            let writes =
                d.writes.iter().map(|w| KvWrite { key: &w.key, version: w.version, value: w.value.as_deref() });
            (d.owner.as_bytes(), d.reset, d.base, d.up_to, writes)
        }),
    );
    out
}
