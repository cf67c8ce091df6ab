//! `--svg FILE`: a picture of a run for people who would rather look than read. Left:
//! the share of views that match the truth over simulated time, with the scenario's
//! moments (the fault, the heal) marked. Right, what the scenario is about, zoomed to
//! where it happens ([`Right`]): when each live node noticed a crash or a departure, or got
//! a key or a broadcast, as a cumulative share with the first, p50, p99 and max marked; in
//! the other scenarios, the share of live nodes whose whole view is true after the
//! scenario's event (a heal, the last stall, the end of the churn).
//!
//! Both panels share one `Axis` helper: round ticks (1, 2 or 5 times a power of ten) on
//! the time axis, 0% to 100% in quarters on the share axis, and light grid lines.

use crate::percentile::nearest_rank;
use crate::report::Report;
use crate::sim::Sample;
use core::fmt::Write;
use gossip_core::Time;

/// What the picture shows.
pub struct Picture<'a> {
    /// The run's report (title and numbers).
    pub report: &'a Report,
    /// How far the views matched the truth, sampled over the run.
    pub samples: &'a [Sample],
    /// Times to mark with a vertical line on the left, with a label.
    pub marks: Vec<(Time, &'a str)>,
    /// The legend of [`Sample::watched`]'s line (drawn when a member is watched).
    pub watched: &'a str,
    /// The right panel.
    pub right: Right<'a>,
}

/// What the right panel shows, over seconds after the scenario's event.
pub enum Right<'a> {
    /// When each live node first saw something (a crash, a departure, a key, a broadcast),
    /// as the cumulative share of `observers`.
    Arrivals {
        /// Panel title.
        title: &'a str,
        /// What the seconds count from, e.g. "seconds after the crash".
        x_title: &'a str,
        /// Seconds after the event, one per node that saw it, in any order.
        times: Vec<f64>,
        /// The nodes that should see it.
        observers: usize,
    },
    /// A share that changes over the seconds after the event, as a step line: each point
    /// is a change (or a sample) whose share holds until the next.
    Share {
        /// Panel title.
        title: &'a str,
        /// What the share is of, e.g. "share of live nodes".
        y_title: &'a str,
        /// What the seconds count from, e.g. "seconds after the heal".
        x_title: &'a str,
        /// (seconds, share from then on), in time order; the first at 0.
        points: Vec<(f64, f64)>,
        /// Seconds after the event when the run ended.
        until: f64,
        /// How often the share was sampled, seconds (`None`: every change is there).
        every: Option<f64>,
        /// When the share reached what the scenario waits for, and the legend's words for
        /// it ("all true after").
        done: Option<(f64, &'a str)>,
    },
}

/// The share of live nodes whose whole view is true at `from` and at each change after it,
/// as [`Right::Share`] points, from [`Truth::complete_log`](crate::truth::Truth::complete_log).
pub fn complete_after(log: &[(Time, f64)], from: Time) -> Vec<(f64, f64)> {
    let at_from = log.iter().take_while(|(t, _)| *t <= from).last().map_or(1.0, |&(_, share)| share);
    let after =
        log.iter().filter(|(t, _)| *t > from).map(|&(t, share)| (t.saturating_since(from).as_secs_f64(), share));
    core::iter::once((0.0, at_from)).chain(after).collect()
}

/// Plot area of one panel, pixels.
const W: f64 = 460.0;
const H: f64 = 260.0;
/// Left of the first panel, and between the panels: room for the share axis.
const LEFT: f64 = 64.0;
/// Right of the second panel: room for half a tick label.
const RIGHT: f64 = 24.0;
/// Top of the panels, below the header line, the panel titles and a row for the labels
/// of vertical lines.
const TOP: f64 = 66.0;
/// Below the panels: tick labels, the axis title and a legend row.
const BOTTOM: f64 = 70.0;
/// Rough width of a character of `font-size` 10 in a sans-serif face, to keep labels
/// inside their panel.
const CHAR_W: f64 = 5.8;

const BLUE: &str = "#1f77b4";
const ORANGE: &str = "#ff7f0e";
const GREEN: &str = "#2ca02c";
const RED: &str = "#d62728";
/// The first arrival and the p50, p99 and max (nearest rank) of the arrival times.
const QUANTILES: [(&str, u32, &str); 4] =
    [("first", 0, "#17becf"), ("p50", 50, "#9467bd"), ("p99", 99, "#8c564b"), ("max", 100, "#555")];

