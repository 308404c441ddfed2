"""Graded video corruptions: identity at strength 0, more change at more strength."""

import numpy as np
import pytest

from sportanim.eval import corruptions as C
from sportanim.synth.world import make_clip


@pytest.fixture(scope="module")
def clip():
    return make_clip(3, 0, "lutz", (32, 32), 32).frames  # a moving skater, 2 shuffle windows


@pytest.mark.parametrize("name", list(C.CORRUPTIONS))
def test_strength_zero_is_the_identity_and_shape_dtype_are_kept(clip, name):
    assert np.array_equal(C.corrupt(clip, name, 0), clip)
    for level in C.LEVELS[name]:
        out = C.corrupt(clip, name, level, np.random.default_rng(1))
        assert out.shape == clip.shape and out.dtype == np.uint8


@pytest.mark.parametrize("name", list(C.CORRUPTIONS))
def test_pixel_change_grows_with_strength(clip, name):
    change = [np.abs(C.corrupt(clip, name, level, np.random.default_rng(1)).astype(int) - clip).mean()
              for level in C.LEVELS[name]]
    assert change[0] == 0 and all(a < b for a, b in zip(change, change[1:])), change


def test_shuffle_keeps_each_window_s_frames_and_freeze_holds_frames(clip):
    out = C.shuffle(clip, 1.0, np.random.default_rng(0))
    for start in (0, 16):
        window, shuffled = clip[start:start + 16], out[start:start + 16]
        assert sorted(map(bytes, window)) == sorted(map(bytes, shuffled))
        assert not any(np.array_equal(a, b) for a, b in zip(window, shuffled))  # every frame moved
    held = C.freeze(clip, 2)
    assert np.array_equal(held[:3], clip[[0, 0, 0]]) and np.array_equal(held[3], clip[3])


def test_bad_inputs_are_refused(clip):
    with pytest.raises(ValueError, match="uint8 video"):
        C.blur(clip.astype(np.float32), 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        C.noise(clip, -1.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="whole number"):
        C.freeze(clip, 1.5)
    with pytest.raises(ValueError, match="unknown corruption"):
        C.corrupt(clip, "jpeg", 1.0)
