"""CVAT's ``<mask rle>`` written and read by its definition, pixel by pixel, for tests.

Runs alternate background / foreground starting with background, row-major over the box
(left, top, width, height); CVAT's own exports leave out the final background run, and
what the runs leave out of the box is background.
"""

from __future__ import annotations

import numpy as np


def cvat_runs(crop: np.ndarray, *, final_background: bool = False) -> list[int]:
    """The runs of a box's bool crop ``[row, col]``, as CVAT's exports write them (the final
    background run left out) or, with ``final_background``, every run written."""
    runs, value, count = [], False, 0
    for pixel in crop.ravel().tolist():
        if pixel == value:
            count += 1
        else:
            runs.append(count)
            value, count = pixel, 1
    runs.append(count)
    if final_background or len(runs) % 2 == 0:
        return runs
    return runs[:-1]


def cvat_decode(
    runs: list[int], box: tuple[int, int, int, int], size: tuple[int, int]
) -> np.ndarray:
    """The full-frame bool mask ``[row, col]`` of ``runs`` over ``box`` in an image of
    ``size`` (width, height)."""
    left, top, width, _height = box
    frame = np.zeros((size[1], size[0]), dtype=bool)
    offset, value = 0, False
    for run in runs:
        for _ in range(run):
            row, col = divmod(offset, width)
            frame[top + row, left + col] = value
            offset += 1
        value = not value
    return frame
