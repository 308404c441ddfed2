"""First-block caching: off is exact; on, it skips the later blocks of steps that barely change."""

import numpy as np
import pytest
import torch

from sportanim.generation import Generator, Sampling
from sportanim.models.dit import MVDiT
from sportanim.models.pipeline import build_pipeline
from sportanim.models.step_cache import FirstBlockCache


def _inputs(model: MVDiT, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    latents = torch.randn(1, 13, 4, 8, 8, generator=g)
    reference = torch.randn(1, 13, 4, 8, 8, generator=g)
    motion = torch.randn(1, model.config.num_motion_tokens, model.motion_dim, generator=g)
    return latents, reference, motion


@torch.no_grad()
def test_a_cache_that_never_hits_equals_the_plain_forward_and_a_hit_reuses_the_residual():
    torch.manual_seed(0)
    model = MVDiT.from_preset("tiny").eval()
    latents, reference, motion = _inputs(model)
    plain = model(latents, 500, motion_tokens=motion, reference_latents=reference).sample
    cache = FirstBlockCache(threshold=1e-6)
    first = model(latents, 500, motion_tokens=motion, reference_latents=reference, step_cache=cache).sample
    torch.testing.assert_close(first, plain)
    later = model(latents * 0.9, 400, motion_tokens=motion, reference_latents=reference, step_cache=cache).sample
    assert (cache.steps, cache.skipped) == (2, 0)  # the first block's residual changed: all blocks ran
    torch.testing.assert_close(later, model(latents * 0.9, 400, motion_tokens=motion, reference_latents=reference).sample)
    cache = FirstBlockCache(threshold=0.5)
    model(latents, 500, motion_tokens=motion, reference_latents=reference, step_cache=cache)
    reused = model(latents, 500, motion_tokens=motion, reference_latents=reference, step_cache=cache).sample
    assert cache.skipped == 1
    torch.testing.assert_close(reused, plain, rtol=1e-4, atol=1e-5)  # same input: the cached residual is exact


def test_thresholds_are_checked():
    with pytest.raises(ValueError, match="step-cache"):
        Sampling(step_cache=-0.1)
    with pytest.raises(ValueError, match="step-cache"):
        Sampling(step_cache=float("nan"))
    with pytest.raises(ValueError, match=">= 0"):
        FirstBlockCache(threshold=-1.0)


def test_generation_with_the_cache_off_is_unchanged_and_on_skips_steps():
    pipe = build_pipeline("tiny", seed=0)
    pipe.set_progress_bar_config(disable=True)
    joints = (np.random.default_rng(0).normal(0, 200, (49, 24, 3)) + [0, 0, 3000]).astype(np.float32)
    generator = Generator(pipe, joints.mean(0), joints.std(0) + 1.0)
    image = np.full((64, 64, 3), 128, np.uint8)
    plain = generator.generate(image, joints, Sampling(steps=6, seed=0))
    off = generator.generate(image, joints, Sampling(steps=6, seed=0, step_cache=0.0))
    np.testing.assert_array_equal(off.frames, plain.frames)
    assert off.skipped_steps == 0
    cached = generator.generate(image, joints, Sampling(steps=6, seed=0, step_cache=1.0))
    assert 0 < cached.skipped_steps < 6  # the first step always runs in full


def test_compile_flag_compiles_the_dit_only():
    from sportanim.generation import ModelSpec

    notes = []
    generator = Generator.load(ModelSpec(compile=True, device="cpu"), on_note=notes.append)
    assert generator.pipe.transformer._compiled_call_impl is not None
    assert generator.pipe.vae._compiled_call_impl is None
    assert any("compiled" in n for n in notes)
