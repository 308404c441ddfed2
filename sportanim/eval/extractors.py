"""Feature extractors of the video metrics, each with its protocol's input handling.

``select`` picks each metric's extractor: the published network when ``weights.resolve``
finds its file (checksum verified), else sportanim's in-domain network trained on the
synthetic world (``domain_extractors``; FVD and FID-VID from its 3D CNN, FID from its 2D
CNN), else (in-domain files missing, or ``fallback="random"``) a seeded random network of
the published architecture (``calibrated=False``): same seed, same weights, same features.
LPIPS has no in-domain network. ``Extractor.kind`` says which: "published", "in-domain" or
"random".

Protocols (inputs are uint8 RGB videos ``(T, H, W, 3)``):

- FID, InceptionV3 pool3 (2048): every frame an image; bilinear resize to 299x299,
  [0, 255] -> [-1, 1] (pytorch-fid).
- FVD, I3D Kinetics-400 logits (400), StyleGAN-V: consecutive 16-frame windows (a video of
  T frames gives floor(T/16) windows, each one sample) as (N, 3, 16, H, W) 0-255 floats;
  the network rescales to [-1, 1] and resizes to 224x224 itself (``rescale=True,
  resize=True, return_features=True``). The random stand-in does the same.
- FID-VID, 3D ResNet-50 Kinetics pooled features (2048), DisCo: each frame resized to
  112x112 with PIL bicubic on float channels (clean-fid's "PIL" resizer), the Kinetics
  pixel mean (114.7748, 107.7354, 99.4750) subtracted from 0-255 values, the video cut
  into 16-frame segments (the last one padded by repeating the last frame), features
  averaged over the segments: one sample per video.
- LPIPS: the lpips package's AlexNet v0.1 (its linear heads ship in the wheel); frames
  in [-1, 1].
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from sportanim.eval import domain_extractors as D
from sportanim.eval import weights as W
from sportanim.eval.i3d import InceptionI3d
from sportanim.eval.inception import FIDInceptionV3, fid_inception_input
from sportanim.eval.r3d import ResNet3d50

FVD_WINDOW = 16
FIDVID_SEGMENT = 16
FIDVID_SIZE = 112
KINETICS_MEAN = (114.7748, 107.7354, 99.4750)
DEFAULT_SEED = 0


PUBLISHED, IN_DOMAIN, RANDOM = "published", "in-domain", "random"
FALLBACKS = (IN_DOMAIN, RANDOM)


@dataclass
class Extractor:
    """A ready network plus where its weights came from. ``kind`` defaults to "published"
    for calibrated networks and "random" otherwise; ``protocol`` (in-domain networks) says
    how their features are made, else the metric's published protocol applies."""

    key: str
    net: nn.Module
    calibrated: bool
    weights: str | None = None
    sha256: str | None = None
    kind: str = ""
    name: str | None = None
    protocol: str | None = None
    _state_hash: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        self.kind = self.kind or (PUBLISHED if self.calibrated else RANDOM)

    def provenance(self) -> dict:
        out = {"extractor": self.key, "kind": self.kind, "calibrated": self.calibrated,
               "weights": self.weights, "sha256": self.sha256}
        return {**out, "name": self.name} if self.name else out

    def identity(self) -> str:
        """What made this network's features: its weights file's sha256 (published or
        in-domain), or (random stand-in) a hash of its parameter and buffer names, shapes
        and values."""
        if self.sha256:
            return f"{self.key}:sha256:{self.sha256}"
        if self._state_hash is None:
            digest = hashlib.sha256()
            for name, tensor in self.net.state_dict().items():
                digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
                digest.update(tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
            self._state_hash = digest.hexdigest()
        return f"{self.key}:random:{self._state_hash}"


# ------------------------------------------------------------------------------ building


def random_init(module: nn.Module, seed: int) -> nn.Module:
    """Deterministic He-normal weights (fan-in, ReLU) for every conv/linear layer, zero
    biases, unit BatchNorm; the global RNG is not touched."""
    generator = torch.Generator().manual_seed(seed)
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu", generator=generator)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.reset_parameters()
            layer.reset_running_stats()
    return module


def _load_state(net: nn.Module, path: Path, spec: W.WeightsSpec) -> None:
    """Strictly load a ``torch.save``d state dict (optionally under "state_dict", keys
    optionally prefixed "module.") into ``net``; errors name the first mismatch."""
    from sportanim.io.tensors import load_plain_tensors

    try:
        state = load_plain_tensors(path)
    except ValueError as error:
        raise W.WeightsError(f"cannot read {spec.filename}: {error}") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        first = (f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
                 if unexpected else f"{wrong[0]} {tuple(state[wrong[0]].shape)} != "
                 f"{tuple(own[wrong[0]].shape)}")
        raise W.WeightsError(f"{path} does not fit the {spec.key} network ({first}; "
                             f"{len(missing)} missing, {len(unexpected)} unexpected, "
                             f"{len(wrong)} mis-shaped); is it {spec.filename}?")
    net.load_state_dict(state)


def _build(spec: W.WeightsSpec, make, weights, seed: int) -> Extractor:
    path = W.resolve(spec, weights)
    net = make()
    if path is None:
        return Extractor(spec.key, random_init(net, seed).eval(), calibrated=False)
    digest = W.verify(path, spec)
    _load_state(net, path, spec)
    return Extractor(spec.key, net.eval(), True, str(path), digest)


def build_inception(weights=None, seed: int = DEFAULT_SEED) -> Extractor:
    return _build(W.INCEPTION, FIDInceptionV3, weights, seed)


def _quiet_residuals(net: ResNet3d50) -> ResNet3d50:
    """Random stand-in only: residual branches scaled by 1/4 (their last BatchNorm's
    gamma), else 16 blocks of unit-gain residuals grow activations ~2x per block."""
    for block in net.modules():
        if hasattr(block, "bn3"):
            nn.init.constant_(block.bn3.weight, 0.25)
    return net


def build_r3d50(weights=None, seed: int = DEFAULT_SEED) -> Extractor:
    ext = _build(W.R3D50, ResNet3d50, weights, seed)
    if not ext.calibrated:
        _quiet_residuals(ext.net)
    return ext


class RandomI3D(nn.Module):
    """The random-weight I3D behind the TorchScript file's call signature."""

    def __init__(self, seed: int):
        super().__init__()
        self.net = random_init(InceptionI3d(), seed)

    def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = True,
                return_features: bool = True) -> torch.Tensor:
        n, c, t, h, w = x.shape
        if rescale:
            x = x / 127.5 - 1
        if resize and (h, w) != (224, 224):
            frames = x.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w)
            frames = F.interpolate(frames, size=(224, 224), mode="bilinear", align_corners=False)
            x = frames.reshape(n, t, c, 224, 224).permute(0, 2, 1, 3, 4)
        logits = self.net(x)
        return logits if return_features else logits.softmax(dim=-1)