/// A linear axis from `start` to `end`, ticked every `step` from `start`.
struct Axis {
    start: f64,
    end: f64,
    step: f64,
}

impl Axis {
    /// At most this many steps between ticks.
    const MAX_STEPS: f64 = 10.0;
    /// The narrowest zoom, seconds: a tenth of a second is where network round trips add
    /// up to something a person wants to see.
    const MIN_ZOOM: f64 = 0.1;

    /// Round steps (1, 2 and 5 times a power of ten) from about `span / MAX_STEPS` up.
    fn steps(span: f64) -> impl Iterator<Item = f64> {
        let raw = span.max(1e-6) / Self::MAX_STEPS;
        let power = 10f64.powf(raw.log10().floor());
        (0..)
            .flat_map(move |k| [1.0, 2.0, 5.0].map(|m| m * power * 10f64.powi(k)))
            .filter(move |s| *s >= raw * (1.0 - 1e-9))
    }

    /// An axis from 0 to `end` (above 0), with the smallest round step that gives at
    /// most [`Axis::MAX_STEPS`] steps.
    fn new(end: f64) -> Axis {
        let end = end.max(1e-3);
        let step = Self::steps(end).next().unwrap_or(end);
        Axis { start: 0.0, end, step }
    }

    /// An axis around the values from `lo` to `hi` (at least 0), with a margin, starting
    /// and ending on a tick but not past `limit` (where the data ends): from 0 when the
    /// values start closer to 0 than their own spread, so that a zoom is only taken where
    /// it shows more.
    fn around(lo: f64, hi: f64, limit: f64) -> Axis {
        let mut axis = Axis::around_ticks(lo, hi);
        if limit > axis.start && limit >= hi {
            axis.end = axis.end.min(limit);
        }
        axis
    }

    /// `v` in seconds for a legend: to one place more than the tick labels, and to at
    /// least two significant digits.
    fn value(&self, v: f64) -> String {
        let significant = if v > 0.0 && v < 1.0 { (-v.log10()).floor() as usize + 2 } else { 0 };
        let decimals = (self.decimals() + 1).max(significant);
        format!("{v:.decimals$} s")
    }

    fn around_ticks(lo: f64, hi: f64) -> Axis {
        let (lo, hi) = (lo.max(0.0), hi.max(lo.max(0.0)));
        let spread = (hi - lo).max(hi * 0.05).max(Self::MIN_ZOOM);
        let from = if lo < spread { 0.0 } else { lo - spread * 0.15 };
        let to = hi + spread * 0.15;
        for step in Self::steps(to - from) {
            let (start, end) = ((from / step + 1e-9).floor() * step, (to / step - 1e-9).ceil() * step);
            if (end - start) / step <= Self::MAX_STEPS + 1e-9 {
                return Axis { start, end, step };
            }
        }
        Axis::new(to)
    }

    fn ticks(&self) -> Vec<f64> {
        let steps = ((self.end - self.start) / self.step * (1.0 + 1e-9)).floor() as u32;
        (0..=steps).map(|k| self.start + f64::from(k) * self.step).collect()
    }

    fn decimals(&self) -> usize {
        (-(self.step.log10() + 1e-9).floor()).max(0.0) as usize
    }

    fn label(&self, v: f64) -> String {
        let decimals = self.decimals();
        format!("{v:.decimals$}")
    }
}

/// One panel: a plot area whose left edge is at `x0`, time along x, and along y a share
/// (0% to 100% in quarters) or, with `y`, a value on that axis.
struct Panel {
    x0: f64,
    x: Axis,
    y: Option<Axis>,
}

impl Panel {
    fn px(&self, v: f64) -> f64 {
        let Axis { start, end, .. } = self.x;
        self.x0 + W * ((v - start) / (end - start).max(1e-9)).clamp(0.0, 1.0)
    }

    fn py(&self, v: f64) -> f64 {
        let share = self.y.as_ref().map_or(v, |Axis { start, end, .. }| (v - start) / (end - start).max(1e-9));
        TOP + H * (1.0 - share.clamp(0.0, 1.0))
    }

