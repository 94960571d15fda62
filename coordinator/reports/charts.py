"""Charts as inline SVG, drawn on the server: no JavaScript, no CDN, readable and printable.

Each function returns one ``<svg>`` element (escaped text, ``role="img"`` with a title for
screen readers, a ``<title>`` tooltip on every mark). Colours are the Okabe-Ito palette,
which stays distinguishable for colour-blind readers; every series is also named in a
legend, so colour is never the only cue.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
FONT = 'font-family="inherit"'


@dataclass(frozen=True)
class Series:
    """A named row of values, one per category."""

    name: str
    values: Sequence[float]


def nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


TITLE_H = 26
"""Height of the visible title line at the top of every chart."""


def _open(width: int, height: int, title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
        f'<text x="8" y="19" font-size="17" font-weight="bold" {FONT}>{escape(title)}</text>',
    ]


def _legend(names: Sequence[str], x: int, y: int) -> list[str]:
    out: list[str] = []
    for n, name in enumerate(names):
        colour = PALETTE[n % len(PALETTE)]
        out.append(f'<rect x="{x}" y="{y - 11}" width="14" height="14" fill="{colour}"/>')
        out.append(f'<text x="{x + 20}" y="{y + 1}" font-size="15" {FONT}>{escape(name)}</text>')
        x += 34 + 9 * len(name) + (8 * sum(1 for ch in name if ord(ch) > 0x2E80))
    return out


def bar_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    stacked: bool = True,
    width: int = 960,
    height: int = 320,
    label_every: int = 0,
) -> str:
    """Vertical bars per category: stacked or side by side, with a legend and y axis."""
    left, right, top, bottom = 64, 16, 36 + TITLE_H, 64
    plot_w, plot_h = width - left - right, height - top - bottom
    count = max(1, len(categories))
    if stacked:
        totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    else:
        totals = [max((s.values[i] for s in series), default=0) for i in range(len(categories))]
    top_value = max(4.0, nice_max(max(totals, default=0)))  # counts: whole-number ticks
    out = _open(width, height, title)
    out += _legend([s.name for s in series], left, 18 + TITLE_H)
    steps = 5 if top_value % 5 == 0 else 4
    for tick in range(steps + 1):
        value = top_value * tick / steps
        y = top + plot_h - plot_h * tick / steps
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
            f'stroke="#bbb" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{left - 8}" y="{y + 5:.1f}" text-anchor="end" font-size="14" '
            f"{FONT}>{_fmt(value)}</text>"
        )
    slot = plot_w / count
    bar_w = slot * 0.8 if stacked else slot * 0.8 / max(1, len(series))
    every = label_every or max(1, math.ceil(count / 16))
    for i, category in enumerate(categories):
        x0 = left + slot * i + slot * 0.1
        base = 0.0
        for n, s in enumerate(series):
            value = float(s.values[i])
            if value <= 0:
                continue
            h = plot_h * value / top_value
            x = x0 if stacked else x0 + bar_w * n
            y = top + plot_h - plot_h * base / top_value - h if stacked else top + plot_h - h
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[n % len(PALETTE)]}"><title>{escape(category)} · '
                f"{escape(s.name)}: {_fmt(value)}</title></rect>"
            )
            if stacked:
                base += value
        if i % every == 0:
            cx = left + slot * i + slot / 2
            out.append(
                f'<text x="{cx:.1f}" y="{top + plot_h + 20}" text-anchor="middle" '
                f'font-size="14" {FONT}>{escape(category)}</text>'
            )
    out.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        f'stroke="#333" stroke-width="1.5"/>'
    )
    out.append("</svg>")
    return "".join(out)


def capacity_chart(
    rows: Sequence[tuple[str, int, int]],
    *,
    title: str,
    attended_label: str,
    capacity_label: str,
    width: int = 960,
) -> str:
    """Horizontal bars of attendance with each class's capacity as an outlined box."""
    left, right, top, row_h = 300, 60, 36 + TITLE_H, 30
    height = top + row_h * max(1, len(rows)) + 16
    plot_w = width - left - right
    top_value = nice_max(max((max(a, c) for _, a, c in rows), default=0))
    out = _open(width, height, title)
    out += _legend([attended_label, capacity_label], left, 18 + TITLE_H)
    for i, (label, attended, capacity) in enumerate(rows):
        y = top + row_h * i + 4
        out.append(
            f'<text x="{left - 10}" y="{y + 17}" text-anchor="end" font-size="14" '
            f"{FONT}>{escape(label)}</text>"
        )
        if capacity > 0:
            cw = plot_w * capacity / top_value
            out.append(
                f'<rect x="{left}" y="{y}" width="{cw:.1f}" height="22" fill="none" '
                f'stroke="{PALETTE[1]}" stroke-width="2" stroke-dasharray="5 3">'
                f"<title>{escape(label)} · {escape(capacity_label)}: {capacity}</title></rect>"
            )
        aw = plot_w * attended / top_value
        out.append(
            f'<rect x="{left}" y="{y + 4}" width="{aw:.1f}" height="14" fill="{PALETTE[0]}">'
            f"<title>{escape(label)} · {escape(attended_label)}: {attended}</title></rect>"
        )
        text = f"{attended}/{capacity}" if capacity else str(attended)
        out.append(
            f'<text x="{left + max(aw, plot_w * capacity / top_value) + 6:.1f}" y="{y + 17}" '
            f'font-size="14" {FONT}>{text}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def quadrant_chart(
    points: Sequence[tuple[float, float, str]],
    *,
    x_split: float | None,
    y_split: float | None,
    title: str,
    x_label: str,
    y_label: str,
    corner_labels: tuple[str, str, str, str],
    width: int = 720,
    height: int = 480,
) -> str:
    """Scatter of (x, y, tooltip) with the quadrant split lines and the four corner names.

    ``corner_labels`` are (top right, bottom right, top left, bottom left).
    """
    left, right, top, bottom = 72, 24, 24 + TITLE_H, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    x_max = nice_max(max((p[0] for p in points), default=0) * 1.05)
    y_max = nice_max(max((p[1] for p in points), default=0) * 1.05)

    def px(x: float) -> float:
        return left + plot_w * x / x_max

    def py(y: float) -> float:
        return top + plot_h - plot_h * y / y_max

    out = _open(width, height, title)
    out.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
        f'stroke="#333"/>'
    )
    if x_split is not None:
        out.append(
            f'<line x1="{px(x_split):.1f}" y1="{top}" x2="{px(x_split):.1f}" '
            f'y2="{top + plot_h}" stroke="#555" stroke-dasharray="6 4"/>'
        )
    if y_split is not None:
        out.append(
            f'<line x1="{left}" y1="{py(y_split):.1f}" x2="{left + plot_w}" '
            f'y2="{py(y_split):.1f}" stroke="#555" stroke-dasharray="6 4"/>'
        )
    tr, br, tl, bl = corner_labels
    for text, x, y, anchor in (
        (tr, left + plot_w - 8, top + 22, "end"),
        (br, left + plot_w - 8, top + plot_h - 10, "end"),
        (tl, left + 8, top + 22, "start"),
        (bl, left + 8, top + plot_h - 10, "start"),
    ):
        out.append(
            f'<text x="{x}" y="{y}" text-anchor="{anchor}" font-size="16" font-weight="bold" '
            f'fill="#333" {FONT}>{escape(text)}</text>'
        )
    for px_value, py_value, tip in points:
        out.append(
            f'<circle cx="{px(px_value):.1f}" cy="{py(py_value):.1f}" r="6" fill="{PALETTE[0]}" '
            f'fill-opacity="0.75" stroke="#fff"><title>{escape(tip)}</title></circle>'
        )
    out.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 12}" text-anchor="middle" '
        f'font-size="15" {FONT}>{escape(x_label)}</text>'
    )
    out.append(
        f'<text x="18" y="{top + plot_h / 2:.1f}" text-anchor="middle" font-size="15" '
        f'transform="rotate(-90 18 {top + plot_h / 2:.1f})" {FONT}>{escape(y_label)}</text>'
    )
    x_steps = 5 if x_max % 5 == 0 else 4
    for tick in range(x_steps + 1):
        xv = x_max * tick / x_steps
        out.append(
            f'<text x="{px(xv):.1f}" y="{top + plot_h + 20}" text-anchor="middle" '
            f'font-size="13" {FONT}>{_fmt(xv)}</text>'
        )
    y_steps = 5 if y_max % 5 == 0 else 4
    for tick in range(y_steps + 1):
        yv = y_max * tick / y_steps
        out.append(
            f'<text x="{left - 8}" y="{py(yv) + 5:.1f}" text-anchor="end" font-size="13" '
            f"{FONT}>{_fmt(yv)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def heat_map(
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    values: Sequence[Sequence[int]],
    *,
    title: str,
    width: int = 960,
) -> str:
    """A grid (rows x columns) shaded by value, each cell also printed as a number (the
    shade is never the only cue); e.g. attendance per weekday and start hour."""
    left, top, row_h = 90, 40 + TITLE_H, 30
    cell_w = (width - left - 16) / max(1, len(col_labels))
    height = top + row_h * max(1, len(row_labels)) + 12
    peak = max((v for row in values for v in row), default=0)
    out = _open(width, height, title)
    for j, label in enumerate(col_labels):
        x = left + cell_w * j + cell_w / 2
        out.append(
            f'<text x="{x:.1f}" y="{top - 8}" text-anchor="middle" font-size="13" '
            f"{FONT}>{escape(label)}</text>"
        )
    for i, label in enumerate(row_labels):
        y = top + row_h * i
        out.append(
            f'<text x="{left - 8}" y="{y + 20}" text-anchor="end" font-size="14" '
            f"{FONT}>{escape(label)}</text>"
        )
        for j, value in enumerate(values[i]):
            x = left + cell_w * j
            share = value / peak if peak else 0.0
            out.append(
                f'<rect x="{x:.1f}" y="{y}" width="{cell_w - 2:.1f}" height="{row_h - 2}" '
                f'fill="{PALETTE[0]}" fill-opacity="{0.08 + 0.92 * share:.2f}">'
                f"<title>{escape(label)} {escape(col_labels[j])}: {value}</title></rect>"
            )
            colour = "#fff" if share > 0.55 else "#000"
            out.append(
                f'<text x="{x + cell_w / 2 - 1:.1f}" y="{y + 19}" text-anchor="middle" '
                f'font-size="13" fill="{colour}" {FONT}>{value}</text>'
            )
    out.append("</svg>")
    return "".join(out)
