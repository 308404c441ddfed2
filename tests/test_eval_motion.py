"""Keypoint detectors, motion fidelity (PCK / AKD), appearance consistency and their
evaluate() metrics, on tiny synthetic clips."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from sportanim import fsjd
from sportanim.eval import appearance as A
from sportanim.eval.evaluate import evaluate
from sportanim.eval.keypoint_training import (KeypointTrainConfig, augment, target_heatmaps,
                                              train_keypoint_detector)
from sportanim.eval.keypoints import (SHIPPED, Keypoints2D, KeypointNet, KeypointNetConfig,
                                      decode_heatmaps, load_keypoint_detector, mediapipe_keypoints)
from sportanim.eval.motion_fidelity import body_size, motion_scores
from sportanim.skeleton import JOINT_INDEX, project
from sportanim.synth.dataset import SynthConfig, synthesize
from sportanim.io.video import write_video

needs_shipped = pytest.mark.skipif(not (SHIPPED / "model.safetensors").is_file(),
                                   reason="the shipped keypoint detector is not installed")


class OracleDetector:
    """Returns given keypoints: tests the measures apart from any network."""

    name = "oracle"

    def __init__(self, xy: np.ndarray, size: tuple[int, int]):
        self.xy, self.size = xy, size

    def detect(self, frames):
        xy = self.xy[: len(frames)].astype(np.float32)
        return Keypoints2D(xy, np.ones(xy.shape[:2], np.float32), tuple(range(24)), self.size)

    def provenance(self):
        return {"detector": self.name}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Four 64 px synthetic clips (two jumps, two daily motions), 17 frames."""
    out = tmp_path_factory.mktemp("motion") / "real"
    synthesize(SynthConfig(out=out, clips=4, size=64, frames=17, seed=5, workers=1,
                           motions=("axel", "walk", "lutz", "squat")), show_progress=False)
    return out


def _load(root, k):
    record = fsjd.read_manifest(root)[k]
    return record, fsjd.load_clip(root, record)


# ----------------------------------------------------------------------- heatmaps


def test_heatmap_round_trip_is_subpixel():
    pixels = torch.tensor([[[10.3, 20.8], [33.0, 5.6], [63.2, 0.4]]])  # last two: near edges
    heatmaps = target_heatmaps(pixels, 64, sigma=1.0)
    cells, peak = decode_heatmaps(heatmaps)
    decoded = cells * 2 + 1
    assert torch.allclose(decoded[0, 0], pixels[0, 0], atol=0.05)
    assert torch.allclose(decoded[0, 1], pixels[0, 1], atol=0.05)
    assert (decoded[0, 2] - pixels[0, 2]).abs().max() < 1.0  # border cell: no sub-cell offset
    assert peak[0, 0] > 0.7
    outside = target_heatmaps(torch.tensor([[[70.0, 3.0], [float("nan"), 1.0]]]), 64, 1.0)
    assert outside.abs().max() == 0


def test_augment_moves_joints_with_the_pixels():
    b = 12
    images = -torch.ones(b, 3, 64, 64)
    images[:, :, 30, 20] = 1.0  # one bright pixel where the left hip is
    pixels = torch.full((b, 24, 2), float("nan"))
    pixels[:, JOINT_INDEX["left_hip"]] = torch.tensor([20.5, 30.5])
    out, moved = augment(images, pixels, torch.Generator().manual_seed(3))
    for k in range(b):
        y, x = divmod(int(out[k].mean(0).argmax()), 64)
        finite = torch.isfinite(moved[k]).all(-1)
        assert finite.sum() == 1  # a flip relabels the hip as the right one
        assert torch.allclose(moved[k][finite][0], torch.tensor([x + 0.5, y + 0.5]), atol=1.0)


def test_net_save_load_round_trip(tmp_path):
    net = KeypointNet(KeypointNetConfig(widths=(4, 8, 8), decoder_width=4)).eval()
    net.save_pretrained(tmp_path / "kp")
    again = KeypointNet.from_pretrained(tmp_path / "kp")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(net(x), again(x))
    assert net(x).shape == (2, 24, 32, 32)
    with pytest.raises(FileNotFoundError, match="not a keypoint detector folder"):
        KeypointNet.from_pretrained(tmp_path)
    config = json.loads((tmp_path / "kp" / "config.json").read_text())
    (tmp_path / "kp" / "config.json").write_text(json.dumps({**config, "context_frames": 99}))
    with pytest.raises(ValueError, match="context_frames must be in"):
        KeypointNet.from_pretrained(tmp_path / "kp")


