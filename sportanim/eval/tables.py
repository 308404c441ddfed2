"""Result tables as Markdown, CSV and JSON, in the paper's layouts.

A table is rows of ``evaluate`` results (``{"metric": {"value": ..., "calibrated": ...}}``)
under chosen metric columns. A value from an uncalibrated extractor (random weights) is
printed as ``12.34 (uncalibrated)``; a missing one as ``-``. Footnotes name the motion
feature behind motion FID and what made a value uncalibrated.

- Table 1 (tokenizer): one row per fine-tuned model (1 tokenizer only, 2 diffusion only,
  3 staged), columns MPJPE (mm) and motion FID.
- Table 2 (video): rows before / after staged fine-tuning, columns FVD, FID-VID, PSNR,
  SSIM, LPIPS, FID.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from sportanim.video_io import atomic_path

UNCALIBRATED = "(uncalibrated)"
HEADERS = {"mpjpe": "MPJPE (mm) ↓", "root_mpjpe": "root-aligned MPJPE (mm) ↓",
           "pa_mpjpe": "PA-MPJPE (mm) ↓", "accel_error": "accel. error (mm/frame²) ↓",
           "motion_fid": "motion FID ↓", "fvd": "FVD ↓", "fid_vid": "FID-VID ↓",
           "psnr": "PSNR (dB) ↑", "ssim": "SSIM ↑", "lpips": "LPIPS ↓", "fid": "FID ↓"}
DIGITS = {"ssim": 3, "lpips": 3}  # the paper's precision; others 2
TABLE1_COLUMNS = ("mpjpe", "motion_fid")
TABLE2_COLUMNS = ("fvd", "fid_vid", "psnr", "ssim", "lpips", "fid")


@dataclass
class Table:
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, dict]] = field(default_factory=list)  # (label, metrics dict)
    row_header: str = "model"

    # ------------------------------------------------------------------ cells
    def cell(self, metrics: dict, name: str) -> str:
        entry = metrics.get(name)
        if entry is None or entry.get("value") is None:
            return "-"
        text = f"{entry['value']:.{DIGITS.get(name, 2)}f}"
        return text if entry.get("calibrated", True) else f"{text} {UNCALIBRATED}"

    def footnotes(self) -> list[str]:
        notes = []
        for _, metrics in self.rows:
            feature = metrics.get("motion_fid", {}).get("feature")
            if feature and "motion_fid" in self.columns and f"motion FID: {feature}" not in notes:
                notes.append(f"motion FID: {feature}")
        if any(not m[c].get("calibrated", True) for _, m in self.rows for c in self.columns
               if c in m):
            notes.append(f"{UNCALIBRATED}: computed with randomly initialised feature "
                         "extractors (published weights not found); compare only with each "
                         "other, never with published numbers")
        return notes

    # ---------------------------------------------------------------- formats
    def to_markdown(self) -> str:
        header = [self.row_header] + [HEADERS.get(c, c) for c in self.columns]
        lines = [f"**{self.title}**", "", "| " + " | ".join(header) + " |",
                 "| " + " | ".join("---" for _ in header) + " |"]
        for label, metrics in self.rows:
            lines.append("| " + " | ".join([label] + [self.cell(metrics, c)
                                                      for c in self.columns]) + " |")
        notes = self.footnotes()
        return "\n".join(lines + ([""] + [f"- {n}" for n in notes] if notes else [])) + "\n"

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([self.row_header] + list(self.columns))
        for label, metrics in self.rows:
            writer.writerow([label] + [self.cell(metrics, c) for c in self.columns])
        return buffer.getvalue()

    def to_dict(self) -> dict:
        rows = []
        for label, metrics in self.rows:
            cells = {c: ({"value": metrics[c]["value"],
                          "calibrated": metrics[c].get("calibrated", True)}
                         if c in metrics else None) for c in self.columns}
            rows.append({"label": label, **cells})
        return {"title": self.title, "columns": list(self.columns), "rows": rows,
                "footnotes": self.footnotes()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False, ensure_ascii=False) + "\n"

    def write(self, stem: str | os.PathLike) -> list[Path]:
        """Write ``stem.md``, ``stem.csv`` and ``stem.json`` atomically; returns the paths."""
        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        paths = []
        for suffix, text in ((".md", self.to_markdown()), (".csv", self.to_csv()),
                             (".json", self.to_json())):
            path = stem.with_name(stem.name + suffix)
            with atomic_path(path) as tmp:
                tmp.write_text(text, encoding="utf-8")
            paths.append(path)
        return paths


def _metrics_of(results: dict) -> dict:
    """``evaluate``'s full result or just its "metrics" dict."""
    return results.get("metrics", results)


def table1(models: dict[str, dict]) -> Table:
    """Tokenizer table: ``{"Model 1 (tokenizer)": results, ...}`` -> MPJPE, motion FID."""
    return Table("Table 1: motion tokenizer after fine-tuning", TABLE1_COLUMNS,
                 [(label, _metrics_of(r)) for label, r in models.items()])


def table2(before: dict, after: dict, before_label: str = "Before fine-tuning",
           after_label: str = "After fine-tuning (staged)") -> Table:
    """Video table: the base model zero-shot against the staged strategy."""
    return Table("Table 2: generated videos before and after fine-tuning", TABLE2_COLUMNS,
                 [(before_label, _metrics_of(before)), (after_label, _metrics_of(after))])
