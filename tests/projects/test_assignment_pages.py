"""The lead's assignment pages through the test client: the images list, the assignment
form with its preview and the assignment itself, the task list with reassign and cancel;
their filters, refusals and query counts."""

import datetime
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from projects.models import Task, TaskStatus
from tests.factories import (
    ImageFactory,
    MembershipFactory,
    ProjectFactory,
    TaskFactory,
    UserFactory,
)
from tests.projects.guideline_support import published_v1


@pytest.fixture
def team(project):
    users = {name: UserFactory(username=name) for name in ("anna", "ben", "cleo")}
    for user in users.values():
        MembershipFactory(project=project, user=user, role="annotator")
    return users


@pytest.fixture
def as_lead(client, lead):
    client.force_login(lead)
    return client


def _url(name, project, *args):
    return reverse(name, args=[project.slug, *args])


def _queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def _messages(response):
    return [str(message) for message in response.context["messages"]]


# --- images ---------------------------------------------------------------------------------


def test_images_list_shows_each_image_with_its_state_and_tasks(as_lead, project, team):
    a = ImageFactory(project=project, name="a.png")
    ImageFactory(project=project, name="b.png")
    TaskFactory(image=a, annotator=team["anna"])
    TaskFactory(image=a, annotator=team["ben"], status=TaskStatus.CANCELLED)

    response = as_lead.get(_url("project-images", project))

    rows = response.context["listing"].rows
    assert [(r.image.name, r.state, [t.annotator.username for t in r.tasks]) for r in rows] == [
        ("a.png", "annotating", ["anna", "ben"]),
        ("b.png", "unassigned", []),
    ]
    assert b'id="assign-unassigned"' in response.content
    assert b"Assign the 1 unassigned image" in response.content


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("?state=unassigned", ["b.png", "c.png"]),
        ("?annotator=anna", ["a.png"]),
        ("?annotator=ben", []),
        ("?q=C.P", ["c.png"]),
        ("?state=unassigned&q=b", ["b.png"]),
    ],
)
def test_images_list_filters(as_lead, project, team, query, names):
    a = ImageFactory(project=project, name="a.png")
    ImageFactory(project=project, name="b.png")
    ImageFactory(project=project, name="c.png")
    TaskFactory(image=a, annotator=team["anna"])
    TaskFactory(image=a, annotator=team["ben"], status=TaskStatus.CANCELLED)

    response = as_lead.get(_url("project-images", project) + query)

    assert [row.image.name for row in response.context["listing"].rows] == names


@pytest.mark.parametrize(
    "query", ["?state=nonsense", "?per=7&page=abc", "?q=%00", "?page=999999999999999999999"]
)
def test_images_list_leaves_out_what_does_not_parse(as_lead, project, query):
    ImageFactory(project=project, name="a.png")

    response = as_lead.get(_url("project-images", project) + query)

    assert response.status_code == 200
    assert [row.image.name for row in response.context["listing"].rows] == ["a.png"]


def test_images_list_without_images_says_what_to_do(as_lead, project):
    response = as_lead.get(_url("project-images", project))

    assert b"The project has no images yet." in response.content


def test_images_list_queries_do_not_grow_with_the_images(as_lead, project, team):
    def image(n):
        ImageFactory(project=project, name=f"i{n}.png")
        TaskFactory(image=project.images.get(name=f"i{n}.png"), annotator=team["anna"])

    image(0)
    one = _queries(as_lead, _url("project-images", project))
    image(1)
    image(2)
    three = _queries(as_lead, _url("project-images", project))

    # Session, user, project, role; count, states, page, tasks with annotators, annotators.
    assert one == three == 9


# --- the assignment page ----------------------------------------------------------------------


def _form(images=None, **values):
    data = {"batch": "unassigned", "count": "10", "annotator": ["anna", "ben", "cleo"]}
    if images is not None:
        data.update(batch="selected", image=[str(image.pk) for image in images])
    data.update(values)
    return data


def test_assignment_page_opens_with_the_selected_images(as_lead, project, team):
    images = [ImageFactory(project=project, name=f"{n}.png") for n in "ab"]
    url = _url("project-assignment", project) + f"?batch=selected&image={images[1].pk}"

    response = as_lead.get(url)

    assert [image.name for image in response.context["page"].selected] == ["b.png"]
    assert b'id="batch-selected" checked' in response.content
    assert response.context["plan"] is None


