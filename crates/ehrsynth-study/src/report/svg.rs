//! Inline SVG charts for the HTML report (no script, no network): grouped bars, ROC panels, a
//! heatmap, paired real-vs-synthetic histograms, a forest plot and inline bars. Every label is
//! escaped; colours come from a colour-blind-safe palette (Okabe–Ito).

use std::fmt::Write as _;

use ehrsynth_eval::html::esc;

/// Series colours (Okabe–Ito), cycled.
pub const PALETTE: [&str; 7] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7f7f7f",
];
/// The real data's colour in paired charts.
pub const REAL: &str = "#9aa3ad";
/// The synthetic data's colour in paired charts.
pub const SYNTHETIC: &str = "#0072B2";
/// The paper's colour (published numbers).
pub const PAPER: &str = "#222";

/// Colour of the i-th series.
pub fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// A legend as HTML: coloured swatches with labels.
pub fn legend(items: &[(String, &str)]) -> String {
    let mut h = String::from("<p class=\"legend\">");
    for (label, colour) in items {
        let _ = write!(
            h,
            "<span><i style=\"background:{colour}\"></i>{}</span>",
            esc(label)
        );
    }
    h.push_str("</p>");
    h
}

/// A bar inside a table cell, `value / max` of 140 px.
pub fn inline_bar(value: f64, max: f64, colour: &str) -> String {
    let width = (value / max.max(1e-12)).clamp(0.0, 1.0) * 140.0;
    format!(
        "<svg class=\"ib\" width=\"140\" height=\"12\" role=\"img\"><rect width=\"{width:.1}\" height=\"12\" fill=\"{colour}\"/></svg>"
    )
}

/// One series of a grouped bar chart: label and one value per category.
pub struct Series {
    /// Legend label.
    pub label: String,
    /// One value per category (None = not run).
    pub values: Vec<Option<f64>>,
    /// Fill colour.
    pub colour: &'static str,
}

/// Vertical grouped bars on a 0..`y_max` axis with a dashed reference line at `reference`.
pub fn grouped_bars(
    categories: &[String],
    series: &[Series],
    y_max: f64,
    reference: Option<(f64, &str)>,
    y_label: &str,
) -> String {
    let (plot_h, group_w, left, top) = (220.0, 40.0 + 22.0 * series.len() as f64, 50.0, 10.0);
    let plot_end = left + group_w * categories.len().max(1) as f64;
    // Room on the right for the reference line's label.
    let width = plot_end + 150.0;
    let y = |v: f64| top + plot_h * (1.0 - (v / y_max).clamp(0.0, 1.0));
    let mut s = format!(
        "<svg class=\"chart\" width=\"{width:.0}\" height=\"{:.0}\" viewBox=\"0 0 {width:.0} {:.0}\" role=\"img\" aria-label=\"{}\">",
        top + plot_h + 50.0,
        top + plot_h + 50.0,
        esc(y_label)
    );
    for tick in 0..=4 {
        let v = y_max * tick as f64 / 4.0;
        let _ = write!(
            s,
            "<line x1=\"{left}\" x2=\"{plot_end:.0}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e4e4e4\"/><text x=\"{:.0}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{v:.2}</text>",
            left - 4.0,
            y(v) + 4.0,
            y = y(v)
        );
    }
    for (c, category) in categories.iter().enumerate() {
        let x0 = left + group_w * c as f64 + 20.0;
        for (i, se) in series.iter().enumerate() {
            let x = x0 + 22.0 * i as f64;
            match se.values.get(c).copied().flatten() {
                Some(v) => {
                    let _ = write!(
                        s,
                        "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"18\" height=\"{:.1}\" fill=\"{}\"><title>{}: {v:.3}</title></rect>",
                        y(v),
                        top + plot_h - y(v),
                        se.colour,
                        esc(&se.label)
                    );
                }
                None => {
                    let _ = write!(
                        s,
                        "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"middle\">–</text>",
                        x + 9.0,
                        top + plot_h - 3.0
                    );
                }
            }
        }
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"axis\" text-anchor=\"middle\">{}</text>",
            x0 + 11.0 * series.len() as f64 - 2.0,
            top + plot_h + 16.0,
            esc(category)
        );
    }
    if let Some((v, label)) = reference {
        let _ = write!(
            s,
            "<line x1=\"{left}\" x2=\"{plot_end:.0}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#b00\" stroke-dasharray=\"5 3\"/><text x=\"{:.0}\" y=\"{:.1}\" class=\"tick\" fill=\"#b00\">{}</text>",
            plot_end + 4.0,
            y(v) + 4.0,
            esc(label),
            y = y(v)
        );
    }
    let _ = write!(
        s,
        "<line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{:.0}\" stroke=\"#555\"/><line x1=\"{left}\" x2=\"{plot_end:.0}\" y1=\"{b:.0}\" y2=\"{b:.0}\" stroke=\"#555\"/><text x=\"{left}\" y=\"{:.0}\" class=\"axis\">{}</text></svg>",
        top + plot_h,
        top + plot_h + 40.0,
        esc(y_label),
        b = top + plot_h
    );
    s
}

