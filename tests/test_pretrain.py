"""The tiny base: the VAE trainer, the pretraining record, and the shipped weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sportanim.synth.dataset import SynthConfig, synthesize
from sportanim.train import pretrain as pre
from sportanim.train.vae_training import VAETrainConfig, latent_std, load_videos, train_vae
from sportanim.weights import default_weights, has_default_weights


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    out = tmp_path_factory.mktemp("daily") / "fsjd"
    synthesize(SynthConfig(out=out, domain="daily", clips=6, size=32, frames=17, seed=3, eval_fraction=0.34,
                           workers=1), show_progress=False)
    return out


@pytest.mark.slow
def test_vae_training_sets_the_latent_scale_and_repeats_by_seed(daily):
    config = VAETrainConfig(steps=3, batch_size=1, frames=9, lr=2e-3, warmup_steps=1, seed=0)
    result = train_vae(daily, config, show_progress=False)
    vae = result.vae
    assert np.isfinite(result.eval_psnr) and result.eval_psnr > 5
    # scaling_factor makes the training latents unit-variance, as the diffusion model expects
    assert vae.config.scaling_factor == pytest.approx(1 / result.latent_std)
    videos = load_videos(daily, "train")
    assert latent_std(vae, videos[:4]) == pytest.approx(result.latent_std, rel=1e-4)
    # the same seed trains the same weights
    again = train_vae(daily, config, show_progress=False).vae
    for a, b in zip(vae.parameters(), again.parameters()):
        assert torch.equal(a, b)


def test_vae_training_refuses_bad_windows(daily):
    with pytest.raises(ValueError, match="8k \\+ 1"):
        train_vae(daily, VAETrainConfig(steps=1, frames=8), show_progress=False)
    with pytest.raises(ValueError, match="fewer than"):
        train_vae(daily, VAETrainConfig(steps=1, frames=25), show_progress=False)


def test_tokenizer_mpjpe_of_a_random_tokenizer_is_large_but_finite(daily, tmp_path):
    from sportanim.models.tokenizer import TOKENIZER_PRESETS, MotionTokenizer

    torch.manual_seed(0)
    tok = MotionTokenizer(TOKENIZER_PRESETS["tiny"])
    tok.vq.codebook.normal_()
    tok.save_pretrained(tmp_path / "tok")
    joints = np.concatenate([np.load(p)["joints"] for p in sorted((daily / "clips").glob("*.npz"))])
    stats = {"mean": joints.mean(0).tolist(), "std": joints.std(0).tolist()}
    (tmp_path / "tok" / "stats.json").write_text(json.dumps(stats))
    # 17-frame clips: the tokenizer takes 8k + 1 frames
    err = pre.tokenizer_mpjpe(tmp_path / "tok", daily, "eval")
    assert np.isfinite(err) and err > 10


def test_pretrain_refuses_other_presets_and_a_changed_config(tmp_path):
    with pytest.raises(ValueError, match="tiny preset only"):
        pre.pretrain(tmp_path / "a", pre.PretrainConfig(preset="mtvcrafter-7b"), stages=())
    pre.pretrain(tmp_path / "b", pre.PretrainConfig(), stages=())
    assert json.loads((tmp_path / "b" / "pretrain.json").read_text())["config"]["clips"] == 480
    with pytest.raises(ValueError, match="another config"):
        pre.pretrain(tmp_path / "b", pre.PretrainConfig(seed=1), stages=())


@pytest.mark.slow
def test_pretrain_runs_every_stage_into_a_loadable_weights_folder(tmp_path):
    """Every stage wired end to end on a toy budget; a second call finds everything done."""
    from sportanim.models.pipeline import load_pipeline

    c = pre.PretrainConfig(clips=10, size=32, vae_steps=2, motion_clips=6, tokenizer_steps=2, tokenizer_batch=2,
                           dit_steps=2, dit_clips=4)
    weights = pre.pretrain(tmp_path / "run", c, show_progress=False)
    record = json.loads((weights / "pretrain.json").read_text())
    assert list(record["stages"]) == ["data", "motion", "vae", "tokenizer", "latents", "dit"]
    assert record["stages"]["motion"]["clips"] == 6 and record["stages"]["data"]["eval"] == 1
    assert np.isfinite(record["stages"]["tokenizer"]["eval_mpjpe_mm"])
    pipe = load_pipeline(weights)
    tokenizer_stats = json.loads((tmp_path / "run" / "data-motion" / "stats.json").read_text())
    np.testing.assert_allclose(pipe.config.joint_mean, tokenizer_stats["mean"], rtol=1e-6)  # the tokenizer's data
    before = (weights / "pretrain.json").read_text()
    pre.pretrain(tmp_path / "run", c, show_progress=False)  # nothing left to do
    assert json.loads((weights / "pretrain.json").read_text())["stages"] == json.loads(before)["stages"]


@pytest.mark.slow
@pytest.mark.skipif(not has_default_weights(), reason="tiny base weights not shipped yet")
def test_pretrain_from_a_base_carries_its_vae_and_tokenizer_and_trains_the_dit_on_athlete_references(tmp_path):
    from sportanim.models.pipeline import load_pipeline

    base = default_weights()
    c = pre.PretrainConfig(clips=10, size=32, dit_steps=2, dit_clips=4, base=str(base))
    weights = pre.pretrain(tmp_path / "run", c, show_progress=False)
    record = json.loads((weights / "pretrain.json").read_text())
    assert record["config"]["base"] == str(base) and record["stages"]["vae"]["carried_from"] == str(base)
    assert record["stages"]["tokenizer"]["base_stage"]["seconds"] > 0  # how the base made it, kept
    assert not (tmp_path / "run" / "data-motion").exists()  # no motion clips for a carried tokenizer
    for part in ("vae/diffusion_pytorch_model.safetensors", "tokenizer/model.safetensors", "stats.json"):
        assert (weights / part).read_bytes() == (base / part).read_bytes(), part
    assert record["stages"]["dit"]["config"]["diffusion"]["reference_frame"] == "athlete"
    assert list((tmp_path / "run" / "cache").glob("reference-*/*-athlete*"))
    load_pipeline(weights)


@pytest.mark.skipif(not has_default_weights(), reason="tiny base weights not shipped yet")
def test_shipped_tiny_base_loads_strictly_and_is_small():
    from sportanim.models.pipeline import load_pipeline

    folder = default_weights()
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert size <= 40 * 2**20
    record = json.loads((folder / "pretrain.json").read_text())
    assert record["command"].startswith("sportanim pretrain") and record["config"]["seed"] == 0
    assert {"vae", "tokenizer", "dit"} <= set(record["stages"])
    pipe = load_pipeline(folder)  # strict: every tensor name and shape must match the preset
    for part in (pipe.vae, pipe.tokenizer, pipe.transformer):
        assert all(torch.isfinite(p).all() for p in part.parameters())
    assert pipe.config.joint_mean is not None
