"""The demo command seeds a meaningful project and can be run again."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from projects.models import Image, Project, Task
from projects.selectors import project_overview
from qc.models import ImageAgreement, ImageLabel, Review, Submission


@pytest.mark.django_db
def test_demo_twice_leaves_one_project_and_the_same_users(capsys):
    # 9 frames: enough for overlap on a third, both guideline versions and some reviews.
    call_command("demo", "--images", "9")
    first = capsys.readouterr().out
    users_after_first = set(get_user_model().objects.values_list("username", flat=True))

    call_command("demo", "--images", "9")
    second = capsys.readouterr().out

    assert Project.objects.filter(slug="pool-boiling").count() == 1
    assert users_after_first == {"lead", "rita", "rui", "anna", "ben", "cleo"}
    assert set(get_user_model().objects.values_list("username", flat=True)) == users_after_first
    assert first.splitlines()[0] == second.splitlines()[0] == "Demo users (log in at /login/):"
    assert second.splitlines()[-1].startswith("Seeded demo project pool-boiling: 9 images,")
    project = Project.objects.get()
    assert Image.objects.filter(project=project).count() == 9
    assert Task.objects.filter(image__project=project).count() == 15  # 3 images × 3 + 6 × 1


@pytest.mark.django_db
def test_demo_passwords_printed_log_in(client, capsys):
    call_command("demo", "--images", "3")
    lines = [line.split() for line in capsys.readouterr().out.splitlines() if "password:" in line]

    logged_in = {
        username: client.login(username=username, password=password)
        for username, _role, _label, password in lines
    }

    assert logged_in == dict.fromkeys(["lead", "rita", "rui", "anna", "ben", "cleo"], True)


@pytest.mark.django_db
def test_demo_has_guideline_versions_agreement_and_reviews(capsys):
    call_command("demo", "--images", "9")
    project = Project.objects.get()

    versions = project.guidelines.get().versions.order_by("number")
    overview = project_overview(project=project)

    assert [(v.number, bool(v.rules)) for v in versions] == [(1, False), (2, True)]
    # The three overlapped images have agreement (the demo is seeded: exact counts)
    assert ImageAgreement.objects.filter(image__project=project).count() == 3
    assert {status: n for status, _, n in overview["tasks"]} == {
        "assigned": 2,
        "in_progress": 0,
        "submitted": 7,
        "accepted": 3,
        "rejected": 3,
        "cancelled": 0,
    }
    assert {state: n for state, _, n in overview["images"]} == {
        "unassigned": 0,
        "annotating": 2,
        "in_review": 3,
        "needs_rework": 3,
        "accepted": 1,
    }
    assert (
        sorted(Review.objects.values_list("decision", flat=True)) == ["accept"] * 3 + ["reject"] * 3
    )
    assert ImageLabel.objects.filter(image__project=project).count() == 1
    assert Submission.objects.filter(task__image__project=project).count() == 13
    assert Submission.objects.filter(guideline_versions=versions[1]).count() == 9
