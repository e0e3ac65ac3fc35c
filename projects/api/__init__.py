"""The projects app's REST API: :mod:`.core` (projects, label classes, members),
:mod:`.guidelines` (guidelines and versions) and :mod:`.tasks` (task life)."""
