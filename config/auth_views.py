"""Sign-in endpoints, limited against password guessing.

``POST /api/v1/auth/token/`` is DRF's token view under DRF throttling (scope ``login``,
``MASKQC_LOGIN_RATE`` per client address). The login page counts failed attempts in the
cache, per client address (as DRF reads it: ``MASKQC_NUM_PROXIES`` proxies in front) and per
username: after ``MASKQC_LOGIN_FAILURES`` failures
within ``MASKQC_LOGIN_WINDOW_SECONDS`` (counted from the first of them) it answers 429 with
a page in the site's layout saying when to try again, and ``Retry-After``, until the window
has passed. The counts live in the default cache, so a deployment with several processes
points CACHES at a shared cache (Redis) for one count.
"""

import math
import time
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle

__all__ = ["LoginView", "TokenView"]


class TokenView(ObtainAuthToken):
    """Trade a username and password for the user's API token: 401 when they do not
    authenticate, 400 when the request lacks them."""

    # The settings' parsers (the depth-bounded JSON parser among them), not the view's own;
    # no authentication: a stale token in the request must not stop a new sign-in.
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES
    authentication_classes = ()
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(
        request=AuthTokenSerializer,
        responses={200: inline_serializer("Token", {"token": serializers.CharField()})},
        auth=[],
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            codes = serializer.errors.get("non_field_errors")
            if codes and all(getattr(e, "code", None) == "authorization" for e in codes):
                # The request is well formed; the credentials do not authenticate.
                raise exceptions.AuthenticationFailed(str(codes[0]))
            raise exceptions.ValidationError(serializer.errors)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})

    def get_authenticate_header(self, request: Request) -> str:
        return "Token"


def _keys(request: HttpRequest) -> list[str]:
    address = BaseThrottle().get_ident(request)  # the client's address, as DRF throttles it
    keys = [f"login-failures:addr:{address}"]
    username = str(request.POST.get("username", ""))[:150].lower()
    if username:
        keys.append(f"login-failures:user:{username}")
    return keys


def _since(key: str) -> str:
    """The cache key of the time of the first failure that ``key`` counts."""
    return f"{key}:since"


def _retry_after(request: HttpRequest) -> int | None:
    """Seconds until the login page takes this request's address and username again, or
    None when it takes them now."""
    keys = _keys(request)
    stored = cache.get_many([*keys, *map(_since, keys)])
    now = time.time()
    window = settings.MASKQC_LOGIN_WINDOW_SECONDS
    waits = [
        # A count without its start (the two expire apart by a moment) waits the whole window.
        max(1, math.ceil(stored.get(_since(key), now) + window - now))
        for key in keys
        if (stored.get(key) or 0) >= settings.MASKQC_LOGIN_FAILURES
    ]
    return max(waits, default=None)


def _wait_in_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _limited(request: HttpRequest, retry_after: int) -> HttpResponse:
    """The login page's refusal: 429, ``Retry-After`` and when to try again, in words."""
    retry_at = datetime.fromtimestamp(time.time() + retry_after, tz=UTC)
    context = {
        "retry_after": retry_after,
        "retry_at": timezone.localtime(retry_at),
        "wait": _wait_in_words(retry_after),
        "next": str(request.POST.get("next", "")),
    }
    response = render(request, "registration/login_limited.html", context, status=429)
    response["Retry-After"] = str(retry_after)
    return response


class LoginView(auth_views.LoginView):
    """Django's login page; refused (429) while an address or a username has failed too
    often."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        retry_after = _retry_after(request)
        if retry_after is not None:
            return _limited(request, retry_after)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form) -> HttpResponse:
        window = settings.MASKQC_LOGIN_WINDOW_SECONDS
        for key in _keys(self.request):
            cache.add(_since(key), time.time(), timeout=window)
            cache.add(key, 0, timeout=window)
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=window)
        return super().form_invalid(form)
