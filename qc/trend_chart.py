"""The weekly trend of an annotator's style as SVG geometry and table rows: two charts
(edge offset; found by size and pq) in the user units of one view box, for a template to
draw, and the same numbers as a table. Pure: the weeks in, numbers and strings out."""

from datetime import date
from typing import Any, Protocol

import numpy as np

from qc.style import StyleReport


class Week(Protocol):
    """One ISO week ("2026-W05") and the style report of its images."""

    week: str
    report: StyleReport


_CHART_W, _CHART_H = 640, 220
_PLOT_LEFT, _PLOT_RIGHT, _PLOT_TOP, _PLOT_BOTTOM = 68, 624, 14, 180
_PLOT_PAD = 14  # between the plot's sides and the first and last week
_TICK_ROOM = 40  # the least distance between two week labels
_MARKER_R = 4.5

# Each series has its own marker and dash as well as its Okabe–Ito colour, and the legend
# names them, so the chart reads without colour.
_RECALL_SERIES = (
    ("small", "Small found", "#E69F00", "circle", ""),
    ("medium", "Medium found", "#0072B2", "square", "6 3"),
    ("large", "Large found", "#009E73", "triangle", "2 3"),
    ("pq", "pq", "#000000", "diamond", "8 3 2 3"),
)


_POLYGONS = {
    "square": ((-1, -1), (1, -1), (1, 1), (-1, 1)),
    "triangle": ((0, -1.25), (1.25, 1), (-1.25, 1)),
    "diamond": ((0, -1.3), (1.3, 0), (0, 1.3), (-1.3, 0)),
}


def _marker(shape: str, x: float, y: float) -> str:
    """The SVG path of a marker centred on (x, y): a circle or a polygon of
    :data:`_POLYGONS` (corners in marker radii)."""
    r = _MARKER_R
    corners = _POLYGONS.get(shape)
    if corners is None:
        return f"M{x - r:.1f},{y:.1f}a{r},{r} 0 1,0 {2 * r},0a{r},{r} 0 1,0 {-2 * r},0"
    return "M" + "L".join(f"{x + dx * r:.1f},{y + dy * r:.1f}" for dx, dy in corners) + "z"


def _xs(weeks: list[str]) -> list[float]:
    """Where each ISO week ("2026-W05") sits on the x axis: by its date, so that weeks
    without work leave a gap."""
    mondays = [
        date.fromisocalendar(int(year), int(week), 1).toordinal()
        for year, week in (name.split("-W") for name in weeks)
    ]
    if len(set(mondays)) <= 1:
        return [(_PLOT_LEFT + _PLOT_RIGHT) / 2] * len(weeks)
    first, span = mondays[0], mondays[-1] - mondays[0]
    width = _PLOT_RIGHT - _PLOT_LEFT - 2 * _PLOT_PAD
    return [_PLOT_LEFT + _PLOT_PAD + (day - first) / span * width for day in mondays]


def _series(
    name: str, colour: str, shape: str, dash: str, points: list[tuple[float, float | None, str]]
) -> dict[str, Any]:
    """A line through ``points`` ((x, y or None, hover text)), broken where y is None."""
    path, pen_down, markers = [], False, []
    for x, y, text in points:
        if y is None:
            pen_down = False
            continue
        path.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
        pen_down = True
        markers.append({"d": _marker(shape, x, y), "title": text})
    return {
        "name": name,
        "colour": colour,
        "dash": dash,
        "path": "".join(path),
        "markers": markers,
        "key": _marker(shape, 15, 9),  # the legend's marker
    }


def _x_ticks(weeks: list[str], xs: list[float]) -> list[dict[str, Any]]:
    """A label under each week ("W05") that leaves room for its neighbours; the last week
    always gets one."""
    ticks: list[dict[str, Any]] = []
    for week, x in zip(weeks, xs, strict=True):
        tick = {"x": round(x, 1), "label": "W" + week.split("-W")[1], "title": week}
        if ticks and x - ticks[-1]["x"] < _TICK_ROOM:
            if week != weeks[-1]:
                continue
            ticks.pop()
        ticks.append(tick)
    return ticks


