//! `gossip-sim run --seeds A..B`: one scenario run once per seed, and the aggregate over
//! the runs.
//!
//! The aggregate's fields come from the single-seed object itself (each [`Report`] turned
//! into a `serde_json::Value` by the same `Serialize` that prints it), so every field it
//! has (one added later too) is aggregated without a second list of fields to keep in
//! step with it:
//!
//! - `seed` becomes `"seeds": [A, ...]` and `trace_hash` becomes `"trace_hashes": [...]`,
//!   both in seed order; `nodes` stays one number;
//! - every other string field stays one string when every run printed the same one (as
//!   `scenario` does), and becomes a list in seed order otherwise;
//! - every other numeric field becomes `{"min": f, "p50": f, "p90": f, "max": f,
//!   "null_runs": n}`: `null_runs` runs printed null for it, and the four figures are over
//!   the others (all null when every run printed null).
//!
//! p50 and p90 are nearest-rank percentiles ([`nearest_rank`]): the value at 1-based rank
//! ⌈p·n/100⌉ of the n values sorted, so each is a value some run printed (with two runs
//! p50 is the smaller value, and p90 the larger one). The figures are those of the printed
//! JSON, rounded as it rounds them.

pub use crate::percentile::nearest_rank;
use crate::{Report, Scenario};
use core::fmt::Write;
use core::ops::RangeInclusive;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

/// The most seeds one `--seeds` range may hold.
pub const MAX_SEEDS: u64 = 1000;

/// Parses `--seeds A..B` (inclusive, `A <= B`, at most [`MAX_SEEDS`] seeds).
pub fn parse_range(s: &str) -> Result<RangeInclusive<u64>, String> {
    let bad = || format!("--seeds takes A..B (two integers, A <= B), got {s:?}");
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    let a: u64 = a.parse().map_err(|_| bad())?;
    let b: u64 = b.parse().map_err(|_| bad())?;
    if a > b {
        return Err(bad());
    }
    if b - a >= MAX_SEEDS {
        return Err(format!("--seeds {s} holds {} seeds; at most {MAX_SEEDS}", u128::from(b - a) + 1));
    }
    Ok(a..=b)
}

/// The runs of one scenario over a range of seeds.
#[derive(Debug, Default)]
pub struct Runs {
    /// The runs that finished, in seed order.
    pub reports: Vec<Report>,
    /// The seeds whose run returned an error, with the error, in seed order.
    pub failures: Vec<(u64, String)>,
}

/// Runs `base` once per seed in `seeds` (its own seed is ignored), and calls `each` after
/// every run with the seed and the run's outcome, for progress. A failing seed does not
/// stop the others: it lands in [`Runs::failures`].
///
/// Before each run the process's peak-RSS mark is reset where Linux allows it, so each
/// report's `peak_rss_bytes` covers its own run (plus whatever heap the allocator kept
/// from the runs before) rather than the whole command so far.
pub fn run(base: &Scenario, seeds: RangeInclusive<u64>, mut each: impl FnMut(u64, &Result<Report, String>)) -> Runs {
    let mut runs = Runs::default();
    for seed in seeds {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let mut scenario = base.clone();
        scenario.seed = seed;
        let outcome = scenario.run();
        each(seed, &outcome);
        match outcome {
            Ok(report) => runs.reports.push(report),
            Err(e) => runs.failures.push((seed, e)),
        }
    }
    runs
}

/// One numeric field over the runs. In JSON a figure that is an integer prints as one
/// (`"steps": {"min": 2418, ...}`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stats {
    /// Smallest value; `None` when every run reported null.
    #[serde(serialize_with = "crate::json::figure")]
    pub min: Option<f64>,
    /// Nearest-rank median ([`nearest_rank`]).
    #[serde(serialize_with = "crate::json::figure")]
    pub p50: Option<f64>,
    /// Nearest-rank 90th percentile.
    #[serde(serialize_with = "crate::json::figure")]
    pub p90: Option<f64>,
    /// Largest value.
    #[serde(serialize_with = "crate::json::figure")]
    pub max: Option<f64>,
    /// Runs that reported null for the field.
    pub null_runs: usize,
}