/// One curve of a ROC panel: legend text, (false positive rate, true positive rate) points, colour.
pub type Curve<'a> = (String, &'a [(f64, f64)], &'static str);

/// One ROC panel: the curves of a cell's attacks against the chance diagonal.
pub fn roc_panel(title: &str, curves: &[Curve<'_>]) -> String {
    let size = 150.0;
    let mut s = format!(
        "<figure class=\"panel\"><svg width=\"190\" height=\"190\" viewBox=\"-30 -5 190 190\" role=\"img\" aria-label=\"{}\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\" stroke=\"#999\"/><line x1=\"0\" y1=\"{size}\" x2=\"{size}\" y2=\"0\" stroke=\"#bbb\" stroke-dasharray=\"4\"/>",
        esc(title)
    );
    for (name, points, colour) in curves {
        let pts: Vec<String> = points
            .iter()
            .map(|(f, t)| format!("{:.1},{:.1}", f * size, size - t * size))
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>",
            pts.join(" "),
            esc(name)
        );
    }
    let _ = write!(
        s,
        "<text x=\"75\" y=\"168\" class=\"tick\" text-anchor=\"middle\">false positive rate</text><text x=\"-8\" y=\"75\" class=\"tick\" text-anchor=\"middle\" transform=\"rotate(-90 -8 75)\">true positive rate</text></svg><figcaption>{}</figcaption></figure>",
        esc(title)
    );
    s
}

/// Colour of an AUROC in the heatmap, pale at 0.5 (chance) to dark blue at 1, and whether the
/// value written on it should be white.
fn heat(v: f64) -> (String, bool) {
    let t = ((v - 0.5) / 0.5).clamp(0.0, 1.0);
    let mix = |pale: f64, dark: f64| (pale + (dark - pale) * t) as u8;
    (
        format!(
            "rgb({},{},{})",
            mix(239.0, 8.0),
            mix(243.0, 48.0),
            mix(255.0, 107.0)
        ),
        t > 0.45,
    )
}

