"""An image's latest submissions as the agreement engine reads them, and the engine's view of
a stored instance (its stored features, no pixel decoded)."""

from django.db.models import Exists, OuterRef, QuerySet

from projects.models import Image, TaskStatus
from qc.agreement import InstanceFeatures, MeasuredInstance
from qc.models import Instance, Submission


def newest_revisions(submissions: QuerySet[Submission]) -> QuerySet[Submission]:
    """Of ``submissions``, each task's newest revision (as a filter, so it composes with
    any other and serves as a subquery)."""
    newer = Submission.objects.filter(task=OuterRef("task"), revision__gt=OuterRef("revision"))
    return submissions.filter(~Exists(newer))


def live_newest_revisions(submissions: QuerySet[Submission]) -> QuerySet[Submission]:
    """Of ``submissions``, the newest revision of every live (not cancelled) task."""
    return newest_revisions(submissions).exclude(task__status=TaskStatus.CANCELLED)


def latest_submissions(*, image: Image) -> list[Submission]:
    """The newest revision of every live task of the image, with instances and annotator."""
    submissions = (
        Submission.objects.filter(task__image=image)
        .exclude(task__status=TaskStatus.CANCELLED)
        .select_related("task__annotator")
        .prefetch_related("instances")
        .order_by("task_id", "-revision")
    )
    newest: dict[int, Submission] = {}
    for submission in submissions:
        newest.setdefault(submission.task_id, submission)
    return list(newest.values())


def stored_instance(
    instance: Instance, *, height: int, width: int, band_px: int
) -> MeasuredInstance:
    """An engine instance from a stored row; no pixel is decoded unless the project's band
    width changed since the instance was stored."""
    rle = {"size": [height, width], "counts": instance.rle.encode()}
    if instance.boundary_px != band_px:
        return MeasuredInstance.from_rle(
            instance.pk, instance.label_class_id, rle, boundary_px=band_px
        )
    features = InstanceFeatures(
        area=instance.area,
        bbox=(instance.bbox_x, instance.bbox_y, instance.bbox_w, instance.bbox_h),
        perimeter=instance.perimeter,
        boundary_rle={"size": [height, width], "counts": instance.boundary_rle.encode()},
    )
    return MeasuredInstance.from_features(instance.pk, instance.label_class_id, rle, features)