def build_i3d(weights=None, seed: int = DEFAULT_SEED) -> Extractor:
    """The published I3D is TorchScript (graph + weights, run as is), not a state dict."""
    path = W.resolve(W.I3D, weights)
    if path is None:
        return Extractor("i3d", RandomI3D(seed).eval(), calibrated=False)
    digest = W.verify(path, W.I3D)
    try:
        net = torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as error:  # TorchScript raises RuntimeError subclasses
        raise W.WeightsError(f"{path}: not a TorchScript file ({error}); need "
                             f"{W.I3D.describe()}") from None
    return Extractor("i3d", net, True, str(path), digest)


def build_lpips(weights=None, seed: int = DEFAULT_SEED) -> Extractor:
    """lpips' AlexNet v0.1 metric; the trunk from ``alexnet-owt-7be5be79.pth`` or seeded
    random (``pnet_rand=True`` never downloads)."""
    import lpips

    path = W.resolve(W.ALEXNET, weights)
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        torch.manual_seed(seed)
        warnings.simplefilter("ignore")  # lpips passes torchvision's deprecated `pretrained`
        metric = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True,
                             verbose=False).eval()
    if path is None:
        return Extractor("alexnet", metric, calibrated=False)
    digest = W.verify(path, W.ALEXNET)
    trunk = nn.Module()
    trunk.features = nn.Sequential(*[layer for s in range(1, 6)
                                     for layer in getattr(metric.net, f"slice{s}")])
    trunk.classifier = nn.Sequential(nn.Dropout(), nn.Linear(9216, 4096), nn.ReLU(),
                                     nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(),
                                     nn.Linear(4096, 1000))
    _load_state(trunk, path, W.ALEXNET)  # fills the slices' layers in place
    return Extractor("alexnet", metric, True, str(path), digest)


