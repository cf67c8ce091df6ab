//! The simulator on several threads runs the same run: every scenario, under every fault it
//! models (loss, duplication, latency spreads, pauses, partitions, crashes, restarts), gives
//! the same trace digest and metrics on one, two or three threads, and the windows it shares
//! out do happen.

use core::time::Duration;
use gossip_sim::gossip_core::{Config, Time};
use gossip_sim::{Gate, NetConfig, Report, Scenario, Sim};

/// A change to a scenario's defaults.
type Tweak = &'static dyn Fn(&mut Scenario);

fn run(name: &str, nodes: usize, threads: usize, tweak: Tweak) -> Report {
    let mut s = Scenario::new(name, nodes, 1);
    s.threads = threads;
    s.min_window_weight = Some(0); // every window shared out, however little it holds
    tweak(&mut s);
    s.run().unwrap_or_else(|e| panic!("{name} on {threads} threads: {e}"))
}

#[test]
fn any_number_of_threads_runs_the_same_run() {
    let cases: [(&str, usize, Tweak); 10] = [
        ("join", 600, &|_| {}),
        ("crash", 300, &|_| {}),
        ("leave", 200, &|_| {}),
        ("loss", 300, &|s| {
            s.net.loss = 0.1;
            s.net.duplicate = 0.05;
            s.duration = Some(20.0);
        }),
        ("steady", 200, &|s| {
            s.net.latency_ms = (2, 9);
            s.duration = Some(20.0);
        }),
        ("flap", 150, &|_| {}),
        ("partition", 200, &|_| {}),
        ("restart-new-address", 150, &|_| {}),
        ("join-one", 400, &|_| {}),
        ("kv", 200, &|_| {}),
    ];
    for (name, nodes, tweak) in cases {
        let one = run(name, nodes, 1, tweak);
        assert_eq!(one.parallel_steps, 0, "{name}: one thread shares nothing out");
        for threads in [2, 3] {
            let more = run(name, nodes, threads, tweak);
            let same = |r: &Report| {
                (
                    r.trace_hash.clone(),
                    r.steps,
                    r.simulated_secs,
                    r.converged_secs,
                    r.detect_all_secs,
                    r.false_positives,
                )
            };
            assert_eq!(same(&one), same(&more), "{name} on {threads} threads");
            assert!(more.parallel_steps > 0, "{name} on {threads} threads shared no window out");
        }
    }
}

/// `n` nodes joining through node 0 within half a second, every window shared out however
/// few events it holds, on `threads` threads: run until every view is true, then crash a
/// node and run until every live node sees it Down. The trace, the moments both stops held,
/// and the events shared out.
fn gated_run(n: usize, seed: u64, threads: usize) -> (u64, Time, Time, u64) {
    let mut sim = Sim::new(n, seed, Config::lan(n), NetConfig { loss: 0.05, ..NetConfig::default() });
    sim.threads = threads;
    sim.min_window_weight = 0;
    sim.start(0, &[]);
    for i in 1..n {
        sim.start_at(Time::from_nanos(i as u64 * 500_000_000 / n as u64), i, &[0]);
    }
    sim.run_to(Time::from_millis(500));
    let limit = sim.now.saturating_add(Duration::from_secs(60));
    assert!(sim.run_until_gated(limit, Gate::Converged, |s| s.truth.converged()), "seed {seed}: no convergence");
    let converged = sim.now;
    sim.truth.watch(n / 2, sim.now, false);
    sim.crash(n / 2);
    let limit = sim.now.saturating_add(Duration::from_secs(60));
    assert!(sim.run_until_gated(limit, Gate::Detected, |s| s.truth.detect_all.is_some()), "seed {seed}: no detection");
    (sim.trace_hash(), converged, sim.now, sim.parallel_steps)
}

// The stops are checked after every event, windows or not: they hold at the same event.
#[test]
fn gated_stops_hold_at_the_same_event_on_any_number_of_threads() {
    for seed in 1..=3 {
        let (trace, converged, detected, shared) = gated_run(200, seed, 1);
        assert_eq!(shared, 0);
        for threads in [2, 4] {
            let (t, c, d, shared) = gated_run(200, seed, threads);
            assert_eq!((t, c, d), (trace, converged, detected), "seed {seed} on {threads} threads");
            assert!(shared > 0, "seed {seed} on {threads} threads shared no window out");
        }
    }
}

// A queued start is the start a run to its moment followed by `Sim::start` makes, down to
// the order of events due at that moment (two nodes start at the same instant here).
#[test]
fn a_queued_start_is_a_start_between_two_runs() {
    let at = |i: usize| Time::from_nanos((i as u64 / 2) * 7_000_000);
    let run = |queued: bool| {
        let mut sim = Sim::new(100, 5, Config::lan(100), NetConfig::default());
        sim.threads = 2;
        sim.start(0, &[]);
        for i in 1..100 {
            if queued {
                sim.start_at(at(i), i, &[0]);
            } else {
                sim.run_to(at(i));
                sim.start(i, &[0]);
            }
        }
        sim.run_to(Time::from_millis(3000));
        (sim.trace_hash(), sim.steps)
    };
    assert_eq!(run(true), run(false));
}
