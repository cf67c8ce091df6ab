//! `gossip-sim run --scenario NAME --nodes N (--seed S | --seeds A..B) [--loss P]
//! [--latency-ms LO..HI] [--duration SECS] [--settle SECS] [--join-within SECS] [--keys N] [--payload-bytes N] [--pause SECS]
//! [--set FIELD=VALUE]... [--threads N] [--svg FILE] [--breakdown] [--json]`, `gossip-sim scale [--sizes N,...]
//! [--seed S] [--svg FILE]`, and `gossip-sim --list-scenarios`.
//!
//! The command line is parsed by clap: `--help` (or `help run`) describes every flag and
//! scenario and exits 0; a bad flag or value prints the error and the usage and exits 2.
//!
//! `--seeds A..B` runs the same arguments once per seed in A..=B (at most
//! [`seeds::MAX_SEEDS`]) and prints the aggregate of [`gossip_sim::seeds`]: with `--json`
//! one object as the last line, else a table; a line per finished seed goes to stderr. A
//! seed whose run fails is named on stderr, the others still run, and the exit status is 1.

use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::error::ErrorKind;
use clap::{ArgGroup, CommandFactory, Parser, Subcommand};
use core::ops::RangeInclusive;
use gossip_sim::scenario::{SCENARIOS, describe};
use gossip_sim::svg::{ScalePoint, Series, render_scaling};
use gossip_sim::{Scenario, seeds, settings};
use std::path::PathBuf;
use std::process::ExitCode;

/// Runs clusters of real gossip-core nodes on virtual time, with faults, and reports what
/// a user measures: convergence, detection times, false positives, traffic.
#[derive(Parser, Debug)]
#[command(
    name = "gossip-sim",
    version,
    subcommand_required = false,
    arg_required_else_help = true,
    args_conflicts_with_subcommands = true,
    after_help = "The same arguments print the same trace_hash on every run and machine: a seed replays a run."
)]
struct Cli {
    /// Print every scenario with what it does and measures, then exit.
    #[arg(long)]
    list_scenarios: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one scenario once (--seed) or once per seed of a range (--seeds).
    ///
    /// Times are simulated seconds since the scenario's fault or event. Without --json a
    /// summary; with --json the last line of stdout is one JSON object.
    Run(Box<Run>),
    /// Run `steady` and a minute of 5% loss at each cluster size, each in a process of its
    /// own, and print (and with --svg draw) their wall time and peak memory against size.
    ///
    /// The 5% loss run settles 30 s after forming, then loses packets for 60 s; `steady`
    /// runs 60 s after forming. Each line gives the `run` command that measures it alone.
    Scale(Scale),
}

