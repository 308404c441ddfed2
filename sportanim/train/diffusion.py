"""MV-DiT training (paper model 2, and stage 2 of model 3): the ``dit`` and ``vae`` specs and
the diffusion objective, on the spec protocol of ``sportanim.train.specs``.

Inputs per training window, from frozen models (``DiTSpec.prepare_batch``, cached on disk by
``latent_cache`` when the model is frozen):
- the clip video's VAE posterior (mean, std), ``(F, C, h, w)``;
- the reference: one clip frame (first, or random per sample), or one of the clip's pictures of
  its athlete elsewhere in the scene (``reference_frame="athlete"``), repeated over the T frames and
  VAE-encoded, as ``sportanim.models.vae.reference_latents`` builds it (posterior, unscaled);
- motion tokens: the frozen 4DMoT's code vectors of the normalised joints, ``(N * 24, D_m)``.

The objective (``DiffusionObjective``), v-prediction on CogVideoX's DDPM schedule (the
pipeline's scheduler config, so training and sampling share the alphas)::

    x0  = (mean + std * e1) * scaling_factor      posterior sample of the clip, scaled
    ref = ref_mean + ref_std * e2                 posterior sample of the reference, unscaled
    t ~ U{0 .. 999};  x_t = sqrt(a_t) x0 + sqrt(1 - a_t) e3;  v = sqrt(a_t) e3 - sqrt(1 - a_t) x0
    loss = mean((MV-DiT(x_t, t, ref, motion tokens or, with probability p, the unconditional
                 tokens) - v) ** 2)

diffusers' CogVideoX scripts turn the v-prediction into x0 and weight the x0 error by
1 / (1 - a_t); that is this loss term for term. Every draw (e1, e2, e3, t, the drop, the
reference frame) comes from ``(step seed, stream position)``: runs agree for any world size.

``--init`` is a pipeline weights folder (``sportanim.models.pipeline``: tokenizer/,
transformer/, vae/, stats.json, scheduler/, pipeline.json); its DiT may be freshly initialised.
The export is again a complete pipeline weights folder (``load_pipeline``, ``sportanim
generate --weights``) with the trained (or EMA, or LoRA-merged) DiT.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import asdict, is_dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sportanim.io.files import atomic_dir
from sportanim.models.dit import DIT_PRESETS, MVDiT, checkpoint_shapes
from sportanim.models.tokenizer import MotionTokenizer
from sportanim.models.vae import VAE_PRESETS
from sportanim.skeleton import NUM_JOINTS
from sportanim.train.clips import ClipsDataset
from sportanim.train.config import ConfigError, TrainConfig
from sportanim.train.data import JointStats, sample_seed
from sportanim.train.latent_cache import LatentCache, model_hash
from sportanim.train.specs import InitError, TokenizerSpec, is_pipeline_folder

# Purposes of the per-sample draws (sample_seed's third argument)
_NOISE, _REFERENCE = 0xD1F, 0x2EF
# LoRA targets: both attentions' projections and the feed-forward's two linears, in every block
LORA_TARGETS = r".*transformer_blocks\.\d+\.((attn0|attn1)\.(to_q|to_k|to_v|to_out\.0)|ff\.net\.(0\.proj|2))"


# --------------------------------------------------------------------------- weights folders


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError as err:
        raise InitError(f"{path}: not valid JSON ({err})") from None


def load_weights_strict(model: nn.Module, folder: Path, what: str) -> None:
    """Load a diffusers-layout checkpoint (one safetensors file or shards) into ``model``
    after checking every tensor's name and shape from the file headers; ``InitError``
    naming the first missing, extra or mis-shaped tensor. ``model`` may live on the meta
    device (the tensors are then taken over, not copied: no random init of 7B weights)."""
    from safetensors.torch import load_file

    found = checkpoint_shapes(folder)
    if found is None:
        raise InitError(f"{folder}: no diffusers safetensors weights (diffusion_pytorch_model.safetensors "
                        f"or its index); give a pipeline weights folder for the {what}")
    want = {k: list(v.shape) for k, v in model.state_dict().items()}
    for name, shape in want.items():
        if name not in found:
            raise InitError(f"init weights do not fit the configured {what}: tensor '{name}' {tuple(shape)} "
                            f"is missing from {folder}")
        if found[name] != shape:
            raise InitError(f"init weights do not fit the configured {what}: shape mismatch for '{name}': "
                            f"expected {tuple(shape)}, got {tuple(found[name])} in {folder} "
                            "(is the config's preset right?)")
    extra = [k for k in found if k not in want]
    if extra:
        raise InitError(f"init weights do not fit the configured {what}: unexpected tensor '{extra[0]}' "
                        f"in {folder} ({len(extra)} unexpected in all)")
    files = sorted(set(json.loads(p.read_text())["weight_map"].values())) if (
        p := folder / "diffusion_pytorch_model.safetensors.index.json").is_file() \
        else ["diffusion_pytorch_model.safetensors"]
    for file in files:  # shard by shard: never two copies of a 7B model in memory
        model.load_state_dict(load_file(str(folder / file)), strict=False, assign=True)


# --------------------------------------------------------------------------- the VAE (frozen)


class VAESpec:
    """CogVideoX's video VAE, always frozen here (its weights come from ``--init``)."""

    name = "vae"

    def build(self, config: TrainConfig, init: Path | None):
        from diffusers import AutoencoderKLCogVideoX

        preset = config.diffusion.vae_preset
        if preset not in VAE_PRESETS:
            raise ConfigError(f"config field diffusion.vae_preset must be one of {sorted(VAE_PRESETS)}, got {preset!r}")
        if init is None:
            raise InitError("the diffusion strategies need the video VAE's weights: pass --init PIPELINE_FOLDER "
                            "(tokenizer/, transformer/, vae/) or --init vae=FOLDER")
        folder = Path(init) / "vae" if is_pipeline_folder(init) else Path(init)
        if not folder.is_dir():
            raise InitError(f"VAE weights not found: {folder}")
        saved = _read_json(folder / "config.json")
        # Tensors must fit the preset; the values training sets (latent scale) come from the weights' config.
        kept = ("scaling_factor", "shift_factor", "force_upcast", "sample_height", "sample_width")
        with torch.device("meta"):
            model = AutoencoderKLCogVideoX(**{**VAE_PRESETS[preset], **{k: saved[k] for k in kept if k in saved}})
        load_weights_strict(model, folder, f"VAE (preset {preset})")
        return model


