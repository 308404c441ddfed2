"""The coaches' web app (``sportanim app``): a photo of the athlete and a jump -> the feedback panel.

One page over ``sportanim.studio.feedback.make_feedback``: upload a photo (or pick one of the
sample athletes rendered on the fly by the synthetic world), choose the motion (an ISU element
sampled by the jump generator, or a clip id of an FSJD folder), the edits (slow, mirror, view,
frames), the seed; Generate shows the side-by-side panel, the files to download and what
OUT.json says about motion fidelity and timings.

The model is loaded once (``Generator.load``) and shared by every request; the queue runs one
generation at a time (the others see their place in it). Each request writes into its own
folder under the run folder; older request folders are removed so the disk does not fill.
Bad input becomes ``gr.Error`` with the library's one-line message, never a traceback.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

# First frames of synthetic-world clips (seed 0): (clip index, motion); MediaPipe finds these
# athletes at 256 px (tests/test_feedback.py uses clip 2).
SAMPLE_CLIPS = ((2, "walk"), (5, "walk"), (7, "idle_sway"))
SAMPLE_SIZE = 256
ELEMENT_SOURCE, CLIP_SOURCE = "ISU element", "FSJD clip"
KEEP_REQUESTS = 20  # request folders kept in the run folder (the newest; gradio copies what it shows)
OUTPUT_NAME = "feedback.mp4"
TIMING_LABELS = {"athlete_s": "photo: athlete found", "generate_s": "generation", "window_s": "each window",
                 "total_s": "total (with the files)"}


def element_codes() -> list[str]:
    """Every ISU code the jump generator can sample, singles last (2A, 3A, 2T, ... 4Lz, 1A, ...)."""
    from sportanim.motion.elements import Element
    from sportanim.synth.jumps import JUMP_TYPES

    codes = [Element(name, revs).code for name, kind in JUMP_TYPES.items() for revs in kind.revolutions]
    return sorted(codes, key=lambda code: code.startswith("1"))


def render_samples(folder: Path) -> list[Path]:
    """Sample athlete photos (PNG) written to ``folder``: the first frame of synthetic clips."""
    from PIL import Image

    from sportanim.synth.world import make_clip

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, motion in SAMPLE_CLIPS:
        path = folder / f"athlete_{index}.png"
        if not path.is_file():
            frame = make_clip(0, index, motion, size=(SAMPLE_SIZE, SAMPLE_SIZE), frames=2).frames[0]
            Image.fromarray(frame).save(path)
        paths.append(path)
    return paths


def clip_ids(data: Path | None) -> list[str]:
    """The clip ids of an FSJD folder (none without one)."""
    from sportanim import fsjd

    return [] if data is None else [record.id for record in fsjd.read_manifest(data)]


class FeedbackService:
    """The state every request shares (the loaded generator, the run folder, the FSJD folder)
    and the request handler itself (:meth:`handle`), callable without a browser."""

    def __init__(self, generator, run_dir: Path, data: Path | None = None, weights: Path | None = None):
        self.generator = generator
        self.run_dir = Path(run_dir)
        self.data = None if data is None else Path(data)
        self.weights = weights
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def handle(self, photo, source: str, element: str | None, clip: str | None, slow: float, mirror: bool,
               view: float, frames: float, seed: float, steps: float = 25, follow: bool = True, progress=None):
        """One Generate click -> (panel video, [files to download], info markdown). ``slow`` 1,
        ``view`` 0 and ``frames`` 0 mean "no such edit"; user errors raise ``gr.Error``."""
        import gradio as gr

        try:
            return self._generate(photo, source, element, clip, slow, mirror, view, frames, seed, steps, follow,
                                  progress)
        except (ValueError, OSError) as error:
            raise gr.Error(_readable(str(error), photo), print_exception=False) from None

    def _generate(self, photo, source, element, clip, slow, mirror, view, frames, seed, steps, follow, progress):
        from sportanim.studio.feedback import make_feedback

        options = self._options(photo, source, element, clip, slow, mirror, view, frames, seed, steps)
        options["camera"] = "follow" if follow else "fixed"
        step = _stages(progress)
        step("reading the photo and the motion")
        folder = self._request_folder()
        try:
            result = make_feedback(photo, out=folder / OUTPUT_NAME, data=self.data, weights=self.weights,
                                   generator=self.generator, show_progress=False,
                                   on_note=lambda text: step(text[:80]), **options)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # a refused request leaves nothing behind
            raise
        finally:
            release_memory()
        info = summary(json.loads(result.report.read_text(encoding="utf-8")), result.seconds)
        return str(result.panel), [str(result.video), str(result.report), str(result.panel)], info

    def _options(self, photo, source, element, clip, slow, mirror, view, frames, seed, steps) -> dict:
        """The page's values as ``make_feedback`` options (the no-edit values become None)."""
        if photo is None or (isinstance(photo, str) and not photo):
            raise ValueError("upload a photo of the athlete, or pick a sample athlete")
        if source == CLIP_SOURCE:
            if self.data is None:
                raise ValueError("no FSJD folder: start the app with --data DIR to drive by clip ids")
            if not clip:
                raise ValueError("choose a clip id")
            motion, jump = clip, None
        elif source == ELEMENT_SOURCE:
            if not element:
                raise ValueError("choose an ISU element, e.g. 2A")
            motion, jump = None, element
        else:
            raise ValueError(f"motion source {source!r}: choose {ELEMENT_SOURCE!r} or {CLIP_SOURCE!r}")
        slow, view = _number_or_none(slow, "slow", 1.0), _number_or_none(view, "view", 0.0)
        return {"motion": motion, "jump": jump, "slow": slow, "mirror": bool(mirror), "view": view,
                "frames": _whole(frames, "frames", 0) or None, "seed": _whole(seed, "seed", 0),
                "steps": _whole(steps, "steps", 1)}

    def _request_folder(self) -> Path:
        """A fresh folder for one request; the oldest beyond ``KEEP_REQUESTS`` are removed."""
        folders = sorted((p for p in self.run_dir.glob("request-*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
        for old in folders[:max(0, len(folders) - KEEP_REQUESTS + 1)]:
            shutil.rmtree(old, ignore_errors=True)
        folder = self.run_dir / f"request-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        return folder


def release_memory() -> None:
    """Hand a request's freed buffers (video frames, detector weights) back to the system:
    without it glibc keeps them and the server's RSS creeps up over generations
    (benchmarks/app.py)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        pass


def summary(report: dict, seconds: float) -> str:
    """The info box: motion fidelity, timings and notes of OUT.json, as markdown."""
    fidelity, timings = report["motion_fidelity"], report["timings"]
    edits = ", ".join(e["edit"] for e in report["edits"]) or "none"
    lines = [f"**{report['inputs']['motion']}**, {report['inputs']['frames']} frames at "
             f"{report['inputs']['fps']:g} fps; edits: {edits}; seeds {report['sampling']['seeds']}",
             "",
             "| motion fidelity | value |", "|---|---|",
             f"| PCK @ {_number(fidelity['pck_threshold'], '.2g')} | {_number(fidelity['pck'])} |",
             f"| AKD (px) | {_number(fidelity['akd_px'], '.1f')} |",
             f"| joints found | {_number(fidelity['found'])} |",
             "",
             "| timing | seconds |", "|---|---|"]
    lines += [f"| {TIMING_LABELS.get(name, name)} | {_seconds(value)} |" for name, value in timings.items()
              if name != "load_s"]  # the model was loaded once, at start
    lines += [f"| request | {seconds:.1f} |", "", f"_{report['motion_fidelity_note']}_"]
    if report["notes"]:
        lines += ["", "Notes:"] + [f"- {note}" for note in report["notes"]]
    return "\n".join(lines)


def _number(value, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def _seconds(value) -> str:
    return ", ".join(f"{v:.1f}" for v in value) if isinstance(value, list) else f"{value:.1f}"


def _number_or_none(value, name: str, neutral: float) -> float | None:
    """A slider's value as a float; None at its no-edit value (or when empty)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} {value!r}: give a number") from None
    return None if number == neutral else number


def _whole(value, name: str, least: int) -> int:
    """A number from the page as an int (sliders send floats); ValueError when not whole."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} {value!r}: give a whole number") from None
    if not number.is_integer() or number < least:
        raise ValueError(f"{name} {value:g}: give a whole number >= {least}")
    return int(number)


def _readable(message: str, photo) -> str:
    """The library's message with the upload's temporary path shortened to its name."""
    if isinstance(photo, str) and photo:
        message = message.replace(photo, Path(photo).name)
    return message


def _stages(progress):
    """A step(description) that moves the page's progress bar to its next stage (or nothing)."""
    def step(text: str) -> None:
        if progress is not None:
            progress(None, desc=text)
    return step


def photo_input(**options):
    """gradio's Image (a file path, as uploaded) whose refusal of a non-image is one line in
    the page like every other bad input (gradio's own is a paragraph naming its internals)."""
    import gradio as gr
    from PIL import Image

    class PhotoInput(gr.Image):
        is_template = True  # drawn by the page as gradio's Image

        def preprocess(self, payload):
            try:
                return super().preprocess(payload)
            except (OSError, ValueError, Image.DecompressionBombError) as error:
                name = payload.orig_name or Path(payload.path or "photo").name
                raise gr.Error(f"{name}: not a readable image ({type(error).__name__})",
                               print_exception=False) from None

    return PhotoInput(type="filepath", image_mode=None, **options)


def load_generator(weights: Path | None, device: str):
    """The model, loaded once for all requests; its denoising bars feed gr.Progress(track_tqdm)."""
    from sportanim.generation import Generator, ModelSpec

    return Generator.load(ModelSpec(weights=weights, device=device), show_progress=True)


def build_app(weights=None, data=None, device: str = "auto", *, generator=None, run_dir=None):
    """The page (``gradio.Blocks``, queue enabled, one generation at a time). ``generator``: an
    already loaded model (else ``weights`` on ``device``); ``run_dir``: where requests write
    (default a new folder in the system temp folder, which gradio may serve)."""
    import gradio as gr

    data = None if data is None else Path(data)
    clips = clip_ids(data)  # a bad --data fails here, before the model loads
    run_dir = Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="sportanim-app-"))
    if generator is None:
        generator = load_generator(None if weights is None else Path(weights), device)
    service = FeedbackService(generator, run_dir, data, weights)
    samples = render_samples(run_dir / "samples")

    def generate(photo, source, element, clip, slow, mirror, view, frames, seed, steps, follow=True,
                 progress=gr.Progress(track_tqdm=True)):
        return service.handle(photo, source, element, clip, slow, mirror, view, frames, seed, steps, follow, progress)

    # no analytics: the page runs offline and handles photos of people
    with gr.Blocks(title="sportanim feedback", delete_cache=(3600, 3600), analytics_enabled=False) as page:
        gr.Markdown("## Feedback for coaches\nA photo of your athlete and a jump: the athlete doing it, "
                    "as the model draws it, beside the driving skeleton.")
        with gr.Row():
            with gr.Column():
                photo = photo_input(label="Athlete photo", sources=["upload"], elem_id="photo")
                gr.Examples([[str(p)] for p in samples], inputs=[photo], label="Or pick a sample athlete")
                source = gr.Radio([ELEMENT_SOURCE, CLIP_SOURCE] if clips else [ELEMENT_SOURCE],
                                  value=ELEMENT_SOURCE, label="Motion source", elem_id="source")
                element = gr.Dropdown(element_codes(), value="2A", label="ISU element", elem_id="element")
                clip = gr.Dropdown(clips, value=clips[0] if clips else None, label="FSJD clip id",
                                   visible=bool(clips), elem_id="clip")
                with gr.Accordion("Edits", open=True):
                    slow = gr.Slider(1.0, 4.0, value=1.0, step=0.25, label="Slow motion (2 = half speed)")
                    mirror = gr.Checkbox(False, label="Mirror (left and right swapped)")
                    view = gr.Slider(-180, 180, value=0, step=5, label="View: camera moved by (degrees)")
                    frames = gr.Slider(0, 300, value=0, step=1, label="Frames (0 = all)")
                    follow = gr.Checkbox(True, label="Camera follows the skater (else the photo's camera stays still)",
                                         elem_id="follow")
                with gr.Row():
                    seed = gr.Number(0, label="Seed", precision=0, minimum=0)
                    steps = gr.Slider(1, 50, value=25, step=1, label="Denoising steps")
                button = gr.Button("Generate", variant="primary", elem_id="generate")
            with gr.Column():
                panel = gr.Video(label="Skeleton | generated | overlay", autoplay=True, loop=True, elem_id="panel")
                files = gr.File(label="Download (video, report, panel)", file_count="multiple", elem_id="files")
                info = gr.Markdown(elem_id="info")
        button.click(generate, [photo, source, element, clip, slow, mirror, view, frames, seed, steps, follow],
                     [panel, files, info], api_name="generate")
    page.queue(default_concurrency_limit=1)
    page.service = service  # for tests and the benchmark: the handler and its run folder
    return page


def serve(host: str = "127.0.0.1", port: int = 7860, weights=None, data=None, device: str = "auto",
          block: bool = True):
    """Build the page and serve it on ``host:port`` (localhost unless told otherwise)."""
    page = build_app(weights, data, device)
    page.launch(server_name=host, server_port=port, show_error=True, prevent_thread_lock=not block,
                allowed_paths=[str(page.service.run_dir)], quiet=False)
    return page


__all__ = ["build_app", "serve", "FeedbackService", "element_codes", "render_samples", "summary"]
