"""qc's read helpers: the stored report and style rows as the API shows them, and a
project's import jobs and exports."""

import pytest

from qc.models import AgreementSummary, Export, ImportJob
from qc.selectors import (
    ANNOTATOR_KEYS,
    agreement_report_stored,
    exports_of,
    import_jobs_of,
    style_reports_visible_to,
)
from tests.factories import ProjectFactory, UserFactory


def _style_row(username):
    return {
        **dict.fromkeys(ANNOTATOR_KEYS),
        "username": username,
        "images": 1,
        "merges": 0,
        "splits": 0,
        "description": f"{username}'s style",
        "pooled": {},
    }


@pytest.fixture
def stored(project):
    report = {
        "project": project.slug,
        "images": 1,
        "summary": {"pq": 0.5, "pq_ci95": [0.4, 0.6], "mean_iou": 0.8, "f1": 0.6},
        "pairs": [],
        "annotators": [_style_row(name) for name in ("annotator", "other_annotator", "outsider")],
        "by_class": {"bubble": {"pq": 0.5}},
    }
    return AgreementSummary.objects.create(project=project, report=report)


def test_agreement_report_stored_before_any_agreement_is_empty(project):
    assert agreement_report_stored(project=project) == {
        "project": "bubbles",
        "images": 0,
        "summary": None,
        "pairs": [],
        "annotators": [],
        "by_class": {},
        "by_week": {},
        "by_guideline_version": {},
    }


def test_agreement_report_stored_keeps_breakdowns_and_interface_keys_only(project, stored):
    report = agreement_report_stored(project=project)

    assert (report["by_class"], report["by_week"]) == ({"bubble": {"pq": 0.5}}, {})
    assert [list(a) for a in report["annotators"]] == [list(ANNOTATOR_KEYS)] * 3


def test_style_reports_visible_to_lead_is_everyone(project, stored, lead):
    rows = style_reports_visible_to(user=lead, project=project)

    assert [r["username"] for r in rows] == ["annotator", "other_annotator", "outsider"]


def test_style_reports_visible_to_annotator_is_own_only(project, stored, annotator):
    rows = style_reports_visible_to(user=annotator, project=project)

    assert rows == [_style_row("annotator")]


def test_style_reports_visible_to_outsider_is_nothing_even_under_their_name(
    project, stored, outsider
):
    # The stored report holds a row named like the outsider: it must not leak to them.
    assert style_reports_visible_to(user=outsider, project=project) == []


def test_jobs_of_a_project_newest_first_without_other_projects(project, lead):
    other = ProjectFactory(slug="other")
    someone = UserFactory(username="someone")
    for name in ("a.json", "b.json"):
        ImportJob.objects.create(project=project, created_by=lead, format="coco", source_name=name)
    ImportJob.objects.create(project=other, created_by=someone, format="coco", source_name="x")
    first = Export.objects.create(project=project, created_by=lead, format="coco")
    second = Export.objects.create(project=project, created_by=lead, format="supervisely")
    Export.objects.create(project=other, created_by=someone, format="coco")

    jobs = [j.source_name for j in import_jobs_of(project=project)]
    exports = [e.pk for e in exports_of(project=project)]

    assert (jobs, exports) == (["b.json", "a.json"], [second.pk, first.pk])


def test_qc_state_is_one_derivation_for_the_pages_and_the_api(project, lead, annotator):
    # A label in force is accepted; a sent-back label, with its task back to rework, is
    # needs_rework on the project's pages and in the API alike; an image without a live
    # task is "unassigned" on the pages and "annotating" in the API.
    from projects.models import TaskStatus
    from projects.selectors import images_with_qc_state
    from qc.models import ImageLabel, Submission
    from qc.selectors import images_visible_to
    from tests.factories import ImageFactory, TaskFactory

    accepted, sent_back, _ = (ImageFactory(project=project, name=n) for n in "abc")
    for image, status in ((accepted, TaskStatus.ACCEPTED), (sent_back, TaskStatus.REJECTED)):
        task = TaskFactory(image=image, annotator=annotator, status=status)
        submission = Submission.objects.create(task=task, revision=1)
        ImageLabel.objects.create(image=image, submission=submission, sent_back=image is sent_back)

    pages = dict(images_with_qc_state(project=project).values_list("name", "qc_state"))
    api = dict(images_visible_to(user=lead, project=project).values_list("name", "qc_state"))

    assert pages == {"a": "accepted", "b": "needs_rework", "c": "unassigned"}
    assert api == {"a": "accepted", "b": "needs_rework", "c": "annotating"}


def test_review_queue_is_the_pages_queue_for_the_api_too(project, lead, annotator):
    # Both show the images in review the user did not annotate, lowest pq first.
    from projects.models import TaskStatus
    from projects.selectors import review_queue as page_queue
    from qc.models import ImageAgreement
    from qc.selectors import review_queue as api_queue
    from tests.factories import ImageFactory, TaskFactory

    for name, pq, by in (("a", 0.9, annotator), ("b", 0.2, annotator), ("c", 0.1, lead)):
        image = ImageFactory(project=project, name=name)
        TaskFactory(image=image, annotator=by, status=TaskStatus.SUBMITTED)
        ImageAgreement.objects.create(image=image, annotators=2, pq=pq, consensus_method="majority")

    pages = [i.name for i in page_queue(user=lead, project=project)]
    api = [(i.name, i.qc_state) for i in api_queue(user=lead, project=project)]

    assert pages == ["b", "a"]
    assert api == [("b", "in_review"), ("a", "in_review")]