def test_load_table_counts_each_annotators_tasks_and_links_them(as_lead, project, team):
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    for status in ["assigned", "in_progress", "rejected", "submitted"]:
        TaskFactory(
            image=ImageFactory(project=project),
            annotator=team["anna"],
            status=status,
            due_date=yesterday,
        )

    response = as_lead.get(_url("project-assignment", project))

    loads = {row.username: row for row in response.context["page"].loads}
    anna = loads["anna"]
    assert (anna.open, anna.in_progress, anna.rejected, anna.submitted, anna.overdue) == (
        3,
        1,
        1,
        1,
        3,
    )
    assert loads["ben"].open == 0
    tasks = _url("project-task-list", project)
    assert f'href="{tasks}?annotator=anna&amp;overdue=1" class="late">3<'.encode() in (
        response.content
    )


def test_preview_shows_the_plan_and_creates_nothing(as_lead, project, team):
    images = [ImageFactory(project=project, name=f"{n}.png") for n in "abc"]

    response = as_lead.get(
        _url("project-assignment", project),
        {**_form(images, overlap="2", share="100"), "preview": "1"},
    )

    plan = response.context["plan"]
    assert [(i.name, a.username) for i, a in plan.tasks] == [
        ("a.png", "anna"),
        ("a.png", "ben"),
        ("b.png", "cleo"),
        ("b.png", "anna"),
        ("c.png", "ben"),
        ("c.png", "cleo"),
    ]
    assert [(load.annotator.username, load.new) for load in plan.loads] == [
        ("anna", 2),
        ("ben", 2),
        ("cleo", 2),
    ]
    assert b"Assign 6 tasks" in response.content
    assert Task.objects.count() == 0


def test_preview_open_now_is_this_projects_open_tasks_and_opens_them(as_lead, project, team):
    elsewhere = ProjectFactory(slug="elsewhere")
    for _ in range(4):
        TaskFactory(image=ImageFactory(project=elsewhere), annotator=team["ben"])
    TaskFactory(image=ImageFactory(project=project, name="held.png"), annotator=team["ben"])
    images = [ImageFactory(project=project, name=f"{n}.png") for n in "ab"]

    response = as_lead.get(
        _url("project-assignment", project), {**_form(images, share="0"), "preview": "1"}
    )

    before = {load.annotator.username: load.before for load in response.context["plan"].loads}
    assert before == {"anna": 0, "ben": 1, "cleo": 0}
    tasks = _url("project-task-list", project)
    assert f'href="{tasks}?annotator=ben&amp;status=open"'.encode() in response.content
    assert b"open tasks in this project" in response.content
    assert b"over all their projects" not in response.content


def test_assign_creates_the_previewed_tasks(as_lead, project, team):
    images = [ImageFactory(project=project, name=f"{n}.png") for n in "abc"]
    data = _form(images, overlap="2", share="50", seed="3")
    preview = as_lead.get(_url("project-assignment", project), {**data, "preview": "1"})
    plan = preview.context["plan"]

    response = as_lead.post(
        _url("task-assign", project), {**data, "plan": plan.digest}, follow=True
    )

    assert response.redirect_chain == [(_url("project-task-list", project), 302)]
    made = Task.objects.order_by("pk").values_list("image__name", "annotator__username")
    assert list(made) == [(i.name, a.username) for i, a in plan.tasks]
    # Half of three images, rounded to even, get two annotators: 2 × 2 + 1.
    assert len(made) == 5
    assert _messages(response)[0].startswith("Assigned 5 new tasks on 3 images: ")


