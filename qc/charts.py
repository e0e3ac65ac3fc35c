"""Charts as SVG geometry for templates to draw: lines over ISO weeks (with interval
whiskers), horizontal bars, columns and a heatmap, all in the user units of one view box.

Pure: numbers and strings in, numbers and strings out; no Django. Every chart carries its
numbers as text beside the marks (a label per bar, a number per cell, a hover title per
point) and names its series with a marker shape and a dash as well as a colour, so that it
reads without colour; the templates (``templates/qc/_chart_*.html``) add the table.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import Any

MARKER_R = 4.5

# Okabe–Ito: told apart by the colour-blind too.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")

# A sequential blue scale (ColorBrewer "Blues", light to dark) for heatmaps: darker is more.
_BLUES = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#084594")

_POLYGONS = {
    "square": ((-1, -1), (1, -1), (1, 1), (-1, 1)),
    "triangle": ((0, -1.25), (1.25, 1), (-1.25, 1)),
    "diamond": ((0, -1.3), (1.3, 0), (0, 1.3), (-1.3, 0)),
}


@dataclass(frozen=True)
class Frame:
    """A chart's view box (``width`` × ``height``) and its plot area inside it."""

    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float

    def as_dict(self) -> dict[str, float]:
        return {
            "width": self.width,
            "height": self.height,
            "left": self.left,
            "right": self.right,
            "top": self.top,
            "bottom": self.bottom,
            "label_x": self.left - 6,
            "label_y": self.bottom + 18,
        }


def linear(domain: tuple[float, float], span: tuple[float, float]) -> Callable[[float], float]:
    """The linear map taking ``domain`` (lo, hi) onto ``span`` (the user units of lo, hi);
    a domain of no width maps everything to the middle of the span."""
    (d0, d1), (r0, r1) = domain, span
    if d1 == d0:
        return lambda value: (r0 + r1) / 2
    return lambda value: r0 + (value - d0) / (d1 - d0) * (r1 - r0)


def marker(shape: str, x: float, y: float, r: float = MARKER_R) -> str:
    """The SVG path of a marker centred on (x, y): a circle, or a polygon of
    :data:`_POLYGONS` (corners in marker radii)."""
    corners = _POLYGONS.get(shape)
    if corners is None:
        return f"M{x - r:.1f},{y:.1f}a{r},{r} 0 1,0 {2 * r},0a{r},{r} 0 1,0 {-2 * r},0"
    return "M" + "L".join(f"{x + dx * r:.1f},{y + dy * r:.1f}" for dx, dy in corners) + "z"


def week_positions(weeks: Sequence[str], left: float, right: float, pad: float) -> list[float]:
    """Where each ISO week ("2026-W05") sits between ``left`` and ``right`` (less ``pad``
    at both ends): by its date, so that weeks without work leave a gap. One week (or
    weeks of one date) sits in the middle."""
    mondays = [
        date.fromisocalendar(int(year), int(week), 1).toordinal()
        for year, week in (name.split("-W") for name in weeks)
    ]
    if len(set(mondays)) <= 1:
        return [(left + right) / 2] * len(weeks)
    first, span = mondays[0], mondays[-1] - mondays[0]
    width = right - left - 2 * pad
    return [left + pad + (day - first) / span * width for day in mondays]


def week_ticks(weeks: Sequence[str], xs: Sequence[float], room: float) -> list[dict[str, Any]]:
    """A label under each week ("W05", its full name as the title) that leaves ``room``
    to its neighbour; the last week always gets one."""
    ticks: list[dict[str, Any]] = []
    for week, x in zip(weeks, xs, strict=True):
        tick = {"x": round(x, 1), "label": "W" + week.split("-W")[1], "title": week}
        if ticks and x - ticks[-1]["x"] < room:
            if week != weeks[-1]:
                continue
            ticks.pop()
        ticks.append(tick)
    return ticks


def series(
    name: str,
    colour: str,
    shape: str,
    dash: str,
    points: Sequence[tuple[float, float | None, str]],
    *,
    r: float = MARKER_R,
) -> dict[str, Any]:
    """A line through ``points`` ((x, y or None, hover text)), broken where y is None, with
    a marker of ``shape`` on each point and the legend's marker (``key``)."""
    path, pen_down, markers = [], False, []
    for x, y, text in points:
        if y is None:
            pen_down = False
            continue
        path.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
        pen_down = True
        markers.append({"d": marker(shape, x, y, r), "title": text})
    return {
        "name": name,
        "colour": colour,
        "dash": dash,
        "path": "".join(path),
        "markers": markers,
        "key": marker(shape, 15, 9, r),
    }


def fraction_ticks(
    y: Callable[[float], float], lo: float, hi: float, step: float
) -> list[dict[str, Any]]:
    """Horizontal grid lines from ``lo`` to ``hi`` every ``step`` (values 0–1 shown with
    two decimals: "0.75")."""
    count = round((hi - lo) / step)
    values = [round(lo + k * step, 6) for k in range(count + 1)]
    return [{"y": round(y(v), 1), "label": f"{v:.2f}", "zero": v == 0} for v in values]


