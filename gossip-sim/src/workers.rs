//! Threads for the parallel pass of a window (see [`Sim::threads`](crate::Sim::threads)):
//! each takes some of the window's nodes, with their hosts, and handles each node's events
//! in the order the queue holds them, follow-ups that fall in the window included. Only the
//! hosts move between threads; what they hand out is applied on the simulator's thread.

use crate::host::{Host, Outcome, Output, Scheduled, What};
use gossip_core::Time;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

/// The window a job runs in.
#[derive(Clone, Copy)]
pub(crate) struct Window {
    /// The simulator's time at its start.
    pub(crate) now: Time,
    /// Its end (exclusive): no packet sent inside it arrives before.
    pub(crate) end: Time,
    /// The queue position the window's first new entry takes; every entry queued before
    /// has a lower one.
    pub(crate) first_new_seq: u64,
}

/// About how much work handling an event is: the bytes it reads, and 256 for the rest.
pub(crate) fn weight(s: &Scheduled) -> usize {
    256 + match &s.what {
        What::Deliver { payload, .. } => payload.len(),
        What::Timer { .. } | What::Start { .. } => 0,
    }
}

/// One node's part of a window.
pub(crate) struct Job {
    pub(crate) node: usize,
    pub(crate) host: Host,
    /// Its events in the window, in queue order.
    pub(crate) events: Vec<Scheduled>,
    /// What each event did, in the order handled.
    pub(crate) outcomes: Vec<Outcome>,
}

impl Job {
    /// A job for `node`'s events; its host goes in once the window is sure to run.
    pub(crate) fn new(node: usize) -> Self {
        Job { node, host: Host::empty(), events: Vec::new(), outcomes: Vec::new() }
    }

    /// How much work it is, for sharing the jobs out (see [`weight`]).
    fn weight(&self) -> usize {
        self.events.iter().map(weight).sum()
    }

    /// Handles the events at the host. A follow-up inside the window (a timer due in it, an
    /// input put off by a pause) can only be this node's, and is handled here too, after
    /// every entry queued before the window at the same time, as the queue orders it.
    fn run(&mut self, window: Window) {
        let mut queue: BinaryHeap<Reverse<Scheduled>> = self.events.drain(..).map(Reverse).collect();
        let mut seq = window.first_new_seq;
        let mut now = window.now;
        while let Some(Reverse(s)) = queue.pop() {
            now = now.max(s.at);
            let mut outcome = self.host.step(now, s.what);
            // A put-off input handled here goes back to the simulator as a stand-in with the
            // same node: all it queues for an entry inside the window is the node.
            let follow_up = match &mut outcome {
                Outcome::Deferred(at, what) if *at < window.end => {
                    Some((*at, core::mem::replace(what, What::Timer { node: self.node })))
                }
                Outcome::Handled(Output { timer: Some(at), .. }) => Some((*at, What::Timer { node: self.node })),
                _ => None,
            };
            if let Some((at, what)) = follow_up.filter(|&(at, _)| at < window.end) {
                queue.push(Reverse(Scheduled { at, seq, what }));
                seq += 1;
            }
            self.outcomes.push(outcome);
        }
    }
}

/// Threads beside the simulator's own, waiting for jobs.
pub(crate) struct Workers {
    threads: Vec<Worker>,
}

struct Worker {
    jobs: Option<Sender<(Window, Vec<Job>)>>,
    done: Receiver<Vec<Job>>,
    handle: Option<JoinHandle<()>>,
}

impl Workers {
    /// `extra` threads besides the caller's.
    pub(crate) fn new(extra: usize) -> Self {
        let threads = (0..extra)
            .map(|_| {
                let (jobs, inbox) = channel::<(Window, Vec<Job>)>();
                let (outbox, done) = channel();
                let handle = std::thread::spawn(move || {
                    while let Ok((window, mut jobs)) = inbox.recv() {
                        jobs.iter_mut().for_each(|j| j.run(window));
                        if outbox.send(jobs).is_err() {
                            break;
                        }
                    }
                });
                Worker { jobs: Some(jobs), done, handle: Some(handle) }
            })
            .collect();
        Workers { threads }
    }

    /// Threads in all, the caller's included.
    pub(crate) fn len(&self) -> usize {
        self.threads.len() + 1
    }

    /// Runs every job, sharing them out by weight (the heaviest first, each to the least
    /// loaded thread), the caller's thread taking a share. Returns them all, in no
    /// particular order.
    pub(crate) fn run(&mut self, jobs: Vec<Job>, window: Window) -> Vec<Job> {
        let mut heaviest: Vec<(usize, usize)> = jobs.iter().enumerate().map(|(k, j)| (j.weight(), k)).collect();
        heaviest.sort_unstable_by_key(|&(w, k)| (Reverse(w), k));
        let mut loads = vec![0; self.len()];
        let mut share_of = vec![0; jobs.len()];
        for (w, k) in heaviest {
            let lightest = (0..loads.len()).min_by_key(|&t| loads[t]).expect("at least one thread");
            loads[lightest] += w;
            share_of[k] = lightest;
        }
        let mut shares: Vec<Vec<Job>> = (0..self.len()).map(|_| Vec::new()).collect();
        for (k, job) in jobs.into_iter().enumerate() {
            shares[share_of[k]].push(job);
        }
        let mut mine = std::mem::take(&mut shares[0]);
        for (worker, share) in self.threads.iter().zip(shares.drain(1..)) {
            worker.jobs.as_ref().expect("running").send((window, share)).expect("a simulator worker stopped");
        }
        mine.iter_mut().for_each(|j| j.run(window));
        for worker in &self.threads {
            mine.extend(worker.done.recv().expect("a simulator worker stopped"));
        }
        mine
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for worker in &mut self.threads {
            worker.jobs = None; // its loop ends
            if let Some(handle) = worker.handle.take() {
                let _ = handle.join();
            }
        }
    }
}
