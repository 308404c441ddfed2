"""``report.html``: one self-contained file (inline CSS, images and videos as base64 data
URIs, no scripts, no external links), so it opens offline and travels as one file."""

from __future__ import annotations

import base64
import html
import importlib.metadata
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sportanim.eval.tables import Table
from sportanim.io.files import write_text

LIBRARIES = ("sportanim", "torch", "torchvision", "diffusers", "accelerate", "peft", "numpy", "scipy",
             "lpips", "torchmetrics", "av", "matplotlib")
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3em; }
.notes { font-size: 0.85em; color: #555; } img { max-width: 100%; image-rendering: pixelated; }
figure { margin: 1em 0; } figcaption { font-size: 0.9em; color: #444; }
video { image-rendering: pixelated; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
"""


@dataclass
class Report:
    """What the report shows; every path is read and embedded when written."""

    title: str
    summary: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[tuple[str, Path]] = field(default_factory=list)  # (caption, PNG)
    videos: list[tuple[str, Path]] = field(default_factory=list)  # (caption, MP4)
    config_text: str = ""
    timings: dict[str, float] = field(default_factory=dict)


def data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def library_versions() -> dict[str, str]:
    """Python, the platform, the installed versions of the libraries that made the numbers
    and, when run from a git checkout, its commit."""
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    commit = _git_commit()
    if commit:
        versions["sportanim commit"] = commit
    return versions


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def table_html(table: Table) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in table.header())
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in table.text_rows())
    notes = "".join(f"<li>{esc(n)}</li>" for n in table.all_notes())
    return (f"<table><caption>{esc(table.title)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>" + (f"<ul class='notes'>{notes}</ul>" if notes else ""))


def render(report: Report, versions: dict[str, str] | None = None) -> str:
    """The whole HTML document as a string."""
    esc = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{esc(report.title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{esc(report.title)}</h1>"]
    parts += [f"<p>{esc(line)}</p>" for line in report.summary]
    parts.append("<h2>Tables</h2>")
    parts += [table_html(t) for t in report.tables]
    if report.figures:
        parts.append("<h2>Figures</h2>")
        parts += [f"<figure><img alt='{esc(c)}' src='{data_uri(p, 'image/png')}'><figcaption>{esc(c)}"
                  "</figcaption></figure>" for c, p in report.figures]
    if report.videos:
        parts.append("<h2>Videos</h2>")
        parts += [f"<figure><video controls loop muted width='{_video_width(p)}' src='{data_uri(p, 'video/mp4')}'>"
                  f"</video><figcaption>{esc(c)}</figcaption></figure>" for c, p in report.videos]
    if report.timings:
        rows = "".join(f"<tr><td>{esc(k)}</td><td>{v:.1f}</td></tr>" for k, v in report.timings.items())
        parts.append(f"<h2>Wall time of this invocation</h2><p class='notes'>A continued run counts only the work it redid.</p><table><thead><tr><th>stage</th><th>seconds</th></tr></thead>"
                     f"<tbody>{rows}</tbody></table>")
    if report.config_text:
        parts.append(f"<h2>Configuration</h2><pre>{esc(report.config_text)}</pre>")
    versions = library_versions() if versions is None else versions
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in versions.items())
    parts.append(f"<h2>Library versions</h2><table><tbody>{rows}</tbody></table></body></html>")
    return "\n".join(parts) + "\n"


def _video_width(path: Path) -> int:
    """Shown at twice the stored width (tiny-world videos are 64 px tall)."""
    from sportanim.io.video import probe_video

    try:
        return 2 * int(probe_video(path)["width"])
    except (OSError, ValueError, KeyError):
        return 640


def write_report(report: Report, path: Path) -> Path:
    """Write ``report`` as one self-contained HTML file at ``path``, atomically."""
    return write_text(path, render(report))
