"""4DMoT: MTVCrafter's motion tokenizer, a VQ-VAE over (frame, joint).

Normalised SMPL joints ``(B, T, 24, 3)`` (``(joints - mean) / std``, see
``sportanim.skeleton.normalize``) become ``N * 24`` discrete tokens, ``N = 1 + (T - 1) // 4``:

    (B, T, J, 3) -> (B, 3, T, J) -> encoder -> (B, D, N, J) -> codebook ids (B, N * J)
    ids -> codebook rows (B, N * J, D) -> decoder -> (B, 3, T, J) -> (B, T, J, 3)

Everything is a 2D convolution over (frame, joint); only time is resampled (x2 twice, the
first frame kept apart, causal style), joints stay 24 so a token is one joint at one
token frame. Token order is frame-major: token ``n * J + j`` is joint ``j`` at token frame
``n``. The MV-DiT consumes the quantised embeddings ``(B, 13 * 24 = 312, 3072)``.

Structure and names follow the released checkpoint (``4DMoT/mp_rank_00_model_states.pt``,
133 tensors at the ``mtvcrafter-7b`` preset), so it loads strictly. Two upstream habits are
kept because the released weights were trained with them:
- the encoder sees the clip in chunks of 8 frames (the first chunk also takes the
  ``T % 8`` leftover frames) and the decoder in chunks of 2 token frames; chunks never see
  each other (zero padding and GroupNorm statistics per chunk);
- a ResBlock's dilation is ``max(1, 512 // out_channels - 1)``: 3 at width 128, 1 at 512.
Together they make the valid clip lengths ``T = 8k + 1`` (9, 17, ..., 49, ...); see
``MotionTokenizer.token_frames``.

The codebook is a buffer trained by EMA, not by gradients (upstream's ``vq.codebook``);
the EMA statistics are non-persistent and re-derived from the codebook after a load.
Training loss upstream: ``L1(recon, x) + 0.5 * commit_loss``, AdamW 2e-4.

Speed (``benchmarks/tokenizer_speed.py`` times a training step against upstream's): the equal
chunks run as one batch; kernel taps that only ever meet zero padding are skipped (upstream's
dilation rule gives 15 and 7 at widths 32 and 64, longer than a chunk); Upsample convolves
before it interpolates (half the frames); on the CPU, wide sizes (``GEMM_MIN_WIDTH``, the
released tokenizer) run as matrix products over channels-last rows (``forward_rows``), the
others through the modules. Same math throughout, summed in other orders (float rounding).
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import SAFETENSORS_WEIGHTS_NAME
from safetensors import SafetensorError, safe_open
from torch import nn

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"  # what save_pretrained writes (the shipped folders' name)
UPSTREAM_CHECKPOINT_NAME = "mp_rank_00_model_states.pt"  # the released 4DMoT (DeepSpeed 'module' state dict)
TIME_FACTOR = 2  # each of the two Downsample/Upsample stages halves/doubles time
# from_pretrained refuses configs above this many values (4.3 GB in float32), checked on the
# meta device before anything is allocated: ~15x the released tokenizer's 73.5M, so only a
# mistyped config.json (an extra digit in codebook_size or a width) reaches it.
MAX_VALUES = 2**30
MAX_BLOCKS_PER_STAGE = 64  # upstream has 3; the bound keeps a bad config from building for minutes
# On the CPU, tokenizers whose narrower stage has at least this many channels (the released one:
# 128 / 512) run as matrix products over channels-last rows (``forward_rows``), narrower ones
# through the modules (oneDNN convolutions, channels-first GroupNorm): each is the faster one
# there (``benchmarks/tokenizer_speed.py``). Same math either way.
GEMM_MIN_WIDTH = 128


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class TokenizerConfig:
    """Sizes of a 4DMoT. Defaults are the released MTVCrafter-7B tokenizer. Frozen: a model's
    ``config`` must keep matching the ``config.json`` it saves."""

    num_joints: int = 24  # SMPL-24; joints are never resampled, so this only checks inputs
    in_channels: int = 3  # xyz per joint
    widths: tuple[int, int] = (128, 512)  # encoder stage widths; the decoder runs them reversed
    blocks_per_stage: int = 3  # ResBlocks in resnet1 / resnet3 (upstream: 3)
    code_dim: int = 3072  # D, the token width the MV-DiT reads
    codebook_size: int = 8192  # K
    norm_groups: int = 32  # GroupNorm groups; must divide both widths
    dilation_base: int = 512  # ResBlock dilation = max(1, dilation_base // out_ch - 1) (upstream rule)
    encoder_chunk_frames: int = 8  # the encoder sees frames in independent chunks (0: whole clip)
    decoder_chunk_tokens: int = 2  # the decoder sees token frames in chunks (0: whole clip)
    ema_decay: float = 0.99  # codebook EMA decay (upstream mu)
    reset_every: int = 20  # re-seed codes unused for this many training steps (upstream: 20)

    def __post_init__(self) -> None:
        widths = self.widths
        if not isinstance(widths, (list, tuple)) or len(widths) != 2 or not all(map(_is_int, widths)):
            raise ValueError(f"widths must hold 2 integer stage widths, got {widths!r}")
        object.__setattr__(self, "widths", tuple(widths))  # a JSON list becomes the tuple presets use
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in ("widths", "ema_decay") and not _is_int(value):
                raise ValueError(f"{f.name} must be an integer, got {value!r}")
        if not 0 <= self.blocks_per_stage <= MAX_BLOCKS_PER_STAGE:
            raise ValueError(f"blocks_per_stage must lie in [0, {MAX_BLOCKS_PER_STAGE}], got {self.blocks_per_stage}")
        if min(self.widths) < 1 or self.norm_groups < 1:
            raise ValueError(f"widths and norm_groups must be >= 1, got {self.widths} and {self.norm_groups}")
        for w in self.widths:
            if w % self.norm_groups:
                raise ValueError(f"norm_groups={self.norm_groups} must divide every width, got {w}")
        if self.encoder_chunk_frames % (TIME_FACTOR * TIME_FACTOR):
            raise ValueError(f"encoder_chunk_frames must be a multiple of 4, got {self.encoder_chunk_frames}")
        if self.decoder_chunk_tokens < 0 or self.encoder_chunk_frames < 0:
            raise ValueError("chunk sizes must be >= 0 (0 turns chunking off)")
        decay = self.ema_decay
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must lie in (0, 1), got {decay!r}")
        if self.reset_every < 1 or self.codebook_size < 1 or self.code_dim < 1:
            raise ValueError("reset_every, codebook_size and code_dim must be >= 1")

    def dilation(self, out_channels: int) -> int:
        return max(1, self.dilation_base // out_channels - 1)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``widths`` a list), as ``config.json`` holds it."""
        return {**asdict(self), "widths": list(self.widths)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], source: str) -> "TokenizerConfig":
        """Parse a ``config.json``'s contents; keys starting with ``_`` (``_class_name``,
        ``_diffusers_version``) are diffusers' bookkeeping and skipped. Unknown keys and bad
        values raise ValueError naming ``source``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(k for k in raw if k not in known and not k.startswith("_"))
        if unknown:
            raise ValueError(f"{source}: unknown tokenizer config keys {unknown}; known: {sorted(known)}")
        try:
            return cls(**{k: v for k, v in raw.items() if k in known})
        except (TypeError, ValueError) as err:
            raise ValueError(f"{source}: {err}") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


TOKENIZER_PRESETS: dict[str, TokenizerConfig] = {
    # The released tokenizer: 73,488,899 values (25.2M of them the 8192 x 3072 codebook).
    "mtvcrafter-7b": TokenizerConfig(),
    # CPU-sized, same topology: dilation_base 128 keeps upstream's pattern (3 in the narrow
    # stage, 1 in the wide one) at a quarter of the width.
    "tiny": TokenizerConfig(
        widths=(32, 64), blocks_per_stage=2, code_dim=64, codebook_size=512,
        norm_groups=8, dilation_base=128,
    ),
}


@dataclass
class TokenizerOutput:
    """What ``MotionTokenizer.forward`` returns."""

    recon: torch.Tensor  # (B, T, J, 3) reconstructed normalised joints
    commit_loss: torch.Tensor  # () MSE between encoder outputs and their codes
    perplexity: torch.Tensor  # () exp(entropy) of the batch's code histogram
    usage: torch.Tensor  # () share of the K codes used in this batch
    ids: torch.Tensor  # (B, N * J) code ids


# --------------------------------------------------------------------------- blocks


class ResBlock(nn.Module):
    """GroupNorm-SiLU-Conv3x3(dilated)-GroupNorm-SiLU-Conv1x1 plus a shortcut.
    ``(B, C_in, T, J) -> (B, C_out, T, J)``; the shortcut is a 1x1 conv when C changes."""

    def __init__(self, in_ch: int, out_ch: int, groups: int, dilation: int):
        super().__init__()
        # Indices 0..5 are the checkpoint's names (block.0 norm, block.2 conv, ...).
        self.block = nn.Sequential(
            nn.GroupNorm(groups, in_ch, eps=1e-6),
            nn.SiLU(),
            nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation),
            nn.GroupNorm(groups, out_ch, eps=1e-6),
            nn.SiLU(),
            nn.Conv2d(out_ch, out_ch, 1),
        )
        self.conv_short = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm1, act1, conv1, norm2, act2, conv2 = self.block
        h = conv2(act2(norm2(_conv_inside(conv1, act1(norm1(x))))))
        return self.conv_short(x) + h

    def forward_rows(self, segments: list[torch.Tensor]) -> list[torch.Tensor]:
        """The wide CPU path: ``(n, t, J, C_in)`` segments -> ``(n, t, J, C_out)``."""
        conv = self.block[2]
        h = _conv_rows(conv, _gn_silu_rows(self.block[0], segments), conv.dilation[0])
        h = _conv_rows(self.block[5], _gn_silu_rows(self.block[3], h))
        short = segments if isinstance(self.conv_short, nn.Identity) else _conv_rows(self.conv_short, segments)
        return [a + b for a, b in zip(short, h)]


def _conv_inside(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` without the kernel rows (columns) that only ever meet zero padding.

    A tap ``a`` of a zero-padded, dilated kernel reads ``x`` at offset ``a * dilation - padding``
    from each output; an offset of a whole length or more never reads ``x``, so the tap adds
    exact zeros. Dropping it leaves the result and every gradient the same (the dropped taps'
    weight gradients are zero either way) and skips its work: upstream's dilation rule gives
    dilation 15 at width 32 and 7 at width 64, longer than the 2-9 frame chunks, so such
    ResBlock convolutions are (1, 3) convolutions over joints.
    """
    keep = []
    for dim, (k, dil, pad) in enumerate(zip(conv.kernel_size, conv.dilation, conv.padding)):
        size = x.shape[2 + dim]
        taps = [a for a in range(k) if abs(a * dil - pad) < size]
        keep.append((taps[0], taps[-1] + 1, pad - taps[0] * dil))
    if all(hi - lo == k for (lo, hi, _), k in zip(keep, conv.kernel_size)):
        return conv(x)
    (t0, t1, pt), (j0, j1, pj) = keep
    return F.conv2d(x, conv.weight[:, :, t0:t1, j0:j1], conv.bias, padding=(pt, pj), dilation=conv.dilation)


