"""The WSGI application (``gunicorn -c gunicorn.conf.py config.wsgi``)."""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
# The URLconf, and so every view, imported now rather than on the first request: under
# gunicorn's preload_app once in the master, shared by the workers it forks, instead of
# a second and more of imports in each worker's first request.
get_resolver().url_patterns  # noqa: B018
