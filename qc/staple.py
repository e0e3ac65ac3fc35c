"""STAPLE consensus of binary masks (Warfield, Zou & Wells, IEEE TMI 23(7), 2004).

Pure module: numpy and scipy only, no Django. Used by the consensus step (DESIGN §4) on one
cluster's bounding-box crop, so inputs are small, but the code is vectorised throughout.

Model: every pixel ``i`` has an unknown true label ``T_i``; rater ``j`` labels a truly
foreground pixel foreground with probability ``p_j`` (sensitivity) and a truly background
pixel background with probability ``q_j`` (specificity), independently of the other raters
and pixels; ``P(T_i = 1) = prior`` everywhere. Expectation-maximisation alternates

* M-step: ``p_j = Σ_i W_i D_ij / Σ_i W_i`` and ``q_j = Σ_i (1 − W_i)(1 − D_ij) / Σ_i (1 − W_i)``;
* E-step: ``W_i = g a_i / (g a_i + (1 − g) b_i)`` with
  ``a_i = Π_j p_j^D_ij (1 − p_j)^(1 − D_ij)`` and ``b_i = Π_j (1 − q_j)^D_ij q_j^(1 − D_ij)``,

where ``D_ij`` is rater ``j``'s label of pixel ``i`` and ``W_i = P(T_i = 1 | D, p, q)``.

The likelihoods depend on a pixel only through its vote pattern (the k-tuple ``D_i·``), so
the EM runs over the distinct patterns weighted by their pixel counts: at most
``min(2**k, rows * cols)`` rows, and in practice a few dozen.

Matches SimpleITK's ``STAPLEImageFilter`` (ITK ``itkSTAPLEImageFilter.hxx``) run with
``ForegroundValue=1`` on the masks as 0/1 images:

* same start: ``W`` = the per-pixel fraction of raters marking foreground, then each
  iteration is an M-step followed by an E-step, so the reported ``p``, ``q`` are the
  ones the returned ``probability`` was computed from;
* same prior (see the ``prior`` argument of :func:`staple`) and same convergence test:
  ITK stops when ``(Δp_j)² <= 1e-14`` and ``(Δq_j)² <= 1e-14`` for every rater, i.e. every
  absolute change ``<= 1e-7`` -- our default ``tolerance``; like ITK, the first iteration
  never counts as converged.

Differences:

* ``max_iterations`` defaults to 100; ITK's ``MaximumIterations`` defaults to
  ``2**32 − 1``. The BU-BIL cells converge within 45 iterations, also full-frame.
* ``iterations`` counts the EM iterations run. ITK's ``GetElapsedIterations()`` is the
  zero-based index of the iteration at which it converged, i.e. ``iterations − 1``,
  but equals ``MaximumIterations`` when it stopped at the bound.
* Degenerate cases, where ITK divides 0 by 0 and returns NaN, are defined here:
  a sensitivity with no estimated foreground (``Σ W = 0``, e.g. every mask empty) is
  vacuously 1.0, likewise a specificity with no estimated background (every mask full);
  a vote pattern that both hypotheses rule out (``a_i = b_i = 0``, which needs rates of
  exactly 0 or 1 that contradict each other, or a prior of exactly 0 or 1) gets the
  prior as its posterior. So identical raters (including ``k = 1``) give
  sensitivity = specificity = 1 and their common mask, and all-empty or all-full masks
  are handled without NaN.
* Sums run over vote patterns instead of pixels, and the E-step is computed in log
  space, so results differ from ITK's by floating-point rounding only (on the BU-BIL
  masks: rates within 1e-10, posteriors within 1e-9). Near an unstable symmetric fixed
  point (raters whose votes mirror each other) EM amplifies rounding, in ITK as here;
  on tiny random masks that reached 1e-4 after 30 iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

__all__ = ["StapleResult", "staple"]

# Up to 2**16 possible vote patterns are counted with one bincount; more raters sort instead.
_MAX_RATERS_FOR_BINCOUNT = 16


@dataclass(frozen=True)
class StapleResult:
    """Outcome of :func:`staple` for one stack of ``k`` masks of ``rows × cols`` pixels.

    Invariants: every number lies in ``[0, 1]`` and none is NaN; ``probability`` has the
    masks' ``(rows, cols)`` shape; ``mask == (probability >= threshold)``;
    ``len(sensitivity) == len(specificity) == k`` in input order;
    ``1 <= iterations <= max_iterations``.
    """

    probability: np.ndarray  # float64 [rows, cols]: posterior P(true foreground) per pixel
    mask: np.ndarray  # bool [rows, cols]: probability >= threshold
    sensitivity: tuple[float, ...]  # p_j, one per rater, input order
    specificity: tuple[float, ...]  # q_j, one per rater, input order
    prior: float  # P(true foreground) used for every pixel
    iterations: int  # EM iterations run (one M-step plus one E-step each)


def staple(
    masks: np.ndarray,
    *,
    prior: float | None = None,
    max_iterations: int = 100,
    tolerance: float = 1e-7,
    threshold: float = 0.5,
) -> StapleResult:
    """Estimate the true mask and each rater's sensitivity and specificity by STAPLE.

    Args:
        masks: bool array ``[k, rows, cols]``: ``k >= 1`` raters' masks of the same crop,
            ``[row, col]`` pixel indexing, ``True`` = foreground. Not modified.
        prior: ``P(true foreground)`` for every pixel, in ``[0, 1]``. ``None`` (default):
            the mean foreground fraction over the raters' masks, as ITK/SimpleITK's
            ``STAPLEImageFilter`` computes it with its default ``ConfidenceWeight`` of 1.
            It therefore depends on the crop: a larger margin of background lowers it.
        max_iterations: upper bound on EM iterations (``>= 1``).
        tolerance: stop once no rater's sensitivity or specificity moved by more than this
            (absolute) between two consecutive iterations.
        threshold: ``mask = probability >= threshold``.

    Returns:
        A :class:`StapleResult`; see its invariants.

    Raises:
        TypeError: ``masks`` is not a bool array (catches 0/255 or inverted-polarity input
            that a silent cast would accept).
        ValueError: wrong shape, an empty crop, or a parameter out of range.

    Matches SimpleITK's ``STAPLEImageFilter`` but for the differences the module docstring
    lists.
    """
    stack = _checked_masks(masks, prior=prior, max_iterations=max_iterations, tolerance=tolerance)
    k, rows, cols = stack.shape
    patterns, inverse, counts = _vote_patterns(stack.reshape(k, rows * cols))
    posterior, p, q, g, iterations = _fit(
        patterns,
        counts,
        n_pixels=float(rows * cols),
        prior=prior,
        max_iterations=max_iterations,
        tolerance=tolerance,
    )
    probability = posterior[inverse].reshape(rows, cols)
    return StapleResult(
        probability=probability,
        mask=probability >= threshold,
        sensitivity=tuple(float(v) for v in p),
        specificity=tuple(float(v) for v in q),
        prior=g,
        iterations=iterations,
    )


def _checked_masks(
    masks: np.ndarray, *, prior: float | None, max_iterations: int, tolerance: float
) -> np.ndarray:
    """``masks`` as an array, after the checks :func:`staple` documents under Raises."""
    stack = np.asarray(masks)
    if stack.dtype != np.bool_:
        raise TypeError(f"masks must be a bool array, got dtype {stack.dtype}")
    if stack.ndim != 3:
        raise ValueError(f"masks must have shape [k, rows, cols], got {stack.shape}")
    k, rows, cols = stack.shape
    if k < 1 or rows < 1 or cols < 1:
        raise ValueError(f"masks must be non-empty, got shape {stack.shape}")
    if prior is not None and not 0.0 <= prior <= 1.0:
        raise ValueError(f"prior must be in [0, 1], got {prior}")
    if max_iterations < 1:
        raise ValueError(f"max_iterations must be >= 1, got {max_iterations}")
    if not tolerance >= 0.0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    return stack


def _fit(
    patterns: np.ndarray,
    counts: np.ndarray,
    *,
    n_pixels: float,
    prior: float | None,
    max_iterations: int,
    tolerance: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, int]:
    """EM over the vote ``patterns`` (``counts`` pixels each, ``n_pixels`` in all) from the
    fraction of raters voting foreground, until converged or ``max_iterations``.

    Returns (posterior per pattern, sensitivities, specificities, prior, iterations).
    """
    votes = patterns.astype(np.float64)  # [n_patterns, k], 1.0 = foreground vote
    weights = counts.astype(np.float64)  # pixels per pattern

    # Initial posterior: the fraction of raters voting foreground (as ITK).
    posterior = votes.mean(axis=1)
    g = float(weights @ posterior / n_pixels) if prior is None else float(prior)
    g = min(max(g, 0.0), 1.0)  # the mean may round a hair past 1 when every mask is full

    with np.errstate(divide="ignore"):
        log_g, log_not_g = np.log(g), np.log1p(-g)

    last_p = last_q = None
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        p, q = _maximisation(votes, weights, posterior)
        posterior = _expectation(patterns, p, q, log_g, log_not_g, g)
        converged = (
            last_p is not None
            and np.max(np.abs(p - last_p)) <= tolerance
            and np.max(np.abs(q - last_q)) <= tolerance
        )
        if converged:
            break
        last_p, last_q = p, q
    return posterior, p, q, g, iterations


def _vote_patterns(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct columns of the bool ``[k, n]`` array: (patterns ``[m, k]``, inverse, counts).

    ``patterns[inverse]`` rebuilds ``flat.T``; ``counts`` are pixels per pattern.
    """
    k = flat.shape[0]
    if k > _MAX_RATERS_FOR_BINCOUNT:
        patterns, inverse, counts = np.unique(
            flat.T, axis=0, return_inverse=True, return_counts=True
        )
        return patterns, inverse.ravel(), counts
    # Few raters: a pattern is a k-bit code, counted in O(n) without sorting the pixels.
    bits = np.arange(k, dtype=np.int64)
    codes = np.left_shift(np.int64(1), bits) @ flat
    all_counts = np.bincount(codes, minlength=1 << k)
    present = np.flatnonzero(all_counts)
    position = np.zeros(1 << k, dtype=np.intp)
    position[present] = np.arange(present.size)
    patterns = (present[:, None] >> bits) & 1 == 1
    return patterns, position[codes], all_counts[present]


