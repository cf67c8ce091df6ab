//! `--seeds A..B` through the library: three small crashes, aggregated.

use gossip_sim::Scenario;
use gossip_sim::seeds::{self, Aggregate};

#[test]
fn three_seeds_of_a_small_crash() {
    let base = Scenario::new("crash", 30, 0);
    let mut seen = Vec::new();
    let runs = seeds::run(&base, 1..=3, |seed, outcome| seen.push((seed, outcome.is_ok())));
    assert_eq!(seen, [(1, true), (2, true), (3, true)]);
    assert!(runs.failures.is_empty(), "{:?}", runs.failures);
    let aggregate = Aggregate::of(&runs.reports).unwrap();

    assert_eq!(aggregate.seeds, [1, 2, 3]);
    assert_eq!(aggregate.trace_hashes.len(), 3);
    assert_eq!(aggregate.nodes, 30);
    // Each seed's digest is the one a single run with that seed prints.
    let single = Scenario::new("crash", 30, 2).run().unwrap();
    assert_eq!(aggregate.trace_hashes[1], single.trace_hash);
    assert_ne!(aggregate.trace_hashes[0], aggregate.trace_hashes[1]);

    for (name, s) in &aggregate.numbers {
        let [min, p50, p90, max] = [s.min, s.p50, s.p90, s.max].map(|v| v.unwrap_or(f64::NAN));
        if s.null_runs == 3 {
            assert!(min.is_nan() && p50.is_nan() && p90.is_nan() && max.is_nan(), "{name}: {s:?}");
        } else {
            assert!(min <= p50 && p50 <= p90 && p90 <= max, "{name}: {s:?}");
        }
    }
    // A crash is detected in every run; nothing is delivered in one. The figures are those
    // the runs print (to the millisecond).
    let printed = |v: f64| format!("{v:.3}").parse::<f64>().unwrap();
    let mut all: Vec<f64> = runs.reports.iter().map(|r| printed(r.detect_all_secs.unwrap())).collect();
    all.sort_by(f64::total_cmp);
    let detect = aggregate.stats("detect_all_secs").unwrap();
    assert_eq!((detect.min, detect.p50, detect.max, detect.null_runs), (Some(all[0]), Some(all[1]), Some(all[2]), 0));
    assert_eq!(aggregate.stats("delivered_all_secs").unwrap().null_runs, 3);

    let json = aggregate.to_json();
    assert!(json.starts_with("{\"scenario\": \"crash\", \"nodes\": 30, \"seeds\": [1, 2, 3], "), "{json}");
    assert!(json.contains(&format!("\"trace_hashes\": [\"{}\", ", runs.reports[0].trace_hash)), "{json}");
}
