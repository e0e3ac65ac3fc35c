"""Label classes: a name that differs from one of the project's only by case is refused (in
the service, so through the page and the API alike, beside the name on the page), and a new
class is offered the first palette colour the project's classes do not have yet."""

import pytest
from django.urls import reverse

from projects.errors import ConflictError
from projects.models import AuditEvent, LabelClass
from projects.selectors.setup import CLASS_PALETTE, next_class_colour
from projects.services.setup import label_class_create, label_class_update
from tests.factories import LabelClassFactory


def test_a_name_differing_only_by_case_is_refused_and_nothing_is_written(project, lead, bubble):
    with pytest.raises(ConflictError) as refused:
        label_class_create(project=project, name="Bubble", actor=lead)
    assert refused.value.extra == {"name": [refused.value.message]}
    assert "'bubble'" in refused.value.message
    assert list(LabelClass.objects.filter(project=project).values_list("name", flat=True)) == [
        "bubble"
    ]
    assert not AuditEvent.objects.filter(verb="label_class.create").exists()


def test_renaming_to_another_class_name_in_other_case_is_refused(project, lead, bubble):
    droplet = LabelClassFactory(project=project, name="droplet")
    with pytest.raises(ConflictError):
        label_class_update(label_class=droplet, actor=lead, name="BUBBLE")
    droplet.refresh_from_db()
    assert droplet.name == "droplet"


def test_a_class_may_change_the_case_of_its_own_name(project, lead, bubble):
    label_class_update(label_class=bubble, actor=lead, name="Bubble")
    bubble.refresh_from_db()
    assert bubble.name == "Bubble"


def test_the_page_puts_the_case_refusal_beside_the_name(client, project, lead, bubble):
    client.force_login(lead)
    response = client.post(
        reverse("project-classes", args=[project.slug]),
        {"name": "BUBBLE", "colour": "#00ff00", "match_iou": ""},
    )
    assert response.status_code == 200
    assert "differs only by case" in response.context["form"].errors["name"][0]
    assert LabelClass.objects.filter(project=project).count() == 1


def test_the_other_projects_classes_do_not_count(project, lead):
    LabelClassFactory(name="Bubble")
    assert label_class_create(project=project, name="bubble", actor=lead).name == "bubble"


def test_a_new_class_gets_the_first_palette_colour_not_in_use(project, lead):
    LabelClassFactory(project=project, name="a", colour=CLASS_PALETTE[0])
    LabelClassFactory(project=project, name="b", colour=CLASS_PALETTE[2].upper())
    created = label_class_create(project=project, name="c", actor=lead)
    assert created.colour == CLASS_PALETTE[1]
    assert label_class_create(project=project, name="d", actor=lead).colour == CLASS_PALETTE[3]


def test_the_classes_form_offers_the_next_free_colour(client, project, lead):
    LabelClassFactory(project=project, name="a", colour=CLASS_PALETTE[0])
    LabelClassFactory(project=project, name="b", colour=CLASS_PALETTE[1])
    client.force_login(lead)
    response = client.get(reverse("project-classes", args=[project.slug]))
    assert response.context["form"]["colour"].value() == CLASS_PALETTE[2]
    assert f'value="{CLASS_PALETTE[2]}"' in response.content.decode()


def test_once_every_palette_colour_is_used_the_palette_starts_again():
    assert next_class_colour(list(CLASS_PALETTE)) == CLASS_PALETTE[0]
    assert next_class_colour([*CLASS_PALETTE, "#000000"]) == CLASS_PALETTE[1]
    assert next_class_colour([]) == CLASS_PALETTE[0]