    /// The y ticks: where they go and their labels.
    fn y_ticks(&self) -> Vec<(f64, String)> {
        match &self.y {
            Some(axis) => axis.ticks().into_iter().map(|v| (self.py(v), axis.label(v))).collect(),
            None => (0..=4).map(|k| (self.py(f64::from(k) / 4.0), format!("{}%", k * 25))).collect(),
        }
    }

    /// Grid, ticks and their labels, the box and the titles; x ticks only when the
    /// panel has data along x.
    fn frame(&self, out: &mut String, title: &str, x_title: &str, y_title: &str, x_ticks: bool) {
        let (x0, x1, bottom) = (self.x0, self.x0 + W, TOP + H);
        let ticks = if x_ticks { self.x.ticks() } else { Vec::new() };
        let y_ticks = self.y_ticks();
        out.push_str("<g stroke=\"#e6e6e6\">");
        for (y, _) in y_ticks.iter().filter(|(y, _)| *y > TOP + 0.5 && *y < bottom - 0.5) {
            let _ = write!(out, "<line x1=\"{x0}\" y1=\"{y:.1}\" x2=\"{x1}\" y2=\"{y:.1}\"/>");
        }
        for &t in ticks.iter().skip(1) {
            let x = self.px(t);
            let _ = write!(out, "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{bottom}\"/>");
        }
        out.push_str("</g><g stroke=\"#888\">");
        for (y, _) in &y_ticks {
            let _ = write!(out, "<line x1=\"{}\" y1=\"{y:.1}\" x2=\"{x0}\" y2=\"{y:.1}\"/>", x0 - 5.0);
        }
        for &t in &ticks {
            let x = self.px(t);
            let _ = write!(out, "<line x1=\"{x:.1}\" y1=\"{bottom}\" x2=\"{x:.1}\" y2=\"{}\"/>", bottom + 5.0);
        }
        let _ = write!(out, "<rect x=\"{x0}\" y=\"{TOP}\" width=\"{W}\" height=\"{H}\" fill=\"none\"/></g>");
        out.push_str("<g font-size=\"10\" text-anchor=\"end\">");
        for (y, label) in &y_ticks {
            let _ = write!(out, "<text x=\"{}\" y=\"{:.1}\">{label}</text>", x0 - 8.0, y + 3.5);
        }
        out.push_str("</g><g font-size=\"10\" text-anchor=\"middle\">");
        for &t in &ticks {
            let _ = write!(out, "<text x=\"{:.1}\" y=\"{}\">{}</text>", self.px(t), bottom + 17.0, self.x.label(t));
        }
        let (mid_x, mid_y, y_title_x) = (x0 + W / 2.0, TOP + H / 2.0, x0 - 44.0);
        let _ = write!(
            out,
            "</g><text x=\"{mid_x}\" y=\"{}\" font-size=\"13\" text-anchor=\"middle\">{title}</text>\
             <text x=\"{mid_x}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{x_title}</text>\
             <text x=\"{y_title_x}\" y=\"{mid_y}\" font-size=\"11\" text-anchor=\"middle\" \
             transform=\"rotate(-90 {y_title_x} {mid_y})\">{y_title}</text>",
            TOP - 20.0,
            bottom + 33.0,
        );
    }

    /// Labels of `font-size` 10 for vertical lines at pixels (ascending), in the row just
    /// above the plot: each to the right of its line, or to its left where the panel's
    /// right edge or the label before is in the way (and there is room on the left).
    fn line_labels(&self, out: &mut String, labels: &[(f64, &str, &str)]) {
        let mut free_from = self.x0 - LEFT / 2.0;
        for &(x, text, colour) in labels {
            let width = CHAR_W * text.chars().count() as f64;
            let fits_right = x + 3.0 + width <= self.x0 + W + RIGHT / 2.0 && x + 3.0 >= free_from;
            let right = fits_right || x - 3.0 - width < free_from;
            let (tx, anchor) = if right { (x + 3.0, "start") } else { (x - 3.0, "end") };
            free_from = if right { tx + width } else { x } + 4.0;
            let _ = write!(
                out,
                "<text x=\"{tx:.1}\" y=\"{}\" font-size=\"10\" fill=\"{colour}\" text-anchor=\"{anchor}\">{text}</text>",
                TOP - 4.0
            );
        }
    }

