"""The error pages: 404 and 403 in the site's layout with a way back, and a 500 page that
renders when the database is gone."""

import re

import pytest
from django.db import DatabaseError
from django.http import HttpRequest
from django.test import Client, override_settings
from django.urls import path, reverse

from config import urls as site_urls

pytestmark = pytest.mark.django_db


def _main(page: str) -> str:
    return re.search(r"<main.*?</main>", page, re.S).group(0)


def test_a_404_is_in_the_layout_with_the_way_back(client, lead):
    client.force_login(lead)

    response = client.get("/p/no-such-project/")

    assert response.status_code == 404
    page = response.content.decode()
    assert 'class="topbar"' in page
    assert 'aria-label="Breadcrumb"' in page
    assert '<li aria-current="page">Page not found</li>' in page
    assert 'data-status="404"' in page
    assert f'<a class="button" href="{reverse("home")}">Back to your projects</a>' in page
    assert 'rel="icon"' in page


def test_an_outsider_sees_the_same_404_as_for_no_project(client, project, outsider):
    client.force_login(outsider)

    theirs = client.get(reverse("project-overview", args=[project.slug]))
    none = client.get(reverse("project-overview", args=["no-such-project"]))

    assert theirs.status_code == none.status_code == 404
    assert _main(theirs.content.decode()) == _main(none.content.decode())


def test_an_anonymous_404_offers_the_login(client):
    response = client.get("/no/such/page/")

    assert response.status_code == 404
    page = response.content.decode()
    assert "Page not found" in page
    assert f'<a class="button" href="{reverse("login")}">Log in</a>' in page


def test_a_403_says_why_and_leads_back(client, project, annotator):
    client.force_login(annotator)

    response = client.get(reverse("project-overview", args=[project.slug]))

    assert response.status_code == 403
    page = response.content.decode()
    assert 'class="topbar"' in page
    assert 'data-status="403"' in page
    assert "<h1>Not allowed</h1>" in page
    assert "does not let you open this page" in page
    assert f'<a class="button" href="{reverse("home")}">Back to your projects</a>' in page


def _broken(request: HttpRequest):
    raise DatabaseError("the database went away")


urlpatterns = [path("broken/", _broken)]
handler500 = site_urls.handler500


@override_settings(ROOT_URLCONF=__name__)
def test_the_500_page_renders_without_the_database(django_db_blocker):
    client = Client(raise_request_exception=False)

    with django_db_blocker.block():
        response = client.get("/broken/")

    assert response.status_code == 500
    page = response.content.decode()
    assert 'data-status="500"' in page
    assert "Something went wrong on our side" in page
    assert '<a class="button" href="/">Back to your projects</a>' in page
    assert 'rel="stylesheet"' in page


def test_a_site_page_refused_says_why_without_naming_a_project_role(client, project, lead):
    client.force_login(lead)

    response = client.get(reverse("site-dashboard"))

    assert response.status_code == 403
    page = response.content.decode()
    assert "Only site admins see every project." in page
    assert "Your role in this project" not in page


def test_site_admins_reach_every_projects_page_from_the_top_bar(client, project, admin_user):
    client.force_login(admin_user)

    page = client.get(reverse("project-overview", args=[project.slug])).content.decode()

    assert f'href="{reverse("site-dashboard")}"' in page.split("</header>")[0]
