"""The lead's setup pages through the test client: settings (validation re-renders, the
stale-agreement warning), label classes with their counts, members (add, change a role,
remove with the plan shown first, refusals as messages); and the queries of each list page,
the same with 1 and 3 rows. Creating a project: test_project_create.py."""

import numpy as np
import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from projects.errors import ApplicationError
from projects.models import (
    Acknowledgement,
    AuditEvent,
    LabelClass,
    Membership,
    Project,
    Task,
    TaskStatus,
)
from projects.services import guideline_version_create
from projects.services.members import membership_rebalance_plan
from projects.views.setup import refusal_on_form
from projects.views.setup_forms import SettingsForm
from qc import masks
from qc.models import ConsensusInstance, ImageLabel, LabelInstance, Submission
from qc.services import InstanceInput, submission_create
from qc.services.agreement import agreement_update_for_image
from tests.factories import (
    ImageFactory,
    LabelClassFactory,
    MembershipFactory,
    TaskFactory,
    UserFactory,
)


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _settings_data(project: Project, **changes) -> dict:
    data = {
        "name": project.name,
        "description": project.description,
        "overlap": project.overlap,
        "overlap_percent": round(project.overlap_fraction * 100, 2),
        "match_iou": project.match_iou,
        "boundary_px": project.boundary_px or "",
        "review_policy": project.review_policy,
        "auto_accept_pq": project.auto_accept_pq,
        "sample_percent": round(project.sample_rate * 100, 2),
        "consensus_method": project.consensus_method,
        "quorum": project.quorum,
    }
    return {**data, **changes}


def _disc(cx: int) -> dict:
    yy, xx = np.mgrid[:48, :64]
    return masks.rle_from_mask((xx - cx) ** 2 + (yy - 20) ** 2 <= 64)


def _compared_image(project, bubble, annotators):
    """An image both annotators submitted, with its agreement stored."""
    image = ImageFactory(project=project)
    for position, user in enumerate(annotators):
        task = TaskFactory(image=image, annotator=user)
        submission_create(
            task=task,
            actor=user,
            instances=[InstanceInput(label_class=bubble, rle=_disc(20 + 3 * position))],
        )
    agreement_update_for_image(image_id=image.pk)
    return image


# ------------------------------------------------------------------ settings


def test_settings_show_the_project_values_and_stored_agreement(
    client, project, lead, bubble, annotator, other_annotator
):
    _compared_image(project, bubble, [annotator, other_annotator])
    ImageFactory(project=project)
    client.force_login(lead)

    response = client.get(reverse("project-settings", args=[project.slug]))

    assert response.status_code == 200
    form = response.context["form"]
    assert (form["match_iou"].value(), form["overlap_percent"].value()) == (0.5, 100.0)
    assert (response.context["compared_count"], response.context["image_count"]) == (1, 2)
    assert b'href="/p/bubbles/recompute/" id="recompute-link"' in response.content


def test_settings_saved_and_audited_with_the_stale_warning(
    client, project, lead, bubble, annotator, other_annotator
):
    _compared_image(project, bubble, [annotator, other_annotator])
    client.force_login(lead)
    url = reverse("project-settings", args=[project.slug])

    response = client.post(
        url, _settings_data(project, match_iou=0.6, review_policy="below_threshold")
    )

    assert (response.status_code, response.url) == (302, url)
    project.refresh_from_db()
    assert (project.match_iou, project.review_policy) == (0.6, "below_threshold")
    event = AuditEvent.objects.get(verb="project.update")
    assert event.after == {"match_iou": 0.6, "review_policy": "below_threshold"}
    assert _messages(response) == [
        "Saved: Match IoU, Review policy.",
        "The agreement stored for 1 image was computed under the old settings and is not "
        "recomputed: new figures come as images get new submissions, or when you recompute "
        "the project (the link below).",
    ]


