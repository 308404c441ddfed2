"""The coaches' web app: its request handler called directly (good input, each refusal as a
one-line ``gr.Error``), the ``sportanim app`` command, and one run in a real browser."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

gr = pytest.importorskip("gradio", reason="the web app needs the app extra: pip install sportanim[app]")

from sportanim.studio import app as web  # noqa: E402
from sportanim.synth.world import make_clip  # noqa: E402


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """Tiny random weights (17-frame window, 32 px) loaded once, photos good and bad."""
    from PIL import Image

    from sportanim.data.motion import motion_stats
    from sportanim.generation import Generator, ModelSpec
    from sportanim.models.pipeline import build_pipeline, save_pipeline

    root = tmp_path_factory.mktemp("app")
    mean, std = motion_stats(make_clip(0, 1, "lutz", size=(64, 64), frames=49).joints.astype(np.float64))
    save_pipeline(build_pipeline("tiny", mean, std, num_frames=17, height=32, width=32), root / "weights", "tiny")
    Image.fromarray(make_clip(0, 2, "walk", size=(256, 256), frames=2).frames[0]).save(root / "athlete.png")
    Image.fromarray(np.full((256, 256, 3), 90, np.uint8)).save(root / "empty.png")
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(root / "dot.png")
    (root / "notes.png").write_text("not an image")
    generator = Generator.load(ModelSpec(weights=root / "weights", device="cpu"))
    return root, generator


@pytest.fixture
def service(studio, tmp_path):
    root, generator = studio
    return web.FeedbackService(generator, tmp_path / "run")


def request(root: Path, **changes) -> dict:
    values = {"photo": str(root / "athlete.png"), "source": web.ELEMENT_SOURCE, "element": "2A", "clip": None,
              "slow": 1.0, "mirror": False, "view": 0, "frames": 0, "seed": 0, "steps": 1}
    values.update(changes)
    return values


def test_handler_makes_the_panel_files_and_info(studio, service):
    from sportanim.io.video import read_video

    root, _ = studio
    panel, files, info = service.handle(**request(root, mirror=True, seed=3))
    names = sorted(Path(f).name for f in files)
    assert names == ["feedback.json", "feedback.mp4", "feedback.panel.mp4"] and panel in files
    assert all(Path(f).parent.parent == service.run_dir for f in files)  # one folder per request
    video, _ = read_video(panel)
    assert video.shape == (49, 32, 96, 3)  # a sampled 2A, skeleton | generated | overlay
    report = json.loads(Path(next(f for f in files if f.endswith(".json"))).read_text())
    assert [e["edit"] for e in report["edits"]] == ["mirror"] and report["sampling"]["seeds"][0] == 3
    assert report["retarget"]["camera"] == "follow"
    assert "jump 2A" in info and "PCK" in info and "AKD" in info and "generation" in info
    second = service.handle(**request(root), follow=False)
    assert Path(second[0]).parent != Path(panel).parent
    assert json.loads(Path(second[1][1]).read_text())["retarget"]["camera"] == "fixed"


def test_handler_reports_progress_stages(studio, service):
    root, _ = studio
    seen = []
    service.handle(**request(root), progress=lambda value, desc=None: seen.append(desc))
    assert seen[0].startswith("reading") and any("2A sampled" in text for text in seen)


@pytest.mark.parametrize("changes, words", [
    ({"photo": None}, ("upload a photo",)),
    ({"photo": "{root}/empty.png"}, ("no person found",)),
    ({"photo": "{root}/dot.png"}, ("1x1",)),
    ({"photo": "{root}/notes.png"}, ("notes.png", "not a readable image")),
    ({"slow": 0}, ("--slow 0",)),
    ({"frames": 5}, ("--frames 5", "17")),
    ({"frames": 2.5}, ("frames 2.5", "whole number")),
    ({"element": "5A"}, ("5A",)),
    ({"element": None}, ("choose an ISU element",)),
    ({"source": web.CLIP_SOURCE, "clip": "s0_00001"}, ("--data",)),
    ({"seed": -1}, ("seed -1",)),
])
def test_handler_refuses_bad_input_with_one_line(studio, service, changes, words):
    root, _ = studio
    changes = {k: v.format(root=root) if isinstance(v, str) else v for k, v in changes.items()}
    with pytest.raises(gr.Error) as caught:
        service.handle(**request(root, **changes))
    message = caught.value.message
    assert "\n" not in message and "Traceback" not in message, message
    assert all(word in message for word in words), message
    assert not list(service.run_dir.glob("request-*"))  # nothing half-written


def test_photo_input_refuses_a_non_image_upload_in_one_line(studio):
    from gradio.data_classes import ImageData

    root, _ = studio
    photo = web.photo_input()
    assert photo.get_block_name() == "image"  # the page draws it as gradio's own Image
    assert photo.preprocess(ImageData(path=str(root / "athlete.png"), orig_name="athlete.png")) == str(root / "athlete.png")
    with pytest.raises(gr.Error) as caught:
        photo.preprocess(ImageData(path=str(root / "notes.png"), orig_name="notes.png"))
    assert caught.value.message == "notes.png: not a readable image (UnidentifiedImageError)"


def test_handler_drives_by_fsjd_clip_id(studio, fsjd_dir, tmp_path):
    from sportanim import fsjd

    root, generator = studio
    service = web.FeedbackService(generator, tmp_path / "run", data=fsjd_dir)
    clip = fsjd.read_manifest(fsjd_dir)[0].id
    assert clip in web.clip_ids(fsjd_dir)
    _, files, info = service.handle(**request(root, source=web.CLIP_SOURCE, clip=clip, element=None, frames=17))
    report = json.loads(Path(next(f for f in files if f.endswith(".json"))).read_text())
    assert report["inputs"]["motion"] == clip and report["inputs"]["frames"] == 17 and clip in info


def test_samples_and_codes(tmp_path):
    from sportanim.generation import read_image

    paths = web.render_samples(tmp_path)
    assert len(paths) == len(web.SAMPLE_CLIPS) and read_image(paths[0]).shape == (256, 256, 3)
    codes = web.element_codes()
    assert codes[0] == "2A" and {"3Lz", "4T", "3F", "3Lo", "3S"} <= set(codes)


def test_build_app_has_a_queue_of_one(studio, tmp_path):
    root, generator = studio
    page = web.build_app(generator=generator, run_dir=tmp_path / "run")
    assert isinstance(page, gr.Blocks) and page._queue is not None
    assert page._queue.default_concurrency_limit == 1
    assert page.service.run_dir == tmp_path / "run" and len(list((tmp_path / "run" / "samples").glob("*.png"))) == 3


def test_app_command_without_gradio_says_how_to_install(monkeypatch):
    import importlib.util

    from typer.testing import CliRunner

    from sportanim.cli import app

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a))
    result = CliRunner().invoke(app, ["app"])
    assert result.exit_code == 2 and "pip install sportanim[app]" in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1


def test_app_command_refuses_a_bad_data_folder(tmp_path):
    from typer.testing import CliRunner

    from sportanim.cli import app

    result = CliRunner().invoke(app, ["app", "--data", str(tmp_path / "nowhere"), "--port", "1"])
    assert result.exit_code == 2 and "manifest.jsonl" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_a_second_user_waits_in_the_queue(studio, tmp_path):
    """Two requests at once through the page's API: one runs, the other is told its place."""
    import time

    from gradio_client import Client, handle_file

    from tests.launch import free_port

    root, generator = studio
    page = web.build_app(generator=generator, run_dir=tmp_path / "run")
    port = free_port()
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        args = [handle_file(str(root / "athlete.png")), web.ELEMENT_SOURCE, "2A", None, 1.0, False, 0, 0]  # then seed, steps, follow
        first = client.submit(*args, 0, 5, True, api_name="/generate")
        second = client.submit(*args, 1, 1, True, api_name="/generate")
        seen = set()
        while not (first.done() and second.done()):  # either may reach the queue first
            for job in (first, second):
                status = job.status()
                seen.add((status.code.name, status.rank, status.queue_size))
            time.sleep(0.02)
        assert ("IN_QUEUE", 0, 1) in seen, seen  # one waiting, told it is next
        assert Path(first.result()[0]).is_file() and Path(second.result()[0]).is_file()
    finally:
        page.close()


