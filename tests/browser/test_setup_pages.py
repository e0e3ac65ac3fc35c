"""The lead sets the demo project up in Chromium: edits a setting and reads what it does to
stored agreement, adds a label class, adds a member and changes a role, opens the removal of
an annotator with open tasks, sees where each task will go, confirms and sees them moved. A
site admin creates a project and lands on its settings. No console error, no failed request;
each page shot at 1280 and 800 px."""

import pytest
from django.contrib.auth import get_user_model

from projects.models import Image, LabelClass, Membership, Project, Task, TaskStatus
from projects.services.members import membership_rebalance_plan
from tests.browser.support import shot
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _url(demo, path: str = "") -> str:
    return demo.page_url(f"/p/{demo.project.slug}/settings/{path}")


def _open_tasks_for_ben(demo) -> None:
    """ben gets two more open tasks: one on a new image anyone can take, one on an image
    every other annotator has already (nobody can take it)."""
    users = {
        u.username: u for u in get_user_model().objects.filter(username__in=["anna", "ben", "cleo"])
    }
    free = Image.objects.create(project=demo.project, name="zz_free.png", width=64, height=48)
    Task.objects.create(image=free, annotator=users["ben"])
    taken = Image.objects.create(project=demo.project, name="zz_taken.png", width=64, height=48)
    for name in ("anna", "ben", "cleo"):
        Task.objects.create(image=taken, annotator=users[name])


def test_lead_edits_a_setting_and_reads_what_it_does(demo, page):
    demo.log_in(page, "lead")

    page.goto(_url(demo))

    assert page.locator("h1").inner_text() == "Settings"
    assert page.locator(".settings-tabs [aria-current=page]").inner_text() == "Settings"
    notice = page.locator("#stale-notice").inner_text()
    assert "does not recompute stored agreement" in notice
    assert page.locator("#recompute-link").get_attribute("href") == (
        f"/p/{demo.project.slug}/recompute/"
    )
    # Review every image: no threshold to set.
    assert not page.locator("#id_auto_accept_pq").is_visible()
    shot(page, "setup/settings")
    page.check("#policy-sample")
    assert page.locator("#id_auto_accept_pq").is_visible()
    assert page.locator("#id_sample_percent").is_visible()
    page.check("#policy-below_threshold")
    assert not page.locator("#id_sample_percent").is_visible()
    page.fill("#id_match_iou", "0.6")
    with page.expect_navigation():
        page.click("#save-settings")

    texts = page.locator(".messages li").all_inner_texts()
    assert texts[0] == "Saved: Match IoU, Review policy."
    assert texts[1].startswith("The agreement stored for ")
    project = Project.objects.get(pk=demo.project.pk)
    assert (project.match_iou, project.review_policy) == (0.6, "below_threshold")
    assert page.locator("#id_match_iou").input_value() == "0.6"
    shot(page, "setup/settings-saved")


def test_lead_sees_a_setting_refused_beside_its_field(demo, page):
    demo.log_in(page, "lead")
    page.goto(_url(demo))

    page.fill("#id_quorum", "0")
    with page.expect_navigation():
        page.click("#save-settings")

    assert page.locator("#field-quorum .field-error").inner_text() == (
        "The quorum is a fraction above 0 and at most 1."
    )
    assert Project.objects.get(pk=demo.project.pk).quorum == demo.project.quorum


def test_lead_adds_and_edits_a_label_class(demo, page):
    demo.log_in(page, "lead")
    page.goto(_url(demo, "classes/"))
    bubble = page.locator("#classes tr[data-class=bubble]")
    drawn = int(bubble.locator(".drawn").inner_text())
    assert drawn > 0
    shot(page, "setup/classes")

    page.fill("#id_name", "droplet")
    page.fill("#id_match_iou", "0.3")
    with page.expect_navigation():
        page.click("#add-class")

    assert page.locator(".messages li").inner_text() == "Added the class droplet."
    droplet = page.locator("#classes tr[data-class=droplet]")
    assert droplet.locator(".match-iou").inner_text() == "0.3"
    assert droplet.locator(".drawn").inner_text() == "0"
    droplet.locator("a.button").click()
    page.wait_for_url("**/settings/classes/*/")
    shot(page, "setup/class-edit")
    page.fill("#id_name", "bubble")
    with page.expect_navigation():
        page.click("#save-class")
    assert page.locator(".form-errors li").inner_text() == (
        f"Project {demo.project.slug} already has a label class 'bubble'."
    )
    assert LabelClass.objects.filter(project=demo.project, name="droplet").exists()


