"""One way to generate: a ``Generator`` loads a weights folder once and animates many clips.

``sportanim generate``, the experiment and the benchmarks all go through it, so a loaded
model, its joint normalisation and its device/dtype/offload/tiling settings live in one place::

    gen = Generator.load(ModelSpec(weights="sportanim/weights/tiny"))
    out = gen.generate(reference_image, joints, Sampling(steps=25, seed=0))   # out.frames uint8

``generate_video`` is the file-level call behind ``sportanim generate``: a motion file or
FSJD clip id and a reference image in, an H.264 mp4 (and optionally a panel video) out.
The panel (``OUT.panel.mp4``) is: reference | source video (if the motion has one) | input
skeleton | tokenizer-reconstructed skeleton | generated, each at the output size.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_FPS = 30.0  # the synthetic world's rate; used when the motion source has none
TILING_ABOVE_PX = 256  # tiled VAE for larger frames (the 7B's 512 px, as upstream); the tiny world runs untiled
DTYPES = ("auto", "fp32", "bf16", "fp16")

Note = Callable[[str], None]


@dataclass(frozen=True)
class ModelSpec:
    """Which model to load and how. ``weights`` None: the shipped tiny base (random weights of
    ``preset`` only when none is installed); ``tokenizer``: a tokenizer export (config,
    weights, its own stats.json) replacing the pipeline's, as the tokenizer-only strategy makes."""

    weights: Path | None = None
    preset: str = "tiny"
    tokenizer: Path | None = None
    scheduler: str = "dpm"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | fp32 | bf16 | fp16
    offload: bool = False  # model CPU offload (GPU memory for time)
    compile: bool = False  # torch.compile the DiT (for GPUs: the tiny CPU model gained nothing, 90 s to compile)


@dataclass(frozen=True)
class Sampling:
    steps: int = 50  # denoising steps
    guidance: float = 3.0  # motion classifier-free guidance (1: off)
    seed: int = 0  # same seed, same video
    step_cache: float = 0.0  # first-block caching threshold (sportanim.models.step_cache); 0: off, exact

    def __post_init__(self):
        if not (0.0 <= self.step_cache <= 1.0):
            raise ValueError(f"--step-cache {self.step_cache}: a threshold in [0, 1] (0: off; 0.05-0.2 skips "
                             "steps whose first DiT block changed less than that)")


MAX_FPS = 240.0  # slow-motion cameras; above that a rate is a typo
MAX_REFERENCE_PIXELS = 8192 * 8192  # larger reference images are refused before decoding


def resolve_device(device: str, dtype: str):
    """(device string, torch dtype or None for the weights' own float32); one-line errors
    for a device that is not one, or a GPU that is not here."""
    import torch

    from sportanim.devices import check_device

    device = check_device(device)
    dtypes = {"auto": torch.bfloat16 if device.startswith("cuda") else None, "fp32": None,
              "bf16": torch.bfloat16, "fp16": torch.float16}
    if dtype not in dtypes:
        raise ValueError(f"--dtype must be one of {sorted(dtypes)}, got {dtype!r}")
    return device, dtypes[dtype]


