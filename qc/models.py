"""Submissions and their instances, reviews, accepted labels, agreement results and exports.

Masks are stored as COCO compressed RLE strings (`counts`); the frame size is the image's.
What depends on one instance alone (area, bbox, perimeter, boundary band) is computed once
when it is stored, so agreement never decodes pixels to compare two instances.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from projects.models import Image, LabelClass, Project, Task
from qc import masks


class StoredMask(models.Model):
    """The columns of a stored mask: COCO compressed RLE counts (the frame is the image's),
    its bounding box and its area. Instances, accepted label instances and consensus
    instances are each a StoredMask with columns of their own."""

    MASK_FIELDS = ("rle", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "area")

    rle = models.TextField(help_text="COCO compressed RLE counts; size is the image's.")
    bbox_x = models.PositiveIntegerField()
    bbox_y = models.PositiveIntegerField()
    bbox_w = models.PositiveIntegerField()
    bbox_h = models.PositiveIntegerField()
    area = models.PositiveIntegerField()

    class Meta:
        abstract = True

    @staticmethod
    def mask_columns_for(
        *, rle: Mapping[str, Any], bbox: Sequence[int], area: int
    ) -> dict[str, Any]:
        """The mask columns of an RLE dict with its ``(x, y, w, h)`` box and area."""
        x, y, w, h = bbox
        return {
            "rle": masks.rle_to_string(rle),
            "bbox_x": x,
            "bbox_y": y,
            "bbox_w": w,
            "bbox_h": h,
            "area": area,
        }

    def mask_columns(self) -> dict[str, Any]:
        """This row's mask columns, to store the same mask in another StoredMask."""
        return {name: getattr(self, name) for name in self.MASK_FIELDS}


class Submission(models.Model):
    """One revision of a task's masks. Immutable: a rework creates a new revision."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="submissions")
    revision = models.PositiveIntegerField()
    source_format = models.CharField(max_length=20, default="api")
    source_name = models.CharField(max_length=500, blank=True)
    source_checksum = models.CharField(max_length=64, blank=True, db_index=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    guideline_versions = models.ManyToManyField(
        "projects.GuidelineVersion", blank=True, related_name="submissions"
    )
    rule_violations = models.JSONField(default=list, blank=True)
    submitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["task", "revision"]
        constraints = [
            models.UniqueConstraint(fields=["task", "revision"], name="submission_unique_revision"),
            models.CheckConstraint(condition=Q(revision__gte=1), name="submission_revision_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.task} r{self.revision}"


class Instance(StoredMask):
    """One object of a submission: its mask and the geometry derived from it once."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="instances")
    label_class = models.ForeignKey(LabelClass, on_delete=models.RESTRICT, related_name="+")
    perimeter = models.FloatField()
    boundary_rle = models.TextField(help_text="RLE of the boundary band (mask minus erosion).")
    boundary_px = models.PositiveSmallIntegerField(help_text="Band width the band was built with.")
    polygon = models.JSONField(
        null=True, blank=True, help_text="Source polygon parts and holes, kept for export."
    )
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["submission", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(area__gte=1), name="instance_area_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.label_class} in {self.submission}"


class ReviewAssignment(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="review_assignments")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_assignments"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["image"], condition=Q(status="open"), name="review_assignment_one_open"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "done", "cancelled"]),
                name="review_assignment_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.image} to {self.reviewer}"


class ReasonCode(models.TextChoices):
    BOUNDARY_TOO_LOOSE = "boundary_too_loose", "Boundary too loose"
    BOUNDARY_TOO_TIGHT = "boundary_too_tight", "Boundary too tight"
    MISSED_INSTANCE = "missed_instance", "Missed instance"
    EXTRA_INSTANCE = "extra_instance", "Extra instance"
    MERGED_INSTANCES = "merged_instances", "Merged instances"
    SPLIT_INSTANCE = "split_instance", "Split instance"
    WRONG_CLASS = "wrong_class", "Wrong class"
    GUIDELINE_VIOLATION = "guideline_violation", "Guideline violation"
    OTHER = "other", "Other"


class Review(models.Model):
    """A reviewer's decision on one submission; one decision per submission."""

    class Decision(models.TextChoices):
        ACCEPT = "accept", "Accept"
        REJECT = "reject", "Reject"

    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="review")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews"
    )
    decision = models.CharField(max_length=10, choices=Decision.choices)
    reasons = models.JSONField(default=list, blank=True, help_text="Reason codes.")
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(decision__in=["accept", "reject"]), name="review_decision_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.decision} {self.submission}"


class InstanceFlag(models.Model):
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="flags")
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="flags")
    reason = models.CharField(max_length=30, choices=ReasonCode.choices)
    note = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"{self.reason} on {self.instance}"


