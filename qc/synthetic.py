"""Deterministic synthetic pool-boiling scenes and annotators (for the demo and benchmarks).

Pure module: numpy, OpenCV and the RLE toolbox; no Django. Everything is a function of the
seeds given, so the same call gives the same bytes on every machine with the same library
versions.

- A :class:`Scene` is the truth: vapour bubbles in a ``height`` × ``width`` frame, radius
  8–120 px (log-uniform, so many small and few large), slightly elliptical, about a third of
  them touching a neighbour, a tenth of the larger ones with a hole (the bright spot in the
  middle of a back-lit bubble that annotators leave out), some cut by the frame.
- An :class:`AnnotatorStyle` turns the truth into one annotator's instances: every outline
  gets a smooth random boundary jitter (low-order Fourier terms, RMS 1–3 px, no constant
  term so it does not widen or narrow on average), about 4 % of bubbles are missed and
  about 0.8 spurious small blobs are added per image. ``offset_px`` moves the whole boundary
  along its outward normal (``+1`` = the "wide" annotator whose masks are dilated by 1 px:
  outlines out by 1 px, holes in by 1 px); ``small_miss_rate`` is the miss rate for bubbles
  of radius below ``small_radius_px`` (the "skips small" annotator).
- Outlines are polygons rasterised with OpenCV at 1/16 px into the instance's own crop, and
  encoded from the crop: no full-frame array is built per instance.

:func:`make_images` builds the stored instances (with their features) of many images, in
parallel and cached on disk; :func:`render_image` draws a grey-scale picture of a scene.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from qc.agreement import InstanceFeatures, MeasuredInstance, boundary_width, features_from_crop
from qc.masks import rle_from_crop

__all__ = [
    "BENCH_STYLES",
    "DEMO_STYLES",
    "AnnotatorStyle",
    "Bubble",
    "Scene",
    "SyntheticInstance",
    "annotate",
    "load_images",
    "make_images",
    "make_scene",
    "render_image",
    "truth_instances",
]

LABEL = "bubble"
_SUBPIXEL_BITS = 4  # cv2.fillPoly fixed-point vertices: 1/16 px
_CACHE_VERSION = 1


@dataclass(frozen=True)
class Bubble:
    """One true bubble: centre ``(cx, cy)`` in pixels (x = column), outline radius
    ``r(θ) = radius · (1 + ellipticity · cos 2(θ − angle))``, optional circular ``hole``
    ``(dx, dy, r)`` relative to the centre."""

    cx: float
    cy: float
    radius: float
    ellipticity: float
    angle: float
    hole: tuple[float, float, float] | None


@dataclass(frozen=True)
class Scene:
    """The truth of one synthetic image."""

    seed: int
    height: int
    width: int
    bubbles: tuple[Bubble, ...]


@dataclass(frozen=True)
class AnnotatorStyle:
    """How one synthetic annotator draws (see the module docstring); rates are per bubble."""

    name: str
    offset_px: float = 0.0
    jitter_px: tuple[float, float] = (1.0, 3.0)
    miss_rate: float = 0.04
    extra_per_image: float = 0.8
    small_radius_px: float = 20.0
    small_miss_rate: float = 0.04


# Benchmark workload (DESIGN §5): two unbiased annotators and one drawing 1 px wide.
BENCH_STYLES = (
    AnnotatorStyle("anna"),
    AnnotatorStyle("ben"),
    AnnotatorStyle("wide", offset_px=1.0),
)
# Demo: three distinct styles.
DEMO_STYLES = (
    AnnotatorStyle("precise"),
    AnnotatorStyle("wide", offset_px=1.0),
    AnnotatorStyle("skips_small", small_miss_rate=0.85),
)


@dataclass(frozen=True)
class SyntheticInstance:
    """One synthetic instance: ``truth`` is the index of its bubble in the scene, ``None``
    for a spurious extra. ``features`` as stored (:class:`qc.agreement.InstanceFeatures`)."""

    key: str
    label: str
    rle: dict[str, Any]
    features: InstanceFeatures
    truth: int | None

    def inst(self) -> MeasuredInstance:
        """As a :class:`qc.agreement.MeasuredInstance`."""
        return MeasuredInstance.from_features(self.key, self.label, self.rle, self.features)


def _rng(*words: int | str) -> np.random.Generator:
    entropy = [w if isinstance(w, int) else zlib.crc32(w.encode()) for w in words]
    return np.random.default_rng(np.random.SeedSequence(entropy))


# --- scenes ---------------------------------------------------------------------------------


def make_scene(*, seed: int, height: int = 1024, width: int = 1024, n_bubbles: int = 40) -> Scene:
    """Place up to ``n_bubbles`` non-overlapping bubbles (fewer when the frame is full)."""
    rng = _rng("scene", seed)
    radii = np.sort(np.exp(rng.uniform(math.log(8.0), math.log(120.0), n_bubbles)))[::-1]
    bubbles: list[Bubble] = []
    for radius in radii:
        ellipticity = float(rng.uniform(0.0, 0.12))
        angle = float(rng.uniform(0.0, math.pi))
        hole = None
        if radius >= 25 and rng.random() < 0.1:
            hole_r = float(radius * rng.uniform(0.15, 0.3))
            offset = radius * rng.uniform(0.0, 0.2)
            phi = rng.uniform(0.0, 2.0 * math.pi)
            hole = (float(offset * math.cos(phi)), float(offset * math.sin(phi)), hole_r)
        for _ in range(200):
            if bubbles and rng.random() < 0.35:
                # touching: along a random direction from a placed bubble, boundaries 0–1 px apart
                other = bubbles[int(rng.integers(len(bubbles)))]
                theta = float(rng.uniform(0.0, 2.0 * math.pi))
                reach = _outline_radius(other, theta) + radius * (
                    1.0 + ellipticity * math.cos(2.0 * (theta + math.pi - angle))
                )
                gap = float(rng.uniform(0.0, 1.0))
                cx = other.cx + (reach + gap) * math.cos(theta)
                cy = other.cy + (reach + gap) * math.sin(theta)
                exempt = other
            else:
                cx, cy = float(rng.uniform(0, width)), float(rng.uniform(0, height))
                exempt = None
            if not (0.0 <= cx < width and 0.0 <= cy < height):
                continue
            candidate = Bubble(cx, cy, float(radius), ellipticity, angle, hole)
            if all(b is exempt or _apart(candidate, b) for b in bubbles):
                bubbles.append(candidate)
                break
    return Scene(seed=seed, height=height, width=width, bubbles=tuple(bubbles))


def _outline_radius(b: Bubble, theta: float) -> float:
    return b.radius * (1.0 + b.ellipticity * math.cos(2.0 * (theta - b.angle)))


def _apart(a: Bubble, b: Bubble) -> bool:
    """Far enough apart that jittered outlines (≤ ~3 px) rarely meet."""
    reach = a.radius * (1 + a.ellipticity) + b.radius * (1 + b.ellipticity) + 4.0
    return math.hypot(a.cx - b.cx, a.cy - b.cy) >= reach


# --- outlines and rasterisation ---------------------------------------------------------------


def _outline(
    cx: float,
    cy: float,
    radius: float,
    ellipticity: float,
    angle: float,
    *,
    jitter_rms: float,
    offset: float,
    rng: np.random.Generator | None,
) -> np.ndarray:
    """Closed outline ``[n, 2]`` (x, y): the radial shape plus smooth jitter, then moved
    ``offset`` px along the outward normal."""
    n = int(min(720, max(48, round(2.0 * math.pi * radius))))
    theta = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    r = radius * (1.0 + ellipticity * np.cos(2.0 * (theta - angle)))
    if jitter_rms > 0 and rng is not None:
        # Harmonics k = 1..K with amplitude ∝ 1/k; K keeps wavelengths ≥ ~25 px of arc.
        k_max = int(min(8, max(2, 2.0 * math.pi * radius // 25)))
        k = np.arange(1, k_max + 1)
        amplitude = 1.0 / k
        amplitude *= jitter_rms * math.sqrt(2.0) / np.sqrt(np.sum(amplitude**2))
        phase = rng.uniform(0.0, 2.0 * math.pi, k_max)
        r = r + (amplitude[:, None] * np.cos(k[:, None] * theta[None, :] + phase[:, None])).sum(0)
    points = np.column_stack((cx + r * np.cos(theta), cy + r * np.sin(theta)))
    if offset:
        tangent = np.roll(points, -1, axis=0) - np.roll(points, 1, axis=0)
        normal = np.column_stack((tangent[:, 1], -tangent[:, 0]))
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        if np.sum(normal * (points - (cx, cy))) < 0:  # make it point outwards
            normal = -normal
        points = points + offset * normal
    return points


def _rasterise(
    outer: np.ndarray, hole: np.ndarray | None, height: int, width: int
) -> tuple[np.ndarray, tuple[int, int]] | None:
    """Fill ``outer`` minus ``hole`` into a crop of the outline's box clipped to the frame.

    Returns ``(crop, origin)`` or ``None`` when nothing is left inside the frame."""
    x0 = max(0, math.floor(outer[:, 0].min()) - 1)
    y0 = max(0, math.floor(outer[:, 1].min()) - 1)
    x1 = min(width, math.ceil(outer[:, 0].max()) + 2)
    y1 = min(height, math.ceil(outer[:, 1].max()) + 2)
    if x0 >= x1 or y0 >= y1:
        return None
    crop = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    scale = 1 << _SUBPIXEL_BITS

    def fixed(points: np.ndarray) -> np.ndarray:
        return np.round((points - (x0, y0)) * scale).astype(np.int32)

    cv2.fillPoly(crop, [fixed(outer)], 1, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
    if hole is not None:
        cv2.fillPoly(crop, [fixed(hole)], 0, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
    mask = crop.astype(bool)
    if not mask.any():
        return None
    return mask, (x0, y0)


def _instance(
    key: str,
    outer: np.ndarray,
    hole: np.ndarray | None,
    scene: Scene,
    d: int,
    truth: int | None,
) -> SyntheticInstance | None:
    raster = _rasterise(outer, hole, scene.height, scene.width)
    if raster is None:
        return None
    crop, origin = raster
    features = features_from_crop(
        crop, origin=origin, height=scene.height, width=scene.width, boundary_px=d
    )
    rle = rle_from_crop(crop, origin=origin, height=scene.height, width=scene.width)
    return SyntheticInstance(key, LABEL, rle, features, truth)


def _bubble_instance(
    key: str,
    index: int,
    b: Bubble,
    scene: Scene,
    d: int,
    *,
    jitter_rms: float,
    offset: float,
    rng: np.random.Generator | None,
) -> SyntheticInstance | None:
    outer = _outline(
        b.cx,
        b.cy,
        b.radius,
        b.ellipticity,
        b.angle,
        jitter_rms=jitter_rms,
        offset=offset,
        rng=rng,
    )
    hole = None
    if b.hole is not None:
        dx, dy, hr = b.hole
        # A wider annotator leaves a smaller hole: its boundary moves into the hole.
        hole = _outline(
            b.cx + dx,
            b.cy + dy,
            hr,
            0.0,
            0.0,
            jitter_rms=min(jitter_rms, 0.15 * hr),
            offset=-offset,
            rng=rng,
        )
    return _instance(key, outer, hole, scene, d, index)


def truth_instances(scene: Scene, *, boundary_px: int | None = None) -> list[SyntheticInstance]:
    """The true bubbles as instances (no jitter), keys ``truth:<index>``."""
    d = boundary_width(height=scene.height, width=scene.width, boundary_px=boundary_px)
    out = []
    for index, b in enumerate(scene.bubbles):
        inst = _bubble_instance(
            f"truth:{index}", index, b, scene, d, jitter_rms=0.0, offset=0.0, rng=None
        )
        if inst is not None:
            out.append(inst)
    return out


def annotate(
    scene: Scene, style: AnnotatorStyle, *, seed: int, boundary_px: int | None = None
) -> list[SyntheticInstance]:
    """One annotator's instances of ``scene`` in ``style`` (keys ``<name>:<n>``)."""
    rng = _rng("annotate", seed, scene.seed, style.name)
    d = boundary_width(height=scene.height, width=scene.width, boundary_px=boundary_px)
    lo, hi = style.jitter_px
    out: list[SyntheticInstance] = []
    for index, b in enumerate(scene.bubbles):
        miss = style.small_miss_rate if b.radius < style.small_radius_px else style.miss_rate
        jitter = float(min(rng.uniform(lo, hi), 0.2 * b.radius))
        if rng.random() < miss:
            continue
        inst = _bubble_instance(
            f"{style.name}:{len(out)}",
            index,
            b,
            scene,
            d,
            jitter_rms=jitter,
            offset=style.offset_px,
            rng=rng,
        )
        if inst is not None:
            out.append(inst)
    for _ in range(int(rng.poisson(style.extra_per_image))):
        # a spurious blob on the background: a reflection or a speck taken for a bubble
        radius = float(rng.uniform(5.0, 14.0))
        for _ in range(50):
            cx, cy = float(rng.uniform(0, scene.width)), float(rng.uniform(0, scene.height))
            if all(
                math.hypot(cx - b.cx, cy - b.cy) >= b.radius * (1 + b.ellipticity) + radius + 3
                for b in scene.bubbles
            ):
                break
        else:
            continue
        outer = _outline(
            cx,
            cy,
            radius,
            float(rng.uniform(0.0, 0.2)),
            float(rng.uniform(0.0, math.pi)),
            jitter_rms=1.0,
            offset=style.offset_px,
            rng=rng,
        )
        inst = _instance(f"{style.name}:{len(out)}", outer, None, scene, d, None)
        if inst is not None:
            out.append(inst)
    return out


