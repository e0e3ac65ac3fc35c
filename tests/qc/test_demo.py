"""The demo command: seeds a project that makes every page meaningful, keeps it (and what the
user made in it) on a second run with the same logins, and starts over with --reset."""

import json
import os
import stat
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from projects.models import Image, Project, Task
from projects.selectors import project_overview, review_queue
from qc.demo import demo_seed
from qc.models import (
    ImageAgreement,
    ImageLabel,
    InstanceFlag,
    Review,
    SendBack,
    Submission,
)
from qc.selectors.feedback import style_feedback
from qc.services import review_decide

USERS = ["lead", "rita", "rui", "anna", "ben", "cleo"]


@pytest.fixture(autouse=True)
def logins_file(settings, tmp_path):
    settings.MASKQC_DEMO_LOGINS_FILE = tmp_path / "var" / "demo-logins.json"
    return settings.MASKQC_DEMO_LOGINS_FILE


def _demo(capsys, *args: str) -> list[str]:
    call_command("demo", *args)
    return capsys.readouterr().out.splitlines()


def _passwords(lines: list[str]) -> dict[str, str]:
    """username -> password, from the lines that show one (as CI's smoke run reads them)."""
    return {
        line.split()[0]: line.split()[-1]
        for line in lines
        if line.startswith("  ") and "password: " in line
    }


@pytest.mark.django_db
def test_a_second_run_keeps_the_project_and_what_was_made_in_it(capsys):
    first = _demo(capsys, "--images", "9")
    project = Project.objects.get()
    rita = get_user_model().objects.get(username="rita")
    waiting = review_queue(user=rita, project=project).first()
    submission = Submission.objects.filter(task__image=waiting).order_by("pk").first()
    review_decide(submission=submission, reviewer=rita, decision="accept")
    reviews = Review.objects.count()

    second = _demo(capsys)

    assert Project.objects.get().pk == project.pk
    assert Review.objects.count() == reviews
    assert Review.objects.filter(submission=submission, decision="accept").exists()
    assert first[0] == second[0] == "Demo users (log in at /login/):"
    assert _passwords(second) == _passwords(first)
    assert sorted(_passwords(first)) == sorted(USERS)
    assert second[-1] == (
        f"Kept demo project pool-boiling as it was: 9 images, {Submission.objects.count()} "
        f"submissions, {reviews} reviews. `manage.py demo --reset` (`make demo RESET=1`) "
        "starts over."
    )


@pytest.mark.django_db
def test_the_kept_passwords_log_in(client, capsys):
    _demo(capsys, "--images", "3")

    kept = _passwords(_demo(capsys))

    logged_in = {name: client.login(username=name, password=pw) for name, pw in kept.items()}
    assert logged_in == dict.fromkeys(USERS, True)


@pytest.mark.django_db
def test_a_password_changed_since_the_seeding_is_not_printed(capsys):
    _demo(capsys, "--images", "3")
    ben = get_user_model().objects.get(username="ben")
    ben.set_password("bens-own-secret")
    ben.save()
    get_user_model().objects.filter(username="cleo").update(username="cleo-renamed")

    second = _demo(capsys)

    assert "  ben      annotator  (password changed since the seeding)" in second
    assert "  cleo     annotator  (no longer exists)" in second
    assert not any("bens-own-secret" in line for line in second)
    assert sorted(_passwords(second)) == ["anna", "lead", "rita", "rui"]


@pytest.mark.django_db
def test_without_the_logins_file_a_second_run_says_how_to_get_in(capsys, logins_file):
    _demo(capsys, "--images", "3")
    logins_file.unlink()

    second = _demo(capsys, "--images", "5")

    assert second[0].startswith("Demo users: their passwords are not known here (no readable ")
    assert "manage.py changepassword USERNAME" in second[0]
    assert "(--images applies to a new seeding: add --reset)" in second[-1]
    assert Image.objects.count() == 3


@pytest.mark.django_db
def test_the_logins_file_is_readable_by_its_owner_only(capsys, logins_file):
    lines = _demo(capsys, "--images", "3")

    stored = json.loads(logins_file.read_text())

    assert stat.S_IMODE(os.stat(logins_file).st_mode) == 0o600
    assert {name: entry["password"] for name, entry in stored["users"].items()} == _passwords(lines)
    assert stored["users"]["rita"]["role"] == "reviewer"
    assert f"The passwords are kept in {logins_file} (only you can read it)" in "\n".join(lines)


