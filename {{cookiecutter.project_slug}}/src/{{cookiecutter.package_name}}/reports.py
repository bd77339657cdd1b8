"""Self-contained HTML reports: inline SVG charts with labelled axes, no images, no scripts, no CDN."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933;max-width:72rem}
table{border-collapse:collapse;margin:1rem 0}th,td{padding:.35rem .7rem;border-bottom:1px solid #d9e2ec;text-align:left}
th{background:#f0f4f8}.drift{color:#b42318;font-weight:600}.ok{color:#027a48}.chart{margin:.5rem 0 1.5rem}
figure{margin:0}figcaption{font-size:.85rem;color:#52606d}
.legend{font-size:.85rem;margin:.2rem 0}.legend-item{margin-right:1rem}
"""
BASELINE, PRODUCTION, LINE = "#9fb3c8", "#d64545", "#243b53"
GRID, AXIS = "#bcccdc", "#52606d"
COLOURS = [PRODUCTION, LINE, "#3e7c17", "#8f5bd6", "#c77c02", "#0a6c74"]


def page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head>\n<body>\n<h1>{escape(title)}</h1>\n{body}\n</body></html>\n"
    )


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def paired_bars(
    labels: Sequence[str], baseline: Sequence[float], production: Sequence[float], caption: str, x_label: str = ""
) -> str:
    """Two series of shares side by side per label (baseline grey, production red), with a share axis and a legend."""
    n = max(len(labels), 1)
    top = max([*baseline, *production, 1e-9]) * 100
    shown = [label if n <= 12 or i % max(n // 10, 1) == 0 else "" for i, label in enumerate(labels)]
    width = min(960, max(560, 46 * n + 80))
    axes = Axes(
        width,
        240,
        list(range(n)),
        nice_ticks(0.0, top),
        x_label,
        "share of rows (%)",
        shown or [""],
        x_span=(-0.5, n - 0.5),
    )
    slot = axes.x(1) - axes.x(0) if n > 1 else width - axes.left - axes.right
    bars = []
    for i, (b, p) in enumerate(zip(baseline, production, strict=True)):
        for offset, value, colour, who in ((-0.4, b, BASELINE, "baseline"), (0.0, p, PRODUCTION, "production")):
            y = axes.y(value * 100)
            bars.append(
                f'<rect x="{axes.x(i) + offset * slot:.1f}" y="{y:.1f}" width="{0.4 * slot:.1f}" '
                f'height="{axes.y(0) - y:.1f}" fill="{colour}">'
                f"<title>{escape(labels[i])} {who}: {value:.1%}</title></rect>"
            )
    chart = _svg(width, axes.height, caption, axes.draw() + "".join(bars))
    return figure(chart + legend([("baseline (training)", BASELINE), ("production", PRODUCTION)]), escape(caption))


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        low, high = 0.0, 1.0
    if high <= low:
        half = abs(low) / 2 or 0.5
        low, high = low - half, high + half
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first, last = math.floor(low / step + 1e-9) * step, math.ceil(high / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(round((last - first) / step) + 1)]


def tick_label(value: float) -> str:
    return f"{value:.4g}".replace("e+0", "e").replace("e-0", "e-")


@dataclass(frozen=True)
class Axes:
    """A plotting area with a labelled x and y axis: data coordinates to SVG pixels, and the axes drawn."""

    width: float
    height: float
    x_ticks: Sequence[float]
    y_ticks: Sequence[float]
    x_label: str
    y_label: str
    x_tick_labels: Sequence[str] | None = None  # names in place of numbers (categories)
    y_tick_labels: bool = True
    x_span: tuple[float, float] | None = None  # the x range drawn, when not the first and last tick
    left: float = 58
    right: float = 16
    top: float = 12
    bottom: float = 46

    def x(self, value: float) -> float:
        low, high = self.x_span or (self.x_ticks[0], self.x_ticks[-1])
        return self.left + (value - low) / ((high - low) or 1.0) * (self.width - self.left - self.right)

    def y(self, value: float) -> float:
        low, high = self.y_ticks[0], self.y_ticks[-1]
        return (
            self.height - self.bottom - (value - low) / ((high - low) or 1.0) * (self.height - self.top - self.bottom)
        )

    def draw(self) -> str:
        """The frame, grid lines, tick labels and axis titles."""
        x0, x1 = self.left, self.width - self.right
        y0, y1 = self.height - self.bottom, self.top
        parts = [f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" fill="none" stroke="{GRID}"/>']
        labels = self.x_tick_labels or [tick_label(t) for t in self.x_ticks]
        for value, label in zip(self.x_ticks, labels, strict=True):
            x = self.x(value)
            parts.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + 4}" stroke="{AXIS}"/>')
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{y0 + 15}" font-size="10" text-anchor="middle">'
                f"{escape(_short(label))}<title>{escape(label)}</title></text>"
            )
        for value in self.y_ticks:
            y = self.y(value)
            parts.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="{GRID}" stroke-width=".5"/>')
            if self.y_tick_labels:
                parts.append(
                    f'<text class="tick" x="{x0 - 5}" y="{y + 3.5:.1f}" font-size="10" text-anchor="end">'
                    f"{tick_label(value)}</text>"
                )
        parts.append(
            f'<text class="axis-label" x="{(x0 + x1) / 2:.1f}" y="{self.height - 8}" font-size="11" '
            f'text-anchor="middle">{escape(self.x_label)}</text>'
        )
        if self.y_label:
            parts.append(
                f'<text class="axis-label" transform="translate(13,{(y0 + y1) / 2:.1f}) rotate(-90)" font-size="11" '
                f'text-anchor="middle">{escape(self.y_label)}</text>'
            )
        return "".join(parts)


def _short(label: str, limit: int = 14) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def legend(names_and_colours: Sequence[tuple[str, str]]) -> str:
    """A legend under a chart: one coloured swatch and name per series."""
    items = "".join(
        f'<span class="legend-item"><span style="color:{colour}">&#9632;</span> {escape(name)}</span> '
        for name, colour in names_and_colours
    )
    return f'<div class="legend">{items}</div>'


def line_chart(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    caption: str,
    x_label: str,
    y_label: str,
    diagonal: bool = False,
    unit_square: bool = True,
    marker_sizes: Sequence[float] | None = None,
) -> str:
    """One polyline per series, with labelled axes and a legend; on the unit square by default (ROC, calibration).

    `marker_sizes` (one per point of the first series, for example its rows) draws each point with
    an area in proportion, so a point that rests on few rows shows as small.
    """
    xs_all = [x for xs, _ in series.values() for x in xs]
    ys_all = [y for _, ys in series.values() for y in ys]
    if unit_square:
        x_ticks = y_ticks = [0.0, 0.25, 0.5, 0.75, 1.0]
    else:
        x_ticks = nice_ticks(min(xs_all, default=0.0), max(xs_all, default=1.0))
        y_ticks = nice_ticks(min(ys_all, default=0.0), max(ys_all, default=1.0))
    axes = Axes(420, 340, x_ticks, y_ticks, x_label, y_label)
    parts = [axes.draw()]
    if diagonal:
        parts.append(
            f'<line x1="{axes.x(0):.1f}" y1="{axes.y(0):.1f}" x2="{axes.x(1):.1f}" y2="{axes.y(1):.1f}" '
            f'stroke="{GRID}" stroke-dasharray="4"/>'
        )
    named = []
    for i, (name, (xs, ys)) in enumerate(series.items()):
        points = " ".join(f"{axes.x(x):.1f},{axes.y(y):.1f}" for x, y in zip(xs, ys, strict=True))
        colour = COLOURS[i % len(COLOURS)]
        style = f'fill="none" stroke="{colour}" stroke-width="2"'
        parts.append(f'<polyline points="{points}" {style}><title>{escape(name)}</title></polyline>')
        if i == 0 and marker_sizes is not None:
            largest = max([*marker_sizes, 1])
            for x, y, size in zip(xs, ys, marker_sizes, strict=True):
                radius = 2 + 6 * math.sqrt(size / largest)
                parts.append(
                    f'<circle cx="{axes.x(x):.1f}" cy="{axes.y(y):.1f}" r="{radius:.1f}" fill="{colour}" '
                    f'fill-opacity=".35"><title>{tick_label(x)}, {tick_label(y)}: {size:g} rows</title></circle>'
                )
        named.append((name, colour))
    if diagonal:
        named.append(("the diagonal (dashed)", GRID))
    chart = _svg(axes.width, axes.height, caption, "".join(parts))
    return figure(chart + legend(named), escape(caption))


def scatter(
    xs: Sequence[float],
    ys: Sequence[float],
    caption: str,
    x_label: str,
    y_label: str,
    categories: Sequence[str] | None = None,
) -> str:
    """Dots with a zero line and labelled axes. With `categories`, x holds codes 0..k-1 (NaN: missing),
    drawn as a strip per category and labelled with its name."""
    x_values = [float(x) for x in xs]
    tick_labels = None
    if categories is not None:
        missing = any(math.isnan(x) for x in x_values)
        tick_labels = [*categories, *(["(missing)"] if missing else [])]
        x_values = [
            (len(categories) if math.isnan(x) else x) + ((i * 0.618034) % 1 - 0.5) * 0.5 for i, x in enumerate(x_values)
        ]
        x_ticks: list[float] = list(range(len(tick_labels)))
    else:
        finite = [x for x in x_values if math.isfinite(x)]
        x_ticks = nice_ticks(min(finite, default=0.0), max(finite, default=1.0))
    finite_y = [y for y in ys if math.isfinite(y)]
    y_ticks = nice_ticks(min([*finite_y, 0.0]), max([*finite_y, 0.0]))
    width = max(480, 60 * len(tick_labels)) if tick_labels else 480
    span = (-0.5, len(x_ticks) - 0.5) if tick_labels else None
    axes = Axes(width, 300, x_ticks, y_ticks, x_label, y_label, tick_labels, x_span=span)
    zero = f'<line x1="{axes.left}" y1="{axes.y(0):.1f}" x2="{width - axes.right}" y2="{axes.y(0):.1f}" '
    zero += f'stroke="{PRODUCTION}"/>'
    dots = "".join(
        f'<circle cx="{axes.x(x):.1f}" cy="{axes.y(y):.1f}" r="2" fill="{LINE}" fill-opacity=".5"/>'
        for x, y in zip(x_values, ys, strict=True)
        if math.isfinite(x) and math.isfinite(y)
    )
    return figure(_svg(width, axes.height, caption, axes.draw() + zero + dots), escape(caption))


def horizontal_bars(values: Sequence[tuple[str, float]], caption: str, x_label: str) -> str:
    """One bar per name, largest on top, names on the left and a labelled value axis: a standalone <svg>."""
    ordered = sorted(values, key=lambda kv: -kv[1])
    longest = max([len(_short(name, 24)) for name, _ in ordered] or [1])
    left = 12 + 6.2 * longest
    height = 60 + 22 * len(ordered)
    x_ticks = nice_ticks(0.0, max([v for _, v in ordered] or [1.0]) or 1.0)
    axes = Axes(left + 420, height, x_ticks, [0.0, 1.0], x_label, "", y_tick_labels=False, left=left, bottom=40)
    parts = [axes.draw()]  # the names label the bars: no y ticks, no y title
    band = (height - axes.top - axes.bottom) / max(len(ordered), 1)
    for i, (name, value) in enumerate(ordered):
        y = axes.top + i * band
        parts.append(
            f'<rect x="{axes.x(0):.1f}" y="{y + band * 0.15:.1f}" width="{axes.x(value) - axes.x(0):.1f}" '
            f'height="{band * 0.7:.1f}" fill="{PRODUCTION}"><title>{escape(name)}: {value:.4g}</title></rect>'
            f'<text class="tick" x="{left - 6:.1f}" y="{y + band / 2 + 4:.1f}" font-size="11" text-anchor="end">'
            f"{escape(_short(name, 24))}</text>"
        )
    return _svg(axes.width, height, caption, "".join(parts))


def _svg(width: float, height: float, caption: str, content: str) -> str:
    size = f'width="{width}" height="{height}" role="img" aria-label="{escape(caption)}"'
    return f'<svg xmlns="http://www.w3.org/2000/svg" {size}>{content}</svg>'


def figure(content: str, caption_html: str) -> str:
    """A chart with its caption (`caption_html` is already escaped)."""
    return f'<figure class="chart">{content}<figcaption>{caption_html}</figcaption></figure>'
