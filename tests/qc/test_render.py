"""Pictures of masks (qc.render) against straightforward references on full frames:
pycocotools' decoding, per-annotator unions summed in numpy, scipy's erosion, a blend of the
whole frame. Real masks from ../shared/data (skipped when absent): the 2018 Data Science
Bowl nuclei as first drawn and as corrected, and BU-BIL's ten expert outlines of one cell.

Pure tests: no database."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pycocotools import mask as coco_mask
from scipy import ndimage

from qc import render
from qc.masks import MaskError, rle_from_mask, rle_to_string
from qc.synthetic import BENCH_STYLES, annotate, make_scene, render_image

CROSS = ndimage.generate_binary_structure(2, 1)


def counts_of(mask: np.ndarray) -> str:
    return rle_to_string(rle_from_mask(mask))


def reference_decode(counts: str, height: int, width: int) -> np.ndarray:
    return coco_mask.decode({"size": [height, width], "counts": counts.encode()}).astype(bool)


def reference_coverage(masks_by_annotator, height: int, width: int) -> np.ndarray:
    total = np.zeros((height, width), dtype=np.int64)
    for counts_list in masks_by_annotator:
        union = np.zeros((height, width), dtype=bool)
        for counts in counts_list:
            union |= reference_decode(counts, height, width)
        total += union
    return total


def reference_edge(mask: np.ndarray, width_px: int = 1) -> np.ndarray:
    inner = ndimage.binary_erosion(mask, CROSS, iterations=width_px, border_value=0)
    return mask & ~inner


def reference_compose(base: np.ndarray, layers) -> np.ndarray:
    """Every layer blended over the whole frame, then its whole-frame edge painted."""
    canvas = base.astype(np.float64)
    for layer in layers:
        rgb = np.asarray(layer.rgb, dtype=np.float64)
        if layer.fill_alpha > 0:
            blended = canvas * (1 - layer.fill_alpha) + rgb * layer.fill_alpha
            canvas = np.where(layer.mask[:, :, None], np.rint(blended), canvas)
        if layer.outline_px > 0:
            canvas[reference_edge(layer.mask, layer.outline_px)] = rgb
    return canvas.astype(np.uint8)


def load_binary(path: Path, *, object_is_black: bool) -> np.ndarray:
    pixels = np.asarray(Image.open(path).convert("L"))
    return pixels < 128 if object_is_black else pixels >= 128


@pytest.fixture
def dsb(shared_data):
    """Per image: (height, width, [original counts, fixed counts]) of the five DSB images."""
    images = []
    for folder in sorted(p for p in (shared_data / "dsb2018_fixes").iterdir() if p.is_dir()):
        annotators = []
        for kind in ("masks_original", "masks_fixed"):
            masks = [
                load_binary(p, object_is_black=False) for p in sorted((folder / kind).glob("*.png"))
            ]
            annotators.append([counts_of(m) for m in masks])
        height, width = masks[0].shape
        images.append((height, width, annotators))
    return images


@pytest.fixture
def bubil_experts(shared_data):
    """One BU-BIL cell (1024 x 811) outlined by ten experts (five people, two tools each)."""
    root = shared_data / "bubil" / "dataset1_rat_smc_phase_contrast" / "ExpertsAnnotations"
    masks = [
        load_binary(folder / "seg_B01.png", object_is_black=True)
        for folder in sorted(root.iterdir())
    ]
    height, width = masks[0].shape
    return height, width, [[counts_of(m)] for m in masks]


# --- decoding and coverage -----------------------------------------------------------------


def test_decode_equals_pycocotools_on_real_masks(dsb):
    for height, width, annotators in dsb:
        for counts in annotators[0][:5]:
            decoded = render.decode(counts, height, width)
            assert decoded.dtype == np.bool_
            assert np.array_equal(decoded, reference_decode(counts, height, width))


def test_decode_refuses_counts_of_another_size():
    counts = counts_of(np.ones((4, 4), dtype=bool))
    with pytest.raises(MaskError):
        render.decode(counts, 5, 5)


def test_coverage_and_disagreement_equal_the_reference_on_dsb_nuclei(dsb):
    for height, width, annotators in dsb:
        cover = render.coverage(annotators, height, width)
        expected = reference_coverage(annotators, height, width)
        assert cover.dtype == np.uint8
        assert np.array_equal(cover, expected)
        layers = render.disagreement_layer(cover, 2)
        # Original and fixed differ on the nuclei added, removed and re-drawn.
        (layer,) = layers
        assert np.array_equal(layer.mask, expected == 1)
        assert layer.outline_px == 0


def test_coverage_and_disagreement_levels_of_ten_experts(bubil_experts):
    height, width, annotators = bubil_experts
    cover = render.coverage(annotators, height, width)
    expected = reference_coverage(annotators, height, width)
    assert np.array_equal(cover, expected)
    layers = render.disagreement_layer(cover, 10)
    shaded = {round(layer.fill_alpha, 6): layer.mask for layer in layers}
    levels = [c for c in range(1, 10) if (expected == c).any()]
    assert len(layers) == len(levels) > 3
    for layer, level in zip(layers, levels, strict=True):
        assert np.array_equal(layer.mask, expected == level)
    union = np.logical_or.reduce([layer.mask for layer in layers])
    assert np.array_equal(union, (expected > 0) & (expected < 10))
    # Darker where more of them drew the pixel: opacity grows with the level.
    alphas = sorted(shaded)
    assert alphas == [layer.fill_alpha for layer in layers]


def test_an_annotators_overlapping_instances_count_once():
    frame = np.zeros((6, 6), dtype=bool)
    left, right = frame.copy(), frame.copy()
    left[1:4, 0:4] = True
    right[1:4, 2:6] = True
    cover = render.coverage([[counts_of(left), counts_of(right)], [counts_of(left)]], 6, 6)
    assert cover.max() == 2
    assert np.array_equal(cover, (left | right).astype(np.uint8) + left)


def test_no_annotator_and_one_annotator_show_no_disagreement():
    mask = np.zeros((5, 5), dtype=bool)
    mask[1:3, 1:3] = True
    assert render.coverage([], 5, 5).max() == 0
    assert render.coverage([[], [counts_of(mask)]], 5, 5).max() == 1
    assert render.disagreement_layer(render.coverage([[counts_of(mask)]], 5, 5), 1) == ()
    assert render.disagreement_layer(np.zeros((5, 5), np.uint8), 3) == ()


def test_disagreement_of_a_levels_map_equals_that_of_its_coverage(bubil_experts):
    height, width, annotators = bubil_experts
    cover = render.coverage(annotators, height, width)
    levels = render.disagreement_levels(cover, 10)
    a, b = render.disagreement_layer(cover, 10), render.disagreement_layer(levels, 10)
    assert [layer.fill_alpha for layer in a] == [layer.fill_alpha for layer in b]
    assert all(np.array_equal(x.mask, y.mask) for x, y in zip(a, b, strict=True))


# --- edges and drawing -----------------------------------------------------------------------


@pytest.mark.parametrize("width_px", [1, 2, 3])
def test_edge_equals_the_mask_minus_its_erosion_on_real_masks(dsb, width_px):
    height, width, annotators = dsb[0]
    for counts in annotators[1]:
        mask = reference_decode(counts, height, width)
        assert np.array_equal(render.edge(mask, width_px), reference_edge(mask, width_px))


def test_outline_pixels_are_the_masks_edge_including_the_frames_edge():
    mask = np.zeros((8, 10), dtype=bool)
    mask[0:5, 6:10] = True  # touches the top and right of the frame
    mask[6, 1] = True  # a lone pixel is all edge
    layer = render.Layer(mask, (255, 0, 0), fill_alpha=0.0, outline_px=1)
    picture = render.compose(np.zeros((8, 10), np.uint8), 8, 10, [layer])
    drawn = (picture == (255, 0, 0)).all(axis=2)
    assert np.array_equal(drawn, reference_edge(mask))
    assert drawn[0, 6:10].all() and drawn[0:5, 9].all()
    assert not drawn[1:4, 7:9].any()


def test_compose_blends_fill_and_paints_outline_over_a_grey_base():
    mask = np.zeros((5, 5), dtype=bool)
    mask[1:4, 1:4] = True
    base = np.full((5, 5), 100, dtype=np.uint8)
    layer = render.Layer(mask, (200, 0, 50), fill_alpha=0.5, outline_px=1)
    picture = render.compose(base, 5, 5, [layer])
    assert picture.shape == (5, 5, 3) and picture.dtype == np.uint8
    assert tuple(picture[2, 2]) == (150, 50, 75)  # inside: blended
    assert tuple(picture[1, 1]) == (200, 0, 50)  # edge: opaque
    assert tuple(picture[0, 0]) == (100, 100, 100)  # outside: the base


def test_compose_without_pixels_draws_on_a_neutral_grey_canvas():
    picture = render.compose(None, 3, 4, [])
    assert picture.shape == (3, 4, 3)
    assert (picture == render.NEUTRAL_GREY).all()


def test_compose_takes_rgb_rgba_bool_float_and_16_bit_bases():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert np.array_equal(render.compose(rgb, 2, 3, []), rgb)
    rgba = np.dstack([rgb, np.full((2, 3), 7, np.uint8)])
    assert np.array_equal(render.compose(rgba, 2, 3, []), rgb)
    assert render.compose(np.ones((2, 3), bool), 2, 3, []).min() == 255
    assert render.compose(np.full((2, 3), 0.5), 2, 3, []).max() == 128
    deep = np.array([[0, 1000], [2000, 4000]], dtype=np.uint16)
    assert render.compose(deep, 2, 2, [])[1, 1, 0] == 255


def test_compose_refuses_pictures_and_masks_of_another_size():
    with pytest.raises(ValueError, match="not a 4x3 picture"):
        render.compose(np.zeros((4, 3), np.uint8), 3, 4, [])
    with pytest.raises(ValueError, match="channels"):
        render.compose(np.zeros((3, 4, 2), np.uint8), 3, 4, [])
    layer = render.Layer(np.zeros((4, 4), bool), (0, 0, 0))
    with pytest.raises(ValueError, match="not a 4x3 mask"):
        render.compose(None, 3, 4, [layer])


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 12),
    st.lists(
        st.tuples(
            st.integers(0, 2**31),
            st.floats(0.0, 1.0),
            st.integers(0, 3),
            st.sampled_from([(230, 159, 0), (0, 114, 178), (0, 0, 0)]),
        ),
        max_size=4,
    ),
)
def test_compose_in_boxes_equals_blending_the_whole_frame(height, width, specs):
    """Drawing inside each mask's box is the whole-frame drawing, wherever the mask lies
    (touching the frame's edge or not, empty or full)."""
    layers = []
    for seed, alpha, outline, rgb in specs:
        mask = np.random.default_rng(seed).random((height, width)) < 0.4
        layers.append(render.Layer(mask, rgb, fill_alpha=alpha, outline_px=outline))
    base = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    assert np.array_equal(
        render.compose(base, height, width, layers), reference_compose(base, layers)
    )


# --- PNG and thumbnails ------------------------------------------------------------------------


def test_png_round_trips_through_pillow():
    rgb = np.random.default_rng(3).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    data = render.png_bytes(rgb)
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.format == "PNG" and picture.mode == "RGB"
        assert np.array_equal(np.asarray(picture), rgb)


def test_png_shrinks_to_max_side_keeping_the_aspect():
    rgb = np.zeros((300, 600, 3), dtype=np.uint8)
    with Image.open(io.BytesIO(render.png_bytes(rgb, max_side=240))) as picture:
        assert picture.size == (240, 120)
    with Image.open(io.BytesIO(render.png_bytes(rgb[:10, :20], max_side=240))) as picture:
        assert picture.size == (20, 10)


@pytest.mark.parametrize(
    ("height", "width", "factor", "size"),
    [(1024, 1024, 5, (205, 205)), (811, 1024, 5, (205, 163)), (100, 60, 1, (60, 100))],
)
def test_thumbnail_size(height, width, factor, size):
    assert render.thumbnail_factor(height, width, 240) == factor
    masks = [[counts_of(np.ones((height, width), bool))]]
    with Image.open(io.BytesIO(render.thumbnail_png(None, masks, height, width))) as picture:
        assert picture.size == size


def reference_pool_max(array: np.ndarray, factor: int) -> np.ndarray:
    rows, cols = array.shape
    out_rows, out_cols = -(-rows // factor), -(-cols // factor)
    padded = np.zeros((out_rows * factor, out_cols * factor), dtype=array.dtype)
    padded[:rows, :cols] = array
    return padded.reshape(out_rows, factor, out_cols, factor).max(axis=(1, 3))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 9), st.integers(0, 2**31))
