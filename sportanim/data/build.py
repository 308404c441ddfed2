"""``sportanim data build``: videos -> FSJD jump clips with 3D joints.

Per video, in order:

1. header check (``video.open_video``): missing, empty, corrupt, audio-only, unsupported
   codec and undecodable files are skipped with their one-line reason;
2. shot cuts (``shots.detect_shots``) and the pose pass (``posecache.pose_video``, the
   backend reset at every cut), cached under ``OUT/.build/poses`` per video and backend;
3. the main athlete's track (``track.track_main_athlete``);
4. windows: the annotation CSV's rows for the video when ``--annotations`` is given, else
   detected jumps (``jumps.detect_jump_windows``, with its take-off/landing margins);
5. per window a clip (``clips``): the source span inside its shot, ``--frames`` frames
   evenly spaced in time, a square crop following the athlete resized to ``--size``, its
   camera per frame (``intrinsics`` ``(T, 3, 3)``, joints unchanged in camera space, mm),
   quality gates and provenance; written with ``fsjd.write_clip``.

Resumable and idempotent: a clip is finished when its record ``OUT/.build/records/ID.json``
exists (written atomically after the clip's video and joints, themselves atomic), so a
killed run leaves at most unreferenced files that the next run overwrites; finished clips
are skipped. Clip ids come from the video's content key and the span's first frame, so
they do not depend on the run. ``manifest.jsonl`` is rewritten atomically from the records
after every video (keeping a split set meanwhile by ``sportanim data split``), and
``stats.json`` at the end. ``--shard i/n`` builds every n-th input (sorted, from i):
shards may write to one shared ``--out``; each rewrites the manifest from all records, so
rerun any shard (nothing is rebuilt) for a final manifest after concurrent shards.

Every video goes through one function, :func:`build_video` (steps 1-5 after the header
check, writing into ``OUT``). Locally ``workers`` threads (default: one per core for
MediaPipe) each with its own backend run it on videos side by side, so one video's
decoding and clip writing overlap another's pose estimation; ``ray`` sends each video to
a Ray cluster's worker instead (:mod:`sportanim.data.cluster`). Videos finish in any
order; the manifest is always rewritten from all finished records sorted by id, and the
report lists videos in input order, so the files are byte-identical to a one-thread build.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np

from sportanim import __version__, fsjd
from sportanim.data.annotations import Annotation, annotations_for, read_annotations
from sportanim.data.clips import (GateConfig, clip_quality, clip_span, fill_missing,
                                  follow_crop, sample_frames)
from sportanim.data.crop import crop_intrinsics, crop_resize
from sportanim.data.jumps import JumpConfig, detect_jump_windows
from sportanim.data.pose import PoseBackend, make_backend
from sportanim.data.posecache import cache_path, load_poses, pose_video, save_poses, video_key
from sportanim.data.shots import detect_shots, shot_ranges
from sportanim.data.track import Track, TrackConfig, track_main_athlete
from sportanim.devices import check_device
from sportanim.io.files import write_text
from sportanim.io.video import VIDEO_EXTENSIONS, VideoError, VideoInfo, iter_frames, open_video
from sportanim.progress import progress_bar
from sportanim.threads import usable_cores

__all__ = ["BuildConfig", "BuildReport", "Skipped", "VideoJob", "VideoOutcome", "build_dataset",
           "build_video", "parse_shard", "shard_inputs", "JUMP_NAMES"]

BUILD_DIR = ".build"
MAX_CLIP_SIZE = 2048  # crop side in pixels (the 7B world trains at 512)
MAX_CLIP_FRAMES = 1024  # frames per clip (a window is 49)
MAX_AUTO_WORKERS = 8  # threads a local build starts by itself (each holds a pose backend)
JUMP_NAMES = ("axel", "toe_loop", "toeloop", "salchow", "loop", "flip", "lutz")


class SkipVideo(ValueError):
    """A video that yields no clip, with the one-line reason."""


@dataclass(frozen=True)
class BuildConfig:
    out: Path
    annotations: Path | None = None
    pose_backend: str = "mediapipe"
    nlf_model: Path | None = None
    device: str | None = None
    size: int = 512                  # clip side, px
    frames: int = 49                 # clip length, frames (MTVCrafter's)
    shard: tuple[int, int] = (0, 1)
    pose_max_side: int | None = 1280  # pose pass decode size (longer side); None = native
    crop_margin: float = 1.25        # crop side over the athlete's largest extent
    crop_sigma: float = 3.0          # crop centre smoothing, clip frames
    gates: GateConfig = field(default_factory=GateConfig)
    jumps: JumpConfig = field(default_factory=JumpConfig)
    track: TrackConfig = field(default_factory=TrackConfig)
    show_progress: bool = True
    workers: int = 0                 # local threads building videos side by side; 0 = auto
    ray: str | None = None           # Ray cluster: "auto" or an address; None = this process

    def validate(self) -> "BuildConfig":
        if not 16 <= self.size <= MAX_CLIP_SIZE or self.size % 2:
            raise ValueError(f"--size must be an even number in [16, {MAX_CLIP_SIZE}], got {self.size}")
        if not 2 <= self.frames <= MAX_CLIP_FRAMES:
            raise ValueError(f"--frames must be in [2, {MAX_CLIP_FRAMES}], got {self.frames}")
        i, n = self.shard
        if not (n >= 1 and 0 <= i < n):
            raise ValueError(f"--shard i/n needs 0 <= i < n, got {i}/{n}")
        if self.workers < 0:
            raise ValueError(f"--workers must be >= 0 (0: one per core), got {self.workers}")
        if self.crop_margin < 1.0:
            raise ValueError(f"crop margin must be >= 1, got {self.crop_margin}")
        if self.device is not None:
            check_device(self.device)
        if self.ray is not None:
            from sportanim.data.cluster import parse_ray_address
            return replace(self, ray=parse_ray_address(self.ray))
        return self


@dataclass(frozen=True)
class Skipped:
    input: str
    reason: str


@dataclass
class BuildReport:
    """``clips``: records of this run's inputs (new and earlier); ``new``: ids written now;
    ``skipped``: inputs that gave no clip; ``notes``: windows that gave no clip."""

    out: Path
    clips: list[fsjd.ClipRecord] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[Skipped] = field(default_factory=list)
    videos: int = 0


# ------------------------------------------------------------------------------- inputs


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)``, ``0 <= i < n``; ``ValueError`` otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match or not int(match[2]) >= 1 or not int(match[1]) < int(match[2]):
        raise ValueError(f"--shard must be i/n with 0 <= i < n (e.g. 0/4), got {text!r}")
    return int(match[1]), int(match[2])


def shard_inputs(inputs: list[str | os.PathLike], shard: tuple[int, int] = (0, 1),
                 exclude: Path | None = None
                 ) -> tuple[list[tuple[str, Path, list[str]]], list[Skipped]]:
    """Expand files and folders into videos, then keep shard ``i`` of ``n``: every n-th
    item (from i) of the sorted list of videos and missing paths, so the shards cover the
    inputs exactly once. Folders are searched recursively, except ``exclude`` (the build's
    own output). Returns ``(videos, skipped)``; each video is ``(shown name, path, names
    an annotation row may use)``."""
    skip = Path(os.path.abspath(exclude)) if exclude is not None else None
    items: list[tuple[str, Path | None, list[str]]] = []
    for raw in inputs:
        given = Path(raw)
        if given.is_dir():
            found = sorted(p for p in given.rglob("*")
                           if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
                           and not (skip and skip in Path(os.path.abspath(p)).parents))
            if not found:
                items.append((str(given), None, ["no video files (.mp4, .mov, .mkv, .avi, "
                                                 "...) in this folder"]))
            for p in found:
                rel = p.relative_to(given).as_posix()
                items.append((str(p), p, [str(p), rel, p.name, p.stem]))
        elif given.exists() and not given.is_file():
            items.append((str(given), None, ["not a file or folder"]))
        elif given.exists():
            items.append((str(given), given, [str(raw), given.name, given.stem]))
        else:
            items.append((str(given), None, ["not found; check the path"]))
    unique = {name: (name, path, extra) for name, path, extra in items}
    ordered = [unique[name] for name in sorted(unique)]
    i, n = shard
    mine = ordered[i::n]
    videos = [(name, path, extra) for name, path, extra in mine if path is not None]
    skipped = [Skipped(name, extra[0]) for name, path, extra in mine if path is None]
    return videos, skipped


# ------------------------------------------------------------------------------- build


def build_dataset(inputs: list[str | os.PathLike], config: BuildConfig,
                  backend: PoseBackend | Callable[[], PoseBackend] | None = None) -> BuildReport:
    """Build (or resume) the FSJD folder ``config.out`` from ``inputs`` (files and folders);
    see the module notes. Bad inputs are reported in ``BuildReport.skipped``, not raised.

    ``backend``: None builds ``config.pose_backend`` (one per worker); a zero-argument
    callable makes one per worker (thread or Ray worker process); a backend instance is
    used as is, by one local worker (or copied to each Ray task). ``config.ray`` sends the
    videos to a Ray cluster (:mod:`sportanim.data.cluster`); otherwise ``config.workers``
    threads build videos side by side. Either way each video goes through
    :func:`build_video` and the files are the same, byte for byte."""
    config = config.validate()
    if config.ray is not None:  # before anything is written: Ray installed, address alive
        from sportanim.data.cluster import check_reachable, require_ray
        require_ray()
        check_reachable(config.ray)
    out = _prepare_out(Path(config.out))
    config = replace(config, out=out)
    rows = read_annotations(config.annotations) if config.annotations else None
    videos, skipped = shard_inputs(inputs, config.shard, exclude=out)
    report = BuildReport(out=out, skipped=skipped)
    jobs: list[VideoJob] = []
    for name, path, names in videos:
        try:
            jobs.append(VideoJob(len(jobs), name, open_video(path), names))
        except VideoError as error:
            report.skipped.append(Skipped(name, str(error)))
    outcomes: list[VideoOutcome] = []
    total = sum(max(job.info.frames, 1) for job in jobs)
    with progress_bar(f"build {len(jobs)} video(s)", total, config.show_progress) as advance:
        if not jobs:
            runs = iter(())
        elif config.ray is not None:
            from sportanim.data.cluster import build_on_ray
            runs = build_on_ray(jobs, config, rows, backend, advance)
        else:
            runs = _build_local(jobs, config, rows, backend, advance)
        try:
            for outcome in runs:  # in completion order; the manifest does not depend on it
                outcomes.append(outcome)
                _write_manifest(out)
        except BaseException:  # interrupted: the manifest still lists every finished clip
            _write_manifest(out)
            raise
    for outcome in sorted(outcomes, key=lambda o: o.index):
        report.videos += 1
        report.clips.extend(outcome.records)
        report.new.extend(outcome.new)
        report.notes.extend(outcome.notes)
        if outcome.skipped is not None:
            report.skipped.append(outcome.skipped)
    records = fsjd.read_manifest(out) if (out / fsjd.MANIFEST_NAME).is_file() else []
    if records:
        fsjd.write_stats(out, fsjd.compute_stats(out, records))
    return report


@dataclass(frozen=True)
class VideoJob:
    """One input video of a build: its place in the sorted inputs, shown name, header and
    the names an annotation row may use (picklable: Ray ships it to a worker)."""

    index: int
    name: str
    info: VideoInfo
    names: list[str]


@dataclass
class VideoOutcome:
    """What :func:`build_video` made of one video (``skipped`` set when nothing)."""

    index: int
    records: list[fsjd.ClipRecord] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    notes: list[Skipped] = field(default_factory=list)
    skipped: Skipped | None = None


def build_video(job: VideoJob, config: BuildConfig, rows: list[Annotation] | None,
                backend: PoseBackend,
                advance: Callable[[int], None] = lambda n=1: None) -> VideoOutcome:
    """The whole work of one video, written into ``config.out`` (absolute, prepared): the
    pose pass (or its cache), the track, the windows and the clips. The one function behind
    the local loop, its threads and Ray's tasks. A video that gives no clip comes back
    with ``skipped``; other errors (a backend that cannot run, a bug) are raised."""
    try:
        records, new, notes = _build_video(job.name, job.info, job.names, rows, config,
                                           backend, Path(config.out), advance)
        return VideoOutcome(job.index, records, new, notes)
    except (SkipVideo, VideoError) as error:
        return VideoOutcome(job.index, skipped=Skipped(job.name, str(error)))


def make_backend_factory(config: BuildConfig,
                         backend: PoseBackend | Callable[[], PoseBackend] | None
                         ) -> Callable[[], PoseBackend]:
    """A zero-argument callable giving a fresh backend: ``backend`` itself when it is a
    factory, else ``config``'s backend (``backend`` must be None)."""
    if backend is not None:
        return backend
    return partial(make_backend, config.pose_backend, config.nlf_model, config.device)


