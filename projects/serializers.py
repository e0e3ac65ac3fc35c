from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from projects.models import (
    Acknowledgement,
    Guideline,
    GuidelineVersion,
    Image,
    LabelClass,
    Membership,
    Project,
    Role,
    Task,
)
from projects.rules import RULES, RuleError, validate_rules


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "slug",
            "name",
            "description",
            "role",
            "overlap",
            "overlap_fraction",
            "match_iou",
            "boundary_px",
            "review_policy",
            "auto_accept_pq",
            "sample_rate",
            "consensus_method",
            "quorum",
            "created_at",
        ]

    def get_role(self, project: Project) -> str | None:
        """The requesting user's role; the view annotates it (no query per project)."""
        return getattr(project, "user_role", None)


class LabelClassSerializer(serializers.ModelSerializer):
    class Meta:
        model = LabelClass
        fields = ["id", "name", "colour", "match_iou"]


class ProjectCreateSerializer(serializers.ModelSerializer):
    """A new project; the slug's uniqueness is the service's answer (409), not a 400."""

    slug = serializers.SlugField(max_length=100)
    labels = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=100, default=list
    )

    class Meta:
        model = Project
        fields = [
            "slug",
            "name",
            "description",
            "labels",
            "overlap",
            "overlap_fraction",
            "match_iou",
            "boundary_px",
            "review_policy",
            "auto_accept_pq",
            "sample_rate",
            "consensus_method",
            "quorum",
        ]
        extra_kwargs = {
            "name": {"required": False},
            "overlap": {"min_value": 1, "max_value": 100},
            "boundary_px": {"min_value": 1, "max_value": 10_000},
            "overlap_fraction": {"min_value": 0, "max_value": 1},
            "match_iou": {"min_value": 0, "max_value": 1},
            "auto_accept_pq": {"min_value": 0, "max_value": 1},
            "sample_rate": {"min_value": 0, "max_value": 1},
            "quorum": {"min_value": 0, "max_value": 1},
        }

    def validate_labels(self, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise serializers.ValidationError("A label is listed twice.")
        return value


class ProjectUpdateSerializer(ProjectCreateSerializer):
    """Changed settings of a project (any subset); the slug and classes are not settings."""

    slug = None
    labels = None

    class Meta(ProjectCreateSerializer.Meta):
        fields = [f for f in ProjectCreateSerializer.Meta.fields if f not in ("slug", "labels")]


class LabelClassWriteSerializer(serializers.ModelSerializer):
    """A label class's name, colour (#rrggbb) and optional match IoU in (0, 1]."""

    name = serializers.CharField(max_length=100)
    colour = serializers.RegexField(r"^#[0-9a-fA-F]{6}$", max_length=7, required=False)
    match_iou = serializers.FloatField(min_value=0, max_value=1, allow_null=True, required=False)

    class Meta:
        model = LabelClass
        fields = ["name", "colour", "match_iou"]

    def validate_match_iou(self, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise serializers.ValidationError("Must be greater than 0.")
        return value


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["username", "role", "created_at"]


class MemberAddSerializer(serializers.Serializer):
    """An existing user (by username) and the role they get."""

    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)

    def validate_username(self, value: str) -> Any:
        user = get_user_model().objects.filter(username=value, is_active=True).first()
        if user is None:
            raise serializers.ValidationError(f"No user {value!r}.")
        return user


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class TaskSerializer(serializers.ModelSerializer):
    image = serializers.IntegerField(source="image_id", read_only=True)
    image_name = serializers.CharField(source="image.name", read_only=True)
    annotator = serializers.CharField(source="annotator.username", read_only=True)

    class Meta:
        model = Task
        fields = [
            "id",
            "image",
            "image_name",
            "annotator",
            "status",
            "due_date",
            "created_at",
            "updated_at",
        ]


class MembershipRemovedSerializer(serializers.Serializer):
    """What removing a member did with their open tasks."""

    moved = serializers.SerializerMethodField()
    cancelled = TaskSerializer(many=True)

    @extend_schema_field(
        inline_serializer(
            "MovedTask",
            {"cancelled": TaskSerializer(), "new": TaskSerializer()},
            many=True,
        )
    )
    def get_moved(self, result: Any) -> list[dict]:
        return [
            {"cancelled": TaskSerializer(old).data, "new": TaskSerializer(new).data}
            for old, new in result.moved
        ]


class TaskAssignSerializer(serializers.Serializer):
    """A batch of the project's images (by id) to give 1 or ``overlap`` annotators each,
    optionally only among the named annotators."""

    images = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=10_000,
    )
    annotators = serializers.ListField(
        child=serializers.CharField(max_length=150), required=False, max_length=1000
    )
    due_date = serializers.DateField(required=False, allow_null=True)
    seed = serializers.IntegerField(required=False, default=0, min_value=0, max_value=2**31 - 1)

    def validate_images(self, value: list[int]) -> list[Image]:
        if len(set(value)) != len(value):
            raise serializers.ValidationError("An image is listed twice.")
        project = self.context["project"]
        images = {image.pk: image for image in Image.objects.filter(project=project, pk__in=value)}
        missing = [pk for pk in value if pk not in images]
        if missing:
            raise serializers.ValidationError(
                f"Not images of this project: {', '.join(map(str, missing[:20]))}."
            )
        return [images[pk] for pk in value]

    def validate_annotators(self, value: list[str]) -> list[Any]:
        users = {u.username: u for u in get_user_model().objects.filter(username__in=value)}
        missing = [name for name in value if name not in users]
        if missing:
            raise serializers.ValidationError(f"No user {', '.join(missing[:20])}.")
        return [users[name] for name in dict.fromkeys(value)]