    /// A dashed vertical line across the plot at `x` (pixels).
    fn vline(out: &mut String, x: f64, colour: &str) {
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"{colour}\" stroke-dasharray=\"4 3\"/>",
            TOP + H
        );
    }

    /// One row of legend below the panel: a swatch (dashed for a vertical line) and a text
    /// per entry.
    fn legend(&self, out: &mut String, entries: &[(String, &str, bool)]) {
        let (mut x, y) = (self.x0, TOP + H + 52.0);
        for (text, colour, dashed) in entries {
            let (sy, dash) = (y - 3.5, if *dashed { " stroke-dasharray=\"4 3\"" } else { "" });
            let _ = write!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{sy}\" x2=\"{:.1}\" y2=\"{sy}\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>\
                 <text x=\"{:.1}\" y=\"{y}\" font-size=\"10\">{text}</text>",
                x + 18.0,
                x + 22.0
            );
            x += 22.0 + CHAR_W * text.chars().count() as f64 + 16.0;
        }
    }
}

/// A polyline through `points` (pixels, to a tenth), without the points that lie between
/// their neighbours along one row or one column: a step or a flat stretch needs only its
/// ends, and a spike stays. Points that fall in one half-pixel column are first reduced
/// to the first, the lowest, the highest and the last of them, so a line of thousands of
/// changes stays as small as the picture is wide.
fn polyline(points: impl Iterator<Item = (f64, f64)>, colour: &str) -> String {
    let tenth = |v: f64| (v * 10.0).round() / 10.0;
    let mut kept: Vec<(f64, f64)> = Vec::new();
    let mut column: Vec<(f64, f64)> = Vec::new();
    let flush = |column: &mut Vec<(f64, f64)>, kept: &mut Vec<(f64, f64)>| {
        let by_y = |a: &&(f64, f64), b: &&(f64, f64)| a.1.total_cmp(&b.1);
        let (Some(&first), Some(&last)) = (column.first(), column.last()) else { return };
        let (low, high) = (column.iter().min_by(by_y), column.iter().max_by(by_y));
        let (low, high) = (*low.unwrap_or(&first), *high.unwrap_or(&first));
        let low_first = column.iter().position(|p| *p == low) <= column.iter().position(|p| *p == high);
        let middle = if low_first { [low, high] } else { [high, low] };
        for p in core::iter::once(first).chain(middle).chain([last]) {
            if kept.last() != Some(&p) {
                kept.push(p);
            }
        }
        column.clear();
    };
    for (x, y) in points {
        let p = (tenth(x), tenth(y));
        if column.first().is_some_and(|c| (c.0 * 2.0).round() != (p.0 * 2.0).round()) {
            flush(&mut column, &mut kept);
        }
        column.push(p);
    }
    flush(&mut column, &mut kept);
    let points = kept;
    let between = |a: f64, m: f64, b: f64| a.min(b) <= m && m <= a.max(b);
    let mut p = String::new();
    for (i, &(x, y)) in points.iter().enumerate() {
        if let (Some(&(bx, by)), Some(&(ax, ay))) = (i.checked_sub(1).and_then(|j| points.get(j)), points.get(i + 1)) {
            let in_column = bx == x && ax == x && between(by, y, ay);
            let in_row = by == y && ay == y && between(bx, x, ax);
            if in_column || in_row {
                continue;
            }
        }
        let _ = write!(p, "{x:.1},{y:.1} ");
    }
    format!("<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>", p.trim_end())
}

/// Renders the picture as a standalone SVG document.
pub fn render(p: &Picture<'_>) -> String {
    let r = p.report;
    let cut =
        if r.partition_downs > 0 { format!(" · Downs across the cut {}", r.partition_downs) } else { String::new() };
    let mut out = document(&format!(
        "gossip-sim {} · {} nodes · seed {} · false positives {}{cut} · trace {}",
        r.scenario, r.nodes, r.seed, r.false_positives, r.trace_hash
    ));
    agreement_panel(&mut out, p);
    match &p.right {
        Right::Arrivals { title, x_title, times, observers } => {
            arrivals_panel(&mut out, title, x_title, times, *observers)
        }
        Right::Share { title, y_title, x_title, points, until, every, done } => {
            share_panel(&mut out, [title, y_title, x_title], points, (*until, *every), *done)
        }
    }
    out.push_str("</svg>\n");
    out
}

