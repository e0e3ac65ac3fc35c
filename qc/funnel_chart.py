"""The work dashboard's charts, drawn with :mod:`qc.charts`: horizontal bars of counts
(images by QC state, tasks by status) and one column chart per daily series (throughput).
Pure: counts and dates in, SVG geometry out.

:func:`qc.charts.bar_chart` draws shares (0–1) against a share axis; counts become shares of
the largest count and the axis is dropped, as the count is printed after each bar.
:func:`qc.charts.column_chart` draws columns over consecutive ranges; here each range is a
day, labelled by date under each Monday instead of by its edges."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from qc import charts

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# A count above zero draws a bar of at least this share of the largest, so it is seen.
_LEAST_SHARE = 0.006
_BAR_GAP = 10


@dataclass(frozen=True)
class Bar:
    """One count of a bar chart: ``key`` names it for tests and styles, ``href`` is the
    list behind it (None: nothing to open)."""

    key: str
    label: str
    count: int
    href: str | None = None


def count_bars(*, chart_id: str, title: str, bars: Sequence[Bar]) -> dict[str, Any]:
    """Horizontal bars in the order given, their lengths proportional to the counts (the
    longest spans the plot; all zero: no bar), each count printed after its bar. Each bar
    also gets its ``key``, ``count`` and the band of its row (``hit_y``, ``hit_height``),
    so that the whole row can be the link."""
    top = max((bar.count for bar in bars), default=0)
    chart = charts.bar_chart(
        chart_id=chart_id,
        title=title,
        bars=[
            {
                "label": bar.label,
                "value": max(bar.count / top, _LEAST_SHARE) if bar.count else 0.0,
                "text": str(bar.count),
                "title": f"{bar.label}: {bar.count}",
                "href": bar.href or "",
            }
            for bar in bars
        ],
        label_width=112,
        width=460,
        bar_height=18,
        gap=_BAR_GAP,
    )
    for row, bar in zip(chart["bars"], bars, strict=True):
        row.update(
            key=bar.key,
            count=bar.count,
            hit_y=round(row["y"] - _BAR_GAP / 2, 1),
            hit_height=row["height"] + _BAR_GAP,
        )
    chart["x_ticks"] = []
    chart["label_x"] = chart["left"] - 8
    chart["height"] = round(chart["bottom"] + 8, 1)
    return chart


def day_label(day: date) -> str:
    """A day as the axis writes it: "3 Mar"."""
    return f"{day.day} {_MONTHS[day.month - 1]}"


def daily_columns(
    *, chart_id: str, title: str, days: Sequence[date], counts: Sequence[int]
) -> dict[str, Any]:
    """One column per day (``days`` consecutive, oldest first) with its count printed
    above it when not zero; a date under each Monday, and under the first day unless a
    Monday follows close after it. ``total`` is the sum of the counts."""
    chart = charts.column_chart(
        chart_id=chart_id,
        title=title,
        columns=[
            {"count": n, "title": f"{day_label(day)}: {n}", "href": ""}
            for day, n in zip(days, counts, strict=True)
        ],
        edges=[float(k) for k in range(len(days) + 1)],
        width=640,
        height=130,
    )
    ticks = [
        {"x": column["mid"], "label": day_label(day)}
        for k, (day, column) in enumerate(zip(days, chart["columns"], strict=True))
        if day.weekday() == 0 or k == 0
    ]
    if len(ticks) > 1 and ticks[1]["x"] - ticks[0]["x"] < 40:
        ticks.pop(0)
    chart["x_ticks"] = ticks
    chart["total"] = sum(counts)
    return chart
