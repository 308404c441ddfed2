"""Memory planning: how many bytes a training step or a generation needs per GPU.

``plan_memory`` adds up, per GPU, the weights, gradients, optimizer states and
activations of the models a strategy loads, from their REAL parameter counts (each model is
built on the meta device) and layer shapes (token counts from the VAE compression and the
patch size, motion tokens, heads, widths). No constant is guessed; every term below is
counted.

Resident bytes (Ψ trainable parameters, dtype bytes e):
- weights: all parameters and buffers in ``dtype``; frozen ones (LoRA's base, the DiT's
  unused ``text_proj``) carry no gradient and no optimizer state.
- gradients: Ψe. With ``master_weights`` (the default for bf16 training, as DeepSpeed and FSDP
  mixed precision do) the optimizer keeps an fp32 copy of the trainable weights (4Ψ).
- optimizer states: AdamW keeps two moments, fp32 with master weights (8Ψ) or in ``dtype``
  (2Ψe); 8-bit AdamW (bitsandbytes) keeps two 1-byte moments plus one fp32 absmax per
  256-value block (2Ψ + 8Ψ/256).
- ZeRO on G GPUs (the ZeRO paper's stages): 1 shards optimizer states and master weights by
  G, 2 also gradients, 3 also weights; stage 3 then gathers two blocks' full weights at a
  time (the current one and the prefetched next). Plain DDP on several GPUs (zero=0) copies
  the gradients into its communication buckets: one more Ψe.

DiT activations, counted per block from the ops autograd saves (B batch, S video tokens =
latent frames x (h/p) x (w/p), N motion tokens, D = heads x head_dim, m = the MLP's width
ratio; one "unit" is a (B, S, D) tensor in dtype):
- norm1: the block input (LayerNorm), LayerNorm output (scale multiply), the concatenated
  (empty text ++ video) stream the q/k/v projections read: 3 units;
- self-attention: q and k projections (their per-head LayerNorms), v, normed+RoPE'd q and k,
  the attention output (flash-style SDPA saves q, k, v, out and a (B, H, S) log-sum-exp, never
  the S x S matrix), its head-merged copy (to_out) and to_out's output (gate multiply): 8;
- the residual sum the motion attention reads: 1;
- motion attention: q projection, RoPE'd q, output, merged copy: 4 units; and per block the
  motion keys (projection and RoPE'd) and values: 3 (B, N, D) tensors;
- the residual sum (norm2's input), norm2's LayerNorm output and its modulated output: 3;
- feed-forward: the up-projection output (GELU's input, m units), the GELU output (m) and the
  down-projection output (gate multiply, 1): 2m + 1.
Total ``(20 + 2m)`` units + 3 (B, N, D) + fp32 LayerNorm statistics (mean and rstd per
normalised row) and attention log-sum-exps. Shared by all blocks: the motion tokens and the
RoPE tables. After the blocks: final LayerNorm input/output, modulated output, projection
input: 4 units. Gradient checkpointing saves only each block's input (1 unit) and recomputes
one block during its backward.

The step's peak is the largest of three moments, walked block by block: the end of the
forward/start of the backward (all saved activations, the head's, the output gradient); the
backward of block j (blocks < j still saved, block j's activations plus its backward
working set, the gradients of blocks > j already accumulated); the optimizer step (all
gradients plus its temporaries: none for a fused AdamW, one copy of the states for torch's
foreach, two copies of the largest tensor for the for-loop kernel torch runs on the CPU).
The backward working set of a block is the feed-forward's: the incoming stream gradient, the
gated branch's gradient and one (B, S, mD) gradient (when GELU's gradient is made, the
down-projection has already freed its saved input): (2 + m) units.

Generation (no gradients) keeps, per block, only the live stream: the FF's input, its
normed copy, the up-projection and the GELU output ((2 + 2m) units at CFG batch 2B), plus
the motion K/V cache (2 x layers x (2B, N, D)). The VAE decode and the tokenizer have
irregular working sets (causal conv caches, frame batches), so they are *traced*: run once
on fake tensors (no memory, no compute) while a dispatch hook adds and subtracts every
tensor's storage as it is made and freed; the same trace gives the tokenizer's training
activations. CPU-offload (diffusers' model offload) holds one model on the GPU at a time.

Validation (``measure_dit_step``, tests/test_memory.py, docs/memory.md): on the CPU the real
peak is read from the PyTorch profiler's allocator events (``profile_memory=True``: every
tensor allocation and free with its byte count, in order; the running sum's maximum is the
peak of live tensor bytes, the CPU counterpart of ``torch.cuda.max_memory_allocated``).
tracemalloc cannot see torch's allocations and process RSS mixes in the allocator's caching.
"""

