//! `gossip-sim run --scenario NAME --nodes N (--seed S | --seeds A..B) [--loss P]
//! [--latency-ms LO..HI] [--duration SECS] [--settle SECS] [--keys N] [--payload-bytes N] [--pause SECS]
//! [--set FIELD=VALUE]... [--svg FILE] [--breakdown] [--json]`
//!
//! `--seeds A..B` runs the same arguments once per seed in A..=B (at most
//! [`seeds::MAX_SEEDS`]) and prints the aggregate of [`gossip_sim::seeds`]: with `--json`
//! one object as the last line, else a table; a line per finished seed goes to stderr. A
//! seed whose run fails is named on stderr, the others still run, and the exit status is 1.

use core::ops::RangeInclusive;
use gossip_sim::{Scenario, scenario::SCENARIOS, seeds, settings};
use std::process::ExitCode;

const USAGE: &str = "usage: gossip-sim run --scenario NAME --nodes N (--seed S | --seeds A..B) [--loss P]
                      [--latency-ms LO..HI] [--duration SECS] [--settle SECS] [--keys N]
                      [--payload-bytes N] [--pause SECS] [--set FIELD=VALUE]... [--svg FILE] [--breakdown] [--json]
       --seeds A..B runs once per seed in A..=B (at most 1000) and prints min/p50/p90/max";

/// What the command line asks for.
struct Args {
    /// The run (for `--seeds`, its seed is the range's first).
    scenario: Scenario,
    json: bool,
    svg: Option<String>,
    seeds: Option<RangeInclusive<u64>>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut it = args.iter();
    if it.next().map(String::as_str) != Some("run") {
        return Err(USAGE.into());
    }
    let (mut name, mut nodes, mut seed) = (None, None, None);
    let (mut loss, mut latency, mut duration, mut sets, mut json) = (None, None, None, Vec::new(), false);
    let (mut svg, mut settle, mut keys, mut payload, mut range) = (None, None, None, None, None);
    let (mut breakdown, mut pause) = (false, None);
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--scenario" => name = Some(value()?),
            "--nodes" => nodes = Some(value()?.parse::<usize>().map_err(|_| "--nodes takes a count")?),
            "--seed" => seed = Some(value()?.parse::<u64>().map_err(|_| "--seed takes an integer")?),
            "--seeds" => range = Some(seeds::parse_range(&value()?)?),
            "--loss" => loss = Some(value()?.parse::<f64>().map_err(|_| "--loss takes a probability")?),
            "--latency-ms" => {
                let v = value()?;
                let (lo, hi) = v.split_once("..").ok_or("--latency-ms takes LO..HI")?;
                let lo: u64 = lo.parse().map_err(|_| "--latency-ms takes LO..HI")?;
                let hi: u64 = hi.parse().map_err(|_| "--latency-ms takes LO..HI")?;
                if lo > hi {
                    return Err("--latency-ms: LO must not exceed HI".into());
                }
                latency = Some((lo, hi));
            }
            "--duration" => duration = Some(value()?.parse::<f64>().map_err(|_| "--duration takes seconds")?),
            "--settle" => settle = Some(value()?.parse::<f64>().map_err(|_| "--settle takes seconds")?),
            "--keys" => keys = Some(value()?.parse::<usize>().map_err(|_| "--keys takes a count")?),
            "--payload-bytes" => {
                payload = Some(value()?.parse::<usize>().map_err(|_| "--payload-bytes takes a count")?)
            }
            "--pause" => pause = Some(value()?.parse::<f64>().map_err(|_| "--pause takes seconds")?),
            "--set" => sets.push(value()?),
            "--json" => json = true,
            "--breakdown" => breakdown = true,
            "--svg" => svg = Some(value()?),
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    let name = name.ok_or(format!("--scenario is required ({})", SCENARIOS.join(", ")))?;
    if !SCENARIOS.contains(&name.as_str()) {
        return Err(format!("unknown scenario {name:?}; known: {}", SCENARIOS.join(", ")));
    }
    let nodes = nodes.ok_or("--nodes is required")?;
    let seed = match (seed, &range) {
        (Some(_), Some(_)) => return Err("--seed and --seeds exclude each other".into()),
        (None, None) => return Err("--seed S or --seeds A..B is required".into()),
        (Some(s), None) => s,
        (None, Some(r)) => *r.start(),
    };
    if range.is_some() && svg.is_some() {
        return Err("--svg draws one run: use it with --seed".into());
    }
    if range.is_some() && breakdown {
        return Err("--breakdown counts one run: use it with --seed".into());
    }
    let mut scenario = Scenario::new(&name, nodes, seed);
    if let Some(p) = loss {
        if !(0.0..=1.0).contains(&p) {
            return Err("--loss must be within 0..1".into());
        }
        scenario.net.loss = p;
    }
    if let Some(l) = latency {
        scenario.net.latency_ms = l;
    }
    scenario.duration = duration;
    scenario.keys = keys;
    scenario.payload_bytes = payload;
    if let Some(p) = pause {
        if !(0.0..=600.0).contains(&p) {
            return Err("--pause takes 0 to 600 seconds".into());
        }
        scenario.pause = Some(p);
    }
    if let Some(s) = settle {
        if !(0.0..=3600.0).contains(&s) {
            return Err("--settle takes 0 to 3600 seconds".into());
        }
        scenario.settle = s;
    }
    for s in sets {
        let (field, value) = s.split_once('=').ok_or(format!("--set takes FIELD=VALUE, got {s:?}"))?;
        settings::set(&mut scenario.config, field, value)?;
    }
    scenario.svg = svg.is_some();
    scenario.progress = !json;
    scenario.breakdown = breakdown;
    Ok(Args { scenario, json, svg, seeds: range })
}