class ImageLabel(models.Model):
    """The accepted label set of an image: one submission, or a snapshot of the consensus."""

    image = models.OneToOneField(Image, on_delete=models.CASCADE, related_name="label")
    submission = models.ForeignKey(
        Submission, on_delete=models.RESTRICT, null=True, blank=True, related_name="+"
    )
    from_consensus = models.BooleanField(default=False)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    accepted_at = models.DateTimeField(auto_now_add=True)
    is_gold = models.BooleanField(default=False)
    sent_back = models.BooleanField(
        default=False,
        help_text="Sent back for rework: in force until a new label is accepted.",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(from_consensus=True, submission__isnull=True)
                | Q(from_consensus=False, submission__isnull=False),
                name="image_label_one_source",
            ),
        ]

    def __str__(self) -> str:
        return f"label of {self.image}"


class LabelInstance(StoredMask):
    """An instance of a consensus label, copied when it was accepted so it never changes."""

    label = models.ForeignKey(ImageLabel, on_delete=models.CASCADE, related_name="instances")
    label_class = models.ForeignKey(LabelClass, on_delete=models.RESTRICT, related_name="+")

    def __str__(self) -> str:
        return f"{self.label_class} in {self.label}"


class ImageLabelHistory(models.Model):
    """A label that was in force and was replaced by a newer one after a send-back: what it
    was (its source, its consensus instances) is kept, so what an export made while it was
    in force held stays known."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="label_history")
    label = models.ForeignKey(ImageLabel, on_delete=models.CASCADE, related_name="history")
    submission = models.ForeignKey(
        Submission, on_delete=models.RESTRICT, null=True, blank=True, related_name="+"
    )
    from_consensus = models.BooleanField(default=False)
    instances = models.JSONField(
        default=list,
        blank=True,
        help_text="A consensus label's instances: class id, RLE counts, bbox and area.",
    )
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    accepted_at = models.DateTimeField()
    was_gold = models.BooleanField(default=False)
    replaced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    replaced_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["image", "replaced_at", "id"]

    def __str__(self) -> str:
        return f"former label of {self.image}"


class SendBack(models.Model):
    """An accepted image sent back for rework by a reviewer or a lead, with reasons; the
    tasks it sent back are each one rework round."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="send_backs")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    tasks = models.ManyToManyField(Task, related_name="send_backs")
    reasons = models.JSONField(default=list, help_text="Reason codes.")
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.image} sent back"


class GoldScore(models.Model):
    """A submission on a gold image scored against the gold label when it was submitted."""

    submission = models.OneToOneField(
        Submission, on_delete=models.CASCADE, related_name="gold_score"
    )
    label = models.ForeignKey(ImageLabel, on_delete=models.CASCADE, related_name="gold_scores")
    matched = models.PositiveIntegerField()
    missed = models.PositiveIntegerField(help_text="Gold instances the submission lacks.")
    extra = models.PositiveIntegerField(help_text="Submitted instances not in the gold label.")
    mean_iou = models.FloatField(null=True, blank=True)
    pq = models.FloatField()
    match_iou = models.FloatField(help_text="The IoU at which instances matched.")
    computed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"gold score of {self.submission}"


class ImageAgreement(models.Model):
    """Per image: agreement pooled over all annotator pairs, and when it was computed."""

    image = models.OneToOneField(Image, on_delete=models.CASCADE, related_name="agreement")
    annotators = models.PositiveSmallIntegerField()
    pq = models.FloatField(null=True, blank=True)
    mean_iou = models.FloatField(null=True, blank=True)
    f1 = models.FloatField(null=True, blank=True)
    boundary_iou = models.FloatField(null=True, blank=True)
    consensus_method = models.CharField(max_length=10)
    versus_consensus = models.JSONField(
        default=dict,
        blank=True,
        help_text="Per annotator: counts and pq against the consensus (3+ annotators).",
    )
    style = models.JSONField(
        default=dict,
        blank=True,
        help_text="Style observations of this image, accumulated into style reports.",
    )
    computed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"agreement on {self.image}"


class AgreementResult(models.Model):
    """The metrics of one annotator pair on one image, for one class or pooled (class null)."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="agreement_results")
    label_class = models.ForeignKey(
        LabelClass, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    annotator_a = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    annotator_b = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    submission_a = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="+")
    submission_b = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="+")
    matched = models.PositiveIntegerField()
    unmatched_a = models.PositiveIntegerField()
    unmatched_b = models.PositiveIntegerField()
    label_mismatch = models.PositiveIntegerField(default=0)
    iou_sum = models.FloatField()
    boundary_iou_sum = models.FloatField(null=True, blank=True)
    mean_iou = models.FloatField(null=True, blank=True)
    f1 = models.FloatField()
    pq = models.FloatField()
    boundary_iou = models.FloatField(null=True, blank=True)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["image", "annotator_a", "annotator_b"]
        constraints = [
            models.UniqueConstraint(
                fields=["image", "annotator_a", "annotator_b", "label_class"],
                name="agreement_result_unique_class",
            ),
            models.UniqueConstraint(
                fields=["image", "annotator_a", "annotator_b"],
                condition=Q(label_class__isnull=True),
                name="agreement_result_unique_pooled",
            ),
            models.CheckConstraint(
                condition=~Q(annotator_a=models.F("annotator_b")),
                name="agreement_result_distinct_annotators",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.annotator_a} vs {self.annotator_b} on {self.image}"

    @property
    def n_a(self) -> int:
        return self.matched + self.unmatched_a

    @property
    def n_b(self) -> int:
        return self.matched + self.unmatched_b


class AgreementSummary(models.Model):
    """A project's agreement report as dashboards and the API read it, rebuilt from the stored
    per-image results (never by recomputing IoU) whenever one image's results change."""

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="agreement_summary"
    )
    report = models.JSONField(default=dict)
    # When the rebuild that stored ``report`` began reading the image results: a result
    # stored later is not in it.
    computed_at = models.DateTimeField(default=timezone.now)
    # When a rebuild was queued that has not started yet (one at a time per project).
    queued_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"agreement summary of {self.project}"


