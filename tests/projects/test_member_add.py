"""Adding a member who has no account: the page says a site admin creates users (never a
server command), and links a site admin to the account form."""

import pytest
from django.urls import reverse

from projects.models import Membership


@pytest.mark.parametrize("who", ["lead", "admin_user"])
def test_adding_someone_without_an_account_says_who_creates_it(client, request, project, who):
    client.force_login(request.getfixturevalue(who))

    response = client.post(
        reverse("project-members", args=[project.slug]), {"username": "newbie", "role": "lead"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["username"] == [
        "No user named 'newbie'. Users are created by a site admin."
    ]
    assert b"manage.py" not in response.content
    account_form = f'href="{reverse("admin:auth_user_add")}"'.encode()
    if who == "admin_user":
        assert account_form in response.content
        assert b"in the site admin for newbie, then add them here." in response.content
    else:
        assert account_form not in response.content
        assert b"Ask a site admin to create the account for newbie" in response.content
    assert not Membership.objects.filter(user__username="newbie").exists()