def test_settings_unchanged_percentage_keeps_the_stored_fraction(client, project, lead):
    Project.objects.filter(pk=project.pk).update(overlap_fraction=1 / 3)
    project.refresh_from_db()
    client.force_login(lead)

    response = client.post(
        reverse("project-settings", args=[project.slug]), _settings_data(project)
    )

    assert response.status_code == 302
    project.refresh_from_db()
    assert project.overlap_fraction == 1 / 3
    assert not AuditEvent.objects.filter(verb="project.update").exists()
    assert _messages(response) == ["Nothing changed."]


@pytest.mark.parametrize(
    ("changes", "field", "error"),
    [
        ({"match_iou": "0"}, "match_iou", "Match IoU is a fraction above 0 and at most 1."),
        ({"quorum": "1.5"}, "quorum", "The quorum is a fraction above 0 and at most 1."),
        ({"overlap": "0"}, "overlap", "Ensure this value is greater than or equal to 1."),
        ({"overlap_percent": "nan"}, "overlap_percent", "Enter a number."),
        ({"review_policy": "never"}, "review_policy", "Select a valid choice."),
        ({"boundary_px": "-2"}, "boundary_px", "Ensure this value is greater than or equal to 1."),
        ({"name": ""}, "name", "This field is required."),
    ],
)
def test_settings_invalid_rerender_with_the_error_and_change_nothing(
    client, project, lead, changes, field, error
):
    client.force_login(lead)

    response = client.post(
        reverse("project-settings", args=[project.slug]), _settings_data(project, **changes)
    )

    assert response.status_code == 200
    assert [e for e in response.context["form"].errors[field] if e.startswith(error[:20])] != []
    assert not AuditEvent.objects.filter(verb="project.update").exists()


def test_a_service_refusal_lands_beside_its_field_and_above_the_form(project):
    form = SettingsForm(_settings_data(project), project=project)
    assert form.is_valid()
    refusal = ApplicationError(
        "project is invalid: overlap_fraction: bad; __all__: clash",
        extra={"overlap_fraction": ["bad"], "__all__": ["clash"]},
    )

    refusal_on_form(form, refusal, field_of=form.field_of)

    assert form.errors == {
        "overlap_percent": ["bad"],
        "__all__": ["project is invalid: overlap_fraction: bad; __all__: clash"],
    }


# ------------------------------------------------------------------ label classes


def test_classes_count_instances_drawn_and_labelled(
    client, project, lead, bubble, annotator, other_annotator
):
    LabelClassFactory(project=project, name="droplet", match_iou=0.3)
    _compared_image(project, bubble, [annotator, other_annotator])
    client.force_login(lead)

    response = client.get(reverse("project-classes", args=[project.slug]))

    rows = [(r.label_class.name, r.drawn, r.labelled) for r in response.context["classes"]]
    assert rows == [("bubble", 2, 0), ("droplet", 0, 0)]
    assert b"0.3" in response.content
    assert f"?label_class={bubble.pk}".encode() in response.content


def test_classes_count_both_kinds_of_label(
    client, project, lead, bubble, annotator, other_annotator
):
    by_submission = _compared_image(project, bubble, [annotator, other_annotator])
    submission = Submission.objects.filter(task__image=by_submission).order_by("pk").first()
    ImageLabel.objects.create(image=by_submission, submission=submission)
    by_consensus = _compared_image(project, bubble, [annotator, other_annotator])
    label = ImageLabel.objects.create(image=by_consensus, from_consensus=True)
    for instance in ConsensusInstance.objects.filter(image=by_consensus):
        for _ in range(2):
            LabelInstance.objects.create(label=label, label_class=bubble, **instance.mask_columns())
    client.force_login(lead)

    response = client.get(reverse("project-classes", args=[project.slug]))

    (row,) = response.context["classes"]
    assert (row.drawn, row.labelled, row.labelled_images) == (4, 3, 2)