def _joint_conv(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """A Conv1d over joints applied to every frame, as a (1, 3) Conv2d (no reshapes).
    ``(B, C, T, J) -> (B, C', T, J)``."""
    return F.conv2d(x, conv.weight.unsqueeze(2), conv.bias, padding=(0, conv.padding[0]))


class Downsample(nn.Module):
    """Halve time, then mix joints with a Conv1d(k=3). ``(B, C, T, J) -> (B, C, T', J)``.

    Odd T keeps frame 0 apart and average-pools the rest in pairs: ``T' = 1 + (T - 1) // 2``
    (9 -> 5 -> 3); even T pools everything in pairs: ``T' = T // 2`` (8 -> 4 -> 2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.joint_downsample = nn.Conv1d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Pairs of frames averaged as avg_pool2d averages them, (a + b) / 2, from strided slices
        # (the same values; avg_pool2d with a (2, 1) window was 4x slower on the CPU).
        if x.shape[2] % 2 == 1:
            x = torch.cat([x[:, :, :1], (x[:, :, 1::2] + x[:, :, 2::2]) * 0.5], dim=2)
        else:
            x = (x[:, :, 0::2] + x[:, :, 1::2]) * 0.5
        return _joint_conv(self.joint_downsample, x)

    def forward_rows(self, segments: list[torch.Tensor]) -> list[torch.Tensor]:
        """The wide CPU path on ``(n, t, J, C)`` segments."""
        return _conv_rows(self.joint_downsample, [_resample_time_rows(x, down=True) for x in segments])


class Upsample(nn.Module):
    """Double time (linear, corners aligned), then a Conv1d(k=3) over joints.
    ``(B, C, T, J) -> (B, C, T', J)``, the inverse of ``Downsample``'s lengths:
    odd T keeps frame 0 apart, ``T' = 1 + 2 (T - 1)``; even T gives ``T' = 2 T``.

    Both steps are linear and act on different axes (every output frame is a weighted mean of
    two input frames, weights summing to 1), so the joint convolution runs first, on the T input
    frames instead of the T' output frames: the same result for half the work."""

    def __init__(self, channels: int):
        super().__init__()
        self.upsampler = nn.Conv1d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _double_time(_joint_conv(self.upsampler, x))

    def forward_rows(self, segments: list[torch.Tensor]) -> list[torch.Tensor]:
        """The wide CPU path on ``(n, t, J, C)`` segments."""
        return [_resample_time_rows(x, down=False) for x in _conv_rows(self.upsampler, segments)]


def _double_time(x: torch.Tensor) -> torch.Tensor:
    """Upsample's time step on ``(B, C, T, J)``: linear, corners aligned, frame 0 apart if T is odd."""
    t, j = x.shape[2], x.shape[3]
    if t % 2 == 0:
        return F.interpolate(x, size=(TIME_FACTOR * t, j), mode="bilinear", align_corners=True)
    first, rest = x[:, :, :1], x[:, :, 1:]
    if rest.shape[2] > 0:
        rest = F.interpolate(rest, size=(TIME_FACTOR * (t - 1), j), mode="bilinear", align_corners=True)
    return torch.cat([first, rest], dim=2)


class Encoder(nn.Module):
    """``(B, 3, T, J) -> (B, D, 1 + (T - 1) // 4, J)`` for one chunk (T odd or a multiple of 4)."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        w0, w1, g = cfg.widths[0], cfg.widths[1], cfg.norm_groups
        self.conv_in = nn.Conv2d(cfg.in_channels, w0, 3, padding=1)
        self.resnet1 = nn.ModuleList([ResBlock(w0, w0, g, cfg.dilation(w0)) for _ in range(cfg.blocks_per_stage)])
        self.downsample1 = Downsample(w0)
        self.resnet2 = ResBlock(w0, w1, g, cfg.dilation(w1))
        self.resnet3 = nn.ModuleList([ResBlock(w1, w1, g, cfg.dilation(w1)) for _ in range(cfg.blocks_per_stage)])
        self.downsample2 = Downsample(w1)
        self.conv_out = nn.Conv2d(w1, cfg.code_dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for block in self.resnet1:
            x = block(x)
        x = self.resnet2(self.downsample1(x))
        for block in self.resnet3:
            x = block(x)
        return self.conv_out(self.downsample2(x))

    def forward_rows(self, segments: list[torch.Tensor]) -> list[torch.Tensor]:
        """The wide CPU path: ``(n, t, J, 3)`` chunk segments -> ``(n, t', J, D)``."""
        x = _conv_rows(self.conv_in, segments)
        for block in self.resnet1:
            x = block.forward_rows(x)
        x = self.resnet2.forward_rows(self.downsample1.forward_rows(x))
        for block in self.resnet3:
            x = block.forward_rows(x)
        return _conv_rows(self.conv_out, self.downsample2.forward_rows(x))


class Decoder(nn.Module):
    """``(B, D, N, J) -> (B, 3, T, J)`` for one chunk; the encoder mirrored, widths reversed."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        w0, w1, g = cfg.widths[1], cfg.widths[0], cfg.norm_groups
        self.conv_in = nn.Conv2d(cfg.code_dim, w0, 3, padding=1)
        self.resnet1 = nn.ModuleList([ResBlock(w0, w0, g, cfg.dilation(w0)) for _ in range(cfg.blocks_per_stage)])
        self.upsample1 = Upsample(w0)
        self.resnet2 = ResBlock(w0, w1, g, cfg.dilation(w1))
        self.resnet3 = nn.ModuleList([ResBlock(w1, w1, g, cfg.dilation(w1)) for _ in range(cfg.blocks_per_stage)])
        self.upsample2 = Upsample(w1)
        self.conv_out = nn.Conv2d(w1, cfg.in_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for block in self.resnet1:
            x = block(x)
        x = self.resnet2(self.upsample1(x))
        for block in self.resnet3:
            x = block(x)
        return self.conv_out(self.upsample2(x))

    def forward_rows(self, segments: list[torch.Tensor]) -> list[torch.Tensor]:
        """The wide CPU path: ``(n, N, J, D)`` chunk segments -> ``(n, t, J, 3)``."""
        x = _conv_rows(self.conv_in, segments)
        for block in self.resnet1:
            x = block.forward_rows(x)
        x = self.resnet2.forward_rows(self.upsample1.forward_rows(x))
        for block in self.resnet3:
            x = block.forward_rows(x)
        return _conv_rows(self.conv_out, self.upsample2.forward_rows(x))


def _chunk_lengths(length: int, chunk: int) -> list[int]:
    """Upstream's split of ``length`` frames: chunks of ``chunk``, the first one also taking
    the ``length % chunk`` leftover (49, 8 -> [9, 8, 8, 8, 8, 8]). ``chunk=0``: one piece."""
    if chunk <= 0 or length <= chunk:
        return [length]
    n = length // chunk
    return [chunk + length % chunk] + [chunk] * (n - 1)


def _stage_frames(n: int, down: bool) -> int:
    """Frames after the two resampling stages for one chunk of ``n`` frames."""
    for _ in range(2):
        if down:
            n = 1 + (n - 1) // TIME_FACTOR if n % 2 else n // TIME_FACTOR
        else:
            n = 1 + TIME_FACTOR * (n - 1) if n % 2 else TIME_FACTOR * n
    return n


def _run_chunked(net: nn.Module, x: torch.Tensor, chunk: int) -> torch.Tensor:
    """Apply ``net`` to independent time chunks of ``x`` ``(B, C, T, J)`` and concatenate.
    The equal-length chunks after the first run as one batch (same result as a loop)."""
    lengths = _chunk_lengths(x.shape[2], chunk)
    head = net(x[:, :, : lengths[0]])
    if len(lengths) == 1:
        return head
    rest = x[:, :, lengths[0]:]
    b, c, _, j = rest.shape
    n = len(lengths) - 1
    rest = rest.reshape(b, c, n, chunk, j).transpose(1, 2).reshape(b * n, c, chunk, j)
    out = net(rest)  # (B * n, C', t', J)
    c2, t2 = out.shape[1], out.shape[2]
    out = out.reshape(b, n, c2, t2, j).transpose(1, 2).reshape(b, c2, n * t2, j)
    return torch.cat([head, out], dim=2)


# --------------------------------------------------------------------------- wide CPU path
# For wide stages (``GEMM_MIN_WIDTH``) on the CPU the same network runs as matrix products over
# channels-last rows: oneDNN's convolutions reach about two thirds of the machine's float32
# matrix-product rate on these shapes (4-20 clips, 2-9 frames of 24 joints, 512-3072 channels;
# its weight gradients less), MKL's products nearly all of it. Activations are "segments",
# ``(n, t, J, C)`` contiguous tensors: the first chunk of every clip (which takes the leftover
# frames) and the equal-length other chunks batched, so each convolution is one set of products
# over all chunks with one copy of its weights. A 3x3 convolution is one product per time tap,
# over the frames where that tap falls inside its chunk, of rows holding each joint and its two
# neighbours side by side (im2col over joints; taps wholly in the zero padding are skipped).
# Same parameters and math as the modules' ``forward``; sums in another order (float rounding).


def _joint_taps(x: torch.Tensor, d: int, out: torch.Tensor) -> None:
    """Write ``x`` (n, t, J, C) with joints ``j - d``, ``j``, ``j + d`` side by side (zeros
    outside the skeleton) into ``out`` (n, t, J, 3, C)."""
    j = x.shape[2]
    out[:, :, :, 1] = x
    if d < j:
        out[:, :, :d, 0] = 0
        out[:, :, d:, 0] = x[:, :, : j - d]
        out[:, :, : j - d, 2] = x[:, :, d:]
        out[:, :, j - d:, 2] = 0
    else:
        out[:, :, :, 0::2] = 0


def _joint_taps_backward(g: torch.Tensor, d: int) -> torch.Tensor:
    """The adjoint of ``_joint_taps``: ``(n, t, J, 3, C) -> (n, t, J, C)``."""
    j = g.shape[2]
    out = g[:, :, :, 1].clone()
    if d < j:
        out[:, :, : j - d] += g[:, :, d:, 0]
        out[:, :, d:] += g[:, :, : j - d, 2]
    return out


def _time_taps(kernel: int, frames: int, d: int) -> list[tuple[int, int, int, int]]:
    """``(tap, first output frame, frames, first input frame)`` of each off-centre time tap that
    falls inside a chunk of ``frames`` frames (zero padding ``d * (kernel // 2)``)."""
    taps = []
    for a in range(kernel):
        shift = (a - kernel // 2) * d
        lo, hi = max(0, -shift), min(frames, frames - shift)
        if shift and hi > lo:
            taps.append((a, lo, hi - lo, lo + shift))
    return taps


class _TapConv(torch.autograd.Function):
    """``Conv2d(weight (Co, C, kt, 3), bias, padding (d * (kt // 2), d), dilation d)`` of every
    segment ``(n, t, J, C)``, as matrix products; returns all outputs as rows ``(sum n t J, Co)``."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, bias: torch.Tensor, d: int, *segments: torch.Tensor):
        co, c, kt, _ = weight.shape
        k, mid = 3 * c, kt // 2
        taps_w = weight.permute(2, 0, 3, 1).contiguous()  # (kt, Co, 3, C): one (Co, 3C) matrix a time tap
        rows = [s.shape[0] * s.shape[1] * s.shape[2] for s in segments]
        cols = segments[0].new_empty(sum(rows), 3, c)  # every segment's im2col rows, one buffer
        views, start = [], 0
        for x, r in zip(segments, rows):
            view = cols[start: start + r].view(*x.shape[:3], 3, c)
            _joint_taps(x, d, view)
            views.append(view.view(*x.shape[:3], k))
            start += r
        centre = taps_w[mid].view(co, k).t()
        out = torch.addmm(bias, cols.view(-1, k), centre) if bias is not None else cols.view(-1, k) @ centre
        start = 0
        for x, r, v in zip(segments, rows, views):
            n, t, j, _ = x.shape
            seg = out[start: start + r].view(n, t, j, co)
            for a, lo, m, src in _time_taps(kt, t, d):
                seg[:, lo: lo + m] += (v[:, src: src + m].reshape(-1, k) @ taps_w[a].view(co, k).t()).view(n, m, j, co)
            start += r
        ctx.save_for_backward(taps_w, cols)
        ctx.d, ctx.shapes, ctx.has_bias = d, [tuple(s.shape) for s in segments], bias is not None
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        taps_w, cols = ctx.saved_tensors
        kt, co, _, c = taps_w.shape
        k, mid, d = 3 * c, kt // 2, ctx.d
        grad = grad.contiguous()
        flat = cols.view(-1, k)
        grad_w = torch.empty_like(taps_w)
        torch.mm(grad.t(), flat, out=grad_w[mid].view(co, k))
        written = {mid}
        need_x = any(ctx.needs_input_grad[3:])
        grad_cols = (grad @ taps_w[mid].view(co, k)) if need_x else None  # (rows, 3C)
        grads_x, start = [], 0
        for (n, t, j, _), need in zip(ctx.shapes, ctx.needs_input_grad[3:]):
            r = n * t * j
            g = grad[start: start + r].view(n, t, j, co)
            v = flat[start: start + r].view(n, t, j, k)
            gc = grad_cols[start: start + r].view(n, t, j, k) if need_x else None
            for a, lo, m, src in _time_taps(kt, t, d):
                go = g[:, lo: lo + m].reshape(-1, co)
                if a in written:
                    grad_w[a].view(co, k).addmm_(go.t(), v[:, src: src + m].reshape(-1, k))
                else:
                    torch.mm(go.t(), v[:, src: src + m].reshape(-1, k), out=grad_w[a].view(co, k))
                    written.add(a)
                if need_x:
                    gc[:, src: src + m] += (go @ taps_w[a].view(co, k)).view(n, m, j, k)
            grads_x.append(_joint_taps_backward(gc.view(n, t, j, 3, c), d) if need else None)
            start += r
        for a in set(range(kt)) - written:
            grad_w[a].zero_()
        return (grad_w.permute(1, 3, 0, 2), grad.sum(0) if ctx.has_bias else None, None, *grads_x)


@functools.lru_cache(maxsize=64)
def _time_matrix(frames: int, down: bool) -> torch.Tensor:
    """The (T', T) matrix of Downsample's (``down``) or Upsample's time step on T frames: frame 0
    kept apart when T is odd; pairs averaged (0.5, 0.5), or linear interpolation with corners
    aligned, its weights computed in float32 as ``F.interpolate`` computes them."""
    first = frames % 2
    rest = frames - first
    out = (rest // TIME_FACTOR if down else TIME_FACTOR * rest) if rest else 0
    m = torch.zeros(first + out, frames)
    if first:
        m[0, 0] = 1.0
    if down:
        for i in range(out):
            m[first + i, first + TIME_FACTOR * i: first + TIME_FACTOR * (i + 1)] = 1.0 / TIME_FACTOR
    elif out:
        scale = torch.tensor((rest - 1) / (out - 1) if out > 1 else 0.0, dtype=torch.float32)
        src = torch.arange(out, dtype=torch.float32) * scale
        i0 = src.to(torch.int64).clamp(max=rest - 1)
        w1 = src - i0
        i1 = (i0 + 1).clamp(max=rest - 1)
        rows = torch.arange(out) + first
        m[rows, first + i0] += 1.0 - w1
        m[rows, first + i1] += w1
    return m


def _resample_time_rows(x: torch.Tensor, down: bool) -> torch.Tensor:
    """Downsample's / Upsample's time step on a ``(n, t, J, C)`` segment, one matrix product."""
    n, t, j, c = x.shape
    m = _time_matrix(t, down).to(device=x.device, dtype=x.dtype)
    return torch.matmul(m, x.view(n, t, j * c)).view(n, m.shape[0], j, c)


def _split_rows(rows: torch.Tensor, like: list[torch.Tensor]) -> list[torch.Tensor]:
    out, start = [], 0
    for s in like:
        r = s.shape[0] * s.shape[1] * s.shape[2]
        out.append(rows[start: start + r].view(*s.shape[:3], rows.shape[1]))
        start += r
    return out


def _conv_rows(conv: nn.Module, segments: list[torch.Tensor], dilation: int = 1) -> list[torch.Tensor]:
    """A module convolution (3x3 or 1x1 ``Conv2d``, or the joints' ``Conv1d``) on segments."""
    w = conv.weight
    if w.ndim == 3:  # Conv1d over joints: a (1, 3) kernel
        w = w.unsqueeze(2)
    if w.shape[2:] == (1, 1):
        return [F.linear(x, w.view(w.shape[0], w.shape[1]), conv.bias) for x in segments]
    return _split_rows(_TapConv.apply(w, conv.bias, dilation, *segments), segments)


def _gn_silu_rows(norm: nn.GroupNorm, segments: list[torch.Tensor]) -> list[torch.Tensor]:
    """GroupNorm then SiLU of each segment (statistics per chunk, as the modules compute them)."""
    out = []
    for x in segments:
        y = F.group_norm(x.permute(0, 3, 1, 2), norm.num_groups, norm.weight, norm.bias, norm.eps)
        out.append(F.silu(y).permute(0, 2, 3, 1).contiguous())
    return out


def _run_chunked_rows(net: nn.Module, x: torch.Tensor, chunk: int) -> torch.Tensor:
    """``_run_chunked`` on the wide CPU path: ``x`` (B, T, J, C) -> (B, T', J, C')."""
    lengths = _chunk_lengths(x.shape[1], chunk)
    b, _, j, c = x.shape
    segments = [x[:, : lengths[0]].contiguous()]
    if len(lengths) > 1:
        segments.append(x[:, lengths[0]:].reshape(b * (len(lengths) - 1), chunk, j, c))
    out = net.forward_rows(segments)
    if len(out) == 1:
        return out[0]
    head, rest = out
    return torch.cat([head, rest.reshape(b, -1, j, rest.shape[-1])], dim=1)


# --------------------------------------------------------------------------- quantizer


class EMAQuantizer(nn.Module):
    """Nearest-neighbour (L2) codebook with EMA updates and dead-code re-seeding.

    ``codebook`` (K, D) is the only saved tensor (upstream's ``vq.codebook``); it starts at
    zeros and is seeded from the first training batch. In training mode every call with
    ``update=True``: counts and sums of the assigned vectors are averaged with decay
    ``ema_decay`` and each code becomes sum / count; every ``reset_every`` steps the codes
    that no vector picked during those steps are replaced by random vectors of the current
    batch (their EMA statistics restart from that vector). The EMA statistics are
    non-persistent buffers, rebuilt as (codebook, count 1) after a load, as upstream does.
    Not synchronised across processes: under DDP each rank updates its own copy.
    """

    def __init__(self, codebook_size: int, code_dim: int, decay: float = 0.99, reset_every: int = 20):
        super().__init__()
        self.codebook_size, self.code_dim = codebook_size, code_dim
        self.decay, self.reset_every = decay, reset_every
        self.register_buffer("codebook", torch.zeros(codebook_size, code_dim))
        # EMA state, allocated at the first training step (None: not started).
        self.register_buffer("ema_count", None, persistent=False)  # (K,)
        self.register_buffer("ema_sum", None, persistent=False)  # (K, D)
        self.register_buffer("window_hits", None, persistent=False)  # (K,) picks since last re-seed
        self.steps_since_reset = 0
        self._norms: tuple | None = None  # (codebook version, (K,) squared row norms): _squared_norms

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self.ema_count = self.ema_sum = self.window_hits = None  # re-derive from the new codebook
        self.steps_since_reset = 0
        self._norms = None

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Ids of the nearest codes by L2. ``(N, D) -> (N,)`` int64 (computed in float32)."""
        z, book = z.float(), self.codebook.float()
        # ||c||^2 - 2 z.c in one matrix product; ||z||^2 is the same for every code of a row.
        dist = torch.addmm(self._squared_norms(book)[None], z, book.t(), alpha=-2.0)
        return dist.argmin(dim=1)

    def _book_key(self) -> tuple | None:
        """What identifies the codebook's contents; None for tensors made in inference mode
        (no version counter: their norms are computed afresh on every call)."""
        book = self.codebook
        if book.is_inference():
            return None
        return book.data_ptr(), book._version, book.device, book.dtype

    def _squared_norms(self, book: torch.Tensor) -> torch.Tensor:
        """``||c||^2`` of every code (float32), kept between calls: any write to the codebook
        (load, EMA step, ``copy_``, a move) changes its version and recomputes them, except the
        EMA step's own write, which updates the rows it changed."""
        key = self._book_key()
        if key is None or self._norms is None or self._norms[0] != key:
            self._norms = (key, (book * book).sum(1))
        return self._norms[1]

    def forward(self, z: torch.Tensor, update: bool = True):
        """``z`` (N, D) encoder outputs -> (quantised (N, D) with straight-through gradient,
        ids (N,), commit_loss, perplexity, usage)."""
        assert z.ndim == 2 and z.shape[1] == self.code_dim, f"expected (N, {self.code_dim}), got {tuple(z.shape)}"
        if self.training and update:
            self.start_ema(z.detach())
        ids = self.nearest(z.detach())
        q = F.embedding(ids, self.codebook).to(z.dtype)
        counts = torch.bincount(ids, minlength=self.codebook_size).float()
        if self.training and update:
            self.ema_update(z.detach(), ids, counts)
        commit_loss = F.mse_loss(z, q.detach())
        # Straight-through: values are exactly the codes, the gradient goes to z unchanged.
        q = q.detach() + (z - z.detach())
        prob = counts / counts.sum()
        perplexity = torch.exp(-(prob * torch.log(prob + 1e-10)).sum())
        usage = (counts > 0).float().mean()
        return q, ids, commit_loss, perplexity, usage

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """Code vectors of ``ids`` ``(...,) -> (..., D)``."""
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.codebook_size):
            raise ValueError(f"token ids must lie in [0, {self.codebook_size}), got [{int(ids.min())}, {int(ids.max())}]")
        return F.embedding(ids, self.codebook)

    def _random_rows(self, z: torch.Tensor, n: int) -> torch.Tensor:
        """``n`` rows drawn from ``z`` (N, D); with replacement plus a small jitter if N < n."""
        if z.shape[0] >= n:
            return z[torch.randperm(z.shape[0], device=z.device)[:n]]
        rows = z[torch.randint(z.shape[0], (n,), device=z.device)]
        return rows + torch.randn_like(rows) * (0.01 / math.sqrt(self.code_dim))

    @property
    def ema_started(self) -> bool:
        return self.ema_sum is not None

    @torch.no_grad()
    def start_ema(self, z: torch.Tensor) -> None:
        """Allocate the EMA statistics from the codebook (a fresh, all-zero codebook is first
        seeded with random rows of ``z`` (N, D), drawn from torch's global RNG); a no-op once
        started. A trainer that synchronises processes calls it with the global batch."""
        if self.ema_started:
            return
        if not bool(self.codebook.any()):  # fresh model: seed every code from the batch
            self.codebook.copy_(self._random_rows(z.float(), self.codebook_size))
        self.ema_sum = self.codebook.float().clone()
        self.ema_count = torch.ones(self.codebook_size, device=z.device)
        self.window_hits = torch.zeros(self.codebook_size, device=z.device)
        self.steps_since_reset = 0

    @torch.no_grad()
    def ema_update(self, z: torch.Tensor, ids: torch.Tensor, counts: torch.Tensor | None = None) -> None:
        """One EMA step from encoder outputs ``z`` (N, D) and their code ids (N,) (``counts``
        (K,): their bincount, computed if None): decayed counts and sums, codes = sum / count,
        and every ``reset_every`` steps dead codes re-seeded from ``z`` (global RNG). Needs
        ``start_ema`` first. ``forward`` calls it with the local batch; a trainer may call it
        with the all-gathered batch so that every process updates alike."""
        if not self.ema_started:
            raise RuntimeError("ema_update before start_ema: the EMA statistics are not allocated")
        if counts is None:
            counts = torch.bincount(ids, minlength=self.codebook_size).float()
        z = z.float()
        self.ema_count.mul_(self.decay).add_(counts, alpha=1.0 - self.decay)
        # decay * sum + (1 - decay) * (sum of the assigned vectors), without a (K, D) temporary
        self.ema_sum.mul_(self.decay).index_add_(0, ids, z, alpha=1.0 - self.decay)
        self.window_hits.add_(counts)
        changed = counts > 0
        self.steps_since_reset += 1
        if self.steps_since_reset >= self.reset_every:
            dead = self.window_hits == 0
            n_dead = int(dead.sum())
            if n_dead:
                self.ema_sum[dead] = self._random_rows(z, n_dead)
                self.ema_count[dead] = 1.0
                changed |= dead
            self.window_hits.zero_()
            self.steps_since_reset = 0
        # Unpicked codes keep sum / count (both decayed alike); leaving them untouched
        # also keeps them free of rounding drift.
        book = self.ema_sum[changed] / self.ema_count[changed].clamp_min(1e-5)[:, None]
        key = self._book_key()
        current = key is not None and self._norms is not None and self._norms[0] == key
        self.codebook[changed] = book.to(self.codebook.dtype)
        if current:
            rows = self.codebook[changed].float()
            self._norms[1][changed] = (rows * rows).sum(1)
            self._norms = (self._book_key(), self._norms[1])


# --------------------------------------------------------------------------- tokenizer


class MotionTokenizer(ModelMixin, ConfigMixin):
    """4DMoT: ``(B, T, J, 3)`` normalised joints <-> ``(B, N * J)`` codebook ids.

    A diffusers model built from one ``TokenizerConfig``: ``MotionTokenizer(config)`` or
    ``from_config`` (a config dict) for fresh weights, ``from_pretrained`` / ``save_pretrained``
    for folders, ``load_mtvcrafter_checkpoint`` for the released file. ``self.config`` is the
    typed ``TokenizerConfig``; diffusers' own copy (what ``save_config`` writes) holds the same
    fields in JSON form.
    """

    config_name = CONFIG_NAME

    def __init__(self, config: TokenizerConfig | None = None):
        super().__init__()
        config = config or TokenizerConfig()
        if not isinstance(config, TokenizerConfig):
            raise TypeError(f"MotionTokenizer takes a TokenizerConfig, got {type(config).__name__}; "
                            "build from a dict with MotionTokenizer.from_config")
        self.register_to_config(**config.to_dict())
        self._sizes = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.vq = EMAQuantizer(config.codebook_size, config.code_dim, config.ema_decay, config.reset_every)

    @property
    def config(self) -> TokenizerConfig:
        return self._sizes

    @classmethod
    def from_config(cls, config: TokenizerConfig | Mapping[str, Any], **overrides: Any) -> "MotionTokenizer":
        """A freshly initialised model from a ``TokenizerConfig`` or its dict form (a
        ``config.json``'s contents, diffusers' ``load_config``), with field ``overrides``.
        Unknown fields raise ValueError (diffusers' default would ignore them with a warning)."""
        raw = config.to_dict() if isinstance(config, TokenizerConfig) else dict(config)
        return cls(TokenizerConfig.from_dict({**raw, **overrides}, source=f"{cls.__name__}.from_config"))

    # ---- lengths

    def _encoded_frames(self, num_frames: int) -> int:
        return sum(_stage_frames(n, down=True) for n in _chunk_lengths(num_frames, self.config.encoder_chunk_frames))

    def _decoded_frames(self, token_frames: int) -> int:
        return sum(_stage_frames(n, down=False) for n in _chunk_lengths(token_frames, self.config.decoder_chunk_tokens))

    def _is_valid_length(self, num_frames: int) -> bool:
        n = 1 + (num_frames - 1) // (TIME_FACTOR * TIME_FACTOR)
        return (
            num_frames >= max(1, self.config.encoder_chunk_frames)
            and (num_frames - 1) % (TIME_FACTOR * TIME_FACTOR) == 0
            and self._encoded_frames(num_frames) == n
            and self._decoded_frames(n) == num_frames
        )

    def valid_lengths(self, up_to: int = 100) -> list[int]:
        """Clip lengths the tokenizer round-trips, up to ``up_to`` ([9, 17, 25, ...] at the presets)."""
        return [t for t in range(1, up_to + 1) if self._is_valid_length(t)]

    def token_frames(self, num_frames: int) -> int:
        """Token frames for a clip of ``num_frames``: ``1 + (T - 1) // 4`` (49 -> 13).

        Valid T round-trip exactly: T = 4k + 1 (first frame apart, then 4 frames a token)
        and, with upstream's chunking (8 frames / 2 token frames), an odd number of token
        frames, so T = 8k + 1 >= 9. Anything else raises ``ValueError``."""
        if not self._is_valid_length(num_frames):
            raise ValueError(
                f"unsupported clip length T={num_frames}: this tokenizer (encoder chunks "
                f"{self.config.encoder_chunk_frames} frames, decoder chunks {self.config.decoder_chunk_tokens} "
                f"token frames) round-trips only T in {self.valid_lengths(60)}..."
            )
        return 1 + (num_frames - 1) // (TIME_FACTOR * TIME_FACTOR)

    # ---- checks

    def _check_joints(self, joints: torch.Tensor) -> None:
        j = self.config.num_joints
        if not isinstance(joints, torch.Tensor) or joints.ndim != 4:
            raise ValueError(f"joints must be a (B, T, {j}, 3) tensor, got {getattr(joints, 'shape', type(joints))}")
        if joints.shape[2] != j or joints.shape[3] != self.config.in_channels:
            raise ValueError(
                f"joints must be (B, T, {j}, {self.config.in_channels}), got {tuple(joints.shape)} "
                f"({joints.shape[2]} joints x {joints.shape[3]} coordinates)"
            )
        if not joints.is_floating_point():
            raise ValueError(f"joints must be floating point, got {joints.dtype}")
        self.token_frames(joints.shape[1])
        if joints.device.type != "meta" and not bool(torch.isfinite(joints).all()):
            bad = (~torch.isfinite(joints)).nonzero()[0].tolist()
            raise ValueError(f"joints contain NaN/inf (first at index {bad}); clean or mask the clip first")

    # ---- encode / decode

    def encode_latents(self, joints: torch.Tensor) -> torch.Tensor:
        """``(B, T, J, 3) -> (B * N * J, D)`` continuous encoder outputs, frame-major."""
        self._check_joints(joints)
        p = next(self.parameters())
        x = joints.to(device=p.device, dtype=p.dtype)
        if self._rows_path(x):
            z = _run_chunked_rows(self.encoder, x.contiguous(), self.config.encoder_chunk_frames)  # (B, N, J, D)
            return z.reshape(-1, self.config.code_dim)
        z = _run_chunked(self.encoder, x.permute(0, 3, 1, 2), self.config.encoder_chunk_frames)  # (B, D, N, J)
        return z.permute(0, 2, 3, 1).reshape(-1, self.config.code_dim)

    def decode_latents(self, q: torch.Tensor, batch: int) -> torch.Tensor:
        """``(B * N * J, D)`` frame-major code vectors -> ``(B, T, J, 3)``."""
        j, d = self.config.num_joints, self.config.code_dim
        x = q.reshape(batch, -1, j, d)  # (B, N, J, D)
        if self._rows_path(x):
            return _run_chunked_rows(self.decoder, x.contiguous(), self.config.decoder_chunk_tokens)
        y = _run_chunked(self.decoder, x.permute(0, 3, 1, 2), self.config.decoder_chunk_tokens)  # (B, 3, T, J)
        return y.permute(0, 2, 3, 1)

    def _rows_path(self, x: torch.Tensor) -> bool:
        """Whether to run the wide CPU path (see ``GEMM_MIN_WIDTH``) rather than the modules
        (which also serve GPUs and CPU autocast)."""
        return (x.device.type == "cpu" and min(self.config.widths) >= GEMM_MIN_WIDTH
                and not torch.is_autocast_enabled("cpu"))

    _encode_latents = encode_latents  # the earlier private names
    _decode_latents = decode_latents

    def encode(self, joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T, J, 3)`` -> ids ``(B, N * J)`` and their code vectors ``(B, N * J, D)``
        (straight-through, so gradients reach the encoder). Never updates the codebook."""
        b = joints.shape[0] if isinstance(joints, torch.Tensor) else 0
        z = self.encode_latents(joints)
        q, ids, _, _, _ = self.vq(z, update=False)
        return ids.reshape(b, -1), q.reshape(b, -1, self.config.code_dim)

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """ids ``(B, N * J)`` or code vectors ``(B, N * J, D)`` -> joints ``(B, T, J, 3)``,
        ``T = 4 (N - 1) + 1``; N must come from a valid T (odd at the presets)."""
        j, d = self.config.num_joints, self.config.code_dim
        if tokens.ndim == 2 and not tokens.is_floating_point():
            tokens = self.vq.lookup(tokens.to(self.vq.codebook.device))
        if tokens.ndim != 3 or tokens.shape[2] != d or tokens.shape[1] % j:
            raise ValueError(f"decode expects ids (B, N*{j}) or embeddings (B, N*{j}, {d}), got {tuple(tokens.shape)}")
        n = tokens.shape[1] // j
        self.token_frames(TIME_FACTOR * TIME_FACTOR * (n - 1) + 1)
        p = next(self.parameters())
        return self.decode_latents(tokens.to(device=p.device, dtype=p.dtype), tokens.shape[0])

    def forward(self, joints: torch.Tensor) -> TokenizerOutput:
        """Encode, quantise (EMA codebook update in training mode), decode.
        ``(B, T, J, 3) -> TokenizerOutput`` with ``recon`` ``(B, T, J, 3)``."""
        z = self.encode_latents(joints)
        q, ids, commit_loss, perplexity, usage = self.vq(z, update=True)
        recon = self.decode_latents(q, joints.shape[0])
        return TokenizerOutput(recon, commit_loss, perplexity, usage, ids.reshape(joints.shape[0], -1))

    # ---- files

    def save_pretrained(self, save_directory: str | os.PathLike, variant: str | None = None) -> None:
        """Write ``config.json`` (diffusers' ``save_config``) and ``model.safetensors``
        (``model.<variant>.safetensors`` with ``variant``) into ``save_directory``, each atomically."""
        from safetensors.torch import save_file

        from sportanim.io.files import atomic_file

        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        with atomic_file(folder / _variant_name(WEIGHTS_NAME, variant)) as tmp:
            save_file(state, str(tmp), metadata={"format": "pt"})
        with atomic_file(folder / CONFIG_NAME) as tmp:
            self.to_json_file(tmp)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        subfolder: str | None = None,
        variant: str | None = None,
        torch_dtype: torch.dtype | None = None,
        device: str | torch.device = "cpu",
    ) -> "MotionTokenizer":
        """Load a local folder strictly, in eval mode: ``config.json`` plus ``model.safetensors``
        (``save_pretrained``) or diffusers' ``diffusion_pytorch_model.safetensors``
        (``ModelMixin.save_pretrained``), ``.<variant>`` before the suffix with ``variant``.

        The model is first built on the meta device: a config above ``MAX_VALUES`` values, or
        weights whose names or shapes do not fit it (read from the file header), raise a
        ValueError naming the file before any weight is allocated; a missing file raises
        FileNotFoundError, a truncated or corrupt one ValueError. The tensors are then copied
        exactly into float32 weights on ``device`` and cast to ``torch_dtype`` if given."""
        folder = Path(pretrained_model_name_or_path, subfolder or "")
        config = _read_config(folder / CONFIG_NAME)
        weights = _weights_file(folder, variant)
        with torch.device("meta"):
            model = build_checked(cls, config, str(folder / CONFIG_NAME))
        state = _read_weights(weights, model)
        model = model.to_empty(device=device)
        model.load_state_dict(state, strict=True)
        if torch_dtype is not None:
            # nn.Module.to: ModelMixin.to warns about float32-kept modules on every dtype cast,
            # even with none declared (diffusers 0.42).
            model = nn.Module.to(model, dtype=torch_dtype)
        return model.eval()

    def load_mtvcrafter_checkpoint(self, path: str | Path) -> "MotionTokenizer":
        """Load MTVCrafter's released ``4DMoT/mp_rank_00_model_states.pt`` (a DeepSpeed
        file, state dict under ``module``) strictly into this model; returns ``self``."""
        from sportanim.io.tensors import load_plain_tensors

        blob = load_plain_tensors(path)
        if not isinstance(blob, dict) or not isinstance(blob.get("module"), dict):
            keys = list(blob)[:8] if isinstance(blob, dict) else type(blob).__name__
            raise ValueError(f"{path}: expected a dict with the state dict under 'module', got {keys}")
        _load_strict(self, blob["module"], str(path))
        return self


def _variant_name(name: str, variant: str | None) -> str:
    """``model.safetensors`` -> ``model.<variant>.safetensors`` (diffusers' naming)."""
    return name.replace(".safetensors", f".{variant}.safetensors") if variant else name


def _read_config(path: Path) -> TokenizerConfig:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: a tokenizer folder holds {CONFIG_NAME} + {WEIGHTS_NAME} "
                                "(MotionTokenizer.save_pretrained)")
    try:
        raw = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a JSON file ({err}); save the tokenizer again with save_pretrained") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a JSON object of tokenizer sizes, got {type(raw).__name__}")
    if raw.get("_class_name", MotionTokenizer.__name__) != MotionTokenizer.__name__:
        raise ValueError(f"{path}: a config for {raw['_class_name']}, not a {MotionTokenizer.__name__}")
    return TokenizerConfig.from_dict(raw, str(path))


def _weights_file(folder: Path, variant: str | None) -> Path:
    names = [_variant_name(n, variant) for n in (WEIGHTS_NAME, SAFETENSORS_WEIGHTS_NAME)]
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{folder}: no {names[0]} (nor {names[1]}) beside {CONFIG_NAME}; "
                            "MotionTokenizer.save_pretrained writes both")


# What each large tensor's size comes from, to name the config field that is off.
_SIZE_FIELDS = {"vq.codebook": ("codebook_size", "code_dim"), "encoder.conv_out.weight": ("code_dim", "widths"),
                "decoder.conv_in.weight": ("code_dim", "widths")}


def build_checked(cls: type[MotionTokenizer], config: TokenizerConfig, source: str) -> MotionTokenizer:
    """``cls(config)`` on the current device (meta in ``from_pretrained``); refuses a model of
    more than ``MAX_VALUES`` values with a ValueError naming ``source`` and the fields."""
    try:
        model = cls(config)
    except (TypeError, RuntimeError, OverflowError) as err:  # a tensor size beyond int64
        sizes = f"codebook_size={config.codebook_size}, code_dim={config.code_dim}, widths={list(config.widths)}"
        raise ValueError(f"{source}: {sizes} are too large to build a tokenizer ({str(err).splitlines()[0]}); "
                         "fix them in that file") from None
    sizes = {k: v.numel() for k, v in model.state_dict().items()}
    total = sum(sizes.values())
    if total > MAX_VALUES:
        biggest = max(sizes, key=sizes.get)
        names = _SIZE_FIELDS.get(biggest, ("widths", "blocks_per_stage"))
        raw = config.to_dict()
        values = ", ".join(f"{n}={raw[n]}" for n in names)
        raise ValueError(
            f"{source}: {values} make a tokenizer of {total:,} values ({4 * total / 1e9:,.0f} GB in float32), "
            f"above the {MAX_VALUES:,} a 4DMoT can plausibly have (the released one: 73,488,899); the largest "
            f"tensor is {biggest} {tuple(model.state_dict()[biggest].shape)}. Fix {' / '.join(names)} in that file."
        )
    return model


def _read_weights(path: Path, model: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors of safetensors file ``path``, after checking their names and shapes
    (from the header, before reading any data) against ``model``'s."""
    try:
        with safe_open(str(path), framework="pt") as f:
            _check_shapes(model, {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}, str(path))
            return {k: f.get_tensor(k) for k in f.keys()}
    except SafetensorError as err:
        raise ValueError(f"{path}: not a readable safetensors file, truncated or corrupt ({err}); "
                         "save the tokenizer again with save_pretrained") from None


def _check_shapes(model: nn.Module, found: dict[str, Any], source: str) -> None:
    """Raise a ValueError naming the first tensor of ``model`` missing from ``found`` (name ->
    shape tuple, or a non-tensor's type name) or shaped differently, then the first extra one."""
    own = model.state_dict()
    for name, tensor in own.items():
        if name not in found:
            raise ValueError(f"{source}: tensor '{name}' {tuple(tensor.shape)} is missing from the file")
        if found[name] != tuple(tensor.shape):
            raise ValueError(
                f"{source}: shape mismatch for '{name}': expected {tuple(tensor.shape)}, got {found[name]} "
                f"(is the config right? this model: {getattr(model, 'config', None)})"
            )
    extra = [k for k in found if k not in own]
    if extra:
        raise ValueError(f"{source}: unexpected tensor '{extra[0]}' ({len(extra)} unexpected in all)")


def _load_strict(model: nn.Module, state: dict, source: str) -> None:
    """``load_state_dict(strict=True)`` after naming the first missing, unexpected or
    wrongly shaped tensor (expected = this model, got = the file)."""
    found = {k: tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__ for k, v in state.items()}
    _check_shapes(model, found, source)
    model.load_state_dict(state, strict=True)