from __future__ import annotations

import math
import re
import weakref
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from sportanim.models.pipeline import PIPELINE_PRESETS
from sportanim.train.config import STRATEGY_NAMES
from sportanim.train.diffusion import LORA_TARGETS

GIB = 1024**3
OPTIMIZERS = ("adamw", "adamw8bit")
ADAM_KERNELS = ("fused", "foreach", "for-loop")
MODES = ("train", "generate")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
BNB_BLOCK = 256  # bitsandbytes' 8-bit Adam quantises moments in blocks of 256 values


class MemoryPlanError(ValueError):
    """Settings a memory plan cannot be made for."""


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class MemoryItem:
    """One line of a plan: bytes per GPU and how they were counted."""

    name: str
    bytes: int
    note: str = ""


@dataclass(frozen=True)
class MemoryPlan:
    """Per-GPU peak of one step (training) or one generation, as named items that add up to
    ``peak_bytes``; ``other_moments`` gives the peaks of the moments that are not the largest."""

    settings: dict[str, Any]
    items: tuple[MemoryItem, ...]
    peak_moment: str
    other_moments: dict[str, int] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)  # trainable / frozen parameter counts

    @property
    def peak_bytes(self) -> int:
        return sum(item.bytes for item in self.items)

    @property
    def peak_gib(self) -> float:
        return self.peak_bytes / GIB


# --------------------------------------------------------------------------- model shapes


@dataclass(frozen=True)
class DiTShape:
    """What the activation count needs from an MV-DiT, read from a meta-device instance."""

    layers: int
    heads: int
    head_dim: int
    motion_dim: int
    motion_tokens: int
    ff_ratio: int  # the MLP's hidden width / D
    patch: int
    in_channels: int
    out_channels: int
    params: int  # all parameters
    block_params: int  # one block's
    frozen_params: int  # never trained (text_proj)
    largest_tensor: int  # values in the largest parameter
    lora_pairs: tuple[tuple[int, int], ...]  # (in, out) of each LoRA target linear in one block

    @property
    def dim(self) -> int:
        return self.heads * self.head_dim

    def lora_params(self, rank: int) -> int:
        return self.layers * sum(rank * (i + o) for i, o in self.lora_pairs)


@lru_cache(maxsize=16)
def dit_shape(preset: str, **overrides: Any) -> DiTShape:
    """Shapes and parameter counts of ``MVDiT.from_preset(preset, **overrides)``, built on the
    meta device (no memory) with one block: every block is the same, so the count is the
    one-block model's plus (layers - 1) blocks."""
    from sportanim.models.dit import DIT_PRESETS, MVDiT

    layers = overrides.get("num_layers", DIT_PRESETS.get(preset, {}).get("num_layers", 1))
    with torch.device("meta"):
        model = MVDiT.from_preset(preset, **{**overrides, "num_layers": 1})
    cfg, block = model.config, model.transformer_blocks[0]
    lora = tuple((m.in_features, m.out_features) for name, m in block.named_modules()
                 if isinstance(m, torch.nn.Linear) and re.fullmatch(LORA_TARGETS, f"transformer_blocks.0.{name}"))
    return DiTShape(
        layers=layers, heads=cfg.num_attention_heads, head_dim=cfg.attention_head_dim,
        motion_dim=model.motion_dim, motion_tokens=cfg.num_motion_tokens,
        ff_ratio=block.ff.net[2].in_features // block.ff.net[2].out_features,
        patch=cfg.patch_size, in_channels=cfg.in_channels, out_channels=cfg.out_channels,
        params=_count(model) + (layers - 1) * _count(block), block_params=_count(block),
        frozen_params=_count(model.patch_embed.text_proj),
        largest_tensor=max(p.numel() for p in model.parameters()), lora_pairs=lora,
    )


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _state_bytes(module: torch.nn.Module, e: int) -> int:
    """Parameters and floating buffers in ``e`` bytes each (integer buffers as they are)."""
    buffers = sum(b.numel() * (e if b.is_floating_point() else b.element_size()) for b in module.buffers())
    return _count(module) * e + buffers


