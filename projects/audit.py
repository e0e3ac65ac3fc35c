"""AuditEvent writing, shared by every service: every state change writes one event."""

from typing import Any

from django.db import models

from projects.models import AuditEvent, Project


def audit_event(
    *,
    actor: Any,
    verb: str,
    obj: models.Model,
    project: Project | None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """An unsaved event, for services that insert many at once with bulk_create."""
    return AuditEvent(
        actor=actor if actor is not None and getattr(actor, "pk", None) else None,
        verb=verb,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        project=project,
        before=before,
        after=after,
    )


def audit(**fields: Any) -> AuditEvent:
    """Write one event; takes the keyword arguments of :func:`audit_event`."""
    event = audit_event(**fields)
    event.save()
    return event
