"""Dataset builder, first slice: video reading, shot cuts, pose backends, tracking, jumps."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from sportanim.data.jumps import JumpConfig, detect_jump_windows, match_windows, track_runs
from sportanim.data.pose import (MAPPING_PARAMS, Candidates, NLFBackend, PoseBackend,
                                 PoseBackendError, PoseResult, fit_translation, lift_landmarks,
                                 make_backend, mediapipe_to_smpl24, select_best)
from sportanim.data.shots import detect_cuts, detect_shots, match_cuts, shot_ranges
from sportanim.data.track import TrackConfig, track_main_athlete
from sportanim.data.crop import crop_intrinsics, crop_resize
from sportanim.io.video import (VideoError, VideoNotFoundError, apply_display_transform,
                                display_transform, find_videos, iter_frames, open_video, read_all,
                                write_video)
from sportanim.skeleton import JOINT_INDEX, nlf_intrinsics, project
from sportanim.synth.programme import make_programme

from media import write_audio_only, write_encoded


@pytest.fixture(scope="module")
def programmes():
    """Three small synthetic programmes (64x64, 30 fps, 5 jumps each)."""
    return [make_programme(seed, seed, jumps=5, size=(64, 64), fps=30.0) for seed in range(3)]


def _quadrant_video(path: Path, rotation: int = 0, hflip: bool = False, vflip: bool = False,
                    pts: list[int] | None = None, size=(32, 16)) -> None:
    """A tiny H.264 mp4 whose frames are black with a white top-left quadrant."""
    w, h = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if pts is not None:
            stream.time_base = Fraction(1, 1000)
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation or hflip or vflip:
            stream.set_display_rotation(rotation, hflip=hflip, vflip=vflip)
        for i in range(6 if pts is None else len(pts)):
            rgb = np.zeros((h, w, 3), np.uint8)
            rgb[: h // 2, : w // 2] = 255
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i if pts is None else pts[i]
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _white_quadrant(frame: np.ndarray) -> str:
    h, w = frame.shape[:2]
    q = {"tl": frame[: h // 2, : w // 2], "tr": frame[: h // 2, w // 2:],
         "bl": frame[h // 2:, : w // 2], "br": frame[h // 2:, w // 2:]}
    return max(q, key=lambda k: q[k].mean())


# ------------------------------------------------------------------------------ video


@pytest.mark.parametrize("rotation, hflip, vflip, size, quadrant", [
    (0, False, False, (32, 16), "tl"),
    (90, False, False, (16, 32), "bl"),    # counter-clockwise: top-left goes bottom-left
    (-90, False, False, (16, 32), "tr"),   # a phone's portrait video
    (180, False, False, (32, 16), "br"),
    (0, True, False, (32, 16), "tr"),
    (0, False, True, (32, 16), "bl"),
    (90, True, False, (16, 32), "br"),
])
def test_rotation_metadata_is_applied(tmp_path, rotation, hflip, vflip, size, quadrant):
    path = tmp_path / "r.mp4"
    _quadrant_video(path, rotation, hflip, vflip)
    info = open_video(path)
    assert info.size == size and (info.coded_width, info.coded_height) == (32, 16)
    batch = read_all(info)
    assert batch.frames.shape == (6, size[1], size[0], 3)
    assert _white_quadrant(batch.frames[0]) == quadrant
    assert _white_quadrant(read_all(info, rotate=False).frames[0]) == "tl"
    resized = read_all(info, size=(size[0] // 2, size[1] // 2)).frames
    assert resized.shape == (6, size[1] // 2, size[0] // 2, 3)
    assert _white_quadrant(resized[0]) == quadrant


def test_display_transform_math():
    assert display_transform(None) == (0, False)
    # FFmpeg's av_display_rotation_set(90): [[cos, -sin], [sin, cos]] in 16.16 (as floats)
    assert display_transform(np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])) == (90, False)
    assert display_transform(np.array([[0, 1, 0], [-1, 0, 0], [0, 0, 1.0]])) == (270, False)
    assert display_transform(np.array([[-1, 0, 0], [0, 1, 0], [0, 0, 1.0]])) == (0, True)
    image = np.arange(6).reshape(1, 2, 3, 1)
    assert np.array_equal(apply_display_transform(image, 90, False)[0, ..., 0], np.rot90(image[0, ..., 0]))
    assert np.array_equal(apply_display_transform(image, 0, True)[0, ..., 0], image[0, :, ::-1, 0])


def test_variable_frame_rate_times_come_from_pts(tmp_path):
    path = tmp_path / "vfr.mp4"
    pts = [0, 33, 100, 110, 300, 333, 400]
    _quadrant_video(path, pts=pts)
    info = open_video(path)
    times = np.concatenate([b.time for b in iter_frames(info, batch_size=3)])
    np.testing.assert_allclose(times, np.array(pts) / 1000.0, atol=1e-3)
    assert np.array_equal(read_all(info).index, np.arange(len(pts)))
    assert info.variable_frame_rate


def test_iter_frames_batches_ranges_and_prefetch(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (20, 32, 48, 3), dtype=np.uint8)
    write_video(tmp_path / "v.mp4", frames, 25.0)
    batches = list(iter_frames(tmp_path / "v.mp4", batch_size=8, start=3, stop=17))
    assert [len(b) for b in batches] == [8, 6]
    assert np.array_equal(np.concatenate([b.index for b in batches]), np.arange(3, 17))
    np.testing.assert_allclose(batches[0].time, np.arange(3, 11) / 25.0, atol=1e-6)
    pre = list(iter_frames(tmp_path / "v.mp4", batch_size=8, start=3, stop=17, prefetch=2))
    assert all(np.array_equal(a.frames, b.frames) for a, b in zip(batches, pre))
    with pytest.raises(ValueError, match="batch_size"):
        iter_frames(tmp_path / "v.mp4", batch_size=0)


def test_bad_videos_raise_one_clear_error(tmp_path):
    with pytest.raises(VideoNotFoundError, match="not found"):
        open_video(tmp_path / "missing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        open_video(tmp_path / "empty.mp4")
    (tmp_path / "junk.mp4").write_bytes(np.random.default_rng(1).bytes(4000))
    with pytest.raises(VideoError, match="corrupt"):
        open_video(tmp_path / "junk.mp4")
    audio = tmp_path / "audio.m4a"
    write_audio_only(audio)
    with pytest.raises(VideoError, match="only audio"):
        open_video(audio)
    empty_dir = tmp_path / "nothing"
    empty_dir.mkdir()
    with pytest.raises(VideoError, match="no video files"):
        find_videos([empty_dir])
    (empty_dir / "a.MP4").write_bytes(b"x")
    assert find_videos([empty_dir, audio]) == [empty_dir / "a.MP4", audio]


def test_truncated_video(tmp_path):
    frames = np.random.default_rng(2).integers(0, 255, (40, 64, 64, 3), dtype=np.uint8)
    path = tmp_path / "fast.mp4"
    write_encoded(path, frames, movflags="faststart")
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    info = open_video(cut)  # the header (moov first) is intact
    with pytest.raises(VideoError, match="truncated"):
        read_all(info)
    kept = read_all(info, strict=False)
    assert 0 < len(kept) < 40
    cut.write_bytes(data[:2000])  # the header itself is cut: nothing to read
    with pytest.raises(VideoError, match="truncated"):
        open_video(cut)
    # mp4 with the index at the end, cut: no index, cannot be read at all
    write_video(tmp_path / "plain.mp4", frames, 30.0)
    plain = (tmp_path / "plain.mp4").read_bytes()
    cut.write_bytes(plain[: len(plain) // 2])
    with pytest.raises(VideoError, match="truncated"):
        open_video(cut)


def test_unsupported_codec(tmp_path):
    frames = np.random.default_rng(3).integers(0, 255, (5, 32, 32, 3), dtype=np.uint8)
    path = tmp_path / "m4.avi"
    write_encoded(path, frames, codec="mpeg4")
    assert read_all(path).frames.shape == (5, 32, 32, 3)  # MPEG-4 Part 2 in AVI reads
    data = path.read_bytes()
    tags = data.count(b"FMP4")
    assert tags >= 1
    (tmp_path / "odd.avi").write_bytes(data.replace(b"FMP4", b"ZQZQ"))
    strf = data.find(b"strf")
    patched = bytearray(data.replace(b"FMP4", b"ZQZQ"))
    patched[strf + 24:strf + 28] = b"ZQZQ"  # BITMAPINFOHEADER.biCompression
    (tmp_path / "odd.avi").write_bytes(bytes(patched))
    with pytest.raises(VideoError, match="codec"):
        open_video(tmp_path / "odd.avi")


def test_crop_resize_and_intrinsics():
    frames = np.zeros((2, 60, 80, 3), np.uint8)
    frames[:, 20:30, 40:50] = 255
    box = np.array([30.0, 10.0, 70.0, 50.0])  # 40x40 around the square
    out = crop_resize(frames, box, (20, 20))
    assert out.shape == (2, 20, 20, 3)
    K = nlf_intrinsics(80, 60)
    Kc = crop_intrinsics(K, box, (20, 20))
    point = np.array([[[0.0, 0.0, 1000.0]]])
    uv = project(point, K)[0, 0]
    uv_crop = project(point, Kc)[0, 0]
    np.testing.assert_allclose(uv_crop, (uv - box[:2]) * 0.5)
    # the white square (40..50, 20..30) lands at (5..10, 5..10) of the crop
    assert out[0, 6:9, 6:9].min() > 200 and out[0, 12:, 12:].max() < 30
    outside = crop_resize(frames, [-10, -10, 30, 30], (40, 40), fill=7)
    assert outside[0, 0, 0, 0] == 7


# ------------------------------------------------------------------------------ shots


def test_shot_cuts_of_synthetic_programmes(programmes, tmp_path):
    for p in programmes:
        shots = detect_cuts(p["frames"], 30.0)
        score = match_cuts(shots.cuts, p["labels"]["cuts"], tolerance=1)
        assert score["precision"] == 1.0 and score["recall"] == 1.0, (shots.cuts, p["labels"]["cuts"])
        assert shot_ranges(shots.cuts, len(p["frames"]))[0][0] == 0
    # from a file, in batches: same cuts
    p = programmes[0]
    write_video(tmp_path / "p.mp4", p["frames"], 30.0)
    assert detect_shots(tmp_path / "p.mp4").cuts == detect_cuts(p["frames"], 30.0).cuts


def test_no_cut_in_a_steady_shot():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (1, 48, 64, 3)).astype(np.int16)
    noisy = np.clip(base + rng.integers(-4, 5, (60, 48, 64, 3)), 0, 255).astype(np.uint8)
    assert detect_cuts(noisy, 30.0).cuts == []
    assert match_cuts([], []) == {"precision": 1.0, "recall": 1.0, "true_positives": 0,
                                  "found": 0, "truth": 0}


# ------------------------------------------------------------------------------- pose


def _fake_landmarks(n: int = 4) -> np.ndarray:
    """Plausible MediaPipe world landmarks (metres -> mm), hip-centred, upright."""
    rng = np.random.default_rng(5)
    body = np.zeros((33, 3))
    body[[11, 12], 0], body[[11, 12], 1] = [0.18, -0.18], -0.5     # shoulders (left at +x)
    body[[23, 24], 0] = [0.1, -0.1]                                  # hips
    body[[25, 26], 0], body[[25, 26], 1] = [0.1, -0.1], 0.45         # knees
    body[[27, 28], 0], body[[27, 28], 1] = [0.1, -0.1], 0.85         # ankles
    body[[29, 30], 0], body[[29, 30], 1], body[[29, 30], 2] = [0.1, -0.1], 0.9, 0.05
    body[[31, 32], 0], body[[31, 32], 1], body[[31, 32], 2] = [0.1, -0.1], 0.92, -0.15
    body[[13, 14], 0], body[[13, 14], 1] = [0.3, -0.3], -0.25        # elbows
    body[[15, 16], 0], body[[15, 16], 1] = [0.35, -0.35], 0.0        # wrists
    body[[17, 18, 19, 20, 21, 22], 0] = [0.37, -0.37, 0.36, -0.36, 0.34, -0.34]
    body[[17, 18, 19, 20, 21, 22], 1] = 0.08
    body[[7, 8], 0], body[[7, 8], 1] = [0.07, -0.07], -0.7           # ears
    body[:7, 1], body[9:11, 1] = -0.7, -0.65                         # face
    return (body[None] + rng.normal(0, 0.01, (n, 33, 3))) * 1000.0


def test_mapping_shapes_and_conventions():
    lm = _fake_landmarks(3)
    joints = mediapipe_to_smpl24(lm)
    assert joints.shape == (3, 24, 3)
    j = JOINT_INDEX
    np.testing.assert_array_equal(joints[:, j["left_knee"]], lm[:, 25])
    np.testing.assert_array_equal(joints[:, j["right_wrist"]], lm[:, 16])
    assert (joints[:, j["left_hip"], 0] > joints[:, j["right_hip"], 0]).all()  # person's left
    mid_hip = 0.5 * (lm[:, 23] + lm[:, 24])
    assert (joints[:, j["pelvis"], 1] < mid_hip[:, 1]).all()  # pelvis above the hip line
    assert (joints[:, j["head"], 1] < joints[:, j["neck"], 1]).all()
    for a, b in (("spine1", "spine2"), ("spine2", "spine3")):
        assert (joints[:, j[b], 1] < joints[:, j[a], 1]).all()
    assert mediapipe_to_smpl24(lm[0]).shape == (24, 3)
    lm[1] = np.nan
    assert np.isnan(mediapipe_to_smpl24(lm)[1]).all()
    with pytest.raises(ValueError, match="33"):
        mediapipe_to_smpl24(np.zeros((2, 24, 3)))
    assert set(MAPPING_PARAMS) >= {"pelvis_up", "spine1", "neck", "head", "hand", "foot"}


def test_lifting_recovers_known_translation():
    K = nlf_intrinsics(1280, 720)
    lm = _fake_landmarks(4)
    t = np.array([[150.0, -80.0, 4200.0], [0.0, 0.0, 2500.0], [-900.0, 300.0, 9000.0],
                  [40.0, 60.0, 15000.0]])
    pixels = project(lm + t[:, None], K)
    np.testing.assert_allclose(fit_translation(lm, pixels, K), t, atol=1.0)
    vis = np.full((4, 33), 0.9)
    vis[:, 5] = 0.0
    pixels[:, 5] += 500.0  # an invisible landmark far off does not matter
    np.testing.assert_allclose(fit_translation(lm, pixels, K, vis), t, atol=1.0)
    result = lift_landmarks(lm, project(lm + t[:, None], K), vis, K)
    assert result.joints.shape == (4, 24, 3) and result.joints.dtype == np.float32
    np.testing.assert_allclose(result.extra["landmarks3d"], lm + t[:, None], atol=1.0)
    assert result.found.all() and result.boxes.shape == (4, 4)
    lm[2] = np.nan
    result = lift_landmarks(lm, project(lm + t[:, None], K), vis, K)
    assert not result.found[2] and np.isnan(result.joints[2]).all() and result.score[2] == 0


def test_nlf_backend_errors(tmp_path):
    with pytest.raises(PoseBackendError, match="NLF model not found"):
        NLFBackend(tmp_path / "nlf_l_multi.torchscript")
    with pytest.raises(PoseBackendError, match="--nlf-model"):
        make_backend("nlf")
    with pytest.raises(ValueError, match="unknown pose backend"):
        make_backend("openpose")
    (tmp_path / "bad.torchscript").write_bytes(b"not a model")
    with pytest.raises(PoseBackendError, match="TorchScript"):
        NLFBackend(tmp_path / "bad.torchscript")


def test_nlf_backend_with_a_stand_in_model(tmp_path):
    """The output parsing, batching and best-person choice, with a tiny TorchScript model
    that mimics ``detect_smpl_batched``'s outputs (two people in odd frames)."""
    import torch
    from typing import Dict, List

    class StandIn(torch.nn.Module):
        @torch.jit.export
        def detect_smpl_batched(self, images: torch.Tensor, default_fov_degrees: float = 55.0,
                                detector_threshold: float = 0.3, num_aug: int = 1,
                                max_detections: int = 8,
                                internal_batch_size: int = 64) -> Dict[str, List[torch.Tensor]]:
            boxes: List[torch.Tensor] = []
            joints: List[torch.Tensor] = []
            for i in range(images.shape[0]):
                level = images[i].float().mean()
                k = 2 if int(level) % 2 == 1 else 1
                b = torch.zeros(k, 5)
                b[:, 2:4] = 10.0
                b[:, 4] = torch.arange(k).float() * 0.2 + 0.5
                j = torch.zeros(k, 24, 3)
                j[:, :, 2] = 3000.0 + level + torch.arange(k).float().unsqueeze(1) * 100.0
                boxes.append(b)
                joints.append(j)
            return {"boxes": boxes, "joints3d_nonparam": joints, "joints3d": joints}

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    path = tmp_path / "stand_in.torchscript"
    torch.jit.save(torch.jit.script(StandIn()), str(path))
    backend = NLFBackend(path, device="cpu", batch_size=2)
    assert isinstance(backend, PoseBackend) and backend.name == "nlf"
    frames = np.stack([np.full((8, 12, 3), v, np.uint8) for v in (10, 11, 12)])
    result = backend.estimate(frames)
    assert [len(c) for c in result.candidates] == [1, 2, 1]
    np.testing.assert_allclose(result.joints[:, 0, 2], [3010.0, 3111.0, 3012.0])  # best score
    np.testing.assert_allclose(result.score, [0.5, 0.7, 0.5], atol=1e-6)
    np.testing.assert_allclose(result.boxes[0], [0, 0, 10, 10])
    np.testing.assert_allclose(result.intrinsics, nlf_intrinsics(12, 8))


