"""The paper's two tables, and this project's third, from evaluation results, as Markdown,
CSV and JSON.

- Table 1 (tokenizer): one row per model, MPJPE (mm, camera space) and motion FID.
- Table 2 (video): one row per model (before / after fine-tuning), FVD, FID-VID, PSNR, SSIM,
  LPIPS, FID.
- Table 3 (motion fidelity and appearance): one row per model and reference setting, motion
  PCK (at the threshold the results carry), AKD (px) and appearance ΔE.

A row is ``(label, results)`` where results are ``evaluate``'s output or just its
"metrics" dict (``{name: {"value": ..., "calibrated": ...}}``). A value whose extractor ran
on random weights is printed ``12.34 (uncalibrated)`` and a note below says why; one from
sportanim's in-domain extractors (``"kind": "in-domain"``, trained on the synthetic world)
``12.34 (in-domain)``, with a note naming the networks; a missing one ``-``. Notes also name
the motion-FID feature and the FVD / FID-VID / FID protocols the rows were computed with. CSV and JSON keep full-precision numbers; JSON also carries the
paper's numbers for the reader's comparison. A NaN or infinity is refused: it would mean a
bug upstream.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from sportanim.io.files import write_text

UNCALIBRATED = "(uncalibrated)"
IN_DOMAIN = "(in-domain)"
# metric -> (column label, lower is better, decimals as in the paper)
COLUMNS = {
    "mpjpe": ("MPJPE (mm)", True, 2), "root_mpjpe": ("root-aligned MPJPE (mm)", True, 2),
    "pa_mpjpe": ("PA-MPJPE (mm)", True, 2), "accel_error": ("accel. error (mm/frame²)", True, 2),
    "motion_fid": ("motion FID", True, 2), "fvd": ("FVD", True, 2), "fid_vid": ("FID-VID", True, 2),
    "psnr": ("PSNR (dB)", False, 2), "ssim": ("SSIM", False, 3), "lpips": ("LPIPS", True, 3),
    "fid": ("FID", True, 2), "motion_pck": ("motion PCK", False, 3),
    "motion_akd": ("motion AKD (px)", True, 2), "appearance": ("appearance ΔE", True, 2),
}
TABLE1_METRICS = ("mpjpe", "motion_fid")
TABLE2_METRICS = ("fvd", "fid_vid", "psnr", "ssim", "lpips", "fid")
TABLE3_METRICS = ("motion_pck", "motion_akd", "appearance")
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


def header_of(metric: str) -> str:
    """Column header with the better direction: ``"FVD ↓"``."""
    label, lower, _ = COLUMNS.get(metric, (metric, True, 2))
    return f"{label} {'↓' if lower else '↑'}"


def format_entry(entry: dict | None, metric: str) -> str:
    """One metric's result as printed in a table cell."""
    if entry is None or entry.get("value") is None:
        return "-"
    decimals = COLUMNS.get(metric, ('', True, 2))[2]
    text = f"{entry['value']:.{decimals}f}"
    if entry.get("std") is not None:
        text += f" ± {entry['std']:.{decimals}f}"
    if not entry.get("calibrated", True):
        return f"{text} {UNCALIBRATED}"
    return f"{text} {IN_DOMAIN}" if entry.get("kind") == "in-domain" else text