def is_backend_instance(backend) -> bool:
    return backend is not None and isinstance(backend, PoseBackend)


def local_workers(config: BuildConfig, videos: int,
                  backend: PoseBackend | Callable[[], PoseBackend] | None = None) -> int:
    """Threads for a local build: ``config.workers``, else (0) the cores this process may
    use for MediaPipe (at most ``MAX_AUTO_WORKERS``) and 1 for NLF (one GPU model);
    never more than the videos; 1 for a given backend instance (not shared by threads)."""
    if is_backend_instance(backend):
        return 1
    wanted = config.workers
    if wanted == 0:
        wanted = min(usable_cores(), MAX_AUTO_WORKERS) if config.pose_backend == "mediapipe" else 1
    return max(1, min(wanted, videos))


def longest_first(jobs: list[VideoJob]) -> list[VideoJob]:
    """Jobs by decreasing frame count (then input order): started first, the long videos
    do not leave one worker busy alone at the end."""
    return sorted(jobs, key=lambda job: (-job.info.frames, job.index))


def _build_local(jobs: list[VideoJob], config: BuildConfig, rows, backend,
                 advance: Callable[[int], None]) -> Iterator[VideoOutcome]:
    """Outcomes in completion order. One worker: the videos one after another (decoding
    overlaps estimation inside each pose pass). Several: that many threads, each with its
    own backend, build videos side by side, so one decodes, writes clips or estimates
    while another estimates (PyAV, swscale, x264 and MediaPipe's graph release the GIL)."""
    workers = local_workers(config, len(jobs), backend)
    if is_backend_instance(backend):
        for job in jobs:
            yield build_video(job, config, rows, backend, advance)
        return
    factory = make_backend_factory(config, backend)
    if workers == 1:
        own = factory()
        for job in jobs:
            yield build_video(job, config, rows, own, advance)
        return
    local = threading.local()
    stop = threading.Event()  # set when the build ends early (an error, Ctrl-C)

    def advance_or_stop(n: int = 1) -> None:
        if stop.is_set():  # the other videos' pose passes end at their next batch
            raise _Stopped
        advance(n)

    def work(job: VideoJob) -> VideoOutcome:
        if stop.is_set():
            raise _Stopped
        if getattr(local, "backend", None) is None:
            local.backend = factory()
        return build_video(job, config, rows, local.backend, advance_or_stop)

    with ThreadPoolExecutor(workers, thread_name_prefix="sportanim-build") as pool:
        futures = [pool.submit(work, job) for job in longest_first(jobs)]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            stop.set()
            for future in futures:
                future.cancel()