def test_temporal_context_stacks_neighbours_across_batches():
    """A detector that sees neighbour frames gives every frame of a long video (batches of
    BATCH) the same heatmaps as the frame alone with its neighbours stacked by hand."""
    from sportanim.eval.keypoints import BATCH, HeatmapDetector, decode_heatmaps, to_input, with_context

    x = torch.arange(5.0)[:, None, None, None].expand(5, 3, 2, 2)
    stacked = with_context(x, 2)
    assert stacked.shape == (5, 15, 2, 2)
    assert stacked[0, ::3, 0, 0].tolist() == [0, 0, 0, 1, 2] and stacked[4, ::3, 0, 0].tolist() == [2, 3, 4, 4, 4]
    torch.manual_seed(0)
    net = KeypointNet(KeypointNetConfig(widths=(4, 8, 8), decoder_width=4, context_frames=1)).eval()
    frames = np.random.default_rng(0).integers(0, 255, (BATCH + 6, 64, 64, 3), dtype=np.uint8)
    detected = HeatmapDetector(net).detect(frames)
    with torch.no_grad():
        x = to_input(frames, 64)
        for t in (0, BATCH - 1, BATCH, len(frames) - 1):
            around = x[[max(t - 1, 0), t, min(t + 1, len(frames) - 1)]].flatten(0, 1)[None]
            cells, _ = decode_heatmaps(net(around))
            np.testing.assert_allclose(detected.xy[t], (cells[0].double().numpy() * 2 + 1), atol=1e-4)


def test_flip_averaging_makes_the_detector_mirror_exactly():
    """With flip averaging a mirrored video's keypoints are the video's mirrored, left and
    right swapped (without it a network need not be symmetric)."""
    from sportanim.eval.keypoints import HeatmapDetector
    from sportanim.skeleton import MIRROR

    torch.manual_seed(1)
    net = KeypointNet(KeypointNetConfig(widths=(4, 8, 8), decoder_width=4, context_frames=1)).eval()
    frames = np.random.default_rng(2).integers(0, 255, (4, 48, 80, 3), dtype=np.uint8)
    mirrored = np.ascontiguousarray(frames[:, :, ::-1])
    for flip, exact in ((True, True), (False, False)):
        detector = HeatmapDetector(net, flip_average=flip)
        a, b = detector.detect(frames), detector.detect(mirrored)
        expected = np.stack([80.0 - a.xy[:, list(MIRROR), 0], a.xy[:, list(MIRROR), 1]], -1)
        assert np.allclose(b.xy, expected, atol=1e-3) == exact
        assert detector.provenance()["flip_average"] is flip


def test_training_writes_a_loadable_detector_with_its_record(tmp_path):
    config = KeypointTrainConfig(train_clips=2, eval_clips=2, frames=9, steps=2, batch=4,
                                 net=KeypointNetConfig(widths=(4, 8, 8), decoder_width=4, context_frames=1))
    record = train_keypoint_detector(tmp_path / "kp", config, show_progress=False)
    saved = json.loads((tmp_path / "kp" / "training.json").read_text())
    assert saved["sha256"] == record["sha256"] and saved["heldout"]["clips"] == 2
    detector = load_keypoint_detector(tmp_path / "kp")
    assert detector.sha256 == record["sha256"]["model.safetensors"]
    assert detector.net.config.context_frames == 1 and detector.detect(np.zeros((3, 64, 64, 3), np.uint8)).xy.shape == (3, 24, 2)
    with pytest.raises(FileExistsError, match="not empty"):
        train_keypoint_detector(tmp_path / "kp", config, show_progress=False)