def build_tokenizer(preset: str):
    from sportanim.models.tokenizer import TOKENIZER_PRESETS, MotionTokenizer

    return MotionTokenizer(TOKENIZER_PRESETS[preset])


def build_vae(preset: str):
    from sportanim.models.vae import build_vae as build

    return build(preset)


@lru_cache(maxsize=16)
def video_grid(vae_preset: str, frames: int, height: int, width: int) -> tuple[int, int, int, int]:
    """Latent (frames, channels, h, w) of a ``frames x height x width`` clip under ``vae_preset``."""
    from sportanim.models import vae as vae_lib

    with torch.device("meta"):
        vae = build_vae(vae_preset)
    s = vae_lib.spatial_factor(vae)
    if height % s or width % s:
        raise MemoryPlanError(f"height and width ({height}, {width}) must be multiples of the VAE's {s}x downsampling")
    return vae_lib.latent_frames(vae, frames), vae.config.latent_channels, height // s, width // s


# --------------------------------------------------------------------------- DiT activations


@dataclass(frozen=True)
class DiTActivations:
    """Bytes of one training step's DiT activations (see the module notes)."""

    block: int  # saved by one block, no checkpointing
    block_ckpt: int  # saved by one checkpointed block (its input)
    backward_work: int  # a block's backward working set on top of its saved tensors
    shared: int  # motion tokens and RoPE tables, read by every block
    head: int  # saved after the blocks
    io: int  # latents in, prediction and target out


def dit_activations(shape: DiTShape, batch: int, tokens: int, latent_values: int, e: int) -> DiTActivations:
    """Saved-tensor bytes of the MV-DiT for ``batch`` clips of ``tokens`` video tokens;
    ``latent_values`` = F x h x w of one clip's latents; ``e`` bytes per value."""
    b, s, n, d, h, m = batch, tokens, shape.motion_tokens, shape.dim, shape.heads, shape.ff_ratio
    unit = b * s * d * e
    stats = 4 * (2 * 2 * b * s + 2 * 2 * b * h * s + 2 * b * h * s + 2 * b * h * n + 2 * b * h * s)
    rope = 4 * 2 * (s + n) * shape.head_dim  # fp32 (cos, sin) for video and motion
    io = b * latent_values * (2 * shape.in_channels + 2 * shape.out_channels) * e
    return DiTActivations(
        block=(20 + 2 * m) * unit + 3 * b * n * d * e + stats,
        block_ckpt=unit,
        backward_work=(2 + m) * unit,
        shared=b * n * shape.motion_dim * e + rope,
        head=4 * unit + 4 * 2 * 2 * b * s,
        io=io,
    )


def dit_backward_peak(shape: DiTShape, act: DiTActivations, checkpointing: bool,
                      block_grad: int, head_grad: int) -> tuple[int, str]:
    """Largest live activation + gradient bytes during forward/backward, walking the backward
    block by block; returns (bytes, where)."""
    saved = act.block_ckpt if checkpointing else act.block
    stream_grad = act.block_ckpt  # gradient of the residual stream, (B, S, D)
    best, where = act.shared + act.io + shape.layers * saved + act.head + stream_grad, "end of forward"
    grads = head_grad
    for j in reversed(range(shape.layers)):
        live = act.shared + act.io + j * saved + act.block + act.backward_work + grads + block_grad
        if live > best:
            best, where = live, f"backward of block {j}"
        grads += block_grad
    return best, where


# --------------------------------------------------------------------------- tracing


class LiveTensorBytes(TorchDispatchMode):
    """Adds every new tensor storage an op makes and subtracts it when freed; ``peak`` is the
    most bytes alive at once. Under ``FakeTensorMode`` it plans without allocating."""

    def __init__(self) -> None:
        super().__init__()
        self.live = self.peak = 0
        self._refs: dict[int, weakref.ref] = {}

    def _freed(self, key: int, nbytes: int) -> None:
        self.live -= nbytes
        self._refs.pop(key, None)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        returns = func._schema.returns
        for i, t in enumerate(out if isinstance(out, (tuple, list)) else (out,)):
            if not isinstance(t, torch.Tensor) or (i < len(returns) and returns[i].alias_info is not None):
                continue  # views and in-place results own no new storage
            storage = t.untyped_storage()
            key = id(storage)
            if key not in self._refs:
                n = storage.nbytes()
                self._refs[key] = weakref.ref(storage, lambda _, k=key, n=n: self._freed(k, n))
                self.live += n
                self.peak = max(self.peak, self.live)
        return out


