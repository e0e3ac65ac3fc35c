"""The weekly trend of an annotator's style as SVG geometry and table rows: two charts
(edge offset; found by size and pq) in the user units of one view box, for a template to
draw, and the same numbers as a table. Pure: the weeks in, numbers and strings out; the
lines, markers and week axis are :mod:`qc.charts`'."""

from typing import Any, Protocol

import numpy as np

from qc.charts import Frame, week_positions, week_ticks
from qc.charts import series as _series
from qc.style import StyleReport


class Week(Protocol):
    """One ISO week ("2026-W05") and the style report of its images."""

    week: str
    report: StyleReport


_CHART_W, _CHART_H = 640, 220
_PLOT_LEFT, _PLOT_RIGHT, _PLOT_TOP, _PLOT_BOTTOM = 68, 624, 14, 180
_FRAME = Frame(_CHART_W, _CHART_H, _PLOT_LEFT, _PLOT_RIGHT, _PLOT_TOP, _PLOT_BOTTOM).as_dict()
_PLOT_PAD = 14  # between the plot's sides and the first and last week
_TICK_ROOM = 40  # the least distance between two week labels

# Each series has its own marker and dash as well as its Okabe–Ito colour, and the legend
# names them, so the chart reads without colour.
_RECALL_SERIES = (
    ("small", "Small found", "#E69F00", "circle", ""),
    ("medium", "Medium found", "#0072B2", "square", "6 3"),
    ("large", "Large found", "#009E73", "triangle", "2 3"),
    ("pq", "pq", "#000000", "diamond", "8 3 2 3"),
)


def _xs(weeks: list[str]) -> list[float]:
    return week_positions(weeks, _PLOT_LEFT, _PLOT_RIGHT, _PLOT_PAD)


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
        "frame": _FRAME,
        "legend": True,
        "title": "Your edge against the reference, by week (px; above 0: outside)",
        "y_ticks": [
            {"y": round(y(v), 1), "label": _tick_px(v), "zero": v == 0}
            for v in (top, top / 2, 0.0, -top / 2, -top)
        ],
        "x_ticks": week_ticks(weeks, xs, _TICK_ROOM),
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
        "frame": _FRAME,
        "legend": True,
        "title": "Share of reference objects you found, by size, and your pq, by week",
        "y_ticks": [
            {"y": round(y(v), 1), "label": f"{round(100 * v)} %", "zero": v == 0}
            for v in (1.0, 0.75, 0.5, 0.25, 0.0)
        ],
        "x_ticks": week_ticks(weeks, xs, _TICK_ROOM),
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
    """The weekly trend as ``qc/_chart_line.html`` draws it: two charts (edge offset; found
    by size and pq), each with its frame, ticks, lines and markers in SVG user units, and a
    legend naming each series with its marker (``key``); and the same numbers as table rows
    (``rows``)."""
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
    return {"charts": charts, "rows": rows}