/// Left: the share of views matching the truth over simulated time.
fn agreement_panel(out: &mut String, p: &Picture<'_>) {
    let t_max = p.samples.last().map_or(1.0, |s| s.at.as_secs_f64());
    let panel = Panel { x0: LEFT, x: Axis::new(t_max), y: None };
    panel.frame(out, "views matching the truth", "simulated seconds", "share of views", true);
    for (t, _) in &p.marks {
        Panel::vline(out, panel.px(t.as_secs_f64()), RED);
    }
    let at = |t: Time| panel.px(t.as_secs_f64());
    out.push_str(&polyline(p.samples.iter().map(|s| (at(s.at), panel.py(s.views))), BLUE));
    let watched: Vec<(f64, f64)> =
        p.samples.iter().filter_map(|s| s.watched.map(|w| (at(s.at), panel.py(w)))).collect();
    let mut legend = vec![("all views".to_string(), BLUE, false)];
    if !watched.is_empty() {
        out.push_str(&polyline(watched.into_iter(), ORANGE));
        legend.push((p.watched.to_string(), ORANGE, false));
    }
    let mut labels: Vec<(f64, &str, &str)> = p.marks.iter().map(|(t, label)| (at(*t), *label, RED)).collect();
    labels.sort_by(|a, b| a.0.total_cmp(&b.0));
    panel.line_labels(out, &labels);
    panel.legend(out, &legend);
}

/// The right panel's place.
const RIGHT_X0: f64 = LEFT + W + LEFT;

/// A line of text in the middle of the right panel, for when it has nothing to draw.
fn nothing(out: &mut String, text: &str) {
    let _ = write!(
        out,
        "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">{text}</text>",
        RIGHT_X0 + W / 2.0,
        TOP + H / 2.0
    );
}

/// Right: when each node saw it, as a cumulative share of the observers, zoomed to the
/// arrivals.
fn arrivals_panel(out: &mut String, title: &str, x_title: &str, times: &[f64], observers: usize) {
    let mut d = times.to_vec();
    d.sort_by(f64::total_cmp);
    let (Some(&first), Some(&last)) = (d.first(), d.last()) else {
        Panel { x0: RIGHT_X0, x: Axis::new(1.0), y: None }.frame(out, title, x_title, "share of live nodes", false);
        return nothing(out, "no live node saw it within the run");
    };
    let panel = Panel { x0: RIGHT_X0, x: Axis::around(first, last, f64::INFINITY), y: None };
    panel.frame(out, title, x_title, "share of live nodes", true);
    // Fewer arrivals than observers reach less than 100%.
    let observers = d.len().max(observers) as f64;
    let mut legend = Vec::new();
    for (name, percent, colour) in QUANTILES {
        if let Some(v) = nearest_rank(&d, percent) {
            Panel::vline(out, panel.px(v), colour);
            legend.push((format!("{name} {}", panel.x.value(v)), colour, true));
        }
    }
    let share = |k: usize| panel.py(k as f64 / observers);
    let steps = d.iter().enumerate().flat_map(|(k, &t)| [(panel.px(t), share(k)), (panel.px(t), share(k + 1))]);
    let end = (panel.px(panel.x.end), share(d.len()));
    out.push_str(&polyline(core::iter::once((panel.x0, share(0))).chain(steps).chain([end]), GREEN));
    panel.legend(out, &legend);
}

/// Right: a share as it changed after the event, zoomed to where it changes, with the
/// moment it reached the scenario's goal marked.
fn share_panel(
    out: &mut String,
    [title, y_title, x_title]: [&str; 3],
    points: &[(f64, f64)],
    (until, every): (f64, Option<f64>),
    done: Option<(f64, &str)>,
) {
    // From the first change to the last one or the goal, or the whole run if nothing
    // changed. A run that reached its goal stopped there: past it, the axis takes its
    // margin and the line stops where the run did.
    let last = points.last().map_or(0.0, |p| p.0).max(done.map_or(0.0, |d| d.0));
    let (lo, hi) = match points.get(1) {
        Some(&(first, _)) => (first, last),
        None => (0.0, until),
    };
    let limit = if done.is_some() { f64::INFINITY } else { until };
    let panel = Panel { x0: RIGHT_X0, x: Axis::around(lo, hi, limit), y: None };
    panel.frame(out, title, x_title, y_title, true);
    let sampled = every.map_or(String::new(), |e| format!(", sampled every {e} s"));
    let mut legend = vec![(format!("{y_title}{sampled}"), GREEN, false)];
    if let Some((at, words)) = done {
        Panel::vline(out, panel.px(at), RED);
        legend.push((format!("{words} {}", panel.x.value(at)), RED, true));
    }
    // A step line over the panel: each share holds until the next change, the last to the
    // panel's end.
    let (start, end) = (panel.x.start, panel.x.end);
    let before = points.iter().take_while(|(x, _)| *x <= start).last();
    let mut share = before.or(points.first()).map_or(1.0, |p| p.1);
    let mut line = vec![(panel.px(start), panel.py(share))];
    for &(x, next) in points.iter().filter(|(x, _)| *x > start && *x <= end) {
        line.push((panel.px(x), panel.py(share)));
        line.push((panel.px(x), panel.py(next)));
        share = next;
    }
    line.push((panel.px(end.min(until)), panel.py(share)));
    out.push_str(&polyline(line.into_iter(), GREEN));
    panel.legend(out, &legend);
}

