"""Feature extractors: shapes, seeded random weights, weights lookup and checksums."""

import numpy as np
import pytest
import torch

from sportanim.eval import extractors as X
from sportanim.eval import weights as W


@pytest.fixture(autouse=True)
def no_weight_env(monkeypatch):
    for spec in W.SPECS.values():
        monkeypatch.delenv(spec.env, raising=False)
        monkeypatch.delenv(f"{spec.env}_SHA256", raising=False)


def _video(frames=16, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (frames, size, size, 3), dtype=np.uint8)


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("key", ["inception", "i3d", "r3d50", "alexnet"])
def test_random_weights_are_seeded_and_marked_uncalibrated(key):
    build = X.BUILDERS[key]
    a, b, c = build(seed=0), build(seed=0), build(seed=1)
    assert not a.calibrated and a.provenance()["calibrated"] is False
    assert _same_state(a.net, b.net)
    assert not _same_state(a.net, c.net)


@pytest.mark.slow
def test_inception_and_r3d_feature_shapes_and_determinism():
    video = _video(frames=3)
    inception = X.build_inception()
    feats = X.inception_features(inception, video)
    assert feats.shape == (3, 2048) and np.isfinite(feats).all()
    assert np.array_equal(feats, X.inception_features(X.build_inception(), video))
    assert X.inception_features(inception, video, frames=2).shape == (2, 2048)
    r3d = X.r3d_features(X.build_r3d50(), _video(frames=20))  # 2 segments, padded
    assert r3d.shape == (2048,) and np.isfinite(r3d).all() and r3d.std() > 0


@pytest.mark.slow
def test_i3d_feature_shape_one_row_per_window():
    feats = X.i3d_features(X.build_i3d(), _video(frames=35))  # 2 full 16-frame windows
    assert feats.shape == (2, 400) and np.isfinite(feats).all()
    with pytest.raises(ValueError, match="at least 16 frames"):
        X.i3d_features(X.build_i3d(), _video(frames=8))


def test_spread_frames():
    assert X.spread_frames(49, None).tolist() == list(range(49))
    assert X.spread_frames(49, 3).tolist() == [0, 24, 48]


def test_missing_weights_name_the_file_and_where_it_is_published(monkeypatch, tmp_path):
    monkeypatch.setenv("SPORTANIM_I3D", str(tmp_path / "nowhere.pt"))
    with pytest.raises(W.WeightsError) as error:
        X.build_i3d()
    message = str(error.value)
    assert "i3d_torchscript.pt" in message and "dropbox.com" in message and "SPORTANIM_I3D" in message
    assert isinstance(error.value, OSError)  # the CLI turns it into one line, exit 2
    assert W.resolve(W.INCEPTION) is None
    assert "pytorch-fid" in W.missing_note(W.INCEPTION)


def test_checksum_mismatch_is_an_error(tmp_path):
    fake = tmp_path / W.INCEPTION.filename
    torch.save(X.build_inception().net.state_dict(), fake)
    with pytest.raises(W.WeightsError, match="sha256"):
        X.build_inception(fake)


def test_published_layout_loads_with_pinned_checksum(monkeypatch, tmp_path):
    """A checkpoint in Hara's layout ("state_dict", "module." prefixes) loads strictly."""
    source = X.build_r3d50(seed=5)
    state = {f"module.{k}": v for k, v in source.net.state_dict().items()}
    path = tmp_path / W.R3D50.filename
    torch.save({"state_dict": state, "epoch": 200, "arch": "resnet-50"}, path)
    monkeypatch.setenv("SPORTANIM_R3D50_SHA256", W.sha256_of(path))
    loaded = X.build_r3d50(tmp_path)  # a folder holding the published file name
    assert loaded.calibrated and loaded.sha256 == W.sha256_of(path)
    assert _same_state(loaded.net, source.net)
    monkeypatch.setenv("SPORTANIM_R3D50_SHA256", "0" * 64)
    with pytest.raises(W.WeightsError, match="does not match"):
        X.build_r3d50(path)


def test_wrong_network_file_names_first_mismatch(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(W.WeightsError, match="does not fit the r3d50 network"):
        X.build_r3d50(path)  # no checksum published for this file: the layout check catches it


def test_alexnet_weights_fill_the_lpips_trunk(monkeypatch, tmp_path):
    import torchvision

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        alexnet = torchvision.models.alexnet(weights=None)
    path = tmp_path / W.ALEXNET.filename
    torch.save(alexnet.state_dict(), path)
    monkeypatch.setenv("SPORTANIM_ALEXNET_SHA256", W.sha256_of(path)[:8])
    metric = X.build_lpips(path)
    assert metric.calibrated
    assert torch.equal(metric.net.net.slice1[0].weight, alexnet.features[0].weight)
    assert torch.equal(getattr(metric.net.net.slice5, "10").weight, alexnet.features[10].weight)


def test_i3d_file_must_be_torchscript(tmp_path):
    path = tmp_path / "i3d_torchscript.pt"
    path.write_bytes(b"not a model")
    with pytest.raises(W.WeightsError, match="TorchScript"):
        X.build_i3d(path)
