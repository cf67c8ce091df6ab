//! The four states a member record carries.

/// A member's liveness as this node sees it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum MemberState {
    /// Answering probes (or nobody has said otherwise).
    Alive,
    /// Failed a probe; it has a suspicion timeout to refute before being declared Down.
    Suspect,
    /// Declared failed. Kept as a tombstone until reclaimed.
    Down,
    /// Left gracefully. Kept as a tombstone until reclaimed.
    Left,
}

impl MemberState {
    /// Whether the member counts as part of the live cluster (Alive or Suspect).
    pub fn is_live(self) -> bool {
        matches!(self, MemberState::Alive | MemberState::Suspect)
    }
}
