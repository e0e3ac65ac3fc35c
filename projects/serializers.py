from rest_framework import serializers

from projects.models import LabelClass, Project


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "slug",
            "name",
            "description",
            "role",
            "overlap",
            "overlap_fraction",
            "match_iou",
            "boundary_px",
            "review_policy",
            "auto_accept_pq",
            "sample_rate",
            "consensus_method",
            "quorum",
            "created_at",
        ]

    def get_role(self, project: Project) -> str | None:
        """The requesting user's role; the view annotates it (no query per project)."""
        return getattr(project, "user_role", None)


class LabelClassSerializer(serializers.ModelSerializer):
    class Meta:
        model = LabelClass
        fields = ["id", "name", "colour", "match_iou"]