def test_class_added_and_duplicate_refused_beside_the_name(client, project, lead, bubble):
    client.force_login(lead)
    url = reverse("project-classes", args=[project.slug])

    added = client.post(url, {"name": "droplet", "colour": "#00ff00", "match_iou": ""})
    twin = client.post(url, {"name": "bubble", "colour": "#00ff00", "match_iou": ""})

    assert added.status_code == 302
    assert LabelClass.objects.get(project=project, name="droplet").colour == "#00ff00"
    assert twin.status_code == 200
    assert twin.context["form"].errors["__all__"] == [
        "Project bubbles already has a label class 'bubble'."
    ]
    assert LabelClass.objects.filter(project=project).count() == 2


def test_class_edit_saves_only_what_changed(client, project, lead, bubble):
    client.force_login(lead)
    url = reverse("project-class-edit", args=[project.slug, bubble.pk])

    response = client.post(url, {"name": "bubble", "colour": "#123456", "match_iou": "0.4"})

    assert response.status_code == 302
    bubble.refresh_from_db()
    assert (bubble.colour, bubble.match_iou) == ("#123456", 0.4)
    event = AuditEvent.objects.get(verb="label_class.update")
    assert event.after == {"colour": "#123456", "match_iou": 0.4}


@pytest.mark.parametrize(
    "data",
    [
        {"name": "bubble", "colour": "red"},
        {"name": "bubble", "colour": "#123456", "match_iou": "2"},
    ],
)
def test_class_edit_invalid_changes_nothing(client, project, lead, bubble, data):
    client.force_login(lead)

    response = client.post(reverse("project-class-edit", args=[project.slug, bubble.pk]), data)

    assert response.status_code == 200
    assert response.context["form"].errors
    assert LabelClass.objects.get(pk=bubble.pk).colour == bubble.colour


def test_class_of_another_project_is_404(client, project, lead):
    foreign = LabelClassFactory()
    client.force_login(lead)

    response = client.get(reverse("project-class-edit", args=[project.slug, foreign.pk]))

    assert response.status_code == 404


# ------------------------------------------------------------------ members


def test_members_show_role_open_tasks_and_acknowledgements(
    client, project, lead, reviewer, annotator, other_annotator
):
    v1 = guideline_version_create(
        project=project, title="Bubbles", body="v1", author=lead, change_summary="1", publish=True
    )
    Acknowledgement.objects.create(user=annotator, version=v1)
    guideline_version_create(
        project=project, title="Bubbles", body="v2", author=lead, change_summary="2", publish=True
    )
    TaskFactory(image=ImageFactory(project=project), annotator=annotator)
    TaskFactory(image=ImageFactory(project=project), annotator=annotator, status="submitted")
    client.force_login(lead)

    response = client.get(reverse("project-members", args=[project.slug]))

    rows = {
        row.membership.user.username: (
            row.membership.role,
            row.open_tasks,
            [(r.current, r.acknowledged) for r in row.readings],
            row.must_read,
        )
        for row in response.context["members"]
    }
    assert rows == {
        "lead": ("lead", 0, [(2, [])], False),
        "reviewer": ("reviewer", 0, [(2, [])], False),
        "annotator": ("annotator", 1, [(2, [1])], True),
        "other_annotator": ("annotator", 0, [(2, [])], True),
    }
    assert [r.membership.user.username for r in response.context["members"]] == [
        "lead",
        "reviewer",
        "annotator",
        "other_annotator",
    ]
    assert b"/p/bubbles/assignment/tasks/?annotator=annotator&amp;status=open" in response.content


def test_member_added_by_username(client, project, lead):
    UserFactory(username="newcomer")
    client.force_login(lead)

    response = client.post(
        reverse("project-members", args=[project.slug]),
        {"username": "newcomer", "role": "annotator"},
    )

    assert response.status_code == 302
    assert Membership.objects.get(project=project, user__username="newcomer").role == "annotator"
    assert _messages(response) == ["newcomer is now an annotator."]


