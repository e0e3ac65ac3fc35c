"""The lead's overview, the work dashboard and the site admin's page of all projects in
Chromium, on the demo: what needs attention first, every count a link that opens its
filtered list, the funnel's counts equal to the database's, and no console error or failed
request anywhere (the page watch)."""

from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from projects.models import OPEN_TASK_STATUSES, Task
from projects.selectors import QCState, images_with_qc_state
from qc.models import Submission
from tests.browser.support import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _states(project) -> dict[str, int]:
    counts = dict(
        images_with_qc_state(project=project)
        .order_by()
        .values_list("qc_state")
        .annotate(n=Count("id"))
        .values_list("qc_state", "n")
    )
    return {state: counts.get(state, 0) for state in QCState.ORDER}


def _statuses(project) -> dict[str, int]:
    return dict(
        Task.objects.filter(image__project=project)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )


def _bar_counts(page, chart: str) -> dict[str, int]:
    return {
        bar.get_attribute("data-key"): int(bar.get_attribute("data-count"))
        for bar in page.locator(f"#{chart} g.bar").all()
    }


def test_lead_follows_the_overview_and_reads_the_funnel(demo, page):
    project = demo.project
    slug = project.slug
    # One task late, so the overdue tile has something to open.
    late = Task.objects.filter(image__project=project, status__in=OPEN_TASK_STATUSES).first()
    Task.objects.filter(pk=late.pk).update(due_date=timezone.localdate() - timedelta(days=2))
    states = _states(project)
    demo.log_in(page, "lead")

    page.goto(demo.page_url(f"/p/{slug}/"))

    attention = page.locator("#attention")
    assert attention.locator("#attention-waiting .number").inner_text() == str(
        states[QCState.IN_REVIEW]
    )
    assert attention.locator("#attention-rework .number").inner_text() == str(
        states[QCState.NEEDS_REWORK]
    )
    assert attention.locator("#attention-overdue .number").inner_text() == "1"
    for state, n in states.items():
        assert page.locator(f"#image-states tr[data-state={state}] a").inner_text() == str(n)
    shot(page, "funnel/overview")

    # A count opens its filtered list, which holds as many.
    with page.expect_navigation():
        page.click("#attention-waiting .number")
    assert page.url.endswith(f"/p/{slug}/images/?state=in_review")
    assert page.locator("#matching-count").inner_text() == str(states[QCState.IN_REVIEW])
    page.go_back()
    with page.expect_navigation():
        page.click("#image-states tr[data-state=needs_rework] a")
    assert page.url.endswith(f"/p/{slug}/images/?state=needs_rework")
    assert page.locator("#matching-count").inner_text() == str(states[QCState.NEEDS_REWORK])
    page.go_back()
    with page.expect_navigation():
        page.click("#attention-overdue")
    assert page.url.endswith(f"/p/{slug}/assignment/tasks/?overdue=1")
    assert late.image.name in page.locator("main").inner_text()

    # The funnel's counts are the database's.
    page.goto(demo.page_url(f"/p/{slug}/"))
    with page.expect_navigation():
        page.click("#funnel-link")
    assert page.url.endswith(f"/p/{slug}/dashboard/work/")
    assert _bar_counts(page, "image-states") == states
    statuses = _statuses(project)
    assert _bar_counts(page, "task-statuses") == {
        key: statuses.get(key, 0) for key in _bar_counts(page, "task-statuses")
    }
    assert page.locator("#stat-backlog .number").inner_text() == str(states[QCState.IN_REVIEW])
    assert page.locator("#overdue-count").inner_text() == "1"
    start = timezone.localdate() - timedelta(days=27)
    recent = Submission.objects.filter(
        task__image__project=project, submitted_at__date__gte=start
    ).count()
    assert page.locator("#daily-submissions").get_attribute("aria-labelledby")
    caption = page.locator("figure[data-series=submissions] .total").inner_text()
    assert caption == str(recent)
    page.click("details summary")
    rows = page.locator("#throughput-table tbody tr")
    assert rows.count() == 28
    total = sum(int(n) for n in rows.locator("td:nth-child(2)").all_inner_texts())
    assert total == recent
    backlog_rows = page.locator("#backlog-table tbody tr")
    waiting = sum(int(n) for n in backlog_rows.locator("td.num").all_inner_texts())
    assert waiting == states[QCState.IN_REVIEW]
    shot(page, "funnel/work")

    # The in-review bar opens the images in review.
    with page.expect_navigation():
        page.click("#image-states g.bar-in_review a")
    assert page.url.endswith(f"/p/{slug}/images/?state=in_review")
    assert page.locator("#matching-count").inner_text() == str(states[QCState.IN_REVIEW])


def test_reviewer_reads_the_funnel_and_opens_their_oldest_image(demo, page):
    reviewer = demo.usernames("reviewer")[0]
    demo.log_in(page, reviewer)

    page.goto(demo.page_url(f"/p/{demo.project.slug}/dashboard/work/"))

    assert _bar_counts(page, "image-states") == _states(demo.project)
    assert page.locator("#image-states a").count() == 0
    in_queue = page.locator("#backlog-queue").inner_text().split()[0]
    with page.expect_navigation():
        page.click("#backlog-queue")
    assert page.url.endswith(f"/p/{demo.project.slug}/review/")
    assert page.locator("#waiting-count").inner_text() == in_queue
    page.go_back()
    mine = page.locator("#waiting-longest a")
    assert mine.count() >= 1
    name = mine.first.inner_text()
    with page.expect_navigation():
        mine.first.click()
    assert "/review/" in page.url
    assert name in page.locator("main").inner_text()


def test_admin_reads_every_project(demo, page):
    states = _states(demo.project)
    demo.log_in(page, "admin")

    page.goto(demo.page_url("/dashboard/"))

    row = page.locator(f"#projects-table tr[data-project={demo.project.slug}]")
    assert row.locator("td[data-key=images]").inner_text() == str(sum(states.values()))
    for state, n in states.items():
        assert row.locator(f"td[data-key={state}]").inner_text() == str(n)
    pq = row.locator("td[data-key=pq] a").inner_text()
    stored = demo.project.agreement_summary.report["summary"]["pq"]
    assert pq == f"{stored:.2f}"
    shot(page, "funnel/all-projects")
    with page.expect_navigation():
        row.locator(".project-link").click()
    assert page.url.endswith(f"/p/{demo.project.slug}/")
