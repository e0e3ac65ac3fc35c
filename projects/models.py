"""Projects, their members, label classes, images, guidelines and annotation tasks."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from projects.files import image_upload_to


class Role(models.TextChoices):
    LEAD = "lead", "Lead"
    REVIEWER = "reviewer", "Reviewer"
    ANNOTATOR = "annotator", "Annotator"


class ReviewPolicy(models.TextChoices):
    ALL = "all", "Review every image"
    BELOW_THRESHOLD = "below_threshold", "Review images below the auto-accept threshold"
    SAMPLE = "sample", "Below threshold plus a random sample"


class ConsensusMethod(models.TextChoices):
    MAJORITY = "majority", "Pixel majority vote"
    STAPLE = "staple", "STAPLE"


class Project(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    overlap = models.PositiveSmallIntegerField(
        default=2, help_text="Annotators per overlapped image."
    )
    overlap_fraction = models.FloatField(
        default=1.0, help_text="Share of images that get `overlap` annotators; the rest get one."
    )
    match_iou = models.FloatField(default=0.5, help_text="IoU at which two instances match.")
    boundary_px = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Boundary band width; empty means 2 % of the diagonal."
    )
    review_policy = models.CharField(
        max_length=20, choices=ReviewPolicy.choices, default=ReviewPolicy.ALL
    )
    auto_accept_pq = models.FloatField(default=0.85)
    sample_rate = models.FloatField(default=0.1)
    consensus_method = models.CharField(
        max_length=10, choices=ConsensusMethod.choices, default=ConsensusMethod.MAJORITY
    )
    quorum = models.FloatField(default=0.5)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # A project's address is its slug: two slugs that differ only in case would be
            # two projects nobody tells apart.
            models.UniqueConstraint(Lower("slug"), name="project_slug_unique_ci"),
            models.CheckConstraint(condition=Q(overlap__gte=1), name="project_overlap_gte_1"),
            models.CheckConstraint(
                condition=Q(overlap_fraction__gte=0, overlap_fraction__lte=1),
                name="project_overlap_fraction_0_1",
            ),
            models.CheckConstraint(
                condition=Q(match_iou__gt=0, match_iou__lte=1), name="project_match_iou_0_1"
            ),
            models.CheckConstraint(
                condition=Q(auto_accept_pq__gte=0, auto_accept_pq__lte=1),
                name="project_auto_accept_pq_0_1",
            ),
            models.CheckConstraint(
                condition=Q(sample_rate__gte=0, sample_rate__lte=1),
                name="project_sample_rate_0_1",
            ),
            models.CheckConstraint(
                condition=Q(quorum__gt=0, quorum__lte=1), name="project_quorum_0_1"
            ),
            models.CheckConstraint(
                condition=Q(boundary_px__isnull=True) | Q(boundary_px__gte=1),
                name="project_boundary_px_gte_1",
            ),
            models.CheckConstraint(
                condition=Q(review_policy__in=ReviewPolicy.values), name="project_policy_valid"
            ),
            models.CheckConstraint(
                condition=Q(consensus_method__in=ConsensusMethod.values),
                name="project_consensus_method_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "role", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="membership_one_per_project"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project}"


class LabelClass(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="label_classes")
    name = models.CharField(max_length=100)
    colour = models.CharField(max_length=7, default="#e6194b", help_text="#rrggbb")
    match_iou = models.FloatField(
        null=True, blank=True, help_text="Overrides the project's match IoU for this class."
    )
    metadata = models.JSONField(
        default=dict, blank=True, help_text="E.g. the COCO category id it was imported with."
    )

    class Meta:
        ordering = ["project", "name"]
        verbose_name_plural = "label classes"
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="label_class_unique_name"),
            models.CheckConstraint(
                condition=Q(match_iou__isnull=True) | Q(match_iou__gt=0, match_iou__lte=1),
                name="label_class_match_iou_0_1",
            ),
            models.CheckConstraint(
                condition=Q(colour__regex=r"^#[0-9a-fA-F]{6}$"), name="label_class_colour_hex"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Image(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="images")
    name = models.CharField(max_length=255)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    file = models.FileField(upload_to=image_upload_to, blank=True)
    source = models.CharField(
        max_length=1000, blank=True, help_text="Path or URL when the pixels live elsewhere."
    )
    sha256 = models.CharField(max_length=64, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="image_unique_name"),
            models.CheckConstraint(
                condition=Q(width__gte=1, height__gte=1), name="image_size_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Guideline(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="guidelines")
    title = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "title"]
        constraints = [
            models.UniqueConstraint(fields=["project", "title"], name="guideline_unique_title"),
        ]

    def __str__(self) -> str:
        return self.title


class GuidelineVersion(models.Model):
    guideline = models.ForeignKey(Guideline, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    body = models.TextField(help_text="Markdown.")
    body_html = models.TextField(
        blank=True, editable=False, help_text="Sanitised HTML rendered from the body."
    )
    change_summary = models.CharField(max_length=500, blank=True)
    rules = models.JSONField(
        default=list, blank=True, help_text="Executable rules checked on every submission."
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="guideline_versions"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["guideline", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["guideline", "number"], name="guideline_version_unique_number"
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="guideline_version_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.guideline} v{self.number}"


class GuidelineExample(models.Model):
    version = models.ForeignKey(GuidelineVersion, on_delete=models.CASCADE, related_name="examples")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="guideline_examples")
    caption = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "image"], name="guideline_example_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.version}: {self.image}"


class Acknowledgement(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="acknowledgements"
    )
    version = models.ForeignKey(
        GuidelineVersion, on_delete=models.CASCADE, related_name="acknowledgements"
    )
    acknowledged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "version"], name="acknowledgement_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user} acknowledged {self.version}"


class TaskStatus(models.TextChoices):
    ASSIGNED = "assigned", "Assigned"
    IN_PROGRESS = "in_progress", "In progress"
    SUBMITTED = "submitted", "Submitted"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


# A task is open while its annotator still owes work on it; an open task takes a submission.
OPEN_TASK_STATUSES = (TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS, TaskStatus.REJECTED)


class Task(models.Model):
    """One annotator's job on one image; an annotator never gets the same image twice."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="tasks")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tasks"
    )
    status = models.CharField(
        max_length=12, choices=TaskStatus.choices, default=TaskStatus.ASSIGNED, db_index=True
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    due_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["image", "annotator"]
        indexes = [
            # Claim-next: an annotator's assigned tasks in the order they are handed out
            # (soonest due, nulls last as in a btree, then oldest), read from the index.
            models.Index(
                fields=["annotator", "status", "due_date", "created_at", "id"],
                name="task_annotator_claim_order",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["image", "annotator"], name="task_one_per_annotator"),
            models.CheckConstraint(
                condition=Q(status__in=TaskStatus.values), name="task_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.image} for {self.annotator}"


class AuditEvent(models.Model):
    """A record of one state change: who did what to which object, before and after."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="audit_events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    verb = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The audit log of one project by time, newest first (the API's order and its
            # since/until filters), without sorting or skipping other projects' events.
            models.Index(fields=["project", "-created_at", "-id"], name="audit_event_project_time"),
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.verb} {self.object_type} {self.object_id}"
