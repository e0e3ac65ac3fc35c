"""The rows of the role matrix for the guideline editor: drafts, preview, publish, history
and acknowledgements."""

from tests.pages.matrix import Case

ROWS: list[Case] = []
