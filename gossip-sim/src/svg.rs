//! `--svg FILE`: a picture of a run for people who would rather look than read. Left:
//! the share of views that match the truth over simulated time, with the fault and the
//! heal marked. Right: when each live node noticed the failure, as a cumulative
//! distribution over seconds after the fault, with the first detection and the p50, p99
//! and max marked.
//!
//! Both panels share one `Axis` helper: round ticks (1, 2 or 5 times a power of ten) on
//! the time axis, 0% to 100% in quarters on the share axis, and light grid lines.

use crate::scenario::Report;
use crate::seeds::nearest_rank;
use core::fmt::Write;
use gossip_core::Time;

/// What the picture shows.
pub struct Picture<'a> {
    /// The run's report (title and numbers).
    pub report: &'a Report,
    /// (time, fraction of all views matching the truth, fraction of views of the watched
    /// member matching it).
    pub agreement: &'a [(Time, f64, Option<f64>)],
    /// Times to mark with a vertical line, with a label.
    pub marks: Vec<(Time, &'a str)>,
    /// Seconds from the fault until each observer noticed, sorted.
    pub detections: Vec<f64>,
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
/// The first detection and the p50, p99 and max (nearest rank) of the detection times.
const QUANTILES: [(&str, u32, &str); 4] =
    [("first", 0, "#17becf"), ("p50", 50, "#9467bd"), ("p99", 99, "#8c564b"), ("max", 100, "#555")];

/// A linear axis from 0 to `end`, ticked every `step`.
struct Axis {
    end: f64,
    step: f64,
}

impl Axis {
    /// At most this many steps between ticks.
    const MAX_STEPS: f64 = 10.0;

    /// An axis that ends at `end` (above 0), with the smallest round step that gives at
    /// most [`Axis::MAX_STEPS`] steps.
    fn new(end: f64) -> Axis {
        let end = end.max(1e-3);
        let raw = end / Self::MAX_STEPS;
        let power = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * power).find(|s| *s >= raw * (1.0 - 1e-9)).unwrap_or(raw);
        Axis { end, step }
    }

    /// An axis a little past `last`, ending on a tick.
    fn past(last: f64) -> Axis {
        let mut axis = Axis::new(last.max(1e-3) * 1.03);
        axis.end = (axis.end / axis.step).ceil() * axis.step;
        axis
    }

    fn ticks(&self) -> Vec<f64> {
        let steps = (self.end / self.step * (1.0 + 1e-9)).floor() as u32;
        (0..=steps).map(|k| f64::from(k) * self.step).collect()
    }

    fn label(&self, v: f64) -> String {
        let decimals = (-(self.step.log10() + 1e-9).floor()).max(0.0) as usize;
        format!("{v:.decimals$}")
    }
}

/// One panel: a plot area whose left edge is at `x0`, time along x, share along y.
struct Panel {
    x0: f64,
    x: Axis,
}

impl Panel {
    fn px(&self, v: f64) -> f64 {
        self.x0 + W * (v / self.x.end).clamp(0.0, 1.0)
    }

    fn py(share: f64) -> f64 {
        TOP + H * (1.0 - share.clamp(0.0, 1.0))
    }

