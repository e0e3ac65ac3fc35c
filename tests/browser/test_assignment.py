"""A lead assigns work in Chromium, on the demo: picks fresh unassigned images on the
images page, assigns them with overlap 2 after reading the load preview (whose numbers are
the tasks then created), sees the new tasks, reassigns one (and is told why another move
is refused) and cancels one; the load table's counts open their lists. Every page is
watched for console errors and failed requests and shot at 1280 and 800 px."""

import io
from collections import Counter

import pytest
from PIL import Image as PILImage

from projects.models import Image, Task, TaskStatus
from tests.browser.support import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FRESH = 5


def _fresh_images(demo) -> list[Image]:
    """Images nobody has a task on (the demo assigns all of its own)."""
    return [
        Image.objects.create(project=demo.project, name=f"fresh_{n:02d}.png", width=64, height=48)
        for n in range(FRESH)
    ]


def _preview_loads(page) -> dict[str, tuple[int, int, int]]:
    """(open now, new, open after) of each annotator in the preview's table."""
    loads = {}
    for row in page.locator("#preview-load tbody tr").all():
        cells = [
            row.locator(f'[data-count="{n}"]').inner_text() for n in ("before", "new", "after")
        ]
        loads[row.get_attribute("data-annotator")] = (
            int(cells[0]),
            int(cells[1].lstrip("+")),
            int(cells[2]),
        )
    return loads


def _open_load(project, usernames) -> dict[str, int]:
    """Each annotator's open tasks in the project (what the preview weighs)."""
    return {
        name: Task.objects.filter(
            image__project=project,
            annotator__username=name,
            status__in=[TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS, TaskStatus.REJECTED],
        ).count()
        for name in usernames
    }


def _pick_fresh_and_assign(page, demo, fresh) -> None:
    page.goto(demo.page_url(f"/p/{demo.project.slug}/images/?q=fresh_"))
    assert page.locator("#images tbody tr").count() == FRESH
    assert set(
        page.locator("#images tbody tr").evaluate_all("(rows) => rows.map((r) => r.dataset.state)")
    ) == {"unassigned"}
    assert page.locator("#assign-selected").is_disabled()
    page.check("#select-all")
    assert page.locator("#assign-selected").inner_text() == f"Assign {FRESH} selected"
    page.uncheck(f"#pick-{fresh[-1].pk}")
    page.check(f"#pick-{fresh[-1].pk}")
    shot(page, "assignment/images")
    with page.expect_navigation():
        page.click("#assign-selected")


def test_lead_previews_assigns_reassigns_and_cancels(demo, page):
    fresh = _fresh_images(demo)
    annotators = demo.usernames("annotator")
    demo.log_in(page, "lead")

    _pick_fresh_and_assign(page, demo, fresh)

    assert page.locator("#batch-selected").is_checked()
    assert page.locator("#selected-count").inner_text() == str(FRESH)
    page.fill("#id_overlap", "2")
    page.fill("#id_share", "100")
    page.fill("#id_due_date", "2099-06-30")
    with page.expect_navigation():
        page.click("#preview-button")

    before = _open_load(demo.project, annotators)
    preview = _preview_loads(page)
    assert page.locator("#preview-total").inner_text() == str(2 * FRESH)
    assert page.locator("#preview-plan").inner_text() == "Every image is planned for 2 annotators."
    assert {name: load[0] for name, load in preview.items()} == before
    assert all(after == now + new for now, new, after in preview.values())
    assert Task.objects.filter(image__in=fresh).count() == 0
    shot(page, "assignment/preview")

    with page.expect_navigation():
        page.click("#assign-button")

    created = Counter(
        Task.objects.filter(image__in=fresh).values_list("annotator__username", flat=True)
    )
    assert dict(created) == {name: load[1] for name, load in preview.items() if load[1]}
    assert _open_load(demo.project, annotators) == {name: load[2] for name, load in preview.items()}
    assert sum(created.values()) == 2 * FRESH
    assert (
        page.locator(".messages li.success")
        .inner_text()
        .startswith(f"Assigned {2 * FRESH} new tasks on {FRESH} images: ")
    )
    top = page.locator("#tasks tbody tr").evaluate_all(
        "(rows) => rows.map((r) => r.dataset.image)"
    )[: 2 * FRESH]
    assert sorted(top) == sorted(image.name for image in fresh for _ in range(2))
    assert page.locator("#tasks tbody tr .due").first.inner_text() == "30 Jun 2099"
    shot(page, "assignment/tasks")

    _reassign_refused_then_done(page, demo, fresh)
    _cancel(page, fresh)
    _load_links(page, demo)


