"""The agreement dashboard (DESIGN §4.7, §11): what its page shows and its CSV files.

The page reads the stored report's ``dashboard`` key only (built with the report, see
:func:`qc.selectors.reports.dashboard_section`): one JSON key read in the database, never the
report's pairs, no IoU and no mask. Three small queries add what changes without the report
being rebuilt: the project's published guideline versions, how many images of each pq bin
are in the user's review queue, and which of the worst images the user may open in the
viewer. The CSV files of the pairs and of every image's pq read the stored rows
(``AgreementResult``, ``ImageAgreement``) in SQL.

Every count links to the list it counts: a histogram bin's count (every compared image) to
the image pq CSV of that range, and its count of images in the user's review queue to the
queue at that range; the images and pairs compared to their CSV files. A class, annotator or
guideline version (a name or a bar, not a count) opens the review queue filtered by it, and
a worst image the viewer.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Q
from django.urls import reverse

from projects.models import GuidelineVersion, Image, Project, Role
from projects.permissions import ADMIN, ROLE_ACTIONS, Action
from qc import charts
from qc.models import AgreementResult, AgreementSummary, ImageAgreement
from qc.selectors.queue import queue_images
from qc.selectors.reports import DASHBOARD_FORMAT, INTERVAL_MIN_IMAGES

CSV_NAMES = ("week", "class", "version", "heatmap", "annotators", "histogram", "pairs", "image-pq")


@dataclass(frozen=True)
class AgreementDashboard:
    """Everything the agreement dashboard shows. ``state`` is "ready", "none" (no image has
    two submissions compared yet) or "stale" (the stored report predates this dashboard's
    shape, :data:`qc.selectors.reports.DASHBOARD_FORMAT`); ``may_recompute`` says whether
    the user may rebuild it now from the project's Recompute page (leads, admins)."""

    state: str
    may_recompute: bool = False
    computed_at: datetime | None = None
    headline: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    weeks: dict[str, Any] = field(default_factory=dict)
    classes: dict[str, Any] = field(default_factory=dict)
    heatmap: dict[str, Any] = field(default_factory=dict)
    histogram: dict[str, Any] = field(default_factory=dict)
    annotators: list[dict[str, Any]] = field(default_factory=list)
    worst: list[dict[str, Any]] = field(default_factory=list)
    csv: dict[str, str] = field(default_factory=dict)


def fmt(value: float | None) -> str:
    """A figure of 0–1 as the page prints it: two decimals, "—" for none."""
    return "—" if value is None else f"{value:.2f}"


def fmt_interval(interval: Sequence[float] | None) -> str:
    return "no interval" if not interval else f"{interval[0]:.2f}–{interval[1]:.2f}"


def stored_dashboard(*, project: Project) -> tuple[datetime | None, dict[str, Any] | None]:
    """When the report was built and its ``dashboard`` key (None before any report, or when
    the report predates the key), read in one query without loading the rest."""
    row = (
        AgreementSummary.objects.filter(project=project)
        .values_list("computed_at", "report__dashboard")
        .first()
    )
    if row is None:
        return None, None
    return row[0], row[1]


def _queue(project: Project, **params: Any) -> str:
    base = reverse("review-queue", args=[project.slug])
    return f"{base}?{urlencode(params)}" if params else base


def _csv(project: Project, name: str, **params: Any) -> str:
    base = reverse("dashboard-csv", args=[project.slug, name])
    return f"{base}?{urlencode(params)}" if params else base


