"""Jump classifier: world joints -> jump type, revolutions, direction, take-off/landing
frames, each with a confidence; and beside it the rule-based reading of the flight.

The learnt model is a small temporal convolution over canonical-world features per frame
(joints relative to the pelvis, pelvis height and horizontal velocity, the hip axis's turn
rate): per-frame logits date take-off and landing (a softmax over frames each), pooled
features give the type, the revolutions and the direction. The pooled feature vector
(``embed``) is also what the generator benchmark's FID, diversity and multimodality use,
as MDM's action-to-motion protocol uses its classifier's features.

Input without extrinsics (camera-space joints only) is levelled from the skeleton:
up from :func:`sportanim.analysis.estimate_up_axis`, ice under the lower ankle.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sportanim import analysis as an
from sportanim import fsjd
from sportanim.io.files import atomic_dir
from sportanim.motion import frames
from sportanim.motion.clips import JumpClip, load_jump_clips
from sportanim.motion.elements import DIRECTIONS, Element
from sportanim.motion.generator import JUMP_NAMES, REVOLUTION_VALUES
from sportanim.motion.rules import read_flight
from sportanim.progress import progress_bar
from sportanim.skeleton import JOINT_INDEX as J
from sportanim.synth.kinematics import rotation_between
from sportanim.synth.timeline import ANKLE_ON_ICE

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
RECORD_NAME = "record.json"
SHIPPED = Path(__file__).resolve().parent.parent / "weights" / "motion" / "classifier"
FPS = 30.0


@dataclass
class ClassifierConfig:
    in_channels: int = 24 * 3 + 4  # features per frame (see ``features``)
    width: int = 64
    embed: int = 64  # pooled feature size (FID features)
    dropout: float = 0.1


def features(world: np.ndarray) -> np.ndarray:
    """Canonical world joints ``(T, 24, 3)`` m -> float32 ``(C, T)`` per-frame features."""
    pelvis = world[:, J["pelvis"]]
    rel = (world - pelvis[:, None]).reshape(len(world), -1)  # (T, 72)
    velocity = np.gradient(pelvis[:, :2], axis=0) * FPS / 5.0  # ~unit at skating speed
    turn = np.gradient(an.hip_heading(world[:, J["left_hip"]], world[:, J["right_hip"]]))  # rad / frame
    x = np.concatenate([rel, pelvis[:, 2:3] - 1.0, velocity, turn[:, None]], axis=1)
    return x.T.astype(np.float32)


class JumpClassifier(nn.Module):
    """``(B, C, T)`` features -> dict of logits: ``type (B, 6)``, ``revolutions (B, 7)``,
    ``direction (B, 2)``, ``takeoff``/``landing (B, T)``; and ``embed (B, E)``."""

    def __init__(self, config: ClassifierConfig | None = None):
        super().__init__()
        self.config = c = config or ClassifierConfig()
        conv = lambda i, o, d: nn.Conv1d(i, o, 5, padding=2 * d, dilation=d)  # noqa: E731
        self.body = nn.Sequential(conv(c.in_channels, c.width, 1), nn.GELU(), conv(c.width, c.width, 2), nn.GELU(),
                                  conv(c.width, c.width, 4), nn.GELU())
        self.events = nn.Conv1d(c.width, 2, 1)
        self.embed = nn.Sequential(nn.Linear(2 * c.width, c.embed), nn.GELU(), nn.Dropout(c.dropout))
        self.jump_type = nn.Linear(c.embed, len(JUMP_NAMES))
        self.revolutions = nn.Linear(c.embed, len(REVOLUTION_VALUES))
        self.direction = nn.Linear(c.embed, len(DIRECTIONS))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.body(x)  # (B, W, T)
        events = self.events(h)  # (B, 2, T)
        e = self.embed(torch.cat([h.mean(-1), h.amax(-1)], dim=1))
        return {"type": self.jump_type(e), "revolutions": self.revolutions(e), "direction": self.direction(e),
                "takeoff": events[:, 0], "landing": events[:, 1], "embed": e}

    def save_pretrained(self, folder: Path) -> None:
        from safetensors.torch import save_file

        (folder / CONFIG_NAME).write_text(json.dumps({"_class_name": type(self).__name__, **asdict(self.config)},
                                                     indent=2) + "\n")
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(folder / WEIGHTS_NAME))

    @classmethod
    def from_pretrained(cls, folder: str | Path | None = None) -> "JumpClassifier":
        from sportanim.io.tensors import load_small_model

        folder = Path(folder or SHIPPED)
        if not (folder / WEIGHTS_NAME).is_file():
            raise FileNotFoundError(f"{folder} holds no jump classifier ({WEIGHTS_NAME}); train one with "
                                    "`sportanim motion train --model classifier`")
        return load_small_model(folder, lambda raw: cls(ClassifierConfig(
            **{f.name: raw[f.name] for f in fields(ClassifierConfig) if f.name in raw})))


# ------------------------------------------------------------------------------ training


def _targets(clips: list[JumpClip]) -> dict[str, torch.Tensor]:
    return {"type": torch.tensor([JUMP_NAMES.index(c.type) for c in clips]),
            "revolutions": torch.tensor([REVOLUTION_VALUES.index(c.revolutions) for c in clips]),
            "direction": torch.tensor([DIRECTIONS.index(c.direction) for c in clips]),
            "takeoff": torch.tensor([c.takeoff for c in clips]), "landing": torch.tensor([c.landing for c in clips])}


def fit_classifier(clips: list[JumpClip], seed: int = 0, steps: int = 600, batch_size: int = 64,
                   show_progress: bool = False) -> JumpClassifier:
    """Train a classifier on ``clips`` (all of one length)."""
    torch.manual_seed(seed)
    x = torch.from_numpy(np.stack([features(c.world) for c in clips]))
    y = _targets(clips)
    model = JumpClassifier().train()
    optim = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    gen = torch.Generator().manual_seed(seed)
    with progress_bar(f"jump classifier {steps} steps", total=steps, enabled=show_progress) as advance:
        for _ in range(steps):
            rows = torch.randint(0, len(x), (batch_size,), generator=gen)
            out = model(x[rows] + 0.01 * torch.randn(x[rows].shape, generator=gen))
            loss = sum(F.cross_entropy(out[k], y[k][rows]) for k in ("type", "revolutions", "direction",
                                                                      "takeoff", "landing"))
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            sched.step()
            advance(1)
    return model.eval()


def evaluate_classifier(model: JumpClassifier, clips: list[JumpClip]) -> dict:
    """Accuracy of type, revolutions (exact nominal), direction; take-off/landing within
    one frame; the rule-based revolutions within 0.25 of the nominal count."""
    preds = predict(model, [c.world for c in clips])
    y = _targets(clips)
    n = len(clips)
    rule = [read_flight(c.world, FPS) for c in clips]
    return {
        "clips": n,
        "type_accuracy": float(sum(p.element.type == c.type for p, c in zip(preds, clips)) / n),
        "revolutions_accuracy": float(sum(p.element.revolutions == c.revolutions for p, c in zip(preds, clips)) / n),
        "element_accuracy": float(sum(p.element == Element(c.type, c.revolutions) for p, c in zip(preds, clips)) / n),
        "direction_accuracy": float(sum(p.direction == c.direction for p, c in zip(preds, clips)) / n),
        "takeoff_within_1": float(sum(abs(p.takeoff_frame - int(t)) <= 1 for p, t in zip(preds, y["takeoff"])) / n),
        "landing_within_1": float(sum(abs(p.landing_frame - int(t)) <= 1 for p, t in zip(preds, y["landing"])) / n),
        "rule_revolutions_within_0.25": float(sum(r is not None and abs(abs(r.revolutions) - c.revolutions) <= 0.25
                                                  for r, c in zip(rule, clips)) / n),
    }


def train_classifier(data_dirs, out, seed: int = 0, steps: int = 600, overwrite: bool = False,
                     show_progress: bool = True, command: str | None = None) -> dict:
    """Train on every jump clip of ``data_dirs`` and write it to ``out`` with a record."""
    started = time.time()
    clips = load_jump_clips(data_dirs)
    model = fit_classifier(clips, seed, steps, show_progress=show_progress)
    record = {"command": command, "seed": seed, "steps": steps, "data": [str(d) for d in data_dirs],
              "clips": len(clips), "seconds": round(time.time() - started, 1),
              "train_metrics": evaluate_classifier(model, clips)}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        model.save_pretrained(tmp)
        record["sha256"] = {WEIGHTS_NAME: hashlib.sha256((tmp / WEIGHTS_NAME).read_bytes()).hexdigest()}
        (tmp / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n")
    return record


# ------------------------------------------------------------------------------ reading


@dataclass
class JumpReading:
    """What the classifier says about one motion, and what the rules measure."""

    element: Element
    type_confidence: float
    revolutions_confidence: float
    direction: str
    direction_confidence: float
    takeoff_frame: int
    landing_frame: int
    takeoff_confidence: float
    landing_confidence: float
    rule_revolutions: float | None  # signed hip-axis turns in the longest flight (None: no flight)
    rule_takeoff_frame: int | None
    rule_landing_frame: int | None
    embed: np.ndarray  # (E,) pooled features

    def summary(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k not in ("element", "embed")}
        out = {"element": self.element.code, "type": self.element.type, "revolutions": self.element.revolutions, **out}
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


@torch.no_grad()
def predict(model: JumpClassifier, worlds: list[np.ndarray]) -> list[JumpReading]:
    """Readings of canonical world motions ``[(T, 24, 3)]`` metres."""
    x = torch.from_numpy(np.stack([features(w) for w in worlds]))
    out = {k: (v.softmax(-1) if k != "embed" else v).numpy() for k, v in model(x).items()}
    readings = []
    for i, world in enumerate(worlds):
        pick = {k: int(out[k][i].argmax()) for k in ("type", "revolutions", "direction", "takeoff", "landing")}
        conf = {k: float(out[k][i][pick[k]]) for k in pick}
        name = JUMP_NAMES[pick["type"]]
        revs = REVOLUTION_VALUES[pick["revolutions"]]
        rule = read_flight(world, FPS)
        readings.append(JumpReading(
            Element(name, revs), conf["type"], conf["revolutions"], DIRECTIONS[pick["direction"]],
            conf["direction"], pick["takeoff"], pick["landing"], conf["takeoff"], conf["landing"],
            rule.revolutions if rule else None, rule.takeoff_frame if rule else None,
            rule.landing_frame if rule else None, out["embed"][i]))
    return readings


def level_from_skeleton(joints_mm: np.ndarray) -> np.ndarray:
    """Camera-space joints ``(T, 24, 3)`` mm with no extrinsics -> world-like metres: the
    skeleton's up turned onto +z, the lower ankle's low percentile put at the ice height."""
    j = np.asarray(joints_mm, dtype=np.float64) / 1000.0
    up = an.estimate_up_axis(j, feet=None)
    world = j @ rotation_between(up, np.array([0.0, 0.0, 1.0])).T
    ground = an.estimate_ground(world[:, J["left_ankle"], 2], world[:, J["right_ankle"], 2])
    return world + np.array([0.0, 0.0, ANKLE_ON_ICE - ground])


def classify_joints(joints_mm: np.ndarray, extrinsics_mm: np.ndarray | None = None,
                    model: JumpClassifier | None = None) -> JumpReading:
    """One motion's reading: camera-space joints ``(T, 24, 3)`` mm, world through
    ``extrinsics_mm`` ``(T, 3, 4)`` when known, else levelled from the skeleton."""
    if joints_mm.ndim != 3 or joints_mm.shape[1:] != (24, 3):
        raise ValueError(f"joints must be (T, 24, 3) SMPL-24 in mm, got {joints_mm.shape}")
    world = frames.world_from_clip(joints_mm, extrinsics_mm) if extrinsics_mm is not None \
        else level_from_skeleton(joints_mm)
    return predict(model or JumpClassifier.from_pretrained(), [frames.canonical_world(world)])[0]


def classify_path(path: str | Path, weights: str | Path | None = None) -> list[tuple[str, JumpReading]]:
    """Readings of an ``.npz`` motion file, an FSJD folder (every clip) or a folder of
    ``.npz`` files by the classifier in ``weights`` (default: the shipped one);
    ``ValueError``/``FileNotFoundError`` naming the path otherwise."""
    from sportanim.data.motion import load_motion

    path = Path(path)
    if path.is_dir() and (path / fsjd.MANIFEST_NAME).is_file():
        files = [(r.id, path / r.joints) for r in fsjd.read_manifest(path)]
    elif path.is_dir():
        files = [(p.name, p) for p in sorted(path.glob("*.npz"))]
        if not files:
            raise ValueError(f"{path}: no .npz motions and no FSJD manifest in this folder")
    elif path.is_file():
        files = [(path.name, path)]
    else:
        raise FileNotFoundError(f"no such motion file or folder: {path}")
    model = JumpClassifier.from_pretrained(weights)
    out = []
    for name, file in files:
        joints = load_motion(file, read_video=False).joints
        with np.load(file, allow_pickle=False) as archive:
            extrinsics = archive["extrinsics"] if "extrinsics" in archive.files else None
        out.append((name, classify_joints(joints, extrinsics, model)))
    return out