class ConsensusInstance(StoredMask):
    """One instance of an image's consensus, recomputed when a submission arrives."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="consensus_instances")
    label_class = models.ForeignKey(LabelClass, on_delete=models.CASCADE, related_name="+")
    support = models.PositiveSmallIntegerField(help_text="Annotators whose instance joined.")
    members = models.JSONField(default=list, help_text="Instance ids of the cluster.")

    def __str__(self) -> str:
        return f"consensus {self.label_class} on {self.image}"


class JobStatus(models.TextChoices):
    PENDING = "pending", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Finished"
    FAILED = "failed", "Failed"


class BackgroundJob(models.Model):
    """What every job run in the background records: who started it and when, its status
    and progress, and how it ended (:func:`qc.services.jobs.job_run` writes these)."""

    Status = JobStatus
    # The noun of its kind in the audit verbs of its run ("import_job.retry").
    audit_noun: ClassVar[str]

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.PENDING)
    progress = models.FloatField(default=0.0, help_text="0 to 1.")
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The run: when a worker claimed it, its last sign of life (a job whose worker has gone
    # stops beating and is found stuck), how many times it was claimed, and the task
    # backend's id of its latest queuing.
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Claims made before a lead's latest retry: ``attempts`` only grows (every write of a
    # run is fenced by its claim's number), the watcher's limit counts the claims since.
    attempts_before_retry = models.PositiveSmallIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @property
    def live(self) -> bool:
        """Pending or running: it may still change, so its page keeps polling it."""
        return self.status in (JobStatus.PENDING, JobStatus.RUNNING)

    @property
    def percent(self) -> int:
        """Its progress in whole per cent."""
        return round(100 * min(1.0, max(0.0, self.progress)))

    @property
    def claims(self) -> int:
        """Times a worker claimed it since it was last queued by a person (created or
        retried); the watcher gives up on a job lost ``MASKQC_JOB_MAX_ATTEMPTS`` times."""
        return self.attempts - self.attempts_before_retry

    @property
    def last_sign_of_life(self) -> datetime:
        """Its last heartbeat (its creation for a job claimed before jobs beat)."""
        return self.heartbeat_at or self.created_at

    @property
    def stuck(self) -> bool:
        """Running, and silent for longer than ``MASKQC_JOB_STUCK_SECONDS``: its worker is
        probably gone, and the watcher (``manage.py jobs_watch``) queues it again or fails
        it. A recompute whose parts all wait behind other work in the queue is silent too;
        the watcher asks the queue and leaves that one running."""
        if self.status != JobStatus.RUNNING:
            return False
        silent_since = timezone.now() - timedelta(seconds=settings.MASKQC_JOB_STUCK_SECONDS)
        return self.last_sign_of_life < silent_since


class ImportJob(BackgroundJob):
    """One uploaded annotation file imported in the background, with its progress."""

    audit_noun = "import_job"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="imports")
    format = models.CharField(max_length=20)
    options = models.JSONField(default=dict, blank=True)
    file = models.FileField(upload_to="imports/", blank=True)
    source_name = models.CharField(max_length=500, blank=True)
    message = models.CharField(max_length=500, blank=True)
    summary = models.JSONField(default=dict, blank=True)

    class Meta(BackgroundJob.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.format} import into {self.project}"


class Export(BackgroundJob):
    audit_noun = "export"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exports")
    format = models.CharField(max_length=20)
    filters = models.JSONField(default=dict, blank=True)
    file = models.FileField(upload_to="exports/", blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)

    class Meta(BackgroundJob.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.format} export of {self.project}"


class Recompute(BackgroundJob):
    """A lead's recompute of a project in the background: every instance's stored features
    with the project's band width now, and the agreement and consensus of every image with
    two or more submissions (after a change of match IoU, band width, consensus method or
    quorum), with its progress and what it changed."""

    audit_noun = "recompute"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="recomputes")
    message = models.CharField(max_length=500, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    # Fanned out: the images are cut into parts, each a task any worker may take.
    parts_total = models.PositiveIntegerField(default=0)
    parts_done = models.PositiveIntegerField(default=0)

    class Meta(BackgroundJob.Meta):
        pass

    def __str__(self) -> str:
        return f"recompute of {self.project}"
