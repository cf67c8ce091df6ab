//! One simulated node's process: the node and the two things the event loop keeps beside
//! it (its queued timer, and how long it is paused). Handling an event here touches only
//! this host, and what it hands out ([`Outcome`]) is applied to the network and the truth
//! by the simulator afterwards. That split is what lets a window of events run on several
//! threads (`workers.rs`) and still apply in the one order a single thread would.

use crate::rng::SplitMix;
use bytes::Bytes;
use core::cmp::Ordering;
use core::net::SocketAddr;
use core::time::Duration;
use gossip_core::{Event, Node, Time, Transmit};

/// What a queued event does.
pub(crate) enum What {
    Deliver {
        to: usize,
        from: SocketAddr,
        payload: Bytes,
        reliable: bool,
    },
    Timer {
        node: usize,
    },
    /// The node boots, a fresh process, and joins through `seeds` (none: it founds the
    /// cluster).
    Start {
        node: usize,
        boot: Box<Node<SplitMix>>,
        seeds: Vec<SocketAddr>,
    },
}

impl What {
    /// The node it happens to.
    pub(crate) fn node(&self) -> usize {
        match *self {
            What::Deliver { to, .. } => to,
            What::Timer { node } | What::Start { node, .. } => node,
        }
    }
}

/// Where starts queue ([`What::Start`]): after every other entry due at the same time, as
/// a start between two runs comes after the first run's last event.
pub(crate) const START_SEQ: u64 = 1 << 63;

/// A queued event, ordered by time and then by when it was queued.
pub(crate) struct Scheduled {
    pub(crate) at: Time,
    pub(crate) seq: u64,
    pub(crate) what: What,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// What handling one event did at its host, for the simulator to apply.
pub(crate) enum Outcome {
    /// Nothing: the node is not running, or the timer entry is stale.
    Nothing,
    /// Put off (the node is paused): the event goes back in the queue at this time.
    Deferred(Time, What),
    /// The node handled it.
    Handled(Output),
}

/// What a node sent and raised after one input, and the timer entry to queue when its
/// deadline moved.
#[derive(Default)]
pub(crate) struct Output {
    pub(crate) transmits: Vec<Transmit>,
    pub(crate) events: Vec<Event>,
    pub(crate) timer: Option<Time>,
    /// The node booted with this input: the truth learns that it lives first.
    pub(crate) started: bool,
}

/// A node's process.
pub(crate) struct Host {
    /// Boxed, so that handing the host to a thread moves a pointer, not the node.
    pub(crate) node: Option<Box<Node<SplitMix>>>,
    /// The deadline a timer entry is queued for.
    pub(crate) timer_at: Option<Time>,
    /// Input and timers wait until then (a paused, CPU-starved node).
    pub(crate) paused_until: Time,
}

impl Host {
    /// A host with no node running.
    pub(crate) fn empty() -> Self {
        Host { node: None, timer_at: None, paused_until: Time::ZERO }
    }

    /// Handles `what` at `now`.
    pub(crate) fn step(&mut self, now: Time, what: What) -> Outcome {
        if let What::Start { boot, seeds, .. } = what {
            *self = Host { node: Some(boot), ..Host::empty() };
            if let Some(node) = self.node.as_mut() {
                let _ = node.join(now, &seeds);
            }
            return self.collect().map_or(Outcome::Nothing, |out| Outcome::Handled(Output { started: true, ..out }));
        }
        if self.node.is_none() {
            return Outcome::Nothing;
        }
        match what {
            What::Deliver { to, from, payload, reliable } => {
                if self.paused_until > now {
                    // A starved process wakes to overdue timers first and reads its socket
                    // backlog after: the input it missed lands just after its timers.
                    let at = self.paused_until.saturating_add(Duration::from_millis(1));
                    return Outcome::Deferred(at, What::Deliver { to, from, payload, reliable });
                }
                if let Some(node) = self.node.as_mut() {
                    let _ = if reliable {
                        node.handle_stream(now, from, &payload)
                    } else {
                        node.handle_datagram(now, from, &payload)
                    };
                }
            }
            What::Timer { node } => {
                if self.timer_at.is_none_or(|t| t > now) {
                    return Outcome::Nothing; // a stale entry for a deadline that moved
                }
                if self.paused_until > now {
                    self.timer_at = Some(self.paused_until);
                    return Outcome::Deferred(self.paused_until, What::Timer { node });
                }
                self.timer_at = None;
                if let Some(node) = self.node.as_mut() {
                    node.handle_timeout(now);
                }
            }
            What::Start { .. } => unreachable!("handled above"),
        }
        self.collect().map_or(Outcome::Nothing, Outcome::Handled)
    }

    /// Takes what the node sent and raised, and its deadline if a timer entry must be
    /// queued for it; `None` when no node runs.
    pub(crate) fn collect(&mut self) -> Option<Output> {
        let node = self.node.as_mut()?;
        let mut out = Output::default();
        while let Some(t) = node.poll_transmit() {
            out.transmits.push(t);
        }
        while let Some(e) = node.poll_event() {
            out.events.push(e);
        }
        let deadline = node.poll_timeout();
        if deadline.is_some() && deadline != self.timer_at {
            self.timer_at = deadline;
            out.timer = deadline;
        }
        Some(out)
    }
}
