//! The simulator's own speed at growing sizes: `cargo bench -p gossip-sim [-- N...]`.
//! Prints one row per run (wall time, events per second, peak RSS, accuracy); nothing is
//! asserted, since shared machines are noisy. Default sizes: 200, 500 and 1000 nodes, in
//! that order (peak RSS is the process high-water mark, so it belongs to the largest run).

use gossip_sim::Scenario;

/// The allocator the `gossip-sim` binary runs with, so that the figures are its.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![200, 500, 1000] } else { sizes };
    println!(
        "| scenario | nodes | simulated s | wall s | of which forming | events/s | peak RSS MiB | detect all s | false positives |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &n in &sizes {
        for (name, loss, duration) in [("crash", 0.0, None), ("loss", 0.05, Some(60.0))] {
            let mut s = Scenario::new(name, n, 1);
            s.net.loss = loss;
            s.duration = duration;
            let r = match s.run() {
                Ok(r) => r,
                Err(e) => {
                    println!("| {name} | {n} | error: {e} |");
                    continue;
                }
            };
            println!(
                "| {name} | {n} | {:.1} | {:.2} | {:.2} | {:.0} | {} | {} | {} |",
                r.simulated_secs,
                r.wall_secs,
                r.form_wall_secs,
                r.steps as f64 / r.wall_secs.max(1e-9),
                r.peak_rss_bytes >> 20,
                r.detect_all_secs.map_or("-".into(), |d| format!("{d:.2}")),
                r.false_positives
            );
        }
    }
}