class _Stopped(Exception):
    """A worker thread's video abandoned because the build stopped."""


def _prepare_out(out: Path) -> Path:
    """Create ``out`` (with its ``.build`` folder); refuse a non-empty folder that is not
    a build's output, so nothing foreign is mixed in."""
    out = Path(os.path.abspath(out))
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / BUILD_DIR).is_dir():
        raise FileExistsError(f"{out} is not empty and was not made by 'sportanim data build'; "
                              "choose a new --out (an earlier build's --out resumes it)")
    (out / BUILD_DIR / "records").mkdir(parents=True, exist_ok=True)
    (out / fsjd.CLIPS_DIR).mkdir(exist_ok=True)
    return out


def _build_video(name: str, info: VideoInfo, names: list[str], rows: list[Annotation] | None,
                 config: BuildConfig, backend: PoseBackend, out: Path,
                 advance: Callable[[int], None]
                 ) -> tuple[list[fsjd.ClipRecord], list[str], list[Skipped]]:
    """The clips of one video (finished ones reused), the ids written now, and notes on
    windows that gave no clip."""
    if info.frames and info.frames < config.frames:
        raise SkipVideo(f"only {info.frames} frames, fewer than --frames {config.frames}")
    annotations = None
    if rows is not None:
        annotations = annotations_for(rows, names)
        if not annotations:
            raise SkipVideo(f"no row for it in {config.annotations} (rows name videos by "
                            "path, file name or stem)")
    key = video_key(info.path)
    poses = _poses(info, key, backend, config, out, advance)
    n = poses.frames
    if n < config.frames:
        raise SkipVideo(f"only {n} frames decode, fewer than --frames {config.frames}")
    track = track_main_athlete(poses.result, config.track, cuts=poses.cuts)
    if not track.kept.any():
        raise SkipVideo(f"no person found in its {n} frames")
    fps = info.fps if info.fps > 0 else (n - 1) / max(poses.times[-1] - poses.times[0], 1e-6)
    windows = _windows(annotations, poses, track, fps, config)
    if not windows:
        raise SkipVideo(f"no jump detected in {n} frames ({len(poses.cuts) + 1} shot(s)); "
                        "pass --annotations to choose windows")
    plans, notes = _plan_clips(name, info, key, windows, poses, track, fps, config)
    if not plans:
        raise SkipVideo(notes[0].reason if notes else "no clip")
    records = []
    todo = []
    for plan in plans:
        record = _finished(out, plan["id"])
        if record is not None:
            records.append(record)
        else:
            todo.append(plan)
    new = _write_clips(info, todo, poses, track, backend, config, out)
    return records + new, [r.id for r in new], notes


