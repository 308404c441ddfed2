"""Training: world-size-exact sampling and codebook, bit-exact resume, freezing, bad inputs.

Everything runs the tiny tokenizer on a synthetic FSJD folder (6 daily clips, 16 px,
49 frames) cut into 17-frame windows (18 samples), a few steps at a time.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from sportanim import fsjd
from sportanim.models.tokenizer import TOKENIZER_PRESETS, MotionTokenizer, TokenizerConfig
from sportanim.train import CheckpointError, ConfigError, latest_checkpoint, load_config, train
from sportanim.train.config import to_yaml
from sportanim.train.data import DataError, GlobalSampler, JointsDataset, JointStats, read_stats_file, step_seed
from sportanim.train.specs import InitError
from sportanim.train.strategies import resolve
from sportanim.train.trainer import RunFolderError, lr_factor

from launch import train_in_two_processes

REPO = Path(__file__).resolve().parents[1]
SMALL = {"batch_size": 4, "log_every": 1, "data.frames": 17, "optim.warmup_steps": 2}


def small(**changes) -> object:
    """The tiny preset at test size; ``changes`` as dotted keys (``optim__lr`` -> optim.lr)."""
    return load_config("tiny", {**SMALL, **{k.replace("__", "."): v for k, v in changes.items()}})


def tensors(folder: Path, name: str = "model.safetensors") -> dict[str, torch.Tensor]:
    return load_file(str(folder / name))


def assert_bit_equal(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def init_dir(tmp_path_factory, fsjd_dir) -> Path:
    """A tiny tokenizer with a seeded codebook, saved the save_pretrained way."""
    torch.manual_seed(11)
    tok = MotionTokenizer(TOKENIZER_PRESETS["tiny"]).train()
    with torch.no_grad():
        tok(torch.randn(4, 17, 24, 3))  # seeds the codebook from a batch
    folder = tmp_path_factory.mktemp("init") / "tokenizer"
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, fsjd_dir, init_dir) -> Path:
    """6 uninterrupted steps from ``init_dir``, checkpoints every 3."""
    out = tmp_path_factory.mktemp("straight") / "run"
    train(small(steps=6, checkpoint_every=3), fsjd_dir, out, init=init_dir, show_progress=False)
    return out


# --------------------------------------------------------------------------- sampler and schedule


def test_sampler_gives_the_same_global_batch_for_any_world_size():
    one, two = GlobalSampler(7, 4, seed=5), GlobalSampler(7, 4, seed=5)
    for g in range(6):  # spans several epochs of 7 samples
        whole = one.indices(one.positions(g, 0, 1))
        halves = torch.cat([two.indices(two.positions(g, r, 2)) for r in range(2)])
        assert torch.equal(whole, halves)
    seen = torch.cat([one.indices(one.positions(g)) for g in range(7)])  # 28 = 4 epochs of 7
    assert all(sorted(seen[e * 7:(e + 1) * 7].tolist()) == list(range(7)) for e in range(4))
    assert step_seed(0, 3) == step_seed(0, 3) != step_seed(0, 4)


def test_lr_schedule_warms_up_then_follows_the_schedule():
    cfg = load_config("mtvcrafter-7b")
    o = cfg.optim
    assert (o.lr, o.betas, o.weight_decay, cfg.batch_size, cfg.tokenizer.commit_weight) == (2e-4, (0.9, 0.99), 1e-4, 32, 0.5)
    assert lr_factor(o, cfg.steps, 0) == pytest.approx(1 / 5000)
    assert lr_factor(o, cfg.steps, 4999) == pytest.approx(1.0)
    assert lr_factor(o, cfg.steps, 299_999) == 1.0 and lr_factor(o, cfg.steps, 300_000) == pytest.approx(0.05)
    tiny = load_config("tiny").optim
    assert lr_factor(tiny, 200, 10) == pytest.approx(1.0) and lr_factor(tiny, 200, 199) < 0.01


# --------------------------------------------------------------------------- the must-shows


def test_two_cpu_processes_match_one_process(tmp_path, fsjd_dir, init_dir):
    """accelerate launch, 2 processes (gloo), batch 2 each == 1 process, batch 4.

    In float64: the sampler, the gradient average and the all-gathered EMA codebook update
    are then the only things that could differ, and they do not (about 1e-15). In float32
    the two runs agree to rounding after one step, but rounding then grows: Adam turns the
    sign of near-zero gradients into +-lr steps and the codebook's argmin flips on near ties.
    """
    settings = {"steps": 4, "batch_size": 4, "checkpoint_every": 4, "log_every": 1, "dtype": "float64",
                "data": {"frames": 17}, "optim": {"warmup_steps": 2}}
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps({"preset": "tiny", **settings}))
    one = train(load_config(cfg_file), fsjd_dir, tmp_path / "one", init=init_dir, show_progress=False)
    proc = train_in_two_processes(cfg_file, fsjd_dir, tmp_path / "two", init_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    state = json.loads((tmp_path / "two/checkpoints/step-000004/trainer_state.json").read_text())
    assert state["world_size"] == 2
    a, b = tensors(one.exports["tokenizer"]), tensors(tmp_path / "two/final/tokenizer")
    assert sorted(a) == sorted(b) and "vq.codebook" in a
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst <= 1e-5, worst
    assert not torch.equal(a["vq.codebook"], tensors(init_dir)["vq.codebook"].double())
    losses = lambda run: [json.loads(x)["loss"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert losses(tmp_path / "two") == pytest.approx(losses(tmp_path / "one"), abs=1e-9)


def test_interrupted_and_resumed_run_equals_the_straight_run(tmp_path, fsjd_dir, init_dir, straight_run):
    class Killed(Exception):
        pass

    def kill_at_5(step, logs):
        if step == 5:  # after the checkpoint at 3 and one more step that is lost
            raise Killed

    out = tmp_path / "run"
    cfg = small(steps=6, checkpoint_every=3)
    with pytest.raises(Killed):
        train(cfg, fsjd_dir, out, init=init_dir, show_progress=False, callbacks=[kill_at_5])
    assert latest_checkpoint(out / "checkpoints").name == "step-000003"
    train(cfg, fsjd_dir, out, init=init_dir, resume=True, show_progress=False)
    assert_bit_equal(tensors(out / "final/tokenizer"), tensors(straight_run / "final/tokenizer"))
    mine, theirs = out / "checkpoints/step-000006", straight_run / "checkpoints/step-000006"
    assert_bit_equal(tensors(mine, "extra_state.safetensors"), tensors(theirs, "extra_state.safetensors"))
    opt_a = torch.load(mine / "optimizer.bin", weights_only=True)["state"]
    opt_b = torch.load(theirs / "optimizer.bin", weights_only=True)["state"]
    for i in opt_a:
        assert_bit_equal(opt_a[i], opt_b[i])
    lines = lambda run: [json.loads(x)["loss"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert lines(out) == lines(straight_run)  # steps 4-5 of the killed attempt were dropped


def test_a_real_kill_mid_run_resumes_exactly(tmp_path, fsjd_dir, init_dir, straight_run):
    """SIGKILL a separate process wherever it is (maybe inside a checkpoint write)."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "sportanim.train", "--config", "tiny", "--data", str(fsjd_dir), "--out", str(out),
           "--init", str(init_dir), "--quiet", "--steps", "6", "--checkpoint-every", "1",
           *[f"--set={k}={v}" for k, v in SMALL.items()]]
    # bit-exact only at the same thread count: the CLI would otherwise pick the cores idle now
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while latest_checkpoint(out / "checkpoints") is None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cfg = small(steps=6, checkpoint_every=1)  # checkpoint_every may change on resume
    train(cfg, fsjd_dir, out, init=init_dir, resume=True, show_progress=False)
    assert_bit_equal(tensors(out / "final/tokenizer"), tensors(straight_run / "final/tokenizer"))
    assert not list((out / "checkpoints").glob(".*tmp"))


