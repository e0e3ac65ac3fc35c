"""What the package says about each format's import options and skips (qc/formats/__init__.py)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
from PIL import Image

from qc.formats import (
    NOTHING_DRAWN,
    PATH_OPTIONS,
    READER_OPTIONS,
    READERS,
    SKIP_REMEDIES,
    read_label_studio,
    read_mask_png,
)
from qc.formats.base import Limits


def test_reader_options_name_each_format_s_options_and_types():
    # Act / Assert: the options an import of each format takes, with their types
    assert {
        "supervisely": {},
        "coco": {"images_from": (str, Path), "all_mapped_images": bool},
        "cvat": {"subset": str},
        "labelme": {},
        "label-studio": {
            "image_key": str,
            "image_name": str,
            "image_size": (list, tuple),
            "include_predictions": bool,
        },
        "mask-png": {
            "pattern": str,
            "foreground": str,
            "instances": str,
            "label": str,
            "image_name": str,
        },
    } == READER_OPTIONS
    assert list(READER_OPTIONS) == list(READERS)


def test_reader_options_other_than_paths_are_keywords_of_their_reader():
    # (A path option is read by the import, which hands the reader what the file holds.)
    for format, options in READER_OPTIONS.items():
        # Arrange
        parameters = inspect.signature(READERS[format]).parameters.values()

        # Act
        keywords = {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}

        # Assert
        assert (format, set(options) - PATH_OPTIONS - keywords) == (format, set())


def test_path_options_skip_remedies_and_nothing_drawn():
    # Act / Assert
    assert frozenset({"images_from"}) == PATH_OPTIONS
    assert SKIP_REMEDIES == {
        "label-studio": {"annotation without image size": "--image-size WIDTHxHEIGHT"},
    }
    assert frozenset({"empty_mask"}) == NOTHING_DRAWN


def test_skip_remedies_name_what_the_label_studio_reader_skips(tmp_path: Path):
    # Arrange: a prediction list whose results carry no image size
    path = tmp_path / "frame.json"
    result = {"type": "keypointlabels", "value": {"x": 1, "y": 1, "keypointlabels": ["a"]}}
    path.write_text(json.dumps([{"result": [result]}]))

    # Act
    parsed = read_label_studio(path, limits=Limits())

    # Assert
    assert set(parsed.skipped) == set(SKIP_REMEDIES["label-studio"])


def test_nothing_drawn_is_what_the_mask_reader_skips_for_an_empty_mask(tmp_path: Path):
    # Arrange: one annotator's mask of one image, with no foreground pixel
    (tmp_path / "ana").mkdir()
    Image.fromarray(np.zeros((4, 5), dtype=np.uint8)).save(tmp_path / "ana" / "img.png")

    # Act
    parsed = read_mask_png(tmp_path, limits=Limits(), pattern="{annotator}/{image}.png")

    # Assert
    assert (parsed.objects, set(parsed.skipped)) == ([], set(NOTHING_DRAWN))
