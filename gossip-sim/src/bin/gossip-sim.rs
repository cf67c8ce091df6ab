//! `gossip-sim run --scenario NAME --nodes N --seed S [--loss P] [--latency-ms LO..HI]
//! [--duration SECS] [--settle SECS] [--keys N] [--payload-bytes N] [--set FIELD=VALUE]...
//! [--svg FILE] [--breakdown] [--json]`

use gossip_sim::{Scenario, scenario::SCENARIOS, settings};
use std::process::ExitCode;

const USAGE: &str = "usage: gossip-sim run --scenario NAME --nodes N --seed S [--loss P] [--latency-ms LO..HI]
                      [--duration SECS] [--settle SECS] [--keys N] [--payload-bytes N] [--set FIELD=VALUE]...
                      [--svg FILE] [--breakdown] [--json]";

fn parse(args: &[String]) -> Result<(Scenario, bool, Option<String>), String> {
    let mut it = args.iter();
    if it.next().map(String::as_str) != Some("run") {
        return Err(USAGE.into());
    }
    let (mut name, mut nodes, mut seed) = (None, None, None);
    let (mut loss, mut latency, mut duration, mut sets, mut json) = (None, None, None, Vec::new(), false);
    let (mut svg, mut settle, mut keys, mut payload) = (None, None, None, None);
    let mut breakdown = false;
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--scenario" => name = Some(value()?),
            "--nodes" => nodes = Some(value()?.parse::<usize>().map_err(|_| "--nodes takes a count")?),
            "--seed" => seed = Some(value()?.parse::<u64>().map_err(|_| "--seed takes an integer")?),
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
            "--set" => sets.push(value()?),
            "--json" => json = true,
            "--breakdown" => breakdown = true,
            "--svg" => svg = Some(value()?),
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    let name = name.ok_or(format!("--scenario is required ({})", SCENARIOS.join(", ")))?;
    let nodes = nodes.ok_or("--nodes is required")?;
    let mut scenario = Scenario::new(&name, nodes, seed.ok_or("--seed is required")?);
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
    Ok((scenario, json, svg))
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
    let (scenario, json, svg_path) = match parse(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("gossip-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match scenario.run() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gossip-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let (Some(path), Some(svg)) = (&svg_path, &report.svg)
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