    /// Grid, ticks and their labels, the box and the titles; x ticks only when the
    /// panel has data along x.
    fn frame(&self, out: &mut String, title: &str, x_title: &str, y_title: &str, x_ticks: bool) {
        let (x0, x1, bottom) = (self.x0, self.x0 + W, TOP + H);
        let ticks = if x_ticks { self.x.ticks() } else { Vec::new() };
        out.push_str("<g stroke=\"#e6e6e6\">");
        for k in 1..4 {
            let y = Self::py(f64::from(k) / 4.0);
            let _ = write!(out, "<line x1=\"{x0}\" y1=\"{y}\" x2=\"{x1}\" y2=\"{y}\"/>");
        }
        for &t in ticks.iter().skip(1) {
            let x = self.px(t);
            let _ = write!(out, "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{bottom}\"/>");
        }
        out.push_str("</g><g stroke=\"#888\">");
        for k in 0..=4 {
            let y = Self::py(f64::from(k) / 4.0);
            let _ = write!(out, "<line x1=\"{}\" y1=\"{y}\" x2=\"{x0}\" y2=\"{y}\"/>", x0 - 5.0);
        }
        for &t in &ticks {
            let x = self.px(t);
            let _ = write!(out, "<line x1=\"{x:.1}\" y1=\"{bottom}\" x2=\"{x:.1}\" y2=\"{}\"/>", bottom + 5.0);
        }
        let _ = write!(out, "<rect x=\"{x0}\" y=\"{TOP}\" width=\"{W}\" height=\"{H}\" fill=\"none\"/></g>");
        out.push_str("<g font-size=\"10\" text-anchor=\"end\">");
        for k in 0..=4 {
            let _ =
                write!(out, "<text x=\"{}\" y=\"{}\">{}%</text>", x0 - 8.0, Self::py(f64::from(k) / 4.0) + 3.5, k * 25);
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
/// ends, and a spike stays.
fn polyline(points: impl Iterator<Item = (f64, f64)>, colour: &str) -> String {
    let tenth = |v: f64| (v * 10.0).round() / 10.0;
    let points: Vec<(f64, f64)> = points.map(|(x, y)| (tenth(x), tenth(y))).collect();
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
    let mut out = String::new();
    let width = LEFT + W + LEFT + W + RIGHT;
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" font-family=\"sans-serif\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
        TOP + H + BOTTOM
    );
    let r = p.report;
    let _ = write!(
        out,
        "<text x=\"{LEFT}\" y=\"20\" font-size=\"13\">gossip-sim {} · {} nodes · seed {} · false positives {} · trace {}</text>",
        r.scenario, r.nodes, r.seed, r.false_positives, r.trace_hash
    );
    agreement_panel(&mut out, p);
    detection_panel(&mut out, p);
    out.push_str("</svg>\n");
    out
}

/// Left: the share of views matching the truth over simulated time.
fn agreement_panel(out: &mut String, p: &Picture<'_>) {
    let t_max = p.agreement.last().map_or(1.0, |(t, _, _)| t.as_secs_f64());
    let panel = Panel { x0: LEFT, x: Axis::new(t_max) };
    panel.frame(out, "views matching the truth", "simulated seconds", "share of views", true);
    for (t, _) in &p.marks {
        Panel::vline(out, panel.px(t.as_secs_f64()), RED);
    }
    let at = |t: &Time| panel.px(t.as_secs_f64());
    out.push_str(&polyline(p.agreement.iter().map(|(t, f, _)| (at(t), Panel::py(*f))), BLUE));
    let watched: Vec<(f64, f64)> =
        p.agreement.iter().filter_map(|(t, _, w)| w.map(|w| (at(t), Panel::py(w)))).collect();
    let mut legend = vec![("all views".to_string(), BLUE, false)];
    if !watched.is_empty() {
        out.push_str(&polyline(watched.into_iter(), ORANGE));
        legend.push(("views of the failed member".to_string(), ORANGE, false));
    }
    let mut labels: Vec<(f64, &str, &str)> = p.marks.iter().map(|(t, label)| (at(t), *label, RED)).collect();
    labels.sort_by(|a, b| a.0.total_cmp(&b.0));
    panel.line_labels(out, &labels);
    panel.legend(out, &legend);
}

/// Right: when each live node noticed the failure, as a cumulative share of live nodes.
fn detection_panel(out: &mut String, p: &Picture<'_>) {
    let d = &p.detections;
    let panel = Panel { x0: LEFT + W + LEFT, x: Axis::past(d.last().copied().unwrap_or(1.0)) };
    let title = "when each live node noticed";
    panel.frame(out, title, "seconds after the fault", "share of live nodes", !d.is_empty());
    if d.is_empty() {
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">no failure to detect in this scenario</text>",
            panel.x0 + W / 2.0,
            TOP + H / 2.0
        );
        return;
    }
    // Every node but the failed one should notice; fewer reach less than 100%.
    let observers = d.len().max(p.report.nodes.saturating_sub(1)) as f64;
    let mut legend = Vec::new();
    for (name, percent, colour) in QUANTILES {
        if let Some(v) = nearest_rank(d, percent) {
            Panel::vline(out, panel.px(v), colour);
            legend.push((format!("{name} {v:.2} s"), colour, true));
        }
    }
    let share = |k: usize| Panel::py(k as f64 / observers);
    let steps = d.iter().enumerate().flat_map(|(k, &t)| [(panel.px(t), share(k)), (panel.px(t), share(k + 1))]);
    let end = (panel.px(panel.x.end), share(d.len()));
    out.push_str(&polyline(core::iter::once((panel.x0, share(0))).chain(steps).chain([end]), GREEN));
    panel.legend(out, &legend);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_take_round_steps() {
        let cases = [(18.4, 2.0, 18.4), (34.7, 5.0, 34.7), (1.0, 0.1, 1.0), (320.0, 50.0, 320.0), (0.07, 0.01, 0.07)];
        for (end, step, axis_end) in cases {
            let a = Axis::new(end);
            assert!((a.step - step).abs() < 1e-12 && a.end == axis_end, "{end}: step {} end {}", a.step, a.end);
            assert!(a.ticks().len() <= 11 && *a.ticks().last().unwrap() <= a.end);
        }
        // A little past the last detection, on a tick.
        let a = Axis::past(16.27);
        assert_eq!((a.step, a.end), (2.0, 18.0));
        assert_eq!(
            a.ticks().into_iter().map(|t| a.label(t)).collect::<Vec<_>>(),
            ["0", "2", "4", "6", "8", "10", "12", "14", "16", "18"]
        );
        let a = Axis::past(0.93);
        assert_eq!(a.label(a.end), "1.0");
        let a = Axis::past(0.0);
        assert!(a.end > 0.0 && a.ticks().len() >= 2);
    }

    #[test]
    fn polylines_drop_points_inside_straight_runs() {
        let line =
            polyline([(0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (2.0, 5.0), (2.0, 9.0), (3.0, 9.0)].into_iter(), "red");
        assert!(line.contains("points=\"0.0,0.0 2.0,0.0 2.0,9.0 3.0,9.0\""), "{line}");
        let spike = polyline([(1.0, 5.0), (1.0, 6.0), (1.0, 9.0), (1.0, 6.0), (1.0, 5.0)].into_iter(), "red");
        assert!(spike.contains("points=\"1.0,5.0 1.0,9.0 1.0,5.0\""), "{spike}");
    }
}
