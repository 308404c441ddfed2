"""MTVCrafter inference: a reference image and 3D joints -> a video of that person doing that motion.

    joints (T, 24, 3) mm --normalise, 4DMoT--> motion tokens (1, N*24, D_m), computed once
    reference image --repeat over T, VAE--> reference latents (1, F, C, h, w), unscaled
    noise (1, F, C, h, w) --MV-DiT + scheduler, CFG on motion--> latents --VAE--> frames (T, H, W, 3)

What follows upstream (``pipeline_mtvcrafter_7b.py`` / ``infer_7b.py`` of DINGYANB/MTVCrafter):
- the reference image is resized to cover (height, width) and centre-cropped, repeated over all
  T frames and encoded as a *video* by the VAE with a posterior sample, without the scaling factor
  (``vae.reference_latents``); the same latents serve both CFG branches;
- classifier-free guidance on motion only: the batch is [unconditional, conditional], the
  unconditional branch reads the DiT's learnable ``unconditional_motion_token``;
  ``pred = uncond + g * (cond - uncond)``; guidance is on for ``g > 1`` and with ``g == 1`` only
  the conditional branch runs;
- CogVideoX's DPM scheduler (v-prediction, multistep with the previous x0 estimate) by default,
  CogVideoX DDIM as the option; timesteps from ``set_timesteps`` (trailing spacing at 5B);
  initial noise from ``generator``; motion tokens are the tokenizer's quantised embeddings.
Where we differ, on purpose: the latents stay float32 between steps (the models may run in bf16;
upstream rounds the latents to the VAE dtype after every step), the reference posterior sample
uses ``generator`` (upstream: the global RNG), and the motion keys/values of every block are
computed once per generation (``MVDiT.prepare_motion_kv``) instead of at every step.

Weights folder (``save_pipeline`` / ``load_pipeline``)::

    DIR/pipeline.json      {"_class_name": "MTVCrafterPipeline", "format": 1,
                            "height": 64, "width": 64, "num_frames": 49, "preset": "tiny"}
                           (optional: without it the size defaults to the DiT's sample size)
    DIR/stats.json         {"mean": [[x, y, z] x 24], "std": [...]} in mm, what the tokenizer was
                           trained with (FSJD / training-export format); or DIR/mean.npy + std.npy
                           (upstream's data/mean.npy, std.npy)
    DIR/tokenizer/         config.json + model.safetensors (MotionTokenizer.save_pretrained), or
                           upstream's 4DMoT mp_rank_00_model_states.pt (mtvcrafter-7b config)
    DIR/transformer/       MV-DiT, diffusers layout: config.json + (sharded) safetensors
                           (the release's MV-DiT/CogVideoX folder loads as it is)
    DIR/vae/               AutoencoderKLCogVideoX, diffusers layout (CogVideoX-5b's vae/ folder)
    DIR/scheduler/         scheduler_config.json (optional; default: CogVideoX-5B's)

Every checkpoint is checked tensor by tensor against its config before loading; a mismatch
raises a ValueError naming the first bad tensor.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXDPMScheduler
from diffusers.pipelines.pipeline_utils import DiffusionPipeline
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from sportanim.io.files import atomic_dir, read_json_object
from sportanim.io.stats import STATS_NAME, has_joint_stats, read_joint_stats, write_stats
from sportanim.models import vae as vae_lib
from sportanim.models.cpu_conv import route_conv3d_to_onednn
from sportanim.models.step_cache import FirstBlockCache
from sportanim.models.dit import DIT_PRESETS, MVDiT, MotionKV, check_checkpoint
from sportanim.models.tokenizer import TIME_FACTOR, TOKENIZER_PRESETS, UPSTREAM_CHECKPOINT_NAME, MotionTokenizer
from sportanim.skeleton import NUM_JOINTS, denormalize, normalize

PIPELINE_FILE = "pipeline.json"
OUTPUT_TYPES = ("np", "latent")

# CogVideoX-5B's scheduler_config.json (THUDM/CogVideoX-5b), which MTVCrafter-7B samples with.
SCHEDULER_CONFIG: dict[str, Any] = dict(
    num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
    clip_sample=False, clip_sample_range=1.0, sample_max_value=1.0, set_alpha_to_one=True,
    steps_offset=0, prediction_type="v_prediction", rescale_betas_zero_snr=True,
    snr_shift_scale=1.0, timestep_spacing="trailing",
)
SCHEDULERS = {"dpm": CogVideoXDPMScheduler, "ddim": CogVideoXDDIMScheduler}

PIPELINE_PRESETS: dict[str, dict[str, Any]] = {
    # Components by preset name, and the video size the DiT was trained at.
    "tiny": dict(tokenizer="tiny", transformer="tiny", vae="tiny", height=64, width=64),
    "mtvcrafter-7b": dict(tokenizer="mtvcrafter-7b", transformer="mtvcrafter-7b", vae="cogvideox-5b",
                          height=512, width=512),
}


@dataclass
class PipelineOutput(BaseOutput):
    """What ``MTVCrafterPipeline.__call__`` returns.

    frames: uint8 (T, H, W, 3) for output_type "np"; float32 latents (1, F, C, h, w) for "latent".
    motion_ids: int64 (N * 24,) the tokenizer's code ids, token frame-major.
    reconstructed_joints: float32 (T, 24, 3) mm, the tokenizer's decoding of those ids.
    skipped_steps: denoising steps whose later DiT blocks the step cache skipped (0 when off).
    """

    frames: np.ndarray | torch.Tensor
    motion_ids: np.ndarray
    reconstructed_joints: np.ndarray
    skipped_steps: int = 0


def make_scheduler(kind: str = "dpm", config: dict | None = None) -> CogVideoXDPMScheduler | CogVideoXDDIMScheduler:
    """A CogVideoX scheduler: ``dpm`` (default, upstream's) or ``ddim``, from ``config``
    (a scheduler config dict; default ``SCHEDULER_CONFIG``)."""
    if kind not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {kind!r}; choose from {sorted(SCHEDULERS)}")
    return SCHEDULERS[kind].from_config(dict(config or SCHEDULER_CONFIG))


# --------------------------------------------------------------------------- images


def as_rgb_array(image: Any) -> np.ndarray:
    """A PIL image (any mode) or a uint8 (H, W, 3) array -> uint8 (H, W, 3); else ValueError."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise ValueError(f"reference_image must be a PIL image or a uint8 (H, W, 3) array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(f"reference_image must be (H, W, 3) RGB, got shape {image.shape}; "
                         "drop alpha / expand grey to RGB first (PIL: image.convert('RGB'))")
    if image.dtype != np.uint8:
        raise ValueError(f"reference_image must be uint8 (0..255), got {image.dtype}")
    return image


def resize_cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """uint8 (h, w, 3) -> uint8 (height, width, 3): scaled (bilinear) to cover the target,
    then centre-cropped, as upstream prepares its reference and driving frames."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    resized = Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR) if (new_w, new_h) != (w, h) else None
    out = np.asarray(resized) if resized is not None else image
    x0, y0 = (new_w - width) // 2, (new_h - height) // 2
    return np.ascontiguousarray(out[y0:y0 + height, x0:x0 + width])


def frames_to_uint8(video: torch.Tensor) -> np.ndarray:
    """Decoded video (1, 3, T, H, W) in [-1, 1] -> uint8 (T, H, W, 3)."""
    video = ((video[0].float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return video.permute(1, 2, 3, 0).cpu().numpy()


def _stats_array(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (NUM_JOINTS, 3) or not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite ({NUM_JOINTS}, 3) per-joint values in mm, got shape {array.shape}")
    return array


# --------------------------------------------------------------------------- pipeline


class MTVCrafterPipeline(DiffusionPipeline):
    r"""Reference image + SMPL-24 joints -> video, with MTVCrafter's 4DMoT, MV-DiT and a CogVideoX VAE.

    Args:
        tokenizer: ``MotionTokenizer`` (4DMoT), kept in float32 by ``load_pipeline``.
        transformer: ``MVDiT``.
        vae: ``AutoencoderKLCogVideoX``.
        scheduler: ``CogVideoXDPMScheduler`` (upstream's default) or ``CogVideoXDDIMScheduler``.
        joint_mean, joint_std: (24, 3) mm normalisation the tokenizer was trained with; the
            default for ``__call__``'s ``mean``/``std``.
        default_height, default_width: the video size the DiT was trained at (None: the DiT's
            sample size times the VAE's 8x).
    """

    model_cpu_offload_seq = "transformer->vae"
    _exclude_from_cpu_offload = ["tokenizer"]  # small; its encode/decode bypass offload hooks

    def __init__(
        self,
        tokenizer: MotionTokenizer,
        transformer: MVDiT,
        vae: AutoencoderKLCogVideoX,
        scheduler: CogVideoXDPMScheduler | CogVideoXDDIMScheduler,
        joint_mean: list | None = None,
        joint_std: list | None = None,
        default_height: int | None = None,
        default_width: int | None = None,
    ):
        super().__init__()
        self.register_modules(tokenizer=tokenizer, transformer=transformer, vae=vae, scheduler=scheduler)
        self.register_to_config(joint_mean=joint_mean, joint_std=joint_std,
                                default_height=default_height, default_width=default_width)

    # ---- placement (DiffusionPipeline would ask every module; the tokenizer stays float32,
    # so the pipeline's device and dtype are the DiT's and the VAE's)

    @property
    def device(self) -> torch.device:
        devices = [m.device for m in (self.transformer, self.vae) if m is not None]
        accelerated = [d for d in devices if d.type not in ("cpu", "meta")]
        return (accelerated or devices or [torch.device("cpu")])[0]

    @property
    def dtype(self) -> torch.dtype:
        return self.transformer.dtype

    # ---- sizes

    @property
    def vae_scale_factor_spatial(self) -> int:
        return vae_lib.spatial_factor(self.vae)

    @property
    def vae_scale_factor_temporal(self) -> int:
        return vae_lib.temporal_factor(self.vae)

    @property
    def default_num_frames(self) -> int:
        """Pixel frames whose motion tokens fill the DiT's ``num_motion_tokens`` (312 -> 49)."""
        cfg = self.transformer.config
        return TIME_FACTOR * TIME_FACTOR * (cfg.num_motion_tokens // cfg.num_joints - 1) + 1

    def default_size(self) -> tuple[int, int]:
        """(height, width) when ``__call__`` gets none."""
        s, cfg = self.vae_scale_factor_spatial, self.transformer.config
        return (self.config.default_height or cfg.sample_height * s, self.config.default_width or cfg.sample_width * s)

    # ---- checks

    def check_inputs(self, image, joints, mean, std, height, width, num_frames, guidance_scale,
                     num_inference_steps, output_type) -> None:
        """Raise a ValueError that names the bad value; ``image`` is already an array."""
        as_rgb_array(image)
        multiple = self.vae_scale_factor_spatial * self.transformer.config.patch_size
        if height % multiple or width % multiple or height <= 0 or width <= 0:
            raise ValueError(f"height and width must be positive multiples of {multiple} (VAE x patch), "
                             f"got {height}x{width}")
        self._check_num_frames(num_frames)
        self._check_joints(joints, num_frames)
        mean, std = _stats_array(mean, "mean"), _stats_array(std, "std")
        if not (std > 0).all():
            raise ValueError(f"std must be > 0 for every joint and axis, got min {std.min()}")
        if not (math.isfinite(guidance_scale) and guidance_scale >= 1.0):
            raise ValueError(f"guidance_scale must be >= 1 (1 turns guidance off), got {guidance_scale}")
        if not (isinstance(num_inference_steps, int) and num_inference_steps >= 1):
            raise ValueError(f"num_inference_steps must be an int >= 1, got {num_inference_steps!r}")
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")

    def _check_num_frames(self, num_frames: int) -> None:
        token_frames = self.tokenizer.token_frames(num_frames)  # raises for lengths it cannot tokenise
        cfg = self.transformer.config
        if token_frames * cfg.num_joints != cfg.num_motion_tokens:
            raise ValueError(
                f"num_frames={num_frames} gives {token_frames} x {cfg.num_joints} motion tokens but this MV-DiT "
                f"takes {cfg.num_motion_tokens} (num_frames={self.default_num_frames})"
            )

    @staticmethod
    def _check_joints(joints: Any, num_frames: int) -> None:
        shape = tuple(getattr(joints, "shape", ()))
        if len(shape) != 3 or shape[1:] != (NUM_JOINTS, 3):
            raise ValueError(f"joints must be (T, {NUM_JOINTS}, 3) SMPL-24 joints in mm, got shape {shape}"
                             + (f" ({shape[1]} joints)" if len(shape) == 3 else ""))
        array = np.asarray(joints.detach().cpu() if isinstance(joints, torch.Tensor) else joints, dtype=np.float64)
        bad = ~np.isfinite(array).all(axis=(1, 2))
        if bad.any():
            first = np.flatnonzero(bad)[:5].tolist()
            raise ValueError(f"joints have NaN/inf in {int(bad.sum())} frames (first: {first}); "
                             "fill or drop those frames first")
        if shape[0] != num_frames:
            raise ValueError(f"joints have {shape[0]} frames but num_frames={num_frames}; crop or resample them first "
                             "(sportanim.data.motion.fit_motion)")

    # ---- steps

    @torch.no_grad()
    def encode_motion(self, joints: Any, mean: np.ndarray, std: np.ndarray
                      ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """Joints (T, 24, 3) mm -> (ids (1, N*24), embeddings (1, N*24, D_m),
        reconstructed joints (T, 24, 3) mm)."""
        array = np.asarray(joints.detach().cpu() if isinstance(joints, torch.Tensor) else joints, dtype=np.float64)
        normed = torch.from_numpy(normalize(array, mean, std).astype(np.float32))[None]  # (1, T, 24, 3)
        ids, embeds = self.tokenizer.encode(normed)
        recon = self.tokenizer.decode(ids)[0].float().cpu().numpy()
        return ids, embeds, denormalize(recon, mean, std).astype(np.float32)

    @torch.no_grad()
    def encode_reference(self, image: np.ndarray, num_frames: int, generator: torch.Generator | None) -> torch.Tensor:
        """uint8 (H, W, 3), already at the output size -> reference latents (1, F, C, h, w), float32."""
        pixels = torch.tensor(image).permute(2, 0, 1)[None].float() / 127.5 - 1.0  # (1, 3, H, W)
        return vae_lib.reference_latents(self.vae, pixels, num_frames, generator, self._execution_device).float()

    def prepare_latents(self, batch_size: int, channels: int, num_frames: int, height: int, width: int,
                        dtype: torch.dtype, device: torch.device, generator: torch.Generator | None,
                        latents: torch.Tensor | None = None) -> torch.Tensor:
        """Initial noise (B, F, C, h, w), scaled by the scheduler's ``init_noise_sigma``."""
        s = self.vae_scale_factor_spatial
        shape = (batch_size, vae_lib.latent_frames(self.vae, num_frames), channels, height // s, width // s)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        elif tuple(latents.shape) != shape:
            raise ValueError(f"latents must be {shape}, got {tuple(latents.shape)}")
        return latents.to(device=device, dtype=dtype) * self.scheduler.init_noise_sigma

    def motion_conditioning(self, embeds: torch.Tensor, guided: bool, cache: bool) -> dict[str, Any]:
        """Transformer kwargs for the motion: the [uncond, cond] batch when ``guided``, as per-step
        tokens or, with ``cache``, as keys/values computed once now."""
        batch = 2 if guided else 1
        tokens = embeds.expand(batch, -1, -1)
        drop = torch.tensor([True, False], device=tokens.device) if guided else None
        if not cache:
            return {"motion_tokens": tokens, "motion_drop_mask": drop}
        _onload(self.transformer)  # under model CPU offload, compute K/V on the accelerator
        kv = self.transformer.prepare_motion_kv(tokens, motion_drop_mask=drop)
        device = self._execution_device
        return {"motion_kv": MotionKV(tuple((k.to(device), v.to(device)) for k, v in kv.layers))}

    def scheduler_step(self, pred: torch.Tensor, old_x0: torch.Tensor | None, t: torch.Tensor,
                       t_prev: torch.Tensor | None, latents: torch.Tensor,
                       generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One step -> (new latents, x0 estimate kept for DPM's next step)."""
        if isinstance(self.scheduler, CogVideoXDPMScheduler):
            return self.scheduler.step(pred, old_x0, t, t_prev, latents, generator=generator, return_dict=False)
        return self.scheduler.step(pred, t, latents, generator=generator, return_dict=False)[0], None

    # ---- call

    @torch.no_grad()
    def __call__(
        self,
        reference_image: np.ndarray | Image.Image,
        joints: np.ndarray | torch.Tensor,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
        num_inference_steps: int = 50,
        guidance_scale: float = 3.0,
        generator: torch.Generator | None = None,
        height: int | None = None,
        width: int | None = None,
        num_frames: int | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "np",
        cache_motion_kv: bool = True,
        step_cache: float = 0.0,
    ) -> PipelineOutput:
        """Animate ``reference_image`` with ``joints``.

        Args:
            reference_image: uint8 (H, W, 3) RGB or a PIL image; resized to cover and
                centre-cropped to (height, width).
            joints: (T, 24, 3) SMPL-24 joints, camera space, mm; T == num_frames.
            mean, std: (24, 3) normalisation (default: the pipeline's ``joint_mean``/``joint_std``).
            num_inference_steps: scheduler steps (upstream: 50).
            guidance_scale: motion CFG scale (upstream: 3.0); 1.0 runs the conditional branch only.
            generator: the noise source (initial latents, reference posterior, DPM noise).
            height, width: output size, multiples of 16 (default: ``default_size()``).
            num_frames: frames (default: what the DiT's motion tokens imply, 49).
            latents: initial noise (1, F, C, h, w) instead of drawing it.
            output_type: "np" (uint8 frames) or "latent" (the final latents, no decoding).
            cache_motion_kv: compute motion keys/values once (True) or at every step.
            step_cache: first-block caching threshold (``sportanim.models.step_cache``; 0: off).
        """
        # 0. Defaults
        default_h, default_w = self.default_size()
        height, width = height or default_h, width or default_w
        num_frames = num_frames or self.default_num_frames
        mean = self.config.joint_mean if mean is None else mean
        std = self.config.joint_std if std is None else std
        if mean is None or std is None:
            raise ValueError("pass mean and std (24, 3) in mm: this pipeline stores no joint statistics")

        # 1. Check inputs
        image = as_rgb_array(reference_image)
        self.check_inputs(image, joints, mean, std, height, width, num_frames, guidance_scale,
                          num_inference_steps, output_type)
        mean, std = _stats_array(mean, "mean"), _stats_array(std, "std")
        device, dtype = self._execution_device, self.transformer.dtype
        guided = guidance_scale > 1.0

        # 2. Motion tokens, once
        ids, embeds, recon = self.encode_motion(joints, mean, std)
        embeds = embeds.to(device=device, dtype=dtype)

        # 3. Timesteps and initial noise
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        latents = self.prepare_latents(1, self.vae.config.latent_channels, num_frames, height, width,
                                       torch.float32, device, generator, latents)

        # 4. Reference latents: the image repeated over the frames, VAE-encoded
        reference = self.encode_reference(resize_cover(image, width, height), num_frames, generator)
        reference = reference.to(device=device, dtype=dtype).expand(2 if guided else 1, -1, -1, -1, -1)

        # 5. Motion conditioning (keys/values cached once per generation)
        motion = self.motion_conditioning(embeds, guided, cache_motion_kv)

        # 6. Denoising loop
        cache = FirstBlockCache(step_cache) if step_cache > 0 else None
        old_x0 = None
        with self.progress_bar(total=len(timesteps)) as progress:
            for i, t in enumerate(timesteps):
                model_input = torch.cat([latents] * 2) if guided else latents
                model_input = self.scheduler.scale_model_input(model_input, t).to(dtype)
                pred = self.transformer(model_input, t.expand(model_input.shape[0]), reference_latents=reference,
                                        return_dict=False, step_cache=cache, **motion)[0].float()
                if guided:
                    uncond, cond = pred.chunk(2)
                    pred = uncond + guidance_scale * (cond - uncond)
                t_prev = timesteps[i - 1] if i > 0 else None
                latents, old_x0 = self.scheduler_step(pred, old_x0, t, t_prev, latents, generator)
                progress.update()

        # 7. Decode
        if output_type == "latent":
            frames = latents
        else:
            frames = frames_to_uint8(vae_lib.decode_latents(self.vae, latents, device))
        self.maybe_free_model_hooks()
        return PipelineOutput(frames=frames, motion_ids=ids[0].cpu().numpy(), reconstructed_joints=recon,
                              skipped_steps=cache.skipped if cache is not None else 0)


def _onload(module: torch.nn.Module) -> None:
    """Move a module offloaded by ``enable_model_cpu_offload`` to its accelerator now, for work
    outside its ``forward`` (accelerate's hook only fires on ``forward``); a no-op otherwise."""
    hook = getattr(module, "_hf_hook", None)
    if hook is not None:
        hook.pre_forward(module)


# --------------------------------------------------------------------------- build / save / load


def build_pipeline(
    preset: str = "tiny",
    mean: np.ndarray | None = None,
    std: np.ndarray | None = None,
    seed: int = 0,
    scheduler: str = "dpm",
    device: str | torch.device = "cpu",
    torch_dtype: torch.dtype | None = None,
    num_frames: int | None = None,
    height: int | None = None,
    width: int | None = None,
) -> MTVCrafterPipeline:
    """A pipeline of ``PIPELINE_PRESETS[preset]`` with freshly initialised (random) weights,
    the same for the same ``seed``. ``num_frames`` (a valid tokenizer length, e.g. 17) sizes
    the DiT's unconditional motion tokens for clips of that length (default 49); ``height``/
    ``width`` set the default size. The untrained codebook (all zeros until the first training
    batch seeds it) gets random codes, so the tokens still vary with the motion."""
    if preset not in PIPELINE_PRESETS:
        raise ValueError(f"unknown pipeline preset {preset!r}; choose from {sorted(PIPELINE_PRESETS)}")
    spec = PIPELINE_PRESETS[preset]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tokenizer = MotionTokenizer(TOKENIZER_PRESETS[spec["tokenizer"]])
        tokenizer.vq.codebook.normal_()
        overrides = {}
        if num_frames is not None:
            overrides["num_motion_tokens"] = tokenizer.token_frames(num_frames) * NUM_JOINTS
        transformer = MVDiT(**{**DIT_PRESETS[spec["transformer"]], **overrides})
        vae = vae_lib.build_vae(spec["vae"])
    return _assemble(tokenizer, transformer, vae, make_scheduler(scheduler), mean, std,
                     height or spec["height"], width or spec["width"], device, torch_dtype)


def _assemble(tokenizer, transformer, vae, scheduler, mean, std, height, width, device, torch_dtype):
    tokenizer = tokenizer.to(device).float().eval()  # ModelMixin.to(dtype=) would log a warning per load
    transformer, vae = transformer.to(device).eval(), vae.to(device).eval()
    if torch_dtype is not None and (transformer.dtype, vae.dtype) != (torch_dtype, torch_dtype):
        transformer, vae = transformer.to(torch_dtype), vae.to(torch_dtype)
    route_conv3d_to_onednn(vae)  # one clip at a time: torch's rule would pick its naive CPU kernel
    stats = {k: None if v is None else _stats_array(v, k).tolist() for k, v in (("mean", mean), ("std", std))}
    return MTVCrafterPipeline(tokenizer, transformer, vae, scheduler, joint_mean=stats["mean"], joint_std=stats["std"],
                              default_height=height, default_width=width)


def save_pipeline(pipe: MTVCrafterPipeline, folder: str | Path, preset: str | None = None) -> Path:
    """Write ``pipe`` as a weights folder (layout in the module notes); returns the folder.
    Built in a temporary sibling and moved into place whole; fails if ``folder`` exists and is
    not empty, so nothing is mixed with older weights."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"{folder} exists and is not an empty folder; choose a new one")
    with atomic_dir(folder) as tmp:
        _write_parts(pipe, tmp, preset)
    return folder


def _write_parts(pipe: MTVCrafterPipeline, folder: Path, preset: str | None) -> None:
    pipe.tokenizer.save_pretrained(folder / "tokenizer")
    pipe.transformer.save_pretrained(folder / "transformer")
    pipe.vae.save_pretrained(folder / "vae")
    pipe.scheduler.save_pretrained(folder / "scheduler")
    if pipe.config.joint_mean is not None and pipe.config.joint_std is not None:
        write_stats(folder / STATS_NAME, {"mean": pipe.config.joint_mean, "std": pipe.config.joint_std})
    height, width = pipe.default_size()
    info = {"_class_name": type(pipe).__name__, "format": 1, "height": height, "width": width,
            "num_frames": pipe.default_num_frames, "preset": preset}
    (folder / PIPELINE_FILE).write_text(json.dumps(info, indent=2) + "\n")


def load_pipeline(
    folder: str | Path,
    scheduler: str = "dpm",
    device: str | torch.device = "cpu",
    torch_dtype: torch.dtype | None = None,
) -> MTVCrafterPipeline:
    """Load a weights folder (layout in the module notes). The tokenizer stays float32 (its
    nearest-code search is float32 upstream too); the DiT and the VAE take ``torch_dtype``
    (bf16 on GPUs). Raises FileNotFoundError for a missing part, ValueError for weights that do
    not fit their config."""
    folder = Path(folder)
    for part in ("tokenizer", "transformer", "vae"):
        if not (folder / part).is_dir():
            raise FileNotFoundError(f"{folder / part} not found: a weights folder holds tokenizer/, transformer/ "
                                    "and vae/ (see sportanim.models.pipeline)")
    info = _read_info(folder / PIPELINE_FILE)
    mean, std = _load_stats(folder)
    config = _read_scheduler_config(folder / "scheduler" / "scheduler_config.json")
    tokenizer = _load_tokenizer(folder / "tokenizer")
    transformer = MVDiT.from_pretrained(folder / "transformer", torch_dtype=torch_dtype)
    vae = _load_vae(folder / "vae", torch_dtype)
    return _assemble(tokenizer, transformer, vae, make_scheduler(scheduler, config), mean, std,
                     info.get("height"), info.get("width"), device, torch_dtype)


MAX_SIDE = 2048  # default frame side a weights folder may ask for (the 7B world runs 512)


def _read_info(path: Path) -> dict:
    """``pipeline.json`` (default video size), checked before any model is built: a size no
    model here was trained at would make every generation crawl (or run out of memory)."""
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(info, dict):
        raise ValueError(f"{path}: expected a JSON object with height, width, num_frames")
    for key in ("height", "width"):
        value = info.get(key)
        if value is not None and not (isinstance(value, int) and 16 <= value <= MAX_SIDE and value % 16 == 0):
            raise ValueError(f"{path}: {key} must be a multiple of 16 in [16, {MAX_SIDE}], got {value!r}")
    return info


MAX_TRAIN_TIMESTEPS = 10_000  # the schedule's tables have this many entries (upstream: 1000)


def _read_scheduler_config(path: Path) -> dict | None:
    """``scheduler_config.json`` (None if absent), checked before any model is built: the
    schedule is computed once from it, so a value of the wrong type or size fails here, in one
    line naming the file, rather than at the first denoising step."""
    if not path.is_file():
        return None
    config = read_json_object(path)
    steps = config.get("num_train_timesteps", SCHEDULER_CONFIG["num_train_timesteps"])
    if not (isinstance(steps, int) and 1 <= steps <= MAX_TRAIN_TIMESTEPS):
        raise ValueError(f"{path}: num_train_timesteps must be an integer in [1, {MAX_TRAIN_TIMESTEPS}], got {steps!r}")
    try:
        CogVideoXDPMScheduler.from_config(config).set_timesteps(2)
    except (TypeError, ValueError, RuntimeError, ArithmeticError) as err:  # NotImplementedError: a RuntimeError
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path}: not a scheduler config that works ({first[:200]}); check the file") from None
    return config


def _load_stats(folder: Path) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(mean, std) from stats.json, else mean.npy + std.npy, else (None, None)."""
    return read_joint_stats(folder) if has_joint_stats(folder) else (None, None)


def _load_tokenizer(folder: Path) -> MotionTokenizer:
    if (folder / UPSTREAM_CHECKPOINT_NAME).is_file():
        model = MotionTokenizer(TOKENIZER_PRESETS["mtvcrafter-7b"])
        return model.load_mtvcrafter_checkpoint(folder / UPSTREAM_CHECKPOINT_NAME).eval()
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder}: no config.json + model.safetensors (MotionTokenizer.save_pretrained) "
                                f"and no {UPSTREAM_CHECKPOINT_NAME}")
    return MotionTokenizer.from_pretrained(folder)


def _load_vae(folder: Path, torch_dtype: torch.dtype | None) -> AutoencoderKLCogVideoX:
    """``from_pretrained`` made strict like ``MVDiT.from_pretrained``: shapes checked first,
    missing or unexpected tensors raise instead of warning."""
    check_checkpoint(AutoencoderKLCogVideoX, folder, {})
    vae, info = AutoencoderKLCogVideoX.from_pretrained(folder, torch_dtype=torch_dtype, output_loading_info=True)
    for kind in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        if info.get(kind):
            raise ValueError(f"{folder}: {len(info[kind])} {kind.replace('_', ' ')}, first {info[kind][0]!r}; "
                             "the weights do not belong to this config")
    return vae