def test_training_can_start_from_an_earlier_detector(tmp_path):
    net = KeypointNetConfig(widths=(4, 8, 8), decoder_width=4)
    config = KeypointTrainConfig(train_clips=2, eval_clips=2, frames=9, steps=1, batch=4, net=net)
    first = train_keypoint_detector(tmp_path / "a", config, show_progress=False)
    frozen = dataclasses.replace(config, lr=0.0)  # no step moves a weight: the start is the result
    second = train_keypoint_detector(tmp_path / "b", frozen, show_progress=False, init=tmp_path / "a")
    before, after = (load_keypoint_detector(tmp_path / f).net for f in "ab")
    for (name, a), b in zip(before.named_parameters(), after.parameters()):  # (norm statistics move)
        assert torch.equal(a, b), name
    assert second["init"]["model.safetensors"] == first["sha256"]["model.safetensors"]
    assert second["init"]["final_loss"] == first["final_loss"]
    wider = dataclasses.replace(config, net=dataclasses.replace(net, decoder_width=8))
    with pytest.raises(ValueError, match="differs"):
        train_keypoint_detector(tmp_path / "c", wider, show_progress=False, init=tmp_path / "a")
    assert not (tmp_path / "c").exists()


# --------------------------------------------------------------------- PCK / AKD


def test_pck_and_akd_against_exact_and_moved_joints(clips):
    record, clip = _load(clips, 0)
    joints, K = clip["joints"], clip["intrinsics"]
    target = project(joints, K)
    size = body_size(target)
    exact = OracleDetector(target, (64, 64)).detect(clip["frames"])
    s = motion_scores(exact, joints, K)
    assert s.pck == 1.0 and s.akd_px == pytest.approx(0, abs=1e-4) and s.found == 1.0
    # every joint moved right by 5% / 15% of its frame's body size
    for share, pck in ((0.05, 1.0), (0.15, 0.0)):
        moved = target + np.stack([share * size, 0 * size], -1)[:, None]
        s = motion_scores(OracleDetector(moved, (64, 64)).detect(clip["frames"]), joints, K)
        assert s.pck == pck and s.akd == pytest.approx(share, rel=1e-3)
    missed = Keypoints2D(exact.xy, np.zeros_like(exact.confidence), exact.provided, (64, 64))
    s = motion_scores(missed, joints, K)
    assert s.pck == 0.0 and s.akd_px is None and np.all(s.pck_frames == 0)
    with pytest.raises(ValueError, match="frames"):
        motion_scores(exact, joints[:-1], K)


def test_joints_outside_the_frame_are_not_scored():
    K = np.array([[50.0, 0, 32], [0, 50.0, 32], [0, 0, 1]])
    joints = np.zeros((1, 24, 3))
    joints[..., 2] = 3000.0
    joints[0, :, 1] = np.linspace(-600, 600, 24)   # a vertical line of joints
    joints[0, 0, 0] = 9000.0                        # pelvis far off to the right
    kp = Keypoints2D(np.zeros((1, 24, 2), np.float32), np.ones((1, 24), np.float32),
                     tuple(range(24)), (64, 64))
    assert motion_scores(kp, joints, K).scored == 23
    assert body_size(project(joints, K))[0] == pytest.approx(9000 / 3000 * 50)  # wide side


def test_mediapipe_landmarks_map_to_smpl_joints():
    from sportanim.data.pose import MEDIAPIPE_NAMES

    rng = np.random.default_rng(0)
    landmarks = rng.uniform(0, 100, (3, 33, 2))
    visibility = rng.uniform(0, 1, (3, 33))
    kp = mediapipe_keypoints(landmarks, visibility, (100, 100))
    mp = {n: i for i, n in enumerate(MEDIAPIPE_NAMES)}
    knee = JOINT_INDEX["left_knee"]
    np.testing.assert_allclose(kp.xy[:, knee], landmarks[:, mp["left_knee"]], rtol=1e-5)
    np.testing.assert_allclose(kp.confidence[:, knee], visibility[:, mp["left_knee"]], rtol=1e-6)
    hand = JOINT_INDEX["right_hand"]
    sources = [mp["right_wrist"], mp["right_index"], mp["right_pinky"]]
    np.testing.assert_allclose(kp.confidence[:, hand], visibility[:, sources].min(1), rtol=1e-6)
    gone = mediapipe_keypoints(np.full((1, 33, 2), np.nan), np.zeros((1, 33)), (100, 100))
    assert not gone.found().any()


