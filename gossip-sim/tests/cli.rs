//! `gossip-sim` as a user meets it: help, usage errors, the scenario list, and one tiny run
//! whose JSON is the library's report.

use gossip_sim::Scenario;
use gossip_sim::scenario::{SCENARIOS, describe};
use std::process::{Command, Output};

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gossip-sim")).args(args).output().expect("gossip-sim runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const FLAGS: [&str; 16] = [
    "--scenario",
    "--nodes",
    "--seed",
    "--seeds",
    "--loss",
    "--latency-ms",
    "--duration",
    "--settle",
    "--pause",
    "--keys",
    "--payload-bytes",
    "--set",
    "--svg",
    "--breakdown",
    "--json",
    "--help",
];

#[test]
fn help_describes_every_flag_and_scenario_and_exits_0() {
    let out = sim(&["run", "--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    for flag in FLAGS {
        // Each flag opens a line of its own, its description below it.
        let documented = help
            .lines()
            .map(|l| l.trim_start().trim_start_matches("-h, "))
            .any(|l| l == flag || l.strip_prefix(flag).is_some_and(|rest| rest.starts_with(" <")));
        assert!(documented, "{flag}:\n{help}");
    }
    for name in SCENARIOS {
        let line = describe(name).unwrap_or_else(|| panic!("{name} has no description"));
        assert!(help.contains(&format!("- {name}:")) && help.contains(line), "{name}:\n{help}");
    }
    let top = sim(&["--help"]);
    assert_eq!(top.status.code(), Some(0));
    assert!(text(&top.stdout).contains("--list-scenarios"));
}

#[test]
fn list_scenarios_names_each_once() {
    let out = sim(&["--list-scenarios"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), SCENARIOS.len());
    for (line, name) in lines.iter().zip(SCENARIOS) {
        assert!(line.starts_with(&format!("{name} ")) && line.ends_with(describe(name).unwrap()), "{line}");
    }
}

#[test]
fn bad_command_lines_exit_2_and_say_why() {
    let run = ["run", "--scenario", "crash", "--nodes", "5"];
    let cases: [(&[&str], &str); 14] = [
        (&[], "Usage:"),
        (&["--bogus"], "Usage:"),
        (&[&run[..], &["--seed", "1", "--bogus"]].concat(), "Usage: gossip-sim run"),
        (&["run", "--scenario", "nope", "--nodes", "5", "--seed", "1"], "possible values"),
        (&run, "--seed <S>|--seeds <A..B>"),
        (&[&run[..], &["--seed", "1", "--seeds", "1..2"]].concat(), "cannot be used with"),
        (&[&run[..], &["--seeds", "1..2", "--svg", "x.svg"]].concat(), "cannot be used with"),
        (&[&run[..], &["--seeds", "1..2", "--breakdown"]].concat(), "cannot be used with"),
        (&[&run[..], &["--seeds", "3..1"]].concat(), "A <= B"),
        (&[&run[..], &["--seed", "1", "--set", "bogus=1"]].concat(), "unknown config field"),
        (&[&run[..], &["--seed", "1", "--set", "mtu"]].concat(), "FIELD=VALUE"),
        (&[&run[..], &["--seed", "1", "--loss", "2"]].concat(), "within 0..1"),
        (&[&run[..], &["--seed", "1", "--latency-ms", "5..1"]].concat(), "LO must not exceed HI"),
        (&["run", "--scenario", "crash", "--nodes", "1", "--seed", "1"], "at least 2"),
    ];
    for (args, says) in cases {
        let out = sim(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?} should say {says:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn json_is_the_library_report_in_the_contract_order() {
    let out = sim(&["run", "--scenario", "crash", "--nodes", "6", "--seed", "4", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let last = stdout.lines().last().expect("a JSON line");
    let report = Scenario::new("crash", 6, 4).run().unwrap();
    assert!(last.contains(&format!("\"trace_hash\": \"{}\"", report.trace_hash)), "{last}");
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    // DESIGN.md's fields first, in its order, then the ones added since.
    let contract = [
        "scenario",
        "nodes",
        "seed",
        "simulated_secs",
        "wall_secs",
        "converged_secs",
        "detect_first_secs",
        "detect_all_secs",
        "false_positives",
        "false_positive_notices",
        "max_packet_bytes",
        "delivered_all_secs",
        "bytes_per_node_per_sec",
        "packets_per_node_per_sec",
        "peak_rss_bytes",
        "trace_hash",
    ];
    assert_eq!(keys[..contract.len()], contract, "{last}");
    // Added since, each after the ones before it.
    let added = ["partition_downs", "partition_down_notices"];
    let at = |k: &str| keys.iter().position(|key| *key == k).unwrap_or_else(|| panic!("no {k}: {last}"));
    assert!(added.windows(2).all(|w| at(w[0]) < at(w[1])) && at(added[0]) > contract.len(), "{last}");
    assert_eq!(v["partition_downs"].as_u64(), Some(0), "no cut in a crash: {last}");
    assert_eq!(v["scenario"], "crash");
    assert_eq!((v["nodes"].as_u64(), v["seed"].as_u64()), (Some(6), Some(4)));
    assert_eq!(v["false_positives"].as_u64(), Some(report.false_positives));
    assert_eq!(v["detect_all_secs"].as_f64(), report.detect_all_secs.map(|s| gossip_sim::json::round(s, 3)));
}

/// `scale` runs each series at each size as `gossip-sim run`, whose trace it prints, and
/// draws one dot per run in each panel.
#[test]
fn scale_runs_each_size_and_draws_them() {
    let svg = std::env::temp_dir().join(format!("gossip-sim-scale-{}.svg", std::process::id()));
    let out = sim(&["scale", "--sizes", "20,40", "--svg", svg.to_str().expect("a UTF-8 path")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines = text(&out.stdout);
    assert_eq!(lines.lines().count(), 4, "{lines}");
    let steady = Scenario::new("steady", 40, 1).run().expect("steady runs");
    assert!(lines.contains(&format!("trace {}", steady.trace_hash)), "{lines}");
    let picture = std::fs::read_to_string(&svg).expect("the picture is written");
    let _ = std::fs::remove_file(&svg);
    assert_eq!(picture.matches("<circle").count(), 3 * 4);
}
