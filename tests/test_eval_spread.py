"""Bootstrap spread of the set-level metrics: seeded, shrinking with more clips, in tables."""

import numpy as np
import pytest

from sportanim.eval.spread import bootstrap_std, frechet_spread, motion_fid_spread
from sportanim.eval.tables import format_entry


def _blocks(rng, clips, shift=0.0, k=6, d=4):
    return [rng.normal(shift, 1.0, (k, d)) for _ in range(clips)]


def test_bootstrap_is_seeded_and_needs_something_to_resample():
    stat = lambda idx: float(np.mean(idx))  # noqa: E731
    assert bootstrap_std(stat, 10, 50, seed=3) == bootstrap_std(stat, 10, 50, seed=3)
    assert bootstrap_std(stat, 10, 50, seed=3) != bootstrap_std(stat, 10, 50, seed=4)
    assert bootstrap_std(stat, 10, 1) is None and bootstrap_std(stat, 1, 50) is None


def test_frechet_spread_shrinks_with_more_clips():
    rng = np.random.default_rng(0)
    few = frechet_spread(_blocks(rng, 6), _blocks(rng, 6, shift=0.5), 60)
    many = frechet_spread(_blocks(rng, 60), _blocks(rng, 60, shift=0.5), 60)
    assert few > 0 and many > 0 and many < few / 2


def test_motion_fid_spread_is_positive_for_different_motions():
    rng = np.random.default_rng(1)
    real = [rng.normal(0, 0.1, (49, 24, 3)) for _ in range(8)]
    gen = [r + rng.normal(0.05, 0.05, r.shape) for r in real]
    std = motion_fid_spread(real, gen, 30)
    assert std is not None and std > 0


def test_tables_print_value_plus_minus_std():
    assert format_entry({"value": 12.345, "std": 1.5}, "fvd").startswith("12.35 ± 1.50")
    assert "±" not in format_entry({"value": 12.345}, "fvd")


def test_evaluate_refuses_negative_resamples(tmp_path):
    from sportanim.eval.evaluate import evaluate

    with pytest.raises(ValueError, match="resamples"):
        evaluate(tmp_path, tmp_path, resamples=-1, show_progress=False)
