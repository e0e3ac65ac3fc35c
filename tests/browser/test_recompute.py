"""Recomputing the demo project in Chromium: the lead opens a queued recompute, a worker runs
it, and the page shows it done with its summary without being reloaded."""

import pytest
from django.contrib.auth import get_user_model

from qc.models import Recompute
from qc.services.recompute import recompute_run
from tests.browser.support import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_recompute_ends_on_the_page_without_a_reload(demo, page):
    lead = get_user_model().objects.get(username="lead")
    queued = Recompute.objects.create(project=demo.project, created_by=lead)
    demo.log_in(page, "lead")

    page.goto(demo.page_url(f"/p/{demo.project.slug}/recompute/{queued.pk}/"))
    page.evaluate("() => { window.sameDocument = true; }")
    assert page.locator("#recompute-status .badge").inner_text() == "Queued"
    assert page.locator("#recompute-status progress").count() == 1
    shot(page, "recompute/queued")

    recompute_run(recompute_id=queued.pk)  # the worker

    page.locator("#recompute-summary").wait_for(timeout=10_000)
    assert page.evaluate("() => window.sameDocument") is True
    assert page.locator("#recompute-status .badge").inner_text() == "Finished"
    images = demo.project.images.filter(tasks__submissions__isnull=False).distinct().count()
    assert page.locator("#recompute-summary tr").first.inner_text().split() == [
        "Images",
        "checked",
        str(images),
    ]
    shot(page, "recompute/done")

    page.goto(demo.page_url(f"/p/{demo.project.slug}/recompute/"))
    assert page.locator("#recomputes tbody tr").count() == 1
    assert "Finished" in page.locator("#recomputes tbody tr").inner_text()
    shot(page, "recompute/list")
