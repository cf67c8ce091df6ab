//! `--svg FILE`: a picture of a run for people who would rather look than read. Left:
//! the fraction of views that match the truth over time, with the fault and the heal
//! marked. Right: when each live node noticed the failure, as a cumulative distribution.

use crate::scenario::Report;
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

const W: f64 = 460.0;
const H: f64 = 260.0;
const PAD: f64 = 40.0;
/// Top of the panels, below the header line and the panel titles.
const TOP: f64 = 60.0;

fn polyline(points: impl Iterator<Item = (f64, f64)>, colour: &str) -> String {
    let mut p = String::new();
    for (x, y) in points {
        let _ = write!(p, "{x:.1},{y:.1} ");
    }
    format!("<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{p}\"/>")
}

fn frame(out: &mut String, x0: f64, title: &str, x_label: &str, y_label: &str, x_max: f64) {
    let _ = write!(
        out,
        "<rect x=\"{x0}\" y=\"{TOP}\" width=\"{W}\" height=\"{H}\" fill=\"none\" stroke=\"#888\"/>\
         <text x=\"{}\" y=\"{}\" font-size=\"13\" text-anchor=\"middle\">{title}</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{x_label} (0 to {x_max:.1} s)</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\">{y_label}</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">1</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">0</text>",
        x0 + W / 2.0,
        TOP - 8.0,
        x0 + W / 2.0,
        TOP + H + 28.0,
        x0,
        TOP + H + 14.0,
        x0 - 4.0,
        TOP + 4.0,
        x0 - 4.0,
        TOP + H,
    );
}

/// Renders the picture as a standalone SVG document.
pub fn render(p: &Picture<'_>) -> String {
    let mut out = String::new();
    let width = 2.0 * W + 3.0 * PAD + 20.0;
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" font-family=\"sans-serif\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
        TOP + H + 50.0
    );
    let r = p.report;
    let _ = write!(
        out,
        "<text x=\"{PAD}\" y=\"16\" font-size=\"13\">gossip-sim {} · {} nodes · seed {} · false positives {} · trace {}</text>",
        r.scenario, r.nodes, r.seed, r.false_positives, r.trace_hash
    );
    // Left: agreement over time.
    let t_max = p.agreement.last().map_or(1.0, |(t, _, _)| t.as_secs_f64()).max(1e-3);
    frame(&mut out, PAD, "views matching the truth", "simulated time", "fraction", t_max);
    let x = |t: f64| PAD + W * t / t_max;
    let y = |f: f64| TOP + H * (1.0 - f.clamp(0.0, 1.0));
    out.push_str(&polyline(p.agreement.iter().map(|(t, f, _)| (x(t.as_secs_f64()), y(*f))), "#1f77b4"));
    let watched = p.agreement.iter().filter_map(|(t, _, w)| w.map(|w| (x(t.as_secs_f64()), y(w))));
    out.push_str(&polyline(watched, "#ff7f0e"));
    let _ = write!(
        out,
        "<text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#1f77b4\">all views</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#ff7f0e\">views of the failed member</text>",
        PAD + W * 0.35,
        TOP + H * 0.5,
        PAD + W * 0.35,
        TOP + H * 0.5 + 12.0
    );
    for (t, label) in &p.marks {
        let tx = x(t.as_secs_f64());
        let _ = write!(
            out,
            "<line x1=\"{tx:.1}\" y1=\"{TOP}\" x2=\"{tx:.1}\" y2=\"{}\" stroke=\"#d62728\" stroke-dasharray=\"4 3\"/>\
             <text x=\"{:.1}\" y=\"{}\" font-size=\"10\" fill=\"#d62728\">{label}</text>",
            TOP + H,
            tx + 3.0,
            TOP + 12.0
        );
    }
    // Right: detection CDF.
    let x0 = 2.0 * PAD + W + 20.0;
    let d_max = p.detections.last().copied().unwrap_or(1.0).max(1e-3) * 1.05;
    frame(&mut out, x0, "when each live node noticed", "seconds after the fault", "share", d_max);
    if p.detections.is_empty() {
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">no failure to detect in this scenario</text>",
            x0 + W / 2.0,
            TOP + H / 2.0
        );
    } else {
        let n = p.detections.len() as f64;
        let points =
            p.detections.iter().enumerate().map(|(k, d)| (x0 + W * d / d_max, TOP + H * (1.0 - (k as f64 + 1.0) / n)));
        out.push_str(&polyline(core::iter::once((x0, TOP + H)).chain(points), "#2ca02c"));
    }
    out.push_str("</svg>\n");
    out
}
