"""``sportanim demo``: the main job on the embedded synthetic world.

Until the models, training and evaluation land (issues 3-6), the demo runs the synthetic
world end to end: a small FSJD dataset of daily motions and jumps, a competition-style
programme with jump-window labels, and a contact sheet to look at.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sportanim.synth.dataset import SynthConfig, synthesize
from sportanim.synth.programme import ProgrammeConfig, write_programmes
from sportanim.synth.sheet import jump_contact_sheet


def run_demo(out: Path | None = None, show_progress: bool = True, clips: int = 24) -> Path:
    """Write the demo run folder and print a summary; returns the folder."""
    console = Console(soft_wrap=True)
    started = time.perf_counter()
    out = Path(out) if out else Path("runs") / time.strftime("demo-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    records = synthesize(SynthConfig(out=out / "fsjd-tiny", domain="both", clips=clips, seed=0), show_progress)
    programmes = write_programmes(ProgrammeConfig(out=out / "programmes", programmes=1, jumps=4, seed=0), show_progress)
    sheet = out / "jumps_contact_sheet.png"
    jump_contact_sheet(seed=0, size=128).save(sheet)

    table = Table(title="synthetic FSJD dataset")
    for col in ("domain", "motion", "clips", "revolutions"):
        table.add_column(col)
    counts = Counter((r.labels["domain"], r.labels["motion"]) for r in records)
    for (domain, motion), n in sorted(counts.items()):
        revs = sorted({r.labels["revolutions"] for r in records if r.labels["motion"] == motion} - {None})
        table.add_row(domain, motion, str(n), ", ".join(f"{v:g}" for v in revs) or "-")
    console.print(table)
    jumps = programmes[0]["jumps"]
    console.print(f"programme: {programmes[0]['frames']} frames, {len(jumps)} jumps "
                  f"({', '.join(j['motion'] for j in jumps)}), cuts at {programmes[0]['cuts']}")
    console.print(f"contact sheet: {sheet}")
    console.print(f"demo finished in {time.perf_counter() - started:.1f} s: {out}")
    return out