def _offset_chart(weeks: list[str], offsets: list[float | None]) -> dict[str, Any]:
    span = max([abs(v) for v in offsets if v is not None] + [1.0])
    top = float(np.ceil(span * 2) / 2)  # the next half pixel

    def y(value: float) -> float:
        return _PLOT_TOP + (top - value) / (2 * top) * (_PLOT_BOTTOM - _PLOT_TOP)

    xs = _xs(weeks)
    points = [
        (x, None if v is None else y(v), f"{w}: {_signed_px(v)}")
        for w, x, v in zip(weeks, xs, offsets, strict=True)
    ]
    return {
        "id": "offset-chart",
        "title": "Your edge against the reference, by week (px; above 0: outside)",
        "y_ticks": [
            {"y": round(y(v), 1), "label": _tick_px(v), "zero": v == 0}
            for v in (top, top / 2, 0.0, -top / 2, -top)
        ],
        "x_ticks": _x_ticks(weeks, xs),
        "series": [_series("Edge offset", "#D55E00", "circle", "", points)],
    }


def _recall_chart(weeks: list[str], rows: list[dict[str, Any]]) -> dict[str, Any]:
    def y(value: float) -> float:
        return _PLOT_BOTTOM - value * (_PLOT_BOTTOM - _PLOT_TOP)

    xs = _xs(weeks)
    series = []
    for key, name, colour, shape, dash in _RECALL_SERIES:
        points = []
        for week, x, row in zip(weeks, xs, rows, strict=True):
            value = row[key]
            shown = "—" if value is None else f"{value:.2f}" if key == "pq" else _percent(value)
            points.append((x, None if value is None else y(value), f"{week}: {name} {shown}"))
        series.append(_series(name, colour, shape, dash, points))
    return {
        "id": "recall-chart",
        "title": "Share of reference objects you found, by size, and your pq, by week",
        "y_ticks": [
            {"y": round(y(v), 1), "label": f"{round(100 * v)} %", "zero": v == 0}
            for v in (1.0, 0.75, 0.5, 0.25, 0.0)
        ],
        "x_ticks": _x_ticks(weeks, xs),
        "series": series,
    }


def _signed_px(value: float | None) -> str:
    if value is None:
        return "—"
    return "0.0 px" if round(value, 1) == 0 else f"{value:+.1f} px"


def _tick_px(value: float) -> str:
    """An axis label: "+1.5 px", "+0.75 px", "0 px", "−1 px"."""
    if value == 0:
        return "0 px"
    number = f"{abs(value):.2f}".rstrip("0").rstrip(".")
    return f"{'+' if value > 0 else '−'}{number} px"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{round(100 * value)} %"


def _found(found: int, total: int, rate: float | None) -> dict[str, str]:
    """A table cell: the share found ("75 %") over the counts ("3/4", none without data)."""
    return {"rate": _percent(rate), "counts": "" if rate is None else f"{found}/{total}"}


def trend_charts(weeks: list[Week]) -> dict[str, Any]:
    """The weekly trend as the template draws it: two charts (edge offset; found by size
    and pq), each with its ticks, lines and markers in SVG user units of a ``width`` ×
    ``height`` view box, each series with its legend marker (``key``); and the same
    numbers as table rows (``rows``)."""
    names = [w.week for w in weeks]
    figures = [
        {
            "small": w.report.recall_small,
            "medium": w.report.recall_medium,
            "large": w.report.recall_large,
            "pq": w.report.pq_vs_reference,
        }
        for w in weeks
    ]
    rows = [
        {
            "week": w.week,
            "images": w.report.images,
            "matched": w.report.matched,
            "offset": _signed_px(w.report.boundary_offset_vs_consensus_px),
            "found": [
                _found(found, total, rate)
                for found, total, rate in zip(
                    w.report.found,
                    w.report.total,
                    (w.report.recall_small, w.report.recall_medium, w.report.recall_large),
                    strict=True,
                )
            ],
            "pq": "—" if w.report.pq_vs_reference is None else f"{w.report.pq_vs_reference:.2f}",
            "merges": w.report.merges,
            "splits": w.report.splits,
        }
        for w in weeks
    ]
    charts = []
    if weeks:
        offsets = [w.report.boundary_offset_vs_consensus_px for w in weeks]
        charts = [_offset_chart(names, offsets), _recall_chart(names, figures)]
    return {
        "width": _CHART_W,
        "height": _CHART_H,
        "plot": {
            "left": _PLOT_LEFT,
            "right": _PLOT_RIGHT,
            "top": _PLOT_TOP,
            "bottom": _PLOT_BOTTOM,
            "label_x": _PLOT_LEFT - 6,
            "label_y": _PLOT_BOTTOM + 18,
        },
        "charts": charts,
        "rows": rows,
    }