@pytest.mark.parametrize(
    ("username", "error"),
    [
        ("nobody", "No user named 'nobody'. Users are created by a site admin."),
        ("annotator", "annotator is already a member of bubbles."),
        ("bad\x00name", "Null characters are not allowed."),
    ],
)
def test_member_add_refused_beside_the_username(client, project, lead, annotator, username, error):
    client.force_login(lead)
    before = Membership.objects.count()

    response = client.post(
        reverse("project-members", args=[project.slug]), {"username": username, "role": "lead"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["username"][0].startswith(error)
    assert Membership.objects.count() == before


def test_role_change_of_a_reviewer_is_direct(client, project, lead, reviewer):
    membership = Membership.objects.get(user=reviewer)
    client.force_login(lead)

    response = client.post(
        reverse("project-member-role", args=[project.slug, membership.pk]), {"role": "lead"}
    )

    assert response.status_code == 302
    assert Membership.objects.get(pk=membership.pk).role == "lead"


def test_role_change_of_an_annotator_shows_the_plan_then_moves_tasks(
    client, project, lead, annotator, other_annotator
):
    image = ImageFactory(project=project, name="open.png")
    TaskFactory(image=image, annotator=annotator)
    membership = Membership.objects.get(user=annotator)
    client.force_login(lead)
    url = reverse("project-member-role", args=[project.slug, membership.pk])

    preview = client.post(url, {"role": "reviewer"})

    assert preview.status_code == 200
    assert b"open.png" in preview.content and b"other_annotator" in preview.content
    assert Membership.objects.get(pk=membership.pk).role == "annotator"
    digest = preview.context["plan"].digest

    done = client.post(url, {"role": "reviewer", "plan": digest})

    assert done.status_code == 302
    assert Membership.objects.get(pk=membership.pk).role == "reviewer"
    assert Task.objects.get(image=image, annotator=other_annotator).status == "assigned"
    members = client.get(reverse("project-members", args=[project.slug]))
    assert members.context["receipt"]["moved"][0]["image"] == "open.png"
    again = client.get(reverse("project-members", args=[project.slug]))
    assert again.context["receipt"] is None


def test_removal_page_lists_each_task_and_where_it_goes(
    client, project, lead, annotator, other_annotator
):
    TaskFactory(image=ImageFactory(project=project, name="free.png"), annotator=annotator)
    shared = ImageFactory(project=project, name="shared.png")
    TaskFactory(image=shared, annotator=annotator)
    TaskFactory(image=shared, annotator=other_annotator, status="submitted")
    membership = Membership.objects.get(user=annotator)
    client.force_login(lead)

    response = client.get(reverse("project-member-remove", args=[project.slug, membership.pk]))

    plan = response.context["plan"]
    assert [(old.image.name, new.annotator.username) for old, new in plan.moved] == [
        ("free.png", "other_annotator")
    ]
    assert [task.image.name for task in plan.cancelled] == ["shared.png"]
    assert response.context["receiving"] == [("other_annotator", 1)]
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_removal_confirmed_moves_tasks_and_shows_the_receipt(
    client, project, lead, annotator, other_annotator
):
    image = ImageFactory(project=project, name="free.png")
    TaskFactory(image=image, annotator=annotator)
    membership = Membership.objects.get(user=annotator)
    client.force_login(lead)
    digest = membership_rebalance_plan(membership=membership, actor=lead).digest

    response = client.post(
        reverse("project-member-delete", args=[project.slug, membership.pk]), {"plan": digest}
    )

    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert Task.objects.get(image=image, annotator=other_annotator).status == "assigned"
    assert _messages(response) == [
        "annotator was removed from Pool boiling. Of their 1 open task, 1 moved to other "
        "annotators and 0 were cancelled."
    ]
    members = client.get(reverse("project-members", args=[project.slug]))
    assert members.context["receipt"]["moved"] == [
        {
            "image": "free.png",
            "to": "other_annotator",
            "url": "/p/bubbles/assignment/tasks/?annotator=other_annotator&status=open",
        }
    ]


def test_removal_with_a_stale_plan_shows_the_new_one_and_changes_nothing(
    client, project, lead, annotator, other_annotator
):
    membership = Membership.objects.get(user=annotator)
    digest = membership_rebalance_plan(membership=membership, actor=lead).digest
    TaskFactory(image=ImageFactory(project=project, name="late.png"), annotator=annotator)
    client.force_login(lead)

    response = client.post(
        reverse("project-member-delete", args=[project.slug, membership.pk]), {"plan": digest}
    )

    assert response.status_code == 200
    assert [old.image.name for old, _ in response.context["plan"].moved] == ["late.png"]
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert Task.objects.get(image__name="late.png").status == TaskStatus.ASSIGNED
    assert _messages(response)[0].startswith("annotator's open tasks changed since the preview")


@pytest.mark.parametrize("name", ["project-member-remove", "project-member-delete"])
def test_removing_oneself_is_a_message(client, project, lead, name):
    own = Membership.objects.get(user=lead)
    client.force_login(lead)
    url = reverse(name, args=[project.slug, own.pk])

    response = client.get(url) if name.endswith("remove") else client.post(url)

    assert (response.status_code, response.url) == (302, f"/p/{project.slug}/settings/members/")
    assert _messages(response) == ["You may not remove yourself from a project."]
    assert Membership.objects.filter(pk=own.pk).exists()


def test_changing_ones_own_role_is_a_message(client, project, lead):
    own = Membership.objects.get(user=lead)
    client.force_login(lead)

    response = client.post(
        reverse("project-member-role", args=[project.slug, own.pk]), {"role": "annotator"}
    )

    assert response.status_code == 302
    assert _messages(response) == ["You may not change your own role."]
    assert Membership.objects.get(pk=own.pk).role == "lead"


@pytest.mark.parametrize("data", [{}, {"role": "boss"}, {"role": "reviewer", "plan": "x" * 5000}])
def test_role_change_bad_input_is_no_error_page(client, project, lead, reviewer, data):
    membership = Membership.objects.get(user=reviewer)
    client.force_login(lead)

    response = client.post(reverse("project-member-role", args=[project.slug, membership.pk]), data)

    assert response.status_code == 302
    assert Membership.objects.get(pk=membership.pk).role == "reviewer"


def test_member_of_another_project_is_404(client, project, lead):
    foreign = MembershipFactory()
    client.force_login(lead)

    assert (
        client.get(reverse("project-member-remove", args=[project.slug, foreign.pk])).status_code
        == 404
    )
    response = client.post(reverse("project-member-delete", args=[project.slug, foreign.pk]))
    assert response.status_code == 302
    assert Membership.objects.filter(pk=foreign.pk).exists()


# ------------------------------------------------------------------ queries


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("page", ["project-members", "project-classes", "project-settings"])
def test_list_pages_make_the_same_queries_for_1_and_3_rows(client, project, lead, page):
    guideline_version_create(
        project=project, title="Bubbles", body="v1", author=lead, change_summary="1", publish=True
    )
    client.force_login(lead)
    url = reverse(page, args=[project.slug])

    def add_row(n: int) -> None:
        user = UserFactory(username=f"annotator{n}")
        MembershipFactory(project=project, user=user, role="annotator")
        TaskFactory(image=ImageFactory(project=project), annotator=user)
        LabelClassFactory(project=project, name=f"class{n}")

    add_row(0)
    one = _queries(client, url)
    add_row(1)
    add_row(2)
    three = _queries(client, url)

    assert one == three


def test_removal_page_makes_the_same_queries_for_1_and_3_open_tasks(
    client, project, lead, annotator, other_annotator
):
    membership = Membership.objects.get(user=annotator)
    client.force_login(lead)
    url = reverse("project-member-remove", args=[project.slug, membership.pk])

    def add_task(name: str) -> None:
        TaskFactory(image=ImageFactory(project=project, name=name), annotator=annotator)

    add_task("a.png")
    one = _queries(client, url)
    add_task("b.png")
    shared = ImageFactory(project=project, name="c.png")
    TaskFactory(image=shared, annotator=annotator)
    TaskFactory(image=shared, annotator=other_annotator)
    three = _queries(client, url)

    assert one == three