def _poses(info, key, backend, config, out, advance):
    path = cache_path(out / BUILD_DIR / "poses", key, backend.version)
    poses = load_poses(path, backend.version)
    if poses is not None:
        advance(max(info.frames, 1))
        return poses
    cuts = detect_shots(info).cuts
    poses = pose_video(info, backend, cuts, config.pose_max_side, advance=advance)
    save_poses(path, poses)
    return poses


def _frame_at(times: np.ndarray, t: float) -> int:
    return int(np.clip(np.searchsorted(times, t - 1e-6), 0, len(times) - 1))


def _windows(annotations, poses, track: Track, fps: float, config: BuildConfig) -> list[dict]:
    """Windows as dicts: ``start``/``end`` (inclusive frames), ``takeoff``/``landing``
    (frames or None), ``kind`` and what produced them."""
    if annotations is not None:
        t = poses.times
        out = []
        for row in annotations:
            a, b = _frame_at(t, row.start), _frame_at(t, row.end)
            is_jump = (row.jump_type or "").lower() in JUMP_NAMES
            before = int(round(config.jumps.before_s * fps))
            after = int(round(config.jumps.after_s * fps))
            out.append({"start": max(a - before, 0), "end": min(b + after, len(t) - 1),
                        "takeoff": a if is_jump else None, "landing": b if is_jump else None,
                        "motion": row.jump_type, "domain": "jump" if is_jump else None,
                        "origin": {"window": "annotation", "annotation": {
                            "line": row.line, "start_s": row.start, "end_s": row.end,
                            "jump_type": row.jump_type}}})
        return out
    found = detect_jump_windows(track.joints, fps, cuts=poses.cuts, config=config.jumps,
                                segments=track.segment)
    return [{"start": w.start, "end": w.end, "takeoff": w.takeoff, "landing": w.landing,
             "motion": None, "domain": "jump",
             "origin": {"window": "detected", "detection": _finite(w.to_dict())}} for w in found]