def test_shrinking_keeps_each_blocks_largest_value(height, width, factor, seed):
    array = np.random.default_rng(seed).integers(0, 4, (height, width), dtype=np.uint8)
    assert np.array_equal(render._pool_max(array, factor), reference_pool_max(array, factor))


def test_a_one_pixel_disagreement_survives_shrinking():
    height = width = 1000
    a = np.zeros((height, width), dtype=bool)
    a[100:900, 100:900] = True
    b = a.copy()
    b[:, 899] = False  # one annotator's edge one pixel further in
    data = render.thumbnail_png(None, [[counts_of(a)], [counts_of(b)]], height, width)
    with Image.open(io.BytesIO(data)) as picture:
        pixels = np.asarray(picture).astype(int)
    grey = np.full(3, render.NEUTRAL_GREY)
    vermillion = grey * 0.2 + np.asarray(render.DISAGREEMENT_RGB) * 0.8
    factor = render.thumbnail_factor(height, width, 240)
    rows = slice(100 // factor, 900 // factor)
    assert np.abs(pixels[rows, 899 // factor] - np.rint(vermillion)).max() <= 1
    assert (pixels[5, 5] == grey).all()


def test_read_picture_resizes_grey_palette_and_16_bit_files(shared_data, tmp_path):
    raw = shared_data / "bubil" / "dataset1_rat_smc_phase_contrast" / "RawImages"
    grey = render.read_picture(str(raw / "B01.png"), size=(205, 163))
    assert grey.shape == (163, 205) and grey.dtype == np.uint8
    with Image.open(raw / "B01.png") as picture:
        expected = np.asarray(picture.convert("L").resize((205, 163), Image.Resampling.BOX))
    assert np.abs(grey.astype(int) - expected).mean() < 1  # reduced first, then resized
    palette = render.read_picture(str(raw / "B02.png"), size=(100, 80))
    assert palette.shape == (80, 100, 3)
    deep = tmp_path / "deep.png"
    Image.fromarray(np.array([[0, 30000], [60000, 65535]], dtype=np.uint16)).save(deep)
    assert render.read_picture(str(deep), size=(2, 2))[1, 1] == 255
    assert render.compose(grey, 163, 205, []).shape == (163, 205, 3)


def test_thumbnail_of_three_annotators_forty_bubbles_each_at_1024_is_fast():
    scene = make_scene(seed=7, height=1024, width=1024, n_bubbles=40)
    annotators = [
        [rle_to_string(inst.rle) for inst in annotate(scene, style, seed=1)]
        for style in BENCH_STYLES
    ]
    assert sum(map(len, annotators)) >= 110
    buffer = io.BytesIO()
    Image.fromarray(render_image(scene, seed=1)).save(buffer, format="PNG")
    factor = render.thumbnail_factor(1024, 1024, 240)
    size = (-(-1024 // factor),) * 2

    def thumbnail() -> bytes:
        buffer.seek(0)
        base = render.read_picture(buffer, size=size)
        return render.thumbnail_png(base, annotators, 1024, 1024)

    thumbnail()
    timings = []
    # CPU time of this process: other work on the machine does not count against it.
    for _ in range(3):
        start = time.process_time()
        data = thumbnail()
        timings.append(time.process_time() - start)
    assert data.startswith(b"\x89PNG")
    assert min(timings) < 0.1, f"thumbnail took {min(timings) * 1000:.0f} ms"