/// A square matrix of AUROCs with row and column labels, values written in the cells.
pub fn heatmap(labels: &[String], values: &[Vec<Option<f64>>]) -> String {
    let (cell, left, top) = (50.0, 110.0, 80.0);
    let n = labels.len() as f64;
    let side_w = left + cell * n + 60.0;
    let side_h = top + cell * n + 10.0;
    let mut s = format!(
        "<svg class=\"chart\" width=\"{side_w:.0}\" height=\"{side_h:.0}\" viewBox=\"0 0 {side_w:.0} {side_h:.0}\" role=\"img\" aria-label=\"cross-hospital AUROC\"><text x=\"{:.0}\" y=\"14\" class=\"axis\" text-anchor=\"middle\">tested on hospital →</text><text x=\"4\" y=\"{:.0}\" class=\"axis\">trained on ↓</text>",
        left + cell * n / 2.0,
        top - 8.0
    );
    for (i, label) in labels.iter().enumerate() {
        let c = left + cell * i as f64 + cell / 2.0;
        let _ = write!(
            s,
            "<text x=\"{c:.0}\" y=\"{:.0}\" class=\"tick\" text-anchor=\"start\" transform=\"rotate(-45 {c:.0} {:.0})\">{}</text><text x=\"{:.0}\" y=\"{:.0}\" class=\"tick\" text-anchor=\"end\">{}</text>",
            top - 6.0,
            top - 6.0,
            esc(label),
            left - 6.0,
            top + cell * i as f64 + cell / 2.0 + 4.0,
            esc(label)
        );
    }
    for (i, row) in values.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            let (x, y) = (left + cell * j as f64, top + cell * i as f64);
            let ((fill, white), text) = match v {
                Some(v) => (heat(*v), format!("{v:.2}")),
                None => (("#eee".to_string(), false), "n/a".to_string()),
            };
            let _ = write!(
                s,
                "<rect x=\"{x:.0}\" y=\"{y:.0}\" width=\"{cell}\" height=\"{cell}\" fill=\"{fill}\" stroke=\"#fff\"/><text x=\"{:.0}\" y=\"{:.0}\" class=\"cellv\" text-anchor=\"middle\" fill=\"{}\">{text}</text>",
                x + cell / 2.0,
                y + cell / 2.0 + 4.0,
                if white { "#fff" } else { "#1d232a" }
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// A path of bars (one `M..h..v..h..z` per bar) for one series of a histogram.
fn bars_path(
    shares: &[f64],
    x0: f64,
    slot: f64,
    bar: f64,
    base: f64,
    height: f64,
    top: f64,
) -> String {
    let max = top.max(1e-12);
    let mut d = String::new();
    for (i, share) in shares.iter().enumerate() {
        let h = (share / max).clamp(0.0, 1.0) * height;
        if h > 0.0 {
            let _ = write!(
                d,
                "M{:.1} {base:.1}v{:.1}h{bar:.1}v{h:.1}z",
                x0 + slot * i as f64,
                -h
            );
        }
    }
    d
}

/// A bin label's bounds: `[a, b)` gives (a, b); anything else is its own text on both sides.
fn bounds(label: &str) -> (String, String) {
    let inner = label.trim_start_matches('[').trim_end_matches([')', ']']);
    match inner.split_once(',') {
        Some((a, b)) => match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
            (Ok(a), Ok(b)) => (compact(a), compact(b)),
            _ => (label.to_string(), label.to_string()),
        },
        None => (label.to_string(), label.to_string()),
    }
}

/// A number with as few digits as its size needs (3 significant digits, at least).
fn compact(x: f64) -> String {
    let digits = match x.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        a if a >= 1.0 => 2,
        _ => 3,
    };
    format!("{x:.digits$}")
}