def test_tokenizer_strategy_trains_every_parameter_and_the_codebook(straight_run, init_dir):
    before, after = tensors(init_dir), tensors(straight_run / "final/tokenizer")
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert unchanged == [], f"not trained: {unchanged}"
    rows = (before["vq.codebook"] != after["vq.codebook"]).any(dim=1)
    assert 0 < int(rows.sum()) <= rows.numel()
    reloaded = MotionTokenizer.from_pretrained(straight_run / "final/tokenizer")
    assert reloaded.config == TOKENIZER_PRESETS["tiny"]
    stats = json.loads((straight_run / "final/tokenizer/stats.json").read_text())
    assert np.asarray(stats["mean"]).shape == (24, 3)
    assert resolve("tokenizer")[0].freeze == ()


def test_loss_decreases(tmp_path, fsjd_dir):
    result = train(small(steps=30, checkpoint_every=30), fsjd_dir, tmp_path / "run", show_progress=False)
    losses = [json.loads(x)["loss"] for x in (result.run / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 30
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses
    assert (result.run / "logs").is_dir() and any((result.run / "logs").iterdir())  # TensorBoard events


def test_accumulation_and_init_stats(tmp_path, fsjd_dir, straight_run):
    """grad_accum=2 runs; an export as --init brings its normalisation along."""
    export = straight_run / "final/tokenizer"
    result = train(small(steps=2, grad_accum=2, checkpoint_every=2), fsjd_dir, tmp_path / "run", init=export,
                   show_progress=False)
    state = json.loads((result.run / "checkpoints/step-000002/trainer_state.json").read_text())
    assert (state["micro_steps"], state["samples_seen"]) == (4, 8)
    assert json.loads((result.run / "stats.json").read_text())["source"] == str(export / "stats.json")
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    np.save(upstream / "mean.npy", np.zeros((24, 3)))
    np.save(upstream / "std.npy", np.full((24, 3), 100.0))
    stats = read_stats_file(upstream)
    assert stats.std.shape == (24, 3) and stats.std[0, 0] == 100.0


# --------------------------------------------------------------------------- bad inputs


def test_empty_dataset_is_refused(tmp_path):
    (tmp_path / "manifest.jsonl").write_text("")
    with pytest.raises(DataError, match="no clips to train on"):
        train(small(steps=1), tmp_path, tmp_path / "run", show_progress=False)
    with pytest.raises(DataError, match="not a folder"):
        train(small(steps=1), tmp_path / "missing", tmp_path / "run2", show_progress=False)


def test_wrong_joint_count_names_the_clip(tmp_path, fsjd_dir):
    data = tmp_path / "fsjd"
    shutil.copytree(fsjd_dir, data)
    first = json.loads((data / "manifest.jsonl").read_text().splitlines()[0])
    np.savez(data / first["joints"], joints=np.zeros((49, 17, 3), np.float32), intrinsics=np.eye(3, dtype=np.float32))
    with pytest.raises(DataError, match=f"clip {first['id']}.*17 joints per frame, expected 24"):
        train(small(steps=1), data, tmp_path / "run", show_progress=False)


def _flag(data: Path, ids: set[str]) -> None:
    """Mark clips ``ids`` as failed by the builder's quality gates, as ``sportanim data build`` does."""
    records = fsjd.read_manifest(data)
    for record in records:
        if record.id in ids:
            record.quality = {"passed": False, "reasons": ["jitter 140 mm/frame^2 > 100"]}
    fsjd.write_manifest(data, records)


def test_clips_that_failed_the_quality_gates_are_left_out_unless_asked(tmp_path, fsjd_dir, capsys):
    data = tmp_path / "fsjd"
    shutil.copytree(fsjd_dir, data)
    ids = [record.id for record in fsjd.read_manifest(data)]
    _flag(data, set(ids[:2]))
    stats = JointStats(np.zeros((24, 3)), np.ones((24, 3)), "test")
    kept = JointsDataset(data, 49, stats)
    assert kept.flagged == ids[:2] and {name.split("@")[0] for name in kept.names} == set(ids[2:])
    every = JointsDataset(data, 49, stats, quality="all")
    assert every.flagged == [] and {name.split("@")[0] for name in every.names} == set(ids)
    train(small(steps=1), data, tmp_path / "run", show_progress=False)
    assert f"left out 2 clip(s) that failed the builder's quality gates (e.g. {ids[0]}, {ids[1]})" in capsys.readouterr().err
    _flag(data, set(ids))
    with pytest.raises(DataError, match=r"all 6 clips of split=train failed.*jitter 140.*data\.quality=all"):
        train(small(steps=1), data, tmp_path / "run2", show_progress=False)
    train(small(steps=1, data__quality="all"), data, tmp_path / "run3", show_progress=False)
    with pytest.raises(ConfigError, match="data.quality"):
        small(data__quality="good")


def test_init_of_another_config_names_the_tensor(tmp_path, fsjd_dir):
    other = MotionTokenizer(TokenizerConfig(widths=(16, 64), blocks_per_stage=2, code_dim=64, codebook_size=512,
                                            norm_groups=8, dilation_base=128))
    other.save_pretrained(tmp_path / "other")
    with pytest.raises(InitError, match=r"encoder\.conv_in\.weight.*expected \(32, 3, 3, 3\), got \(16, 3, 3, 3\)"):
        train(small(steps=1), fsjd_dir, tmp_path / "run", init=tmp_path / "other", show_progress=False)
    with pytest.raises(InitError, match="not found"):
        train(small(steps=1), fsjd_dir, tmp_path / "run2", init=tmp_path / "nothing", show_progress=False)
    assert not (tmp_path / "run").exists()  # nothing is written before the inputs are checked


def test_full_disk_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, fsjd_dir, monkeypatch):
    out = tmp_path / "run"
    real_save, calls = torch.save, []

    def full_disk(obj, f, *args, **kwargs):
        calls.append(str(f))
        if "step-000002" in str(f):
            Path(f).write_bytes(b"half a file")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match=r"No space left on device.*step-000001 is intact"):
        train(small(steps=3, checkpoint_every=1), fsjd_dir, out, show_progress=False)
    monkeypatch.setattr(torch, "save", real_save)
    ckpts = out / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["step-000001"]  # no half-written folder
    assert (ckpts / "step-000001/optimizer.bin").stat().st_size > 100
    result = train(small(steps=3, checkpoint_every=1), fsjd_dir, out, resume=True, show_progress=False)
    assert result.step == 3 and latest_checkpoint(ckpts).name == "step-000003"


