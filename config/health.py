"""``/healthz``: is this MaskQC able to serve, for a load balancer or an orchestrator.

Two checks, each a django-health-check :class:`~health_check.HealthCheck`: ``database`` (a
query on the default database, over the connection the request's own thread uses, so a
reused or pooled connection is what gets tested) and ``task_queue`` (what the configured
tasks backend needs: the tasks table for the database backend, a Redis PING on
``REDIS_URL`` for RQ, nothing for the immediate backend). The answer is JSON naming each
check: ``{"status": "ok", "checks": {"database": "ok", "task_queue": "ok"}}`` with 200, or
``"status": "unavailable"`` and the failing check's reason with 503. It needs no login,
reads no session and writes nothing, so it costs a query or two per probe.
"""

import asyncio
import dataclasses
import datetime

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, connections
from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from health_check import HealthCheck
from health_check.contrib.redis import Redis
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView

__all__ = ["Database", "HealthView", "TaskQueue"]

# Seconds a check may take before it counts as failed: a probe that hangs tells a load
# balancer nothing, and its own timeout is usually a few seconds.
CHECK_TIMEOUT = datetime.timedelta(seconds=3)


def _reason(error: Exception) -> str:
    """The first line of a driver's message, without what follows a colon (hosts, ports)."""
    return str(error).splitlines()[0].split(":")[0] if str(error) else type(error).__name__


@dataclasses.dataclass
class Database(HealthCheck):
    """``SELECT 1`` on the database ``alias``, on the calling request's thread."""

    alias: str = "default"
    timeout = CHECK_TIMEOUT
    name = "database"

    def query(self) -> None:
        try:
            with connections[self.alias].cursor() as cursor:
                cursor.execute("SELECT 1")
                row = cursor.fetchone()
        except DatabaseError as error:
            raise ServiceUnavailable(_reason(error)) from error
        if row != (1,):
            raise ServiceUnavailable(f"SELECT 1 returned {row!r}")

    async def run(self) -> None:
        # thread_sensitive: the request's thread, whose connection (persistent, pooled or
        # new) the pages use; the library's executor thread would open one of its own.
        await sync_to_async(self.query, thread_sensitive=True)()


@dataclasses.dataclass
class TaskQueue(HealthCheck):
    """The configured tasks backend can take work: its table (database backend) answers a
    query, or its Redis (RQ backend) answers PING."""

    timeout = CHECK_TIMEOUT
    name = "task_queue"

    def tasks_table(self) -> None:
        from django_tasks_db.models import DBTaskResult

        try:
            DBTaskResult.objects.only("id").first()
        except DatabaseError as error:
            raise ServiceUnavailable(_reason(error)) from error

    async def run(self) -> None:
        backend = settings.TASKS["default"]["BACKEND"]
        if backend.startswith("django_tasks_db."):
            await sync_to_async(self.tasks_table, thread_sensitive=True)()
        elif backend.startswith("django_tasks_rq."):
            from redis.asyncio import Redis as RedisClient

            seconds = self.timeout.total_seconds()
            url = settings.REDIS_URL
            ping = Redis(
                client_factory=lambda: RedisClient.from_url(
                    url, socket_connect_timeout=seconds, socket_timeout=seconds
                )
            )
            await ping.run()


@method_decorator(csrf_exempt, name="dispatch")
class HealthView(HealthCheckView):
    """Run :class:`Database` and :class:`TaskQueue` together; 200 when both pass, else 503,
    always JSON (never cached)."""

    http_method_names = ["get", "head"]
    checks = (Database, TaskQueue)

    async def get(self, request: HttpRequest, *args, **kwargs) -> JsonResponse:
        results = await asyncio.gather(*(check.get_result() for check in self.get_checks()))
        checks = {
            result.check.name: "ok" if result.error is None else str(result.error)
            for result in results
        }
        healthy = all(result.error is None for result in results)
        return JsonResponse(
            {"status": "ok" if healthy else "unavailable", "checks": checks},
            status=200 if healthy else 503,
        )
