"""Published weights of the metric extractors: where they are published, how they are
found on this machine, and their checksums.

A file is found from an explicit path, else from its environment variable. With neither,
``resolve`` returns None and the metric runs on a seeded random extractor of the same
architecture (results then say ``calibrated: False``). A named path that does not exist,
or a file whose sha256 differs from the published one, is an error: a metric silently
computed with the wrong weights would look calibrated and be wrong.

Checksums: the Inception and AlexNet files are published with the first digits of their
sha256 in the file name (the torch.hub convention, which ``torch.hub`` itself checks);
for the Inception file the full sha256 is also recorded beside the torch-fidelity copy
(same bytes: same name hash). For ``i3d_torchscript.pt`` and ``resnet-50-kinetics.pth`` no
checksum is published that we could find: their sha256 is reported in the results for
provenance, and ``SPORTANIM_<NAME>_SHA256`` pins one.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path


class WeightsError(OSError):
    """A weights file that is missing where it was named, or has the wrong checksum."""


@dataclass(frozen=True)
class WeightsSpec:
    key: str        # short name: inception, i3d, r3d50, alexnet
    env: str        # environment variable holding the file's path
    filename: str   # the published file name
    url: str        # where it is published
    sha256: str     # full digest or published prefix; "" when none is published
    used_by: str    # which metric and protocol

    def describe(self) -> str:
        return f"{self.filename} (published at {self.url}; set {self.env} or pass its path)"


INCEPTION = WeightsSpec(
    key="inception", env="SPORTANIM_INCEPTION",
    filename="pt_inception-2015-12-05-6726825d.pth",
    url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
        "pt_inception-2015-12-05-6726825d.pth",
    sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    used_by="FID (InceptionV3 pool3, TF 2015-12-05 weights as in pytorch-fid/torch-fidelity)")
I3D = WeightsSpec(
    key="i3d", env="SPORTANIM_I3D", filename="i3d_torchscript.pt",
    url="https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt",
    sha256="", used_by="FVD (I3D Kinetics-400, StyleGAN-V protocol)")
R3D50 = WeightsSpec(
    key="r3d50", env="SPORTANIM_R3D50", filename="resnet-50-kinetics.pth",
    url="https://github.com/kenshohara/3D-ResNets-PyTorch (README, pretrained models; "
        "the file DisCo's tool/metrics loads as eval_fvd/resnet-50-kinetics.pth)",
    sha256="", used_by="FID-VID (3D ResNet-50 Kinetics-400, DisCo protocol)")
ALEXNET = WeightsSpec(
    key="alexnet", env="SPORTANIM_ALEXNET", filename="alexnet-owt-7be5be79.pth",
    url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    sha256="7be5be79", used_by="LPIPS (AlexNet trunk; the v0.1 linear heads ship with lpips)")
SPECS = {spec.key: spec for spec in (INCEPTION, I3D, R3D50, ALEXNET)}


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def expected_sha256(spec: WeightsSpec) -> str:
    """The published digest (or prefix), or the one pinned in ``SPORTANIM_<KEY>_SHA256``."""
    return (os.environ.get(f"{spec.env}_SHA256") or spec.sha256).strip().lower()


def verify(path: Path, spec: WeightsSpec) -> str:
    """The file's sha256; ``WeightsError`` if it disagrees with the expected digest."""
    digest = sha256_of(path)
    expected = expected_sha256(spec)
    if expected and not digest.startswith(expected):
        raise WeightsError(f"{path}: sha256 {digest} does not match the published "
                           f"{expected} of {spec.filename}; re-download it from {spec.url}")
    return digest


def resolve(spec: WeightsSpec, path: str | os.PathLike | None = None) -> Path | None:
    """The weights file for ``spec``: ``path``, else ``$ENV``, else None (random weights).
    ``WeightsError`` if a named file does not exist."""
    where = "given path" if path else spec.env
    path = path or os.environ.get(spec.env) or None
    if path is None:
        return None
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / spec.filename
    if not path.is_file():
        raise WeightsError(f"weights not found: {path} ({where}); need {spec.describe()}")
    return path


def missing_note(spec: WeightsSpec) -> str:
    """The line to report when a metric runs uncalibrated for want of ``spec``'s file."""
    return (f"{spec.used_by}: uncalibrated, random weights; for published numbers get "
            f"{spec.describe()}")
