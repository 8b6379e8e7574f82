"""Small hand-written SVG charts (no JavaScript, no external files): lines, bars, stacks."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777")
FONT = 'font-family="inherit" font-size="12"'


def _nice_top(value: float) -> float:
    """A round axis maximum at or above `value` whose quarters are round too."""
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** len(str(int(value))) / 10
    for step in (1.0, 1.2, 1.6, 2.0, 2.4, 3.2, 4.0, 6.0, 8.0, 10.0):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.2g}"


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    width: int = 1000,
    height: int = 260,
    bars: Sequence[tuple[str, Sequence[float]]] = (),
) -> str:
    """Lines over a shared x axis (days), optionally with thin grouped bars behind them."""
    left, right, top, bottom = 56, 16, 34, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(x_labels), 1)
    peak = max([max(v, default=0) for _, v in [*series, *bars]], default=0)
    y_top = _nice_top(float(peak))

    def x(i: float) -> float:
        return left + plot_w * (i + 0.5) / n

    def y(v: float) -> float:
        return top + plot_h * (1 - v / y_top)

    parts = [_open(width, height, title), _title(title)]
    parts += _y_axis(left, width - right, top, plot_h, y_top)
    step = max(1, n // 12)
    for i in range(0, n, step):
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="middle" {FONT} '
            f'fill="#555">{escape(x_labels[i][5:])}</text>'
        )
    slot = plot_w / n
    for k, (_, values) in enumerate(bars):
        colour = PALETTE[(k + len(series)) % len(PALETTE)]
        bar_w = max(slot / (len(bars) + 1), 0.5)
        for i, v in enumerate(values):
            if v:
                bx = left + slot * i + bar_w * (k + 0.5)
                parts.append(
                    f'<rect x="{bx:.1f}" y="{y(v):.1f}" width="{bar_w:.1f}" '
                    f'height="{y(0) - y(v):.1f}" fill="{colour}" opacity="0.35"/>'
                )
    for k, (_, values) in enumerate(series):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{PALETTE[k % len(PALETTE)]}" '
            'stroke-width="2"/>'
        )
    legend = [(name, PALETTE[k % len(PALETTE)], 1.0) for k, (name, _) in enumerate(series)]
    legend += [
        (name, PALETTE[(k + len(series)) % len(PALETTE)], 0.35) for k, (name, _) in enumerate(bars)
    ]
    parts += _legend(legend, left, height - 8)
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    title: str,
    items: Sequence[tuple[str, float]],
    *,
    width: int = 480,
    unit: str = "",
    colour: str = PALETTE[0],
) -> str:
    """Horizontal bars, one per labelled value, the value written at the bar's end."""
    row, left, top = 26, 170, 34
    height = top + row * max(len(items), 1) + 12
    peak = max((v for _, v in items), default=0.0) or 1.0
    plot_w = width - left - 70
    parts = [_open(width, height, title), _title(title)]
    for i, (label, value) in enumerate(items):
        y0 = top + i * row
        w = plot_w * value / peak
        parts.append(
            f'<text x="{left - 8}" y="{y0 + 15}" text-anchor="end" {FONT}>{escape(label)}</text>'
            f'<rect x="{left}" y="{y0 + 3}" width="{w:.1f}" height="{row - 8}" fill="{colour}"/>'
            f'<text x="{left + w + 6:.1f}" y="{y0 + 15}" {FONT} fill="#333">'
            f"{escape(_fmt(value))}{escape(unit)}</text>"
        )
    if not items:
        parts.append(f'<text x="{left}" y="{top + 15}" {FONT} fill="#777">—</text>')
    parts.append("</svg>")
    return "".join(parts)


def stacked_bars(
    title: str,
    rows: Sequence[tuple[str, Sequence[float]]],
    parts_legend: Sequence[tuple[str, str]],
    *,
    width: int = 1000,
) -> str:
    """One 100% bar per row, split into coloured parts (percentages)."""
    row, left, top = 30, 240, 34
    height = top + row * max(len(rows), 1) + 34
    plot_w = width - left - 20
    out = [_open(width, height, title), _title(title)]
    for i, (label, values) in enumerate(rows):
        y0 = top + i * row
        out.append(
            f'<text x="{left - 8}" y="{y0 + 17}" text-anchor="end" {FONT}>{escape(label)}</text>'
        )
        x0 = float(left)
        for (name, colour), value in zip(parts_legend, values, strict=True):
            w = plot_w * value / 100
            if w > 0:
                out.append(
                    f'<rect x="{x0:.1f}" y="{y0 + 3}" width="{w:.1f}" height="{row - 8}" '
                    f'fill="{colour}"><title>{escape(name)} {value:g}%</title></rect>'
                )
                if w > 44:
                    out.append(
                        f'<text x="{x0 + w / 2:.1f}" y="{y0 + 18}" text-anchor="middle" '
                        f'{FONT} fill="#fff">{value:g}%</text>'
                    )
            x0 += w
    out += _legend([(n, c, 1.0) for n, c in parts_legend], left, height - 8)
    out.append("</svg>")
    return "".join(out)


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
    )


def _title(title: str) -> str:
    return f'<text x="8" y="20" font-family="inherit" font-size="14" font-weight="bold">{escape(title)}</text>'  # noqa: E501


def _y_axis(left: int, right: int, top: int, plot_h: int, y_top: float) -> list[str]:
    parts = []
    for k in range(5):
        v = y_top * k / 4
        yy = top + plot_h * (1 - k / 4)
        parts.append(
            f'<line x1="{left}" x2="{right}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e5e7eb"/>'
            f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" {FONT} fill="#555">'
            f"{escape(_fmt(v))}</text>"
        )
    return parts


def _legend(entries: Sequence[tuple[str, str, float]], x: int, y: int) -> list[str]:
    parts = []
    for name, colour, opacity in entries:
        parts.append(
            f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{colour}" '
            f'opacity="{opacity}"/><text x="{x + 16}" y="{y}" {FONT}>{escape(name)}</text>'
        )
        x += 28 + 13 * len(name)
    return parts
