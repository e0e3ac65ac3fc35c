"""Serializers of the workflow: images with their QC state, submissions (out, and in as
JSON instances or an uploaded file), review decisions, labels, gold, send-back, an image's
agreement and the audit log."""

import math
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from rest_framework import serializers

from projects.models import AuditEvent, Image, LabelClass
from qc import masks
from qc.formats import READERS
from qc.models import GoldScore, ReasonCode, Review, Submission
from qc.selectors import API_QC_STATES
from qc.services.submissions import InstanceInput


def related(obj: Any, name: str) -> Any:
    """A reverse one-to-one already selected with the row, or None when there is none."""
    try:
        return getattr(obj, name)
    except ObjectDoesNotExist:
        return None


def _rle_out(row: Any, image: Image) -> dict[str, Any]:
    return {"size": [image.height, image.width], "counts": row.rle}


def _bbox(row: Any) -> list[int]:
    return [row.bbox_x, row.bbox_y, row.bbox_w, row.bbox_h]


# ------------------------------------------------------------------------------- images


class ImageSerializer(serializers.ModelSerializer):
    qc_state = serializers.ChoiceField(choices=API_QC_STATES, read_only=True)
    pq = serializers.SerializerMethodField()
    annotators = serializers.SerializerMethodField()
    reviewer = serializers.CharField(source="reviewer_name", read_only=True, allow_null=True)
    label = serializers.SerializerMethodField()
    pixels_url = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
            "id",
            "name",
            "width",
            "height",
            "sha256",
            "metadata",
            "qc_state",
            "pq",
            "annotators",
            "reviewer",
            "label",
            "pixels_url",
        ]

    def get_pq(self, image: Image) -> float | None:
        agreement = related(image, "agreement")
        return None if agreement is None else agreement.pq

    def get_annotators(self, image: Image) -> int | None:
        agreement = related(image, "agreement")
        return None if agreement is None else agreement.annotators

    def get_label(self, image: Image) -> dict[str, Any] | None:
        label = related(image, "label")
        if label is None:
            return None
        return {
            "submission": label.submission_id,
            "from_consensus": label.from_consensus,
            "gold": label.is_gold,
            "sent_back": label.sent_back,
            "accepted_at": label.accepted_at,
        }

    def get_pixels_url(self, image: Image) -> str | None:
        """Where the pixels are served after the permission check (None: none stored)."""
        if not image.file:
            return None
        return f"/api/v1/projects/{image.project.slug}/images/{image.pk}/pixels/"


class TaskBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    annotator = serializers.CharField(source="annotator.username")
    status = serializers.CharField()
    due_date = serializers.DateField(allow_null=True)
    rework_rounds = serializers.IntegerField()


class ImagesUploadSerializer(serializers.Serializer):
    files = serializers.ListField(
        child=serializers.FileField(), min_length=1, max_length=500, help_text="Image files."
    )


# -------------------------------------------------------------------------- submissions


