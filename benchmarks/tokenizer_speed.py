"""4DMoT training speed: sportanim's step against upstream MTVCrafter's, alternating in one process.

    python benchmarks/tokenizer_speed.py [--upstream PATH/TO/MTVCrafter] [--configs released,small,tiny]
                                         [--rounds N] [--threads 1,2] [--out benchmarks/results/tokenizer_speed.json]

One training step on each side, float32 on the CPU, the same weights, the same batch:
- sportanim: ``TokenizerObjective`` (encode, EMA codebook update, decode, L1 + 0.5 commitment),
  backward, AdamW step, ``zero_grad`` -- what ``sportanim train --strategy tokenizer`` runs per step;
- upstream: ``SMPL_VQVAE(x)`` -> ``L1(recon, x) + 0.5 * commit_loss``, ``zero_grad``, backward, AdamW
  step -- the loop of upstream's ``train_vqvae.py``. With ``--upstream PATH`` the model is built from
  the user's own checkout (``PATH/models/motion4d/vqvae.py``, imported from there, never copied into
  sportanim); without it, from ``Upstream*`` below: a plain re-statement of the same math written the
  way upstream writes it (a Python loop over the 8-frame encoder chunks and the 2-token-frame decoder
  chunks, ``Downsample`` through (B*J, C, T) ``avg_pool1d``, a one-hot matmul for the EMA sums, a
  tiled random codebook drawn every step).

Both get AdamW with lr 2e-4, betas (0.9, 0.99), weight decay 1e-4: sportanim the one its trainer
builds (``sportanim.train.optimizer.make_adamw``: torch's fused kernel), upstream torch's default kernel
as its ``train_vqvae.py`` builds it (on the CPU, a Python loop over the parameters). Both start from the
same initial weights (sportanim's state dict loaded by name into upstream's model; every name and shape
must match). The steps alternate (A B, then B A, ...) so both sides see the same machine load; the
medians over ``--rounds`` are reported with their ratio. Before timing, one step on identical fresh
copies checks that the two compute the same thing: loss, reconstruction L1, commitment, every
parameter's gradient and the codebook after the EMA update (max abs differences, relative to the
largest value; float32 rounding only).

Configs: ``released`` (the mtvcrafter-7b preset, 48.3 M trainable parameters, batch 4), ``small``
(widths 32/64, code dim 64, 512 codes, upstream's other sizes, batch 32), ``tiny`` (the tiny preset,
batch 8, the tiny world's global batch). Upstream's classes hard-code 32 GroupNorm groups, the dilation
rule's 512 and 3 blocks a stage; for ``tiny`` the upstream model is built with its ResBlock's own
``group_num`` / ``max_channels`` arguments set to the preset's and its block lists cut to 2.
Upstream's quantizer allocates its codebook with ``.cuda()``; on a machine without CUDA that call is
made a no-op while the upstream model is built.

Each config is timed at every thread count of ``--threads`` (1 and 2 by default; 2x upstream is the
target at both), both sides at the same count. On a shared machine the alternation keeps the ratios
comparable; the absolute times are not.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sportanim.io.files import write_text
from sportanim.models.tokenizer import TOKENIZER_PRESETS, MotionTokenizer, TokenizerConfig
from sportanim.train.optimizer import make_adamw
from sportanim.train.specs import TokenizerObjective

FRAMES = 49
COMMIT = 0.5
CONFIGS: dict[str, tuple[TokenizerConfig, int, int]] = {  # name -> (config, batch, default rounds)
    "released": (TOKENIZER_PRESETS["mtvcrafter-7b"], 4, 4),
    "small": (TokenizerConfig(widths=(32, 64), code_dim=64, codebook_size=512), 32, 9),
    "tiny": (TOKENIZER_PRESETS["tiny"], 8, 15),
}


# --------------------------------------------------------------------------- the re-statement
# Upstream's 4DMoT (models/motion4d/vqvae.py) re-stated: same modules, names, loops and math.


class UpstreamResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, group_num: int = 32, max_channels: int = 512):
        super().__init__()
        skip = max(1, max_channels // out_ch - 1)
        self.block = nn.Sequential(
            nn.GroupNorm(group_num, in_ch, eps=1e-6, affine=True), nn.SiLU(),
            nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=1, padding=skip, dilation=skip),
            nn.GroupNorm(group_num, out_ch, eps=1e-6, affine=True), nn.SiLU(),
            nn.Conv2d(out_ch, out_ch, kernel_size=1, stride=1, padding=0),
        )
        self.conv_short = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.block(x)
        if h.shape != x.shape:
            x = self.conv_short(x)
        return x + h


class UpstreamDownsample(nn.Module):
    """Average pairs of frames (frame 0 apart when odd) on (B*J, C, T), then Conv1d over joints."""

    def __init__(self, channels: int):
        super().__init__()
        self.joint_downsample = nn.Conv1d(channels, channels, kernel_size=3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, j = x.shape
        x = x.permute(0, 3, 1, 2).reshape(b * j, c, t)
        if t % 2 == 1:
            first, rest = x[..., 0], x[..., 1:]
            if rest.shape[-1] > 0:
                rest = F.avg_pool1d(rest, kernel_size=2, stride=2)
            x = torch.cat([first[..., None], rest], dim=-1)
        else:
            x = F.avg_pool1d(x, kernel_size=2, stride=2)
        x = x.reshape(b, j, c, x.shape[-1]).permute(0, 2, 3, 1)
        b, c, t, j = x.shape
        x = self.joint_downsample(x.permute(0, 2, 1, 3).reshape(b * t, c, j))
        return x.reshape(b, t, x.shape[1], x.shape[2]).permute(0, 2, 1, 3)


class UpstreamUpsample(nn.Module):
    """Double time bilinearly (corners aligned; frame 0 apart when odd), then Conv1d over joints."""

    def __init__(self, channels: int):
        super().__init__()
        self.upsampler = nn.Conv1d(channels, channels, kernel_size=3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] > 1 and x.shape[2] % 2 == 1:
            first, rest = x[:, :, 0], x[:, :, 1:]
            rest = F.interpolate(rest, scale_factor=(2.0, 1.0), mode="bilinear", align_corners=True)
            x = torch.cat([first[:, :, None, :], rest], dim=2)
        elif x.shape[2] > 1:
            x = F.interpolate(x, scale_factor=(2.0, 1.0), mode="bilinear", align_corners=True)
        b, c, t, j = x.shape
        x = self.upsampler(x.permute(0, 2, 1, 3).reshape(b * t, c, j))
        return x.reshape(b, t, *x.shape[1:]).permute(0, 2, 1, 3)


class UpstreamCoder(nn.Module):
    """Encoder (``down=True``: widths w0 -> w1) or decoder (widths w1 -> w0), upstream's layout."""

    def __init__(self, cfg: TokenizerConfig, down: bool):
        super().__init__()
        w0, w1 = cfg.widths if down else cfg.widths[::-1]
        c_in, c_out = (cfg.in_channels, cfg.code_dim) if down else (cfg.code_dim, cfg.in_channels)

        def block(a: int, b: int) -> UpstreamResBlock:
            return UpstreamResBlock(a, b, cfg.norm_groups, cfg.dilation_base)

        resample = UpstreamDownsample if down else UpstreamUpsample
        self.conv_in = nn.Conv2d(c_in, w0, kernel_size=3, stride=1, padding=1)
        self.resnet1 = nn.ModuleList([block(w0, w0) for _ in range(cfg.blocks_per_stage)])
        setattr(self, "downsample1" if down else "upsample1", resample(w0))
        self.resnet2 = block(w0, w1)
        self.resnet3 = nn.ModuleList([block(w1, w1) for _ in range(cfg.blocks_per_stage)])
        setattr(self, "downsample2" if down else "upsample2", resample(w1))
        self.conv_out = nn.Conv2d(w1, c_out, kernel_size=3, stride=1, padding=1)
        self.down = down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for r in self.resnet1:
            x = r(x)
        x = (self.downsample1 if self.down else self.upsample1)(x)
        x = self.resnet2(x)
        for r in self.resnet3:
            x = r(x)
        x = (self.downsample2 if self.down else self.upsample2)(x)
        return self.conv_out(x)


