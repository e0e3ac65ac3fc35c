"""Serializers of imports, exports and recomputes: every background job shows its run
(:data:`JOB_RUN_FIELDS`), read-only."""

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from projects.api_errors import json_depth_check, json_loads
from qc.formats import READERS
from qc.models import BackgroundJob, Export, ImportJob, JobStatus, Recompute
from qc.services.exports import EXPORT_FORMATS

# What every job says of its run: its status and progress, how it ended, how many times a
# worker claimed it, when it was created, claimed, last heard of and ended; whether it is
# stuck (running, no sign of life for MASKQC_JOB_STUCK_SECONDS) and, once failed, where to
# POST to queue it again.
JOB_RUN_FIELDS = [
    "status",
    "progress",
    "error",
    "attempts",
    "stuck",
    "created_by",
    "created_at",
    "started_at",
    "heartbeat_at",
    "finished_at",
    "retry_url",
]


class _JobSerializer(serializers.ModelSerializer):
    """The run of a background job (:data:`JOB_RUN_FIELDS`); ``retry_route`` names the
    API route that retries one of its kind."""

    retry_route: str
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    attempts = serializers.IntegerField(
        source="claims",
        read_only=True,
        help_text="Times a worker claimed it since it was created or last retried.",
    )
    stuck = serializers.BooleanField(
        read_only=True,
        help_text="Running, and no sign of life (heartbeat_at) for longer than the stuck "
        "time: its worker is probably gone; the watcher queues it again or fails it.",
    )
    retry_url = serializers.SerializerMethodField(
        help_text="Where to POST to queue a failed job again (leads and admins); null "
        "unless the job failed."
    )

    def get_retry_url(self, job: BackgroundJob) -> str | None:
        if job.status != JobStatus.FAILED:
            return None
        return reverse(self.retry_route, args=[job.project.slug, job.pk])


class ImportJobSerializer(_JobSerializer):
    retry_route = "api-import-retry"

    class Meta:
        model = ImportJob
        fields = ["id", "format", "source_name", "options", "message", "summary"]
        fields += JOB_RUN_FIELDS
        read_only_fields = fields


class RecomputeSerializer(_JobSerializer):
    """A recompute of the project's features and agreement: ``progress`` is the share of
    its parts done (``parts_done`` of ``parts_total``, each a task any worker may take)."""

    retry_route = "api-recompute-retry"

    class Meta:
        model = Recompute
        fields = ["id", "message", "summary", "parts_done", "parts_total"]
        fields += JOB_RUN_FIELDS
        read_only_fields = fields


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


class ExportSerializer(_JobSerializer):
    retry_route = "api-export-retry"
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = ["id", "format", "filters", "sha256", "counts", "manifest"]
        fields += JOB_RUN_FIELDS
        fields += ["download_url"]
        read_only_fields = fields

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
