"""evaluate() on tiny synthetic FSJD folders, the CLI, and the result tables."""

import csv
import io
import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from sportanim.eval import weights as W
from sportanim.eval.evaluate import evaluate, parse_metrics
from sportanim.eval.feature_cache import FeatureCache
from sportanim.eval.tables import IN_DOMAIN, UNCALIBRATED, table1, table2, write_tables
from sportanim.fsjd import read_manifest
from sportanim.synth.dataset import SynthConfig, synthesize

FAST = "mpjpe,root_mpjpe,pa_mpjpe,accel_error,motion_fid,psnr,ssim,lpips"


@pytest.fixture(autouse=True)
def no_weight_env(monkeypatch):
    from sportanim.eval import domain_extractors as D

    for spec in W.SPECS.values():
        monkeypatch.delenv(spec.env, raising=False)
    monkeypatch.delenv(D.ENV, raising=False)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return _folders(tmp_path_factory.mktemp("eval"))


def _folders(root, clips=4, frames=49):
    """A real FSJD folder (64 px) and a flat ID.mp4/ID.npz folder holding other clips
    under the real ids."""
    real, other = root / "real", root / "other"
    for out, seed in ((real, 0), (other, 1)):
        synthesize(SynthConfig(out=out, clips=clips, size=64, frames=frames, seed=seed,
                               workers=1), show_progress=False)
    flat = root / "flat"
    flat.mkdir()
    for mine, theirs in zip(read_manifest(real), read_manifest(other)):
        shutil.copy(other / theirs.video, flat / f"{mine.id}.mp4")
        shutil.copy(other / theirs.joints, flat / f"{mine.id}.npz")
    return real, flat


@pytest.mark.slow
def test_identical_folders_score_perfectly(folders, tmp_path):
    real, _ = folders
    results = evaluate(real, real, metrics=FAST, out=tmp_path / "r.json", show_progress=False)
    m = results["metrics"]
    assert len(results["clips"]) == 4
    for name in ("mpjpe", "root_mpjpe", "pa_mpjpe", "accel_error", "lpips"):
        assert m[name]["value"] == pytest.approx(0.0, abs=1e-5), name
    assert m["motion_fid"]["value"] == pytest.approx(0.0, abs=1e-6)
    assert m["ssim"]["value"] == pytest.approx(1.0)
    assert m["psnr"]["value"] == 100.0
    assert m["lpips"]["calibrated"] is False and m["mpjpe"]["calibrated"] is True
    assert json.loads((tmp_path / "r.json").read_text()) == results


@pytest.mark.slow
def test_other_clips_score_worse_and_default_out(folders):
    real, flat = folders
    results = evaluate(real, flat, metrics=FAST, show_progress=False)
    m = results["metrics"]
    assert m["mpjpe"]["value"] > 50 and m["pa_mpjpe"]["value"] > 1
    assert m["mpjpe"]["unit"] == "mm" and "PCA" in m["motion_fid"]["feature"]
    assert 0 < m["ssim"]["value"] < 0.99 and 0 < m["psnr"]["value"] < 60
    assert m["lpips"]["value"] > 0
    assert any("alexnet-owt-7be5be79.pth" in note for note in results["notes"])
    assert json.loads((flat / "evaluation.json").read_text())["clips"] == results["clips"]


@pytest.mark.slow
def test_distribution_metrics_run_uncalibrated(tmp_path):
    # Two 16-frame clips a side: one FVD window and one FID-VID segment per video.
    real, flat = _folders(tmp_path, clips=2, frames=16)
    results = evaluate(real, flat, metrics="fvd,fid-vid,fid", fid_frames=1, extractors="random",
                       out=tmp_path / "r.json", show_progress=False)
    m = results["metrics"]
    assert set(m) == {"fvd", "fid_vid", "fid"}
    for name in m:
        assert m[name]["calibrated"] is False and m[name]["weights"] is None
        assert np.isfinite(m[name]["value"]) and m[name]["value"] > 0
        assert m[name]["n_real"] == m[name]["n_generated"] == 2
        assert m[name]["warnings"]  # 2 samples of 400/2048-dim features: flagged
    same = evaluate(real, real, metrics="fid-vid", extractors="random", out=tmp_path / "s.json",
                    show_progress=False)
    assert same["metrics"]["fid_vid"]["value"] == pytest.approx(0.0, abs=1e-3)
    # A feature cache on disk: the second call extracts no real clip again, same numbers.
    first = evaluate(real, flat, metrics="fvd,fid-vid,fid", fid_frames=1, out=tmp_path / "c1.json",
                     cache=FeatureCache(tmp_path / "features"), extractors="random",
                     show_progress=False)
    assert first["real_features"] == {"cached": 0, "computed": 6}
    again = evaluate(real, flat, metrics="fvd,fid-vid,fid", fid_frames=1, out=tmp_path / "c2.json",
                     cache=FeatureCache(tmp_path / "features"), extractors="random",
                     show_progress=False)
    assert again["real_features"] == {"cached": 6, "computed": 0}
    for name in m:
        assert again["metrics"][name]["value"] == first["metrics"][name]["value"] == m[name]["value"]