/// The flags of `gossip-sim scale`.
#[derive(clap::Args, Debug)]
struct Scale {
    /// Cluster sizes, comma-separated.
    #[arg(long, value_name = "N,...", value_delimiter = ',', value_parser = cluster_size, default_values_t = [1000, 2000, 5000, 10000])]
    sizes: Vec<usize>,
    /// Seed of every run.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Draw wall time and peak memory against cluster size as SVG into FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

/// What `gossip-sim scale` runs at each size: a legend and the `run` flags.
const SCALE_SERIES: [(&str, &[&str]); 2] = [
    ("steady", &["--scenario", "steady", "--duration", "60"]),
    ("5% loss", &["--scenario", "loss", "--loss", "0.05", "--settle", "30", "--duration", "60"]),
];

/// The flags of `gossip-sim run`.
#[derive(clap::Args, Debug)]
#[command(group(ArgGroup::new("seeding").required(true).args(["seed", "seeds"])))]
struct Run {
    /// The scenario to run (gossip-sim --list-scenarios describes each).
    #[arg(long, value_name = "NAME", value_parser = scenario_names())]
    scenario: String,
    /// Cluster size, at least 2. Every node runs the LAN preset sized to it.
    #[arg(long, value_name = "N", value_parser = cluster_size)]
    nodes: usize,
    /// Seed of every random choice in the run.
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Run once per seed in A..=B (at most 1000 seeds) and print min/p50/p90/max of each
    /// figure (a table, or one JSON object with --json); a line per seed goes to stderr.
    #[arg(long, value_name = "A..B", value_parser = seeds::parse_range, conflicts_with_all = ["svg", "breakdown"])]
    seeds: Option<RangeInclusive<u64>>,
    /// Packet loss probability, 0 to 1: from the fault on in `loss`, throughout in the
    /// other scenarios.
    #[arg(long, value_name = "P", value_parser = probability)]
    loss: Option<f64>,
    /// One-way link latency in milliseconds, drawn uniformly from LO..HI for each packet
    /// [default: 1..5].
    #[arg(long = "latency-ms", value_name = "LO..HI", value_parser = latency)]
    latency_ms: Option<(u64, u64)>,
    /// Simulated seconds after the fault [default: the scenario's own, 60 to 300 s].
    #[arg(long, value_name = "SECS", value_parser = seconds_up_to::<1_000_000>)]
    duration: Option<f64>,
    /// Simulated seconds, 0 to 3600, between convergence and the fault, so that the join's
    /// gossip has died down and the measured window is steady state [default: 0].
    #[arg(long, value_name = "SECS", value_parser = seconds_up_to::<3600>)]
    settle: Option<f64>,
    /// Every node joins through node 0 at a random moment within this many seconds of the
    /// start, 0 (all at once) to 60 [default: 1].
    #[arg(long = "join-within", value_name = "SECS", value_parser = seconds_up_to::<60>)]
    join_within: Option<f64>,
    /// How long the `flap` scenario's node stalls each time, 0 to 600 seconds [default: 3].
    #[arg(long, value_name = "SECS", value_parser = seconds_up_to::<600>)]
    pause: Option<f64>,
    /// Keys per node in `kv-load` (default 10) and `big-state` (default 100); in `steady`,
    /// keys every node sets and keeps before the window (default none).
    #[arg(long, value_name = "N")]
    keys: Option<usize>,
    /// Size of the `broadcast` scenario's payload in bytes [default: a short one]; above
    /// what a datagram holds it travels over streams.
    #[arg(long = "payload-bytes", value_name = "N")]
    payload_bytes: Option<usize>,
    /// Threads to run on, 1 to 256 [default: every core]: the same run and trace for any
    /// number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
    /// Set any Config field by name (`--set lifeguard=false`, `--set suspicion_mult=3`,
    /// `--set detector=phi`); repeat for several, applied in order over the LAN preset.
    #[arg(long = "set", value_name = "FIELD=VALUE", value_parser = field_value)]
    sets: Vec<(String, String)>,
    /// Draw the run as SVG into FILE: views matching the truth over time, and when each
    /// node noticed the fault.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Also count the bytes sent by kind of message (a `bytes_by_kind` object in the JSON).
    #[arg(long)]
    breakdown: bool,
    /// Print one JSON object as the last line of stdout instead of the summary, and no
    /// progress lines on stderr.
    #[arg(long)]
    json: bool,
}

/// `--scenario`'s values, each with its line of [`describe`].
fn scenario_names() -> PossibleValuesParser {
    PossibleValuesParser::new(SCENARIOS.map(|name| PossibleValue::new(name).help(describe(name).unwrap_or_default())))
}

fn cluster_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 2 => Ok(n),
        _ => Err("takes a count of at least 2".into()),
    }
}

fn probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        Ok(_) => Err("must be within 0..1".into()),
        Err(_) => Err("takes a probability from 0 to 1".into()),
    }
}

fn latency(s: &str) -> Result<(u64, u64), String> {
    let bad = || "takes LO..HI (two whole milliseconds)".to_string();
    let (lo, hi) = s.split_once("..").ok_or_else(bad)?;
    let (lo, hi): (u64, u64) = (lo.parse().map_err(|_| bad())?, hi.parse().map_err(|_| bad())?);
    if lo > hi {
        return Err("LO must not exceed HI".into());
    }
    Ok((lo, hi))
}

fn seconds_up_to<const MAX: u32>(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=f64::from(MAX)).contains(&v) => Ok(v),
        _ => Err(format!("takes 0 to {MAX} seconds")),
    }
}

fn field_value(s: &str) -> Result<(String, String), String> {
    let (field, value) = s.split_once('=').ok_or("takes FIELD=VALUE")?;
    Ok((field.to_string(), value.to_string()))
}