# ------------------------------------------------------------------------------ features


def _video_tensor(video: np.ndarray) -> torch.Tensor:
    """uint8 ``(T, H, W, 3)`` -> float ``(3, T, H, W)`` with 0-255 values."""
    return torch.from_numpy(np.ascontiguousarray(video)).permute(3, 0, 1, 2).float()


def spread_frames(count: int, frames: int | None) -> np.ndarray:
    """Indices of ``frames`` frames evenly spread over ``count`` (all if None or more)."""
    if frames is None or frames >= count:
        return np.arange(count)
    if frames < 1:
        raise ValueError(f"frames per video must be >= 1, got {frames}")
    return np.round(np.linspace(0, count - 1, frames)).astype(int)


@torch.no_grad()
def inception_features(ext: Extractor, video: np.ndarray, batch: int = 16,
                       frames: int | None = None) -> np.ndarray:
    """(T, 2048) pool3 features of every frame of one video (or of ``frames`` frames
    evenly spread over it: FID costs one InceptionV3 pass per frame)."""
    video = video[spread_frames(len(video), frames)]
    frames = torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2)
    out = [ext.net(fid_inception_input(frames[i:i + batch])) for i in range(0, len(frames), batch)]
    return torch.cat(out).double().numpy()


@torch.no_grad()
def i3d_features(ext: Extractor, video: np.ndarray, window: int = FVD_WINDOW,
                 batch: int = 2) -> np.ndarray:
    """(floor(T / window), 400) logits, one row per consecutive window."""
    count = len(video) // window
    if count == 0:
        raise ValueError(f"FVD needs videos of at least {window} frames, got {len(video)}")
    clips = _video_tensor(video[:count * window])  # (3, count*window, H, W)
    clips = clips.reshape(3, count, window, *clips.shape[2:]).permute(1, 0, 2, 3, 4)
    out = [ext.net(clips[i:i + batch], rescale=True, resize=True, return_features=True)
           for i in range(0, count, batch)]
    return torch.cat(out).double().numpy()


def _pil_bicubic(frame: np.ndarray, size: int) -> np.ndarray:
    """One frame (H, W, 3) resized per channel as float ("F") images, PIL bicubic."""
    return np.stack([np.asarray(Image.fromarray(frame[..., c].astype(np.float32), mode="F")
                                .resize((size, size), Image.BICUBIC)) for c in range(3)], -1)


@torch.no_grad()
def r3d_features(ext: Extractor, video: np.ndarray, segment: int = FIDVID_SEGMENT,
                 batch: int = 2) -> np.ndarray:
    """(2048,) features of one video: mean over its ``segment``-frame segments."""
    frames = np.stack([_pil_bicubic(f, FIDVID_SIZE) for f in video]) - np.float32(KINETICS_MEAN)
    pad = -len(frames) % segment
    if pad:
        frames = np.concatenate([frames, np.repeat(frames[-1:], pad, axis=0)])
    clips = torch.from_numpy(frames.astype(np.float32)).reshape(-1, segment, FIDVID_SIZE,
                                                                FIDVID_SIZE, 3)
    clips = clips.permute(0, 4, 1, 2, 3)  # (segments, 3, segment, 112, 112)
    out = torch.cat([ext.net(clips[i:i + batch]) for i in range(0, len(clips), batch)])
    return out.mean(dim=0).double().numpy()