def test_distribution_metrics_default_to_the_in_domain_extractors(folders, tmp_path):
    real, flat = folders  # 4 clips of 49 frames: 12 FVD windows, 4 FID-VID videos a side
    results = evaluate(real, flat, metrics="fvd,fid-vid,fid", out=tmp_path / "r.json",
                       show_progress=False)
    m = results["metrics"]
    for name, kind in (("fvd", "clip3d"), ("fid_vid", "clip3d"), ("fid", "frame2d")):
        assert m[name]["kind"] == "in-domain" and m[name]["calibrated"] is True
        assert m[name]["extractor"] == kind and m[name]["weights"].endswith(f"{kind}.safetensors")
        assert "sportanim synthetic" in m[name]["protocol"] and m[name]["value"] > 0
    assert (m["fvd"]["n_real"], m["fid_vid"]["n_real"], m["fid"]["n_real"]) == (12, 4, 4 * 49)
    assert sum("used instead" in n for n in results["notes"]) == 3
    same = evaluate(real, real, metrics="fvd,fid-vid,fid", out=tmp_path / "s.json", show_progress=False)
    assert all(same["metrics"][n]["value"] == pytest.approx(0.0, abs=1e-6) for n in m)
    # The cache tells in-domain features from random ones of the same metric and video.
    cache = FeatureCache(tmp_path / "features")
    for extractors in ("in-domain", "random", "in-domain"):
        evaluate(real, flat, metrics="fvd", extractors=extractors, out=tmp_path / "c.json",
                 cache=cache, show_progress=False)
    assert (cache.misses, cache.hits) == (8, 4)


def test_feature_cache_keys_on_bytes_extractor_and_protocol(tmp_path):
    video = tmp_path / "a.mp4"
    video.write_bytes(b"video one")
    calls = []

    def compute(value):
        def run():
            calls.append(value)
            return np.full((2, 3), value)
        return run

    cache = FeatureCache(tmp_path / "cache")
    assert cache.features(video, "i3d:x", "p", compute(1.0))[0, 0] == 1.0
    assert cache.features(video, "i3d:x", "p", compute(9.0))[0, 0] == 1.0  # memory hit
    assert FeatureCache(tmp_path / "cache").features(video, "i3d:x", "p", compute(9.0))[0, 0] == 1.0  # disk
    moved = tmp_path / "b.mp4"
    video.rename(moved)
    assert cache.features(moved, "i3d:x", "p", compute(9.0))[0, 0] == 1.0  # same bytes, other path
    assert cache.features(moved, "i3d:y", "p", compute(2.0))[0, 0] == 2.0  # other weights
    assert cache.features(moved, "i3d:x", "q", compute(3.0))[0, 0] == 3.0  # other protocol
    moved.write_bytes(b"video two, rewritten")
    assert cache.features(moved, "i3d:x", "p", compute(4.0))[0, 0] == 4.0  # other bytes
    assert calls == [1.0, 2.0, 3.0, 4.0] and (cache.hits, cache.misses) == (2, 4)
    assert FeatureCache().features(moved, "i3d:x", "p", compute(5.0))[0, 0] == 5.0  # memory only


def test_extractor_identity_follows_the_weights():
    from sportanim.eval import extractors as X

    a, b, c = (X.build_i3d(seed=s) for s in (0, 0, 1))
    assert a.identity() == b.identity() != c.identity()
    assert X.Extractor("i3d", a.net, True, "f.pt", "ab12").identity() == "i3d:sha256:ab12"


def test_user_errors(folders, tmp_path):
    real, flat = folders
    with pytest.raises(ValueError, match="unknown metrics"):
        parse_metrics("fvd,bogus")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no clip id"):
        evaluate(real, empty, show_progress=False)
    videos_only = tmp_path / "videos"
    videos_only.mkdir()
    for path in flat.glob("*.mp4"):
        shutil.copy(path, videos_only / path.name)
    with pytest.raises(ValueError, match="need generated joints"):
        evaluate(real, videos_only, metrics="mpjpe", show_progress=False)
    with pytest.raises(W.WeightsError, match="i3d_torchscript.pt"):
        evaluate(real, flat, metrics="fvd", require_weights=True, show_progress=False)


