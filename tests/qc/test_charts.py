"""The pure chart geometry (qc.charts): scales, markers, weeks by date, bars by length,
columns by count, a symmetric heatmap whose numbers are printed in a contrasting ink."""

import pytest

from qc import charts


def test_linear_maps_the_domain_onto_the_span_and_a_point_domain_to_the_middle():
    y = charts.linear((0.5, 1.0), (200, 0))
    flat = charts.linear((0.7, 0.7), (0, 100))

    assert (y(0.5), y(0.75), y(1.0)) == (200, 100, 0)
    assert flat(0.7) == 50


def test_marker_shapes_are_closed_polygons_or_a_circle():
    assert charts.marker("square", 10, 10, 2) == "M8.0,8.0L12.0,8.0L12.0,12.0L8.0,12.0z"
    assert charts.marker("circle", 10, 10, 2).startswith("M8.0,10.0a2,2 0 1,0 4,0")


def test_week_positions_leave_a_gap_for_weeks_without_work():
    xs = charts.week_positions(["2026-W01", "2026-W02", "2026-W05"], 0, 100, 10)

    assert xs == pytest.approx([10, 30, 90])
    assert charts.week_positions(["2026-W07"], 0, 100, 10) == [50]


def test_interval_line_chart_draws_a_whisker_per_week_with_an_interval():
    chart = charts.interval_line_chart(
        chart_id="c",
        title="t",
        weeks=["2026-W01", "2026-W02"],
        values=[0.8, None],
        intervals=[[0.75, 0.85], None],
        texts=["a", "b"],
        frame=charts.Frame(520, 230, 48, 508, 16, 196),
        name="pq",
    )

    (whisker,) = chart["whiskers"]
    assert whisker["y1"] > whisker["y2"]  # the low end is drawn lower
    assert [m["title"] for m in chart["series"][0]["markers"]] == ["a"]
    assert [label["text"] for label in chart["labels"]] == ["0.80"]
    assert chart["y_ticks"][0]["label"] == "0.50"  # from 0.5 at most, to 1


def test_bar_lengths_are_proportional_to_their_values_and_no_value_draws_no_bar():
    chart = charts.bar_chart(
        chart_id="b",
        title="t",
        bars=[
            {"label": "a", "value": 0.5, "interval": [0.4, 0.6]},
            {"label": "b", "value": 1.0},
            {"label": "c", "value": None},
        ],
    )

    a, b, c = chart["bars"]
    assert b["width"] == pytest.approx(2 * a["width"], abs=0.2)
    assert (c["width"], c["text"]) == (0, "no data")
    assert a["whisker"]["x1"] < a["x"] + a["width"] < a["whisker"]["x2"]


def test_columns_are_as_tall_as_their_counts():
    chart = charts.column_chart(
        chart_id="h",
        title="t",
        columns=[{"count": 2}, {"count": 0}, {"count": 4}],
        edges=[0.0, 0.1, 0.2, 0.3],
    )

    two, zero, four = chart["columns"]
    assert four["height"] == pytest.approx(2 * two["height"], abs=0.2)
    assert zero["height"] == 0
    assert [tick["label"] for tick in chart["x_ticks"]] == ["0.0", "0.1", "0.2", "0.3"]


def test_heatmap_is_symmetric_blank_on_the_diagonal_and_inks_dark_cells_white():
    cells = {
        ("a", "b"): {"value": 0.95, "title": "ab", "href": "/ab"},
        ("a", "c"): {"value": 0.55, "title": "ac", "href": "/ac"},
    }

    chart = charts.heatmap(chart_id="m", title="t", names=["a", "b", "c"], cells=cells)

    texts = [cell["text"] for cell in chart["cells"]]
    assert texts == ["—", "0.95", "0.55", "0.95", "—", "—", "0.55", "—", "—"]
    by_text = {cell["text"]: cell for cell in chart["cells"] if cell["href"]}
    assert by_text["0.95"]["ink"] == "#ffffff"
    assert by_text["0.55"]["ink"] == "#1d2330"
    assert chart["legend"]["low"] == "0.5"


def test_sequential_colour_runs_light_to_dark_and_clamps():
    assert charts.sequential_colour(-1) == charts.sequential_colour(0) == "#f7fbff"
    assert charts.sequential_colour(2) == charts.sequential_colour(1) == "#084594"


@pytest.mark.parametrize("most", [1, 4, 7, 8, 23, 99])
def test_every_tick_and_column_of_a_column_chart_is_inside_its_box(most):
    counts = [most, most // 2, 0]
    chart = charts.column_chart(
        chart_id="c",
        title="t",
        columns=[{"count": c} for c in counts],
        edges=[0.0, 0.1, 0.2, 0.3],
    )

    frame = chart["frame"]
    assert int(chart["y_ticks"][-1]["label"]) >= most
    for tick in chart["y_ticks"]:
        assert frame["top"] <= tick["y"] <= frame["bottom"], tick
    for column in chart["columns"]:
        assert frame["top"] <= column["y"] <= frame["bottom"], column
