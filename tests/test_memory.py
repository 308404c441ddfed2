"""Memory planning: the counts follow the models' real shapes, and the plan of a small CPU
step lands within 20% of its measured peak."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from sportanim.train import memory
from sportanim.train.memory import (
    LiveTensorBytes,
    VALIDATION_CASES,
    VALIDATION_DIT,
    MemoryPlanError,
    dit_activations,
    dit_shape,
    measure_dit_step,
    measured_peak,
    plan_memory,
    planned_dit_step,
)

SMALL = VALIDATION_DIT  # small enough for the CPU; activations and weights both matter


def test_7b_counts_come_from_the_model():
    plan = plan_memory("mtvcrafter-7b", "diffusion")
    assert plan.params["trainable"] + plan.params["frozen"] == 7_157_411_904  # the release's count
    assert plan.params["video_tokens"] == 13 * 32 * 32  # 49x512x512 -> VAE 13x64x64 -> patches of 2
    weights = {i.name: i.bytes for i in plan.items}["weights (trainable)"]
    assert weights == plan.params["trainable"] * 2  # bf16


def test_block_accounting_equals_what_autograd_saves():
    """The per-block count of the module notes, against the tensors autograd really keeps."""
    torch.manual_seed(0)
    from sportanim.models.dit import MVDiT

    model = MVDiT.from_preset("tiny", **SMALL)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params:
            saved.setdefault(ptr, t.untyped_storage().nbytes())
        return t

    block = model.transformer_blocks[1]
    inner = block.forward

    def hooked(*args, **kwargs):
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            return inner(*args, **kwargs)

    block.forward = hooked
    x = torch.randn(1, 13, 8, 16, 16)
    model(x, 500, motion_tokens=torch.randn(1, 312, 64))
    shape = dit_shape("tiny", **SMALL)
    act = dit_activations(shape, batch=1, tokens=13 * 8 * 8, latent_values=0, e=4)
    shared = act.shared  # motion tokens and RoPE tables: also saved inside the block
    tiny_terms = 4 * 1 * 13 * 8 * 8  # gates, scales (B, D) and silu inputs are not counted
    assert act.block <= sum(saved.values()) <= act.block + shared + tiny_terms * 8


def test_tracer_matches_the_profiler():
    """LiveTensorBytes (used for the VAE and the 4DMoT) and the profiler agree on a real run."""
    net = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.GELU(), torch.nn.Linear(256, 64))
    x = torch.randn(512, 64)

    def step():
        net(x).square().mean().backward()

    with measured_peak() as measured:
        step()
    net.zero_grad(set_to_none=True)
    tracer = LiveTensorBytes()
    with tracer:
        step()
    assert measured["bytes"] > 512 * 256 * 4  # at least the hidden layer
    assert tracer.peak == measured["bytes"]


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(VALIDATION_CASES))
def test_plan_within_20_percent_of_measured(case):
    """Profiler-measured peak of a real CPU training step vs the plan (the docs' table)."""
    kwargs = dict(dit_overrides=SMALL, height=128, width=128, **VALIDATION_CASES[case])
    measured = measure_dit_step(**kwargs)
    planned = planned_dit_step(**kwargs).peak_bytes
    assert abs(planned / measured - 1) <= 0.20, (planned, measured)


def test_savings_go_the_right_way():
    base = plan_memory("mtvcrafter-7b", gradient_checkpointing=False).peak_bytes
    ckpt = plan_memory("mtvcrafter-7b", gradient_checkpointing=True).peak_bytes
    lora = plan_memory("mtvcrafter-7b", lora_rank=64).peak_bytes
    eight_bit = plan_memory("mtvcrafter-7b", optimizer="adamw8bit").peak_bytes
    assert ckpt < base and lora < ckpt and eight_bit < ckpt
    z = {stage: plan_memory("mtvcrafter-7b", gpus=8, zero=stage).peak_bytes for stage in (1, 2, 3)}
    assert z[3] < z[2] < z[1] < ckpt


def test_zero3_shards_weights_and_states_by_gpu_count():
    one = {i.name: i.bytes for i in plan_memory("mtvcrafter-7b", gpus=2, zero=1).items}
    eight = {i.name: i.bytes for i in plan_memory("mtvcrafter-7b", gpus=8, zero=3).items}
    assert eight["weights (trainable)"] == pytest.approx(one["weights (trainable)"] / 8, abs=1)
    assert eight["optimizer states (adamw)"] == pytest.approx(one["optimizer states (adamw)"] / 4, abs=1)


def test_generate_offload_and_guidance():
    on = plan_memory("tiny", mode="generate", dtype="float32")
    off = plan_memory("tiny", mode="generate", dtype="float32", cpu_offload=True)
    assert off.peak_bytes < on.peak_bytes
    shape = dit_shape("tiny")
    one = memory.dit_generate_work(shape, 1, 208, 13 * 64, 4)
    two = memory.dit_generate_work(shape, 2, 208, 13 * 64, 4)
    assert two - one > 0.8 * one  # everything but the shared RoPE tables doubles


@pytest.mark.parametrize("kwargs,words", [
    (dict(strategy="nope"), "strategy"),
    (dict(zero=3), "gpus"),
    (dict(strategy="tokenizer", lora_rank=8), "lora_rank"),
    (dict(height=500), "multiples"),
])
def test_bad_settings_raise_one_clear_error(kwargs, words):
    with pytest.raises(MemoryPlanError, match=words):
        plan_memory("mtvcrafter-7b", **kwargs)


def test_cli_prints_a_table_and_fails_cleanly():
    from sportanim.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["plan-memory", "--config", "mtvcrafter-7b", "--lora-rank", "16", "--gpus", "8", "--zero", "2"])
    assert ok.exit_code == 0, ok.output
    assert "optimizer states" in ok.output and "peak" in ok.output
    bad = runner.invoke(app, ["plan-memory", "--zero", "3"])
    assert bad.exit_code == 2