BUILDERS = {"inception": build_inception, "i3d": build_i3d, "r3d50": build_r3d50,
            "alexnet": build_lpips}


# ------------------------------------------------------------------------------ in-domain

# published extractor key -> the in-domain network standing in for it, and its protocol
IN_DOMAIN_OF = {"i3d": "clip3d", "r3d50": "clip3d", "inception": "frame2d"}
IN_DOMAIN_PROTOCOL = {
    "i3d": "{name} features ({dims}) of consecutive {window}-frame windows, {size}x{size}",
    "r3d50": "{name} features ({dims}), {window}-frame segments averaged per video (the last "
             "padded), {size}x{size}",
    "inception": "{name} features ({dims}) of every frame, {size}x{size}",
}


def build_in_domain(key: str, folder=None) -> Extractor:
    """The in-domain network standing in for published extractor ``key`` (shipped, or from
    ``folder`` / ``$SPORTANIM_DOMAIN_EXTRACTORS``), checksum and shapes verified."""
    kind = IN_DOMAIN_OF[key]
    net, path, digest = D.load_network(kind, folder)
    protocol = IN_DOMAIN_PROTOCOL[key].format(name=D.NAMES[kind], dims=net.motion.in_features,
                                              window=D.WINDOW, size=D.SIZE)
    return Extractor(kind, net, True, str(path), digest, kind=IN_DOMAIN, name=D.NAMES[kind],
                     protocol=protocol)


def select(key: str, weights=None, seed: int = DEFAULT_SEED, fallback: str = IN_DOMAIN,
           folder=None) -> tuple[Extractor, str | None]:
    """The extractor for published key ``key`` and the note to report with its numbers
    (None for published weights): the published network if its file is given (``weights``
    or its environment variable), else the in-domain one (``fallback="in-domain"``, when
    ``key`` has one and its files exist), else the seeded random one."""
    if fallback not in FALLBACKS:
        raise ValueError(f"extractors must be one of {', '.join(FALLBACKS)}, got {fallback!r}")
    spec = W.SPECS[key]
    if W.resolve(spec, weights) is not None:
        return BUILDERS[key](weights, seed=seed), None
    if fallback == IN_DOMAIN and key in IN_DOMAIN_OF:
        if D.available(folder):
            ext = build_in_domain(key, folder)
            return ext, (f"{spec.used_by}: not given; {ext.name} used instead ({ext.protocol}; "
                         f"sha256 {ext.sha256[:12]}), calibrated on the synthetic world, not "
                         f"comparable with published numbers; for those get {spec.describe()}")
        return BUILDERS[key](None, seed=seed), (f"{W.missing_note(spec)}; the in-domain "
                                                f"extractors are missing from {D.folder_of(folder)}")
    return BUILDERS[key](None, seed=seed), W.missing_note(spec)


def features(key: str, ext: Extractor, video: np.ndarray, fid_frames: int | None = None) -> np.ndarray:
    """The features the metric of published key ``key`` (i3d: FVD, r3d50: FID-VID, inception:
    FID) takes from one video through ``ext``, by ``ext``'s protocol. ``fid_frames``: FID
    on that many frames evenly spread (None: all)."""
    if ext.kind == IN_DOMAIN:
        if key == "i3d":
            return D.window_features(ext.net, video)
        if key == "r3d50":
            return D.video_features(ext.net, video)
        return D.frame_features(ext.net, video, spread_frames(len(video), fid_frames))
    if key == "i3d":
        return i3d_features(ext, video)
    if key == "r3d50":
        return r3d_features(ext, video)
    return inception_features(ext, video, frames=fid_frames)