class ReviewSerializer(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer.username")

    class Meta:
        model = Review
        fields = ["id", "decision", "reviewer", "reasons", "comment", "created_at"]


class SubmissionSerializer(serializers.ModelSerializer):
    image = serializers.IntegerField(source="task.image_id")
    image_name = serializers.CharField(source="task.image.name")
    annotator = serializers.CharField(source="task.annotator.username")
    imported_by = serializers.CharField(source="imported_by.username", allow_null=True)
    instance_count = serializers.IntegerField()
    rework_rounds = serializers.IntegerField()
    review = serializers.SerializerMethodField()
    gold_score = serializers.SerializerMethodField()

    class Meta:
        model = Submission
        fields = [
            "id",
            "task",
            "image",
            "image_name",
            "annotator",
            "revision",
            "source_format",
            "source_name",
            "imported_by",
            "submitted_at",
            "instance_count",
            "rule_violations",
            "rework_rounds",
            "review",
            "gold_score",
        ]

    def get_review(self, submission: Submission) -> dict[str, Any] | None:
        review = related(submission, "review")
        return None if review is None else ReviewSerializer(review).data

    def get_gold_score(self, submission: Submission) -> dict[str, Any] | None:
        score = related(submission, "gold_score")
        if score is None:
            return None
        return {
            "matched": score.matched,
            "missed": score.missed,
            "extra": score.extra,
            "mean_iou": score.mean_iou,
            "pq": score.pq,
            "match_iou": score.match_iou,
        }


class SubmissionDetailSerializer(SubmissionSerializer):
    instances = serializers.SerializerMethodField()
    flags = serializers.SerializerMethodField()

    class Meta(SubmissionSerializer.Meta):
        fields = [*SubmissionSerializer.Meta.fields, "instances", "flags"]

    def get_instances(self, submission: Submission) -> list[dict[str, Any]]:
        image = submission.task.image
        return [
            {
                "id": i.pk,
                "label_class": i.label_class.name,
                "rle": _rle_out(i, image),
                "bbox": _bbox(i),
                "area": i.area,
                "polygon": i.polygon,
                "attributes": i.attributes,
            }
            for i in submission.instances.all()
        ]

    def get_flags(self, submission: Submission) -> list[dict[str, Any]]:
        review = related(submission, "review")
        if review is None:
            return []
        return [
            {"instance": f.instance_id, "reason": f.reason, "note": f.note}
            for f in review.flags.all()
        ]


class RleInputSerializer(serializers.Serializer):
    size = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=2, max_length=2
    )
    counts = serializers.JSONField(help_text="Compressed counts string, or a list of run lengths.")


class InstanceInputSerializer(serializers.Serializer):
    """One instance: its class by name, and its mask as COCO RLE (``rle``: compressed
    counts string or uncompressed run lengths) or polygons (``polygon``: flat
    ``[x1, y1, x2, y2, ...]`` parts in pixels, with optional ``holes``)."""

    label_class = serializers.CharField(max_length=100)
    rle = RleInputSerializer(required=False)
    polygon = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=6, max_length=20000),
        required=False,
        min_length=1,
        max_length=100,
    )
    holes = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=6, max_length=20000),
        required=False,
        default=list,
        max_length=100,
    )
    attributes = serializers.DictField(required=False, default=dict)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if ("rle" in data) == ("polygon" in data):
            raise serializers.ValidationError("Give the mask as exactly one of rle or polygon.")
        if data["holes"] and "polygon" not in data:
            raise serializers.ValidationError({"holes": "Holes go with a polygon."})
        return data


