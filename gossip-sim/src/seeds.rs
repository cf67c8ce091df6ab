//! `gossip-sim run --seeds A..B`: one scenario run once per seed, and the aggregate over
//! the runs.
//!
//! The aggregate's fields come from [`Report::to_json`] itself, read back by a small parser
//! of flat JSON objects, so every field the single-seed object has (one added later too)
//! is aggregated without a second list of fields to keep in step with it:
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

use crate::{Report, Scenario};
use core::fmt::Write;
use core::ops::RangeInclusive;

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

/// The nearest-rank percentile of `sorted` (ascending): the value at 1-based rank
/// ⌈`percent`·n/100⌉, at least rank 1; `None` for no values.
pub fn nearest_rank(sorted: &[f64], percent: u32) -> Option<f64> {
    let n = sorted.len();
    let rank = (percent as usize * n).div_ceil(100).clamp(1, n.max(1));
    sorted.get(rank - 1).copied()
}

/// One numeric field over the runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// Smallest value; `None` when every run reported null.
    pub min: Option<f64>,
    /// Nearest-rank median ([`nearest_rank`]).
    pub p50: Option<f64>,
    /// Nearest-rank 90th percentile.
    pub p90: Option<f64>,
    /// Largest value.
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

    fn to_json(&self) -> String {
        let f = |v: Option<f64>| v.map_or("null".to_string(), |v| format!("{v}"));
        format!(
            "{{\"min\": {}, \"p50\": {}, \"p90\": {}, \"max\": {}, \"null_runs\": {}}}",
            f(self.min),
            f(self.p50),
            f(self.p90),
            f(self.max),
            self.null_runs
        )
    }
}

/// A string field over the runs.
#[derive(Clone, Debug, PartialEq)]
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

/// A field of a flat JSON object.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Text(String),
    /// A number, or `None` for null.
    Number(Option<f64>),
}

impl Aggregate {
    /// Aggregates `reports` (at least one, all of the same scenario).
    pub fn of(reports: &[Report]) -> Result<Aggregate, String> {
        let first = reports.first().ok_or("no run finished: nothing to aggregate")?;
        let objects = reports.iter().map(|r| parse_flat_object(&r.to_json())).collect::<Result<Vec<_>, _>>()?;
        let keys: Vec<&str> = objects[0].iter().map(|(k, _)| k.as_str()).collect();
        if let Some(o) = objects.iter().find(|o| !o.iter().map(|(k, _)| k.as_str()).eq(keys.iter().copied())) {
            return Err(format!("the runs' JSON objects have different fields: {keys:?} and {o:?}"));
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
            if let Some(texts) = column.iter().map(|v| v.text()).collect::<Option<Vec<&str>>>() {
                let value = if texts.iter().all(|t| *t == texts[0]) {
                    Text::Same(texts[0].to_string())
                } else {
                    Text::PerSeed(texts.iter().map(|t| t.to_string()).collect())
                };
                aggregate.text.push((key.to_string(), value));
            } else if let Some(numbers) = column.iter().map(|v| v.number()).collect::<Option<Vec<Option<f64>>>>() {
                aggregate.numbers.push((key.to_string(), Stats::of(&numbers)));
            } else {
                return Err(format!("field {key:?} is a string in some runs and a number in others"));
            }
        }
        Ok(aggregate)
    }

    /// The figures of the numeric field `name`, if the single-seed object has it.
    pub fn stats(&self, name: &str) -> Option<&Stats> {
        self.numbers.iter().find(|(k, _)| k == name).map(|(_, s)| s)
    }

    /// The aggregate as one JSON object (the `--seeds --json` contract of DESIGN.md).
    pub fn to_json(&self) -> String {
        let list = |items: Vec<String>| items.join(", ");
        let mut out = String::from("{");
        for (key, value) in &self.text {
            let value = match value {
                Text::Same(s) => json_string(s),
                Text::PerSeed(v) => format!("[{}]", list(v.iter().map(|s| json_string(s)).collect())),
            };
            let _ = write!(out, "{}: {value}, ", json_string(key));
        }
        let _ = write!(
            out,
            "\"nodes\": {}, \"seeds\": [{}], \"trace_hashes\": [{}], \"failed_seeds\": [{}]",
            self.nodes,
            list(self.seeds.iter().map(u64::to_string).collect()),
            list(self.trace_hashes.iter().map(|h| json_string(h)).collect()),
            list(self.failed_seeds.iter().map(u64::to_string).collect()),
        );
        for (key, stats) in &self.numbers {
            let _ = write!(out, ", {}: {}", json_string(key), stats.to_json());
        }
        out.push('}');
        out
    }
}

