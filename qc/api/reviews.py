"""REST API: the review queue (images waiting for review, lowest agreement first), the
submissions scored against gold labels, and the project's audit log."""

import django_filters
from django.db.models import Exists, OuterRef, QuerySet
from rest_framework import generics

from projects.models import AuditEvent, Image
from projects.permissions import Action, project_for
from qc.api.images import MAX_ID
from qc.models import GoldScore, ReviewAssignment
from qc.selectors import audit_events_of, gold_scores_visible_to, review_queue
from qc.serializers.workflow import AuditEventSerializer, GoldScoreSerializer, ImageSerializer


class QueueFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    reviewer = django_filters.CharFilter(field_name="reviewer_name", help_text="Username.")
    unassigned = django_filters.BooleanFilter(method="filter_unassigned")
    pq_min = django_filters.NumberFilter(field_name="agreement__pq", lookup_expr="gte")
    pq_max = django_filters.NumberFilter(field_name="agreement__pq", lookup_expr="lte")

    class Meta:
        model = Image
        fields = ["name", "reviewer", "unassigned", "pq_min", "pq_max"]

    def filter_unassigned(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        open_review = ReviewAssignment.objects.filter(
            image=OuterRef("pk"), status=ReviewAssignment.Status.OPEN
        )
        return queryset.filter(~Exists(open_review) if value else Exists(open_review))


class ReviewQueue(generics.ListAPIView):
    """Images waiting for review, lowest pq first (images without agreement last): a
    reviewer's own assignments, every such image for leads and admins. Paginated."""

    serializer_class = ImageSerializer
    queryset = Image.objects.none()
    filterset_class = QueueFilter

    def get_queryset(self) -> QuerySet[Image]:
        project, _ = project_for(
            user=self.request.user, slug=self.kwargs["slug"], action=Action.REVIEW
        )
        return review_queue(user=self.request.user, project=project)


class GoldScoreFilter(django_filters.FilterSet):
    annotator = django_filters.CharFilter(
        field_name="submission__task__annotator__username", help_text="Username."
    )
    image = django_filters.NumberFilter(
        field_name="submission__task__image_id", min_value=1, max_value=MAX_ID
    )

    class Meta:
        model = GoldScore
        fields = ["annotator", "image"]


class GoldScoreList(generics.ListAPIView):
    """Submissions on gold images scored against the gold label when they were submitted
    (matched, missed, extra, mean IoU, pq at the project's match IoU), newest first: all
    for leads, reviewers and admins, an annotator's own for them. Paginated."""

    serializer_class = GoldScoreSerializer
    queryset = GoldScore.objects.none()
    filterset_class = GoldScoreFilter

    def get_queryset(self) -> QuerySet[GoldScore]:
        project, _ = project_for(user=self.request.user, slug=self.kwargs["slug"])
        return gold_scores_visible_to(user=self.request.user, project=project)


class AuditFilter(django_filters.FilterSet):
    verb = django_filters.CharFilter(
        field_name="verb", lookup_expr="startswith", help_text="A verb or its prefix."
    )
    actor = django_filters.CharFilter(field_name="actor__username", help_text="Username.")
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["verb", "actor", "since", "until"]


class AuditLog(generics.ListAPIView):
    """The project's audit log, newest first (leads and admins); filters: verb (or its
    prefix), actor, since, until. Paginated."""

    serializer_class = AuditEventSerializer
    queryset = AuditEvent.objects.none()
    filterset_class = AuditFilter

    def get_queryset(self) -> QuerySet[AuditEvent]:
        project, _ = project_for(
            user=self.request.user, slug=self.kwargs["slug"], action=Action.MANAGE_PROJECT
        )
        return audit_events_of(project=project)
