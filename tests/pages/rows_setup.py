"""The rows of the role matrix for project settings, label classes and members."""

from tests.pages.matrix import Case

ROWS: list[Case] = []