def _domain_floor(values: Sequence[float], step: float, ceiling: float) -> float:
    """The lowest multiple of ``step`` at or below every value, at most ``ceiling``."""
    low = min(values, default=ceiling)
    return min(ceiling, max(0.0, int(low / step + 1e-9) * step))


def interval_line_chart(
    *,
    chart_id: str,
    title: str,
    weeks: Sequence[str],
    values: Sequence[float | None],
    intervals: Sequence[Sequence[float] | None],
    texts: Sequence[str],
    frame: Frame,
    name: str,
) -> dict[str, Any]:
    """One series of fractions (0–1) over ISO ``weeks``: a line with a marker per week,
    the week's interval as a whisker, and the value printed above each marker when the
    weeks leave room for it. The y axis starts at the tenth below the lowest figure shown
    (at most 0.5) and ends at 1. ``texts`` are the markers' hover titles."""
    shown = [v for v in values if v is not None]
    shown += [bound for pair in intervals if pair for bound in pair]
    lo = _domain_floor(shown, 0.1, 0.5)
    y = linear((lo, 1.0), (frame.bottom, frame.top))
    xs = week_positions(weeks, frame.left, frame.right, 18)
    points = [
        (x, None if v is None else y(v), text) for x, v, text in zip(xs, values, texts, strict=True)
    ]
    line = series(name, OKABE_ITO[0], "circle", "", points)
    whiskers = [
        {
            "x": round(x, 1),
            "cap1": round(x - 4, 1),
            "cap2": round(x + 4, 1),
            "y1": round(y(pair[0]), 1),
            "y2": round(y(pair[1]), 1),
        }
        for x, pair in zip(xs, intervals, strict=True)
        if pair
    ]
    room = min((b - a for a, b in pairwise(xs)), default=frame.width)
    labels = []
    if room >= 30:
        labels = [
            {
                "x": round(x, 1),
                "y": round(y(max(v, pair[1] if pair else v)) - 6, 1),
                "text": f"{v:.2f}",
            }
            for x, v, pair in zip(xs, values, intervals, strict=True)
            if v is not None
        ]
    step = 0.1 if 1.0 - lo <= 0.5 else 0.25 if lo == 0 else 0.1
    return {
        "id": chart_id,
        "title": title,
        "frame": frame.as_dict(),
        "y_ticks": fraction_ticks(y, lo, 1.0, step),
        "x_ticks": week_ticks(weeks, xs, 40),
        "series": [line],
        "whiskers": whiskers,
        "labels": labels,
    }


def bar_chart(
    *,
    chart_id: str,
    title: str,
    bars: Sequence[dict[str, Any]],
    label_width: float = 150,
    width: float = 520,
    bar_height: float = 22,
    gap: float = 10,
) -> dict[str, Any]:
    """Horizontal bars of fractions (0–1), one per item of ``bars`` (each with ``label``,
    ``value`` (None: no bar, "no data" printed), optional ``interval`` (lo, hi) drawn as a
    whisker, ``text`` (printed after the bar), ``title`` (hover) and ``href``). The axis
    runs from 0 to 1 so that bars compare by length."""
    top, value_room = 8, 92
    left, right = label_width, width - value_room
    x = linear((0.0, 1.0), (left, right))
    rows = []
    for k, bar in enumerate(bars):
        y0 = top + k * (bar_height + gap)
        value, interval = bar.get("value"), bar.get("interval")
        end = x(value) if value is not None else left
        ends = [end] + ([x(interval[1])] if interval else [])
        rows.append(
            {
                "label": bar["label"],
                "y": round(y0, 1),
                "mid": round(y0 + bar_height / 2, 1),
                "cap1": round(y0 + bar_height / 2 - 5, 1),
                "cap2": round(y0 + bar_height / 2 + 5, 1),
                "x": left,
                "width": round(end - left, 1),
                "height": bar_height,
                "text": bar.get("text") or ("no data" if value is None else f"{value:.2f}"),
                "text_x": round(max(ends) + 6, 1),
                "title": bar.get("title", ""),
                "href": bar.get("href", ""),
                "whisker": (
                    {"x1": round(x(interval[0]), 1), "x2": round(x(interval[1]), 1)}
                    if interval
                    else None
                ),
            }
        )
    bottom = top + len(bars) * (bar_height + gap) - gap
    return {
        "id": chart_id,
        "title": title,
        "width": width,
        "height": round(bottom + 26, 1),
        "left": left,
        "label_x": left - 8,
        "right": right,
        "top": top,
        "bottom": round(bottom, 1),
        "tick_y": round(bottom + 16, 1),
        "x_ticks": [{"x": round(x(v), 1), "label": f"{v:g}"} for v in (0.0, 0.25, 0.5, 0.75, 1.0)],
        "bars": rows,
    }


