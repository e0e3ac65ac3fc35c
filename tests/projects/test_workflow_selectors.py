"""Selectors of the workflow: guideline lists and diffs, who holds each image."""

from projects.models import TaskStatus
from projects.selectors import assignment_of, guideline_version_diff, guidelines_of
from tests.factories import GuidelineFactory, GuidelineVersionFactory, ImageFactory, TaskFactory


def test_diff_of_identical_versions_is_empty(project, lead):
    guideline = GuidelineFactory(project=project)
    one = GuidelineVersionFactory(guideline=guideline, number=1, author=lead, body="same")
    two = GuidelineVersionFactory(guideline=guideline, number=2, author=lead, body="same")

    assert guideline_version_diff(old=one, new=two) == {"body": "", "rules": ""}


def test_diff_body_without_final_newline_and_rule_value_change(project, lead):
    guideline = GuidelineFactory(project=project)
    rule = {"rule": "min_area_px", "value": 4, "severity": "warn"}
    one = GuidelineVersionFactory(
        guideline=guideline, number=1, author=lead, body="a", rules=[rule]
    )
    two = GuidelineVersionFactory(
        guideline=guideline, number=2, author=lead, body="a\r\nb", rules=[{**rule, "value": 9}]
    )

    diff = guideline_version_diff(old=one, new=two)

    assert diff["body"] == "--- v1/body\n+++ v2/body\n@@ -1 +1,2 @@\n a\n+b\n"
    assert diff["rules"] == (
        "--- v1/rules\n+++ v2/rules\n@@ -1 +1 @@\n"
        '-{"rule": "min_area_px", "severity": "warn", "value": 4}\n'
        '+{"rule": "min_area_px", "severity": "warn", "value": 9}\n'
    )


def test_guidelines_of_counts_drafts_for_writers_only(project, lead, annotator):
    guideline = GuidelineFactory(project=project)
    GuidelineVersionFactory(
        guideline=guideline, number=1, author=lead, published_at="2026-01-01T00:00Z"
    )
    GuidelineVersionFactory(guideline=guideline, number=2, author=lead)

    def counts(user):
        return [
            (g.published_number, g.version_count) for g in guidelines_of(project=project, user=user)
        ]

    assert (counts(lead), counts(annotator)) == ([(1, 2)], [(1, 1)])


def test_assignment_of_leaves_out_cancelled_tasks(project, annotator, other_annotator):
    image = ImageFactory(project=project, name="a.png")
    TaskFactory(image=image, annotator=other_annotator, status=TaskStatus.CANCELLED)
    TaskFactory(image=image, annotator=annotator)
    empty = ImageFactory(project=project, name="b.png")

    assert assignment_of(images=[empty, image]) == [
        {"image": empty.pk, "image_name": "b.png", "annotators": []},
        {"image": image.pk, "image_name": "a.png", "annotators": ["annotator"]},
    ]
