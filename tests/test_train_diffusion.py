"""MV-DiT training: the diffusion and staged strategies, freezing, exact resume, world-size
independence, the latent cache, motion dropout, LoRA, EMA, bad inputs.

Everything runs the tiny presets on 6 synthetic daily clips (16 px, 49 frames) cut into
17-frame windows (18 samples), from a pipeline weights folder with random weights built for
17 frames at 16 px, a few steps at a time.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from sportanim.io.video import write_video
from sportanim.models.dit import MVDiT
from sportanim.models.pipeline import build_pipeline, load_pipeline, save_pipeline
from sportanim.models.vae import build_vae, reference_latents
from sportanim.train import CheckpointError, ConfigError, latest_checkpoint, load_config, train
from sportanim.train.data import DataError
from sportanim.train.diffusion import DiffusionObjective, DiTSpec, merge_lora, posterior
from sportanim.train.specs import InitError
from sportanim.train.strategies import resolve

from launch import train_in_two_processes

REPO = Path(__file__).resolve().parents[1]
SMALL = {"strategy": "diffusion", "batch_size": 4, "log_every": 1, "data.frames": 17, "optim.warmup_steps": 2}
DIT_WEIGHTS = "transformer/diffusion_pytorch_model.safetensors"
VAE_WEIGHTS = "vae/diffusion_pytorch_model.safetensors"


def small(**changes):
    """The tiny preset at test size; ``changes`` as dotted keys (``optim__lr`` -> optim.lr)."""
    return load_config("tiny", {**SMALL, **{k.replace("__", "."): v for k, v in changes.items()}})


def tensors(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def changed(a: dict, b: dict) -> set[str]:
    assert sorted(a) == sorted(b)
    return {k for k in a if not torch.equal(a[k].to(b[k].dtype), b[k])}


def metrics(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def weights(tmp_path_factory, fsjd_dir) -> Path:
    """A tiny pipeline weights folder (random DiT, tokenizer and VAE) for 17 frames at 16 px."""
    stats = json.loads((fsjd_dir / "stats.json").read_text())
    pipe = build_pipeline("tiny", mean=np.array(stats["mean"]), std=np.array(stats["std"]), seed=5,
                          num_frames=17, height=16, width=16)
    return save_pipeline(pipe, tmp_path_factory.mktemp("w") / "weights", preset="tiny")


@pytest.fixture(scope="module")
def straight(tmp_path_factory, fsjd_dir, weights) -> Path:
    """6 uninterrupted steps (EMA on, random reference frames), checkpoints every 3."""
    out = tmp_path_factory.mktemp("straight") / "run"
    train(small(steps=6, checkpoint_every=3, diffusion__ema_decay=0.9, diffusion__reference_frame="random"),
          fsjd_dir, out, init=weights, show_progress=False)
    return out


# --------------------------------------------------------------------------- strategies


def test_diffusion_changes_only_the_dit_and_exports_a_pipeline(tmp_path, fsjd_dir, weights):
    result = train(small(steps=3, checkpoint_every=3), fsjd_dir, tmp_path / "run", init=weights, show_progress=False)
    export = result.exports["dit"]
    assert export == tmp_path / "run/final/pipeline"
    for part in ("tokenizer/model.safetensors", VAE_WEIGHTS):  # frozen: bit for bit as given
        assert changed(tensors(weights / part), tensors(export / part)) == set(), part
    before, after = tensors(weights / DIT_WEIGHTS), tensors(export / DIT_WEIGHTS)
    untouched = set(before) - changed(before, after)
    assert untouched == {"patch_embed.text_proj.weight", "patch_embed.text_proj.bias"}  # unused, frozen
    assert (json.loads((export / "stats.json").read_text())["mean"]
            == json.loads((weights / "stats.json").read_text())["mean"])
    pipe = load_pipeline(export)  # what `sportanim generate --weights` reads
    assert pipe.default_size() == (16, 16) and pipe.default_num_frames == 17
    assert json.loads((export / "training.json").read_text())["strategy"] == "diffusion"


def test_staged_trains_the_tokenizer_then_the_dit_on_its_frozen_tokens(tmp_path, fsjd_dir, weights):
    cfg = small(strategy="staged", steps=2, checkpoint_every=2)
    result = train(cfg, fsjd_dir, tmp_path / "run", init=weights, show_progress=False)
    stage1, stage2 = tmp_path / "run/stage1-tokenizer", tmp_path / "run/stage2-diffusion"
    assert latest_checkpoint(stage1 / "checkpoints").name == latest_checkpoint(stage2 / "checkpoints").name == "step-000002"
    tok0 = tensors(weights / "tokenizer/model.safetensors")
    tok1 = tensors(stage1 / "final/tokenizer/model.safetensors")
    tok2 = tensors(result.exports["dit"] / "tokenizer/model.safetensors")
    assert changed(tok0, tok1) == set(tok0)  # stage 1 trains every tokenizer tensor
    assert changed(tok1, tok2) == set()  # stage 2 keeps stage 1's tokenizer frozen
    dit0, dit2 = tensors(weights / DIT_WEIGHTS), tensors(result.exports["dit"] / DIT_WEIGHTS)
    assert len(changed(dit0, dit2)) == len(dit0) - 2  # all but the unused text projection
    assert changed(tensors(weights / VAE_WEIGHTS), tensors(result.exports["dit"] / VAE_WEIGHTS)) == set()
    assert [s.name for s in resolve("staged")] == ["tokenizer", "diffusion"]
    assert result.exports == {"tokenizer": stage1 / "final/tokenizer", "dit": stage2 / "final/pipeline"}


def test_lora_trains_only_the_adapters_and_exports_them_merged(tmp_path, fsjd_dir, weights):
    result = train(small(steps=2, checkpoint_every=2, diffusion__lora_rank=4), fsjd_dir, tmp_path / "run",
                   init=weights, show_progress=False)
    before, after = tensors(weights / DIT_WEIGHTS), tensors(result.exports["dit"] / DIT_WEIGHTS)
    moved = changed(before, after)
    assert moved and all(".attn0." in k or ".attn1." in k or ".ff.net." in k for k in moved), moved
    assert all(k.endswith("weight") for k in moved)  # LoRA moves weights, never biases
    ckpt = tensors(tmp_path / "run/checkpoints/step-000002/model.safetensors")
    assert any("lora_A" in k for k in ckpt)


def test_merged_lora_equals_the_adapter_model():
    torch.manual_seed(0)
    cfg = load_config("tiny", {"strategy": "diffusion", "data.frames": 17, "diffusion.lora_rank": 2,
                               "diffusion.lora_alpha": 3.0})
    spec = DiTSpec()
    model = spec.build(cfg, None)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_()  # B starts at zero; make the adapters matter
    x, ref = torch.randn(2, 5, 4, 2, 2), torch.randn(2, 5, 4, 2, 2)
    motion = torch.randn(2, 120, 64)
    want = model(x, torch.tensor([3, 700]), motion_tokens=motion, reference_latents=ref).sample
    plain = MVDiT(**spec.dit_config)
    plain.load_state_dict(merge_lora(model.state_dict(), 1.5), strict=True)
    got = plain(x, torch.tensor([3, 700]), motion_tokens=motion, reference_latents=ref).sample
    assert torch.allclose(got, want, atol=1e-5)


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    model = MVDiT.from_preset("tiny", num_motion_tokens=120)
    x, ref, motion = torch.randn(2, 5, 4, 2, 2), torch.randn(2, 5, 4, 2, 2), torch.randn(2, 120, 64)

    def grads():
        model.zero_grad()
        model(x, torch.tensor([10, 900]), motion_tokens=motion, reference_latents=ref).sample.square().mean().backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain = grads()
    model.enable_gradient_checkpointing()
    checkpointed = grads()
    assert sorted(plain) == sorted(checkpointed)
    assert all(torch.allclose(plain[k], checkpointed[k], atol=1e-6) for k in plain)


# --------------------------------------------------------------------------- objective pieces


def test_motion_dropout_uses_the_unconditional_tokens():
    torch.manual_seed(0)
    dit = MVDiT.from_preset("tiny", num_motion_tokens=120)
    from sportanim.models.pipeline import make_scheduler

    batch = {"latent_mean": torch.randn(3, 5, 4, 2, 2), "latent_std": torch.rand(3, 5, 4, 2, 2),
             "ref_mean": torch.randn(3, 5, 4, 2, 2), "ref_std": torch.rand(3, 5, 4, 2, 2),
             "motion": torch.randn(3, 120, 64), "positions": torch.arange(3)}
    always = DiffusionObjective(dit, make_scheduler("ddim"), motion_drop=1.0, scaling_factor=0.7)
    never = DiffusionObjective(dit, make_scheduler("ddim"), motion_drop=0.0, scaling_factor=0.7)
    dropped = always(batch, seed=9)
    dropped["loss"].backward()
    assert float(dropped["logs"]["motion_dropped"]) == 1.0
    assert dit.unconditional_motion_token.grad.abs().sum() > 0
    other = dict(batch, motion=torch.randn(3, 120, 64))  # the real tokens do not matter once dropped
    assert torch.equal(always(other, seed=9)["loss"], dropped["loss"])
    dit.zero_grad(set_to_none=True)
    kept = never(batch, seed=9)
    kept["loss"].backward()
    assert dit.unconditional_motion_token.grad is None or not dit.unconditional_motion_token.grad.any()
    assert not torch.equal(never(other, seed=9)["loss"], kept["loss"])
    draws = always.draws(9, torch.tensor([1, 2]), (5, 4, 2, 2), torch.float32)
    whole = always.draws(9, torch.arange(3), (5, 4, 2, 2), torch.float32)
    assert torch.equal(draws["noise"], whole["noise"][1:])  # per sample: the same for any split


def test_cached_posterior_follows_the_reference_latents_convention():
    torch.manual_seed(0)
    vae = build_vae("tiny").eval()
    image = torch.randint(0, 256, (16, 16, 3), dtype=torch.uint8)
    post = posterior(vae, np.repeat(image.numpy()[None], 9, axis=0))  # (F, C, h, w)
    g = torch.Generator().manual_seed(4)
    want = reference_latents(vae, image.permute(2, 0, 1)[None].float() / 127.5 - 1.0, 9, generator=g)[0]
    eps = torch.randn((1, *post["mean"].permute(1, 0, 2, 3).shape), generator=torch.Generator().manual_seed(4))
    got = post["mean"] + post["std"] * eps[0].permute(1, 0, 2, 3)
    assert torch.allclose(got, want, atol=1e-5)


# --------------------------------------------------------------------------- the must-shows


def test_interrupted_and_resumed_run_equals_the_straight_run(tmp_path, fsjd_dir, weights, straight):
    class Killed(Exception):
        pass

    def kill_at_5(step, logs):
        if step == 5:
            raise Killed

    cfg = small(steps=6, checkpoint_every=3, diffusion__ema_decay=0.9, diffusion__reference_frame="random")
    with pytest.raises(Killed):
        train(cfg, fsjd_dir, tmp_path / "run", init=weights, show_progress=False, callbacks=[kill_at_5])
    assert latest_checkpoint(tmp_path / "run/checkpoints").name == "step-000003"
    shutil.rmtree(tmp_path / "run/cache")  # a resume recomputes what it needs: the same numbers
    elsewhere = small(steps=6, checkpoint_every=3, diffusion__ema_decay=0.9, diffusion__reference_frame="random",
                      diffusion__cache_dir=str(tmp_path / "cache"))  # the cache may move on resume
    train(elsewhere, fsjd_dir, tmp_path / "run", init=weights, resume=True, show_progress=False)
    assert any((tmp_path / "cache").iterdir())
    for name in ("model.safetensors", "extra_state.safetensors"):  # weights and their EMA
        a = tensors(tmp_path / "run/checkpoints/step-000006" / name)
        b = tensors(straight / "checkpoints/step-000006" / name)
        assert changed(a, b) == set(), name
    assert changed(tensors(tmp_path / "run/final/pipeline" / DIT_WEIGHTS),
                   tensors(straight / "final/pipeline" / DIT_WEIGHTS)) == set()
    assert [m["loss"] for m in metrics(tmp_path / "run")] == [m["loss"] for m in metrics(straight)]


def test_export_holds_the_ema_weights(straight):
    extra = tensors(straight / "checkpoints/step-000006/extra_state.safetensors")
    exported = tensors(straight / "final/pipeline" / DIT_WEIGHTS)
    raw = tensors(straight / "checkpoints/step-000006/model.safetensors")
    key = "transformer_blocks.0.attn1.to_q.weight"
    assert torch.equal(exported[key], extra[f"dit.ema.{key}"])
    assert not torch.equal(exported[key], raw[f"dit.{key}"])


@pytest.mark.slow
def test_two_cpu_processes_match_one_process(tmp_path, fsjd_dir, weights):
    """accelerate launch, 2 processes (gloo), batch 2 each == 1 process, batch 4 (float64)."""
    settings = {**{k: v for k, v in SMALL.items() if "." not in k}, "steps": 3, "checkpoint_every": 3,
                "dtype": "float64", "data": {"frames": 17}, "optim": {"warmup_steps": 2},
                "diffusion": {"reference_frame": "random", "ema_decay": 0.5}}
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps({"preset": "tiny", **settings}))
    one = train(load_config(cfg_file), fsjd_dir, tmp_path / "one", init=weights, show_progress=False)
    proc = train_in_two_processes(cfg_file, fsjd_dir, tmp_path / "two", weights)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    state = json.loads((tmp_path / "two/checkpoints/step-000003/trainer_state.json").read_text())
    assert state["world_size"] == 2
    a, b = tensors(one.exports["dit"] / DIT_WEIGHTS), tensors(tmp_path / "two/final/pipeline" / DIT_WEIGHTS)
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst <= 1e-5, worst
    assert [m["loss"] for m in metrics(tmp_path / "two")] == pytest.approx(
        [m["loss"] for m in metrics(tmp_path / "one")], abs=1e-9)


@pytest.mark.slow  # a subprocess: ~8 s
def test_latent_cache_is_hit_after_the_first_epoch_and_missed_for_new_vae_weights(tmp_path, fsjd_dir, weights):
    cache = tmp_path / "cache"
    cfg = small(steps=7, checkpoint_every=7, diffusion__cache_dir=str(cache))  # 18 windows: epoch 2 from step 5
    train(cfg, fsjd_dir, tmp_path / "a", init=weights, show_progress=False)
    hits = [m["cache_hits"] for m in metrics(tmp_path / "a")]
    assert hits[:4] == [0.0] * 4 and hits[5:] == [1.0, 1.0], hits
    other = tmp_path / "other"
    shutil.copytree(weights, other)
    vae = tensors(other / VAE_WEIGHTS)
    vae["encoder.conv_in.conv.weight"] = vae["encoder.conv_in.conv.weight"] * 1.01
    save_file(vae, str(other / VAE_WEIGHTS))
    train(small(steps=1, checkpoint_every=1, diffusion__cache_dir=str(cache)), fsjd_dir, tmp_path / "b", init=other,
          show_progress=False)
    # new VAE: its latents and references miss; the unchanged tokenizer's motion tokens hit
    assert metrics(tmp_path / "b")[0]["cache_hits"] == pytest.approx(1 / 3)
    assert len(list(cache.glob("latents-*"))) == 2 and len(list(cache.glob("motion-*"))) == 1
    # a new process (another PYTHONHASHSEED) keys the same weights alike, so it hits too
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "123", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "sportanim.train", "--config", "tiny", "--data", str(fsjd_dir), "--out",
           str(tmp_path / "c"), "--init", str(weights), "--quiet", "--steps", "1",
           *[f"--set={k}={v}" for k, v in SMALL.items()], f"--set=diffusion.cache_dir={cache}"]
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    assert metrics(tmp_path / "c")[0]["cache_hits"] == 1.0


def test_random_reference_frames_can_be_limited_to_a_few_evenly_spaced_ones(tmp_path, fsjd_dir, weights):
    cache = tmp_path / "cache"
    cfg = small(steps=6, checkpoint_every=6, diffusion__cache_dir=str(cache), diffusion__reference_frame="random",
                diffusion__reference_choices=3)
    train(cfg, fsjd_dir, tmp_path / "run", init=weights, show_progress=False)
    frames = {int(re.search(r"-f(\d+)\.safetensors$", p.name).group(1)) for p in cache.glob("reference-*/*")}
    assert frames == {0, 8, 16}  # 24 draws over 17-frame windows: each of the three came up
    with pytest.raises(ConfigError, match="diffusion.reference_choices"):
        small(diffusion__reference_choices=18)


# --------------------------------------------------------------------------- bad inputs


def test_bad_inputs_give_clear_errors(tmp_path, fsjd_dir, weights):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty/manifest.jsonl").write_text("")
    with pytest.raises(DataError, match="no clips to train on"):
        train(small(steps=1), tmp_path / "empty", tmp_path / "r1", init=weights, show_progress=False)
    data = tmp_path / "fsjd"
    shutil.copytree(fsjd_dir, data)
    first = json.loads((data / "manifest.jsonl").read_text().splitlines()[0])
    np.savez(data / first["joints"], joints=np.zeros((49, 17, 3), np.float32), intrinsics=np.eye(3, dtype=np.float32))
    with pytest.raises(DataError, match=f"clip {first['id']}.*17 joints per frame, expected 24"):
        train(small(steps=1), data, tmp_path / "r2", init=weights, show_progress=False)
    np.savez(data / first["joints"], **dict(np.load(fsjd_dir / first["joints"])))
    write_video(data / first["video"], np.zeros((30, 16, 16, 3), np.uint8), fps=30)
    with pytest.raises(DataError, match=f"clip {first['id']}.*video has 30 frames but the joints 49"):
        train(small(steps=1), data, tmp_path / "r2", init=weights, show_progress=False)
    with pytest.raises(InitError, match="needs their weights"):
        train(small(steps=1), fsjd_dir, tmp_path / "r3", show_progress=False)
    # weights for 49-frame clips (312 motion tokens) do not fit 17-frame training (120)
    with pytest.raises(InitError, match=r"'unconditional_motion_token'.*expected \(120, 64\), got \(312, 64\)"):
        train(small(steps=1), fsjd_dir, tmp_path / "r4", init=_weights_49(tmp_path), show_progress=False)
    assert not any((tmp_path / f"r{i}").exists() for i in range(1, 5))  # nothing written before the checks


def _weights_49(tmp_path: Path) -> Path:
    return save_pipeline(build_pipeline("tiny", num_frames=49, height=16, width=16), tmp_path / "w49")


def test_full_disk_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, fsjd_dir, weights, monkeypatch):
    real_save = torch.save

    def full_disk(obj, f, *args, **kwargs):
        if "step-000002" in str(f):
            Path(f).write_bytes(b"half a file")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match=r"No space left on device.*step-000001 is intact"):
        train(small(steps=2, checkpoint_every=1), fsjd_dir, tmp_path / "run", init=weights, show_progress=False)
    assert sorted(p.name for p in (tmp_path / "run/checkpoints").iterdir()) == ["step-000001"]


def test_athlete_references_train_and_are_cached_per_picture(tmp_path, fsjd_dir, weights):
    from sportanim.synth.dataset import SynthConfig, synthesize

    data = tmp_path / "refs"
    synthesize(SynthConfig(out=data, domain="daily", clips=6, size=16, frames=49, seed=3, eval_fraction=0.0,
                           references=2, workers=1), show_progress=False)
    shutil.copy(fsjd_dir / "stats.json", data / "stats.json")  # the weights' statistics
    cache = tmp_path / "cache"
    cfg = small(steps=6, checkpoint_every=6, diffusion__cache_dir=str(cache), diffusion__reference_frame="athlete")
    train(cfg, data, tmp_path / "run", init=weights, show_progress=False)
    names = {p.name for p in cache.glob("reference-*/*")}
    assert names and all("-athlete" in n for n in names)
    assert {re.search(r"-athlete(\d)-", n).group(1) for n in names} == {"0", "1"}  # 24 draws: both pictures
    # Data without the pictures: one clear error before any step.
    with pytest.raises(DataError, match="--references"):
        train(cfg, fsjd_dir, tmp_path / "run2", init=weights, show_progress=False)