def test_assign_with_a_stale_plan_creates_nothing_and_shows_the_new_one(as_lead, project, team):
    images = [ImageFactory(project=project, name=f"{n}.png") for n in "ab"]
    data = _form(images, share="0")
    old = as_lead.get(_url("project-assignment", project), {**data, "preview": "1"})
    TaskFactory(image=ImageFactory(project=project), annotator=team["anna"])

    response = as_lead.post(
        _url("task-assign", project), {**data, "plan": old.context["plan"].digest}
    )

    assert response.status_code == 409
    assert Task.objects.filter(image__in=images).count() == 0
    assert response.context["plan"].digest != old.context["plan"].digest
    assert b"changed since its preview" in response.content


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"annotator": []}, b"Choose at least one annotator."),
        ({"batch": "selected"}, b"No image is selected"),
        ({"batch": "state", "state": "accepted"}, b"No image is accepted."),
        ({"count": "0"}, b"greater than or equal to 1"),
        ({"overlap": "0"}, b"greater than or equal to 1"),
        ({"due_date": "2001-01-01"}, b"A due date in the past"),
        ({"batch": "selected", "image": ["99999999999999999999999"]}, b"not one of the"),
        ({"annotator": ["nobody"]}, b"not one of the available choices"),
        ({"share": "nan"}, b"Enter a number."),
        ({"share": "-inf"}, b"Enter a number."),
        ({"overlap": "1e309"}, b"Enter a whole number."),
    ],
)
def test_assign_refuses_a_bad_form_and_changes_nothing(as_lead, project, team, data, error):
    ImageFactory(project=project, name="a.png")

    response = as_lead.post(_url("task-assign", project), {**_form(), **data})

    assert response.status_code == 400
    assert error in response.content
    assert Task.objects.count() == 0


def test_assign_takes_a_garbled_seed_as_the_default(as_lead, project, team):
    ImageFactory(project=project, name="a.png")

    response = as_lead.post(_url("task-assign", project), _form(seed="-1; drop"))

    assert response.status_code == 302
    assert Task.objects.count() == 2


def test_preview_with_a_bad_form_shows_errors(as_lead, project, team):
    response = as_lead.get(
        _url("project-assignment", project),
        {"preview": "1", "batch": "selected", "image": ["x", "-1"], "annotator": "anna"},
    )

    assert response.status_code == 200
    assert response.context["plan"] is None
    assert response.context["form"].errors["image"]


def test_assignment_page_queries_do_not_grow_with_annotators_or_images(as_lead, project, lead):
    published_v1(project, lead)
    images = []

    def member(n):
        MembershipFactory(project=project, user=UserFactory(username=f"a{n}"), role="annotator")
        images.append(ImageFactory(project=project, name=f"i{n}.png"))
        TaskFactory(image=images[-1], annotator=project.memberships.last().user)

    def preview():
        names = list(project.memberships.filter(role="annotator").values_list("user__username"))
        data = _form(images, annotator=[name for (name,) in names], preview="1")
        return _url("project-assignment", project) + "?" + _encode(data)

    member(0)
    one = (_queries(as_lead, _url("project-assignment", project)), _queries(as_lead, preview()))
    member(1)
    member(2)
    three = (_queries(as_lead, _url("project-assignment", project)), _queries(as_lead, preview()))

    # The form: session, user, project, role; the initial annotators; loads, the current
    # guideline versions and their acknowledgements, states. The preview: the frame; the
    # form's images and annotators; the plan's membership check, load and tasks; the
    # form's queries after the frame's and the selected images.
    assert one == three == (9, 14)


def _encode(data):
    return urlencode(data, doseq=True)


def test_assign_refuses_get(as_lead, project):
    assert as_lead.get(_url("task-assign", project)).status_code == 405


# --- tasks ----------------------------------------------------------------------------------


@pytest.fixture
def tasks(project, team):
    today = timezone.localdate()
    a = ImageFactory(project=project, name="a.png")
    b = ImageFactory(project=project, name="b.png")
    return {
        "a-anna": TaskFactory(image=a, annotator=team["anna"], due_date=today),
        "a-ben": TaskFactory(
            image=a,
            annotator=team["ben"],
            status=TaskStatus.IN_PROGRESS,
            due_date=today - datetime.timedelta(days=1),
        ),
        "b-cleo": TaskFactory(image=b, annotator=team["cleo"], status=TaskStatus.SUBMITTED),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["b-cleo", "a-ben", "a-anna"]),
        ("?status=open", ["a-ben", "a-anna"]),
        ("?status=submitted", ["b-cleo"]),
        ("?annotator=ben", ["a-ben"]),
        ("?image=a.png", ["a-ben", "a-anna"]),
        ("?overdue=1", ["a-ben"]),
        ("?status=bogus&per=3000", ["b-cleo", "a-ben", "a-anna"]),
        ("?image=99999999999999999999999", []),
    ],
)
def test_task_list_filters(as_lead, project, tasks, query, expected):
    response = as_lead.get(_url("project-task-list", project) + query)

    names = {task.pk: name for name, task in tasks.items()}
    assert [names[row.task.pk] for row in response.context["listing"].rows] == expected


