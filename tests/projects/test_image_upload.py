"""Adding images from the images page: image files or zips of them become the project's
images (named after their files, sized from their pixels); a file that is not a readable
image, or a name given twice, refuses the whole upload with a message naming the file, and
nothing is added."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image as PILImage

from projects.models import AuditEvent, Image
from tests.factories import ImageFactory


def _png(name: str, size: tuple[int, int] = (8, 6), shade: int = 90) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    PILImage.new("L", size, shade).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def _zip(name: str, members: dict[str, bytes]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="application/zip")


@pytest.fixture
def as_lead(client, lead):
    client.force_login(lead)
    return client


def _upload(client, project, *files):
    return client.post(
        reverse("image-upload", args=[project.slug]), {"files": list(files)}, follow=True
    )


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _state(project) -> tuple:
    images = sorted(Image.objects.filter(project=project).values_list("name", "width", "height"))
    return images, AuditEvent.objects.count()


def test_image_files_become_images_named_after_them(as_lead, project):
    response = _upload(as_lead, project, _png("a.png", (8, 6)), _png("b.png", (5, 4)))

    assert response.redirect_chain == [(reverse("project-images", args=[project.slug]), 302)]
    assert _messages(response)[0].startswith("Added 2 images (")
    images = Image.objects.filter(project=project).order_by("name")
    assert [(i.name, i.width, i.height, bool(i.file)) for i in images] == [
        ("a.png", 8, 6, True),
        ("b.png", 5, 4, True),
    ]
    assert [row.image.name for row in response.context["listing"].rows] == ["a.png", "b.png"]


def test_a_zip_adds_the_images_inside_it_by_file_name(as_lead, project):
    png = _png("x.png").read()
    archive = _zip(
        "frames.zip",
        {
            "run1/c.png": png,
            "d.png": _png("d.png", (3, 3)).read(),
            "notes.txt": b"not an image",
            "__MACOSX/run1/._c.png": b"resource fork",
        },
    )

    response = _upload(as_lead, project, archive)

    assert _messages(response)[0].startswith("Added 2 images (")
    assert sorted(Image.objects.values_list("name", "width", "height")) == [
        ("c.png", 8, 6),
        ("d.png", 3, 3),
    ]


def test_an_image_without_pixels_gets_them_and_the_same_file_again_changes_nothing(
    as_lead, project
):
    ImageFactory(project=project, name="a.png", width=8, height=6)

    first = _upload(as_lead, project, _png("a.png"))
    again = _upload(as_lead, project, _png("a.png"))

    assert _messages(first)[0].startswith("Gave 1 existing image their pixels (")
    assert _messages(again)[0] == "1 was there already (0.0 MB)."
    assert Image.objects.get(name="a.png").file


@pytest.mark.parametrize(
    ("files", "said"),
    [
        (
            lambda: [_png("a.png"), SimpleUploadedFile("b.png", b"not a png")],
            "b.png: image b.png: not a readable image",
        ),
        (
            lambda: [_png("a.png"), _zip("more.zip", {"x/a.png": _png("a.png").read()})],
            "more.zip › x/a.png: another file of this upload is named a.png too (a.png).",
        ),
        (
            lambda: [_png("a.png"), SimpleUploadedFile("frames.zip", b"no zip")],
            "frames.zip: not a readable zip archive.",
        ),
        (
            lambda: [_zip("empty.zip", {"readme.txt": b"hello"})],
            "empty.zip: no image file inside.",
        ),
        (
            lambda: [_png("a.png", (4, 4))],
            "a.png: image a.png: size 4x4 disagrees with the project's image of 8x6",
        ),
    ],
    ids=["unreadable", "twice", "bad-zip", "empty-zip", "other-size"],
)
def test_a_bad_file_refuses_the_whole_upload_naming_it(as_lead, project, files, said):
    ImageFactory(project=project, name="a.png", width=8, height=6)
    before = _state(project)

    response = _upload(as_lead, project, *files())

    assert response.status_code == 200
    (message,) = _messages(response)
    assert message.startswith(said), message
    assert message.endswith("Nothing was added.")
    assert "/tmp" not in message and "maskqc-upload" not in message
    assert _state(project) == before


def test_no_file_chosen_says_what_to_do(as_lead, project):
    response = as_lead.post(reverse("image-upload", args=[project.slug]), follow=True)

    assert _messages(response) == ["Choose image files, or a zip of them, to add."]
    assert not Image.objects.exists()


def test_upload_refuses_get(as_lead, project):
    assert as_lead.get(reverse("image-upload", args=[project.slug])).status_code == 405


@pytest.mark.parametrize(("who", "status"), [("reviewer", 403), ("annotator", 403)])
def test_only_leads_and_admins_add_images(client, request, project, who, status):
    client.force_login(request.getfixturevalue(who))

    response = client.post(reverse("image-upload", args=[project.slug]), {"files": _png("a.png")})

    assert response.status_code == status
    assert not Image.objects.exists()


def test_images_page_offers_the_form_open_while_the_project_has_no_images(as_lead, project):
    empty = as_lead.get(reverse("project-images", args=[project.slug]))
    ImageFactory(project=project)
    some = as_lead.get(reverse("project-images", args=[project.slug]))

    upload = f'action="{reverse("image-upload", args=[project.slug])}"'.encode()
    assert upload in empty.content and upload in some.content
    assert b'<details class="card upload" id="add-images" open>' in empty.content
    assert b'href="#add-images"' in empty.content
    assert b"manage.py" not in empty.content
    assert b'<details class="card upload" id="add-images">' in some.content