/// What the command line asks for.
struct Args {
    /// The run (for `--seeds`, its seed is the range's first).
    scenario: Scenario,
    json: bool,
    svg: Option<PathBuf>,
    seeds: Option<RangeInclusive<u64>>,
}

impl Run {
    /// The scenario these flags describe, or why not (a `--set` that does not apply).
    fn into_args(self) -> Result<Args, String> {
        let seed = self.seed.or(self.seeds.as_ref().map(|r| *r.start())).unwrap_or_default();
        let mut scenario = Scenario::new(&self.scenario, self.nodes, seed);
        if let Some(p) = self.loss {
            scenario.net.loss = p;
        }
        if let Some(l) = self.latency_ms {
            scenario.net.latency_ms = l;
        }
        scenario.duration = self.duration;
        scenario.keys = self.keys;
        scenario.payload_bytes = self.payload_bytes;
        scenario.pause = self.pause;
        if let Some(s) = self.settle {
            scenario.settle = s;
        }
        if let Some(s) = self.join_within {
            scenario.join_within = s;
        }
        for (field, value) in &self.sets {
            settings::set(&mut scenario.config, field, value).map_err(|e| format!("--set {e}"))?;
        }
        scenario.svg = self.svg.is_some();
        scenario.progress = !self.json;
        scenario.breakdown = self.breakdown;
        if let Some(t) = self.threads {
            scenario.threads = usize::from(t);
        }
        Ok(Args { scenario, json: self.json, svg: self.svg, seeds: self.seeds })
    }
}

/// Parses the command line: `Ok(None)` when the work is done (`--list-scenarios`).
fn parse(cli: Cli) -> Result<Option<Args>, clap::Error> {
    match cli.command {
        None => {
            debug_assert!(cli.list_scenarios, "clap shows the help otherwise");
            let width = SCENARIOS.iter().map(|s| s.len()).max().unwrap_or(0);
            for name in SCENARIOS {
                println!("{name:<width$}  {}", describe(name).unwrap_or_default());
            }
            Ok(None)
        }
        Some(Command::Scale(_)) => Ok(None), // run by `main`
        Some(Command::Run(run)) => run.into_args().map(Some).map_err(|e| {
            let mut command = Cli::command();
            command.build();
            let run = command.find_subcommand_mut("run").expect("the run subcommand");
            run.error(ErrorKind::ValueValidation, e)
        }),
    }
}

/// jemalloc: a large run makes and frees hundreds of millions of small buffers among
/// gigabytes of tables, which glibc's malloc served slower (see gossip-sim's Cargo.toml).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Scale(scale)) = &cli.command {
        return run_scale(scale);
    }
    let args = match parse(cli) {
        Ok(Some(args)) => args,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => e.exit(),
    };
    match args.seeds {
        Some(range) => run_seeds(&args.scenario, range, args.json),
        None => run_one(&args.scenario, args.json, args.svg.as_deref()),
    }
}