def _mediapipe_or_skip():
    try:
        from sportanim.data.pose import MediapipeBackend
        return MediapipeBackend()
    except PoseBackendError as error:
        pytest.skip(str(error))


def test_mediapipe_on_real_dance_frames_matches_nlf(shared_data):
    """MediaPipe on 24 frames of a real dance video vs the NLF joints shipped with it.
    Measured (benchmarks/data.py, whole video): root-aligned MPJPE 71 mm, absolute 108 mm
    on this video; these 24 frames give 75 and 98 mm."""
    backend = _mediapipe_or_skip()
    samples = shared_data / "mtvcrafter_samples"
    video = samples / "videos" / "dance_16.mp4"
    frames = read_all(video, stop=24).frames
    result = backend.estimate(frames)
    nlf = np.load(samples / "poses.npz")["dance_16"][:24]
    assert result.found.all() and np.isfinite(result.joints).all()
    np.testing.assert_allclose(result.intrinsics, nlf_intrinsics(1024, 1024))
    ours = result.joints - result.joints[:, :1]
    theirs = nlf - nlf[:, :1]
    root_aligned = np.linalg.norm(ours - theirs, axis=-1).mean()
    absolute = np.linalg.norm(result.joints - nlf, axis=-1).mean()
    assert root_aligned < 110.0, root_aligned
    assert absolute < 160.0, absolute
    assert backend.version.startswith("mediapipe-0.10")
    backend.reset()