# --------------------------------------------------------------------------- the objective


class DiffusionObjective(nn.Module):
    """One MV-DiT training step (module notes); only the DiT is a submodule (``dit.*``)."""

    def __init__(self, dit: MVDiT, scheduler, motion_drop: float, scaling_factor: float):
        super().__init__()
        self.dit = dit
        self.scheduler = scheduler  # CogVideoX DDIM: add_noise / get_velocity on the training alphas
        self.motion_drop = motion_drop
        self.scaling_factor = scaling_factor

    def draws(self, seed: int, positions: torch.Tensor, shape: tuple[int, ...], dtype: torch.dtype) -> dict:
        """Per-sample randomness from ``(seed, position)``: timesteps (b,), drop mask (b,),
        posterior noise of clip and reference and diffusion noise, each (b, *shape)."""
        out: dict[str, list] = {"t": [], "drop": [], "e_latent": [], "e_ref": [], "noise": []}
        steps = self.scheduler.config.num_train_timesteps
        for p in positions.tolist():
            g = torch.Generator().manual_seed(sample_seed(seed, int(p), _NOISE))
            out["t"].append(torch.randint(0, steps, (1,), generator=g))
            out["drop"].append(torch.rand(1, generator=g, dtype=torch.float64) < self.motion_drop)
            for key in ("e_latent", "e_ref", "noise"):
                out[key].append(torch.randn(shape, generator=g, dtype=dtype)[None])
        return {k: torch.cat(v) for k, v in out.items()}

    def forward(self, batch: dict, seed: int) -> dict:
        mean = batch["latent_mean"]  # (b, F, C, h, w)
        dtype, device = self.dit.dtype, mean.device
        d = {k: v.to(device) for k, v in self.draws(seed, batch["positions"], tuple(mean.shape[1:]), dtype).items()}
        x0 = (mean + batch["latent_std"] * d["e_latent"]) * self.scaling_factor
        reference = batch["ref_mean"] + batch["ref_std"] * d["e_ref"]
        noisy = self.scheduler.add_noise(x0, d["noise"], d["t"])
        target = self.scheduler.get_velocity(x0, d["noise"], d["t"])
        pred = self.dit(noisy, d["t"], motion_tokens=batch["motion"], reference_latents=reference,
                        motion_drop_mask=d["drop"], return_dict=False)[0]
        score = torch.promote_types(pred.dtype, torch.float32)  # bf16 autocast: score in float32
        loss = F.mse_loss(pred.to(score), target.to(score))
        logs = {"motion_dropped": d["drop"].float().mean()}
        if "cache_hits" in batch:
            logs["cache_hits"] = batch["cache_hits"]
        return {"loss": loss, "logs": logs}