def test_cli_evaluate(folders, tmp_path):
    from sportanim.cli import app

    real, flat = folders
    out = tmp_path / "cli.json"
    result = CliRunner().invoke(app, ["evaluate", "--real", str(real), "--generated", str(flat),
                                      "--metrics", "mpjpe,psnr", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "MPJPE" in result.output and set(json.loads(out.read_text())["metrics"]) == {"mpjpe", "psnr"}
    bad = CliRunner().invoke(app, ["evaluate", "--real", str(real), "--generated",
                                   str(tmp_path / "missing"), "--quiet"])
    assert bad.exit_code == 2 and "not found" in bad.output


def _entry(value, calibrated=True, **extra):
    return {"value": value, "calibrated": calibrated, **extra}


def test_tables_layout_and_uncalibrated_marks(tmp_path):
    feature = "49-frame windows of ..."
    models = {f"Model {i}": {"metrics": {"mpjpe": _entry(280.0 + i / 3),
                                         "motion_fid": _entry(100.0 * i, feature=feature)}}
              for i in (1, 2, 3)}
    t1 = table1(models, ["a caller's note"])
    md = t1.to_markdown()
    assert md.count("| Model") == 3 and "| model | MPJPE (mm) ↓ | motion FID ↓ |" in md
    assert f"| {280 + 2 / 3:.2f} |" in md
    assert t1.all_notes() == ["a caller's note", f"motion FID feature: {feature}"]  # all calibrated
    rows = list(csv.reader(io.StringIO(t1.to_csv())))
    assert rows[0] == ["model", "mpjpe", "motion_fid", "uncalibrated"]
    assert float(rows[2][1]) == 280.0 + 2 / 3 and rows[2][3] == ""  # CSV keeps full precision
    video = {"fvd": _entry(479.15, False, protocol="I3D windows"), "fid_vid": _entry(39.11, False),
             "psnr": _entry(13.1), "ssim": _entry(0.457), "lpips": _entry(0.525, False),
             "fid": _entry(35.67, False)}
    t2 = table2({"before": {"metrics": video}, "after": {"metrics": {**video, "ssim": _entry(0.577)}},
                 "not rated": None})
    md2 = t2.to_markdown()
    assert "479.15 (uncalibrated)" in md2 and "| 0.577 |" in md2 and "FVD protocol: I3D windows" in md2
    assert "| not rated | - | - |" in md2
    uncalibrated_note = next(n for n in t2.all_notes() if n.startswith(UNCALIBRATED))
    assert "FVD, FID-VID, LPIPS, FID" in uncalibrated_note and "SSIM" not in uncalibrated_note
    header = md2.splitlines()[2]
    assert [h.strip() for h in header.strip("|").split("|")][1:] == [
        "FVD ↓", "FID-VID ↓", "PSNR (dB) ↑", "SSIM ↑", "LPIPS ↓", "FID ↓"]
    paths = write_tables([t1, t2], tmp_path)
    assert sorted(paths) == ["table1.csv", "table2.csv", "tables.json", "tables.md"]
    data = json.loads(paths["tables.json"].read_text())
    assert data["table2"]["rows"][0]["metrics"]["fvd"] == {"value": 479.15, "calibrated": False}
    # In-domain extractors: marked as such, named in a note, not called uncalibrated.
    domain = {**video, "fvd": _entry(300.5, kind="in-domain", name="sportanim synthetic 3D-CNN"),
              "fid": _entry(20.25, kind="in-domain", name="sportanim synthetic 2D-CNN")}
    t3 = table2({"after": {"metrics": domain}})
    md3 = t3.to_markdown()
    assert "300.50 (in-domain)" in md3 and "20.25 (in-domain)" in md3 and "39.11 (uncalibrated)" in md3
    domain_note = next(n for n in t3.all_notes() if n.startswith(IN_DOMAIN))
    assert "FVD (sportanim synthetic 3D-CNN)" in domain_note and "FID (sportanim synthetic 2D-CNN)" in domain_note
    uncalibrated_note = next(n for n in t3.all_notes() if n.startswith(UNCALIBRATED))
    assert "FID-VID, LPIPS" in uncalibrated_note and "FVD" not in uncalibrated_note
    assert t3.to_dict()["rows"][0]["metrics"]["fvd"] == {"value": 300.5, "calibrated": True, "kind": "in-domain"}
    assert data["table2"]["rows"][2] == {"model": "not rated", "metrics": {}}
    assert data["table1"]["paper"]["3 staged"]["mpjpe"] > 0  # the paper's numbers beside ours
    video["psnr"] = _entry(float("inf"))
    with pytest.raises(ValueError, match="non-finite psnr"):
        write_tables([table2({"inf": video})], tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