/// One run of [`render_scaling`]'s picture: a cluster size and what running it cost.
#[derive(Clone, Copy, Debug)]
pub struct ScalePoint {
    /// Cluster size.
    pub nodes: usize,
    /// Wall seconds of the whole run, forming included.
    pub wall_secs: f64,
    /// Wall seconds of the measured window: the run after the cluster formed (and settled).
    pub after_forming_secs: f64,
    /// Peak resident memory of the process.
    pub peak_rss_bytes: u64,
}

/// A scenario's runs, by size, for [`render_scaling`].
pub struct Series<'a> {
    /// Its legend.
    pub name: &'a str,
    /// Its runs, in increasing size.
    pub points: &'a [ScalePoint],
}

/// The cost of simulating against cluster size: left, wall seconds of each series' whole
/// run (solid) and of its measured window, `window` in the legend (dashed); right, peak
/// memory.
pub fn render_scaling(title: &str, window: &str, series: &[Series<'_>]) -> String {
    let points = || series.iter().flat_map(|s| s.points.iter());
    let max_nodes = points().map(|p| p.nodes).max().unwrap_or(1) as f64;
    let max_wall = points().map(|p| p.wall_secs).fold(0.0, f64::max);
    let max_gib = points().map(|p| gib(p.peak_rss_bytes)).fold(0.0, f64::max);
    let mut out = document(title);
    let colours = [BLUE, ORANGE, GREEN, RED];
    let wall = Panel { x0: LEFT, x: Axis::new(max_nodes), y: Some(Axis::new(max_wall * 1.05)) };
    wall.frame(&mut out, "wall time", "nodes", "wall seconds", true);
    let memory = Panel { x0: RIGHT_X0, x: Axis::new(max_nodes), y: Some(Axis::new(max_gib * 1.05)) };
    memory.frame(&mut out, "peak memory", "nodes", "peak RSS, GiB", true);
    let (mut wall_legend, mut memory_legend) = (Vec::new(), Vec::new());
    for (s, colour) in series.iter().zip(colours.into_iter().cycle()) {
        let whole: Vec<(f64, f64)> = s.points.iter().map(|p| (p.nodes as f64, p.wall_secs)).collect();
        let after: Vec<(f64, f64)> = s.points.iter().map(|p| (p.nodes as f64, p.after_forming_secs)).collect();
        let peak: Vec<(f64, f64)> = s.points.iter().map(|p| (p.nodes as f64, gib(p.peak_rss_bytes))).collect();
        wall.series(&mut out, &whole, colour, false);
        wall.series(&mut out, &after, colour, true);
        memory.series(&mut out, &peak, colour, false);
        wall_legend.push((s.name.to_string(), colour, false));
        wall_legend.push((format!("{}, {window}", s.name), colour, true));
        memory_legend.push((s.name.to_string(), colour, false));
    }
    wall.legend(&mut out, &wall_legend);
    memory.legend(&mut out, &memory_legend);
    out.push_str("</svg>\n");
    out
}

/// The opening of a two-panel picture: the document, its white ground and its header line
/// (closed by the caller with `</svg>`).
fn document(header: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{LEFT}\" y=\"20\" font-size=\"13\">{header}</text>",
        LEFT + W + LEFT + W + RIGHT,
        TOP + H + BOTTOM
    );
    out
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1u32 << 30)
}

