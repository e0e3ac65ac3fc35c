"""Hypothesis fuzz of the JSON readers: mutated real documents never raise anything but
FormatError (they may also read fine)."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qc.formats.base import FormatError, Limits
from qc.formats.coco import read_coco
from qc.formats.label_studio import read_label_studio
from qc.formats.labelme import read_labelme
from qc.formats.supervisely import read_supervisely

LIMITS = Limits(max_image_pixels=4_000_000, max_decompressed_bytes=16 << 20)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**7), 10**7)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys/indices) into a JSON value, the root included."""
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value[:8]):
            out += _paths(child, (*prefix, index))
    return out


def _mutate(document: Any, draw: Callable) -> Any:
    """Replace, delete or duplicate a few nodes of a copy of ``document``."""
    document = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(document)))
        action = draw(st.sampled_from(["replace", "delete", "duplicate"]))
        if not path:
            document = draw(json_values) if action == "replace" else document
            continue
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        if action == "replace":
            parent[key] = draw(json_values)
        elif action == "delete":
            del parent[key]
        elif isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
    return document


def _serialise(document: Any, draw: Callable) -> bytes:
    data = json.dumps(document).encode()
    if draw(st.integers(0, 9)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return data


def _run(reader: Callable[[], object]) -> None:
    with contextlib.suppress(FormatError):
        reader()


# MASKQC_FUZZ_EXAMPLES raises the example count for a longer local run.
FUZZ = settings(
    max_examples=int(os.environ.get("MASKQC_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _load(data: Path, relative: str) -> Any:
    return json.loads((data / relative).read_text())


@pytest.fixture(scope="module")
def documents(data: Path) -> dict[str, Any]:
    """Small real documents to mutate."""
    supervisely_ann = _load(data, "supervisely/instance/ds/ann/cat2.jpg.json")
    return {
        "coco": _load(
            data,
            "datumaro_assets/openvinotoolkit_datumaro/coco_dataset/coco_instances/"
            "annotations/instances_val.json",
        ),
        "coco_results": _load(data, "cocoapi_results/instances_val2014_fakesegm100_results.json")[
            :3
        ],
        "labelme": _load(data, "labelme/primitives/primitives.json"),
        "label_studio": _load(data, "label_studio/sdk_test_export_coco/data.json"),
        "label_studio_brush": _load(
            data, "label_studio/ml_backend_yolo_tests/test_brush_labels.json"
        ),
        "supervisely_meta": _load(data, "supervisely/vector/meta.json"),
        "supervisely_ann": supervisely_ann,
    }


@FUZZ
@given(st.data())
def test_fuzz_coco_reader_raises_only_format_error(documents: dict, data: st.DataObject):
    kind = data.draw(st.sampled_from(["coco", "coco_results"]))
    payload = _serialise(_mutate(documents[kind], data.draw), data.draw)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.json"
        path.write_bytes(payload)
        _run(lambda: read_coco(path, limits=LIMITS))


@FUZZ
@given(st.data())
def test_fuzz_labelme_reader_raises_only_format_error(documents: dict, data: st.DataObject):
    payload = _serialise(_mutate(documents["labelme"], data.draw), data.draw)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.json"
        path.write_bytes(payload)
        _run(lambda: read_labelme(path, limits=LIMITS))


@FUZZ
@given(st.data())
def test_fuzz_label_studio_reader_raises_only_format_error(documents: dict, data: st.DataObject):
    kind = data.draw(st.sampled_from(["label_studio", "label_studio_brush"]))
    payload = _serialise(_mutate(documents[kind], data.draw), data.draw)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.json"
        path.write_bytes(payload)
        _run(lambda: read_label_studio(path, limits=LIMITS))


@FUZZ
@given(st.data())
def test_fuzz_supervisely_reader_raises_only_format_error(documents: dict, data: st.DataObject):
    meta = documents["supervisely_meta"]
    if data.draw(st.booleans()):
        meta = _mutate(meta, data.draw)
    annotation = _mutate(documents["supervisely_ann"], data.draw)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "project"
        (root / "ds" / "ann").mkdir(parents=True)
        (root / "meta.json").write_bytes(json.dumps(meta).encode())
        (root / "ds" / "ann" / "cat2.jpg.json").write_bytes(_serialise(annotation, data.draw))
        _run(lambda: read_supervisely(root, limits=LIMITS))