def _maximisation(
    votes: np.ndarray, weights: np.ndarray, posterior: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sensitivity and specificity per rater given the posterior of each vote pattern."""
    fg = weights * posterior  # expected truly-foreground pixels per pattern
    bg = weights * (1.0 - posterior)
    fg_total, bg_total = fg.sum(), bg.sum()
    # No estimated foreground (background): the rate is vacuous; 1.0 = "no error seen".
    p = fg @ votes / fg_total if fg_total > 0.0 else np.ones(votes.shape[1])
    q = bg @ (1.0 - votes) / bg_total if bg_total > 0.0 else np.ones(votes.shape[1])
    return np.clip(p, 0.0, 1.0), np.clip(q, 0.0, 1.0)


def _expectation(
    patterns: np.ndarray,
    p: np.ndarray,
    q: np.ndarray,
    log_g: float,
    log_not_g: float,
    g: float,
) -> np.ndarray:
    """Posterior P(true foreground) per vote pattern, in log space (no underflow for large k).

    log(0) = -inf is intended: a rate of exactly 0 or 1 makes a hypothesis impossible.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        log_a = log_g + _log_likelihood(patterns, np.log(p), np.log1p(-p))
        log_b = log_not_g + _log_likelihood(patterns, np.log1p(-q), np.log(q))
        posterior = expit(log_a - log_b)
    # Both hypotheses impossible (-inf - -inf): no usable evidence, keep the prior.
    return np.where(np.isnan(posterior), g, posterior)


def _log_likelihood(
    patterns: np.ndarray, log_if_fg: np.ndarray, log_if_bg: np.ndarray
) -> np.ndarray:
    """Σ_j log P(vote_j | hypothesis) per bool pattern; selecting (not multiplying by) the
    votes keeps ``0 · -inf`` out."""
    return np.where(patterns, log_if_fg, log_if_bg).sum(axis=1)