def test_config_errors_name_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("preset: tiny\noptim: {lrr: 1.0}\n")
    with pytest.raises(ConfigError, match="optim.lrr is not a config field"):
        load_config(bad)
    bad.write_text("steps: many\n")
    with pytest.raises(ConfigError, match="steps must be an integer"):
        load_config(bad)
    with pytest.raises(ConfigError, match="batch_size must be a multiple of grad_accum=3"):
        load_config("tiny", {"grad_accum": 3})
    with pytest.raises(ConfigError, match="neither a preset"):
        load_config(tmp_path / "missing.yaml")
    for name in ("tiny", "mtvcrafter-7b"):
        (tmp_path / f"{name}.yaml").write_text(to_yaml(load_config(name)))
        assert load_config(tmp_path / f"{name}.yaml") == load_config(name)
    good = tmp_path / "good.yaml"
    good.write_text("preset: tiny\nsteps: 7\noptim: {lr: 3e-4}\n")
    cfg = load_config(good)
    assert (cfg.steps, cfg.optim.lr, cfg.tokenizer.preset) == (7, 3e-4, "tiny")


def test_a_used_run_folder_needs_resume(tmp_path, fsjd_dir, straight_run):
    with pytest.raises(RunFolderError, match="--resume"):
        train(small(steps=6, checkpoint_every=3), fsjd_dir, straight_run, show_progress=False)
    copy = tmp_path / "copy"
    shutil.copytree(straight_run, copy)
    with pytest.raises(RunFolderError, match=r"optim\.lr"):
        train(small(steps=6, checkpoint_every=3, optim__lr=0.5), fsjd_dir, copy, resume=True, show_progress=False)