@pytest.mark.django_db
def test_an_existing_logins_file_is_made_private_again(capsys, logins_file):
    logins_file.parent.mkdir(parents=True)
    logins_file.write_text("{}")
    logins_file.chmod(0o644)

    _demo(capsys, "--images", "3")

    assert stat.S_IMODE(os.stat(logins_file).st_mode) == 0o600


@pytest.mark.django_db
def test_reset_starts_over_with_new_passwords(capsys):
    first = _demo(capsys, "--images", "3")
    project = Project.objects.get()

    again = _demo(capsys, "--reset", "--images", "3")

    assert Project.objects.get().pk != project.pk
    assert again[-1].startswith("Seeded demo project pool-boiling: 3 images,")
    assert set(_passwords(again)) == set(USERS)
    assert all(_passwords(again)[name] != _passwords(first)[name] for name in USERS)
    assert set(get_user_model().objects.values_list("username", flat=True)) == set(USERS)
    assert _passwords(_demo(capsys)) == _passwords(again)


@pytest.mark.django_db
def test_demo_has_guideline_versions_agreement_and_reviews(capsys):
    _demo(capsys, "--images", "9")
    project = Project.objects.get()

    versions = project.guidelines.get().versions.order_by("number")
    overview = project_overview(project=project)

    assert [(v.number, bool(v.rules)) for v in versions] == [(1, False), (2, True), (3, True)]
    assert [v.acknowledgements.count() for v in versions] == [3, 3, 1]
    # The three overlapped images have agreement (the demo is seeded: exact counts)
    assert ImageAgreement.objects.filter(image__project=project).count() == 3
    assert Task.objects.filter(image__project=project).count() == 15  # 3 images × 3 + 6 × 1
    assert {status: n for status, _, n in overview["tasks"]} == {
        "assigned": 2,
        "in_progress": 0,
        "submitted": 8,
        "accepted": 2,
        "rejected": 3,
        "cancelled": 0,
    }
    assert {state: n for state, _, n in overview["images"]} == {
        "unassigned": 0,
        "annotating": 2,
        "in_review": 4,
        "needs_rework": 2,
        "accepted": 1,
    }
    assert Counter(Review.objects.values_list("decision", flat=True)) == {"accept": 2, "reject": 3}
    assert ImageLabel.objects.filter(image__project=project).count() == 1
    assert Submission.objects.filter(task__image__project=project).count() == 13
    assert Submission.objects.filter(guideline_versions=versions[1]).count() == 8


@pytest.mark.django_db
def test_demo_makes_every_page_meaningful():
    result = demo_seed(images=12)
    project = result.project
    users = {u.username: u for u in get_user_model().objects.all()}

    rejections = Review.objects.filter(decision="reject")
    flagged = rejections.filter(flags__isnull=False).distinct()
    assert rejections.exclude(reasons=[]).count() == rejections.count() > 0
    assert all(review.comment for review in rejections)
    assert flagged.exists() and rejections.exclude(pk__in=flagged).exists()
    assert set(InstanceFlag.objects.values_list("reason", flat=True)) == {"boundary_too_loose"}
    assert SendBack.objects.filter(image__project=project, comment__gt="").count() == 1
    assert ImageLabel.objects.filter(from_consensus=True).exists()
    assert ImageLabel.objects.filter(is_gold=True).exists()
    for reviewer in ("rita", "rui"):
        waiting = review_queue(user=users[reviewer], project=project)
        assert waiting.filter(agreement__isnull=False).exists(), reviewer
        assert waiting.count() >= 2, reviewer
    for annotator in ("anna", "ben", "cleo"):
        weeks = style_feedback(user=users[annotator], project=project)["weeks"]
        assert len(weeks) >= 2, annotator
    assert (
        Task.objects.filter(status__in=["assigned", "rejected"], due_date__isnull=True).count() == 0
    )


@pytest.mark.django_db
def test_the_demo_s_history_runs_in_order():
    result = demo_seed(images=12)
    project = result.project

    versions = list(project.guidelines.get().versions.order_by("number"))
    first_submission = Submission.objects.order_by("submitted_at").first()
    reviews = Review.objects.select_related("submission")

    assert versions[0].published_at < first_submission.submitted_at
    assert all(review.created_at > review.submission.submitted_at for review in reviews)
    assert versions[1].published_at < versions[2].published_at
    span = Submission.objects.latest("submitted_at").submitted_at - first_submission.submitted_at
    assert span.days >= 21