@contextmanager
def _default_dtype(dtype: torch.dtype):
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def traced_peak(build: Callable[[], Any], run: Callable[[Any], Any], dtype: torch.dtype, fake: bool = True) -> int:
    """Peak live bytes of ``run(build())``, not counting what ``build`` made; on fake tensors,
    or on real ones (``fake=False``) for models whose forward reads values (the 4DMoT's
    codebook statistics)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode(allow_non_fake_inputs=True) if fake else nullcontext(), _default_dtype(dtype):
        model = build()  # made in dtype: .to() cannot swap fake parameters
        tracer = LiveTensorBytes()
        with tracer:
            run(model)
    return tracer.peak


def vae_decode_peak(preset: str, batch: int, frames: int, height: int, width: int, dtype: torch.dtype,
                    tiling: bool = False) -> int:
    """Traced peak bytes of decoding ``batch`` clips (weights not included)."""
    from sportanim.models import vae as vae_lib

    f, c, h, w = video_grid(preset, frames, height, width)

    def run(vae):
        vae_lib.set_memory_savers(vae, tiling=tiling)
        with torch.no_grad():
            vae_lib.decode_latents(vae, torch.zeros(batch, f, c, h, w, dtype=dtype))

    return traced_peak(lambda: build_vae(preset).eval(), run, dtype)


def tokenizer_peak(preset: str, batch: int, frames: int, dtype: torch.dtype, train: bool) -> int:
    """Traced peak bytes of a 4DMoT training forward+backward (``train``; parameter gradients
    included) or a no-grad encode, for ``batch`` clips of ``frames`` frames."""

    def run(tok):
        joints = torch.zeros(batch, frames, tok.config.num_joints, 3, dtype=dtype)
        if not train:
            with torch.no_grad():
                tok.encode(joints)
            return
        tok.train()
        out = tok(joints)
        ((out.recon - joints).abs().mean() + out.commit_loss).backward()

    return traced_peak(lambda: build_tokenizer(preset), run, dtype, fake=False)


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Optimizer:
    """Bytes per trainable parameter kept by the optimizer, and its step's temporaries."""

    master: float  # fp32 master copy
    states: float  # the two moments

    @classmethod
    def of(cls, name: str, e: int, master_weights: bool) -> "_Optimizer":
        master = 4.0 if master_weights else 0.0
        if name == "adamw8bit":
            return cls(master, 2.0 + 2 * 4.0 / BNB_BLOCK)
        return cls(master, 2 * (4.0 if master_weights else e))


def _check(name: str, value: Any, allowed) -> None:
    if value not in allowed:
        raise MemoryPlanError(f"{name} must be one of {tuple(allowed)}, got {value!r}")


def _check_settings(s: dict[str, Any]) -> None:
    _check("config", s["config"], PIPELINE_PRESETS)
    _check("strategy", s["strategy"], STRATEGY_NAMES)
    _check("optimizer", s["optimizer"], OPTIMIZERS)
    _check("adam_kernel", s["adam_kernel"], ADAM_KERNELS)
    _check("mode", s["mode"], MODES)
    _check("dtype", s["dtype"], DTYPES)
    _check("zero", s["zero"], (0, 1, 2, 3))
    for name in ("gpus", "batch", "frames", "height", "width"):
        if not isinstance(s[name], int) or s[name] < 1:
            raise MemoryPlanError(f"{name} must be a whole number >= 1, got {s[name]!r}")
    if s["lora_rank"] is not None and (not isinstance(s["lora_rank"], int) or s["lora_rank"] < 1):
        raise MemoryPlanError(f"lora_rank must be a whole number >= 1, got {s['lora_rank']!r}")
    if s["lora_rank"] is not None and s["strategy"] == "tokenizer":
        raise MemoryPlanError("lora_rank applies to the MV-DiT; the tokenizer strategy trains the 4DMoT fully")
    if s["zero"] and s["gpus"] == 1:
        raise MemoryPlanError("ZeRO shards over several GPUs; give gpus >= 2 with zero 1, 2 or 3")


