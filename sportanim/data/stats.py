"""Dataset statistics: (re)compute ``stats.json`` of an FSJD folder and show it as a table."""

from __future__ import annotations

import os

import numpy as np
from rich.table import Table

from sportanim import fsjd
from sportanim.skeleton import JOINT_INDEX


def dataset_stats(root: str | os.PathLike) -> dict:
    """Recompute ``root/stats.json`` from the manifest and the joints files (all clips,
    both splits: ``fsjd.compute_stats``), write it atomically and return it:
    ``mean``/``std`` (24, 3) mm as nested lists, ``counts`` per split/domain/motion."""
    stats = fsjd.compute_stats(root, fsjd.read_manifest(root))
    fsjd.write_stats(root, stats)
    return stats


def format_stats_table(stats: dict) -> Table:
    """A two-column rich table of ``stats`` (as ``dataset_stats`` returns): clip and
    frame counts, clips per split/domain/motion, pelvis mean and mean std in mm."""
    counts = stats["counts"]
    table = Table(title="FSJD dataset", show_header=True)
    table.add_column("statistic")
    table.add_column("value", justify="right")
    table.add_row("clips", str(counts["total"]))
    table.add_row("frames", str(counts["frames"]))
    for kind in ("split", "domain", "motion"):
        for name, n in counts[kind].items():
            table.add_row(f"{kind} {name}", str(n))
    mean, std = np.asarray(stats["mean"]), np.asarray(stats["std"])
    pelvis = mean[JOINT_INDEX["pelvis"]]
    table.add_row("pelvis mean x, y, z (mm)", ", ".join(str(round(v)) for v in pelvis))
    table.add_row("std x, y, z (mm, mean over joints)",
                  ", ".join(str(round(v)) for v in std.mean(axis=0)))
    return table