def _reassign_refused_then_done(page, demo, fresh) -> None:
    task = Task.objects.filter(image=fresh[0]).order_by("annotator__username").first()
    row = page.locator(f'#tasks tr[data-task="{task.pk}"]')
    holder = Task.objects.filter(image=fresh[0]).exclude(pk=task.pk).get().annotator.username
    disabled = row.locator("select option[disabled]").all_inner_texts()
    assert disabled == [f"{holder} (has this image)"]
    (free,) = row.locator("select option:not([disabled])").all_inner_texts()

    # Someone else gives the image to that annotator while the page is open.
    other = Task.objects.create(
        image=fresh[0], annotator=Task.objects.filter(annotator__username=free).first().annotator
    )
    row.locator("select").select_option(free)
    with page.expect_navigation():
        row.locator("form.reassign button").click()
    assert page.locator(".messages li.error").inner_text() == (
        f"{free} already has a task on {fresh[0].name}."
    )
    assert Task.objects.get(pk=task.pk).status == TaskStatus.ASSIGNED
    other.delete()

    page.reload()
    row = page.locator(f'#tasks tr[data-task="{task.pk}"]')
    row.locator("select").select_option(free)
    with page.expect_navigation():
        row.locator("form.reassign button").click()
    assert page.locator(".messages li.success").inner_text() == (
        f"{fresh[0].name} moved from {task.annotator.username} to {free}."
    )
    assert Task.objects.get(pk=task.pk).status == TaskStatus.CANCELLED
    assert Task.objects.get(image=fresh[0], annotator__username=free).status == "assigned"
    assert page.locator(f'#tasks tr[data-task="{task.pk}"] .badge').inner_text() == "Cancelled"


def _cancel(page, fresh) -> None:
    task = Task.objects.filter(image=fresh[1]).order_by("annotator__username").first()
    row = page.locator(f'#tasks tr[data-task="{task.pk}"]')
    assert not row.locator("details.confirm button").is_visible()
    row.locator("details.confirm summary").click()
    assert (
        row.locator("details.confirm p")
        .inner_text()
        .startswith(f"Cancel {task.annotator.username}'s task on {fresh[1].name}?")
    )
    shot(page, "assignment/tasks-cancel")
    with page.expect_navigation():
        row.locator("details.confirm button").click()
    assert (
        page.locator(".messages li.success")
        .inner_text()
        .startswith(f"Cancelled {task.annotator.username}'s task on {fresh[1].name}.")
    )
    assert Task.objects.get(pk=task.pk).status == TaskStatus.CANCELLED


def _load_links(page, demo) -> None:
    page.goto(demo.page_url(f"/p/{demo.project.slug}/assignment/"))
    shot(page, "assignment/assignment")
    row = page.locator('#load-table tbody tr[data-annotator="anna"]')
    shown = int(row.locator('[data-count="open"]').inner_text())
    with page.expect_navigation():
        row.locator('[data-count="open"]').click()
    assert page.locator("#filter-annotator").input_value() == "anna"
    assert page.locator("#filter-status").input_value() == "open"
    assert page.locator("#matching-count").inner_text() == str(shown)
    expected = Task.objects.filter(
        image__project=demo.project,
        annotator__username="anna",
        status__in=[TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS, TaskStatus.REJECTED],
    ).count()
    assert shown == expected