# --------------------------------------------------------------------------- in a browser


def _chromium() -> str:
    """Debian's Chromium (Playwright's own download cannot work offline), or skip."""
    pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (the dev extra)")
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("no chromium binary on PATH (apt-get install -y chromium)")
    return path


@pytest.mark.slow
def test_app_in_a_browser(tmp_path):
    """The shipped tiny base served on a free port; headless Chromium uploads a synthetic
    athlete, chooses 2A, clicks Generate, plays the panel and downloads the video."""
    import os

    from PIL import Image
    from playwright.sync_api import sync_playwright

    from sportanim.io.video import read_video
    from tests.launch import free_port

    chromium = _chromium()
    photo = tmp_path / "athlete.png"
    Image.fromarray(make_clip(0, 2, "walk", size=(256, 256), frames=2).frames[0]).save(photo)
    port = free_port()
    page = web.serve("127.0.0.1", port, device="cpu", block=False)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
            tab = browser.new_page(viewport={"width": 1280, "height": 1100}, accept_downloads=True)
            tab.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
            tab.locator("#generate").click()  # no photo yet: a message in the page, no traceback
            tab.get_by_text("upload a photo of the athlete").first.wait_for(timeout=30_000)
            assert "Traceback" not in tab.content()
            tab.locator("#photo input[type=file]").set_input_files(str(photo))
            tab.locator("#photo img").first.wait_for(timeout=30_000)
            tab.locator("#element input").click()
            tab.get_by_role("option", name="3Lz", exact=True).click()  # away and back: the dropdown works
            tab.locator("#element input").click()
            tab.get_by_role("option", name="2A", exact=True).click()
            assert tab.locator("#element input").input_value() == "2A"
            tab.locator("#generate").click()
            video = tab.locator("#panel video")
            video.wait_for(timeout=240_000)
            state = video.evaluate("""async v => {
                if (v.readyState < 1) await new Promise(r => v.addEventListener('loadedmetadata', r, {once: true}));
                v.muted = true; await v.play();
                await new Promise(r => setTimeout(r, 700));
                return {ready: v.readyState, duration: v.duration, time: v.currentTime, error: v.error && v.error.code};
            }""")
            assert state["error"] is None and state["ready"] >= 2, state
            assert state["duration"] == pytest.approx(49 / 30, abs=0.1) and state["time"] > 0, state  # it plays
            tab.locator("#info").get_by_text("PCK").first.wait_for(timeout=10_000)
            assert "jump 2A" in tab.locator("#info").inner_text()
            link = tab.locator('#files a[download="feedback.mp4"]')
            with tab.expect_download() as download:
                link.click()
            saved = tmp_path / "downloaded.mp4"
            download.value.save_as(saved)
            frames, fps = read_video(saved)
            assert len(frames) >= 49 and fps == pytest.approx(30)
            tab.screenshot(path=str(tmp_path / "app.png"), full_page=True)
            if os.environ.get("SPORTANIM_APP_SCREENSHOT"):  # how docs/app.png is made
                shutil.copy(tmp_path / "app.png", os.environ["SPORTANIM_APP_SCREENSHOT"])
            browser.close()
    finally:
        page.close()