impl Panel {
    /// Values at `points` (x, y in axis units) joined by a line, each marked with a dot.
    fn series(&self, out: &mut String, points: &[(f64, f64)], colour: &str, dashed: bool) {
        let at: Vec<(f64, f64)> = points.iter().map(|&(x, y)| (self.px(x), self.py(y))).collect();
        let line = polyline(at.iter().copied(), colour);
        match dashed {
            true => out.push_str(&format!("<g stroke-dasharray=\"4 3\">{line}</g>")),
            false => out.push_str(&line),
        }
        for (x, y) in at {
            let _ = write!(out, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{colour}\"/>");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each run is a dot in both panels (its whole run and its part after forming on the
    /// left), and the axes reach the largest values.
    #[test]
    fn the_scaling_picture_shows_every_run() {
        let point = |nodes, wall_secs, gib: u64| ScalePoint {
            nodes,
            wall_secs,
            after_forming_secs: wall_secs / 4.0,
            peak_rss_bytes: gib << 30,
        };
        let (a, b) = ([point(1000, 2.0, 1), point(4000, 30.0, 5)], [point(1000, 3.0, 1)]);
        let svg = render_scaling("t", "w", &[Series { name: "a", points: &a }, Series { name: "b", points: &b }]);
        assert_eq!(svg.matches("<circle").count(), 3 * (a.len() + b.len()));
        assert_eq!(svg.matches("<polyline").count(), 3 * 2);
        assert!(svg.contains(">30</text>") && svg.contains(">5</text>") && svg.contains(">4000</text>"), "{svg}");
    }

    #[test]
    fn axes_take_round_steps() {
        let cases = [(18.4, 2.0, 18.4), (34.7, 5.0, 34.7), (1.0, 0.1, 1.0), (320.0, 50.0, 320.0), (0.07, 0.01, 0.07)];
        for (end, step, axis_end) in cases {
            let a = Axis::new(end);
            assert!((a.step - step).abs() < 1e-12 && a.end == axis_end, "{end}: step {} end {}", a.step, a.end);
            assert!(a.ticks().len() <= 11 && *a.ticks().last().unwrap() <= a.end);
        }
        // Around the detections of a crash 4.32-4.55 s after it: zoomed, on ticks.
        let a = Axis::around(4.32, 4.55, f64::INFINITY);
        assert_eq!(
            a.ticks().into_iter().map(|t| a.label(t)).collect::<Vec<_>>(),
            ["4.25", "4.30", "4.35", "4.40", "4.45", "4.50", "4.55", "4.60"]
        );
        assert_eq!(a.value(4.323), "4.323 s");
        // Values that start closer to 0 than their spread are shown from 0.
        let a = Axis::around(0.3, 2.4, f64::INFINITY);
        assert_eq!((a.start, a.step, a.end), (0.0, 0.5, 3.0));
        // Never narrower than a tenth of a second; never past the data's end.
        let a = Axis::around(0.0019, 0.0021, f64::INFINITY);
        assert!(a.start == 0.0 && a.end >= 0.015, "{} {}", a.start, a.end);
        let a = Axis::around(0.0, 300.0, 300.0);
        assert_eq!((a.end, a.step), (300.0, 50.0));
        assert_eq!(Axis::new(1.0).value(0.0024), "0.0024 s");
    }

    #[test]
    fn polylines_drop_points_inside_straight_runs() {
        let line =
            polyline([(0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (2.0, 5.0), (2.0, 9.0), (3.0, 9.0)].into_iter(), "red");
        assert!(line.contains("points=\"0.0,0.0 2.0,0.0 2.0,9.0 3.0,9.0\""), "{line}");
        let spike = polyline([(1.0, 5.0), (1.0, 6.0), (1.0, 9.0), (1.0, 6.0), (1.0, 5.0)].into_iter(), "red");
        assert!(spike.contains("points=\"1.0,5.0 1.0,9.0 1.0,5.0\""), "{spike}");
        // Thousands of changes in a few columns come down to four points a column at most.
        let busy = polyline((0..4000).map(|k| (f64::from(k) / 1000.0, f64::from(k % 7))), "red");
        let points = busy.split("points=\"").nth(1).unwrap().split_whitespace().count();
        assert!(points <= 4 * 9, "{points} points");
    }
}
