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


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class LabelClassInline(admin.TabularInline):
    model = LabelClass
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "overlap", "overlap_fraction", "review_policy", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline, LabelClassInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__slug"]
    autocomplete_fields = ["user"]


@admin.register(LabelClass)
class LabelClassAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "colour", "match_iou"]
    list_filter = ["project"]
    search_fields = ["name"]


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "width", "height", "created_at"]
    list_filter = ["project"]
    search_fields = ["name", "sha256"]
    readonly_fields = ["sha256", "created_at"]


class GuidelineVersionInline(admin.TabularInline):
    model = GuidelineVersion
    extra = 0
    fields = ["number", "change_summary", "author", "published_at"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False


@admin.register(Guideline)
class GuidelineAdmin(admin.ModelAdmin):
    list_display = ["title", "project", "created_at"]
    list_filter = ["project"]
    search_fields = ["title"]
    inlines = [GuidelineVersionInline]


class GuidelineExampleInline(admin.TabularInline):
    model = GuidelineExample
    extra = 0
    raw_id_fields = ["image"]


@admin.register(GuidelineVersion)
class GuidelineVersionAdmin(admin.ModelAdmin):
    list_display = ["guideline", "number", "author", "published_at", "change_summary"]
    list_filter = ["guideline__project", "published_at"]
    search_fields = ["guideline__title", "change_summary", "body"]
    readonly_fields = ["body_html", "created_at"]
    inlines = [GuidelineExampleInline]


@admin.register(Acknowledgement)
class AcknowledgementAdmin(admin.ModelAdmin):
    list_display = ["user", "version", "acknowledged_at"]
    list_filter = ["version__guideline__project"]
    search_fields = ["user__username"]


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["image", "annotator", "status", "due_date", "updated_at"]
    list_filter = ["status", "image__project"]
    search_fields = ["image__name", "annotator__username"]
    list_select_related = ["image", "annotator"]
    raw_id_fields = ["image"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is written by services and never edited."""

    list_display = ["created_at", "actor", "verb", "object_type", "object_id", "project"]
    list_filter = ["verb", "project", "object_type"]
    search_fields = ["actor__username", "verb", "object_id"]
    date_hierarchy = "created_at"
    list_select_related = ["actor", "project"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
