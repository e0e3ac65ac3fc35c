"""Rewrite stored instance features after the code that derives them changed (DESIGN §5).

An instance's area, bbox, perimeter and boundary band are computed once, when it is stored,
so that agreement never decodes pixels to compare two instances. When a release fixes that
computation (or the consensus rule), the stored values and the results built on them are
stale: :func:`instance_features_recompute` brings a project up to date, image by image.

The mask itself stays immutable: the database refuses every UPDATE of qc_instance except one
that changes only the feature columns, inside :func:`_features_rewritable` (migration
qc.0005 describes the triggers).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet

from projects.audit import audit
from projects.models import Image, Project
from projects.progress import ProgressCallback, ProgressThrottle
from qc import masks
from qc.agreement import boundary_width, instance_features
from qc.models import ConsensusInstance, Instance
from qc.services.agreement import agreement_summary_update, agreement_update_for_image
from qc.text import counted

FEATURE_FIELDS = (
    "area",
    "bbox_x",
    "bbox_y",
    "bbox_w",
    "bbox_h",
    "perimeter",
    "boundary_rle",
    "boundary_px",
)
# The SQLite trigger refusing every UPDATE of qc_instance (qc.0002); the service lifts it
# around its rewrite of one image's feature columns, inside that image's transaction (see
# qc.0005).
_SQLITE_GUARD = "qc_instance_immutable"


@dataclass
class FeaturesRecomputeSummary:
    """What :func:`instance_features_recompute` did to one project.

    ``images`` and ``instances`` were checked (images that failed are not counted: nothing of
    theirs changed); ``images_recomputed`` had their agreement stored anew (two or more
    submissions); ``consensus_changed`` counts consensus instances whose mask or class
    changed, added or removed; ``failed`` maps image names to the error that rolled them back.
    """

    project: str
    images: int = 0
    instances: int = 0
    instances_changed: int = 0
    images_recomputed: int = 0
    consensus_changed: int = 0
    failed: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        """The one-line summary the command prints."""
        text = (
            f"{self.project}: {counted(self.instances, 'instance')} on "
            f"{counted(self.images, 'image')} checked, {self.instances_changed} changed; "
            "agreement recomputed on "
            f"{counted(self.images_recomputed, 'image')}, "
            f"{counted(self.consensus_changed, 'consensus instance')} changed"
        )
        if self.failed:
            text += f"; {counted(len(self.failed), 'image')} failed, left unchanged"
        return text + "."


def images_with_submissions(*, project: Project) -> list[int]:
    """The ids, ascending, of the images of ``project`` that have a submission: those
    :func:`instance_features_recompute` goes through."""
    return list(_with_submissions(project).values_list("pk", flat=True))


def _with_submissions(project: Project) -> QuerySet[Image]:
    return (
        Image.objects.filter(project=project, tasks__submissions__isnull=False)
        .distinct()
        .order_by("pk")
    )


def instance_features_recompute(
    *,
    project: Project,
    all_images: bool = False,
    image_ids: Collection[int] | None = None,
    rebuild_report: bool = True,
    progress: ProgressCallback | None = None,
) -> FeaturesRecomputeSummary:
    """Recompute the features of every stored instance of ``project`` and rewrite those that
    differ from what is stored; then recompute the agreement and consensus of the images
    whose instances changed (every image with two or more submissions when ``all_images``,
    for a release that changed the consensus rule), and the project report once at the end.

    Features are recomputed from each instance's RLE with the band width the project uses
    now for its image (``boundary_px``, or 2 % of the image diagonal), so a changed project
    band width is brought in too. Every instance of the image counts, older revisions too.

    One transaction per image, with the image row locked as ``agreement_update_for_image``
    locks it: its instance rewrites, its audit event and its agreement commit together or
    not at all. An image that fails is rolled back, named in ``failed`` with the error, and
    the next image is attempted; a later run retries it. Running it again changes nothing.

    ``image_ids`` limits the run to those of the images (a part of a recompute fanned out
    over workers, :mod:`qc.services.recompute`); ``rebuild_report=False`` leaves the project
    report to the caller, who rebuilds it once after every part.
    """
    report = ProgressThrottle(progress)
    summary = FeaturesRecomputeSummary(project=project.slug)
    selected = _with_submissions(project)
    if image_ids is not None:
        selected = selected.filter(pk__in=list(image_ids))
    images = list(selected.values_list("pk", "name"))
    touched_agreement = False
    for done, (image_id, name) in enumerate(images):
        report(done / max(1, len(images)), name)
        try:
            outcome = _recompute_image(image_id=image_id, all_images=all_images)
        except Exception as error:  # one bad image must not stop the repair of the others
            summary.failed[name] = f"{type(error).__name__}: {error}"
            continue
        summary.images += 1
        summary.instances += outcome.instances
        summary.instances_changed += outcome.instances_changed
        if outcome.agreement_updated:
            touched_agreement = True
        if outcome.agreement_stored:
            summary.images_recomputed += 1
        summary.consensus_changed += outcome.consensus_changed
    if touched_agreement and rebuild_report:
        report(1.0, "report")
        agreement_summary_update(project_id=project.pk)
    report(1.0, "done")
    return summary


@dataclass(frozen=True)
class _ImageOutcome:
    instances: int
    instances_changed: int
    agreement_updated: bool
    agreement_stored: bool
    consensus_changed: int


@transaction.atomic
def _recompute_image(*, image_id: int, all_images: bool) -> _ImageOutcome:
    image = Image.objects.select_for_update(of=("self",)).select_related("project").get(pk=image_id)
    band_px = boundary_width(
        height=image.height, width=image.width, boundary_px=image.project.boundary_px
    )
    instances = list(
        Instance.objects.filter(submission__task__image=image)
        .only("pk", "rle", *FEATURE_FIELDS)
        .order_by("pk")
    )
    changed: dict[int, list[str]] = {}
    for instance in instances:
        fields = _refresh(instance, height=image.height, width=image.width, band_px=band_px)
        if fields:
            changed[instance.pk] = fields
    if changed:
        with _features_rewritable():
            Instance.objects.bulk_update(
                [i for i in instances if i.pk in changed], FEATURE_FIELDS, batch_size=500
            )
        audit(
            actor=None,
            verb="image.features_recompute",
            obj=image,
            project=image.project,
            after={"boundary_px": band_px, "instances": {str(k): v for k, v in changed.items()}},
        )
    if not (changed or all_images):
        return _ImageOutcome(len(instances), 0, False, False, 0)
    before = _consensus_of(image_id)
    agreement = agreement_update_for_image(image_id=image_id)
    return _ImageOutcome(
        instances=len(instances),
        instances_changed=len(changed),
        agreement_updated=True,
        agreement_stored=agreement is not None,
        consensus_changed=_consensus_difference(before, _consensus_of(image_id)),
    )


def _refresh(instance: Instance, *, height: int, width: int, band_px: int) -> list[str]:
    """Set the instance's features to freshly computed ones; the names of those that differ.

    Floats are compared exactly: the stored perimeter came from this same deterministic code
    (or an older version of it) and a float8 round-trips exactly through PostgreSQL and
    SQLite, so any difference is a real change, and storing exactly what was compared makes
    a second run find nothing. A tolerance would leave a fix smaller than it unapplied.
    """
    rle = {"size": [height, width], "counts": instance.rle.encode()}
    features = instance_features(rle, boundary_px=band_px)
    x, y, w, h = features.bbox
    fresh: dict[str, Any] = {
        "area": features.area,
        "bbox_x": x,
        "bbox_y": y,
        "bbox_w": w,
        "bbox_h": h,
        "perimeter": features.perimeter,
        "boundary_rle": masks.rle_to_string(features.boundary_rle),
        "boundary_px": band_px,
    }
    fields = [name for name, value in fresh.items() if getattr(instance, name) != value]
    for name in fields:
        setattr(instance, name, fresh[name])
    return fields


@contextlib.contextmanager
def _features_rewritable() -> Iterator[None]:
    """Lift the database's refusal of instance feature updates for the enclosed statements.

    Must run inside a transaction. PostgreSQL: ``maskqc.rewrite_features`` is set for the
    transaction only, and the trigger still refuses a change of any other column. SQLite:
    the trigger refusing every UPDATE is dropped and re-created from its own stored SQL; the
    trigger refusing an UPDATE of the mask columns stays. No ``finally``: when the enclosed
    statements fail, the enclosing transaction's rollback restores the guard (and on
    PostgreSQL no statement may run before it).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("instance features are rewritten inside a transaction only")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL maskqc.rewrite_features = 'on'")
            yield
            cursor.execute("SET LOCAL maskqc.rewrite_features = 'off'")
        elif connection.vendor == "sqlite":
            cursor.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = %s",
                [_SQLITE_GUARD],
            )
            row = cursor.fetchone()
            if row is None:
                raise RuntimeError(f"trigger {_SQLITE_GUARD} is missing: run migrate")
            cursor.execute(f"DROP TRIGGER {_SQLITE_GUARD}")
            yield
            cursor.execute(row[0])
        else:
            yield


def _consensus_of(image_id: int) -> dict[tuple[int, ...], tuple[int, str]]:
    """The image's stored consensus, keyed by the instances of each cluster (disjoint)."""
    return {
        tuple(sorted(members)): (label_class_id, rle)
        for members, label_class_id, rle in ConsensusInstance.objects.filter(
            image_id=image_id
        ).values_list("members", "label_class_id", "rle")
    }


def _consensus_difference(
    before: dict[tuple[int, ...], tuple[int, str]], after: dict[tuple[int, ...], tuple[int, str]]
) -> int:
    """Consensus instances changed (same cluster, other mask or class), added or removed."""
    changed = sum(1 for key in before.keys() & after.keys() if before[key] != after[key])
    return changed + len(before.keys() ^ after.keys())