class UpstreamQuantizer(nn.Module):
    """EMA codebook as upstream updates it: one-hot matmul sums, every code set to sum / count, a
    tiled random codebook drawn each step for the re-seed done every 21st step."""

    def __init__(self, nb_code: int, code_dim: int):
        super().__init__()
        self.nb_code, self.code_dim, self.mu = nb_code, code_dim, 0.99
        self.register_buffer("codebook", torch.zeros(nb_code, code_dim))
        self.init, self.code_sum, self.code_count = False, None, None
        self.reset_count = 0
        self.usage = torch.zeros(nb_code, 1)

    def _tile(self, x: torch.Tensor) -> torch.Tensor:
        n, d = x.shape
        if n >= self.nb_code:
            return x
        out = x.repeat((self.nb_code + n - 1) // n, 1)
        return out + torch.randn_like(out) * (0.01 / np.sqrt(d))

    def init_codebook(self, x: torch.Tensor) -> None:
        if torch.all(self.codebook == 0):
            self.codebook = self._tile(x)[: self.nb_code]
        self.code_sum = self.codebook.clone()
        self.code_count = torch.ones(self.nb_code, device=self.codebook.device)
        self.init = True

    @torch.no_grad()
    def update_codebook(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        onehot = torch.zeros(self.nb_code, x.shape[0], device=x.device)
        onehot.scatter_(0, idx.view(1, x.shape[0]), 1)
        code_sum = onehot @ x
        code_count = onehot.sum(dim=-1)
        out = self._tile(x)
        code_rand = out[torch.randperm(out.shape[0])[: self.nb_code]]
        self.code_sum = self.mu * self.code_sum + (1.0 - self.mu) * code_sum
        self.code_count = self.mu * self.code_count + (1.0 - self.mu) * code_count
        usage = (self.code_count.view(self.nb_code, 1) >= 1.0).float()
        self.usage = self.usage.to(usage.device)
        if self.reset_count >= 20:
            self.reset_count = 0
            usage = (usage + self.usage >= 1.0).float()
        else:
            self.reset_count += 1
            self.usage = (usage + self.usage >= 1.0).float()
            usage = torch.ones_like(self.usage)
        update = self.code_sum.view(self.nb_code, self.code_dim) / self.code_count.view(self.nb_code, 1)
        self.codebook = usage * update + (1 - usage) * code_rand
        prob = code_count / code_count.sum()
        return torch.exp(-torch.sum(prob * torch.log(prob + 1e-6)))

    def forward(self, x: torch.Tensor):
        b, c, f, j = x.shape
        x = x.permute(0, 2, 3, 1).contiguous().view(-1, c)
        if not self.init:
            self.init_codebook(x)
        k_w = self.codebook.t()
        dist = torch.sum(x**2, dim=-1, keepdim=True) - 2 * x @ k_w + torch.sum(k_w**2, dim=0, keepdim=True)
        idx = torch.min(dist, dim=-1)[1]
        x_d = F.embedding(idx, self.codebook)
        perplexity = self.update_codebook(x, idx)
        commit = F.mse_loss(x, x_d.detach())
        x_d = x + (x_d - x).detach()
        return x_d.view(b, f, j, c).permute(0, 3, 1, 2).contiguous(), commit, perplexity


class UpstreamVQVAE(nn.Module):
    """``SMPL_VQVAE`` in training mode: chunks of 8 frames (the first also takes the leftover)
    through the encoder one at a time, the quantiser, chunks of 2 token frames through the decoder."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.encoder = UpstreamCoder(cfg, down=True)
        self.decoder = UpstreamCoder(cfg, down=False)
        self.vq = UpstreamQuantizer(cfg.codebook_size, cfg.code_dim)

    @staticmethod
    def _slices(x: torch.Tensor, size: int, net: nn.Module) -> torch.Tensor:
        n, rem, out = x.shape[2], x.shape[2] % size, []
        for i in range(n // size):
            start = size * i + (0 if i == 0 else rem)
            out.append(net(x[:, :, start: size * (i + 1) + rem]))
        return torch.cat(out, dim=2)

    def forward(self, x: torch.Tensor):
        x = x.permute(0, 3, 1, 2)
        x, commit, perplexity = self.vq(self._slices(x, 8, self.encoder))
        x = self._slices(x, 2, self.decoder)
        return x.permute(0, 2, 3, 1), commit, perplexity


# --------------------------------------------------------------------------- the user's checkout


@contextlib.contextmanager
def _cuda_calls_stay_on_cpu():
    """Upstream's quantizer calls ``.cuda()`` when built; without CUDA, let that be a no-op."""
    if torch.cuda.is_available():
        yield
        return
    original = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        torch.Tensor.cuda = original


def load_upstream_module(checkout: Path):
    """``models/motion4d/vqvae.py`` of the user's upstream checkout, imported from that file."""
    path = Path(checkout) / "models" / "motion4d" / "vqvae.py"
    if not path.is_file():
        raise SystemExit(f"--upstream {checkout}: no models/motion4d/vqvae.py there (a MTVCrafter checkout?)")
    spec = importlib.util.spec_from_file_location("upstream_motion4d_vqvae", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_upstream_checkout(module, cfg: TokenizerConfig) -> nn.Module:
    """Upstream's own classes, built as its ``train_vqvae.py`` builds them, at ``cfg``'s sizes."""
    # ResBlock(in, out, group_num=32, max_channels=512): the Encoder/Decoder pass only in/out.
    init = module.ResBlock.__init__
    original = init.__defaults__
    init.__defaults__ = (cfg.norm_groups, cfg.dilation_base)
    try:
        with _cuda_calls_stay_on_cpu():
            w0, w1 = cfg.widths
            encoder = module.Encoder(in_channels=cfg.in_channels, mid_channels=[w0, w1], out_channels=cfg.code_dim,
                                     downsample_time=[2, 2], downsample_joint=[1, 1])
            vq = module.VectorQuantizer(nb_code=cfg.codebook_size, code_dim=cfg.code_dim)
            decoder = module.Decoder(in_channels=cfg.code_dim, mid_channels=[w1, w0], out_channels=cfg.in_channels,
                                     upsample_rate=2.0, frame_upsample_rate=[2.0, 2.0], joint_upsample_rate=[1.0, 1.0])
    finally:
        init.__defaults__ = original
    for coder in (encoder, decoder):
        coder.resnet1 = nn.ModuleList(list(coder.resnet1)[: cfg.blocks_per_stage])
        coder.resnet3 = nn.ModuleList(list(coder.resnet3)[: cfg.blocks_per_stage])
    vq.codebook = vq.codebook.cpu()
    return module.SMPL_VQVAE(encoder, decoder, vq).train()


# --------------------------------------------------------------------------- steps


def load_same_weights(upstream: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy sportanim's tensors into upstream's model by name; names and shapes must all match."""
    own = upstream.state_dict()
    missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    bad = [k for k in own.keys() & state.keys() if own[k].shape != state[k].shape]
    if missing or extra or bad:
        raise SystemExit(f"state dicts differ: missing {missing[:3]}, extra {extra[:3]}, shapes {bad[:3]}")
    upstream.load_state_dict({k: v.clone() for k, v in state.items()}, strict=True)


def adamw(model: nn.Module, fused: bool) -> torch.optim.Optimizer:
    """The AdamW of a side: sportanim's trainer's (``fused``) or torch's default, as upstream builds it."""
    return make_adamw([p for p in model.parameters() if p.requires_grad], lr=2e-4, betas=(0.9, 0.99),
                      weight_decay=1e-4, allow_fused=fused)


class Sides:
    """Both models at one config with the same weights and codebook, their optimizers and steps."""

    def __init__(self, cfg: TokenizerConfig, batch: int, upstream_module=None, seed: int = 0):
        torch.manual_seed(seed)
        self.cfg = cfg
        self.ours = MotionTokenizer(cfg).train()
        with torch.no_grad():  # a working codebook, the same on both sides (no seeding step)
            self.ours.vq.codebook.normal_(0.0, 1.0 / math.sqrt(cfg.code_dim))
        self.objective = TokenizerObjective(self.ours, COMMIT).train()
        self.theirs = (build_upstream_checkout(upstream_module, cfg) if upstream_module is not None
                       else UpstreamVQVAE(cfg).train())
        load_same_weights(self.theirs, self.ours.state_dict())
        g = torch.Generator().manual_seed(seed + 1)
        self.joints = torch.randn(batch, FRAMES, cfg.num_joints, cfg.in_channels, generator=g)
        self.data = {"joints": self.joints, "positions": torch.arange(batch)}
        self.opt_ours, self.opt_theirs = adamw(self.ours, fused=True), adamw(self.theirs, fused=False)
        self.seed = 0

    def forward_ours(self) -> dict:
        self.seed += 1
        return self.objective(self.data, self.seed)

    def forward_theirs(self) -> dict:
        recon, commit, _ = self.theirs(self.joints)
        recon_l1 = F.l1_loss(recon, self.joints)
        return {"loss": recon_l1 + COMMIT * commit, "logs": {"recon_l1": recon_l1.detach(), "commit": commit.detach()}}

    def step_ours(self) -> None:
        self.forward_ours()["loss"].backward()
        self.opt_ours.step()
        self.opt_ours.zero_grad(set_to_none=True)

    def step_theirs(self) -> None:
        loss = self.forward_theirs()["loss"]
        self.opt_theirs.zero_grad()
        loss.backward()
        self.opt_theirs.step()


def _diff(a: torch.Tensor, b: torch.Tensor) -> dict:
    a, b = a.detach().double(), b.detach().double()
    abs_diff = float((a - b).abs().max())
    scale = float(max(a.abs().max(), b.abs().max()))
    return {"max_abs_diff": abs_diff, "max_abs_value": scale, "relative": abs_diff / scale if scale else 0.0}


def equivalence(sides: Sides, tolerance: float) -> dict:
    """One forward + backward on both sides from the same state: losses, gradients, codebooks."""
    ours, theirs = sides.forward_ours(), sides.forward_theirs()
    ours["loss"].backward()
    theirs["loss"].backward()
    result = {"loss": _diff(ours["loss"], theirs["loss"]),
              "recon_l1": _diff(ours["logs"]["recon_l1"], theirs["logs"]["recon_l1"]),
              "commit": _diff(ours["logs"]["commit"], theirs["logs"]["commit"]),
              "codebook_after_ema_update": _diff(sides.ours.vq.codebook, sides.theirs.vq.codebook)}
    grads_theirs = {n: p.grad for n, p in sides.theirs.named_parameters()}
    # Relative to the parameter's largest gradient, floored at 1e-3 of the model's largest: the
    # biases of convolutions followed by GroupNorm have gradients of zero up to rounding.
    largest = max(float(p.grad.abs().max()) for p in sides.ours.parameters())
    worst = {"max_abs_diff": 0.0, "relative": 0.0, "parameter": None}
    for name, p in sides.ours.named_parameters():
        d = _diff(p.grad, grads_theirs[name])
        d["relative"] = d["max_abs_diff"] / max(d["max_abs_value"], 1e-3 * largest)
        if d["relative"] > worst["relative"]:
            worst = {"max_abs_diff": d["max_abs_diff"], "relative": d["relative"], "parameter": name}
    result["gradients_worst_parameter"] = worst
    result["tolerance_relative"] = tolerance
    result["same_within_tolerance"] = all(
        v["relative"] <= tolerance for k, v in result.items() if isinstance(v, dict))
    sides.opt_ours.zero_grad(set_to_none=True)
    sides.opt_theirs.zero_grad(set_to_none=True)
    return result


def alternate(sides: Sides, rounds: int) -> dict:
    """Warm up both, then ``rounds`` rounds of one step each, the order flipping every round."""
    sides.step_ours()
    sides.step_theirs()
    times: dict[str, list[float]] = {"sportanim": [], "upstream": []}
    steps = {"sportanim": sides.step_ours, "upstream": sides.step_theirs}
    for r in range(rounds):
        for name in (("sportanim", "upstream") if r % 2 == 0 else ("upstream", "sportanim")):
            start = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - start)
    ours, theirs = statistics.median(times["sportanim"]), statistics.median(times["upstream"])
    return {"sportanim_s_per_step": ours, "upstream_s_per_step": theirs, "speedup": theirs / ours,
            "rounds": rounds, "times": {k: [round(t, 4) for t in v] for k, v in times.items()}}


def run_config(name: str, rounds: int | None, upstream_module, tolerance: float, threads: list[int]) -> dict:
    cfg, batch, default_rounds = CONFIGS[name]
    sides = Sides(cfg, batch, upstream_module)
    params = sum(p.numel() for p in sides.ours.parameters())
    check = equivalence(sides, tolerance)
    print(f"[{name}] same math: loss diff {check['loss']['max_abs_diff']:.2e}, worst gradient "
          f"{check['gradients_worst_parameter']['max_abs_diff']:.2e} (relative "
          f"{check['gradients_worst_parameter']['relative']:.1e}, {check['gradients_worst_parameter']['parameter']}), "
          f"codebook {check['codebook_after_ema_update']['max_abs_diff']:.2e}", flush=True)
    by_threads = {}
    for n in threads:
        torch.set_num_threads(n)
        timing = by_threads[str(n)] = alternate(sides, rounds or default_rounds)
        print(f"[{name}] {n} thread(s): sportanim {timing['sportanim_s_per_step']:.3f} s/step, upstream "
              f"{timing['upstream_s_per_step']:.3f} s/step: {timing['speedup']:.2f}x", flush=True)
    return {"config": cfg.to_dict(), "batch": batch, "frames": FRAMES, "trainable_parameters": params,
            "equivalence": check, "threads": by_threads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", type=Path, default=None,
                        help="a MTVCrafter checkout (its models/motion4d/vqvae.py is imported); default: "
                             "the re-statement kept in this file")
    parser.add_argument("--configs", default="released,small,tiny")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per config (default per config)")
    parser.add_argument("--threads", default="1,2",
                        help="torch thread counts to time at, comma-separated (the issue's measurement: 2)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="relative, for the same-math check")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "tokenizer_speed.json")
    args = parser.parse_args()
    names = [n for n in args.configs.split(",") if n]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown configs {unknown}; known: {sorted(CONFIGS)}")
    threads = [int(n) for n in args.threads.split(",") if n]
    if not threads or min(threads) < 1:
        raise SystemExit(f"--threads must list thread counts >= 1, got {args.threads!r}")
    module = load_upstream_module(args.upstream) if args.upstream else None
    result = {
        "machine": {"cores": os.cpu_count(), "torch_threads": threads,
                    "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "python": platform.python_version(),
                    "torch": torch.__version__, "load_average_1min_at_start": os.getloadavg()[0]},
        "upstream": (f"the user's checkout {args.upstream}" if args.upstream
                     else "re-statement of upstream's math in benchmarks/tokenizer_speed.py"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    for name in names:
        result[name] = run_config(name, args.rounds, module, args.tolerance, threads)
    result["machine"]["load_average_1min_at_end"] = os.getloadavg()[0]
    result["note"] = ("medians of alternating steps in one process on a shared machine: compare the ratios, "
                      "not absolute times across runs")
    write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({n: {t: round(v["speedup"], 3) for t, v in result[n]["threads"].items()} for n in names}))


if __name__ == "__main__":
    main()
