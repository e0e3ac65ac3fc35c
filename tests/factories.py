"""factory-boy factories with unsurprising defaults."""

import factory
from django.contrib.auth import get_user_model

from projects.models import (
    Guideline,
    GuidelineVersion,
    Image,
    LabelClass,
    Membership,
    Project,
    Role,
    Task,
)
from qc.style import StyleReport


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("password")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ANNOTATOR


class LabelClassFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LabelClass

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"class{n}")


class ImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Image

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"frame_{n:05d}.png")
    width = 64
    height = 48


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    image = factory.SubFactory(ImageFactory)
    annotator = factory.SubFactory(UserFactory)


class GuidelineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Guideline

    project = factory.SubFactory(ProjectFactory)
    title = "Bubble guideline"


class GuidelineVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GuidelineVersion

    guideline = factory.SubFactory(GuidelineFactory)
    number = factory.Sequence(lambda n: n + 1)
    body = "Draw on the bright rim."
    author = factory.SubFactory(UserFactory)


def style_report(**changes) -> StyleReport:
    """An annotator's style report with plausible figures; ``changes`` replace fields."""
    values = {
        "annotator": "ana",
        "images": 12,
        "matched": 412,
        "reference": "consensus",
        "area_ratio": 1.05,
        "boundary_offset_vs_consensus_px": 1.62,
        "boundary_offset_px": 1.04,
        "recall_small": 0.96,
        "recall_medium": 0.994,
        "recall_large": 1.0,
        "found": (0, 0, 0),
        "total": (0, 0, 0),
        "merges": 2,
        "splits": 0,
        "pq_vs_reference": 0.8,
    }
    return StyleReport(**{**values, **changes})