def plan_memory(
    config: str = "mtvcrafter-7b",
    strategy: str = "diffusion",
    lora_rank: int | None = None,
    optimizer: str = "adamw",
    gpus: int = 1,
    zero: int = 0,
    gradient_checkpointing: bool = True,
    dtype: str = "bfloat16",
    mode: str = "train",
    height: int | None = None,
    width: int | None = None,
    frames: int = 49,
    batch: int = 1,
    master_weights: bool | None = None,
    adam_kernel: str = "fused",
    cpu_offload: bool = False,
    guidance: bool = True,
    vae_tiling: bool = False,
    dit_overrides: dict[str, Any] | None = None,
) -> MemoryPlan:
    """Per-GPU peak memory of one training step or one generation (see the module notes).

    ``config``: ``tiny`` | ``mtvcrafter-7b`` (the models' presets); ``strategy``: which model
    trains (``staged`` plans both stages and reports the larger); ``batch``: clips per GPU
    (generation doubles it for motion CFG when ``guidance``); ``height``/``width`` default to
    the config's video size; ``master_weights`` defaults to True for 16-bit training;
    ``adam_kernel``: fused (CUDA), foreach, for-loop (torch's CPU default);
    ``dit_overrides``: MV-DiT config changes (small validation models)."""
    sizes = PIPELINE_PRESETS.get(config, {})
    settings = dict(
        config=config, strategy=strategy, lora_rank=lora_rank, optimizer=optimizer, gpus=gpus, zero=zero,
        gradient_checkpointing=gradient_checkpointing, dtype=dtype, mode=mode,
        height=height or sizes.get("height", 512), width=width or sizes.get("width", 512), frames=frames,
        batch=batch, master_weights=master_weights, adam_kernel=adam_kernel, cpu_offload=cpu_offload,
        guidance=guidance, vae_tiling=vae_tiling, dit_overrides=dict(dit_overrides or {}),
    )
    _check_settings(settings)
    if settings["master_weights"] is None:
        settings["master_weights"] = mode == "train" and dtype != "float32"
    if mode == "generate":
        return _plan_generate(settings)
    if strategy == "tokenizer":
        return _plan_tokenizer(settings)
    dit = _plan_dit_train(settings)
    if strategy == "diffusion":
        return dit
    tok = _plan_tokenizer(settings)
    first, second = sorted([(tok, "stage 1 (tokenizer)"), (dit, "stage 2 (diffusion)")], key=lambda p: p[0].peak_bytes)
    big, name = second
    others = {**big.other_moments, f"{first[1]}: {first[0].peak_moment}": first[0].peak_bytes}
    return MemoryPlan(settings, big.items, f"{name}: {big.peak_moment}", others, big.params)


def _sharded(total: float, gpus: int, zero: int, stage: int) -> int:
    """``total`` bytes per GPU once ZeRO stage >= ``stage`` shards them over ``gpus``."""
    return int(math.ceil(total / gpus)) if zero >= stage else int(total)


def _resident(s: dict[str, Any], trainable: int, frozen_bytes: int, e: int, block_params: int) -> list[MemoryItem]:
    """Weights, master weights, optimizer states of a trained model, ZeRO-sharded."""
    g, z = s["gpus"], s["zero"]
    opt = _Optimizer.of(s["optimizer"], e, s["master_weights"])
    items = [MemoryItem("weights (trainable)", _sharded(trainable * e, g, z, 3), f"{trainable:,} params x {e} B"),
             MemoryItem("weights (frozen)", _sharded(frozen_bytes, g, z, 3), "no gradient, no optimizer state")]
    if opt.master:
        items.append(MemoryItem("master weights (fp32)", _sharded(trainable * opt.master, g, z, 1), "4 B / trainable param"))
    items.append(MemoryItem(f"optimizer states ({s['optimizer']})", _sharded(trainable * opt.states, g, z, 1),
                            f"{opt.states:g} B / trainable param"))
    if z == 3:
        items.append(MemoryItem("ZeRO-3 gathered weights", 2 * block_params * e, "current + prefetched block"))
    return items