impl Value {
    fn text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            Value::Number(_) => None,
        }
    }

    fn number(&self) -> Option<Option<f64>> {
        match self {
            Value::Number(n) => Some(*n),
            Value::Text(_) => None,
        }
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

const COLUMNS: [Column; 5] = [
    Column { heading: "converged", of: |r| r.converged_secs, decimals: 2, unit: " s" },
    Column { heading: "detect first", of: |r| r.detect_first_secs, decimals: 2, unit: " s" },
    Column { heading: "detect all", of: |r| r.detect_all_secs, decimals: 2, unit: " s" },
    Column { heading: "false pos", of: |r| Some(r.false_positives as f64), decimals: 0, unit: "" },
    Column { heading: "bytes/node/s", of: |r| Some(r.bytes_per_node_per_sec), decimals: 1, unit: "" },
];

/// The readable form: one row per run with the key figures, then a row per statistic
/// (and one with the count of null runs).
pub fn table(reports: &[Report]) -> String {
    let row = |first: String, cells: Vec<String>, last: String| {
        core::iter::once(first).chain(cells).chain([last]).collect::<Vec<String>>()
    };
    let mut rows = vec![row("seed".into(), COLUMNS.iter().map(|c| c.heading.to_string()).collect(), "trace".into())];
    for r in reports {
        rows.push(row(r.seed.to_string(), COLUMNS.iter().map(|c| c.cell((c.of)(r))).collect(), r.trace_hash.clone()));
    }
    // Over the reports' own figures rather than the JSON's rounded ones, so that each
    // statistic shows as one of the rows above it.
    let stats: Vec<Stats> = COLUMNS.iter().map(|c| Stats::of(&reports.iter().map(c.of).collect::<Vec<_>>())).collect();
    for name in ["min", "p50", "p90", "max", "nulls"] {
        let cells = COLUMNS.iter().zip(&stats).map(|(c, s)| match name {
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

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The fields of a flat JSON object (strings, numbers and nulls; no nesting), in order.
fn parse_flat_object(s: &str) -> Result<Vec<(String, Value)>, String> {
    let mut p = Parser { s: s.as_bytes(), at: 0 };
    let mut fields = Vec::new();
    p.expect(b'{')?;
    if p.peek() == Some(b'}') {
        p.at += 1;
    } else {
        loop {
            let key = p.string()?;
            p.expect(b':')?;
            let value = match p.peek() {
                Some(b'"') => Value::Text(p.string()?),
                Some(b'n') => p.word("null").map(|()| Value::Number(None))?,
                _ => Value::Number(Some(p.number()?)),
            };
            fields.push((key, value));
            match p.next() {
                Some(b',') => {}
                Some(b'}') => break,
                _ => return Err(p.error("',' or '}'")),
            }
        }
    }
    if p.peek().is_some() {
        return Err(p.error("the end"));
    }
    Ok(fields)
}

/// A cursor over JSON text; every read skips the whitespace before it.
struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, wanted: &str) -> String {
        format!("JSON: expected {wanted} at byte {}", self.at)
    }

    fn peek(&mut self) -> Option<u8> {
        while self.s.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
        self.s.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek();
        self.at += usize::from(c.is_some());
        c
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.next() == Some(c) { Ok(()) } else { Err(self.error(&format!("{:?}", c as char))) }
    }

    fn word(&mut self, w: &str) -> Result<(), String> {
        self.peek();
        if self.s[self.at..].starts_with(w.as_bytes()) {
            self.at += w.len();
            Ok(())
        } else {
            Err(self.error(w))
        }
    }

    fn number(&mut self) -> Result<f64, String> {
        self.peek();
        let start = self.at;
        while self.s.get(self.at).is_some_and(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')) {
            self.at += 1;
        }
        let text = core::str::from_utf8(&self.s[start..self.at]).map_err(|_| self.error("a number"))?;
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => {
                self.at = start;
                Err(self.error("a string, a number or null"))
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.at) else { return Err(self.error("the closing '\"'")) };
            self.at += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.at) else { return Err(self.error("an escape")) };
                    self.at += 1;
                    let plain = match e {
                        b'"' | b'\\' | b'/' => e,
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'u' => {
                            let hex = self.s.get(self.at..self.at + 4).and_then(|h| core::str::from_utf8(h).ok());
                            let ch = hex.and_then(|h| u32::from_str_radix(h, 16).ok()).and_then(char::from_u32);
                            let ch = ch.ok_or_else(|| self.error("four hex digits of a BMP character"))?;
                            self.at += 4;
                            out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                            continue;
                        }
                        _ => return Err(self.error("an escape")),
                    };
                    out.push(plain);
                }
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| self.error("UTF-8"))
    }
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
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(nearest_rank(&v, 50), Some(5.0));
        assert_eq!(nearest_rank(&v, 90), Some(9.0));
        assert_eq!(nearest_rank(&v, 99), Some(10.0));
        assert_eq!(nearest_rank(&v, 100), Some(10.0));
        assert_eq!(nearest_rank(&v, 0), Some(1.0));
        assert_eq!(nearest_rank(&[1.0, 2.0], 50), Some(1.0));
        assert_eq!(nearest_rank(&[1.0, 2.0], 90), Some(2.0));
        assert_eq!(nearest_rank(&[7.0], 50), Some(7.0));
        assert_eq!(nearest_rank(&[], 50), None);
    }

    #[test]
    fn stats_skip_nulls() {
        let s = Stats::of(&[Some(3.0), None, Some(1.0), Some(2.0), None]);
        assert_eq!(s, Stats { min: Some(1.0), p50: Some(2.0), p90: Some(3.0), max: Some(3.0), null_runs: 2 });
        let all_null = Stats::of(&[None, None]);
        assert_eq!(all_null, Stats { min: None, p50: None, p90: None, max: None, null_runs: 2 });
        assert_eq!(
            all_null.to_json(),
            "{\"min\": null, \"p50\": null, \"p90\": null, \"max\": null, \"null_runs\": 2}"
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
    fn flat_objects() {
        let fields = parse_flat_object(r#" {"a": "x\"\u00e9", "b": -1.5e2, "c": null} "#).unwrap();
        assert_eq!(
            fields,
            vec![
                ("a".into(), Value::Text("x\"é".into())),
                ("b".into(), Value::Number(Some(-150.0))),
                ("c".into(), Value::Number(None)),
            ]
        );
        assert_eq!(parse_flat_object("{}"), Ok(vec![]));
        for bad in ["", "{", "{\"a\": 1", "{\"a\": [1]}", "{\"a\": true}", "{\"a\": 1} x", "{\"a\" 1}"] {
            assert!(parse_flat_object(bad).is_err(), "{bad}");
        }
        // What `--seeds` reads back is exactly what a run prints.
        let r = report(1, Some(2.5), 10.0);
        let fields = parse_flat_object(&r.to_json()).unwrap();
        assert_eq!(fields.iter().find(|(k, _)| k == "trace_hash").unwrap().1, Value::Text(r.trace_hash.clone()));
        assert_eq!(fields.iter().find(|(k, _)| k == "converged_secs").unwrap().1, Value::Number(Some(2.5)));
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
        let single = parse_flat_object(&reports[0].to_json()).unwrap();
        for (key, value) in &single {
            match (key.as_str(), value) {
                ("seed" | "trace_hash" | "nodes", _) => {}
                (_, Value::Text(_)) => assert!(a.text.iter().any(|(k, _)| k == key), "{key}"),
                (_, Value::Number(_)) => assert!(a.stats(key).is_some(), "{key}"),
            }
        }
        assert_eq!(a.numbers.len() + a.text.len() + 3, single.len());
    }

    #[test]
    fn strings_are_escaped() {
        let s = "a \"b\" \\ \n \u{1}é";
        assert_eq!(serde_json::from_str::<String>(&json_string(s)).unwrap(), s);
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