def test_task_list_filters_by_image_id(as_lead, project, tasks):
    image = tasks["b-cleo"].image

    response = as_lead.get(_url("project-task-list", project) + f"?image={image.pk}")

    assert [row.task.pk for row in response.context["listing"].rows] == [tasks["b-cleo"].pk]


def test_task_list_offers_only_annotators_without_the_image(as_lead, project, tasks):
    response = as_lead.get(_url("project-task-list", project))

    rows = {row.task.pk: row for row in response.context["listing"].rows}
    choices = [(c.username, c.reason) for c in rows[tasks["a-anna"].pk].choices]
    assert choices == [("ben", "has this image"), ("cleo", None)]
    assert rows[tasks["b-cleo"].pk].choices == []
    assert b"ben (has this image)" in response.content


def test_task_list_queries_do_not_grow_with_the_tasks(as_lead, project, team):
    def task(n):
        TaskFactory(image=ImageFactory(project=project, name=f"t{n}.png"), annotator=team["anna"])

    task(0)
    one = _queries(as_lead, _url("project-task-list", project) + "?status=open")
    task(1)
    task(2)
    three = _queries(as_lead, _url("project-task-list", project) + "?status=open")

    # Session, user, project, role; count, page, holders, members, total, annotators.
    assert one == three == 10


def test_reassign_moves_the_task_and_keeps_the_lists_filters(as_lead, project, tasks):
    task = tasks["a-anna"]
    back = _url("project-task-list", project) + "?status=open"

    response = as_lead.post(
        _url("task-reassign", project, task.pk), {"annotator": "cleo", "next": back}
    )

    assert (response.status_code, response.url) == (302, back)
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED
    new = Task.objects.get(image=task.image, annotator__username="cleo")
    assert (new.status, new.due_date) == (TaskStatus.ASSIGNED, task.due_date)


@pytest.mark.parametrize(
    ("task", "annotator", "message"),
    [
        ("a-anna", "ben", "ben already has a task on a.png."),
        ("a-anna", "lead", "lead is not an annotator of bubbles."),
        ("a-anna", "", "Choose the annotator to give a.png to."),
        ("b-cleo", "anna", "only open tasks (assigned, in progress, rejected) can be reassigned"),
    ],
)
def test_reassign_refused_says_why_and_changes_nothing(
    as_lead, project, tasks, task, annotator, message
):
    before = list(Task.objects.order_by("pk").values_list("pk", "annotator_id", "status"))

    response = as_lead.post(
        _url("task-reassign", project, tasks[task].pk), {"annotator": annotator}, follow=True
    )

    assert message in " ".join(_messages(response))
    assert list(Task.objects.order_by("pk").values_list("pk", "annotator_id", "status")) == before


def test_cancel_cancels_an_open_task_once(as_lead, project, tasks):
    task = tasks["a-ben"]

    first = as_lead.post(_url("task-cancel", project, task.pk), follow=True)
    second = as_lead.post(_url("task-cancel", project, task.pk), follow=True)

    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED
    assert _messages(first)[0].startswith("Cancelled ben's task on a.png.")
    assert "is cancelled; only open tasks" in _messages(second)[0]


def test_cancel_ignores_a_next_on_another_site(as_lead, project, tasks):
    response = as_lead.post(
        _url("task-cancel", project, tasks["a-anna"].pk), {"next": "https://elsewhere.example/"}
    )

    assert response.url == _url("project-task-list", project)


@pytest.mark.parametrize("name", ["task-cancel", "task-reassign"])
def test_task_actions_answer_404_for_a_task_elsewhere_or_unknown(as_lead, project, name):
    foreign = TaskFactory()

    for pk in (foreign.pk, 99999999999999999999999):
        response = as_lead.post(_url(name, project, pk), {"annotator": "anna"})
        assert response.status_code == 404
    assert Task.objects.get(pk=foreign.pk).status == TaskStatus.ASSIGNED