def test_lead_adds_a_member_changes_a_role_and_removes_an_annotator(demo, page):
    UserFactory(username="nadia")
    _open_tasks_for_ben(demo)
    demo.log_in(page, "lead")
    page.goto(_url(demo, "members/"))
    assert page.locator(".settings-tabs [aria-current=page]").inner_text() == "Members"
    ben = page.locator("#members tr[data-member=ben]")
    open_tasks = int(ben.locator(".open-tasks").inner_text())
    assert (
        open_tasks
        == Task.objects.filter(
            image__project=demo.project,
            annotator__username="ben",
            status__in=["assigned", "in_progress", "rejected"],
        ).count()
    )
    assert ben.locator(".open-tasks a").get_attribute("href") == (
        f"/p/{demo.project.slug}/assignment/tasks/?annotator=ben&status=open"
    )
    shot(page, "setup/members")
    # The count opens the list behind it: ben's open tasks.
    ben.locator(".open-tasks a").click()
    page.wait_for_url("**/assignment/tasks/**")
    assert page.locator("#matching-count").inner_text() == str(open_tasks)
    assert set(
        page.locator("#tasks tbody tr").evaluate_all("rows => rows.map(r => r.dataset.annotator)")
    ) == {"ben"}
    page.go_back()

    page.fill("#id_username", "nadia")
    page.select_option("#id_role", "annotator")
    with page.expect_navigation():
        page.click("#add-member")
    assert page.locator(".messages li").inner_text() == "nadia is now an annotator."
    nadia = page.locator("#members tr[data-member=nadia]")
    nadia.locator("select").select_option("reviewer")
    with page.expect_navigation():
        nadia.locator("button").click()
    assert page.locator(".messages li").inner_text().startswith("nadia is now a reviewer.")
    assert Membership.objects.get(project=demo.project, user__username="nadia").role == "reviewer"

    lead = get_user_model().objects.get(username="lead")
    membership = Membership.objects.get(project=demo.project, user__username="ben")
    expected = membership_rebalance_plan(membership=membership, actor=lead)
    page.locator("#members tr[data-member=ben] a.remove").click()
    page.wait_for_url("**/remove/")

    assert page.locator("h1").inner_text() == "Remove ben from Pool boiling (demo)?"
    moved_rows = page.locator("#plan-tasks tr.moved")
    shown = [
        (row.locator("td").first.inner_text(), row.locator(".to").inner_text())
        for row in moved_rows.all()
    ]
    assert shown == [(old.image.name, new.annotator.username) for old, new in expected.moved]
    cancelled = page.locator("#plan-tasks tr.cancelled td:first-child").all_inner_texts()
    assert cancelled == [task.image.name for task in expected.cancelled]
    assert "zz_taken.png" in cancelled
    assert "zz_free.png" in [image for image, _ in shown]
    shot(page, "setup/member-remove")
    with page.expect_navigation():
        page.click("#confirm")

    assert page.locator(".messages li").inner_text() == (
        f"ben was removed from Pool boiling (demo). Of their {expected.tasks} open tasks, "
        f"{len(expected.moved)} moved to other annotators and {len(expected.cancelled)} were "
        "cancelled."
    )
    receipt = page.locator("#receipt-tasks tr.moved td").all_inner_texts()
    assert receipt[:2] == [shown[0][0], f"assigned to {shown[0][1]}"]
    assert page.locator("#members tr[data-member=ben]").count() == 0
    free = Task.objects.get(image__name="zz_free.png", status=TaskStatus.ASSIGNED)
    assert free.annotator.username == dict(shown)["zz_free.png"]
    assert (
        Task.objects.get(image__name="zz_taken.png", annotator__username="ben").status
        == "cancelled"
    )
    shot(page, "setup/members-receipt")
    page.reload()
    assert page.locator("#receipt").count() == 0


def test_lead_making_an_annotator_a_reviewer_sees_the_plan_first(demo, page):
    _open_tasks_for_ben(demo)
    demo.log_in(page, "lead")
    page.goto(_url(demo, "members/"))

    ben = page.locator("#members tr[data-member=ben]")
    ben.locator("select").select_option("reviewer")
    with page.expect_navigation():
        ben.locator("button").click()

    assert page.locator("h1").inner_text() == "Make ben a reviewer?"
    assert page.locator("#plan-tasks tr").count() > 1
    assert Membership.objects.get(project=demo.project, user__username="ben").role == "annotator"
    shot(page, "setup/member-role")
    with page.expect_navigation():
        page.click("#confirm")
    assert page.locator(".messages li").inner_text().startswith("ben is now a reviewer.")
    assert Membership.objects.get(project=demo.project, user__username="ben").role == "reviewer"


def test_admin_creates_a_project(demo, page):
    demo.log_in(page, "admin")
    page.goto(demo.page_url("/projects/new/"))
    shot(page, "setup/project-create")

    page.fill("#id_slug", "droplets")
    page.fill("#id_name", "Droplet impacts")
    page.fill("#id_labels", "droplet\nsplash")
    with page.expect_navigation():
        page.click("#create-project")

    assert page.url == demo.page_url("/p/droplets/settings/")
    assert page.locator(".messages li").inner_text() == (
        "Created Droplet impacts. Check its settings, then add its members."
    )
    assert page.locator("#id_name").input_value() == "Droplet impacts"
    page.goto(demo.page_url("/p/droplets/settings/classes/"))
    assert page.locator("#classes .class-name a").all_inner_texts() == ["droplet", "splash"]
    page.goto(demo.page_url("/p/droplets/settings/members/"))
    assert page.locator("#members-empty").is_visible()
    shot(page, "setup/members-empty")
