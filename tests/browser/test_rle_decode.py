"""The review viewer's COCO RLE decoder (static/js/viewer.js), run in Chromium, equals
pycocotools' decode: the same area, bounding box and pixels (a SHA-256 of the row-major
frame) for real compressed RLE strings -- the COCO API's own results file, the demo's
stored instances -- and for the edge cases of the format."""

import hashlib
import json

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from qc.models import Instance

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    # pycocotools' decode under numpy 2 warns about a copy keyword; the pixels are right.
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]

# For each RLE: its area, its crop's box and the SHA-256 of its full row-major frame.
DECODE = """async (items) => {
  const out = [];
  for (const [counts, height, width] of items) {
    const crop = MaskQC.rle.decodeCrop(MaskQC.rle.counts(counts), height);
    const frame = MaskQC.rle.decodeFrame(counts, height, width);
    const digest = await crypto.subtle.digest("SHA-256", frame);
    const hex = Array.from(new Uint8Array(digest))
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    out.push([crop.area, [crop.x, crop.y, crop.w, crop.h], hex]);
  }
  return out;
}"""


def expected(counts: str, height: int, width: int) -> list:
    rle = {"size": [height, width], "counts": counts.encode()}
    mask = coco_mask.decode(rle).astype(np.uint8)  # [row, col]
    box = [int(v) for v in coco_mask.toBbox(rle)]
    return [int(mask.sum()), box, hashlib.sha256(np.ascontiguousarray(mask).tobytes()).hexdigest()]


def decoded_in_chromium(page, demo, items: list[tuple[str, int, int]]) -> list:
    page.goto(demo.page_url("/login/"))
    page.add_script_tag(url="/static/js/viewer.js")
    results = []
    for start in range(0, len(items), 200):
        results.extend(page.evaluate(DECODE, items[start : start + 200]))
    return results


def edge_cases() -> list[tuple[str, int, int]]:
    """Masks pycocotools encodes: empty, full, single pixels at the corners, whole first
    and last columns, a run across columns, and a large frame (counts of 5+ groups)."""
    shapes = []
    for height, width, cells in [
        (7, 5, []),
        (7, 5, "all"),
        (7, 5, [(0, 0)]),
        (7, 5, [(6, 4)]),
        (7, 5, [(r, 0) for r in range(7)] + [(r, 4) for r in range(7)]),
        (7, 5, [(5, 1), (6, 1), (0, 2), (1, 2)]),
        (1, 1, "all"),
        (2100, 2100, [(2099, 2099), (0, 1000)]),
    ]:
        mask = np.zeros((height, width), np.uint8)
        if cells == "all":
            mask[:] = 1
        else:
            for r, c in cells:
                mask[r, c] = 1
        rle = coco_mask.encode(np.asfortranarray(mask))
        shapes.append((rle["counts"].decode(), height, width))
    return shapes


def test_decoder_equals_pycocotools_on_the_coco_apis_results(page, demo, shared_data):
    results = json.loads(
        (shared_data / "cocoapi_results" / "instances_val2014_fakesegm100_results.json").read_text()
    )
    items = [
        (r["segmentation"]["counts"], *r["segmentation"]["size"]) for r in results
    ] + edge_cases()

    got = decoded_in_chromium(page, demo, items)

    assert len(got) == len(items) > 700
    for item, result in zip(items, got, strict=True):
        want = expected(*item)
        if want[0] == 0:
            want[1] = [0, 0, 0, 0]
        assert result == want, item[1:]


def test_decoder_equals_pycocotools_on_the_demos_stored_instances(page, demo):
    rows = list(
        Instance.objects.filter(submission__task__image__project=demo.project).values_list(
            "rle", "submission__task__image__height", "submission__task__image__width"
        )
    )

    got = decoded_in_chromium(page, demo, rows)

    assert len(got) == len(rows) > 100
    assert got == [expected(*row) for row in rows]
