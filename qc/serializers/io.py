"""Serializers of imports and exports."""

from typing import Any

from rest_framework import serializers

from projects.api_errors import json_depth_check, json_loads
from qc.formats import READERS
from qc.models import Export, ImportJob
from qc.services.exports import EXPORT_FORMATS


class ImportJobSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "format",
            "source_name",
            "options",
            "status",
            "progress",
            "message",
            "summary",
            "error",
            "created_by",
            "created_at",
            "finished_at",
        ]


class JSONObjectField(serializers.JSONField):
    """A JSON object, given as JSON or (in a form) as a JSON string; bad JSON, JSON nested
    too deep (:data:`projects.api_errors.MAX_JSON_DEPTH`) and anything but an object are a
    400."""

    default_error_messages = {
        "invalid": "Value must be valid JSON.",
        "not_object": "Value must be a JSON object.",
    }

    def to_internal_value(self, data: Any) -> dict:
        if isinstance(data, str | bytes) and (
            self.binary or getattr(data, "is_json_string", False)
        ):
            try:
                data = json_loads(data)
            except ValueError:
                self.fail("invalid")
        else:
            try:
                json_depth_check(data)
            except ValueError:
                self.fail("invalid")
        if not isinstance(data, dict):
            self.fail("not_object")
        return data


class ImportUploadSerializer(serializers.Serializer):
    """A multipart upload: the file (a zip for folder formats), its format and options."""

    file = serializers.FileField()
    format = serializers.ChoiceField(choices=sorted(READERS))
    options = JSONObjectField(
        required=False,
        default=dict,
        help_text="A JSON object: annotator, create_users, create_labels, "
        "labelers_saw_all_images and the format's reader options (e.g. pattern, foreground, "
        "instances for mask-png).",
    )


class ExportSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = [
            "id",
            "format",
            "filters",
            "status",
            "progress",
            "sha256",
            "counts",
            "manifest",
            "error",
            "created_by",
            "created_at",
            "finished_at",
            "download_url",
        ]

    def get_download_url(self, export: Export) -> str | None:
        if export.status != Export.Status.DONE:
            return None
        return f"/api/v1/projects/{export.project.slug}/exports/{export.pk}/download/"


class ExportFiltersSerializer(serializers.Serializer):
    """What an export holds: only these classes, only these images, only gold images."""

    classes = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=10_000
    )
    images = serializers.ListField(
        child=serializers.CharField(max_length=500), required=False, max_length=1_000_000
    )
    gold = serializers.BooleanField(required=False)

    def to_internal_value(self, data: Any) -> dict:
        if isinstance(data, dict):
            unknown = sorted(str(key) for key in data if key not in self.fields)
            if unknown:
                raise serializers.ValidationError(
                    {key: ["Unknown filter; filters are classes, images, gold."] for key in unknown}
                )
        return super().to_internal_value(data)


class ExportStartSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=EXPORT_FORMATS)
    include_unreviewed = serializers.BooleanField(default=False)
    polygons = serializers.BooleanField(default=False)
    filters = ExportFiltersSerializer(required=False, default=dict)