impl Stats {
    /// The figures over the non-null values, in any order.
    pub fn of(values: &[Option<f64>]) -> Stats {
        let mut v: Vec<f64> = values.iter().flatten().copied().collect();
        v.sort_by(f64::total_cmp);
        Stats {
            min: v.first().copied(),
            p50: nearest_rank(&v, 50),
            p90: nearest_rank(&v, 90),
            max: v.last().copied(),
            null_runs: values.len() - v.len(),
        }
    }
}

/// A string field over the runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Text {
    /// Every run printed this.
    Same(String),
    /// The runs differ: one value per run, in seed order.
    PerSeed(Vec<String>),
}

/// The `--seeds` object: what every run printed, field by field.
#[derive(Clone, Debug)]
pub struct Aggregate {
    /// The seeds of the runs that finished, in order.
    pub seeds: Vec<u64>,
    /// Their trace digests, in the same order.
    pub trace_hashes: Vec<String>,
    /// Seeds whose run failed (printed as `failed_seeds`; empty when none did).
    pub failed_seeds: Vec<u64>,
    /// Cluster size.
    pub nodes: usize,
    /// The single-seed object's string fields but `trace_hash`, in its order.
    pub text: Vec<(String, Text)>,
    /// Its numeric fields but `seed` and `nodes`, in its order.
    pub numbers: Vec<(String, Stats)>,
}

impl Aggregate {
    /// Aggregates `reports` (at least one, all of the same scenario).
    pub fn of(reports: &[Report]) -> Result<Aggregate, String> {
        let first = reports.first().ok_or("no run finished: nothing to aggregate")?;
        let objects = reports.iter().map(fields).collect::<Result<Vec<_>, _>>()?;
        let keys: Vec<&str> = objects[0].iter().map(|(k, _)| k.as_str()).collect();
        if let Some(o) = objects.iter().find(|o| !o.iter().map(|(k, _)| k.as_str()).eq(keys.iter().copied())) {
            let other: Vec<&str> = o.iter().map(|(k, _)| k.as_str()).collect();
            return Err(format!("the runs' JSON objects have different fields: {keys:?} and {other:?}"));
        }
        let mut aggregate = Aggregate {
            seeds: reports.iter().map(|r| r.seed).collect(),
            trace_hashes: reports.iter().map(|r| r.trace_hash.clone()).collect(),
            failed_seeds: Vec::new(),
            nodes: first.nodes,
            text: Vec::new(),
            numbers: Vec::new(),
        };
        for (i, &key) in keys.iter().enumerate() {
            if matches!(key, "seed" | "trace_hash" | "nodes") {
                continue;
            }
            let column: Vec<&Value> = objects.iter().map(|o| &o[i].1).collect();
            if let Some(texts) = column.iter().map(|v| v.as_str()).collect::<Option<Vec<&str>>>() {
                let value = if texts.iter().all(|t| *t == texts[0]) {
                    Text::Same(texts[0].to_string())
                } else {
                    Text::PerSeed(texts.iter().map(|t| t.to_string()).collect())
                };
                aggregate.text.push((key.to_string(), value));
            } else if let Some(numbers) = column.iter().map(|v| number(v)).collect::<Option<Vec<Option<f64>>>>() {
                aggregate.numbers.push((key.to_string(), Stats::of(&numbers)));
            } else {
                return Err(format!(
                    "field {key:?} is neither a string in every run nor a number or null in every run"
                ));
            }
        }
        Ok(aggregate)
    }

    /// The figures of the numeric field `name`, if the single-seed object has it.
    pub fn stats(&self, name: &str) -> Option<&Stats> {
        self.numbers.iter().find(|(k, _)| k == name).map(|(_, s)| s)
    }

    /// The aggregate as one JSON object on one line (the `--seeds --json` contract of
    /// DESIGN.md): the string fields, `nodes`, `seeds`, `trace_hashes`, `failed_seeds`, then
    /// the numeric fields, each in the single-seed object's order.
    pub fn to_json(&self) -> String {
        crate::json::to_string(self)
    }
}