class Generator:
    """A loaded MTVCrafter pipeline and the joint normalisation (mean, std; None when the
    weights carry none) its tokenizer expects."""

    def __init__(self, pipe, mean: np.ndarray | None, std: np.ndarray | None,
                 random_weights: bool = False, notes: list[str] | None = None):
        self.pipe = pipe
        self.mean, self.std = mean, std
        self.random_weights = random_weights
        self.notes = list(notes or [])

    @classmethod
    def load(cls, spec: ModelSpec = ModelSpec(), show_progress: bool = False,
             on_note: Note | None = None) -> "Generator":
        """Load ``spec`` once; ``on_note`` hears what was chosen for the user (e.g. the
        shipped base, random weights)."""
        from sportanim.models.vae import set_memory_savers

        notes: list[str] = []

        def note(text: str) -> None:
            notes.append(text)
            if on_note is not None:
                on_note(text)

        device, torch_dtype = resolve_device(spec.device, spec.dtype)
        if spec.offload and not device.startswith("cuda"):
            raise ValueError(f"--offload moves models between the CPU and a GPU; the device here is {device}")
        pipe, random_weights = _load_pipeline(spec, device, torch_dtype, note)
        mean, std = _stats_of(pipe)
        if spec.tokenizer is not None:
            mean, std = _replace_tokenizer(pipe, Path(spec.tokenizer), device)
        pipe.set_progress_bar_config(disable=not show_progress, desc="generate")
        if spec.offload:
            pipe.enable_model_cpu_offload(device=device)
        height, width = pipe.default_size()
        set_memory_savers(pipe.vae, tiling=max(height, width) > TILING_ABOVE_PX)
        if spec.compile:
            pipe.transformer.compile(dynamic=False)  # compiled on the first generation, per input shape
            note("the DiT is compiled on the first generation (torch.compile): that one takes longer")
        return cls(pipe, mean, std, random_weights, notes)

    @property
    def num_frames(self) -> int:
        return self.pipe.default_num_frames

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) the weights were trained at."""
        return self.pipe.default_size()

    def _stats(self, mean, std) -> tuple[np.ndarray, np.ndarray]:
        mean = self.mean if mean is None else mean
        std = self.std if std is None else std
        if mean is None or std is None:
            raise ValueError("these weights carry no joint statistics (stats.json): pass mean and std")
        return mean, std

    def generate(self, image: np.ndarray, joints: np.ndarray, sampling: Sampling = Sampling(), *,
                 num_frames: int | None = None, height: int | None = None, width: int | None = None,
                 mean: np.ndarray | None = None, std: np.ndarray | None = None, latents_only: bool = False):
        """Animate ``image`` (uint8 RGB) with ``joints`` (T, 24, 3) mm, camera space; T equal
        to ``num_frames`` (default the weights'). Returns the pipeline output (``frames``
        uint8 (T, H, W, 3), ``reconstructed_joints``); with ``latents_only`` its ``frames`` are
        the final latents (1, F, C, h, w) instead, for :meth:`decode` (e.g. after joining the
        windows of a long video)."""
        import torch

        mean, std = self._stats(mean, std)
        default_h, default_w = self.size
        generator = torch.Generator("cpu").manual_seed(sampling.seed)
        with torch.no_grad():
            return self.pipe(image, joints, mean, std, num_inference_steps=sampling.steps,
                             guidance_scale=sampling.guidance, generator=generator,
                             height=height or default_h, width=width or default_w,
                             num_frames=num_frames or self.num_frames,
                             output_type="latent" if latents_only else "np", step_cache=sampling.step_cache)

    @property
    def temporal_factor(self) -> int:
        """Pixel frames per latent frame after the first (CogVideoX's VAE: 4)."""
        return self.pipe.vae_scale_factor_temporal

    def decode(self, latents) -> np.ndarray:
        """Latents (1, F, C, h, w) of any length -> uint8 frames (1 + 4 (F - 1), H, W, 3)."""
        import torch

        from sportanim.models import vae as vae_lib
        from sportanim.models.pipeline import frames_to_uint8

        with torch.no_grad():
            return frames_to_uint8(vae_lib.decode_latents(self.pipe.vae, latents, self.pipe._execution_device))

    def reconstruct(self, joints: np.ndarray, mean: np.ndarray | None = None,
                    std: np.ndarray | None = None) -> np.ndarray:
        """The tokenizer's encode -> decode of ``joints`` (what would drive the video), mm."""
        mean, std = self._stats(mean, std)
        return self.pipe.encode_motion(joints, mean, std)[2]


def _load_pipeline(spec: ModelSpec, device: str, torch_dtype, note: Note):
    """(pipeline, random_weights)."""
    from sportanim.models.pipeline import PIPELINE_PRESETS, build_pipeline, load_pipeline

    if spec.weights is not None:
        return load_pipeline(spec.weights, scheduler=spec.scheduler, device=device, torch_dtype=torch_dtype), False
    if spec.preset not in PIPELINE_PRESETS:
        raise ValueError(f"unknown --preset {spec.preset!r}; choose from {sorted(PIPELINE_PRESETS)}")
    if spec.preset != "tiny":
        raise ValueError(f"--preset {spec.preset} needs --weights DIR (random weights at that size are gigabytes of noise)")
    from sportanim.weights import default_weights, has_default_weights

    if has_default_weights():
        note(f"no --weights: the shipped tiny base ({default_weights()})")
        return load_pipeline(default_weights(), scheduler=spec.scheduler, device=device,
                             torch_dtype=torch_dtype), False
    note("NO --weights: RANDOM untrained tiny weights, the video is noise "
         "(train some with `sportanim pretrain --install` / `sportanim train`)")
    return build_pipeline(spec.preset, scheduler=spec.scheduler, device=device, torch_dtype=torch_dtype), True


def _stats_of(pipe) -> tuple[np.ndarray | None, np.ndarray | None]:
    if pipe.config.joint_mean is None or pipe.config.joint_std is None:
        return None, None
    return np.asarray(pipe.config.joint_mean), np.asarray(pipe.config.joint_std)


def _replace_tokenizer(pipe, folder: Path, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Swap in a tokenizer export; its stats.json is the normalisation it was trained with."""
    from sportanim.io.stats import read_joint_stats
    from sportanim.models.tokenizer import MotionTokenizer

    pipe.tokenizer = MotionTokenizer.from_pretrained(folder).to(device).eval()
    return read_joint_stats(folder)


# --------------------------------------------------------------------------- video files


@dataclass
class GenerateResult:
    video: Path
    panel: Path | None
    seconds: float
    random_weights: bool
    notes: list[str] = field(default_factory=list)


def generate_video(motion: str, out: Path, *, ref_image: Path | None = None, model: ModelSpec = ModelSpec(),
                   sampling: Sampling = Sampling(), panel: bool = False, data: Path | None = None,
                   start: int = 0, fps: float | None = None, generator: Generator | None = None,
                   show_progress: bool = True, on_note: Note | None = None) -> GenerateResult:
    """Write ``out`` (H.264 mp4) of the reference image doing ``motion`` (a motion file or an
    FSJD clip id of ``data``, see ``sportanim.data.motion.load_motion``). Without
    ``ref_image`` the source video's frame at the motion's start is the reference (upstream's
    fallback). ``generator``: an already loaded model (else ``model`` is loaded, after the
    inputs are checked). ``on_note`` hears each note as it arises; all are in the result."""
    from sportanim.data.motion import fit_motion, load_motion
    from sportanim.io.video import write_video

    begun, notes = time.perf_counter(), []

    def note(text: str) -> None:
        notes.append(text)
        if on_note is not None:
            on_note(text)

    check_output(out, fps)  # fail fast: before reading, loading or generating anything
    source = load_motion(motion, data, read_video=False)
    image = read_image(ref_image) if ref_image is not None else None
    if generator is None:
        generator = Generator.load(model, show_progress=show_progress, on_note=note)
    num_frames = generator.num_frames
    height, width = generator.size

    joints, index = fit_motion(source.joints, num_frames, start)
    if len(source.joints) < num_frames:
        note(f"motion has {len(source.joints)} frames: resampled to {num_frames}")
    if panel or image is None:
        source = load_motion(motion, data, max_frames=int(index.max()) + 1)
    if image is None:
        image = _reference_from_video(source, index, note)
    mean, std = _stats_for(generator, data, source.joints, note)

    result = generator.generate(image, joints, sampling, num_frames=num_frames, height=height, width=width,
                                mean=mean, std=std)
    rate = fps or source.fps or DEFAULT_FPS
    out.parent.mkdir(parents=True, exist_ok=True)
    write_video(out, result.frames, rate)
    panel_path = out.with_name(out.stem + ".panel.mp4") if panel else None
    if panel_path is not None:
        from sportanim.models.pipeline import resize_cover

        columns = _panel_columns(resize_cover(image, width, height), source, index, joints,
                                 result.reconstructed_joints, result.frames)
        write_video(panel_path, np.concatenate(columns, axis=2), rate)
    return GenerateResult(out, panel_path, time.perf_counter() - begun, generator.random_weights, notes)


def check_output(out: Path, fps: float | None) -> None:
    """Refuse, before any work, an output the video cannot be written to: not ``.mp4``, an
    existing folder, a parent that is a file, or a frame rate that is not a rate."""
    import math

    out = Path(out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give a file name, e.g. {out / 'video.mp4'}")
    if out.suffix.lower() != ".mp4":
        raise ValueError(f"--out {out}: the video is H.264 in MP4; name it .mp4")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"--out {out}: {parent} is a file, not a folder")
            break
    if fps is not None and not (math.isfinite(fps) and 0 < fps <= MAX_FPS):
        raise ValueError(f"--fps {fps:g}: must be a frame rate in (0, {MAX_FPS:g}]")


def read_image(path: Path) -> np.ndarray:
    """A reference image as uint8 RGB (H, W, 3); one-line errors for missing, unreadable or
    oversized files (the size is checked from the header, before decoding)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_REFERENCE_PIXELS or min(width, height) < 1:
                raise ValueError(f"{path}: a {width}x{height} image is outside what a reference can be "
                                 f"(at most {MAX_REFERENCE_PIXELS} pixels)")
            return np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise FileNotFoundError(f"reference image not found: {path}") from None
    except Image.DecompressionBombError as err:
        raise ValueError(f"{path}: image too large to be a reference ({err})") from None
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{path}: not a readable image ({err})") from None


def _stats_for(generator: Generator, data: Path | None, joints: np.ndarray, note: Note):
    """The normalisation: the weights' own, else the dataset's stats.json, else the clip's."""
    from sportanim.data.motion import motion_stats
    from sportanim.io.stats import STATS_NAME, read_joint_stats

    if generator.mean is not None:
        return generator.mean, generator.std
    if data is not None and (data / STATS_NAME).is_file():
        note(f"joint statistics from {data / STATS_NAME}")
        return read_joint_stats(data)
    if not generator.random_weights:  # trained weights normalise as they were trained, or not at all
        raise ValueError("these weights carry no stats.json (the joint normalisation they were trained with); "
                         "put it back in the weights folder or pass --data DIR with the dataset's stats.json")
    note("joint statistics computed from this motion alone (random weights carry none)")
    return motion_stats(joints)


def _reference_from_video(source, index: np.ndarray, note: Note) -> np.ndarray:
    if source.source_video is None:
        raise ValueError("--ref-image is needed: this motion has no source video to take a reference from")
    note("no --ref-image: the source video's first frame is the reference")
    return source.source_video[min(int(index[0]), len(source.source_video) - 1)]


def _panel_columns(reference, source, index, joints, recon, generated) -> list[np.ndarray]:
    """reference | source video (if any) | input skeleton | reconstructed skeleton | generated."""
    from sportanim.models.pipeline import resize_cover
    from sportanim.skeleton import camera_for_output, draw_skeleton, nlf_intrinsics

    frames, height, width = len(generated), generated.shape[1], generated.shape[2]
    columns = [np.broadcast_to(reference, (frames, height, width, 3))]
    if source.source_video is not None:
        video = source.source_video
        columns.append(np.stack([resize_cover(video[min(i, len(video) - 1)], width, height) for i in index]))
    if source.intrinsics is not None and source.image_size is not None:
        camera = camera_for_output(source.intrinsics, source.image_size, width, height)
        camera = camera[index] if camera.ndim == 3 else camera
    else:
        camera = nlf_intrinsics(width, height)
    columns += [draw_skeleton(joints, camera, width, height), draw_skeleton(recon, camera, width, height), generated]
    return columns