def _grad_items(s: dict[str, Any], trainable: int, e: int) -> list[MemoryItem]:
    g, z = s["gpus"], s["zero"]
    items = [MemoryItem("gradients", _sharded(trainable * e, g, z, 2), f"{e} B / trainable param")]
    if g > 1 and z == 0:
        items.append(MemoryItem("DDP gradient buckets", trainable * e, "DDP's copy of the gradients for all-reduce"))
    return items


def _step_temporaries(s: dict[str, Any], trainable: int, largest: int, e: int) -> int:
    """Temporaries of one AdamW step: fused none, foreach one copy of the moments' size,
    the for-loop kernel two copies of the largest tensor (sqrt, then the division)."""
    per = 4 if s["master_weights"] else e
    shard = _sharded(trainable, s["gpus"], s["zero"], 1)
    return {"fused": 0, "foreach": shard * per, "for-loop": 2 * min(largest, shard) * per}[s["adam_kernel"]]


def _plan_dit_train(s: dict[str, Any]) -> MemoryPlan:
    e = DTYPES[s["dtype"]].itemsize
    sizes = PIPELINE_PRESETS[s["config"]]
    shape = dit_shape(sizes["transformer"], **s["dit_overrides"])
    f, _, h, w = video_grid(sizes["vae"], s["frames"], s["height"], s["width"])
    if h % shape.patch or w % shape.patch:
        raise MemoryPlanError(f"latent size ({h}, {w}) must be a multiple of the DiT's patch size {shape.patch}")
    tokens = f * (h // shape.patch) * (w // shape.patch)
    act = dit_activations(shape, s["batch"], tokens, f * h * w, e)
    if s["lora_rank"]:
        trainable = shape.lora_params(s["lora_rank"])
        frozen, block_trainable = shape.params, trainable // shape.layers
        largest = max(s["lora_rank"] * max(i, o) for i, o in shape.lora_pairs)
        head_trainable = 0
    else:
        trainable = shape.params - shape.frozen_params
        frozen, block_trainable, largest = shape.frozen_params, shape.block_params, shape.largest_tensor
        head_trainable = trainable - shape.layers * shape.block_params  # embeddings and output layers
    grad_e = e  # gradients in the weights' dtype
    g_div = s["gpus"] if s["zero"] >= 2 else 1
    resident = _resident(s, trainable, frozen * e, e, shape.block_params)
    grads = _grad_items(s, trainable, grad_e)
    # ZeRO-2/3 reduce-scatter each bucket as it fills: gradients per GPU grow by the shard
    bwd, where = dit_backward_peak(shape, act, s["gradient_checkpointing"],
                                   block_trainable * grad_e // g_div, head_trainable * grad_e // g_div)
    grads_total = sum(i.bytes for i in grads)
    bwd_live = bwd + (grads_total - trainable * grad_e // g_div)  # DDP buckets fill with the gradients
    step = grads_total + _step_temporaries(s, trainable, largest, e)
    ckpt = "checkpointed" if s["gradient_checkpointing"] else "no checkpointing"
    act_note = f"B={s['batch']}, S={tokens} video + {shape.motion_tokens} motion tokens, {ckpt}"
    params = {"trainable": trainable, "frozen": frozen, "video_tokens": tokens}
    if bwd_live >= step:
        items = resident + [MemoryItem("activations + gradients so far", bwd_live, f"{where}; {act_note}")]
        return MemoryPlan(s, tuple(items), where, {"optimizer step": _total(resident) + step}, params)
    items = resident + grads + [MemoryItem("optimizer step temporaries", step - grads_total, s["adam_kernel"])]
    return MemoryPlan(s, tuple(items), "optimizer step", {where: _total(resident) + bwd_live}, params)


def _total(items: list[MemoryItem]) -> int:
    return sum(i.bytes for i in items)


def _plan_tokenizer(s: dict[str, Any]) -> MemoryPlan:
    e = DTYPES[s["dtype"]].itemsize
    preset = PIPELINE_PRESETS[s["config"]]["tokenizer"]
    with torch.device("meta"):
        tok = build_tokenizer(preset)
    trainable = _count(tok)
    buffers = _state_bytes(tok, e) - trainable * e
    # EMA statistics (count, sum, window hits) appear at the first training step: K x (D + 2)
    ema = tok.config.codebook_size * (tok.config.code_dim + 2) * 4
    resident = _resident(s, trainable, buffers + ema, e, trainable)
    traced = tokenizer_peak(preset, s["batch"], s["frames"], DTYPES[s["dtype"]], train=True)
    grads = _grad_items(s, trainable, e)
    step = _total(grads) + _step_temporaries(s, trainable, max(p.numel() for p in tok.parameters()), e)
    params = {"trainable": trainable, "frozen": 0}
    note = f"traced forward+backward, B={s['batch']}, T={s['frames']} (includes gradients)"
    if traced >= step:
        items = resident + [MemoryItem("activations + gradients", traced, note)]
        return MemoryPlan(s, tuple(items), "forward/backward", {"optimizer step": _total(resident) + step}, params)
    items = resident + grads + [MemoryItem("optimizer step temporaries", step - _total(grads), s["adam_kernel"])]
    return MemoryPlan(s, tuple(items), "optimizer step", {"forward/backward": _total(resident) + traced}, params)


def dit_generate_work(shape: DiTShape, batch: int, tokens: int, latent_values: int, e: int,
                      cache_kv: bool = True) -> int:
    """Live bytes of one no-grad MV-DiT forward at ``batch`` (CFG included): the FF's working
    set ((2 + 2m) units), the motion K/V cache of all blocks, latents and RoPE tables."""
    unit = batch * tokens * shape.dim * e
    kv = 2 * shape.layers * batch * shape.motion_tokens * shape.dim * e if cache_kv else 0
    rope = 4 * 2 * (tokens + shape.motion_tokens) * shape.head_dim
    latents = batch * latent_values * (2 * shape.in_channels + 2 * shape.out_channels) * e
    return (2 + 2 * shape.ff_ratio) * unit + kv + rope + latents


def _plan_generate(s: dict[str, Any]) -> MemoryPlan:
    e, dtype = DTYPES[s["dtype"]].itemsize, DTYPES[s["dtype"]]
    sizes = PIPELINE_PRESETS[s["config"]]
    shape = dit_shape(sizes["transformer"], **s["dit_overrides"])
    f, _, h, w = video_grid(sizes["vae"], s["frames"], s["height"], s["width"])
    tokens = f * (h // shape.patch) * (w // shape.patch)
    cfg_batch = s["batch"] * (2 if s["guidance"] else 1)
    with torch.device("meta"):
        vae_w = _state_bytes(build_vae(sizes["vae"]), e)
        tok_w = _state_bytes(build_tokenizer(sizes["tokenizer"]), e)
    dit_w = shape.params * e
    dit_work = dit_generate_work(shape, cfg_batch, tokens, f * h * w, e)
    video = s["batch"] * 3 * s["frames"] * s["height"] * s["width"] * e
    vae_work = vae_decode_peak(sizes["vae"], s["batch"], s["frames"], s["height"], s["width"], dtype, s["vae_tiling"])
    tok_work = tokenizer_peak(sizes["tokenizer"], s["batch"], s["frames"], dtype, train=False)
    note_dit = f"CFG batch {cfg_batch}, S={tokens}, motion K/V cached"
    note_vae = f"traced decode of {s['batch']} x {s['frames']}x{s['height']}x{s['width']}" + (", tiled" if s["vae_tiling"] else "")
    phases = {  # name -> items; with CPU offload only the running model is on the GPU
        "DiT denoising": [MemoryItem("DiT weights", dit_w, f"{shape.params:,} params"),
                          MemoryItem("DiT activations", dit_work, note_dit)],
        "VAE decode": [MemoryItem("VAE weights", vae_w), MemoryItem("VAE decode working set", vae_work, note_vae)],
        "motion encode": [MemoryItem("tokenizer weights", tok_w), MemoryItem("tokenizer working set", tok_work)],
    }
    if not s["cpu_offload"]:
        weights = [phases[p][0] for p in phases]
        phases = {p: weights + items[1:] for p, items in phases.items()}
    totals = {p: _total(items) for p, items in phases.items()}
    peak = max(totals, key=totals.get)
    del totals[peak]
    extra = [MemoryItem("decoded video", video, "kept while decoding")] if peak == "VAE decode" else []
    return MemoryPlan(s, tuple(phases[peak] + extra), peak, totals, {"trainable": 0, "frozen": shape.params})


# --------------------------------------------------------------------------- measuring


@contextmanager
def measured_peak():
    """``with measured_peak() as result: ...`` then ``result["bytes"]``: the most tensor bytes
    alive at once inside the block, from the PyTorch profiler's allocator events (CPU)."""
    import gc

    from torch.profiler import ProfilerActivity, profile

    result: dict[str, int] = {}
    # Garbage left by earlier code, collected inside the block, would count as negative bytes.
    gc.collect()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        yield result
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]")
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    result["bytes"] = peak


def measure_dit_step(
    dit_overrides: dict[str, Any] | None = None,
    lora_rank: int | None = None,
    gradient_checkpointing: bool = False,
    batch: int = 1,
    frames: int = 49,
    height: int = 64,
    width: int = 64,
    steps: int = 2,
    seed: int = 0,
) -> int:
    """Measured peak bytes of building a tiny-preset MV-DiT (with ``dit_overrides``) and its
    AdamW (torch's CPU for-loop kernel) and running ``steps`` float32 training steps
    (forward, MSE to a random target, backward, step) on random latents and motion tokens.
    The second step is the steady state: moments exist when its activations peak."""
    from sportanim.models.dit import MVDiT

    f, c, h, w = video_grid(PIPELINE_PRESETS["tiny"]["vae"], frames, height, width)
    with measured_peak() as result:
        gen = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = MVDiT.from_preset("tiny", **(dit_overrides or {}))
        if lora_rank:
            from peft import LoraConfig

            model.add_adapter(LoraConfig(r=lora_rank, lora_alpha=lora_rank, target_modules=LORA_TARGETS))
            for name, p in model.named_parameters():
                p.requires_grad_("lora_" in name)
        if gradient_checkpointing:
            model.enable_gradient_checkpointing()
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-4, foreach=False)
        for _ in range(steps):
            noisy = torch.randn(batch, f, c, h, w, generator=gen)
            ref = torch.randn(batch, f, c, h, w, generator=gen)
            target = torch.randn(batch, f, model.config.out_channels, h, w, generator=gen)
            motion = torch.randn(batch, model.config.num_motion_tokens, model.motion_dim, generator=gen)
            pred = model(noisy, 500, motion_tokens=motion, reference_latents=ref).sample
            torch.nn.functional.mse_loss(pred, target).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            del pred
    return result["bytes"]


def planned_dit_step(dit_overrides: dict[str, Any] | None = None, lora_rank: int | None = None,
                     gradient_checkpointing: bool = False, batch: int = 1, frames: int = 49,
                     height: int = 64, width: int = 64) -> MemoryPlan:
    """The plan of exactly what ``measure_dit_step`` runs (float32, one CPU, for-loop AdamW)."""
    return plan_memory("tiny", "diffusion", lora_rank=lora_rank, gradient_checkpointing=gradient_checkpointing,
                       dtype="float32", height=height, width=width, frames=frames, batch=batch,
                       adam_kernel="for-loop", dit_overrides=dit_overrides)


# Small CPU configurations the plan is checked against (tests and docs/memory.md): activations
# and weights both matter at this size.
VALIDATION_DIT = dict(num_attention_heads=4, attention_head_dim=32, motion_embed_dim=64, num_layers=3)
VALIDATION_CASES: dict[str, dict[str, Any]] = {
    "full": dict(lora_rank=None, gradient_checkpointing=False),
    "full + checkpointing": dict(lora_rank=None, gradient_checkpointing=True),
    "LoRA r=8": dict(lora_rank=8, gradient_checkpointing=False),
    "LoRA r=8 + checkpointing": dict(lora_rank=8, gradient_checkpointing=True),
    "full, batch 2": dict(lora_rank=None, gradient_checkpointing=False, batch=2),
}


def validation_rows(size: int = 128) -> list[dict[str, Any]]:
    """Measured and planned peak bytes of each ``VALIDATION_CASES`` step on ``size``-pixel clips.
    ``python -c "from sportanim.train.memory import validation_rows; print(validation_rows())"``"""
    rows = []
    for name, case in VALIDATION_CASES.items():
        kwargs = dict(dit_overrides=VALIDATION_DIT, height=size, width=size, **case)
        measured = measure_dit_step(**kwargs)
        plan = planned_dit_step(**kwargs)
        rows.append(dict(case=name, measured=measured, planned=plan.peak_bytes, ratio=plan.peak_bytes / measured,
                         moment=plan.peak_moment))
    return rows