class TaskAssignPlanSerializer(serializers.Serializer):
    """The tasks an assignment created, and for each image of the batch who now has it."""

    created = TaskSerializer(many=True)
    images = serializers.ListField(
        child=inline_serializer(
            "AssignedImage",
            {
                "image": serializers.IntegerField(),
                "image_name": serializers.CharField(),
                "annotators": serializers.ListField(child=serializers.CharField()),
            },
        )
    )


class TaskReassignSerializer(serializers.Serializer):
    annotator = serializers.CharField(max_length=150)

    def validate_annotator(self, value: str) -> Any:
        user = get_user_model().objects.filter(username=value).first()
        if user is None:
            raise serializers.ValidationError(f"No user {value!r}.")
        return user


def _rules_field() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.DictField(), max_length=len(RULES), required=False
    )


def _checked_rules(value: list[dict]) -> list[dict]:
    try:
        return validate_rules(value)
    except RuleError as error:
        raise serializers.ValidationError(str(error)) from None


class GuidelineSerializer(serializers.ModelSerializer):
    published_number = serializers.IntegerField(read_only=True, allow_null=True)
    version_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Guideline
        fields = ["id", "title", "published_number", "version_count", "created_at"]


class GuidelineVersionSerializer(serializers.ModelSerializer):
    guideline = serializers.IntegerField(source="guideline_id", read_only=True)
    title = serializers.CharField(source="guideline.title", read_only=True)
    author = serializers.CharField(source="author.username", read_only=True)

    class Meta:
        model = GuidelineVersion
        fields = [
            "guideline",
            "title",
            "number",
            "body",
            "body_html",
            "change_summary",
            "rules",
            "author",
            "created_at",
            "published_at",
        ]


class GuidelineDraftSerializer(serializers.Serializer):
    """A new draft version: of the guideline ``title`` (created when missing) when posted to
    the project's guidelines; of that guideline when posted to its versions."""

    title = serializers.CharField(max_length=200, required=False)
    body = serializers.CharField(max_length=200_000, allow_blank=True, trim_whitespace=False)
    change_summary = serializers.CharField(max_length=500, allow_blank=True, required=False)
    rules = _rules_field()

    def validate_rules(self, value: list[dict]) -> list[dict]:
        return _checked_rules(value)

    def validate(self, data: dict) -> dict:
        if self.context.get("title_required") and not data.get("title"):
            raise serializers.ValidationError({"title": ["This field is required."]})
        return data


class GuidelineDraftUpdateSerializer(serializers.Serializer):
    body = serializers.CharField(
        max_length=200_000, allow_blank=True, trim_whitespace=False, required=False
    )
    change_summary = serializers.CharField(max_length=500, allow_blank=True, required=False)
    rules = _rules_field()

    def validate_rules(self, value: list[dict]) -> list[dict]:
        return _checked_rules(value)


class GuidelinePublishSerializer(serializers.Serializer):
    change_summary = serializers.CharField(
        max_length=500,
        allow_blank=True,
        required=False,
        help_text="What changed, for the annotators who acknowledge the version. Required: "
        "without it (or blank) the draft's saved summary is used, and a draft with none is a "
        "400 naming this field.",
    )


class AcknowledgementSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Acknowledgement
        fields = ["username", "acknowledged_at"]


class GuidelineDiffQuerySerializer(serializers.Serializer):
    """The two version numbers to compare (``from`` older, ``to`` newer, by convention)."""

    def get_fields(self) -> dict:
        # ``from`` is a Python keyword, so the fields are declared by name here.
        return {
            "from": serializers.IntegerField(min_value=1, max_value=2**31 - 1),
            "to": serializers.IntegerField(min_value=1, max_value=2**31 - 1),
        }


class GuidelineDiffSerializer(serializers.Serializer):
    body = serializers.CharField(help_text="Unified diff of the markdown body.")
    rules = serializers.CharField(help_text="Unified diff of the rules, one JSON rule a line.")