impl Serialize for Aggregate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.text.len() + 4 + self.numbers.len()))?;
        for (key, value) in &self.text {
            map.serialize_entry(key, value)?;
        }
        map.serialize_entry("nodes", &self.nodes)?;
        map.serialize_entry("seeds", &self.seeds)?;
        map.serialize_entry("trace_hashes", &self.trace_hashes)?;
        map.serialize_entry("failed_seeds", &self.failed_seeds)?;
        for (key, stats) in &self.numbers {
            map.serialize_entry(key, stats)?;
        }
        map.end()
    }
}

/// The fields of `report`'s JSON object, in order, as they print (rounded).
fn fields(report: &Report) -> Result<Vec<(String, Value)>, String> {
    match serde_json::to_value(report) {
        Ok(Value::Object(map)) => Ok(map.into_iter().collect()),
        Ok(other) => Err(format!("a report serialized to {other}, not to an object")),
        Err(e) => Err(format!("a report did not serialize: {e}")),
    }
}

/// A field's value as a figure: `Some(None)` for null, `None` when it is not a number.
fn number(v: &Value) -> Option<Option<f64>> {
    match v {
        Value::Null => Some(None),
        Value::Number(n) => n.as_f64().map(Some),
        _ => None,
    }
}

/// One line of progress for a finished seed (`done` of `total`).
pub fn progress_line(seed: u64, done: usize, total: usize, outcome: &Result<Report, String>) -> String {
    match outcome {
        Ok(r) => format!(
            "seed {seed} ({done}/{total}): converged {}, detected {} / {}, false positives {}, trace {}, {:.2} s wall",
            secs(r.converged_secs),
            secs(r.detect_first_secs),
            secs(r.detect_all_secs),
            r.false_positives,
            r.trace_hash,
            r.wall_secs
        ),
        Err(e) => format!("seed {seed} ({done}/{total}) failed: {e}"),
    }
}

fn secs(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.2} s"))
}

/// A column of [`table`]: a field of the single-seed object.
struct Column {
    heading: &'static str,
    of: fn(&Report) -> Option<f64>,
    decimals: usize,
    unit: &'static str,
}

impl Column {
    fn cell(&self, v: Option<f64>) -> String {
        let (decimals, unit) = (self.decimals, self.unit);
        v.map_or("-".to_string(), |v| format!("{v:.decimals$}{unit}"))
    }
}

/// The heading of the column of Downs across a partition's cut, shown only when a run
/// has some.
const CUT_DOWNS: &str = "cut Downs";

const COLUMNS: [Column; 6] = [
    Column { heading: "converged", of: |r| r.converged_secs, decimals: 2, unit: " s" },
    Column { heading: "detect first", of: |r| r.detect_first_secs, decimals: 2, unit: " s" },
    Column { heading: "detect all", of: |r| r.detect_all_secs, decimals: 2, unit: " s" },
    Column { heading: "false pos", of: |r| Some(r.false_positives as f64), decimals: 0, unit: "" },
    Column { heading: CUT_DOWNS, of: |r| Some(r.partition_downs as f64), decimals: 0, unit: "" },
    Column { heading: "bytes/node/s", of: |r| Some(r.bytes_per_node_per_sec), decimals: 1, unit: "" },
];