def test_preview_warns_of_images_short_of_annotators_and_refuses_a_past_due_date(demo, page):
    fresh = _fresh_images(demo)
    demo.log_in(page, "lead")
    query = "&".join(f"image={image.pk}" for image in fresh)
    page.goto(demo.page_url(f"/p/{demo.project.slug}/assignment/?batch=selected&{query}"))

    page.fill("#id_overlap", "4")
    page.fill("#id_share", "40")
    with page.expect_navigation():
        page.click("#preview-button")

    short = page.locator("#preview-short")
    assert short.locator("strong").inner_text() == ("2 images cannot get their planned annotators")
    assert short.locator("li").all_inner_texts() == sorted(short.locator("li").all_inner_texts())
    assert all(item.endswith(": 3 of 4") for item in short.locator("li").all_inner_texts())
    assert (
        page.locator("#preview-plan")
        .inner_text()
        .startswith("2 images planned for 4 annotators, 3 for 1.")
    )
    assert page.locator("#preview-total").inner_text() == str(2 * 3 + 3)
    shot(page, "assignment/preview-short")

    page.fill("#id_due_date", "2001-01-01")
    with page.expect_navigation():
        page.click("#preview-button")

    assert page.locator("#preview").count() == 0
    assert page.locator(".due .error").inner_text() == (
        "A due date in the past makes every task overdue."
    )
    shot(page, "assignment/form-error")
    assert Task.objects.filter(image__in=fresh).count() == 0


def _png_payload(name: str, size: tuple[int, int]) -> dict:
    buffer = io.BytesIO()
    PILImage.new("L", size, 120).save(buffer, format="PNG")
    return {"name": name, "mimeType": "image/png", "buffer": buffer.getvalue()}


def test_lead_adds_images_from_the_images_page_and_a_bad_file_adds_nothing(demo, page):
    demo.log_in(page, "lead")
    page.goto(demo.page_url(f"/p/{demo.project.slug}/images/"))
    before = Image.objects.filter(project=demo.project).count()

    page.click("#add-images summary")
    page.set_input_files(
        "#image-upload input[type=file]",
        [_png_payload("added_01.png", (64, 48)), _png_payload("added_02.png", (64, 48))],
    )
    shot(page, "assignment/images-upload")
    with page.expect_navigation():
        page.click("#upload-images")

    assert page.locator(".messages li.success").inner_text().startswith("Added 2 images (")
    assert Image.objects.filter(project=demo.project).count() == before + 2
    page.goto(demo.page_url(f"/p/{demo.project.slug}/images/?q=added_"))
    assert page.locator("#images tbody tr").evaluate_all(
        "(rows) => rows.map((r) => [r.dataset.image, r.dataset.state])"
    ) == [["added_01.png", "unassigned"], ["added_02.png", "unassigned"]]

    page.click("#add-images summary")
    page.set_input_files(
        "#image-upload input[type=file]",
        [
            _png_payload("added_03.png", (64, 48)),
            {"name": "notes.png", "mimeType": "image/png", "buffer": b"not a picture"},
        ],
    )
    with page.expect_navigation():
        page.click("#upload-images")

    error = page.locator(".messages li.error").inner_text()
    assert error.startswith("notes.png: image notes.png: not a readable image")
    assert error.endswith("Nothing was added.")
    assert Image.objects.filter(project=demo.project).count() == before + 2
    shot(page, "assignment/images-upload-refused")


LONG_NAME = "run_2024_03_17_pool_boiling_heater_b_camera_2_frame_000123_r.png"

_FITS = """(name) => {
  const table = document.querySelector('#tasks');
  const row = [...table.querySelectorAll('tbody tr')].find((r) => r.dataset.image === name);
  const button = row.querySelector('form.reassign button');
  return [table.scrollWidth, table.parentElement.clientWidth,
          button.getBoundingClientRect().right, document.documentElement.clientWidth];
}"""


def test_task_list_wraps_a_long_image_name_and_keeps_its_actions_in_view(demo, page, page_watch):
    assert len(LONG_NAME) == 64
    image = Image.objects.create(project=demo.project, name=LONG_NAME, width=64, height=48)
    annotator = demo.project.memberships.filter(role="annotator").order_by("user__username")[0]
    Task.objects.create(image=image, annotator=annotator.user)
    demo.log_in(page, "lead")
    page.goto(demo.page_url(f"/p/{demo.project.slug}/assignment/tasks/"))
    row = page.locator(f'#tasks tbody tr[data-image="{LONG_NAME}"]')
    assert row.locator("td.name").inner_text() == LONG_NAME
    for width in (1280, 800):
        page.set_viewport_size({"width": width, "height": 900})
        table, room, button_right, viewport = page.evaluate(_FITS, LONG_NAME)
        assert table <= room + 1, f"the task table is {table} px wide in {room} px at {width}"
        assert button_right <= viewport, f"Reassign ends at {button_right} px of {viewport}"
        assert row.get_by_role("button", name="Reassign").is_visible()
    shot(page, "assignment/tasks-long-name")
