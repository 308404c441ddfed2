"""Spread of a set-level metric (Frechet distances): a seeded bootstrap over clips.

Clips are resampled with replacement, the same clip indices for the real and the generated
side (the pairs stay paired), and the metric is recomputed on each resample; the spread is
the standard deviation of those values. Seeded: the same seed and clip count give the same
resamples, so two runs print the same ``value ± std``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

DEFAULT_RESAMPLES = 200


def bootstrap_std(statistic: Callable[[np.ndarray], float], n: int, resamples: int,
                  seed: int = 0) -> float | None:
    """Standard deviation of ``statistic(indices)`` over ``resamples`` bootstrap draws of
    ``n`` clip indices; None when there is nothing to resample (``resamples`` or ``n`` < 2)."""
    if resamples < 2 or n < 2:
        return None
    rng = np.random.default_rng(seed)
    values = [float(statistic(rng.integers(0, n, n))) for _ in range(resamples)]
    return float(np.std(values, ddof=1))


def frechet_spread(real: list[np.ndarray], generated: list[np.ndarray], resamples: int,
                   seed: int = 0) -> float | None:
    """Bootstrap std of the Frechet distance between per-clip feature blocks (lists of
    ``(k, d)`` arrays, one per clip, real and generated in the same order)."""
    import warnings

    from sportanim.eval.frechet import frechet_distance_features

    def statistic(idx: np.ndarray) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return frechet_distance_features(np.concatenate([real[i] for i in idx]),
                                             np.concatenate([generated[i] for i in idx]))

    return bootstrap_std(statistic, len(real), resamples, seed)


def motion_fid_spread(real: list[np.ndarray], generated: list[np.ndarray], resamples: int,
                      seed: int = 0) -> float | None:
    """Bootstrap std of motion FID over clips (joints lists, paired)."""
    import warnings

    from sportanim.eval.pose import motion_fid

    def statistic(idx: np.ndarray) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return motion_fid([real[i] for i in idx], [generated[i] for i in idx])["value"]

    return bootstrap_std(statistic, len(real), resamples, seed)