# ---------------------------------------------------------------------- appearance


def test_colour_distance_separates_athletes_with_exact_joints(clips):
    records = fsjd.read_manifest(clips)
    loaded = [fsjd.load_clip(clips, r) for r in records]
    colours = [A.part_colours(c["frames"], OracleDetector(project(c["joints"], c["intrinsics"]),
                                                          (64, 64)).detect(c["frames"]))
               for c in loaded]
    reference = [A.part_colours(c["frames"][:1], OracleDetector(project(c["joints"], c["intrinsics"]),
                                                                (64, 64)).detect(c["frames"][:1]))
                 for c in loaded]
    assert set(colours[0]) >= {"torso", "thighs", "boots"}
    same = [A.colour_distance(reference[k], colours[k])["delta_e"] for k in range(4)]
    other = [A.colour_distance(reference[k], colours[j])["delta_e"]
             for k in range(4) for j in range(4)
             if records[k].labels["athlete"] != records[j].labels["athlete"]]
    assert other and max(same) < min(other)
    assert A.colour_distance(reference[0], {})["delta_e"] is None


# --------------------------------------------------------------------- evaluate()


def _generated(out, clips, change=None):
    """A flat ID.mp4 folder ``out`` holding the real videos (``change(k, frames)`` may alter
    them, or drop one by returning None)."""
    out.mkdir()
    for k, record in enumerate(fsjd.read_manifest(clips)):
        frames = fsjd.load_clip(clips, record)["frames"]
        if change is not None:
            frames = change(k, frames)
        if frames is not None:
            write_video(out / f"{record.id}.mp4", frames, 30.0)
    return out


@needs_shipped
def test_evaluate_motion_metrics_on_ground_truth_and_empty_videos(clips, tmp_path):
    gen = _generated(tmp_path / "gen", clips)
    metrics = "motion_pck,motion_akd,appearance"
    good = evaluate(clips, gen, metrics=metrics, out=tmp_path / "good.json", show_progress=False)["metrics"]
    assert good["motion_pck"]["value"] > 0.5 and good["motion_akd"]["unit"] == "px"
    assert good["motion_akd"]["value"] < 5 and good["appearance"]["value"] < 15
    # Another clip's motion drives the same videos: PCK drops.
    other = tmp_path / "other"
    other.mkdir()
    records = fsjd.read_manifest(clips)
    for k, record in enumerate(records):
        shutil.copy(gen / f"{record.id}.mp4", other / f"{record.id}.mp4")
        shutil.copy(clips / records[(k + 2) % 4].joints, other / f"{record.id}.npz")
    swapped = evaluate(clips, other, metrics="motion_pck", out=tmp_path / "o.json", show_progress=False)
    assert swapped["metrics"]["motion_pck"]["value"] < good["motion_pck"]["value"] - 0.3
    # Flat grey videos: no skater, PCK 0, no AKD, no appearance.
    grey = _generated(tmp_path / "grey", clips, lambda k, f: np.full_like(f, 128))
    empty = evaluate(clips, grey, metrics=metrics, out=tmp_path / "e.json", show_progress=False)["metrics"]
    assert empty["motion_pck"]["value"] == 0.0 and empty["motion_akd"]["value"] is None
    assert empty["appearance"]["value"] is None and empty["motion_akd"]["clips_without_detections"] == 4


def _write_png(path, image):
    from PIL import Image

    Image.fromarray(image).save(path)


@needs_shipped
def test_evaluate_appearance_uses_the_written_reference(clips, tmp_path):
    """ID.reference.png beside a video is what appearance compares with (cross-drive: another
    athlete's picture); PCK / AKD still score the driving joints."""
    gen = _generated(tmp_path / "gen", clips)
    metrics = "motion_pck,appearance"
    plain = evaluate(clips, gen, metrics=metrics, out=tmp_path / "p.json", show_progress=False)["metrics"]
    records = fsjd.read_manifest(clips)
    firsts = {r.id: fsjd.load_clip(clips, r)["frames"][0] for r in records}
    for r in records:  # the real first frame, written: the same numbers as without a file
        _write_png(gen / f"{r.id}.reference.png", firsts[r.id])
    own = evaluate(clips, gen, metrics=metrics, out=tmp_path / "o.json", show_progress=False)["metrics"]
    assert own["appearance"]["per_clip"] == plain["appearance"]["per_clip"]
    assert own["appearance"]["reference"].startswith("4 clips: the written")
    for r in records:  # another athlete's picture (another costume colour)
        other = next(o for o in records if o.labels["athlete"] != r.labels["athlete"])
        _write_png(gen / f"{r.id}.reference.png", firsts[other.id])
    cross = evaluate(clips, gen, metrics=metrics, out=tmp_path / "c.json", show_progress=False)["metrics"]
    assert cross["motion_pck"]["value"] == plain["motion_pck"]["value"]
    assert cross["appearance"]["value"] > plain["appearance"]["value"] + 5
    assert plain["appearance"]["reference"].endswith("4: the real clip's first frame")


