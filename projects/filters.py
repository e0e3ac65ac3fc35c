"""django-filter filter sets of the projects API's lists (invalid values are a 400)."""

import django_filters

from projects.models import Task, TaskStatus


class TaskFilter(django_filters.FilterSet):
    """A lead's task list: by status, annotator (username), image (id) and due date."""

    status = django_filters.MultipleChoiceFilter(choices=TaskStatus.choices)
    annotator = django_filters.CharFilter(field_name="annotator__username", max_length=150)
    image = django_filters.NumberFilter(field_name="image_id", min_value=1, max_value=2**63 - 1)
    due_before = django_filters.DateFilter(field_name="due_date", lookup_expr="lte")
    due_after = django_filters.DateFilter(field_name="due_date", lookup_expr="gte")
    has_due_date = django_filters.BooleanFilter(
        field_name="due_date", exclude=True, lookup_expr="isnull"
    )

    class Meta:
        model = Task
        fields = ["status", "annotator", "image", "due_before", "due_after", "has_due_date"]
