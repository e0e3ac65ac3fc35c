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
