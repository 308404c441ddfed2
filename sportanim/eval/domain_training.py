"""Training of the in-domain metric extractors (``domain_extractors``) on rendered clips.

The clips come from the synthetic world through ``synthesize`` (H.264 round trip included,
as the clips ``evaluate`` reads): a training set from world seed ``TRAIN_WORLD`` and a
held-out set from ``HELD_OUT_WORLD``. A world seed draws its own pool of athletes (bodies,
costumes), so held-out accuracy is measured on athletes never seen in training. Experiments
use world seeds from 0, far from both.

Both networks learn the clip's motion (12 classes: 6 jumps, 6 daily motions), the costume
colours (top, bottom, skin RGB) and, the 3D one, the jump's revolutions. Training batches are
augmented (random shifts of up to 4 px, horizontal flips, +-3% per-channel gain) so features
do not hinge on exact pixels. Everything is seeded: same arguments, same weights (on the
same torch build and thread count).
"""

from __future__ import annotations

import math
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from sportanim.eval import domain_extractors as D
from sportanim.io.files import write_json
from sportanim.eval.weights import sha256_of
from sportanim.fsjd import read_manifest
from sportanim.progress import progress_bar
from sportanim.synth.dataset import SynthConfig, synthesize
from sportanim.synth.world import DOMAINS, athlete
from sportanim.io.files import atomic_file
from sportanim.io.video import read_video

MOTIONS = DOMAINS["jump"] + DOMAINS["daily"]
TRAIN_WORLD, HELD_OUT_WORLD = 1000, 1001
FRAMES = 49  # one MTVCrafter window, as the clips the metrics score
SHIFT, GAIN = 4, 0.03


@dataclass
class ClipSet:
    videos: torch.Tensor  # (N, T, 64, 64, 3) uint8
    motion: torch.Tensor  # (N,) class index into MOTIONS
    revolutions: torch.Tensor  # (N,) float, NaN for daily motions
    colours: torch.Tensor  # (N, 9) top, bottom, skin RGB in [0, 1]


def render_clips(folder: Path, world_seed: int, clips: int, show_progress: bool = True) -> ClipSet:
    """``clips`` clips of world ``world_seed`` written to ``folder`` (FSJD) and read back."""
    synthesize(SynthConfig(out=folder, clips=clips, size=D.SIZE, frames=FRAMES, seed=world_seed,
                           eval_fraction=0.0, workers=1), show_progress=show_progress)
    videos, motion, revolutions, colours = [], [], [], []
    for record in read_manifest(folder):
        videos.append(read_video(folder / record.video)[0])
        motion.append(MOTIONS.index(record.labels["motion"]))
        revolutions.append(record.labels.get("revolutions") or math.nan)
        look = athlete(world_seed, int(record.labels["athlete"][1:])).appearance
        colours.append([*look.top, *look.bottom, *look.skin])
    return ClipSet(torch.from_numpy(np.stack(videos)), torch.tensor(motion),
                   torch.tensor(revolutions, dtype=torch.float32),
                   torch.tensor(colours, dtype=torch.float32))


# ------------------------------------------------------------------------------ batches


