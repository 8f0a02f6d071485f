"""Plots for the run report as inline SVG text.

Written by hand rather than with a plotting library because the report must be one file that
opens anywhere without a network (no CDN) and a vendored library would outweigh the few line
and bar charts it needs. Every piece of text put in the SVG is escaped: series names and titles
may come from a dataset or a config.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 520, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 30, 44
# Colour-blind-safe palette (Okabe and Ito's eight colours, minus black).
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")

Series = tuple[str, Sequence[tuple[float, float]]]


def fmt(v: float) -> str:
    """A number as a short label: 3 significant digits, thousands grouped, tiny values in e-notation."""
    if v == 0 or not math.isfinite(v):
        return "0" if v == 0 else str(v)
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a < 0.001:
        return f"{v:.2e}"
    return f"{v:.3g}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten)."""
    if hi <= lo:  # one value: centred in a range around it
        d = abs(lo) / 2 or 1.0
        lo, hi = (lo - d if lo < 0 or lo - d >= 0 else 0.0), hi + d  # a non-negative value keeps a non-negative axis
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    t = start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(t, 12))
    return ticks


def _frame(title: str, xlabel: str, ylabel: str, body: list[str], css_class: str) -> str:
    return (
        f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}">'
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" class="title">{escape(title)}</text>'
        f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2}" y="{HEIGHT - 6}" text-anchor="middle">{escape(xlabel)}</text>'
        f'<text x="14" y="{TOP + (HEIGHT - TOP - BOTTOM) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {TOP + (HEIGHT - TOP - BOTTOM) / 2})">{escape(ylabel)}</text>'
        + "".join(body)
        + "</svg>"
    )


def _axes(xt: list[float], yt: list[float], sx, sy) -> list[str]:
    out = []
    for y in yt:
        py = sy(y)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{py:.1f}" y2="{py:.1f}" class="grid"/>')
        out.append(f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">{escape(fmt(y))}</text>')
    for x in xt:
        px = sx(x)
        out.append(
            f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM + 4}" class="axis"/>'
        )
        out.append(f'<text x="{px:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{escape(fmt(x))}</text>')
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM}" class="axis"/>')
    out.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" class="axis"/>')
    return out


def line_chart(title: str, series: Sequence[Series], xlabel: str = "step", ylabel: str = "") -> str:
    """Lines (with a dot per point and its value on hover) of one or more named series of (x, y)."""
    pts = [(x, y) for _, s in series for x, y in s if math.isfinite(x) and math.isfinite(y)]
    if not pts:
        return ""
    xt = nice_ticks(min(p[0] for p in pts), max(p[0] for p in pts))
    yt = nice_ticks(min(p[1] for p in pts), max(p[1] for p in pts))

    def sx(x: float) -> float:
        return LEFT + (x - xt[0]) / (xt[-1] - xt[0]) * (WIDTH - LEFT - RIGHT)

    def sy(y: float) -> float:
        return HEIGHT - BOTTOM - (y - yt[0]) / (yt[-1] - yt[0]) * (HEIGHT - TOP - BOTTOM)

    body = _axes(xt, yt, sx, sy)
    for i, (name, s) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        good = [(x, y) for x, y in s if math.isfinite(x) and math.isfinite(y)]
        if len(good) > 1:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in good)
            body.append(f'<polyline class="series" fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        for x, y in good[:: max(1, len(good) // 200)]:  # hover dots: at most ~200 per series
            body.append(
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}">'
                f"<title>{escape(name)}: {escape(fmt(y))} at {escape(fmt(x))}</title></circle>"
            )
        if len(series) > 1:
            ly = TOP + 4 + 14 * i
            body.append(f'<rect x="{WIDTH - RIGHT - 150}" y="{ly}" width="10" height="10" fill="{color}"/>')
            body.append(f'<text x="{WIDTH - RIGHT - 135}" y="{ly + 9}">{escape(name)}</text>')
    return _frame(title, xlabel, ylabel, body, "chart line-chart")


def bar_chart(title: str, edges: Sequence[float], counts: Sequence[int], xlabel: str, ylabel: str = "rows") -> str:
    """A histogram: ``counts[i]`` rows in [edges[i], edges[i + 1])."""
    if not counts or len(edges) != len(counts) + 1:
        return ""
    xt = nice_ticks(edges[0], edges[-1])
    yt = nice_ticks(0, max(counts) or 1)

    def sx(x: float) -> float:
        return LEFT + (x - xt[0]) / (xt[-1] - xt[0]) * (WIDTH - LEFT - RIGHT)

    def sy(y: float) -> float:
        return HEIGHT - BOTTOM - (y - yt[0]) / (yt[-1] - yt[0]) * (HEIGHT - TOP - BOTTOM)

    body = _axes(xt, yt, sx, sy)
    for i, c in enumerate(counts):
        x0, x1 = sx(edges[i]), sx(edges[i + 1])
        top = sy(c)
        body.append(
            f'<rect class="bar" x="{x0 + 0.5:.1f}" y="{top:.1f}" width="{max(1.0, x1 - x0 - 1):.1f}" '
            f'height="{HEIGHT - BOTTOM - top:.1f}" fill="{COLORS[0]}">'
            f"<title>{c} rows: {escape(fmt(edges[i]))} to {escape(fmt(edges[i + 1]))}</title></rect>"
        )
    return _frame(title, xlabel, ylabel, body, "chart bar-chart")


def histogram(values: Sequence[float], bins: int = 20) -> tuple[list[float], list[int]]:
    """Equal-width bins over integer-ish values (token lengths): edges and counts."""
    if not values:
        return [], []
    lo, hi = min(values), max(values)
    if hi == lo:
        return [lo - 0.5, hi + 0.5], [len(values)]
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / width))] += 1
    return [lo + i * width for i in range(bins + 1)], counts