def _finite(values: dict) -> dict:
    """JSON-safe: non-finite floats become None."""
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
            for k, v in values.items()}


def _safe_stem(stem: str) -> str:
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-_")[:60]
    return text or "video"


def _plan_clips(name, info, key, windows, poses, track, fps, config):
    """Span, frames, crop and id of each window's clip; notes for windows without one."""
    shots = shot_ranges(poses.cuts, poses.frames)
    plans, notes, used = [], [], set()
    for w in windows:
        anchor = w["takeoff"] if w["takeoff"] is not None else (w["start"] + w["end"]) // 2
        shot = next(r for r in shots if r[0] <= anchor < r[1])
        span = clip_span(w["start"], w["end"], shot, config.frames)
        where = f"{name} [{poses.times[w['start']]:.2f}-{poses.times[w['end']]:.2f} s]"
        if span is None:
            notes.append(Skipped(where, f"its shot holds {shot[1] - shot[0]} frames, fewer "
                                        f"than --frames {config.frames}"))
            continue
        s, e = span
        index, clip_fps = sample_frames(poses.times, s, e, config.frames)
        found = track.kept[index]
        if not found.any():
            notes.append(Skipped(where, "the athlete is not found in any of its frames"))
            continue
        clip_id = f"{_safe_stem(info.path.stem)}_{key[:6]}_f{s:06d}"
        while clip_id in used:
            clip_id += "b"
        used.add(clip_id)
        crop = follow_crop(track.boxes[index], found, info.size, config.crop_margin,
                           config.crop_sigma)
        plans.append({"id": clip_id, "key": key, "window": w, "span": (s, e), "shot": shot,
                      "index": index, "fps": clip_fps, "found": found, "crop": crop})
    return plans, notes