fn run_one(scenario: &Scenario, json: bool, svg_path: Option<&std::path::Path>) -> ExitCode {
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
        eprintln!("gossip-sim: cannot write {}: {e}", path.display());
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
        if report.partition_downs > 0 {
            println!(
                "  across the cut     {} Downs ({} notices)",
                report.partition_downs, report.partition_down_notices
            );
        }
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

fn run_scale(scale: &Scale) -> ExitCode {
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("gossip-sim: cannot find its own executable to run the sizes");
        return ExitCode::FAILURE;
    };
    let mut series = Vec::new();
    for (name, flags) in SCALE_SERIES {
        let mut points = Vec::new();
        for &n in &scale.sizes {
            let (nodes, seed) = (n.to_string(), scale.seed.to_string());
            let args: Vec<&str> =
                ["run"].into_iter().chain(flags.iter().copied()).chain(["--nodes", &nodes, "--seed", &seed]).collect();
            let (point, trace) = match scale_run(&exe, &args, n) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("gossip-sim: gossip-sim {}: {e}", args.join(" "));
                    return ExitCode::FAILURE;
                }
            };
            println!(
                "{name:<8} {n:>6} nodes  wall {:>8.2} s (the minute {:>7.2} s)  peak {:>6} MiB  trace {}  (gossip-sim {} --json)",
                point.wall_secs,
                point.after_forming_secs,
                point.peak_rss_bytes >> 20,
                trace,
                args.join(" ")
            );
            points.push(point);
        }
        series.push((name, points));
    }
    if let Some(path) = &scale.svg {
        let series: Vec<Series<'_>> = series.iter().map(|(name, points)| Series { name, points }).collect();
        let title = format!("gossip-sim scale · seed {} · wall time and peak memory against cluster size", scale.seed);
        if let Err(e) = std::fs::write(path, render_scaling(&title, "the minute", &series)) {
            eprintln!("gossip-sim: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Runs `gossip-sim ARGS --json` (a run of `nodes`) and reads what it cost, and its trace
/// hash, from the JSON line.
fn scale_run(exe: &std::path::Path, args: &[&str], nodes: usize) -> Result<(ScalePoint, String), String> {
    let out = std::process::Command::new(exe).args(args).arg("--json").output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("{}{}", String::from_utf8_lossy(&out.stderr), out.status));
    }
    let line = stdout.lines().last().unwrap_or_default();
    let report: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("its JSON: {e}"))?;
    let number = |key: &str| report.get(key).and_then(serde_json::Value::as_f64).ok_or(format!("no {key} in its JSON"));
    let trace = report.get("trace_hash").and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
    let (wall_secs, forming) = (number("wall_secs")?, number("form_wall_secs")?);
    let point = ScalePoint {
        nodes,
        wall_secs,
        after_forming_secs: wall_secs - forming,
        peak_rss_bytes: number("peak_rss_bytes")? as u64,
    };
    Ok((point, trace))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_reach_the_scenario() {
        let cli = Cli::try_parse_from([
            "gossip-sim",
            "run",
            "--scenario",
            "flap",
            "--nodes",
            "40",
            "--seed",
            "7",
            "--loss",
            "0.1",
            "--latency-ms",
            "2..9",
            "--duration",
            "30",
            "--settle",
            "5",
            "--pause",
            "4",
            "--keys",
            "3",
            "--payload-bytes",
            "900",
            "--set",
            "suspicion_mult=5",
            "--set",
            "lifeguard=false",
            "--breakdown",
        ])
        .unwrap();
        let args = parse(cli).unwrap().unwrap();
        let s = &args.scenario;
        assert_eq!((s.name.as_str(), s.nodes, s.seed), ("flap", 40, 7));
        assert_eq!((s.net.loss, s.net.latency_ms), (0.1, (2, 9)));
        assert_eq!((s.duration, s.settle, s.pause), (Some(30.0), 5.0, Some(4.0)));
        assert_eq!((s.keys, s.payload_bytes), (Some(3), Some(900)));
        let mut expected = gossip_sim::gossip_core::Config::lan(40);
        expected.set_field("suspicion_mult", "5").unwrap();
        expected.set_field("lifeguard", "false").unwrap();
        assert_eq!(s.config, expected);
        assert!(s.breakdown && s.progress && !s.svg && !args.json && args.seeds.is_none());

        let cli = Cli::try_parse_from([
            "gossip-sim",
            "run",
            "--scenario",
            "crash",
            "--nodes",
            "9",
            "--seeds",
            "3..5",
            "--json",
        ]);
        let args = parse(cli.unwrap()).unwrap().unwrap();
        assert_eq!((args.scenario.seed, args.seeds), (3, Some(3..=5)));
        assert!(args.json && !args.scenario.progress);
        // The defaults are the library's.
        let plain = Scenario::new("crash", 9, 3);
        assert_eq!((args.scenario.net.latency_ms, args.scenario.settle), (plain.net.latency_ms, plain.settle));
    }

    #[test]
    fn scale_takes_sizes_or_the_default_four() {
        let sizes = |args: &[&str]| match Cli::try_parse_from(["gossip-sim", "scale"].iter().chain(args)) {
            Ok(Cli { command: Some(Command::Scale(scale)), .. }) => Ok(scale.sizes),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.kind()),
        };
        assert_eq!(sizes(&[]), Ok(vec![1000, 2000, 5000, 10000]));
        assert_eq!(sizes(&["--sizes", "50,300"]), Ok(vec![50, 300]));
        assert_eq!(sizes(&["--sizes", "1,300"]), Err(ErrorKind::ValueValidation));
    }
}
