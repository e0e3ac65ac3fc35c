"""Services that write projects, guidelines and tasks."""

import threading
from collections import Counter

import pytest
from django.db import connection

from projects.errors import ApplicationError
from projects.models import AuditEvent, GuidelineVersion, Task
from projects.selectors import current_versions
from projects.services import (
    guideline_acknowledge,
    guideline_version_create,
    guideline_version_publish,
    membership_set,
    project_create,
    task_assign,
)
from tests.factories import ImageFactory, MembershipFactory, ProjectFactory, UserFactory


def _annotators(project, n):
    users = [UserFactory(username=f"ann{i}") for i in range(n)]
    for user in users:
        MembershipFactory(project=project, user=user, role="annotator")
    return users


def test_task_assign_full_overlap_gives_each_image_overlap_distinct_annotators(project, lead):
    project.overlap, project.overlap_fraction = 3, 1.0
    annotators = _annotators(project, 4)
    images = [ImageFactory(project=project) for _ in range(8)]

    tasks = task_assign(project=project, images=images, actor=lead)

    per_image = Counter(t.image_id for t in tasks)
    assert set(per_image.values()) == {3}
    assert len({(t.image_id, t.annotator_id) for t in tasks}) == 24
    load = Counter(t.annotator_id for t in tasks)
    assert sorted(load.values()) == [6, 6, 6, 6]
    assert {a.pk for a in annotators} == set(load)


def test_task_assign_overlap_fraction_plans_one_third_overlapped(project, lead):
    project.overlap, project.overlap_fraction = 3, 1 / 3
    _annotators(project, 3)
    images = [ImageFactory(project=project) for _ in range(9)]

    tasks = task_assign(project=project, images=images, actor=lead)

    assert sorted(Counter(t.image_id for t in tasks).values()) == [1] * 6 + [3] * 3
    assert sorted(Counter(t.annotator_id for t in tasks).values()) == [5, 5, 5]


def test_task_assign_twice_adds_nothing_and_never_repeats_an_image(project, lead):
    project.overlap = 2
    _annotators(project, 3)
    images = [ImageFactory(project=project) for _ in range(4)]
    task_assign(project=project, images=images, actor=lead)

    again = task_assign(project=project, images=images, actor=lead)

    assert again == []
    assert Task.objects.filter(image__project=project).count() == 8


def test_task_assign_without_annotators_fails(project, lead):
    with pytest.raises(ApplicationError, match="no annotators"):
        task_assign(project=project, images=[ImageFactory(project=project)], actor=lead)


def test_task_assign_writes_one_audit_event_per_task(project, lead):
    _annotators(project, 2)
    tasks = task_assign(project=project, images=[ImageFactory(project=project)], actor=lead)

    assert AuditEvent.objects.filter(verb="task.assign").count() == len(tasks) == 2


def test_guideline_versions_number_consecutively_and_render_safe_html(project, lead):
    first = guideline_version_create(project=project, title="Bubbles", body="# Rim", author=lead)
    second = guideline_version_create(
        project=project,
        title="Bubbles",
        author=lead,
        change_summary="no scripts",
        body="Hug the rim.<script>alert(1)</script> <a href='javascript:x()'>x</a>",
    )

    assert (first.number, second.number) == (1, 2)
    assert first.body_html == "<h1>Rim</h1>"
    assert "<script" not in second.body_html and "javascript:" not in second.body_html


def test_guideline_version_bad_rules_refused(project, lead):
    with pytest.raises(ApplicationError, match="unknown rule 'min_size'"):
        guideline_version_create(
            project=project,
            title="B",
            body="x",
            author=lead,
            rules=[{"rule": "min_size", "value": 3}],
        )

    assert GuidelineVersion.objects.count() == 0


def test_current_versions_newest_published_per_guideline(project, lead):
    v1 = guideline_version_create(
        project=project, title="A", body="1", author=lead, change_summary="First.", publish=True
    )
    guideline_version_create(project=project, title="A", body="2 draft", author=lead)
    b1 = guideline_version_create(project=project, title="B", body="1", author=lead)
    guideline_version_publish(version=b1, actor=lead, change_summary="First.")

    assert {v.pk for v in current_versions(project=project)} == {v1.pk, b1.pk}


def test_acknowledge_unpublished_version_refused(project, lead, annotator):
    draft = guideline_version_create(project=project, title="A", body="1", author=lead)

    with pytest.raises(ApplicationError, match="not published"):
        guideline_acknowledge(version=draft, user=annotator)


def test_acknowledge_twice_keeps_one(project, lead, annotator):
    version = guideline_version_create(
        project=project, title="A", body="1", author=lead, change_summary="First.", publish=True
    )

    first = guideline_acknowledge(version=version, user=annotator)
    second = guideline_acknowledge(version=version, user=annotator)

    assert first.pk == second.pk


def test_membership_set_unknown_role_refused(project):
    with pytest.raises(ApplicationError, match="Unknown role"):
        membership_set(project=project, user=UserFactory(), role="owner")


def test_project_create_invalid_settings_refused_without_writing(db):
    with pytest.raises(ApplicationError, match="invalid"):
        project_create(slug="bad slug!", labels=["bubble"])

    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_guideline_versions_concurrent_writers_get_distinct_numbers():
    if connection.vendor != "postgresql":
        pytest.skip("row locks are only meaningful on PostgreSQL")
    project = ProjectFactory()
    author = UserFactory()
    MembershipFactory(project=project, user=author, role="lead")
    guideline_version_create(project=project, title="G", body="0", author=author)
    errors = []

    def write(n):
        try:
            guideline_version_create(project=project, title="G", body=str(n), author=author)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(GuidelineVersion.objects.values_list("number", flat=True)) == [1, 2, 3, 4, 5]