def _finished(out: Path, clip_id: str) -> fsjd.ClipRecord | None:
    """The record of a finished clip (its record and both files exist), else None."""
    path = out / BUILD_DIR / "records" / f"{clip_id}.json"
    try:
        record = fsjd.ClipRecord.from_json(path.read_text(encoding="utf-8"))
    except (OSError, fsjd.FormatError):
        return None
    if not ((out / record.video).is_file() and (out / record.joints).is_file()):
        return None
    return record


# ------------------------------------------------------------------------------- write


def _write_clips(info: VideoInfo, plans: list[dict], poses, track: Track, backend: PoseBackend,
                 config: BuildConfig, out: Path) -> list[fsjd.ClipRecord]:
    """One decode pass over the frames the clips need; each frame is cropped as it comes
    (memory: the clips' cropped frames only) and a clip is written once complete."""
    if not plans:
        return []
    size = config.size
    want: dict[int, list[tuple[int, int]]] = {}
    for c, plan in enumerate(plans):
        for k, i in enumerate(plan["index"]):
            want.setdefault(int(i), []).append((c, k))
    buffers = [np.zeros((config.frames, size, size, 3), np.uint8) for _ in plans]
    remaining = [config.frames for _ in plans]
    records: list[fsjd.ClipRecord] = []
    first, last = min(want), max(want)
    for batch in iter_frames(info, batch_size=16, start=first, stop=last + 1, prefetch=1):
        wanted: dict[int, list[tuple[int, int]]] = {}  # clip -> (row in batch, clip frame)
        for row, i in enumerate(batch.index):
            for c, k in want.get(int(i), ()):
                wanted.setdefault(c, []).append((row, k))
        for c, pairs in sorted(wanted.items()):  # one converter per clip and batch
            rows, ks = [p[0] for p in pairs], [p[1] for p in pairs]
            buffers[c][ks] = crop_resize(batch.frames[rows], plans[c]["crop"][ks], (size, size))
            remaining[c] -= len(ks)
            if remaining[c] == 0:
                records.append(_write_clip(info, plans[c], buffers[c], poses, track,
                                           backend, config, out))
                buffers[c] = None
    missing = [plans[c]["id"] for c in range(len(plans)) if remaining[c] > 0]
    if missing:
        raise SkipVideo(f"frames of clips {missing[:3]} did not decode the second time; "
                        "the file changed during the build?")
    return records


