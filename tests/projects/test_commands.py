import pytest
from django.core.management import CommandError, call_command

from projects.models import AuditEvent, LabelClass, Membership, Project


def test_create_project_with_labels(db, capsys):
    call_command(
        "create_project",
        "bubbles",
        "--name",
        "Pool boiling",
        "--label",
        "bubble",
        "--label",
        "droplet",
    )

    project = Project.objects.get(slug="bubbles")
    assert project.name == "Pool boiling"
    assert sorted(LabelClass.objects.filter(project=project).values_list("name", flat=True)) == [
        "bubble",
        "droplet",
    ]
    assert capsys.readouterr().out == (
        "Created project bubbles (Pool boiling) with bubble, droplet.\n"
    )


def test_create_project_twice_fails_and_changes_nothing(db):
    call_command("create_project", "bubbles")
    events = AuditEvent.objects.count()

    with pytest.raises(CommandError, match="already exists"):
        call_command("create_project", "bubbles", "--label", "x")

    assert (Project.objects.count(), LabelClass.objects.count(), AuditEvent.objects.count()) == (
        1,
        0,
        events,
    )


def test_add_member_missing_user_without_create_fails(project):
    with pytest.raises(CommandError, match="--create-user"):
        call_command("add_member", project.slug, "newbie", "--role", "annotator")

    assert Membership.objects.filter(project=project).count() == 0


def test_add_member_creates_user_and_changes_role(project, capsys):
    call_command("add_member", project.slug, "newbie", "--role", "annotator", "--create-user")
    call_command("add_member", project.slug, "newbie", "--role", "reviewer")

    assert Membership.objects.get(project=project, user__username="newbie").role == "reviewer"
    assert list(
        AuditEvent.objects.filter(project=project).order_by("id").values_list("verb", flat=True)
    ) == ["membership.create", "membership.update"]


def test_add_member_unknown_project_fails(db):
    with pytest.raises(CommandError, match="No project with slug 'nope'"):
        call_command("add_member", "nope", "someone", "--role", "lead", "--create-user")
