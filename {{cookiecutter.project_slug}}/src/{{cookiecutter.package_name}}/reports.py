"""Self-contained HTML reports: inline SVG charts and embedded PNGs, no scripts, no CDN."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933;max-width:72rem}
table{border-collapse:collapse;margin:1rem 0}th,td{padding:.35rem .7rem;border-bottom:1px solid #d9e2ec;text-align:left}
th{background:#f0f4f8}.drift{color:#b42318;font-weight:600}.ok{color:#027a48}.chart{margin:.5rem 0 1.5rem}
figure{margin:0}figcaption{font-size:.85rem;color:#52606d}
"""
BASELINE, PRODUCTION, LINE = "#9fb3c8", "#d64545", "#243b53"


def page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head>\n<body>\n<h1>{escape(title)}</h1>\n{body}\n</body></html>\n"
    )


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def paired_bars(labels: Sequence[str], baseline: Sequence[float], production: Sequence[float], caption: str) -> str:
    """Two series of shares side by side (baseline grey, production red) as an inline SVG."""
    width, height, pad = 560, 160, 24
    n = max(len(labels), 1)
    top = max([*baseline, *production, 1e-9])
    slot = (width - 2 * pad) / n
    bars = []
    for i, (b, p) in enumerate(zip(baseline, production, strict=True)):
        x = pad + i * slot
        for offset, value, colour, who in ((0.1, b, BASELINE, "baseline"), (0.5, p, PRODUCTION, "production")):
            h = (height - 2 * pad) * value / top
            bars.append(
                f'<rect x="{x + offset * slot:.1f}" y="{height - pad - h:.1f}" width="{0.4 * slot:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(labels[i])} {who}: {value:.1%}</title></rect>'
            )
    ticks = "".join(
        f'<text x="{pad + (i + 0.5) * slot:.1f}" y="{height - 6}" font-size="9" text-anchor="middle">'
        f"{escape(label[:10])}</text>"
        for i, label in enumerate(labels)
        if n <= 12 or i % max(n // 10, 1) == 0
    )
    return _figure(_svg(width, height, caption, "".join(bars) + ticks), escape(caption))


def line_chart(series: dict[str, tuple[Sequence[float], Sequence[float]]], caption: str, diagonal: bool = False) -> str:
    """Lines on the unit square (ROC curves), one polyline per series."""
    size, pad = 300, 30
    inner = size - 2 * pad
    colours = [PRODUCTION, LINE, "#3e7c17", "#8f5bd6", "#c77c02", "#0a6c74"]
    parts = [f'<rect x="{pad}" y="{pad}" width="{inner}" height="{inner}" fill="none" stroke="#bcccdc"/>']
    if diagonal:
        parts.append(
            f'<line x1="{pad}" y1="{size - pad}" x2="{size - pad}" y2="{pad}" stroke="#bcccdc" stroke-dasharray="4"/>'
        )
    legend = []
    for i, (name, (xs, ys)) in enumerate(series.items()):
        points = " ".join(f"{pad + x * inner:.1f},{size - pad - y * inner:.1f}" for x, y in zip(xs, ys, strict=True))
        colour = colours[i % len(colours)]
        style = f'fill="none" stroke="{colour}" stroke-width="2"'
        parts.append(f'<polyline points="{points}" {style}><title>{escape(name)}</title></polyline>')
        legend.append(f'<span style="color:{colour}">&#9632; {escape(name)}</span>')
    return _figure(_svg(size, size, caption, "".join(parts)), f"{escape(caption)} {' '.join(legend)}")


def scatter(xs: Sequence[float], ys: Sequence[float], caption: str, x_label: str, y_label: str) -> str:
    """A scatter plot with a zero line (residuals against predictions)."""
    width, height, pad = 480, 260, 36
    lo_x, hi_x = (min(xs), max(xs)) if xs else (0.0, 1.0)
    bound = max([abs(y) for y in ys] or [1.0]) or 1.0
    span_x = (hi_x - lo_x) or 1.0

    def px(x: float) -> float:
        return pad + (x - lo_x) / span_x * (width - 2 * pad)

    def py(y: float) -> float:
        return height / 2 - y / bound * (height / 2 - pad)

    dots = "".join(
        f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2" fill="{LINE}" fill-opacity=".5"/>'
        for x, y in zip(xs, ys, strict=True)
    )
    axis = f'<line x1="{pad}" y1="{height / 2}" x2="{width - pad}" y2="{height / 2}" stroke="{PRODUCTION}"/>'
    labels = (
        f'<text x="{width / 2}" y="{height - 6}" font-size="11" text-anchor="middle">{escape(x_label)}</text>'
        f'<text x="10" y="{pad - 10}" font-size="11">{escape(y_label)}</text>'
    )
    return _figure(_svg(width, height, caption, axis + dots + labels), escape(caption))


def _svg(width: float, height: float, caption: str, content: str) -> str:
    size = f'width="{width}" height="{height}" role="img" aria-label="{escape(caption)}"'
    return f'<svg xmlns="http://www.w3.org/2000/svg" {size}>{content}</svg>'


def _figure(content: str, caption_html: str) -> str:
    return f'<figure class="chart">{content}<figcaption>{caption_html}</figcaption></figure>'


def embedded_png(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode()
    return _figure(f'<img alt="{escape(caption)}" src="data:image/png;base64,{data}">', escape(caption))
