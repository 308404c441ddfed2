"""``sportanim evaluate``: flags in, one ``evaluate`` call, a short summary out."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sportanim.cli.errors import run, say


def evaluate(
    real: Path = typer.Option(..., "--real", help="Real clips: an FSJD folder."),
    generated: Path = typer.Option(..., "--generated", help="Generated clips: FSJD folder or ID.mp4 [+ ID.npz] files named after the real ids."),
    metrics: Optional[str] = typer.Option(None, help="Comma-separated: mpjpe,root_mpjpe,pa_mpjpe,accel_error,motion_fid,fvd,fid_vid,fid,psnr,ssim,lpips (default: all the files allow), and motion_pck,motion_akd,appearance (when named)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Results JSON (default GENERATED/evaluation.json)."),
    split: Optional[str] = typer.Option(None, help="Score only real clips of this split (train|eval)."),
    inception: Optional[Path] = typer.Option(None, help="pt_inception-2015-12-05-6726825d.pth (else $SPORTANIM_INCEPTION)."),
    i3d: Optional[Path] = typer.Option(None, help="i3d_torchscript.pt (else $SPORTANIM_I3D)."),
    r3d50: Optional[Path] = typer.Option(None, help="resnet-50-kinetics.pth (else $SPORTANIM_R3D50)."),
    alexnet: Optional[Path] = typer.Option(None, help="alexnet-owt-7be5be79.pth (else $SPORTANIM_ALEXNET)."),
    require_weights: bool = typer.Option(False, "--require-weights", help="Fail instead of using random extractors."),
    extractors: str = typer.Option("in-domain", "--extractors", help="Without published weights: in-domain (sportanim's "
                                   "networks trained on the synthetic world) | random (seeded random networks)."),
    seed: int = typer.Option(0, help="Seed of the random extractors used when weights are absent."),
    fid_frames: Optional[int] = typer.Option(None, help="Frames per video for FID, evenly spread (default: all, the protocol)."),
    feature_cache: Optional[Path] = typer.Option(None, "--feature-cache", help="Folder keeping the real clips' FID/FVD/FID-VID features between runs (keyed by video bytes, extractor weights and protocol)."),
    keypoints: Optional[str] = typer.Option(None, "--keypoints", help="2D keypoint detector of motion_pck/motion_akd/appearance: "
                                            "a detector folder, or mediapipe for real footage (default: the shipped synthetic-world one)."),
    resamples: int = typer.Option(0, "--resamples", help="Bootstrap resamples over clips for the spread (± std) of FID, FVD, FID-VID and motion FID, seeded by --seed (0: none; e.g. 200)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Score generated videos/poses against the real clips (FVD, FID-VID, FID, PSNR, SSIM, LPIPS, MPJPE, motion FID, motion PCK/AKD, appearance)."""
    from sportanim.eval.evaluate import DEFAULT_OUT_NAME
    from sportanim.eval.evaluate import evaluate as run_evaluation
    from sportanim.eval.feature_cache import FeatureCache
    from sportanim.eval.tables import Table, format_entry, header_of

    paths = {"inception": inception, "i3d": i3d, "r3d50": r3d50, "alexnet": alexnet}
    results = run(run_evaluation, real, generated, metrics=metrics, out=out, split=split, seed=seed,
                  weights={k: str(v) for k, v in paths.items() if v},
                  require_weights=require_weights, fid_frames=fid_frames,
                  cache=FeatureCache(feature_cache) if feature_cache else None, keypoints=keypoints,
                  extractors=extractors, resamples=resamples,
                  show_progress=not quiet)
    metrics = results["metrics"]
    typer.echo(f"{len(results['clips'])} clips")
    for name in metrics:
        typer.echo(f"  {header_of(name):<28} {format_entry(metrics[name], name)}")
    for note in Table("results", "", tuple(metrics), [("generated", results)]).all_notes():
        typer.echo(f"  {note}")
    for note in results["notes"]:
        say(f"note: {note}")
    say(f"wrote {out or Path(generated) / DEFAULT_OUT_NAME}")