def _write_clip(info, plan, frames, poses, track, backend, config, out) -> fsjd.ClipRecord:
    index, found, window = plan["index"], plan["found"], plan["window"]
    s, e = plan["span"]
    size = (config.size, config.size)
    joints = fill_missing(track.joints[index], found).astype(np.float32)
    K = poses.result.intrinsics
    intrinsics = np.stack([crop_intrinsics(K, box, size) for box in plan["crop"]])
    quality = clip_quality(track.joints[s:e + 1], track.kept[s:e + 1], K, info.size,
                           info.fps if info.fps > 0 else plan["fps"], config.gates)
    quality["found_in_clip_frames"] = round(float(found.mean()), 4)
    labels = {"domain": window["domain"], "motion": window["motion"],
              "takeoff_frame": _nearest(index, window["takeoff"]),
              "landing_frame": _nearest(index, window["landing"])}
    times = poses.times
    source = {
        "file": str(info.path.resolve()), "name": info.path.name, "video_key": plan["key"],
        "time_range_s": [round(float(times[s]), 4), round(float(times[e]), 4)],
        "frame_range": [int(s), int(e)], "shot_frames": [int(plan["shot"][0]), int(plan["shot"][1])],
        "source_fps": round(float(info.fps), 4), "source_size": list(info.size),
        "rotation": info.rotation, "backend": backend.name,
        "backend_version": backend.version, "sportanim": __version__,
        "crop_side_px": round(float(plan["crop"][0, 2] - plan["crop"][0, 0]), 2),
        **window["origin"]}
    record = fsjd.ClipRecord(id=plan["id"], fps=round(plan["fps"], 6), size=size,
                             frames=config.frames, split="train", labels=labels, source=source,
                             quality=quality)
    extras = {"source_frame": index.astype(np.int64), "found": found.astype(np.uint8),
              "crop_boxes": plan["crop"].astype(np.float32)}
    fsjd.write_clip(out, record, frames, joints, intrinsics, extras)
    write_text(out / BUILD_DIR / "records" / f"{record.id}.json", record.to_json() + "\n")
    return record


def _nearest(index: np.ndarray, frame: int | None) -> int | None:
    """The clip frame showing source frame ``frame`` (None if outside the clip)."""
    if frame is None or not index[0] <= frame <= index[-1]:
        return None
    return int(np.argmin(np.abs(index - frame)))


def _write_manifest(out: Path) -> None:
    """``manifest.jsonl`` from every finished record (sorted by id), keeping the split of
    clips already in the manifest."""
    splits = {}
    if (out / fsjd.MANIFEST_NAME).is_file():
        try:
            splits = {r.id: r.split for r in fsjd.read_manifest(out)}
        except fsjd.FormatError:
            splits = {}
    records = []
    for path in sorted((out / BUILD_DIR / "records").glob("*.json")):
        record = _finished(out, path.stem)
        if record is not None:
            record.split = splits.get(record.id, record.split)
            records.append(record)
    fsjd.write_manifest(out, records)


def summary_rows(report: BuildReport) -> list[tuple[str, str]]:
    """``(input, reason)`` rows of what was skipped (inputs, then windows)."""
    return [(s.input, s.reason) for s in report.skipped + report.notes]