@needs_shipped
def test_evaluate_motion_metrics_reject_bad_generated_clips(clips, tmp_path):
    short = _generated(tmp_path / "short", clips, lambda k, f: f[:-2])
    with pytest.raises(ValueError, match="has 15 frames, its driving joints 17"):
        evaluate(clips, short, metrics="motion_pck", out=tmp_path / "x.json", show_progress=False)
    big = _generated(tmp_path / "big", clips, lambda k, f: np.repeat(np.repeat(f, 2, 1), 2, 2))
    with pytest.raises(ValueError, match="is 128x128, the real clip 64x64"):
        evaluate(clips, big, metrics="motion_akd", out=tmp_path / "x.json", show_progress=False)
    partial = _generated(tmp_path / "partial", clips, lambda k, f: f if k else None)
    first = fsjd.read_manifest(clips)[0]
    shutil.copy(clips / first.joints, partial / f"{first.id}.npz")  # joints but no video
    with pytest.raises(ValueError, match=r"need generated videos \(ID.mp4\) for every clip"):
        evaluate(clips, partial, metrics="motion_pck", out=tmp_path / "x.json", show_progress=False)
    assert not (tmp_path / "x.json").exists()


@needs_shipped
def test_cli_evaluate_motion_metrics_and_bad_detector(clips, tmp_path):
    from typer.testing import CliRunner

    from sportanim.cli import app

    gen = _generated(tmp_path / "gen", clips)
    result = CliRunner().invoke(app, ["evaluate", "--real", str(clips), "--generated", str(gen), "--metrics",
                                      "motion_pck,motion_akd", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "PCK" in result.output or "pck" in result.output.lower()
    result = CliRunner().invoke(app, ["evaluate", "--real", str(clips), "--generated", str(gen), "--metrics",
                                      "motion_pck", "--keypoints", str(tmp_path / "nowhere"), "--quiet"])
    assert result.exit_code == 2 and "Traceback" not in result.output and "nowhere" in result.output


def test_mediapipe_detector_on_real_skating_video(shared_data):
    """MediaPipe's detector finds the skater of a real practice video where the video's own
    (independently made) MediaPipe landmarks put the knees and ankles."""
    import av

    from sportanim.data.pose import MEDIAPIPE_NAMES
    from sportanim.eval.keypoints import MediapipeDetector

    folder = shared_data / "skating_videos"
    first, count = 24, 8  # the recorded landmarks start at frame 24
    with av.open(str(folder / "towards_double_axel.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(first + count), container.decode(video=0))]
    frames = np.stack(frames[first:])
    kp = MediapipeDetector().detect(frames)
    h, w = frames.shape[1:3]
    recorded = json.loads((folder / "skeleton_data_double.json").read_text())["frames"][:count]
    mp = {n: i for i, n in enumerate(MEDIAPIPE_NAMES)}
    errors = []
    for t, frame in enumerate(recorded):
        assert frame["frame"] == first + t
        for name in ("left_knee", "right_knee", "left_ankle", "right_ankle"):
            lm = frame["landmarks"][mp[name]]
            if kp.found()[t, JOINT_INDEX[name]]:
                errors.append(np.hypot(kp.xy[t, JOINT_INDEX[name], 0] - lm["x"] * w,
                                       kp.xy[t, JOINT_INDEX[name], 1] - lm["y"] * h))
    assert len(errors) >= 16 and np.median(errors) < 0.03 * h