# ------------------------------------------------------------------------------ track


def _cands(boxes, scores=None) -> Candidates:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.ones(len(boxes), np.float32) if scores is None else np.asarray(scores, np.float32)
    joints = np.zeros((len(boxes), 24, 3), np.float32)
    joints[..., 0] = boxes[:, :1, None][:, :, 0] if len(boxes) else 0
    return Candidates(joints, scores, boxes)


def test_tracker_keeps_identity_and_rejects_switches():
    K = nlf_intrinsics(640, 480)
    frames = []
    for i in range(40):
        main = [300 + 2 * i, 200, 360 + 2 * i, 340]   # moves slowly right
        other = [20, 250, 50, 320]                      # a smaller person at the edge
        frames.append(_cands([other, main]) if i % 3 else _cands([main, other]))
    # frames 20..24: only the other person is detected (a single-person backend's switch)
    for i in range(20, 25):
        frames[i] = _cands([[20, 250, 50, 320]])
    result = select_best(frames, K)
    track = track_main_athlete(result, TrackConfig(reacquire_after=15))
    main_x0 = np.array([300 + 2 * i for i in range(40)], np.float32)
    ok = track.kept
    assert not ok[20:25].any() and track.rejected[20:25].all()
    assert ok[:20].all() and ok[25:].all()
    np.testing.assert_allclose(track.boxes[ok, 0], main_x0[ok])
    assert track.segments() == [(0, 0, 40)]
    # a cut drops the identity: the next person kept starts a new segment
    track = track_main_athlete(result, cuts=[30])
    assert [s[0] for s in track.segments()] == [0, 1] and track.segment[30] == 1
    # long loss: after reacquire_after misses the tracker seeds again (a new segment)
    for i in range(20, 40):
        frames[i] = _cands([[20, 250, 50, 320]])
    track = track_main_athlete(select_best(frames, K), TrackConfig(reacquire_after=5))
    assert track.segment[:20].tolist() == [0] * 20 and (track.segment[26:] == 1).all()
    assert not track.kept[20:25].any()