# --- pictures ---------------------------------------------------------------------------------


def render_image(scene: Scene, *, seed: int) -> np.ndarray:
    """A grey-scale picture of the scene, uint8 ``[row, col]``: a back-lit boiling surface
    with dark bubble interiors, bright rims, bright centre spots where the masks have holes,
    a little blur and noise."""
    rng = _rng("render", seed, scene.seed)
    h, w = scene.height, scene.width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    image = 150.0 + 30.0 * (xx / w) - 20.0 * (yy / h)
    image -= 25.0 * (((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2)
    canvas = image.astype(np.float32)
    scale = 1 << _SUBPIXEL_BITS
    for b in scene.bubbles:
        outer = _outline(
            b.cx, b.cy, b.radius, b.ellipticity, b.angle, jitter_rms=0.0, offset=0.0, rng=None
        )
        pts = [np.round(outer * scale).astype(np.int32)]
        cv2.fillPoly(canvas, pts, 45.0, lineType=cv2.LINE_AA, shift=_SUBPIXEL_BITS)
        cv2.polylines(canvas, pts, True, 225.0, 2, lineType=cv2.LINE_AA, shift=_SUBPIXEL_BITS)
        if b.hole is not None:
            dx, dy, hr = b.hole
            spot = _outline(
                b.cx + dx, b.cy + dy, hr, 0.0, 0.0, jitter_rms=0.0, offset=0.0, rng=None
            )
            cv2.fillPoly(
                canvas,
                [np.round(spot * scale).astype(np.int32)],
                200.0,
                lineType=cv2.LINE_AA,
                shift=_SUBPIXEL_BITS,
            )
    canvas = cv2.GaussianBlur(canvas, (0, 0), 1.0)
    canvas += rng.normal(0.0, 6.0, size=canvas.shape).astype(np.float32)
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8)


# --- many images, cached ----------------------------------------------------------------------


def _image_record(
    seed: int,
    index: int,
    styles: Sequence[AnnotatorStyle],
    height: int,
    width: int,
    n_bubbles: int,
    boundary_px: int | None,
) -> bytes:
    """One image's stored instances, compact: pickled ``{annotator: [row, ...]}`` with rows
    ``(key, label, counts, boundary_counts, area, bbox, perimeter)`` (what a database row
    holds)."""
    scene_seed = int(_rng("image", seed, index).integers(2**31))
    scene = make_scene(seed=scene_seed, height=height, width=width, n_bubbles=n_bubbles)
    record = {}
    for style in styles:
        rows = []
        for inst in annotate(scene, style, seed=seed, boundary_px=boundary_px):
            f = inst.features
            rows.append(
                (
                    inst.key,
                    inst.label,
                    bytes(inst.rle["counts"]),
                    bytes(f.boundary_rle["counts"]),
                    f.area,
                    f.bbox,
                    f.perimeter,
                )
            )
        record[style.name] = rows
    return pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)