/// A large run holds gigabytes of member tables that grow by doubling while the cluster
/// forms, beside short-lived sync frames of hundreds of kilobytes. glibc's malloc raises
/// its mmap threshold as big blocks are freed and then serves them from the heap, where
/// they fragment it: at 10,000 nodes peak RSS was 9.0 GiB with the default and 7.2 GiB
/// with the threshold fixed at 128 KiB (and 5% more wall time). A tunable must be set
/// before the process starts, so the binary runs itself once more with it set. Skipped
/// when `GLIBC_TUNABLES` is already set; harmless where glibc is not the allocator.
#[cfg(target_os = "linux")]
fn rerun_with_fixed_mmap_threshold() {
    use std::os::unix::process::CommandExt;
    const TUNABLES: &str = "GLIBC_TUNABLES";
    if std::env::var_os(TUNABLES).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    // `exec` returns only on failure: then run on as we are.
    let _ = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(TUNABLES, "glibc.malloc.mmap_threshold=131072")
        .exec();
}

#[cfg(not(target_os = "linux"))]
fn rerun_with_fixed_mmap_threshold() {}

fn main() -> ExitCode {
    rerun_with_fixed_mmap_threshold();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("gossip-sim: {e}");
            return ExitCode::from(2);
        }
    };
    match args.seeds {
        Some(range) => run_seeds(&args.scenario, range, args.json),
        None => run_one(&args.scenario, args.json, args.svg.as_deref()),
    }
}

fn run_one(scenario: &Scenario, json: bool, svg_path: Option<&str>) -> ExitCode {
    let report = match scenario.run() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gossip-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let (Some(path), Some(svg)) = (svg_path, &report.svg)
        && let Err(e) = std::fs::write(path, svg)
    {
        eprintln!("gossip-sim: cannot write {path}: {e}");
        return ExitCode::FAILURE;
    }
    if json {
        println!("{}", report.to_json());
    } else {
        let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2} s"));
        println!("scenario {} with {} nodes, seed {}", report.scenario, report.nodes, report.seed);
        println!("  converged          {}", show(report.converged_secs));
        println!("  detected (first)   {}", show(report.detect_first_secs));
        println!("  detected (all)     {}", show(report.detect_all_secs));
        println!("  false positives    {} ({} notices)", report.false_positives, report.false_positive_notices);
        println!("  largest datagram   {} bytes", report.max_packet_bytes);
        println!(
            "  traffic            {:.0} B and {:.1} packets per node per second",
            report.bytes_per_node_per_sec, report.packets_per_node_per_sec
        );
        println!(
            "  simulated {:.1} s in {:.2} s wall, peak RSS {} MiB, trace {}",
            report.simulated_secs,
            report.wall_secs,
            report.peak_rss_bytes >> 20,
            report.trace_hash
        );
        for (kind, messages, bytes) in &report.bytes_by_kind {
            println!("    {kind:<14} {messages:>9.2} messages {bytes:>10.1} B per node per second");
        }
    }
    ExitCode::SUCCESS
}

fn run_seeds(scenario: &Scenario, range: RangeInclusive<u64>, json: bool) -> ExitCode {
    let wall = std::time::Instant::now();
    let (first, last, total) = (*range.start(), *range.end(), range.clone().count());
    let mut done = 0;
    let runs = seeds::run(scenario, range, |seed, outcome| {
        done += 1;
        eprintln!("{}", seeds::progress_line(seed, done, total, outcome));
    });
    if !runs.failures.is_empty() {
        let failed: Vec<String> = runs.failures.iter().map(|(seed, _)| seed.to_string()).collect();
        eprintln!("gossip-sim: {} of {total} seeds failed (errors above): {}", failed.len(), failed.join(", "));
    }
    let failed = if runs.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    if runs.reports.is_empty() {
        eprintln!("gossip-sim: no seed ran to the end: nothing to aggregate");
        return failed;
    }
    if !json {
        println!(
            "scenario {} with {} nodes, seeds {first}..={last}: {} ran, {} failed, {:.1} s wall",
            scenario.name,
            scenario.nodes,
            runs.reports.len(),
            runs.failures.len(),
            wall.elapsed().as_secs_f64()
        );
        print!("{}", seeds::table(&runs.reports));
        println!("min/p50/p90/max over the seeds that reported a value (nearest rank); nulls: the others");
        return failed;
    }
    match seeds::Aggregate::of(&runs.reports) {
        Ok(mut aggregate) => {
            aggregate.failed_seeds = runs.failures.iter().map(|(seed, _)| *seed).collect();
            println!("{}", aggregate.to_json());
            failed
        }
        Err(e) => {
            eprintln!("gossip-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
