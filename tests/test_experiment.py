"""The experiment end to end on a micro world (stand-in random base weights, few clips, few
steps), its config loading, and the report pieces on their own."""

from __future__ import annotations

import csv
import json
import math
import re

import numpy as np
import pytest

from sportanim.experiment import (MODELS, ExperimentConfig, ExperimentData, ExperimentReport, ExperimentSampling,
                                  ExperimentTraining, load_experiment_config, make_tables, run_experiment)
from sportanim.eval.tables import TABLE1_METRICS, TABLE2_METRICS, TABLE3_METRICS, UNCALIBRATED, write_tables
from sportanim.experiment.outputs import TABLE3_MODELS, TABLE3_SETTINGS
from sportanim.train.config import ConfigError


def micro_config(**report) -> ExperimentConfig:
    return ExperimentConfig(
        base="random",  # stand-in: freshly initialised tiny weights, built in the run folder
        data=ExperimentData(train_clips=4, eval_clips=4, size=32),
        training=ExperimentTraining(steps=2, overrides={"batch_size": 2, "log_every": 1, "checkpoint_every": 2}),
        sampling=ExperimentSampling(steps=1, guidance=1.0),
        report=ExperimentReport(figure_clips=2, figure_frames=3, **report), resamples=20)


def _colour_features(video: np.ndarray) -> np.ndarray:
    """(T, 12): each frame's mean colour in 2 x 2 cells, a cheap stand-in feature."""
    t, h, w, _ = video.shape
    cells = video.reshape(t, 2, h // 2, 2, w // 2, 3).mean(axis=(2, 4))
    return cells.reshape(t, 12).astype(np.float64)


def cheap_extractors(mp: pytest.MonkeyPatch) -> None:
    """The FID / FVD / FID-VID / LPIPS networks at their standard input sizes cost minutes per
    clip on a CPU; their numbers are tested in test_eval_*. Here they become colour features
    (still uncalibrated), so the test checks the experiment's plumbing in seconds."""
    from torch import nn

    from sportanim.eval import extractors as X
    from sportanim.eval import video

    for key in ("inception", "i3d", "r3d50", "alexnet"):
        mp.setitem(X.BUILDERS, key, lambda weights=None, seed=0, key=key: X.Extractor(key, nn.Identity(), False))
    mp.setattr(X, "inception_features", lambda ext, v, **kw: _colour_features(v))
    mp.setattr(X, "i3d_features", lambda ext, v, **kw: _colour_features(v).reshape(-1, 7, 12).mean(axis=1))
    mp.setattr(X, "r3d_features", lambda ext, v, **kw: _colour_features(v).mean(axis=0))
    mp.setattr(video, "lpips_frames", lambda ext, a, b, **kw: np.abs(a.astype(float) - b).mean(axis=(1, 2, 3)) / 255)


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("experiment") / "run"
    with pytest.MonkeyPatch.context() as mp:
        cheap_extractors(mp)
        yield run_experiment(micro_config(diffusion_row=False), out, show_progress=False)


def _finite_rows(table_json: dict, metrics: tuple[str, ...]) -> None:
    for row in table_json["rows"]:
        for m in metrics:
            assert math.isfinite(row["metrics"][m]["value"]), (row["model"], m)


@pytest.mark.slow
def test_micro_experiment_writes_tables_figure_and_report(micro_run):
    out = micro_run.out
    tables = json.loads((out / "tables.json").read_text())
    # Table 1: base + models 1/2/3, MPJPE and motion FID, all finite; the feature is named.
    t1 = tables["table1"]
    assert [r["model"] for r in t1["rows"]] == ["0 pre-trained base (zero-shot)", "1 tokenizer only",
                                                "2 diffusion only (= base tokenizer)", "3 staged"]
    assert set(t1["columns"]) == set(TABLE1_METRICS)
    _finite_rows(t1, TABLE1_METRICS)
    feature = micro_run.results["base"]["metrics"]["motion_fid"]["feature"]
    assert f"motion FID feature: {feature}" in t1["notes"]
    # Model 2 keeps the base tokenizer: its tokenizer numbers are the base's exactly.
    base, diffusion = t1["rows"][0]["metrics"], t1["rows"][2]["metrics"]
    assert diffusion["mpjpe"]["value"] == pytest.approx(base["mpjpe"]["value"], rel=1e-9)
    # Table 2: before / after, six video metrics, finite; random extractors marked.
    t2 = tables["table2"]
    assert [r["model"] for r in t2["rows"]] == ["before: pre-trained base", "after: staged (3)"]
    assert list(t2["columns"]) == list(TABLE2_METRICS)
    _finite_rows(t2, TABLE2_METRICS)
    assert any("uncalibrated" in n for n in t2["notes"])
    # The Frechet columns carry their bootstrap spread over the eval clips.
    for row in t2["rows"]:
        assert all(row["metrics"][m]["std"] >= 0 and row["metrics"][m]["resamples"] == 20
                   for m in ("fvd", "fid_vid", "fid"))
        assert "std" not in row["metrics"]["psnr"]
    with open(out / "table2.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["model", *TABLE2_METRICS, "uncalibrated"] and len(rows) == 3
    markdown = (out / "tables.md").read_text()
    assert "| model | MPJPE (mm) ↓ | motion FID ↓ |" in markdown and UNCALIBRATED in markdown
    assert " ± " in markdown
    # Figure 2 and the curves are PNGs with pixels.
    from PIL import Image

    with Image.open(out / "figure2.png") as image:
        assert image.size[0] > 200 and image.size[1] > 200
    assert (out / "training_curves.png").stat().st_size > 1000


@pytest.mark.slow
def test_table3_rates_every_model_with_own_and_cross_drive_references(micro_run):
    from sportanim import fsjd
    from sportanim.generation import read_image
    from sportanim.io.video import read_video

    out = micro_run.out
    t3 = json.loads((out / "tables.json").read_text())["table3"]
    assert [r["model, reference"] for r in t3["rows"]] == [
        f"{m}, {s}" for s in TABLE3_SETTINGS.values() for m in TABLE3_MODELS.values()]
    assert list(t3["columns"]) == list(TABLE3_METRICS)
    for row in t3["rows"]:  # AKD and ΔE are None only when no joint was found in any clip
        values = [row["metrics"][m]["value"] for m in TABLE3_METRICS]
        assert all(v is None or math.isfinite(v) for v in values) and values[0] is not None, row
    assert "| model, reference | PCK@0.1 ↑ | AKD (px) ↓ | ΔE ↓ |" in (out / "tables.md").read_text()
    assert len(list(csv.reader((out / "table3.csv").open()))) == 11
    # The real videos follow their own joints: their PCK beats a random-weights model's.
    truth, base = micro_run.fidelity["own"]["truth"]["metrics"], micro_run.fidelity["own"]["base"]["metrics"]
    assert truth["motion_pck"]["value"] > base["motion_pck"]["value"]
    # Every own-reference folder now has all eval videos, scored against the real first frames.
    data = out / "data"
    records = [r for r in fsjd.read_manifest(data) if r.split == "eval"]
    for key in MODELS:
        own = micro_run.fidelity["own"][key]
        assert sorted(own["clips"]) == sorted(r.id for r in records)
        assert own["metrics"]["appearance"]["reference"].endswith(f"{len(records)}: the real clip's first frame")
    # Cross-drive: each reference is another athlete's first frame, written and used for ΔE.
    athlete = {r.id: r.labels["athlete"] for r in records}
    pairs = json.loads((out / "generated-cross" / "pairs.json").read_text())
    assert sorted(pairs) == sorted(athlete)
    for clip, pair in pairs.items():
        assert pair["reference_athlete"] == athlete[pair["reference_clip"]] != athlete[clip]
        first = read_video(data / "clips" / f"{pair['reference_clip']}.mp4")[0][0]
        for key in ("truth",) + MODELS:
            assert np.array_equal(read_image(out / "generated-cross" / key / f"{clip}.reference.png"), first)
    for key in ("truth",) + MODELS:
        cross = micro_run.fidelity["cross"][key]["metrics"]["appearance"]
        assert cross["reference"].startswith(f"{len(records)} clips: the written ID.reference.png")
    assert micro_run.timings["table 3 generate"] > 0


def test_table3_models_are_checked():
    with pytest.raises(ConfigError, match="report.table3_models"):
        ExperimentConfig(report=ExperimentReport(table3_models=("base", "nope"))).validate()
    assert ExperimentConfig(report=ExperimentReport(table3_models=())).validate()


@pytest.mark.slow
def test_report_is_self_contained(micro_run):
    text = micro_run.report.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", text, re.I)
    assert text.count("data:image/png;base64,") == 2
    assert text.count("data:video/mp4;base64,") == 2  # one panel video per figure clip
    for expected in ("Table 1", "Table 2", "Table 3", "cross-drive", "Figure 2", "Training curves", "Library versions", "diffusers",
                     "steps: 1"):
        assert expected in text


@pytest.mark.slow
def test_rerun_continues_and_other_config_is_refused(micro_run, monkeypatch):
    cheap_extractors(monkeypatch)
    again = run_experiment(micro_config(diffusion_row=False), micro_run.out, show_progress=False)
    first = json.loads((micro_run.out / "tables.json").read_text())
    assert first["table1"]["rows"] == [dict(r) for r in json.loads(json.dumps(
        {t.key: t.to_dict() for t in again.tables}))["table1"]["rows"]]
    assert again.timings["generate base"] < 5  # nothing left to generate
    with pytest.raises(ValueError, match="another config"):
        run_experiment(micro_config(diffusion_row=True), micro_run.out, show_progress=False)


def test_config_file_overrides_preset_and_refuses_unknown_keys(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("preset_config: tiny\nbase: random\ntraining: {steps: 7}\nsampling: {steps: 3}\n")
    config = load_experiment_config(path)
    assert (config.training.steps, config.sampling.steps, config.base) == (7, 3, "random")
    assert config.data.eval_clips == load_experiment_config("tiny").data.eval_clips
    path.write_text("training: {stepz: 7}\n")
    with pytest.raises(ConfigError, match="training.stepz"):
        load_experiment_config(path)
    path.write_text("data: {frames: 48}\n")
    with pytest.raises(ConfigError, match="data.frames"):
        load_experiment_config(path)


def _results(values: dict[str, float], calibrated: bool = True) -> dict:
    return {"metrics": {k: {"value": v, "calibrated": calibrated if k in ("fvd", "fid", "fid_vid", "lpips") else True}
                        for k, v in values.items()}}


def test_tables_layout_marks_and_refuses_nan(tmp_path):
    rng = np.random.default_rng(0)
    pose = {k: {"mpjpe": float(rng.uniform(10, 90)), "motion_fid": float(rng.uniform(1, 9))}
            for k in ("base", "tokenizer", "diffusion", "staged")}
    video = {m: float(rng.uniform(0.1, 0.9)) for m in TABLE2_METRICS}
    results = {k: _results({**pose[k], **(video if k in ("base", "staged") else {})}, calibrated=False)
               for k in pose}
    t1, t2 = make_tables(results, diffusion_row=False)
    paths = write_tables([t1, t2], tmp_path)
    md = paths["tables.md"].read_text()
    assert f"{pose['tokenizer']['mpjpe']:.2f}" in md
    assert f"{video['ssim']:.3f} |" in md  # SSIM needs no extractor: never marked; LPIPS does
    assert f"{video['lpips']:.3f} {UNCALIBRATED}" in md
    rows = list(csv.reader(paths["table1.csv"].open()))
    assert float(rows[2][1]) == pose["tokenizer"]["mpjpe"]
    results["staged"]["metrics"]["fvd"]["value"] = float("nan")
    with pytest.raises(ValueError, match="non-finite fvd"):
        write_tables(make_tables(results, diffusion_row=False), tmp_path / "bad")