@dataclass
class Table:
    """``rows``: (label, ``evaluate`` results or their "metrics" dict; None for an empty row).
    ``notes``: the caller's lines, printed before the ones derived from the rows."""

    key: str
    title: str
    metrics: tuple[str, ...]
    rows: list[tuple[str, dict | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    row_header: str = "model"
    headers: dict[str, str] = field(default_factory=dict)  # metric -> column label replacing COLUMNS'

    def entry(self, results: dict | None, metric: str) -> dict | None:
        metrics = (results or {}).get("metrics", results or {})
        return metrics.get(metric)

    def _entries(self, metric: str) -> list[dict]:
        return [e for _, r in self.rows if (e := self.entry(r, metric)) is not None]

    def uncalibrated(self) -> list[str]:
        """Metrics of this table that ran on a random-weights extractor in any row."""
        return [m for m in self.metrics if any(e.get("calibrated") is False for e in self._entries(m))]

    def in_domain(self) -> dict[str, list[str]]:
        """Metrics of this table that ran on an in-domain extractor in any row, and its names."""
        found = {m: [e.get("name") or e.get("extractor") or "?" for e in self._entries(m)
                     if e.get("kind") == "in-domain"] for m in self.metrics}
        return {m: list(dict.fromkeys(names)) for m, names in found.items() if names}

    def all_notes(self) -> list[str]:
        """The caller's notes, the motion-FID feature and video protocols, the in-domain and
        uncalibrated lines."""
        notes = list(self.notes)
        for metric, what in (("motion_fid", "feature"), ("fvd", "protocol"), ("fid_vid", "protocol"),
                             ("fid", "protocol")):
            if metric not in self.metrics:
                continue
            for text in dict.fromkeys(e[what] for e in self._entries(metric) if e.get(what)):
                notes.append(f"{COLUMNS[metric][0]} {what}: {text}")
        domain = self.in_domain()
        if domain:
            names = ", ".join(f"{COLUMNS[m][0]} ({' / '.join(n)})" for m, n in domain.items())
            notes.append(f"{IN_DOMAIN}: {names} computed with sportanim's extractors trained on the "
                         "synthetic skating world (the published weights files were not given); "
                         "comparable between rows and runs of this project, never with published numbers")
        bad = self.uncalibrated()
        if bad:
            names = ", ".join(COLUMNS[m][0] for m in bad)
            notes.append(f"{UNCALIBRATED}: {names} computed with randomly initialised feature extractors "
                         "(the published weights files were not given); compare them between rows of "
                         "this table only, never with published numbers")
        return notes

    def check_finite(self) -> None:
        for label, results in self.rows:
            for m in self.metrics:
                e = self.entry(results, m)
                if e is not None and e.get("value") is not None and not math.isfinite(float(e["value"])):
                    raise ValueError(f"{self.title}: {label} has a non-finite {m} ({e['value']})")

    # ---- formats

    def header(self) -> list[str]:
        return [self.row_header] + [f"{self.headers[m]} {'↓' if COLUMNS[m][1] else '↑'}" if m in self.headers
                                    else header_of(m) for m in self.metrics]

    def text_rows(self) -> list[list[str]]:
        return [[label] + [format_entry(self.entry(r, m), m) for m in self.metrics] for label, r in self.rows]

    def to_markdown(self) -> str:
        head = self.header()
        lines = [f"**{self.title}**", "", "| " + " | ".join(head) + " |",
                 "| " + " | ".join(["---"] + ["---:"] * len(self.metrics)) + " |"]
        lines += ["| " + " | ".join(r) + " |" for r in self.text_rows()]
        lines += [""] + [f"- {n}" for n in self.all_notes()]
        return "\n".join(lines).rstrip() + "\n"

    def to_csv(self) -> str:
        """Full-precision values; the last column lists the row's uncalibrated metrics."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([self.row_header, *self.metrics, "uncalibrated"])
        for label, results in self.rows:
            entries = [self.entry(results, m) for m in self.metrics]
            bad = [m for m, e in zip(self.metrics, entries) if e is not None and e.get("calibrated") is False]
            writer.writerow([label, *("" if e is None or e.get("value") is None else repr(float(e["value"]))
                                      for e in entries),
                             ";".join(bad)])
        return buf.getvalue()

    def to_dict(self) -> dict:
        rows = []
        for label, results in self.rows:
            # a metric with no value (e.g. AKD when no joint was detected) is null
            values = {m: {"value": None if e.get("value") is None else float(e["value"]),
                          "calibrated": e.get("calibrated", True),
                          **({"kind": e["kind"]} if "kind" in e else {}),
                          **({"std": float(e["std"]), "resamples": e.get("resamples")}
                             if e.get("std") is not None else {})}
                      for m in self.metrics if (e := self.entry(results, m)) is not None}
            rows.append({self.row_header: label, "metrics": values})
        return {"title": self.title, "columns": {m: COLUMNS.get(m, (m,))[0] for m in self.metrics},
                "lower_is_better": {m: COLUMNS.get(m, (m, True))[1] for m in self.metrics}, "rows": rows,
                "notes": self.all_notes(), "paper": PAPER.get(self.key, {})}


def table1(models: dict[str, dict | None], notes: list[str] | None = None,
           title: str = "Table 1: motion tokenizer after fine-tuning") -> Table:
    """Tokenizer table: ``{"1 tokenizer only": results, ...}`` -> MPJPE, motion FID."""
    return Table("table1", title, TABLE1_METRICS, list(models.items()), list(notes or []))


def table2(models: dict[str, dict | None], notes: list[str] | None = None,
           title: str = "Table 2: generated videos before and after fine-tuning") -> Table:
    """Video table: ``{"before: ...": results, "after: staged": results}`` -> the six video metrics."""
    return Table("table2", title, TABLE2_METRICS, list(models.items()), list(notes or []))


def table3(rows: dict[str, dict | None], notes: list[str] | None = None,
           title: str = "Table 3: motion fidelity and appearance") -> Table:
    """Fidelity table: ``{"own reference: 0 base": results, ...}`` -> PCK, AKD, ΔE. The PCK
    column names the threshold of the results; the notes define the three measures."""
    table = Table("table3", title, TABLE3_METRICS, list(rows.items()), list(notes or []),
                  row_header="model, reference", headers={"motion_akd": "AKD (px)", "appearance": "ΔE"})
    thresholds = {e.get("threshold") for e in table._entries("motion_pck")} - {None}
    if len(thresholds) == 1:
        threshold = thresholds.pop()
        table.headers["motion_pck"] = f"PCK@{threshold:g}"
        table.notes.append(f"PCK@{threshold:g}: share of the driving joints (the video's ID.npz, projected "
                           "with the eval clip's camera, only joints inside the frame) that the 2D keypoint "
                           f"detector finds in the generated video within {threshold:g} of the body's size; "
                           "AKD: their mean distance (px)")
    table.notes.append("appearance ΔE: CIE76 colour difference (CIELAB) of body parts read along the "
                       "detected bones, generated frames vs the reference image the video was generated "
                       "from (about 2.3 is just noticeable)")
    detectors = {f"{k['detector']} ({k['weights']})" for e in table._entries("motion_pck")
                 if isinstance(k := e.get("keypoints"), dict)}
    table.notes += [f"keypoint detector: {d}" for d in sorted(detectors)]
    return table


def write_tables(tables: list[Table], out: str | Path) -> dict[str, Path]:
    """``tables.md``, ``tables.json`` and one ``<key>.csv`` per table in ``out``, atomically,
    after checking every value is finite. Returns the written paths by file name."""
    out = Path(out)
    for table in tables:
        table.check_finite()
    texts = {"tables.md": "\n".join(t.to_markdown() for t in tables),
             "tables.json": json.dumps({t.key: t.to_dict() for t in tables}, indent=2, allow_nan=False,
                                       ensure_ascii=False) + "\n"}
    texts.update({f"{t.key}.csv": t.to_csv() for t in tables})
    return {name: write_text(out / name, text) for name, text in texts.items()}