def augment(frames: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``(N, K, 3, S, S)`` in [-1, 1] (K frames of one sample) -> shifted, flipped, re-gained."""
    n, _, _, size, _ = frames.shape
    padded = F.pad(frames.flatten(0, 1), (SHIFT,) * 4, mode="replicate").unflatten(0, frames.shape[:2])
    offsets = torch.randint(0, 2 * SHIFT + 1, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    gains = 1 + GAIN * (2 * torch.rand(n, 1, 3, 1, 1, generator=generator) - 1)
    out = torch.stack([padded[i, ..., y:y + size, x:x + size] for i, (y, x) in enumerate(offsets.tolist())])
    out = torch.where(flips[:, None, None, None, None], out.flip(-1), out)
    return ((out + 1) * gains - 1).clamp(-1, 1)


def _sample(data: ClipSet, count: int, length: int, generator: torch.Generator):
    """``count`` random ``length``-frame pieces: augmented frames ``(N, length, 3, S, S)``
    and their clips' labels."""
    clips = torch.randint(0, len(data.videos), (count,), generator=generator)
    starts = torch.randint(0, data.videos.shape[1] - length + 1, (count,), generator=generator)
    pieces = torch.stack([data.videos[c, s:s + length] for c, s in zip(clips.tolist(), starts.tolist())])
    frames = pieces.permute(0, 1, 4, 2, 3).float() / 127.5 - 1
    return augment(frames, generator), data.motion[clips], data.revolutions[clips], data.colours[clips]


def _loss(net: D.FeatureNet, x: torch.Tensor, motion, revolutions, colours) -> torch.Tensor:
    logits, revs, colour = net(x)
    loss = F.cross_entropy(logits, motion) + F.mse_loss(colour, colours)
    jumps = ~torch.isnan(revolutions)
    if jumps.any():  # revolutions / 4 keeps the target in [0, 1] like the colours
        loss = loss + F.mse_loss(revs[jumps], revolutions[jumps] / 4)
    return loss


def train_network(kind: str, data: ClipSet, steps: int, batch: int, seed: int, lr: float = 2e-3,
                  show_progress: bool = True) -> tuple[D.FeatureNet, list[float]]:
    """A fresh ``kind`` network trained for ``steps`` AdamW steps (warm-up, cosine decay);
    returns it (eval mode) and the loss of every step."""
    config = {**D.DEFAULT_CONFIGS[kind], "motions": list(MOTIONS)}
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # weight init and dropout
        net = D.build_network(kind, config).train()
        optimiser = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
        warmup = max(1, steps // 20)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: min(1.0, (s + 1) / warmup)
                                                     * 0.5 * (1 + math.cos(math.pi * s / steps)))
        losses = []
        with progress_bar(f"train {kind}", steps, enabled=show_progress) as advance:
            for _ in range(steps):
                x, *labels = _sample(data, batch, D.WINDOW if kind == "clip3d" else 1, generator)
                x = x.transpose(1, 2) if kind == "clip3d" else x[:, 0]
                loss = _loss(net, x, *labels)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                schedule.step()
                losses.append(loss.item())
                advance()
    return net.eval(), losses


# ------------------------------------------------------------------------------ held-out


@torch.no_grad()
def held_out_scores(kind: str, net: D.FeatureNet, data: ClipSet) -> dict:
    """Accuracy of the motion head per sample (window / frame) and per clip (mean logits),
    jump-vs-daily accuracy, revolutions and colour mean absolute errors."""
    jump_classes = len(DOMAINS["jump"])
    per_sample, per_clip, revs, colour = [], [], [], []
    for video, motion, revolutions, colours in zip(data.videos.numpy(), data.motion, data.revolutions,
                                                   data.colours):
        frames = D.frames_input(video)
        if kind == "clip3d":
            count = len(frames) // D.WINDOW
            x = frames[:count * D.WINDOW].reshape(count, D.WINDOW, *frames.shape[1:]).transpose(1, 2)
        else:
            x = frames
        h = net.features(x)
        logits = net.motion(h)
        per_sample.append((logits.argmax(1) == motion).float().mean())
        per_clip.append(int(logits.mean(0).argmax()))
        colour.append((net.colour(h).mean(0) - colours).abs().mean())
        if not math.isnan(revolutions):
            revs.append(abs(4 * float(net.revolutions(h).mean()) - float(revolutions)))
    per_clip = torch.tensor(per_clip)
    truth = data.motion
    scores = {"motion_accuracy_per_" + ("window" if kind == "clip3d" else "frame"):
              float(torch.stack(per_sample).mean()),
              "motion_accuracy_per_clip": float((per_clip == truth).float().mean()),
              "jump_vs_daily_accuracy": float(((per_clip < jump_classes) == (truth < jump_classes))
                                              .float().mean()),
              "colour_mae": float(torch.stack(colour).mean()), "chance": 1 / len(MOTIONS),
              "clips": len(truth)}
    if kind == "clip3d":
        scores["revolutions_mae"] = float(np.mean(revs)) if revs else None
    return scores


# ------------------------------------------------------------------------------ the job


def _save(net: D.FeatureNet, path: Path) -> str:
    """float16 safetensors (half the bytes), atomically; ``net`` takes the rounded weights,
    so the held-out scores are those of the shipped file. Returns the file's sha256."""
    state = {k: (v.half() if v.is_floating_point() else v).detach().contiguous()
             for k, v in net.state_dict().items()}
    with atomic_file(path) as tmp:
        save_file(state, str(tmp))
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return sha256_of(path)


def train_domain_extractors(out: Path, seed: int = 0, clips: int = 1200, held_out: int = 240,
                            steps_3d: int = 1100, steps_2d: int = 900, batch_3d: int = 16,
                            batch_2d: int = 64, show_progress: bool = True) -> dict:
    """Render ``clips`` training and ``held_out`` held-out clips, train ``clip3d`` and
    ``frame2d``, and write them to ``out`` (``*.safetensors`` + ``extractors.json``, the
    record returned: configs, sha256s, call, seed, seconds, held-out scores)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start, cpu_start = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory(prefix="sportanim-extractors-") as tmp:
        train = render_clips(Path(tmp) / "train", TRAIN_WORLD, clips, show_progress)
        test = render_clips(Path(tmp) / "held_out", HELD_OUT_WORLD, held_out, show_progress)
    seconds = {"render": time.perf_counter() - start}
    networks = {}
    for k, (kind, steps, batch) in enumerate((("clip3d", steps_3d, batch_3d), ("frame2d", steps_2d, batch_2d))):
        begin = time.perf_counter()
        net, losses = train_network(kind, train, steps, batch, seed + k, show_progress=show_progress)
        seconds[kind] = time.perf_counter() - begin
        path = out / f"{kind}.safetensors"
        digest = _save(net, path)
        networks[kind] = {"file": path.name, "sha256": digest, "bytes": path.stat().st_size,
                          "name": D.NAMES[kind], "features": D.DEFAULT_CONFIGS[kind]["channels"][-1],
                          "config": {**D.DEFAULT_CONFIGS[kind], "motions": list(MOTIONS)},
                          "steps": steps, "batch": batch,
                          "loss_first_last_50": [float(np.mean(losses[:50])), float(np.mean(losses[-50:]))],
                          "held_out": held_out_scores(kind, net, test)}
    record = {"format": D.FORMAT, "networks": networks, "training": {
        "call": (f"train_domain_extractors(out, seed={seed}, clips={clips}, held_out={held_out}, "
                 f"steps_3d={steps_3d}, steps_2d={steps_2d}, batch_3d={batch_3d}, batch_2d={batch_2d})"),
        "seed": seed, "train_world_seed": TRAIN_WORLD, "held_out_world_seed": HELD_OUT_WORLD,
        "frames": FRAMES, "size": D.SIZE, "augment": f"shift <= {SHIFT} px, h-flip, gain +-{GAIN}",
        "torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version(),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "cpu_seconds": round(time.process_time() - cpu_start, 1)}}
    write_json(out / D.RECORD_NAME, record)
    return record