def column_chart(
    *,
    chart_id: str,
    title: str,
    columns: Sequence[dict[str, Any]],
    edges: Sequence[float],
    width: float = 520,
    height: float = 220,
) -> dict[str, Any]:
    """Vertical columns of counts over consecutive ranges (a histogram): ``columns[k]``
    (``count``, ``title``, ``href``) covers ``edges[k]``–``edges[k + 1]``. The count is
    printed on each column that has one; the x axis is labelled every 0.1."""
    frame = Frame(width, height, 40, width - 10, 16, height - 26)
    most = max((c["count"] for c in columns), default=0)
    ticks = _count_ticks(max(1, most))
    # The axis ends at its highest tick (8 for a most of 7), so that tick is inside the box.
    y = linear((0.0, float(ticks[-1])), (frame.bottom, frame.top))
    x = linear((edges[0], edges[-1]), (frame.left, frame.right))
    drawn = []
    for k, column in enumerate(columns):
        x0, x1 = x(edges[k]), x(edges[k + 1])
        count = column["count"]
        drawn.append(
            {
                "x": round(x0 + 1, 1),
                "width": round(x1 - x0 - 2, 1),
                "y": round(y(count), 1),
                "label_y": round(y(count) - 4, 1),
                "height": round(frame.bottom - y(count), 1),
                "mid": round((x0 + x1) / 2, 1),
                "count": count,
                "title": column.get("title", ""),
                "href": column.get("href", ""),
            }
        )
    tick_values = [
        round(edges[0] + k * 0.1, 6) for k in range(round((edges[-1] - edges[0]) / 0.1) + 1)
    ]
    return {
        "id": chart_id,
        "title": title,
        "frame": frame.as_dict(),
        "columns": drawn,
        "x_ticks": [{"x": round(x(v), 1), "label": f"{v:.1f}"} for v in tick_values],
        "y_ticks": [{"y": round(y(v), 1), "label": str(v)} for v in ticks],
    }


def _count_ticks(most: int) -> list[int]:
    """Up to five round counts from 0 to at least ``most``."""
    step = 1
    while most / step > 4:
        for factor in (2, 2.5, 2):
            step = int(step * factor)
            if most / step <= 4:
                break
    return list(range(0, most + step, step))[:6]


def _mix(low: str, high: str, t: float) -> str:
    a = [int(low[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(high[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(p + (q - p) * t):02x}" for p, q in zip(a, b, strict=True))


def sequential_colour(t: float) -> str:
    """The colour of ``t`` (0–1, clamped) on the blue scale: light for 0, dark for 1."""
    t = min(1.0, max(0.0, t)) * (len(_BLUES) - 1)
    k = min(int(t), len(_BLUES) - 2)
    return _mix(_BLUES[k], _BLUES[k + 1], t - k)


def heatmap(
    *,
    chart_id: str,
    title: str,
    names: Sequence[str],
    cells: dict[tuple[str, str], dict[str, Any]],
    cell: float = 64,
    label_width: float = 96,
) -> dict[str, Any]:
    """A symmetric matrix of fractions (0–1) over ``names``: ``cells[(a, b)]`` (a before b
    in ``names``) holds ``value``, ``title`` and ``href``; both (a, b) and (b, a) are drawn
    from it, the diagonal and pairs without a cell are left blank ("—"). The colour runs
    from the tenth below the lowest value (at most 0.5) to 1, darker for more; each cell
    prints its value in a colour that contrasts with its fill. A legend gives the scale."""
    values = [c["value"] for c in cells.values() if c.get("value") is not None]
    lo = _domain_floor(values, 0.1, 0.5)
    t = linear((lo, 1.0), (0.0, 1.0))
    top = 30
    order = {name: k for k, name in enumerate(names)}
    drawn = []
    for row, a in enumerate(names):
        for col, b in enumerate(names):
            key = (a, b) if order[a] < order[b] else (b, a)
            found = cells.get(key) if a != b else None
            value = found.get("value") if found else None
            shade = t(value) if value is not None else None
            drawn.append(
                {
                    "x": label_width + col * cell,
                    "y": top + row * cell,
                    "mid_x": label_width + col * cell + cell / 2,
                    "mid_y": top + row * cell + cell / 2,
                    "fill": sequential_colour(shade) if shade is not None else "#ffffff",
                    "ink": "#ffffff" if shade is not None and shade > 0.55 else "#1d2330",
                    "text": f"{value:.2f}" if value is not None else "—",
                    "title": found.get("title", "") if found else "",
                    "href": found.get("href", "") if found else "",
                    "diagonal": a == b,
                }
            )
    side = len(names) * cell
    legend_y = top + side + 18
    return {
        "id": chart_id,
        "title": title,
        "width": label_width + side + 8,
        "height": legend_y + 34,
        "cell": cell,
        "rows": [
            {"name": name, "y": top + k * cell + cell / 2, "x": label_width + k * cell + cell / 2}
            for k, name in enumerate(names)
        ],
        "label_x": label_width - 8,
        "label_y": top - 8,
        "cells": drawn,
        "legend": {
            "x": label_width,
            "y": legend_y,
            "width": side,
            "right": label_width + side,
            "text_y": legend_y + 24,
            "stops": [
                {"offset": f"{k / (len(_BLUES) - 1):.3f}", "colour": colour}
                for k, colour in enumerate(_BLUES)
            ],
            "low": f"{lo:.1f}",
            "high": "1.0",
        },
    }