def test_tracker_drops_short_spurious_segments():
    K = nlf_intrinsics(640, 480)
    empty = _cands(np.zeros((0, 4)))
    frames = [empty] * 10 + [_cands([100, 100, 150, 200])] * 2 + [empty] * 10
    track = track_main_athlete(select_best(frames, K), TrackConfig(min_segment=5))
    assert not track.kept.any() and track.rejected[10:12].all()


# ------------------------------------------------------------------------------ jumps


def test_jump_windows_on_exact_synthetic_joints(programmes):
    tp = found = labelled = 0
    for p in programmes:
        windows = detect_jump_windows(p["joints"], 30.0, cuts=p["labels"]["cuts"])
        score = match_windows(windows, p["labels"]["jumps"])
        tp += score["true_positives"]
        found += score["found"]
        labelled += score["labelled"]
        for w in windows:
            assert w.start <= w.takeoff < w.landing <= w.end and 0 <= w.score <= 1
        assert max(map(abs, score["takeoff_error_frames"] + score["landing_error_frames"])) <= 2
    assert tp / found >= 0.9 and tp / labelled >= 0.9, (tp, found, labelled)


def test_jump_detector_rejects_turns_on_the_ice_and_handles_gaps(programmes):
    p = programmes[0]
    joints = p["joints"].astype(np.float64)
    first = p["labels"]["jumps"][0]
    glide = slice(0, first["takeoff_frame"] - 30)  # gliding only
    j = joints[glide].copy()
    assert detect_jump_windows(j, 30.0) == []
    # spin the skater one turn in 0.5 s about the body axis, feet on the ice: no jump
    up = j[:, 12] - j[:, 0]
    up = (up / np.linalg.norm(up, axis=1, keepdims=True)).mean(axis=0)
    up /= np.linalg.norm(up)
    for k, t in enumerate(range(20, 35)):
        angle = 2 * np.pi * (k + 1) / 15
        K = np.array([[0, -up[2], up[1]], [up[2], 0, -up[0]], [-up[1], up[0], 0]])
        R = np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K
        j[t] = (j[t] - j[t, 0]) @ R.T + j[t, 0]
    assert detect_jump_windows(j, 30.0) == []
    # missing frames: short gaps are bridged, long ones split the run
    gappy = joints.copy()
    gappy[first["takeoff_frame"] + 3:first["takeoff_frame"] + 6] = np.nan  # mid-flight, 3 frames
    score = match_windows(detect_jump_windows(gappy, 30.0, cuts=p["labels"]["cuts"]),
                          p["labels"]["jumps"])
    assert score["recall"] == 1.0
    assert track_runs(np.array([1, 1, 0, 1, 0, 0, 0, 1, 1], bool), cuts=[8], max_gap=1) == [
        (0, 4), (7, 8), (8, 9)]
    with pytest.raises(ValueError, match="24, 3"):
        detect_jump_windows(np.zeros((10, 17, 3)), 30.0)
    assert isinstance(JumpConfig().before_s, float)


def test_pose_result_concatenate():
    K = nlf_intrinsics(64, 64)
    a = select_best([_cands([0, 0, 10, 10])], K)
    b = select_best([_cands(np.zeros((0, 4)))], K)
    both = PoseResult.concatenate([a, b])
    assert len(both) == 2 and both.found.tolist() == [True, False] and len(both.candidates) == 2