def version_words(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Each guideline version's figure in words, against the version before it of the same
    guideline: "Bubbles v2: pq 0.81 (0.78–0.84), up 0.06 from v1 (0.75); the intervals do
    not overlap." The rows come in the order of the versions (by title, then number), and
    each names its versions (``title``, ``number``); rows that mix versions or name none or
    several are said without a comparison."""
    words, previous = [], {}
    for row in rows:
        said = f"{row['key']}: pq {fmt(row['pq'])} ({_interval_words(row)})"
        single = row["versions"][0] if len(row["versions"]) == 1 else None
        before = previous.get(single["title"]) if single else None
        if before is not None and row["pq"] is not None and before["pq"] is not None:
            change = round(row["pq"], 2) - round(before["pq"], 2)
            direction = "up" if change > 0 else "down" if change < 0 else "no change"
            amount = f" {abs(change):.2f}" if change else ""
            said += (
                f", {direction}{amount} from v{before['number']} ({fmt(before['pq'])})"
                f"; {_overlap(row['pq_ci95'], before['pq_ci95'])}"
            )
        if single:
            previous[single["title"]] = {**row, "number": single["number"]}
        words.append(said + ".")
    return words


def _interval_words(row: dict[str, Any]) -> str:
    if row["pq_ci95"]:
        return fmt_interval(row["pq_ci95"])
    images = row["images"]
    return f"{images} image{'' if images == 1 else 's'}, too few for an interval"


def _overlap(a: Sequence[float] | None, b: Sequence[float] | None) -> str:
    if not a or not b:
        return f"with fewer than {INTERVAL_MIN_IMAGES} images, chance cannot be told from change"
    if a[0] > b[1] or b[0] > a[1]:
        return "the 95 % intervals do not overlap"
    return "the 95 % intervals overlap, so the change may be chance"


def _figure_rows(rows: Sequence[dict[str, Any]], label: str) -> list[dict[str, Any]]:
    return [
        {
            "label": row[label],
            "pq": fmt(row["pq"]),
            "interval": fmt_interval(row["pq_ci95"]),
            "mean_iou": fmt(row["mean_iou"]),
            "f1": fmt(row["f1"]),
            "boundary_iou": fmt(row["boundary_iou"]),
            "images": row["images"],
            "pairs": row["pairs"],
        }
        for row in rows
    ]


def _bars(rows: Sequence[dict[str, Any]], label: str, hrefs: Sequence[str]) -> list[dict]:
    return [
        {
            "label": row[label],
            "value": row["pq"],
            "interval": row["pq_ci95"],
            "text": f"{fmt(row['pq'])} ({fmt_interval(row['pq_ci95'])})",
            "title": f"{row[label]}: pq {fmt(row['pq'])}, 95 % interval "
            f"{fmt_interval(row['pq_ci95'])}, {row['images']} images",
            "href": href,
        }
        for row, href in zip(rows, hrefs, strict=True)
    ]


def _versions(project: Project, stored: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figure by guideline version, and the published versions nobody's compared work
    names yet (one query: they change without the report being rebuilt)."""
    ids = [[version["id"] for version in row["versions"]] for row in stored]
    named = {pk for row_ids in ids for pk in row_ids}
    waiting = [
        str(version)
        for version in GuidelineVersion.objects.filter(
            guideline__project=project, published_at__isnull=False
        )
        .exclude(pk__in=named)
        .select_related("guideline")
        .order_by("guideline__title", "number")
    ]
    hrefs = [_queue(project, version=row_ids[0]) if len(row_ids) == 1 else "" for row_ids in ids]
    rows = _figure_rows(stored, "key")
    for row, href in zip(rows, hrefs, strict=True):
        row["href"] = href
    return {
        "rows": rows,
        "words": version_words(stored),
        "waiting": waiting,
        "chart": charts.bar_chart(
            chart_id="version-chart",
            title="pq by guideline version, with 95 % intervals",
            bars=_bars(stored, "key", hrefs),
            label_width=170,
            width=720,
        )
        if stored
        else None,
    }


def _weeks(stored: Sequence[dict[str, Any]]) -> dict[str, Any]:
    texts = [
        f"{row['week']}: pq {fmt(row['pq'])} ({fmt_interval(row['pq_ci95'])}), "
        f"{row['images']} images"
        for row in stored
    ]
    chart = charts.interval_line_chart(
        chart_id="week-chart",
        title="pq by week, with 95 % intervals",
        weeks=[row["week"] for row in stored],
        values=[row["pq"] for row in stored],
        intervals=[row["pq_ci95"] for row in stored],
        texts=texts,
        frame=charts.Frame(520, 230, 48, 508, 16, 196),
        name="pq",
    )
    return {"rows": _figure_rows(stored, "week"), "chart": chart if stored else None}


def _classes(project: Project, stored: Sequence[dict[str, Any]]) -> dict[str, Any]:
    hrefs = [_queue(project, label_class=row["id"]) for row in stored]
    rows = _figure_rows(stored, "name")
    for row, href in zip(rows, hrefs, strict=True):
        row["href"] = href
    chart = charts.bar_chart(
        chart_id="class-chart",
        title="pq by label class, with 95 % intervals",
        bars=_bars(stored, "name", hrefs),
        label_width=110,
    )
    return {"rows": rows, "chart": chart if stored else None}


# The heatmap's name labels, in the user units of its view box: a 12-unit label's character
# is taken as 7.5 units wide (wider than most), a cell is 64 units square.
_LABEL_CHAR = 7.5
_LABEL_MAX_CHARS = 24
_HEATMAP_CELL = 64
_SIN45 = 0.7071


def _short(name: str) -> str:
    """A name as its label prints it: whole up to 24 characters (a username rarely is
    longer); its ``<title>`` always holds it whole."""
    return name if len(name) <= _LABEL_MAX_CHARS else name[: _LABEL_MAX_CHARS - 1] + "…"


def _fit_labels(chart: dict[str, Any]) -> dict[str, Any]:
    """The heatmap with room for its longest label: ``charts.heatmap`` drew it with
    :func:`_label_width` of row labels; a column label wider than its cell is turned 45°,
    and the view box grows above and to the right so that the turned labels are not cut
    (``min_y`` is its top, below 0 when it grew)."""
    longest = max((len(row["label"]) for row in chart["rows"]), default=0) * _LABEL_CHAR
    turned = longest > _HEATMAP_CELL - 8
    if not turned:
        return {**chart, "turned": False, "min_y": 0, "view_height": chart["height"]}
    reach = (longest + 12) * _SIN45  # the turned label's extent, its glyphs' height with it
    min_y = min(0.0, round(chart["label_y"] - reach - 4, 1))
    last_x = chart["rows"][-1]["x"]
    width = max(chart["width"], round(last_x + reach + 4, 1))
    return {
        **chart,
        "turned": True,
        "min_y": min_y,
        "width": width,
        "view_height": round(chart["height"] - min_y, 1),
    }


def _label_width(names: Sequence[str]) -> float:
    """Room left of the cells for the longest row label, at least the chart's default."""
    return max(96.0, max((len(_short(n)) for n in names), default=0) * _LABEL_CHAR + 16)


def _heatmap(project: Project, stored: Sequence[dict[str, Any]]) -> dict[str, Any]:
    names = sorted({c["a"] for c in stored} | {c["b"] for c in stored})
    cells = {}
    rows = []
    for cell in stored:
        href = _csv(project, "pairs", a=cell["a"], b=cell["b"])
        title = (
            f"{cell['a']} and {cell['b']}: pq {fmt(cell['pq'])} over {cell['images']} "
            f"shared image{'s' if cell['images'] != 1 else ''}"
        )
        cells[(cell["a"], cell["b"])] = {"value": cell["pq"], "title": title, "href": href}
        rows.append(
            {
                "a": cell["a"],
                "b": cell["b"],
                "pq": fmt(cell["pq"]),
                "mean_iou": fmt(cell["mean_iou"]),
                "f1": fmt(cell["f1"]),
                "images": cell["images"],
                "matched": cell["matched"],
                "href": href,
            }
        )
    chart = charts.heatmap(
        chart_id="pair-heatmap",
        title="pq of each pair of annotators, pooled over their shared images",
        names=names,
        cells=cells,
        cell=_HEATMAP_CELL,
        label_width=_label_width(names),
    )
    for row in chart["rows"]:
        row["label"] = _short(row["name"])
    return {"rows": rows, "chart": _fit_labels(chart) if stored else None}


def _bin_params(edges: Sequence[float], k: int) -> dict[str, str]:
    """The query of bin ``k``: ``pq_min ≤ pq < pq_max``, the last bin open above (1.0)."""
    lo = {"pq_min": f"{edges[k]:.2f}"}
    return lo if k == len(edges) - 2 else {**lo, "pq_max": f"{edges[k + 1]:.2f}"}


def _in_queue(*, user: Any, project: Project, edges: Sequence[float]) -> list[int]:
    """How many images of each bin are in ``user``'s review queue, in one query: the
    queue's own images (:func:`qc.selectors.queue.queue_images`) under the queue's own
    pq filter, so that each count is what its link lists."""
    bins = {}
    for k in range(len(edges) - 1):
        params = _bin_params(edges, k)
        within = Q(agreement__pq__gte=float(params["pq_min"]))
        if "pq_max" in params:
            within &= Q(agreement__pq__lt=float(params["pq_max"]))
        bins[f"bin_{k}"] = Count("pk", filter=within)
    images = Image.objects.filter(pk__in=queue_images(user=user, project=project).values("pk"))
    counts = images.aggregate(**bins)
    return [counts[f"bin_{k}"] for k in range(len(edges) - 1)]


def _histogram(project: Project, stored: dict[str, Any], queued: Sequence[int]) -> dict[str, Any]:
    """The histogram of every compared image's pq: a column and its count open the image
    pq CSV of that range (the same images); beside it, how many of them are in the user's
    review queue, opening the queue at that range."""
    edges, counts = stored["edges"], stored["counts"]
    columns, rows = [], []
    for k, count in enumerate(counts):
        lo, hi = edges[k], edges[k + 1]
        params = _bin_params(edges, k)
        href = _csv(project, "image-pq", **params)
        images = f"{count} image{'s' if count != 1 else ''}"
        title = (
            f"pq from {lo:.2f} {'up to' if 'pq_max' in params else 'to'} {hi:.2f}: {images}, "
            f"{queued[k]} in your review queue"
        )
        columns.append({"count": count, "title": title, "href": href if count else ""})
        rows.append(
            {
                "range": f"{lo:.2f}–{hi:.2f}",
                "count": count,
                "href": href,
                "queued": queued[k],
                "queue_href": _queue(project, **params) if queued[k] else "",
            }
        )
    chart = charts.column_chart(
        chart_id="pq-histogram",
        title="Images by their pq (bins of 0.05)",
        columns=columns,
        edges=edges,
    )
    return {"rows": rows, "chart": chart, "images": sum(counts), "queued": sum(queued)}


def _reviewable(*, user: Any, role: str, project: Project, ids: Sequence[int]) -> set[int]:
    """Which of the images ``ids`` the user may open in the viewer, in one query (the rule
    of :func:`projects.permissions.may_review_image`)."""
    if role not in (ADMIN, Role.LEAD, Role.REVIEWER) or not ids:
        return set()
    images = Image.objects.filter(project=project, pk__in=ids).exclude(tasks__annotator=user)
    if role == Role.REVIEWER:
        images = images.filter(review_assignments__reviewer=user, review_assignments__status="open")
    return set(images.values_list("pk", flat=True))


def _worst(
    *, user: Any, role: str, project: Project, stored: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    open_to = _reviewable(user=user, role=role, project=project, ids=[w["id"] for w in stored])
    return [
        {
            **row,
            "pq_text": fmt(row["pq"]),
            "mean_iou_text": fmt(row["mean_iou"]),
            "f1_text": fmt(row["f1"]),
            "href": (
                reverse("review-viewer", args=[project.slug, row["id"]])
                if row["id"] in open_to
                else ""
            ),
        }
        for row in stored
    ]


def _annotators(project: Project, stored: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    def px(value: float | None) -> str:
        return "—" if value is None else "0.0 px" if round(value, 1) == 0 else f"{value:+.1f} px"

    def share(value: float | None) -> str:
        return "—" if value is None else f"{round(100 * value)} %"

    return [
        {
            "username": row["username"],
            # Where a long name may wrap in a narrow table: after _ . - and @.
            "name_parts": re.split(r"(?<=[_.@-])(?=.)", row["username"]),
            "href": _queue(project, annotator=row["id"]) if row["id"] else "",
            "images": row["images"],
            "pq_vs_peers": fmt(row["pq_vs_peers"]),
            "pq_vs_consensus": fmt(row["pq_vs_consensus"]),
            "offset": px(row["boundary_offset_px"]),
            "offset_vs_consensus": px(row["boundary_offset_vs_consensus_px"]),
            "recall": [share(row[f"recall_{size}"]) for size in ("small", "medium", "large")],
            "merges": row["merges"],
            "splits": row["splits"],
            "description": row["description"] or "no style report yet",
        }
        for row in stored
    ]


def agreement_dashboard(*, user: Any, role: str, project: Project) -> AgreementDashboard:
    """The agreement dashboard of ``project`` for ``user`` (whose ``role`` may view it): the
    stored figures with their charts, tables and links. Four queries whatever the size of
    the project: the stored key, the published versions, how many images of each pq bin
    are in the user's review queue, and the worst images the user may open."""
    computed_at, stored = stored_dashboard(project=project)
    if computed_at is None or (stored is None and _no_pairs_yet(project)):
        return AgreementDashboard(state="none")
    if stored is None or stored.get("format") != DASHBOARD_FORMAT:
        return AgreementDashboard(
            state="stale",
            computed_at=computed_at,
            may_recompute=Action.MANAGE_PROJECT in ROLE_ACTIONS[role],
        )
    if not stored["summary"]["pairs"]:
        return AgreementDashboard(state="none", computed_at=computed_at)
    summary = stored["summary"]
    return AgreementDashboard(
        state="ready",
        computed_at=computed_at,
        headline={
            **{k: fmt(summary[k]) for k in ("pq", "mean_iou", "f1", "boundary_iou")},
            "interval": fmt_interval(summary["pq_ci95"]),
            "images": summary["images"],
            "pairs": summary["pairs"],
            "annotators": summary["annotators"],
            "images_href": _csv(project, "image-pq"),
            "pairs_href": _csv(project, "pairs"),
        },
        versions=_versions(project, stored["versions"]),
        weeks=_weeks(stored["weeks"]),
        classes=_classes(project, stored["classes"]),
        heatmap=_heatmap(project, stored["heatmap"]),
        histogram=_histogram(
            project,
            stored["histogram"],
            _in_queue(user=user, project=project, edges=stored["histogram"]["edges"]),
        ),
        annotators=_annotators(project, stored["annotators"]),
        worst=_worst(user=user, role=role, project=project, stored=stored["worst"]),
        csv={name.replace("-", "_"): _csv(project, name) for name in CSV_NAMES},
    )


def _no_pairs_yet(project: Project) -> bool:
    return not AgreementResult.objects.filter(image__project=project).exists()


# --- CSV files ---------------------------------------------------------------------------------

_FIGURES = ("pq", "pq_ci95_low", "pq_ci95_high", "mean_iou", "f1", "boundary_iou")


def _figures(row: dict[str, Any]) -> list[Any]:
    interval = row["pq_ci95"] or (None, None)
    return [row["pq"], interval[0], interval[1], row["mean_iou"], row["f1"], row["boundary_iou"]]


def _stored_csv(name: str, stored: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    if name in ("week", "class", "version"):
        key, label = {
            "week": ("weeks", "week"),
            "class": ("classes", "name"),
            "version": ("versions", "key"),
        }[name]
        return (
            [name, "images", "pairs", *_FIGURES],
            [[r[label], r["images"], r["pairs"], *_figures(r)] for r in stored[key]],
        )
    if name == "heatmap":
        header = [
            "annotator_a",
            "annotator_b",
            "images",
            "pairs",
            "matched",
            "pq",
            "mean_iou",
            "f1",
            "boundary_iou",
        ]
        return header, [[r[k] for k in ("a", "b", *header[2:])] for r in stored["heatmap"]]
    if name == "annotators":
        keys = [k for k in stored["annotators"][0]] if stored["annotators"] else ["username"]
        keys = [k for k in keys if k != "id"]
        return keys, [[r[k] for k in keys] for r in stored["annotators"]]
    edges, counts = stored["histogram"]["edges"], stored["histogram"]["counts"]
    return (
        ["pq_from", "pq_to", "images"],
        [[edges[k], edges[k + 1], count] for k, count in enumerate(counts)],
    )


def dashboard_csv(
    *, project: Project, name: str, params: dict[str, Any]
) -> tuple[list[str], list[list[Any]]] | None:
    """The header and rows of the dashboard's CSV file ``name`` (one of :data:`CSV_NAMES`),
    or None for another name. ``params`` are the view's validated query: ``pairs`` may be
    narrowed to two annotators (``a``, ``b``, usernames, in either order), ``image-pq`` to
    a pq range (``pq_min`` ≤ pq < ``pq_max``, floats or None), as a histogram bin opens it."""
    if name == "pairs":
        return _pairs_csv(project, params.get("a"), params.get("b"))
    if name == "image-pq":
        return _images_csv(project, params.get("pq_min"), params.get("pq_max"))
    if name not in CSV_NAMES:
        return None
    _, stored = stored_dashboard(project=project)
    if stored is None:
        stored = {
            "weeks": [],
            "classes": [],
            "versions": [],
            "heatmap": [],
            "annotators": [],
            "histogram": {"edges": [0.0, 1.0], "counts": [0]},
        }
    return _stored_csv(name, stored)


_PAIR_FIELDS = (
    "matched",
    "unmatched_a",
    "unmatched_b",
    "label_mismatch",
    "mean_iou",
    "f1",
    "pq",
    "boundary_iou",
)


def _pairs_csv(project: Project, a: str | None, b: str | None) -> tuple[list[str], list[list]]:
    rows = AgreementResult.objects.filter(image__project=project, label_class__isnull=True)
    if a and b:
        rows = rows.filter(
            Q(annotator_a__username=a, annotator_b__username=b)
            | Q(annotator_a__username=b, annotator_b__username=a)
        )
    header = ["image", "annotator_a", "annotator_b", *_PAIR_FIELDS]
    values = rows.order_by("image__name", "annotator_a__username", "annotator_b__username")
    return header, [
        list(row)
        for row in values.values_list(
            "image__name", "annotator_a__username", "annotator_b__username", *_PAIR_FIELDS
        )
    ]


def _images_csv(
    project: Project, pq_min: float | None, pq_max: float | None
) -> tuple[list[str], list[list]]:
    header = ["image", "annotators", "pq", "mean_iou", "f1", "boundary_iou"]
    rows = ImageAgreement.objects.filter(image__project=project, pq__isnull=False)
    if pq_min is not None:
        rows = rows.filter(pq__gte=pq_min)
    if pq_max is not None:
        rows = rows.filter(pq__lt=pq_max)
    values = rows.order_by("pq", "image__name").values_list("image__name", *header[1:])
    return header, [list(row) for row in values]
