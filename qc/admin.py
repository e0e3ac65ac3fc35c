"""The admin shows qc's data and changes none of it: submissions, reviews, labels and
their instances are the record of who did what (each write has its rules and audit event in
the services), and agreement, consensus and exports are computed from them. No add, change
or delete here."""

from django.contrib import admin

from projects.admin import ReadOnlyAdmin, ReadOnlyMixin
from qc.models import (
    AgreementResult,
    ConsensusInstance,
    Export,
    GoldScore,
    ImageAgreement,
    ImageLabel,
    ImageLabelHistory,
    ImportJob,
    Instance,
    InstanceFlag,
    LabelInstance,
    Review,
    ReviewAssignment,
    SendBack,
    Submission,
)


class InstanceInline(ReadOnlyMixin, admin.TabularInline):
    model = Instance
    fields = ["label_class", "area", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "perimeter"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Submission)
class SubmissionAdmin(ReadOnlyAdmin):
    list_display = ["task", "revision", "source_format", "submitted_at"]
    list_filter = ["source_format", "task__image__project"]
    search_fields = ["task__image__name", "task__annotator__username", "source_checksum"]
    list_select_related = ["task__image", "task__annotator"]
    inlines = [InstanceInline]


@admin.register(Instance)
class InstanceAdmin(ReadOnlyAdmin):
    list_display = ["id", "submission", "label_class", "area"]
    list_filter = ["label_class"]
    list_select_related = ["submission__task__image", "submission__task__annotator", "label_class"]


@admin.register(ReviewAssignment)
class ReviewAssignmentAdmin(ReadOnlyAdmin):
    list_display = ["image", "reviewer", "status", "assigned_by", "created_at"]
    list_filter = ["status", "image__project"]
    search_fields = ["image__name", "reviewer__username"]
    raw_id_fields = ["image"]


class InstanceFlagInline(ReadOnlyMixin, admin.TabularInline):
    model = InstanceFlag
    extra = 0
    raw_id_fields = ["instance"]


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ["submission", "reviewer", "decision", "created_at"]
    list_filter = ["decision", "submission__task__image__project"]
    search_fields = ["submission__task__image__name", "reviewer__username", "comment"]
    inlines = [InstanceFlagInline]


@admin.register(ImageLabel)
class ImageLabelAdmin(ReadOnlyAdmin):
    list_display = [
        "image",
        "submission",
        "from_consensus",
        "accepted_by",
        "is_gold",
        "accepted_at",
    ]
    list_filter = ["is_gold", "from_consensus", "image__project"]
    search_fields = ["image__name"]


@admin.register(ImageAgreement)
class ImageAgreementAdmin(ReadOnlyAdmin):
    list_display = ["image", "annotators", "pq", "mean_iou", "boundary_iou", "computed_at"]
    list_filter = ["image__project"]
    search_fields = ["image__name"]


@admin.register(AgreementResult)
class AgreementResultAdmin(ReadOnlyAdmin):
    list_display = [
        "image",
        "annotator_a",
        "annotator_b",
        "label_class",
        "matched",
        "pq",
        "mean_iou",
    ]
    list_filter = ["image__project", "label_class"]
    search_fields = ["image__name", "annotator_a__username", "annotator_b__username"]


@admin.register(ConsensusInstance)
class ConsensusInstanceAdmin(ReadOnlyAdmin):
    list_display = ["image", "label_class", "area", "support"]
    list_filter = ["image__project"]


@admin.register(Export)
class ExportAdmin(ReadOnlyAdmin):
    list_display = ["project", "format", "status", "created_by", "created_at", "sha256"]
    list_filter = ["format", "status", "project"]


@admin.register(LabelInstance)
class LabelInstanceAdmin(ReadOnlyAdmin):
    list_display = ["id", "label", "label_class", "area"]
    list_filter = ["label_class"]
    list_select_related = ["label__image", "label_class"]


@admin.register(ImageLabelHistory)
class ImageLabelHistoryAdmin(ReadOnlyAdmin):
    list_display = ["image", "submission", "from_consensus", "accepted_at", "replaced_at"]
    list_filter = ["image__project"]
    search_fields = ["image__name"]


@admin.register(SendBack)
class SendBackAdmin(ReadOnlyAdmin):
    list_display = ["image", "actor", "created_at"]
    list_filter = ["image__project"]
    search_fields = ["image__name"]


@admin.register(GoldScore)
class GoldScoreAdmin(ReadOnlyAdmin):
    list_display = ["submission", "label", "matched", "missed", "extra", "pq", "computed_at"]


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = ["project", "format", "source_name", "status", "created_by", "created_at"]
    list_filter = ["format", "status", "project"]