class SubmissionCreateSerializer(serializers.Serializer):
    """A submission for one's own task as JSON instances; the context holds the project."""

    task = serializers.IntegerField(min_value=1)
    instances = InstanceInputSerializer(many=True)

    def validate_instances(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        limit = settings.MASKQC_MAX_INSTANCES_PER_IMAGE
        if len(value) > limit:
            raise serializers.ValidationError(f"At most {limit} instances per image.")
        return value


def instance_inputs(
    items: list[dict[str, Any]], *, image: Image, classes: dict[str, LabelClass]
) -> list[InstanceInput]:
    """The validated instances as the service takes them, each checked against the image
    (its size, a polygon inside its bounds, a mask with at least one pixel) and the
    project's classes; raises a ValidationError naming the instance."""
    inputs, errors = [], {}
    for index, item in enumerate(items):
        try:
            inputs.append(_instance_input(item, image=image, classes=classes))
        except (serializers.ValidationError, masks.MaskError) as error:
            detail = error.detail if isinstance(error, serializers.ValidationError) else str(error)
            errors[str(index)] = detail
    if errors:
        raise serializers.ValidationError({"instances": errors})
    return inputs


def _instance_input(
    item: dict[str, Any], *, image: Image, classes: dict[str, LabelClass]
) -> InstanceInput:
    label_class = classes.get(item["label_class"])
    if label_class is None:
        raise serializers.ValidationError(
            f"Class {item['label_class']!r} is not in {image.project.slug}."
        )
    height, width = image.height, image.width
    polygon = None
    if "rle" in item:
        size, counts = item["rle"]["size"], item["rle"]["counts"]
        if list(size) != [height, width]:
            raise serializers.ValidationError(
                f"rle size {size} is not the image's [{height}, {width}] (height, width)."
            )
        if isinstance(counts, str):
            rle = masks.rle_from_string(counts, height=height, width=width)
        elif isinstance(counts, list) and all(
            isinstance(c, int) and not isinstance(c, bool) for c in counts
        ):
            rle = masks.rle_from_uncompressed(counts, height=height, width=width)
        else:
            raise serializers.ValidationError(
                "rle counts must be a compressed string or a list of whole numbers."
            )
    else:
        for part in [*item["polygon"], *item["holes"]]:
            _check_polygon(part, height=height, width=width)
        rle = masks.rle_from_polygons(
            item["polygon"], height=height, width=width, holes=item["holes"]
        )
        polygon = {"parts": item["polygon"], "holes": item["holes"]}
    if masks.rle_area(rle) == 0:
        raise serializers.ValidationError("The mask has no pixel.")
    return InstanceInput(
        label_class=label_class, rle=rle, polygon=polygon, attributes=item["attributes"]
    )


def _check_polygon(part: list[float], *, height: int, width: int) -> None:
    if len(part) % 2:
        raise serializers.ValidationError("A polygon is a flat list of x, y pairs.")
    for k, value in enumerate(part):
        bound = width if k % 2 == 0 else height
        if not math.isfinite(value) or not 0 <= value <= bound:
            raise serializers.ValidationError(
                f"Polygon point {value} lies outside the image (0..{width} x 0..{height})."
            )


class SubmissionUploadSerializer(serializers.Serializer):
    """An uploaded file of one's own work, in any importable format (a zip for folders)."""

    file = serializers.FileField()
    format = serializers.ChoiceField(choices=sorted(READERS))
    options = serializers.JSONField(
        required=False, default=dict, help_text="The format's reader options."
    )

    def validate_options(self, value: object) -> dict:
        if not isinstance(value, dict):
            raise serializers.ValidationError("options must be a JSON object.")
        return value


# ------------------------------------------------------------------------------ reviews


class FlagInputSerializer(serializers.Serializer):
    instance = serializers.IntegerField(min_value=1)
    reason = serializers.ChoiceField(choices=ReasonCode.choices)
    note = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class ReviewDecideSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Review.Decision.choices)
    reasons = serializers.ListField(
        child=serializers.ChoiceField(choices=ReasonCode.choices),
        required=False,
        default=list,
        max_length=len(ReasonCode.values),
    )
    comment = serializers.CharField(max_length=5000, required=False, default="", allow_blank=True)
    flags = FlagInputSerializer(many=True, required=False, default=list, max_length=1000)


class ReviewAssignSerializer(serializers.Serializer):
    reviewer = serializers.CharField(
        max_length=150,
        required=False,
        allow_null=True,
        default=None,
        help_text="Username; empty: the least-loaded reviewer who did not annotate the image.",
    )


class ReviewAssignmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    image = serializers.IntegerField(source="image_id")
    reviewer = serializers.CharField(source="reviewer.username")
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class LabelSetSerializer(serializers.Serializer):
    submission = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    consensus = serializers.BooleanField(required=False, default=False)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if (data.get("submission") is None) == (not data["consensus"]):
            raise serializers.ValidationError(
                "Choose either one submission or the consensus as the label."
            )
        return data


class GoldSerializer(serializers.Serializer):
    gold = serializers.BooleanField()


class SendBackSerializer(serializers.Serializer):
    reasons = serializers.ListField(
        child=serializers.ChoiceField(choices=ReasonCode.choices),
        min_length=1,
        max_length=len(ReasonCode.values),
    )
    comment = serializers.CharField(max_length=5000, required=False, default="", allow_blank=True)


class SendBackOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    image = serializers.IntegerField(source="image_id")
    actor = serializers.CharField(source="actor.username")
    reasons = serializers.ListField(child=serializers.CharField())
    comment = serializers.CharField()
    created_at = serializers.DateTimeField()


class LabelOutSerializer(serializers.Serializer):
    image = serializers.IntegerField(source="image_id")
    submission = serializers.IntegerField(source="submission_id", allow_null=True)
    from_consensus = serializers.BooleanField()
    gold = serializers.BooleanField(source="is_gold")
    sent_back = serializers.BooleanField()
    accepted_by = serializers.CharField(source="accepted_by.username", allow_null=True)
    accepted_at = serializers.DateTimeField()