/// The readable form: one row per run with the key figures, then a row per statistic
/// (and one with the count of null runs).
pub fn table(reports: &[Report]) -> String {
    let cut = reports.iter().any(|r| r.partition_downs > 0);
    let columns: Vec<&Column> = COLUMNS.iter().filter(|c| cut || c.heading != CUT_DOWNS).collect();
    let row = |first: String, cells: Vec<String>, last: String| {
        core::iter::once(first).chain(cells).chain([last]).collect::<Vec<String>>()
    };
    let mut rows = vec![row("seed".into(), columns.iter().map(|c| c.heading.to_string()).collect(), "trace".into())];
    for r in reports {
        rows.push(row(r.seed.to_string(), columns.iter().map(|c| c.cell((c.of)(r))).collect(), r.trace_hash.clone()));
    }
    // Over the reports' own figures rather than the JSON's rounded ones, so that each
    // statistic shows as one of the rows above it.
    let stats: Vec<Stats> = columns.iter().map(|c| Stats::of(&reports.iter().map(c.of).collect::<Vec<_>>())).collect();
    for name in ["min", "p50", "p90", "max", "nulls"] {
        let cells = columns.iter().zip(&stats).map(|(c, s)| match name {
            "min" => c.cell(s.min),
            "p50" => c.cell(s.p50),
            "p90" => c.cell(s.p90),
            "max" => c.cell(s.max),
            _ => s.null_runs.to_string(),
        });
        rows.push(row(name.to_string(), cells.collect(), String::new()));
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        if i == reports.len() + 1 {
            let _ = writeln!(out, "{}", "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
        }
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(j, (c, w))| if j == 0 || j + 1 == row.len() { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(seed: u64, converged: Option<f64>, bytes: f64) -> Report {
        Report {
            scenario: "crash".into(),
            nodes: 30,
            seed,
            converged_secs: converged,
            bytes_per_node_per_sec: bytes,
            trace_hash: format!("{seed:016x}"),
            ..Report::default()
        }
    }

    #[test]
    fn stats_skip_nulls() {
        let s = Stats::of(&[Some(3.0), None, Some(1.0), Some(2.0), None]);
        assert_eq!(s, Stats { min: Some(1.0), p50: Some(2.0), p90: Some(3.0), max: Some(3.0), null_runs: 2 });
        let all_null = Stats::of(&[None, None]);
        assert_eq!(all_null, Stats { min: None, p50: None, p90: None, max: None, null_runs: 2 });
        assert_eq!(
            crate::json::to_string(&all_null),
            "{\"min\": null, \"p50\": null, \"p90\": null, \"max\": null, \"null_runs\": 2}"
        );
        let mixed = Stats { min: Some(0.0), p50: Some(2.5), p90: Some(120.0), max: Some(1e20), null_runs: 0 };
        assert_eq!(
            crate::json::to_string(&mixed),
            "{\"min\": 0, \"p50\": 2.5, \"p90\": 120, \"max\": 1e+20, \"null_runs\": 0}"
        );
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("1..3"), Ok(1..=3));
        assert_eq!(parse_range("5..5"), Ok(5..=5));
        assert_eq!(parse_range("0..999"), Ok(0..=999));
        assert!(parse_range("0..1000").unwrap_err().contains("1001 seeds"));
        assert!(parse_range("0..18446744073709551615").unwrap_err().contains("at most 1000"));
        for bad in ["3..1", "1", "1..", "..2", "a..b", "1..=3", "-1..2"] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_run_reads_back_as_it_prints() {
        // What `--seeds` aggregates is exactly what a run prints, rounded as it prints.
        let mut r = report(1, Some(2.5), 10.0);
        r.detect_all_secs = Some(3.69549);
        r.packets_per_node_per_sec = 6.2249;
        let printed: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        let read: serde_json::Map<String, Value> = fields(&r).unwrap().into_iter().collect();
        assert_eq!(Value::Object(read.clone()), printed);
        assert_eq!(read["trace_hash"], Value::from(r.trace_hash.clone()));
        assert_eq!(read["converged_secs"].as_f64(), Some(2.5));
        assert_eq!(read["detect_all_secs"].as_f64(), Some(3.695));
        assert_eq!(read["packets_per_node_per_sec"].as_f64(), Some(6.22));
        assert_eq!(read["delivered_all_secs"], Value::Null);
        // The breakdown is the one nested field: it is printed, and cannot be aggregated.
        r.bytes_by_kind = vec![("ping".into(), 1.234, 56.78)];
        assert!(r.to_json().ends_with(", \"bytes_by_kind\": {\"ping\": {\"messages\": 1.23, \"bytes\": 56.8}}}"));
        assert!(Aggregate::of(&[r]).unwrap_err().contains("bytes_by_kind"));
    }

    #[test]
    fn aggregate_covers_every_field_of_a_run() {
        let reports = [report(4, Some(1.0), 30.0), report(5, None, 10.0), report(6, Some(3.0), 20.0)];
        let a = Aggregate::of(&reports).unwrap();
        assert_eq!(a.seeds, [4, 5, 6]);
        assert_eq!(a.trace_hashes, ["0000000000000004", "0000000000000005", "0000000000000006"]);
        assert_eq!(a.text, [("scenario".to_string(), Text::Same("crash".into()))]);
        let converged = a.stats("converged_secs").unwrap();
        assert_eq!(
            (converged.min, converged.p50, converged.max, converged.null_runs),
            (Some(1.0), Some(1.0), Some(3.0), 1)
        );
        let bytes = a.stats("bytes_per_node_per_sec").unwrap();
        assert_eq!((bytes.min, bytes.p50, bytes.p90, bytes.max), (Some(10.0), Some(20.0), Some(30.0), Some(30.0)));
        // Every field of the single-seed object is there, under the same name.
        let single = fields(&reports[0]).unwrap();
        for (key, value) in &single {
            match (key.as_str(), value) {
                ("seed" | "trace_hash" | "nodes", _) => {}
                (_, Value::String(_)) => assert!(a.text.iter().any(|(k, _)| k == key), "{key}"),
                (_, Value::Number(_) | Value::Null) => assert!(a.stats(key).is_some(), "{key}"),
                (_, other) => panic!("{key}: {other}"),
            }
        }
        assert_eq!(a.numbers.len() + a.text.len() + 3, single.len());
    }

    #[test]
    fn strings_are_escaped() {
        let s = "a \"b\" \\ \n \u{1}é";
        let mut r = report(1, None, 0.0);
        r.scenario = s.into();
        let a = Aggregate::of(&[r]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&a.to_json()).unwrap();
        assert_eq!(v["scenario"], s);
    }

    #[test]
    fn aggregate_json_shape() {
        let mut reports = vec![report(1, Some(1.25), 100.0), report(2, None, 50.0)];
        reports[1].scenario = "other".into();
        let mut a = Aggregate::of(&reports).unwrap();
        a.failed_seeds = vec![3];
        let json = a.to_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
        assert_eq!(v["seeds"], serde_json::json!([1, 2]));
        assert_eq!(v["trace_hashes"], serde_json::json!(["0000000000000001", "0000000000000002"]));
        assert_eq!(v["failed_seeds"], serde_json::json!([3]));
        assert_eq!(v["nodes"], serde_json::json!(30));
        assert_eq!(v["scenario"], serde_json::json!(["crash", "other"]));
        assert!(v.get("seed").is_none() && v.get("trace_hash").is_none());
        assert_eq!(
            v["converged_secs"],
            serde_json::json!({"min": 1.25, "p50": 1.25, "p90": 1.25, "max": 1.25, "null_runs": 1})
        );
        assert_eq!(
            v["delivered_all_secs"],
            serde_json::json!({"min": null, "p50": null, "p90": null, "max": null, "null_runs": 2})
        );
        assert_eq!(v["bytes_per_node_per_sec"]["p50"].as_f64(), Some(50.0));
        for key in ["simulated_secs", "wall_secs", "false_positives", "peak_rss_bytes", "steps", "staleness_p90_secs"] {
            let stats = v[key].as_object().unwrap_or_else(|| panic!("{key}: {json}"));
            // Sorted: serde_json keeps the order only with its `preserve_order` feature.
            let mut keys: Vec<&str> = stats.keys().map(String::as_str).collect();
            keys.sort();
            assert_eq!(keys, ["max", "min", "null_runs", "p50", "p90"], "{key}");
        }
        assert!(
            json.contains("\"steps\": {\"min\": 0, \"p50\": 0, \"p90\": 0, \"max\": 0, \"null_runs\": 0}"),
            "{json}"
        );
    }

    #[test]
    fn table_has_a_row_per_seed_and_per_statistic() {
        let reports = [report(1, Some(1.0), 100.0), report(2, None, 50.0)];
        let t = table(&reports);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 1 + 2 + 1 + 5, "{t}");
        assert!(lines[0].starts_with("seed") && lines[0].ends_with("trace"), "{t}");
        assert!(lines[1].contains("1.00 s") && lines[1].ends_with("0000000000000001"), "{t}");
        assert!(lines[2].starts_with('2') && lines[2].contains(" - "), "{t}");
        assert!(lines[5].starts_with("p50") && lines[5].contains("50.0"), "{t}");
        assert!(lines[8].starts_with("nulls"), "{t}");
        assert!(lines.iter().all(|l| l.chars().count() <= lines[3].chars().count()), "{t}");
    }
}