def _record_chunk(args: tuple) -> list[bytes]:
    seed, indices, styles, height, width, n_bubbles, boundary_px = args
    return [_image_record(seed, i, styles, height, width, n_bubbles, boundary_px) for i in indices]


def make_images(
    n_images: int,
    *,
    seed: int,
    styles: Sequence[AnnotatorStyle] = BENCH_STYLES,
    height: int = 1024,
    width: int = 1024,
    n_bubbles: int = 40,
    boundary_px: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    workers: int = 1,
) -> list[bytes]:
    """Stored instances of ``n_images`` synthetic images, one compact record per image.

    Image ``i`` depends only on ``(seed, i)`` and the other arguments, so a run of 100
    images is the first 100 of a run of 1000. With ``cache_dir`` the records are cached in
    one pickle file keyed by every argument (built once; generation is not what anyone
    times). ``workers`` > 1 generates in that many processes. Decode a record with
    :func:`load_images`.
    """
    key = repr(
        (
            _CACHE_VERSION,
            seed,
            n_images,
            [astuple(s) for s in styles],
            height,
            width,
            n_bubbles,
            boundary_px,
            cv2.__version__,
            np.__version__,
        )
    )
    path = None
    if cache_dir is not None:
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        path = Path(cache_dir) / f"synthetic-{seed}-{n_images}-{digest}.pkl"
        if path.exists():
            with path.open("rb") as f:
                return pickle.load(f)
    args = [
        (
            seed,
            list(range(start, min(n_images, start + 25))),
            tuple(styles),
            height,
            width,
            n_bubbles,
            boundary_px,
        )
        for start in range(0, n_images, 25)
    ]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            chunks = list(pool.map(_record_chunk, args))
    else:
        chunks = [_record_chunk(a) for a in args]
    records = [record for chunk in chunks for record in chunk]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            pickle.dump(records, f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    return records


def load_images(
    record: bytes, *, height: int = 1024, width: int = 1024
) -> dict[str, list[MeasuredInstance]]:
    """One record of :func:`make_images` as ``{annotator: [MeasuredInstance, ...]}`` (what a worker
    reads from the database for one image)."""
    size = [height, width]
    out = {}
    for annotator, rows in pickle.loads(record).items():
        out[annotator] = [
            MeasuredInstance(
                key=key,
                label=label,
                rle={"size": size, "counts": counts},
                area=area,
                bbox=bbox,
                perimeter=perimeter,
                boundary_rle={"size": size, "counts": boundary},
            )
            for key, label, counts, boundary, area, bbox, perimeter in rows
        ]
    return out