def test_cli_reports_user_errors_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from sportanim.cli import app

    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "not a folder" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["train", "--strategy", "staged", "--init", "scratch", "--data", str(tmp_path),
                                      "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "needs their weights: pass --init PIPELINE_FOLDER" in result.output


@pytest.mark.slow
def test_cli_train_tiny_starts_from_the_shipped_base_without_init(tmp_path, fsjd_dir):
    from typer.testing import CliRunner

    from sportanim.cli import app
    from sportanim.train.config import load_config
    from sportanim.train.trainer import shipped_init
    from sportanim.weights import default_weights

    assert shipped_init(load_config("mtvcrafter-7b", {})) is None  # the 7B world names its weights
    result = CliRunner().invoke(app, ["train", "--config", "tiny", "--strategy", "diffusion", "--data", str(fsjd_dir),
                                      "--out", str(tmp_path / "run"), "--steps", "1", "--batch-size", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "shipped tiny base" in result.output
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())["init"]
    assert recorded and all(Path(p).resolve().is_relative_to(default_weights().resolve()) for p in recorded.values())


@pytest.mark.parametrize("clip", [1.0, 0.0])  # the preset's clipping, and none
def test_a_non_finite_loss_stops_the_run_and_exports_nothing(tmp_path, fsjd_dir, clip):
    from sportanim.train.trainer import NonFiniteError

    with pytest.raises(NonFiniteError, match=r"step \d+: the (loss|gradient norm) is (nan|inf)") as error:
        train(small(steps=8, checkpoint_every=100, optim__lr=1e12, optim__max_grad_norm=clip), fsjd_dir,
              tmp_path / "run", show_progress=False)
    assert "--lr" in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "run" / "final").exists()
    assert not list((tmp_path / "run" / "checkpoints").glob("step-*"))


@pytest.mark.parametrize("broken", ["optimizer.bin", "optimizer.bin:junk", "model.safetensors"])
def test_resume_from_a_refused_or_corrupt_checkpoint_file_is_one_clear_error(tmp_path, fsjd_dir, init_dir,
                                                                              straight_run, broken, recwarn):
    import pickle

    from sportanim.train.checkpoint import CheckpointError

    run = tmp_path / "run"
    shutil.copytree(straight_run, run)
    latest = latest_checkpoint(run / "checkpoints")
    target = latest / broken.split(":")[0]
    if broken == "optimizer.bin":  # a pickle torch's weights_only loader refuses (it would run a command)
        target.write_bytes(pickle.dumps(os.system))
    elif broken.endswith(":junk"):  # overwritten by a few bytes: torch's legacy reader fails in struct
        target.write_bytes(b"junk")
    else:
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cannot resume from .*step-000006") as error:
        train(small(steps=6, checkpoint_every=3), fsjd_dir, run, init=init_dir, resume=True, show_progress=False)
    assert "\n" not in str(error.value) and "weights_only" not in str(error.value)
    assert not [w for w in recwarn if "pickle" in str(w.message)]  # no torch warning around the one line


def test_a_dataset_with_implausible_stats_is_refused_before_training(tmp_path, fsjd_dir):
    data = tmp_path / "data"
    shutil.copytree(fsjd_dir, data)
    stats = json.loads((data / "stats.json").read_text())
    stats["std"] = [[1e-30] * 3 for _ in range(24)]
    (data / "stats.json").write_text(json.dumps(stats))
    with pytest.raises(ValueError, match=r"stats\.json: implausible joint statistics"):
        train(small(steps=2), data, tmp_path / "run", show_progress=False)
    assert not (tmp_path / "run" / "final").exists()
