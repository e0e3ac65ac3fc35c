"""The rows of the role matrix for images, tasks and assignment."""

from tests.pages.matrix import Case

ROWS: list[Case] = []
