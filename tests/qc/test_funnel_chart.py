"""The work dashboard's chart geometry (qc.funnel_chart over qc.charts), against values
worked out by hand: bars as long as their counts, every count printed, a date under each
Monday."""

from datetime import date, timedelta
from itertools import pairwise

import pytest

from qc.funnel_chart import Bar, count_bars, daily_columns, day_label


def test_count_bars_are_as_long_as_their_counts_and_print_them():
    chart = count_bars(
        chart_id="c",
        title="Images",
        bars=[Bar("a", "A", 10, "/a"), Bar("b", "B", 5), Bar("c", "C", 0, "/c")],
    )

    a, b, c = chart["bars"]
    assert a["width"] == pytest.approx(2 * b["width"], abs=0.1)
    assert c["width"] == 0
    assert [bar["text"] for bar in chart["bars"]] == ["10", "5", "0"]
    assert [(bar["key"], bar["count"], bar["href"]) for bar in chart["bars"]] == [
        ("a", 10, "/a"),
        ("b", 5, ""),
        ("c", 0, "/c"),
    ]
    # The longest spans the plot; each number sits after its bar.
    assert a["x"] + a["width"] == pytest.approx(chart["right"], abs=0.1)
    assert all(bar["text_x"] > bar["x"] + bar["width"] for bar in chart["bars"])
    assert chart["x_ticks"] == []


def test_count_bars_show_a_small_count_and_draw_no_bar_when_all_are_zero():
    small = count_bars(chart_id="s", title="t", bars=[Bar("a", "A", 5000), Bar("b", "B", 1)])
    zero = count_bars(chart_id="z", title="t", bars=[Bar("a", "A", 0), Bar("b", "B", 0)])

    assert small["bars"][1]["width"] >= 1
    assert [bar["width"] for bar in zero["bars"]] == [0, 0]
    assert [bar["text"] for bar in zero["bars"]] == ["0", "0"]


def test_count_bars_rows_do_not_overlap_and_fit_the_view_box():
    chart = count_bars(chart_id="r", title="t", bars=[Bar(str(k), str(k), k) for k in range(6)])

    rows = chart["bars"]
    for above, below in pairwise(rows):
        assert above["hit_y"] + above["hit_height"] == pytest.approx(below["hit_y"])
    assert rows[-1]["y"] + rows[-1]["height"] <= chart["height"]


def test_daily_columns_one_per_day_with_dates_under_mondays():
    start = date(2026, 3, 4)  # a Wednesday
    days = [start + timedelta(days=k) for k in range(14)]
    counts = [0, 1, 2, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 3]

    chart = daily_columns(chart_id="d", title="Submissions", days=days, counts=counts)

    assert [column["count"] for column in chart["columns"]] == counts
    assert chart["total"] == 10
    assert [column["title"] for column in chart["columns"]][:2] == ["4 Mar: 0", "5 Mar: 1"]
    # The first day (far enough from the Monday after it), then Mondays 9 and 16 March.
    assert [tick["label"] for tick in chart["x_ticks"]] == ["4 Mar", "9 Mar", "16 Mar"]
    tallest = max(chart["columns"], key=lambda column: column["count"])
    assert tallest["y"] == chart["frame"]["top"]
    xs = [column["x"] for column in chart["columns"]]
    assert xs == sorted(xs)


def test_daily_columns_drop_the_first_date_when_a_monday_follows_close():
    days = [date(2026, 3, 8) + timedelta(days=k) for k in range(28)]  # a Sunday first

    chart = daily_columns(chart_id="d", title="t", days=days, counts=[1] * 28)

    assert [tick["label"] for tick in chart["x_ticks"]] == ["9 Mar", "16 Mar", "23 Mar", "30 Mar"]


def test_daily_columns_need_one_count_a_day():
    with pytest.raises(ValueError):
        daily_columns(chart_id="d", title="t", days=[date(2026, 1, 1)], counts=[1, 2])


def test_day_label():
    assert day_label(date(2026, 12, 1)) == "1 Dec"
