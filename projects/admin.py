"""The admin shows projects' data and changes none of it: every write has rules (who may,
what it changes with it) and an audit event, and lives in the services, which the pages,
the API and the commands call. So every model here is read-only: no add, change or
delete."""

from django.contrib import admin

from projects.models import (
    Acknowledgement,
    AuditEvent,
    Guideline,
    GuidelineExample,
    GuidelineVersion,
    Image,
    LabelClass,
    Membership,
    Project,
    Task,
)


class ReadOnlyMixin:
    """No add, change or delete in the admin: a model's writes go through its services."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    pass


class MembershipInline(ReadOnlyMixin, admin.TabularInline):
    model = Membership
    extra = 0


class LabelClassInline(ReadOnlyMixin, admin.TabularInline):
    model = LabelClass
    extra = 0


@admin.register(Project)
class ProjectAdmin(ReadOnlyAdmin):
    list_display = ["name", "slug", "overlap", "overlap_fraction", "review_policy", "created_at"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline, LabelClassInline]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__slug"]


@admin.register(LabelClass)
class LabelClassAdmin(ReadOnlyAdmin):
    list_display = ["name", "project", "colour", "match_iou"]
    list_filter = ["project"]
    search_fields = ["name"]


@admin.register(Image)
class ImageAdmin(ReadOnlyAdmin):
    list_display = ["name", "project", "width", "height", "created_at"]
    list_filter = ["project"]
    search_fields = ["name", "sha256"]
    readonly_fields = ["sha256", "created_at"]


class GuidelineVersionInline(ReadOnlyMixin, admin.TabularInline):
    model = GuidelineVersion
    extra = 0
    fields = ["number", "change_summary", "author", "published_at"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False


@admin.register(Guideline)
class GuidelineAdmin(ReadOnlyAdmin):
    list_display = ["title", "project", "created_at"]
    list_filter = ["project"]
    search_fields = ["title"]
    inlines = [GuidelineVersionInline]


class GuidelineExampleInline(ReadOnlyMixin, admin.TabularInline):
    model = GuidelineExample
    extra = 0
    raw_id_fields = ["image"]


@admin.register(GuidelineVersion)
class GuidelineVersionAdmin(ReadOnlyAdmin):
    list_display = ["guideline", "number", "author", "published_at", "change_summary"]
    list_filter = ["guideline__project", "published_at"]
    search_fields = ["guideline__title", "change_summary", "body"]
    readonly_fields = ["body_html", "created_at"]
    inlines = [GuidelineExampleInline]


@admin.register(Acknowledgement)
class AcknowledgementAdmin(ReadOnlyAdmin):
    list_display = ["user", "version", "acknowledged_at"]
    list_filter = ["version__guideline__project"]
    search_fields = ["user__username"]


@admin.register(Task)
class TaskAdmin(ReadOnlyAdmin):
    list_display = ["image", "annotator", "status", "due_date", "updated_at"]
    list_filter = ["status", "image__project"]
    search_fields = ["image__name", "annotator__username"]
    list_select_related = ["image", "annotator"]
    raw_id_fields = ["image"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit trail is written by services and never edited."""

    list_display = ["created_at", "actor", "verb", "object_type", "object_id", "project"]
    list_filter = ["verb", "project", "object_type"]
    search_fields = ["actor__username", "verb", "object_id"]
    date_hierarchy = "created_at"
    list_select_related = ["actor", "project"]
