"""Serializers of imports and exports."""

from rest_framework import serializers

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


class ImportUploadSerializer(serializers.Serializer):
    """A multipart upload: the file (a zip for folder formats), its format and options."""

    file = serializers.FileField()
    format = serializers.ChoiceField(choices=sorted(READERS))
    options = serializers.JSONField(
        required=False,
        default=dict,
        help_text="annotator, create_users, create_labels, labelers_saw_all_images and the "
        "format's reader options (e.g. pattern, foreground, instances for mask-png).",
    )

    def validate_options(self, value: object) -> dict:
        if not isinstance(value, dict):
            raise serializers.ValidationError("options must be a JSON object.")
        return value


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


class ExportStartSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=EXPORT_FORMATS)
    include_unreviewed = serializers.BooleanField(default=False)
    polygons = serializers.BooleanField(default=False)
    filters = serializers.JSONField(required=False, default=dict, help_text="classes, images, gold")
