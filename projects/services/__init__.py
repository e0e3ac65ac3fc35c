"""Every write to projects, members, label classes, images, guidelines and tasks.

Each service that takes an actor checks it through :mod:`projects.permissions` (``None``
is the server's operator: a command or a background task) and writes its AuditEvent.
:mod:`.setup` holds projects, label classes, members and images; :mod:`.guidelines` the
guideline versions; :mod:`.tasks` the life of a task; :mod:`.members` the rebalancing when
a member leaves.
"""

from projects.services.guidelines import (
    guideline_acknowledge,
    guideline_example_add,
    guideline_version_create,
    guideline_version_publish,
    guideline_version_update,
)
from projects.services.members import (
    MembershipRemoved,
    membership_remove,
    membership_role_change,
)
from projects.services.setup import (
    image_create,
    label_class_create,
    label_class_update,
    membership_add,
    membership_set,
    project_create,
    project_update,
)
from projects.services.tasks import (
    task_assign,
    task_assign_plan,
    task_cancel,
    task_claim_next,
    task_reassign,
    task_start,
)

__all__ = [
    "MembershipRemoved",
    "guideline_acknowledge",
    "guideline_example_add",
    "guideline_version_create",
    "guideline_version_publish",
    "guideline_version_update",
    "image_create",
    "label_class_create",
    "label_class_update",
    "membership_add",
    "membership_remove",
    "membership_role_change",
    "membership_set",
    "project_create",
    "project_update",
    "task_assign",
    "task_assign_plan",
    "task_cancel",
    "task_claim_next",
    "task_reassign",
    "task_start",
]