# --------------------------------------------------------------------------- the DiT


class DiTSpec:
    """The MV-DiT (``sportanim.models.dit``), trained with the 4DMoT and the VAE frozen."""

    name = "dit"
    export_name = "pipeline"  # RUN/final/pipeline: a complete weights folder

    def __init__(self):
        self.models: dict[str, nn.Module] = {}
        self.dataset: ClipsDataset | None = None
        self.cache = LatentCache(None)
        self.ema: dict[str, torch.Tensor] | None = None
        self.pipeline_info: dict = {}
        self.scheduler_config: dict | None = None
        self.dit_config: dict = {}
        self._hashes: dict[str, str | None] = {}

    # ---- config and build

    def model_config(self, config: TrainConfig, saved: dict | None = None) -> dict:
        """MVDiT arguments: the preset, motion tokens for ``data.frames``, the init's joint
        positions (4D RoPE), then ``diffusion.dit_overrides``."""
        d = config.diffusion
        if d.dit_preset not in DIT_PRESETS:
            raise ConfigError(f"config field diffusion.dit_preset must be one of {sorted(DIT_PRESETS)}, "
                              f"got {d.dit_preset!r}")
        known = set(inspect.signature(MVDiT.__init__).parameters) - {"self"}
        unknown = sorted(set(d.dit_overrides) - known)
        if unknown:
            raise ConfigError(f"config field diffusion.dit_overrides has unknown keys {unknown}")
        tok_cfg = TokenizerSpec().model_config(config)
        with torch.device("meta"):
            token_frames = MotionTokenizer(tok_cfg).token_frames(config.data.frames)
        cfg = {**DIT_PRESETS[d.dit_preset], "num_motion_tokens": token_frames * NUM_JOINTS}
        if saved and saved.get("joint_positions") is not None:
            cfg["joint_positions"] = saved["joint_positions"]
        cfg.update(d.dit_overrides)
        motion_dim = cfg.get("motion_embed_dim") or cfg["num_attention_heads"] * cfg["attention_head_dim"]
        if motion_dim != tok_cfg.code_dim:
            raise ConfigError(f"the MV-DiT reads motion tokens of {motion_dim} dims but tokenizer preset "
                              f"{config.tokenizer.preset!r} makes {tok_cfg.code_dim}; set diffusion.dit_overrides."
                              "motion_embed_dim or the presets")
        return cfg

    def build(self, config: TrainConfig, init: Path | None) -> MVDiT:
        """The configured MV-DiT (seeded init), with ``init``'s weights if given (a pipeline
        folder or its transformer/ folder), LoRA and gradient checkpointing as configured."""
        transformer = None
        if init is not None:
            init = Path(init)
            if not init.exists():
                raise InitError(f"init weights not found: {init}")
            if is_pipeline_folder(init):
                transformer = init / "transformer"
                self.pipeline_info = _read_json(init / "pipeline.json")
                sched = init / "scheduler" / "scheduler_config.json"
                self.scheduler_config = _read_json(sched) or None
            else:
                transformer = init
        self.dit_config = self.model_config(config, _read_json(transformer / "config.json") if transformer else None)
        if transformer is not None:
            with torch.device("meta"):
                model = MVDiT(**self.dit_config)
            load_weights_strict(model, transformer, f"MV-DiT (preset {config.diffusion.dit_preset})")
        else:
            model = MVDiT(**self.dit_config)  # from scratch: the seeded random init
        d = config.diffusion
        if d.lora_rank:
            model.requires_grad_(False)
            model.add_adapter(self.lora_config(config))
        if d.gradient_checkpointing:
            model.enable_gradient_checkpointing()
        return model

    @staticmethod
    def lora_config(config: TrainConfig):
        from peft import LoraConfig

        d = config.diffusion
        return LoraConfig(r=d.lora_rank, lora_alpha=d.lora_alpha or d.lora_rank, target_modules=LORA_TARGETS,
                          init_lora_weights=True)

    def objective(self, models: dict[str, nn.Module], config: TrainConfig) -> DiffusionObjective:
        from sportanim.models.pipeline import make_scheduler

        self.models = models
        dit, vae = models["dit"], models["vae"]
        if config.diffusion.ema_decay:
            self.ema = {n: p.detach().clone() for n, p in dit.named_parameters() if p.requires_grad}
        return DiffusionObjective(dit, make_scheduler("ddim", self.scheduler_config), config.diffusion.motion_drop,
                                  float(vae.config.scaling_factor))

    # ---- data

    def make_dataset(self, config: TrainConfig, root: Path, stats: JointStats, run: Path) -> ClipsDataset:
        d = config.data
        size = (self.pipeline_info["height"], self.pipeline_info["width"]) if "height" in self.pipeline_info else None
        self.dataset = ClipsDataset(root, d.frames, stats, d.split, d.stride, size=size, quality=d.quality)
        self.reference_frame = config.diffusion.reference_frame
        self._reference_counts: dict[int, int] = {}
        if self.reference_frame == "athlete":
            self.dataset.athlete_references(0)  # a clear error now, not at the first cache miss
        k = config.diffusion.reference_choices or d.frames
        self.reference_choices = np.linspace(0, d.frames - 1, k).round().astype(int).tolist()
        if config.diffusion.cache:
            self.cache = LatentCache(Path(config.diffusion.cache_dir) if config.diffusion.cache_dir else run / "cache")
        return self.dataset

    def _model_key(self, name: str) -> str | None:
        """Cache key of frozen model ``name``; None (no caching) while it trains."""
        if name not in self._hashes:
            model = self.models[name]
            frozen = not any(p.requires_grad for p in model.parameters())
            # diffusers' config also holds "_"-keys such as _use_default_values, a set: not stable
            config = getattr(model, "config", None) or {}
            config = asdict(config) if is_dataclass(config) else {k: v for k, v in config.items() if k[0] != "_"}
            self._hashes[name] = model_hash(model, config) if frozen else None
        return self._hashes[name]

    def _lookup(self, kind: str, model: str, key: str, compute) -> dict[str, torch.Tensor]:
        model_key = self._model_key(model)
        if model_key is None:
            self.cache.misses += 1
            return compute()
        return self.cache.get(kind, model_key, key, compute)

    def _reference(self, index: int, position: int, key: str, video, seed: int) -> dict[str, torch.Tensor]:
        """The reference posterior of one sample: a clip frame repeated over the window (first,
        or drawn from ``reference_choices``), or one of the clip's athlete pictures."""
        vae, ds = self.models["vae"], self.dataset
        g = torch.Generator().manual_seed(sample_seed(seed, int(position), _REFERENCE))
        if self.reference_frame == "athlete":
            count = self._reference_counts.get(index) or len(ds.athlete_references(index))
            self._reference_counts[index] = count
            k = int(torch.randint(0, count, (1,), generator=g))
            return self._lookup("reference", "vae", ds.reference_key(index, k),
                                lambda: posterior(vae, np.repeat(ds.athlete_references(index)[k:k + 1], ds.frames, axis=0)))
        frame = 0
        if self.reference_frame == "random":
            frame = self.reference_choices[int(torch.randint(0, len(self.reference_choices), (1,), generator=g))]
        return self._lookup("reference", "vae", f"{key}-f{frame}",
                            lambda: posterior(vae, np.repeat(video()[frame:frame + 1], ds.frames, axis=0)))

    @torch.no_grad()
    def prepare_batch(self, batch: dict, seed: int) -> dict:
        """Add the frozen models' inputs: ``latent_mean``/``latent_std`` (b, F, C, h, w),
        ``ref_mean``/``ref_std`` (same shape), ``motion`` (b, N, D_m), ``cache_hits`` ()."""
        vae, tokenizer, dit = self.models["vae"], self.models["tokenizer"], self.models["dit"]
        ds = self.dataset
        before = self.cache.hits + self.cache.misses, self.cache.hits
        rows = []
        for index, position, joints in zip(batch["index"].tolist(), batch["positions"].tolist(), batch["joints"]):
            video = _Lazy(lambda i=index: ds.video(i))
            key = ds.video_key(index)
            latent = self._lookup("latents", "vae", key, lambda: posterior(vae, video()))
            ref = self._reference(index, position, key, video, seed)
            motion = self._lookup("motion", "tokenizer", ds.motion_key(index),
                                  lambda j=joints: {"tokens": tokenizer.encode(j[None].to(tokenizer.device))[1][0]})
            rows.append((latent["mean"], latent["std"], ref["mean"], ref["std"], motion["tokens"]))
        device, dtype = dit.device, dit.dtype
        stack = lambda i: torch.stack([r[i] for r in rows]).to(device=device, dtype=dtype)  # noqa: E731
        lookups = self.cache.hits + self.cache.misses - before[0]
        batch.update(latent_mean=stack(0), latent_std=stack(1), ref_mean=stack(2), ref_std=stack(3), motion=stack(4),
                     cache_hits=torch.tensor((self.cache.hits - before[1]) / max(lookups, 1), dtype=torch.float64))
        return batch

    # ---- after each optimizer step: EMA of the trained weights

    @torch.no_grad()
    def after_step(self, model: MVDiT, config: TrainConfig) -> None:
        if self.ema is None:
            return
        for name, p in model.named_parameters():
            if name in self.ema:
                if self.ema[name].device != p.device:
                    self.ema[name] = self.ema[name].to(p.device)
                self.ema[name].lerp_(p.detach(), 1.0 - config.diffusion.ema_decay)

    def extra_state(self, model: MVDiT) -> tuple[dict[str, torch.Tensor], dict]:
        if self.ema is None:
            return {}, {"ema": False}
        return {f"ema.{k}": v.detach().cpu().contiguous() for k, v in self.ema.items()}, {"ema": True}

    def load_extra_state(self, model: MVDiT, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        if meta.get("ema"):
            device = next(model.parameters()).device
            self.ema = {k[len("ema."):]: v.to(device) for k, v in tensors.items() if k.startswith("ema.")}

    # ---- export

    def trained_state(self, config: TrainConfig, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The plain MVDiT state of a trained ``state``: EMA weights if kept, LoRA merged."""
        state = dict(state)
        if self.ema is not None:
            state.update({k: v.to(state[k].device) for k, v in self.ema.items()})
        if config.diffusion.lora_rank:
            state = merge_lora(state, (config.diffusion.lora_alpha or config.diffusion.lora_rank)
                               / config.diffusion.lora_rank)
        return state

    def export(self, config: TrainConfig, state: dict[str, torch.Tensor], folder: Path, stats: JointStats,
               info: dict) -> Path:
        """A complete pipeline weights folder: the trained DiT with the frozen tokenizer and
        VAE, the joint statistics, the scheduler and the video size; atomically."""
        from sportanim.models.pipeline import MTVCrafterPipeline, make_scheduler, save_pipeline

        state = self.trained_state(config, state)
        with torch.device("meta"):
            dit = MVDiT(**self.dit_config)
        dit.load_state_dict({k: v.detach().cpu() for k, v in state.items()}, strict=True, assign=True)
        h, w = self.dataset.size
        pipe = MTVCrafterPipeline(self.models["tokenizer"], dit.eval(), self.models["vae"],
                                  make_scheduler("dpm", self.scheduler_config), joint_mean=stats.mean.tolist(),
                                  joint_std=stats.std.tolist(), default_height=h, default_width=w)
        with atomic_dir(folder, overwrite=True) as tmp:
            save_pipeline(pipe, tmp, preset=config.diffusion.dit_preset)
            (tmp / "training.json").write_text(json.dumps(info, indent=2) + "\n")
        return Path(folder)


def merge_lora(state: dict[str, torch.Tensor], scale: float) -> dict[str, torch.Tensor]:
    """peft LoRA names (``x.base_layer.weight``, ``x.lora_A.default.weight``, ...) -> the plain
    model's (``x.weight`` = base + scale * B @ A)."""
    out = {}
    for key, value in state.items():
        if ".lora_" in key:
            continue
        if ".base_layer." in key:
            prefix, leaf = key.split(".base_layer.")
            if leaf == "weight":
                a, b = state[f"{prefix}.lora_A.default.weight"], state[f"{prefix}.lora_B.default.weight"]
                value = value + scale * (b.to(value.dtype) @ a.to(value.dtype))
            key = f"{prefix}.{leaf}"
        out[key] = value
    return out


class _Lazy:
    """Compute once, on first call (a clip is decoded only if some entry misses)."""

    def __init__(self, fn):
        self.fn, self.value = fn, None

    def __call__(self):
        if self.value is None:
            self.value = self.fn()
        return self.value


@torch.no_grad()
def posterior(vae, video: np.ndarray) -> dict[str, torch.Tensor]:
    """uint8 (T, H, W, 3) -> the VAE posterior's ``mean`` and ``std``, each (F, C, h, w),
    unscaled: ``mean + std * e`` is ``encode_video(..., scale=False)``'s sample."""
    pixels = torch.from_numpy(np.ascontiguousarray(video)).permute(3, 0, 1, 2)[None]  # (1, 3, T, H, W)
    pixels = pixels.to(device=vae.device, dtype=vae.dtype) / 127.5 - 1.0
    dist = vae.encode(pixels).latent_dist
    return {"mean": dist.mean[0].permute(1, 0, 2, 3).contiguous(), "std": dist.std[0].permute(1, 0, 2, 3).contiguous()}
