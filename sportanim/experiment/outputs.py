"""The experiment's outputs: Tables 1-3, Figure 2, training curves, the side-by-side videos,
``report.html``, ``experiment.json``, and the printed summary."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sportanim.experiment.config import MODELS, ExperimentConfig

if TYPE_CHECKING:
    from sportanim.experiment.run import ExperimentResult

TABLE1_LABELS = {"base": "0 pre-trained base (zero-shot)", "tokenizer": "1 tokenizer only",
                 "diffusion": "2 diffusion only (= base tokenizer)", "staged": "3 staged"}
TABLE2_LABELS = {"base": "before: pre-trained base", "staged": "after: staged (3)",
                 "diffusion": "diffusion only (2)"}
TABLE3_MODELS = {"truth": "real video (ground truth)", "base": "0 base", "tokenizer": "1 tokenizer only", "diffusion": "2 diffusion only",
                 "staged": "3 staged"}
TABLE3_SETTINGS = {"own": "own reference", "cross": "cross-drive"}
TABLE3_NOTES = [
    "own reference: each eval clip generated from its own first frame with its own joints (the paper's "
    "protocol; Table 2's videos where it made them)",
    "real video (ground truth): the eval clip's own footage scored the same way (cross-drive: its colours "
    "against the other athlete's picture), what a model that copied the real clip would score",
    "cross-drive: each eval clip's joints animate the first frame of the next eval clip of another athlete "
    "(generated-cross/pairs.json), as feedback generation does; PCK / AKD score this clip's driving joints, "
    "ΔE the other athlete's picture actually used (generated-cross/<model>/ID.reference.png)",
]
FIGURE_LABELS = {"base": "base (zero-shot)", "tokenizer": "1 tokenizer only", "diffusion": "2 diffusion only",
                 "staged": "3 staged"}


def make_tables(results: dict[str, dict], diffusion_row: bool = True,
                fidelity: dict[str, dict[str, dict]] | None = None) -> list:
    """Table 1 (tokenizer) and Table 2 (video) from each model's evaluation results, and
    Table 3 from ``fidelity`` ({"own" | "cross": {model: results}}) when it holds any; the
    tables add the motion-FID feature and the video protocols to their notes themselves."""
    from sportanim.eval.tables import table1, table2, table3

    t1 = table1({TABLE1_LABELS[k]: results[k] for k in MODELS},
                ["MPJPE: camera space, no alignment, mm (the paper's tokenizer MPJPE), "
                 "tokenizer encode -> decode of the eval clips' joints"],
                title="Table 1: motion tokenizer on the eval jumps")
    rows = ["base", "staged"] + (["diffusion"] if diffusion_row else [])
    t2 = table2({TABLE2_LABELS[k]: results[k] for k in rows},
                title="Table 2: video quality on the eval jumps, before vs after fine-tuning")
    tables = [t1, t2]
    rows = {f"{TABLE3_MODELS[k]}, {TABLE3_SETTINGS[s]}": fidelity[s][k]
            for s in TABLE3_SETTINGS for k in TABLE3_MODELS if k in (fidelity or {}).get(s, {})}
    if rows:
        tables.append(table3(rows, TABLE3_NOTES, title="Table 3: motion fidelity and appearance on the eval jumps"))
    return tables


def write_outputs(config: ExperimentConfig, out: Path, data: Path, records: list,
                  figure_ids: set[str], tables: list, timings: dict[str, float],
                  notes: list[str]) -> Path:
    import yaml

    from sportanim import fsjd
    from sportanim.io.files import write_json
    from sportanim.eval.tables import write_tables
    from sportanim.report import figures
    from sportanim.report.html import Report, write_report

    write_tables(tables, out)
    clips = _figure_clips(data, [r for r in records if r.id in figure_ids], out / "generated")
    figure = figures.figure2(clips, out / "figure2.png", config.report.figure_frames)
    curves = figures.training_curves(_curve_files(out / "runs"), out / "training_curves.png")
    videos = [(f"eval clip {c.id}: " + " | ".join(["ground truth", *c.models]), _panel_video(c, out / "videos"))
              for c in clips]
    summary = [f"{len(records)} eval clips, {sum(r.split == 'train' for r in fsjd.read_manifest(data))} "
               f"training clips ({data}); each strategy trained {config.training.steps} steps from the base "
               f"weights ({config.base}); {config.sampling.steps} sampling steps, guidance "
               f"{config.sampling.guidance}.", *notes]
    report = Report("sportanim experiment: fine-tuning MTVCrafter for figure-skating jumps", summary, tables,
                    [("Figure 2: eval clips, ground truth and each model; skeletons: the joints that "
                      "drove each row (ground truth; each model's tokenizer reconstruction)", figure),
                     ("Training curves (loss per logged step)", curves)], videos,
                    yaml.safe_dump(config.to_dict(), sort_keys=False), timings)
    path = write_report(report, out / "report.html")
    record = {"config": config.to_dict(), "timings_s": timings, "total_s": round(sum(timings.values()), 1),
              "notes": notes, "tables": {t.key: t.to_dict() for t in tables}, "report": str(path)}
    write_json(out / "experiment.json", record)
    return path


def _figure_clips(data: Path, records: list, generated: Path):
    import numpy as np

    from sportanim import fsjd
    from sportanim.report.figures import FigureClip
    from sportanim.io.joints import read_joints
    from sportanim.io.video import read_video

    clips = []
    for record in records:
        clip = fsjd.load_clip(data, record)
        models = {}
        for key in MODELS:
            frames = read_video(generated / key / f"{record.id}.mp4")[0]
            joints = read_joints(generated / key / f"{record.id}.npz", f"{key} clip {record.id}")
            models[FIGURE_LABELS[key]] = (frames, joints)
        clips.append(FigureClip(record.id, clip["frames"], clip["joints"], clip["intrinsics"], models))
    return clips


def _panel_video(clip, folder: Path) -> Path:
    """ground truth | each model, side by side."""
    import numpy as np

    from sportanim.io.video import write_video

    folder.mkdir(parents=True, exist_ok=True)
    columns = [clip.frames] + [frames for frames, _ in clip.models.values()]
    path = folder / f"{clip.id}.mp4"
    write_video(path, np.concatenate(columns, axis=2), 30.0)
    return path


def _curve_files(runs: Path) -> dict[str, dict[str, Path]]:
    """{panel: {curve: metrics.jsonl}}: tokenizer training and diffusion training."""
    found = {"tokenizer": runs / "tokenizer", "staged, stage 1": runs / "staged" / "stage1-tokenizer",
             "diffusion": runs / "diffusion", "staged, stage 2": runs / "staged" / "stage2-diffusion"}
    panels = {"4DMoT fine-tuning": ("tokenizer", "staged, stage 1"),
              "MV-DiT fine-tuning": ("diffusion", "staged, stage 2")}
    return {title: {name: found[name] / "metrics.jsonl" for name in names
                    if (found[name] / "metrics.jsonl").is_file()}
            for title, names in panels.items()}


def print_summary(result: "ExperimentResult", console=None) -> None:
    """The tables, the wall time and where the report is."""
    from rich.console import Console

    console = console or Console(soft_wrap=True)
    for table in result.tables:
        console.print(table.to_markdown(), highlight=False, markup=False)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    console.print(f"wall time {sum(result.timings.values()):.0f} s "
                  f"({', '.join(f'{k} {v:.0f} s' for k, v in result.timings.items())})", highlight=False,
                  markup=False)
    console.print(f"report: {result.report}", highlight=False, markup=False)
