#!/usr/bin/env python3
"""Per-feature histograms of a real table and one or more synthetic tables, as one SVG of small
multiples (standard library only). Used for the before/after figures in docs/local-model.md.

    python3 scripts/plot_histograms.py --real train.csv --synthetic before=a.csv \
        --synthetic after=b.csv --features top10.txt --title "..." --out docs/img/x.svg

Each panel shares its bins across the tables: 20 equal-width bins over the real values'
1st-99th percentile range (values outside fall into the edge bins), or one bar per value for
columns with at most 6 distinct real values. Heights are shares of the non-missing values; the
legend gives each table's missing share per panel.
"""

import argparse
import csv
import html

COLOURS = ["#c0392b", "#2471a3", "#1e8449", "#7d3c98"]
PANEL_W, PANEL_H, PAD = 230, 150, 28


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def numbers(rows, column):
    values, missing = [], 0
    for row in rows:
        cell = (row.get(column) or "").strip()
        if cell == "":
            missing += 1
            continue
        try:
            values.append(float(cell))
        except ValueError:
            missing += 1
    return values, missing / max(len(rows), 1)


def percentile(sorted_values, q):
    if not sorted_values:
        return 0.0
    i = min(int(q * (len(sorted_values) - 1)), len(sorted_values) - 1)
    return sorted_values[i]


def bins_for(real):
    distinct = sorted(set(real))
    if len(distinct) <= 6:
        return ("levels", distinct)
    ordered = sorted(real)
    lo, hi = percentile(ordered, 0.01), percentile(ordered, 0.99)
    if hi <= lo:
        hi = lo + 1.0
    return ("range", (lo, hi, 20))


def shares(values, bins):
    kind, spec = bins
    if kind == "levels":
        counts = [sum(1 for v in values if v == level) for level in spec]
    else:
        lo, hi, n = spec
        counts = [0] * n
        for v in values:
            k = int((v - lo) / (hi - lo) * n)
            counts[min(max(k, 0), n - 1)] += 1
    total = max(len(values), 1)
    return [c / total for c in counts]


def panel(x0, y0, name, tables, bins):
    out = [f'<g transform="translate({x0},{y0})">']
    out.append(f'<text x="0" y="12" font-size="12" font-weight="bold">{html.escape(name)}</text>')
    heights = [shares(values, bins) for _, values, _ in tables]
    # Scaled to the real histogram: a synthetic bin far above it is cut at the top and its
    # share written there, so that one pile-up does not flatten the rest.
    top = 2.0 * max(heights[0]) or 1.0
    plot_y, plot_h = 18, PANEL_H - 48
    n = len(heights[0])
    width = PANEL_W - 10
    for t, h in enumerate(heights):
        colour = "#999999" if t == 0 else COLOURS[(t - 1) % len(COLOURS)]
        if t == 0:
            for k, share in enumerate(h):
                bar = share / top * plot_h
                out.append(
                    f'<rect x="{k * width / n:.1f}" y="{plot_y + plot_h - bar:.1f}" '
                    f'width="{width / n:.1f}" height="{bar:.1f}" fill="#dddddd"/>'
                )
        else:
            points = []
            for k, share in enumerate(h):
                y = plot_y + plot_h - min(share / top, 1.0) * plot_h
                points += [f"{k * width / n:.1f},{y:.1f}", f"{(k + 1) * width / n:.1f},{y:.1f}"]
                if share > top:
                    out.append(
                        f'<text x="{(k + 0.5) * width / n:.1f}" y="{plot_y - 1 + 9 * t}" font-size="9" '
                        f'fill="{colour}" text-anchor="middle">{share:.0%}</text>'
                    )
            out.append(
                f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" stroke-width="1.6"/>'
            )
    kind, spec = bins
    axis_y = plot_y + plot_h + 12
    if kind == "levels":
        for k, level in enumerate(spec):
            label = f"{level:g}"
            out.append(f'<text x="{(k + 0.5) * width / n:.1f}" y="{axis_y}" font-size="10" text-anchor="middle">{label}</text>')
    else:
        lo, hi, _ = spec
        out.append(f'<text x="0" y="{axis_y}" font-size="10">{lo:.3g}</text>')
        out.append(f'<text x="{width}" y="{axis_y}" font-size="10" text-anchor="end">{hi:.3g}</text>')
    missing = "  ".join(f"{label.split(' ')[0]} {m:.0%}" for label, _, m in tables)
    out.append(f'<text x="0" y="{axis_y + 13}" font-size="9" fill="#555">missing: {html.escape(missing)}</text>')
    out.append("</g>")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", required=True, nargs="+", help="real CSV file(s), rows pooled")
    parser.add_argument("--synthetic", action="append", required=True, help="LABEL=FILE.csv")
    parser.add_argument("--features", required=True, help="file with one column name per line")
    parser.add_argument("--title", default="")
    parser.add_argument("--columns", type=int, default=4)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    real_rows = [row for path in args.real for row in read(path)]
    synthetic = []
    for item in args.synthetic:
        label, _, path = item.partition("=")
        # The legend shows the whole label; panels show its first word.
        synthetic.append((label, read(path)))
    with open(args.features) as f:
        features = [line.strip() for line in f if line.strip()]

    cols = args.columns
    rows_needed = (len(features) + cols - 1) // cols
    width = cols * (PANEL_W + PAD) + PAD
    height = rows_needed * (PANEL_H + PAD) + 70
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>',
        f'<text x="{PAD}" y="22" font-size="14" font-weight="bold">{html.escape(args.title)}</text>',
    ]
    legend = [("real", "#bbbbbb")] + [
        (label, COLOURS[i % len(COLOURS)]) for i, (label, _) in enumerate(synthetic)
    ]
    x = PAD
    for label, colour in legend:
        svg.append(f'<rect x="{x}" y="32" width="14" height="10" fill="{colour}"/>')
        svg.append(f'<text x="{x + 18}" y="41" font-size="11">{html.escape(label)}</text>')
        x += 30 + 7 * len(label)
    for i, name in enumerate(features):
        real, real_missing = numbers(real_rows, name)
        if not real:
            continue
        tables = [("real", real, real_missing)]
        for label, rows in synthetic:
            values, missing = numbers(rows, name)
            tables.append((label, values, missing))
        x0 = PAD + (i % cols) * (PANEL_W + PAD)
        y0 = 55 + (i // cols) * (PANEL_H + PAD)
        svg += panel(x0, y0, name, tables, bins_for(real))
    svg.append("</svg>")
    with open(args.out, "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
