"""Feature extractors: shapes, seeded random weights, weights lookup and checksums, and the
choice between published, in-domain and random networks."""

import numpy as np
import pytest
import torch

from sportanim.eval import extractors as X
from sportanim.eval import weights as W


@pytest.fixture(autouse=True)
def no_weight_env(monkeypatch):
    from sportanim.eval import domain_extractors as D

    for spec in W.SPECS.values():
        monkeypatch.delenv(spec.env, raising=False)
        monkeypatch.delenv(f"{spec.env}_SHA256", raising=False)
    monkeypatch.delenv(D.ENV, raising=False)


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


# ------------------------------------------------------------------------------ in-domain


def test_in_domain_networks_stand_in_when_no_published_file_is_given():
    from sportanim.eval import domain_extractors as D

    record = D.read_record()
    for key, kind in (("i3d", "clip3d"), ("r3d50", "clip3d"), ("inception", "frame2d")):
        ext, note = X.select(key)
        assert ext.kind == X.IN_DOMAIN and ext.calibrated and ext.key == kind
        assert ext.sha256 == record["networks"][kind]["sha256"] == W.sha256_of(ext.weights)
        assert ext.identity() == f"{kind}:sha256:{ext.sha256}"
        assert ext.provenance()["name"] == D.NAMES[kind] and D.NAMES[kind] in ext.protocol
        assert "not comparable with published numbers" in note and W.SPECS[key].filename in note
        rand, rand_note = X.select(key, fallback="random")
        assert rand.kind == X.RANDOM and not rand.calibrated and "uncalibrated" in rand_note
    lpips, _ = X.select("alexnet")
    assert lpips.kind == X.RANDOM  # LPIPS has no in-domain network
    with pytest.raises(ValueError, match="extractors must be one of"):
        X.select("i3d", fallback="imagenet")


def test_in_domain_feature_shapes_any_frame_size_and_determinism():
    fvd, _ = X.select("i3d")
    fid, _ = X.select("inception")
    video = _video(frames=35, size=48)  # resized to 64x64 inside
    windows = X.features("i3d", fvd, video)
    assert windows.shape == (2, 256) and np.isfinite(windows).all()
    per_video = X.features("r3d50", fvd, video)  # 3 segments, the last padded
    assert per_video.shape == (256,) and not np.allclose(per_video, windows.mean(axis=0))
    assert X.features("inception", fid, video).shape == (35, 256)
    assert X.features("inception", fid, video, fid_frames=4).shape == (4, 256)
    assert np.array_equal(windows, X.features("i3d", X.select("i3d")[0], video))
    assert not np.allclose(windows, X.features("i3d", fvd, _video(frames=35, size=48, seed=1)))
    with pytest.raises(ValueError, match="at least 16 frames"):
        X.features("i3d", fvd, _video(frames=8))


def test_shipped_in_domain_record_reports_held_out_skill():
    """The shipped networks tell the 12 motions apart on athletes never seen in training
    far better than chance, and the two shipped files together stay under 10 MB."""
    from sportanim.eval import domain_extractors as D

    record = D.read_record()
    for kind, entry in record["networks"].items():
        scores = entry["held_out"]
        assert scores["motion_accuracy_per_clip"] > 4 * scores["chance"], (kind, scores)
        assert scores["jump_vs_daily_accuracy"] > 0.95, (kind, scores)
        assert (D.folder_of() / entry["file"]).stat().st_size == entry["bytes"]
    assert record["training"]["held_out_world_seed"] != record["training"]["train_world_seed"]
    assert sum(e["bytes"] for e in record["networks"].values()) < 10 * 2**20


def _copy_shipped(tmp_path):
    import shutil

    from sportanim.weights import EXTRACTORS

    folder = tmp_path / "extractors"
    shutil.copytree(EXTRACTORS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def test_in_domain_file_with_wrong_checksum_or_shape_is_one_clear_error(tmp_path):
    import json

    from safetensors.torch import load_file, save_file

    from sportanim.eval import domain_extractors as D

    folder = _copy_shipped(tmp_path)
    path = folder / "clip3d.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(W.WeightsError, match="sha256 .* does not match") as error:
        X.select("i3d", folder=folder)
    assert "\n" not in str(error.value) and str(path) in str(error.value)
    # Right checksum, wrong shapes: a frame2d file recorded as the 3D network.
    state = load_file(str(folder / "frame2d.safetensors"))
    save_file(state, str(path))
    record = json.loads((folder / D.RECORD_NAME).read_text())
    record["networks"]["clip3d"]["sha256"] = W.sha256_of(path)
    (folder / D.RECORD_NAME).write_text(json.dumps(record))
    with pytest.raises(W.WeightsError, match="tensor trunk.0.weight is .* needs") as error:
        X.select("r3d50", folder=folder)
    assert "\n" not in str(error.value)


def test_missing_in_domain_files_fall_back_to_random_with_a_note(tmp_path, monkeypatch):
    from sportanim.eval import domain_extractors as D

    monkeypatch.setenv(D.ENV, str(tmp_path / "none"))
    ext, note = X.select("inception")
    assert ext.kind == X.RANDOM and "in-domain extractors are missing" in note
    folder = _copy_shipped(tmp_path)
    (folder / "frame2d.safetensors").unlink()
    with pytest.raises(W.WeightsError, match="file missing"):
        X.select("inception", folder=folder)  # a record without its file is broken, not absent


def test_published_file_wins_over_the_in_domain_network(monkeypatch, tmp_path):
    source = X.build_r3d50(seed=2)
    path = tmp_path / W.R3D50.filename
    torch.save(source.net.state_dict(), path)
    monkeypatch.setenv("SPORTANIM_R3D50_SHA256", W.sha256_of(path))
    ext, note = X.select("r3d50", path)
    assert ext.kind == X.PUBLISHED and ext.key == "r3d50" and note is None
    assert _same_state(ext.net, source.net)


@pytest.mark.slow
def test_training_writes_loadable_seeded_extractors(tmp_path):
    from sportanim.eval import domain_extractors as D
    from sportanim.eval.domain_training import train_domain_extractors

    tiny = dict(clips=12, held_out=12, steps_3d=3, steps_2d=3, batch_3d=2, batch_2d=4, show_progress=False)
    record = train_domain_extractors(tmp_path / "a", seed=3, **tiny)
    again = train_domain_extractors(tmp_path / "b", seed=3, **tiny)
    other = train_domain_extractors(tmp_path / "c", seed=4, **tiny)
    assert D.read_record(tmp_path / "a") == record and "seed=3" in record["training"]["call"]
    for kind in ("clip3d", "frame2d"):
        assert record["networks"][kind]["sha256"] == again["networks"][kind]["sha256"]
        assert record["networks"][kind]["sha256"] != other["networks"][kind]["sha256"]
        assert 0 <= record["networks"][kind]["held_out"]["motion_accuracy_per_clip"] <= 1
    ext, _ = X.select("i3d", folder=tmp_path / "a")
    assert ext.sha256 == record["networks"]["clip3d"]["sha256"]
    assert X.features("i3d", ext, _video(frames=16)).shape == (1, 256)
