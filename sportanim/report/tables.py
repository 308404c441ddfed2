"""The paper's two tables from evaluation results, as Markdown, CSV and JSON.

Table 1 (tokenizer): one row per model, MPJPE (mm, camera space) and motion FID.
Table 2 (video): one row per model (before / after fine-tuning), FVD, FID-VID, PSNR, SSIM,
LPIPS, FID. A value whose feature extractor ran on random weights (its published file was
absent) is marked ``*`` and the table says so below; the motion-FID feature is named below
Table 1. ``results`` are ``sportanim.eval.evaluate`` outputs (``{"metrics": {name: {...}}}``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from sportanim.video_io import atomic_path

UNCALIBRATED_MARK = "*"
# metric -> (column label, lower is better, decimals)
COLUMNS = {
    "mpjpe": ("MPJPE (mm)", True, 2), "motion_fid": ("motion FID", True, 2),
    "fvd": ("FVD", True, 2), "fid_vid": ("FID-VID", True, 2), "psnr": ("PSNR (dB)", False, 2),
    "ssim": ("SSIM", False, 3), "lpips": ("LPIPS", True, 3), "fid": ("FID", True, 2),
}
TABLE1_METRICS = ("mpjpe", "motion_fid")
TABLE2_METRICS = ("fvd", "fid_vid", "psnr", "ssim", "lpips", "fid")
# The paper's numbers (MTVCRAFTER_FACTS.md), for the reader's comparison; never computed here.
PAPER = {
    "table1": {"1 tokenizer only": {"mpjpe": 287.28, "motion_fid": 186.17},
               "2 diffusion only": {"mpjpe": 302.47, "motion_fid": 2798.47},
               "3 staged": {"mpjpe": 287.28, "motion_fid": 186.17}},
    "table2": {"before": {"fvd": 479.15, "fid_vid": 39.11, "psnr": 13.10, "ssim": 0.457,
                          "lpips": 0.525, "fid": 35.67},
               "after staged": {"fvd": 303.39, "fid_vid": 35.30, "psnr": 13.58, "ssim": 0.577,
                                "lpips": 0.530, "fid": 35.73}},
}


@dataclass
class Table:
    """``rows``: (model label, evaluation results or None where the model has no such row)."""

    key: str
    title: str
    metrics: tuple[str, ...]
    rows: list[tuple[str, dict]]
    notes: list[str] = field(default_factory=list)

    def cell(self, results: dict, metric: str) -> dict | None:
        return (results or {}).get("metrics", {}).get(metric)

    def uncalibrated(self) -> list[str]:
        """Metrics of this table that ran on a random-weights extractor in any row."""
        return [m for m in self.metrics
                if any((c := self.cell(r, m)) is not None and c.get("calibrated") is False
                       for _, r in self.rows)]

    def all_notes(self) -> list[str]:
        notes = list(self.notes)
        bad = self.uncalibrated()
        if bad:
            names = ", ".join(COLUMNS[m][0] for m in bad)
            notes.append(f"{UNCALIBRATED_MARK} uncalibrated: {names} ran on randomly initialised "
                         "extractors (the published weights files were not given); compare them "
                         "between rows of this table only, never with published numbers")
        return notes

    # ---- formats

    def header(self) -> list[str]:
        return ["model"] + [f"{COLUMNS[m][0]} {'↓' if COLUMNS[m][1] else '↑'}" for m in self.metrics]

    def text_rows(self) -> list[list[str]]:
        out = []
        for label, results in self.rows:
            row = [label]
            for m in self.metrics:
                c = self.cell(results, m)
                if c is None:
                    row.append("–")
                    continue
                mark = UNCALIBRATED_MARK if c.get("calibrated") is False else ""
                row.append(f"{c['value']:.{COLUMNS[m][2]}f}{mark}")
            out.append(row)
        return out

    def markdown(self) -> str:
        head = self.header()
        lines = [f"**{self.title}**", "", "| " + " | ".join(head) + " |",
                 "| " + " | ".join(["---"] + ["---:"] * len(self.metrics)) + " |"]
        lines += ["| " + " | ".join(r) + " |" for r in self.text_rows()]
        lines += [""] + [f"- {n}" for n in self.all_notes()]
        return "\n".join(lines).rstrip() + "\n"

    def csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["model", *self.metrics, "uncalibrated"])
        for label, results in self.rows:
            cells = [self.cell(results, m) for m in self.metrics]
            bad = [m for m, c in zip(self.metrics, cells) if c is not None and c.get("calibrated") is False]
            writer.writerow([label, *("" if c is None else repr(float(c["value"])) for c in cells), ";".join(bad)])
        return buf.getvalue()

    def to_json(self) -> dict:
        rows = []
        for label, results in self.rows:
            values = {}
            for m in self.metrics:
                c = self.cell(results, m)
                if c is not None:
                    values[m] = {"value": float(c["value"]), "calibrated": c.get("calibrated", True)}
            rows.append({"model": label, "metrics": values})
        return {"title": self.title, "columns": {m: COLUMNS[m][0] for m in self.metrics},
                "lower_is_better": {m: COLUMNS[m][1] for m in self.metrics}, "rows": rows,
                "notes": self.all_notes(), "paper": PAPER.get(self.key, {})}


def check_finite(table: Table) -> None:
    """A NaN or infinity in a table is a bug upstream: refuse to write it."""
    for label, results in table.rows:
        for m in table.metrics:
            c = table.cell(results, m)
            if c is not None and not math.isfinite(float(c["value"])):
                raise ValueError(f"{table.title}: {label} has a non-finite {m} ({c['value']})")


def write_tables(tables: list[Table], out: Path) -> dict[str, Path]:
    """``tables.md``, ``tables.json`` and one ``<key>.csv`` per table in ``out``; atomically.
    Returns the written paths by name."""
    out.mkdir(parents=True, exist_ok=True)
    for table in tables:
        check_finite(table)
    texts = {"tables.md": "\n".join(t.markdown() for t in tables),
             "tables.json": json.dumps({t.key: t.to_json() for t in tables}, indent=2, ensure_ascii=False) + "\n"}
    texts.update({f"{t.key}.csv": t.csv() for t in tables})
    paths = {}
    for name, text in texts.items():
        with atomic_path(out / name) as tmp:
            tmp.write_text(text, encoding="utf-8")
        paths[name] = out / name
    return paths