/// A small paired histogram: real (grey) and synthetic (blue) shares per bin; a final `missing`
/// bin is drawn apart, after a gap. The value range is written under the bars.
pub fn paired_histogram(
    name: &str,
    bins: &[String],
    real: &[f64],
    synthetic: &[f64],
    note: &str,
) -> String {
    let (w, h, plot_h) = (180.0, 96.0, 64.0);
    let has_missing = bins.last().is_some_and(|b| b == "missing");
    let values = bins.len() - usize::from(has_missing);
    let slots = values as f64 + if has_missing { 1.6 } else { 0.0 };
    let slot = (w - 8.0) / slots.max(1.0);
    let bar = (slot / 2.0 - 0.5).max(0.6);
    let top = real.iter().chain(synthetic).copied().fold(0.0, f64::max);
    let base = 4.0 + plot_h;
    let draw = |shares: &[f64], offset: f64| {
        let mut d = bars_path(
            &shares[..values.min(shares.len())],
            4.0 + offset,
            slot,
            bar,
            base,
            plot_h,
            top,
        );
        if has_missing && shares.len() > values {
            d.push_str(&bars_path(
                &shares[values..],
                4.0 + offset + slot * (values as f64 + 0.6),
                slot,
                bar,
                base,
                plot_h,
                top,
            ));
        }
        d
    };
    let low = bins
        .first()
        .map_or((String::new(), String::new()), |b| bounds(b))
        .0;
    let high = bins
        .get(values.saturating_sub(1))
        .map_or((String::new(), String::new()), |b| bounds(b))
        .1;
    let range_end = 4.0 + slot * values as f64;
    let missing_label = if has_missing {
        format!(
            "<text x=\"{:.0}\" y=\"{:.0}\" class=\"tick\" text-anchor=\"end\">missing</text>",
            w - 2.0,
            base + 26.0
        )
    } else {
        String::new()
    };
    format!(
        "<figure class=\"dist\"><figcaption title=\"{}\">{}<small>{}</small></figcaption><svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\"><path d=\"{}\" fill=\"{REAL}\"/><path d=\"{}\" fill=\"{SYNTHETIC}\"/><line x1=\"2\" x2=\"{:.0}\" y1=\"{base}\" y2=\"{base}\" stroke=\"#777\"/><text x=\"3\" y=\"{:.0}\" class=\"tick\">{}</text><text x=\"{range_end:.0}\" y=\"{:.0}\" class=\"tick\" text-anchor=\"end\">{}</text>{missing_label}</svg></figure>",
        esc(name),
        esc(name),
        esc(note),
        esc(name),
        draw(real, 0.0),
        draw(synthetic, bar),
        w - 2.0,
        base + 13.0,
        esc(&shorten(&low, 14)),
        base + 13.0,
        esc(&shorten(&high, 14)),
    )
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        text.chars().take(max - 1).collect::<String>() + "…"
    }
}

/// One row of a forest plot.
pub struct ForestRow {
    /// Row label.
    pub label: String,
    /// The estimate (TSTR AUROC).
    pub value: Option<f64>,
    /// Its interval.
    pub ci: Option<(f64, f64)>,
    /// The reference (TRTR AUROC), drawn as a tick.
    pub reference: Option<f64>,
}

/// Dots with interval whiskers on a 0.4..1 AUROC axis, with a reference tick per row.
pub fn forest(rows: &[ForestRow]) -> String {
    let (label_w, plot_w, row_h, top) = (420.0, 420.0, 22.0, 24.0);
    let (lo, hi) = (0.4, 1.0);
    let x = |v: f64| label_w + plot_w * ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
    let height = top + row_h * rows.len() as f64 + 30.0;
    let width = label_w + plot_w + 20.0;
    let mut s = format!(
        "<svg class=\"chart\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-label=\"TSTR vs TRTR\">"
    );
    for tick in [0.5, 0.6, 0.7, 0.8, 0.9, 1.0] {
        let _ = write!(
            s,
            "<line x1=\"{xv:.1}\" x2=\"{xv:.1}\" y1=\"{top}\" y2=\"{:.0}\" stroke=\"{}\"/><text x=\"{xv:.1}\" y=\"{:.0}\" class=\"tick\" text-anchor=\"middle\">{tick:.1}</text>",
            height - 24.0,
            if tick == 0.5 { "#b00" } else { "#e4e4e4" },
            height - 10.0,
            xv = x(tick)
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y = top + row_h * i as f64 + row_h / 2.0;
        let _ = write!(
            s,
            "<text x=\"{:.0}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{}</text>",
            label_w - 8.0,
            y + 4.0,
            esc(&shorten(&r.label, 66))
        );
        if let Some((a, b)) = r.ci {
            let _ = write!(
                s,
                "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"{SYNTHETIC}\" stroke-width=\"2\"/>",
                x(a),
                x(b)
            );
        }
        if let Some(v) = r.value {
            let _ = write!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"4.5\" fill=\"{SYNTHETIC}\"><title>TSTR {v:.3}</title></circle>",
                x(v)
            );
        }
        if let Some(v) = r.reference {
            let _ = write!(
                s,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"3\" height=\"14\" fill=\"{PAPER}\"><title>TRTR {v:.3}</title></rect>",
                x(v) - 1.5,
                y - 7.0
            );
        }
    }
    s.push_str("</svg>");
    s
}
