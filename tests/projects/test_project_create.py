"""Creating a project from its page: a site admin creates it with its classes and lands on
its settings; a slug taken (in any case) or not a slug is refused beside the field; anyone
else is refused before the slug is looked at."""

import pytest
from django.urls import reverse

from projects.models import Project


def test_admin_creates_a_project_and_lands_on_its_settings(client, admin_user):
    client.force_login(admin_user)

    response = client.post(
        reverse("project-create"),
        {"slug": "droplets", "name": "Droplets", "labels": "droplet\n\nsplash\ndroplet"},
    )

    assert (response.status_code, response.url) == (302, "/p/droplets/settings/")
    project = Project.objects.get(slug="droplets")
    assert list(project.label_classes.values_list("name", flat=True)) == ["droplet", "splash"]
    assert not project.memberships.exists()


@pytest.mark.parametrize(
    ("slug", "error"),
    [
        ("bubbles", "A project with slug 'bubbles' already exists."),
        ("Bubbles", "A project with slug 'Bubbles' already exists."),
        ("no spaces", "Enter a valid “slug”"),
    ],
)
def test_project_create_refusals_beside_the_slug(client, project, admin_user, slug, error):
    client.force_login(admin_user)

    response = client.post(reverse("project-create"), {"slug": slug})

    assert response.status_code == 200
    assert response.context["form"].errors["slug"][0].startswith(error)
    assert Project.objects.count() == 1


def test_a_user_who_is_not_staff_may_not_create_a_project(client, project, lead):
    client.force_login(lead)

    assert client.get(reverse("project-create")).status_code == 403
    # Refused before the slug is looked at: an existing slug and a new one alike.
    for slug in ("bubbles", "mine"):
        assert client.post(reverse("project-create"), {"slug": slug}).status_code == 403
    assert list(Project.objects.values_list("slug", flat=True)) == ["bubbles"]
