"""projects: projects, members and roles, label classes, images and their files,
guidelines with their rules, tasks, permissions (DESIGN §10), the audit log, and what every
app shares (errors, progress, the management command base). It never imports qc.

Layers, one way: :mod:`projects.models` → :mod:`projects.selectors` and
:mod:`projects.permissions` → :mod:`projects.services` (a package: ``setup`` for projects,
label classes, members and images; ``guidelines``; ``tasks`` for the life of a task and
rebalancing) and :mod:`projects.images` → :mod:`projects.serializers` and
:mod:`projects.filters` → :mod:`projects.api` (a package: ``core``, ``guidelines``,
``tasks``), :mod:`projects.views`, the commands.
"""