class LabelDetailSerializer(LabelOutSerializer):
    """The label in force, a consensus label's instances, and the labels it replaced."""

    instances = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()

    def get_instances(self, label: Any) -> list[dict[str, Any]]:
        return [
            {
                "id": i.pk,
                "label_class": i.label_class.name,
                "rle": _rle_out(i, label.image),
                "bbox": _bbox(i),
                "area": i.area,
            }
            for i in label.instances.all()
        ]

    def get_history(self, label: Any) -> list[dict[str, Any]]:
        return [
            {
                "submission": h.submission_id,
                "from_consensus": h.from_consensus,
                "instances": len(h.instances),
                "accepted_by": h.accepted_by.username if h.accepted_by else None,
                "accepted_at": h.accepted_at,
                "was_gold": h.was_gold,
                "replaced_by": h.replaced_by.username if h.replaced_by else None,
                "replaced_at": h.replaced_at,
            }
            for h in label.history.all()
        ]


# ---------------------------------------------------------------------------- agreement


def image_agreement_data(*, image: Image, found: dict[str, Any]) -> dict[str, Any]:
    """An image's agreement as the API shows it: the summary, the annotator × annotator
    matrix of pooled pq (and per class), every pair's metrics, and the consensus."""
    results = found["results"]
    names = sorted(
        {r.annotator_a.username for r in results} | {r.annotator_b.username for r in results}
    )
    index = {name: k for k, name in enumerate(names)}

    def empty() -> list[list[float | None]]:
        return [[1.0 if i == j else None for j in names] for i in names]

    pooled, by_class, pairs = empty(), {}, []
    for r in results:
        a, b = index[r.annotator_a.username], index[r.annotator_b.username]
        cls = None if r.label_class is None else r.label_class.name
        matrix = pooled if cls is None else by_class.setdefault(cls, empty())
        matrix[a][b] = matrix[b][a] = r.pq
        pairs.append(
            {
                "annotator_a": r.annotator_a.username,
                "annotator_b": r.annotator_b.username,
                "label_class": cls,
                "submission_a": r.submission_a_id,
                "submission_b": r.submission_b_id,
                "matched": r.matched,
                "unmatched_a": r.unmatched_a,
                "unmatched_b": r.unmatched_b,
                "label_mismatch": r.label_mismatch,
                "mean_iou": r.mean_iou,
                "f1": r.f1,
                "pq": r.pq,
                "boundary_iou": r.boundary_iou,
            }
        )
    summary = found["summary"]
    return {
        "image": image.pk,
        "name": image.name,
        "summary": None
        if summary is None
        else {
            "annotators": summary.annotators,
            "pq": summary.pq,
            "mean_iou": summary.mean_iou,
            "f1": summary.f1,
            "boundary_iou": summary.boundary_iou,
            "consensus_method": summary.consensus_method,
            "computed_at": summary.computed_at,
        },
        "annotators": names,
        "matrix": {"pooled": pooled, "by_class": by_class},
        "pairs": pairs,
        "consensus": [
            {
                "id": c.pk,
                "label_class": c.label_class.name,
                "rle": _rle_out(c, image),
                "bbox": _bbox(c),
                "area": c.area,
                "support": c.support,
            }
            for c in found["consensus"]
        ],
    }


class GoldScoreSerializer(serializers.ModelSerializer):
    image = serializers.IntegerField(source="submission.task.image_id")
    image_name = serializers.CharField(source="submission.task.image.name")
    annotator = serializers.CharField(source="submission.task.annotator.username")
    revision = serializers.IntegerField(source="submission.revision")

    class Meta:
        model = GoldScore
        fields = [
            "submission",
            "image",
            "image_name",
            "annotator",
            "revision",
            "matched",
            "missed",
            "extra",
            "mean_iou",
            "pq",
            "match_iou",
            "computed_at",
        ]


# -------------------------------------------------------------------------------- audit


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "actor",
            "verb",
            "object_type",
            "object_id",
            "before",
            "after",
            "created_at",
        ]
