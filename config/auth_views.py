"""Sign-in endpoints, limited against password guessing.

``POST /api/v1/auth/token/`` is DRF's token view under DRF throttling (scope ``login``,
``MASKQC_LOGIN_RATE`` per client address). The login page counts failed attempts in the
cache, per client address (as DRF reads it: ``MASKQC_NUM_PROXIES`` proxies in front) and per
username: after ``MASKQC_LOGIN_FAILURES`` failures
within ``MASKQC_LOGIN_WINDOW_SECONDS`` it answers 429 with ``Retry-After`` until the window
has passed. The counts live in the default cache, so a deployment with several processes
points CACHES at a shared cache (Redis) for one count.
"""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
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


class LoginView(auth_views.LoginView):
    """Django's login page; refused (429) while an address or a username has failed too
    often."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        limit = settings.MASKQC_LOGIN_FAILURES
        if any((cache.get(key) or 0) >= limit for key in _keys(request)):
            window = settings.MASKQC_LOGIN_WINDOW_SECONDS
            response = HttpResponse(
                f"Too many failed logins. Try again in {window} seconds.",
                status=429,
                content_type="text/plain; charset=utf-8",
            )
            response["Retry-After"] = str(window)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form) -> HttpResponse:
        window = settings.MASKQC_LOGIN_WINDOW_SECONDS
        for key in _keys(self.request):
            cache.add(key, 0, timeout=window)
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=window)
        return super().form_invalid(form)
