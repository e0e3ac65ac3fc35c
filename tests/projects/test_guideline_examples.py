"""Example images of a guideline version: added by those who write guidelines, from the
project's own images with pixels."""

import pytest
from django.core.files.base import ContentFile

from projects.errors import ApplicationError
from projects.models import AuditEvent, GuidelineExample
from projects.services import guideline_example_add, guideline_version_create
from tests.factories import ImageFactory, ProjectFactory


@pytest.fixture
def version(project, lead):
    return guideline_version_create(
        project=project,
        title="Bubbles",
        body="Outline bubbles.",
        author=lead,
        change_summary="First version.",
        publish=True,
    )


def _image(project, *, pixels: bool = True):
    image = ImageFactory(project=project)
    if pixels:
        image.file.save("example.png", ContentFile(b"\x89PNG example"))
    return image


def test_a_lead_adds_an_example_with_its_caption(version, project, lead):
    image = _image(project)

    example = guideline_example_add(version=version, image=image, actor=lead, caption="Rim in")

    assert list(version.examples.values_list("image", "caption")) == [(image.pk, "Rim in")]
    event = AuditEvent.objects.get(verb="guideline_version.example_add")
    assert event.after == {"image": image.name, "caption": "Rim in"}
    assert example.version == version


@pytest.mark.parametrize("who", ["reviewer", "annotator", "outsider"])
def test_only_those_who_write_guidelines_add_examples(request, version, project, who):
    with pytest.raises(ApplicationError):
        guideline_example_add(
            version=version, image=_image(project), actor=request.getfixturevalue(who)
        )

    assert not GuidelineExample.objects.exists()


def test_an_example_is_an_image_of_the_project_with_pixels(version, project, lead):
    elsewhere = _image(ProjectFactory())
    with pytest.raises(ApplicationError, match="is not an image of"):
        guideline_example_add(version=version, image=elsewhere, actor=lead)
    with pytest.raises(ApplicationError, match="has no pixels"):
        guideline_example_add(version=version, image=_image(project, pixels=False), actor=lead)

    assert not GuidelineExample.objects.exists()
