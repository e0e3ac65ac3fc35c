"""The rows of the role matrix for imports and exports."""

from tests.pages.matrix import Case

ROWS: list[Case] = []
