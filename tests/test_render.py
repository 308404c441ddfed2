"""The renderer of the synthetic world: a shaded skater on an ice rink."""

import numpy as np
import pytest

from sportanim.skeleton import JOINT_INDEX as J
from sportanim.skeleton import nlf_intrinsics, project
from sportanim.synth.camera import Camera, look_at
from sportanim.synth.render import Appearance, render, render_rink, render_skater, to_uint8

# A 1.7 m skater in a T-pose, body frame (x to the body's left, y up, z forward), metres,
# feet on skates (ankles 0.13 m above the ice).
_T_POSE = {
    "pelvis": (0.0, 0.99, 0.0), "left_hip": (0.08, 0.90, 0.0), "right_hip": (-0.08, 0.90, 0.0),
    "spine1": (0.0, 1.10, -0.02), "left_knee": (0.10, 0.52, 0.01), "right_knee": (-0.10, 0.52, 0.01),
    "spine2": (0.0, 1.235, -0.02), "left_ankle": (0.10, 0.13, -0.03), "right_ankle": (-0.10, 0.13, -0.03),
    "spine3": (0.0, 1.29, -0.02), "left_foot": (0.12, 0.08, 0.09), "right_foot": (-0.12, 0.08, 0.09),
    "neck": (0.0, 1.505, -0.05), "left_collar": (0.075, 1.41, -0.03), "right_collar": (-0.075, 1.41, -0.03),
    "head": (0.0, 1.595, 0.0), "left_shoulder": (0.18, 1.44, -0.04), "right_shoulder": (-0.18, 1.44, -0.04),
    "left_elbow": (0.44, 1.44, -0.05), "right_elbow": (-0.44, 1.44, -0.05),
    "left_wrist": (0.69, 1.44, -0.05), "right_wrist": (-0.69, 1.44, -0.05),
    "left_hand": (0.775, 1.43, -0.06), "right_hand": (-0.775, 1.43, -0.06),
}
# The right forearm held across the chest, in front of it.
_ARM_ACROSS = {"right_elbow": (-0.17, 1.30, 0.22), "right_wrist": (0.06, 1.30, 0.26),
               "right_hand": (0.14, 1.30, 0.27)}

SKIN = (0.92, 0.72, 0.58)
BLUE_TOP = (0.10, 0.20, 0.85)
APP = Appearance(skin=SKIN, hair=(0.2, 0.12, 0.06), top=BLUE_TOP, bottom=(0.08, 0.08, 0.1),
                 boots=(0.93, 0.93, 0.92), sleeves=False)


def skater(T=1, heading=0.0, xy=(0.0, 0.0), pose=None) -> np.ndarray:
    """World joints ``(T, 24, 3)`` of the test skater facing ``heading`` (radians from +x)."""
    body = dict(_T_POSE, **(pose or {}))
    b = np.array([body[name] for name in J], dtype=np.float64)
    fwd = np.array([np.cos(heading), np.sin(heading), 0.0])
    left = np.array([-np.sin(heading), np.cos(heading), 0.0])
    world = b[:, 0:1] * left + b[:, 1:2] * np.array([0.0, 0.0, 1.0]) + b[:, 2:3] * fwd
    world[:, :2] += xy
    return np.broadcast_to(world, (T, 24, 3)).copy()


def camera(eye, target, width=64, height=64) -> Camera:
    eye, target = np.atleast_2d(np.asarray(eye, float)), np.atleast_2d(np.asarray(target, float))
    T = max(len(eye), len(target))
    eye, target = np.broadcast_to(eye, (T, 3)).copy(), np.broadcast_to(target, (T, 3)).copy()
    R = look_at(eye, target)
    t = -np.einsum("tij,tj->ti", R, eye)
    K = np.broadcast_to(nlf_intrinsics(width, height), (T, 3, 3)).copy()
    return Camera(K, R, t, width, height)


def orbit(joints, angles, distance=3.5, height=1.3, width=64, height_px=64) -> Camera:
    """Cameras round the skater looking at its pelvis."""
    angles = np.asarray(angles, float)
    pelvis = joints[:, J["pelvis"]]
    eye = np.stack([pelvis[:, 0] + distance * np.cos(angles), pelvis[:, 1] + distance * np.sin(angles),
                    np.full(len(angles), height)], -1)
    return camera(eye, pelvis, width, height_px)


def pixels_of_joints(joints, cam):
    uv = project(cam.world_to_camera(joints), cam.intrinsics)
    return np.floor(uv[..., 0]).astype(int), np.floor(uv[..., 1]).astype(int)


ANGLES = np.linspace(0.0, 2 * np.pi, 8, endpoint=False)


def test_shapes_and_dtypes():
    joints = skater(3)
    cam = orbit(joints, [0.0, 1.0, 2.0], width=96, height_px=64)
    frames, mask = render(joints, cam, APP)
    assert frames.shape == (3, 64, 96, 3) and frames.dtype == np.uint8
    assert mask.shape == (3, 64, 96) and mask.dtype == bool and mask.any()
    rink = render_rink(cam)
    assert rink.shape == (3, 64, 96, 3) and rink.dtype == np.float32
    assert 0.0 <= rink.min() and rink.max() <= 1.0
    colour, coverage = render_skater(joints, cam, APP)
    assert colour.shape == (3, 64, 96, 3) and colour.dtype == np.float32
    assert coverage.shape == (3, 64, 96) and coverage.dtype == np.float32
    assert 0.0 <= coverage.min() and coverage.max() <= 1.0 and 0.0 <= colour.min() and colour.max() <= 1.0
    assert np.all(colour[coverage == 0] == 0)
    np.testing.assert_array_equal(mask, coverage > 0.5)
    for ss in (1, 2, 3):
        f2, m2 = render(joints, cam, APP, supersample=ss)
        assert f2.shape == frames.shape and (m2 != mask).mean() < 0.01


@pytest.mark.parametrize("size", [(64, 64), (256, 160)])
def test_projected_joints_land_on_the_body(size):
    joints = skater(len(ANGLES))
    cam = orbit(joints, ANGLES, width=size[0], height_px=size[1])
    _, mask = render(joints, cam, APP)
    cols, rows = pixels_of_joints(joints, cam)
    inside = (cols >= 0) & (cols < size[0]) & (rows >= 0) & (rows < size[1])
    assert inside.mean() > 0.99
    t = np.broadcast_to(np.arange(len(ANGLES))[:, None], inside.shape)
    assert mask[t[inside], rows[inside], cols[inside]].mean() >= 0.95


def test_body_is_where_the_joints_are():
    joints = skater(len(ANGLES))
    cam = orbit(joints, ANGLES, width=128, height_px=128)
    _, mask = render(joints, cam, APP)
    cols, rows = pixels_of_joints(joints, cam)
    focal = cam.intrinsics[0, 0, 0]
    for f in range(len(ANGLES)):
        ys, xs = np.nonzero(mask[f])
        depth = cam.world_to_camera(joints)[f, :, 2].min()
        margin = 0.25 * focal / depth + 2  # body radius and the skates round the joints
        assert xs.min() <= cols[f].min() and xs.max() >= cols[f].max()
        assert ys.min() <= rows[f].min() and ys.max() >= rows[f].max()
        assert xs.min() >= cols[f].min() - margin and xs.max() <= cols[f].max() + margin
        assert ys.min() >= rows[f].min() - margin and ys.max() <= rows[f].max() + margin


def test_pixels_away_from_the_body_are_the_empty_rink():
    joints = skater(len(ANGLES))
    cam = orbit(joints, ANGLES, distance=6.0, width=192, height_px=64)
    frames, mask = render(joints, cam, APP)
    empty = to_uint8(render_rink(cam))
    cols, _ = pixels_of_joints(joints, cam)
    assert np.any(frames != empty, -1)[mask].all()  # the body covers the rink...
    focal = cam.intrinsics[0, 0, 0]
    for f in range(len(ANGLES)):
        # ...and beside the body (and its shadow, within 0.55 m of it) nothing changed.
        margin = int(0.6 * focal / cam.world_to_camera(joints)[f, :, 2].min()) + 2
        far = np.ones(mask[f].shape, bool)
        far[:, max(cols[f].min() - margin, 0):cols[f].max() + margin + 1] = False
        assert far.mean() > 0.3
        np.testing.assert_array_equal(frames[f][far], empty[f][far])


def test_shadow_darkens_the_ice_under_the_skater():
    joints = skater(1)
    cam = orbit(joints, [0.5], width=128, height_px=128)
    frames, _ = render(joints, cam, APP)
    _, coverage = render_skater(joints, cam, APP)
    empty = to_uint8(render_rink(cam))
    darker = (frames.astype(int).sum(-1) < empty.astype(int).sum(-1) - 15) & (coverage == 0)
    assert darker.sum() > 100


def test_rendering_is_deterministic():
    joints = skater(4)
    cam = orbit(joints, ANGLES[:4], width=80, height_px=48)
    a, ma = render(joints, cam, APP)
    b, mb = render(joints, cam, APP)
    assert a.tobytes() == b.tobytes() and ma.tobytes() == mb.tobytes()
    assert render_rink(cam).tobytes() == render_rink(cam).tobytes()
    app = Appearance.sample(np.random.default_rng(5))
    assert app == Appearance.sample(np.random.default_rng(5))


def test_nearer_parts_hide_farther_ones():
    joints = skater(2, heading=0.0, pose=_ARM_ACROSS)
    # In front of the skater the forearm hides the chest; from behind the back hides the arm.
    cam = camera([[3.5, 0.0, 1.3], [-3.5, 0.0, 1.3]], [[0.0, 0.0, 1.2], [0.0, 0.0, 1.2]], 128, 128)
    colour, coverage = render_skater(joints, cam, APP)
    mid = 0.5 * (joints[:, J["right_elbow"]] + joints[:, J["right_wrist"]])
    uv = project(cam.world_to_camera(mid[:, None]), cam.intrinsics)[:, 0]
    col, row = np.floor(uv).astype(int).T
    front, back = colour[0, row[0], col[0]], colour[1, row[1], col[1]]
    assert coverage[0, row[0], col[0]] > 0.99 and coverage[1, row[1], col[1]] > 0.99
    assert front[0] > front[2] + 0.15  # skin: red above blue
    assert back[2] > back[0] + 0.15  # the blue costume


def test_appearances_change_the_colours():
    joints = skater(1)
    cam = orbit(joints, [0.3], width=128, height_px=128)
    red = Appearance(skin=SKIN, hair=(0.1, 0.1, 0.1), top=(0.85, 0.1, 0.1), bottom=(0.85, 0.1, 0.1),
                     boots=(0.1, 0.1, 0.1))
    fa, ma = render(joints, cam, APP)
    fb, mb = render(joints, cam, red)
    both = ma & mb
    mean_a, mean_b = fa[both].mean(0), fb[both].mean(0)
    assert mean_a[2] > mean_a[0] and mean_b[0] > mean_b[2] + 40
    # Sampled athletes vary and stay in range.
    apps = [Appearance.sample(np.random.default_rng([1, k])) for k in range(40)]
    assert len({a.top for a in apps}) > 30 and len({a.skin for a in apps}) > 30
    assert {a.sleeves for a in apps} == {True, False}
    for a in apps:
        assert all(0.0 <= x <= 1.0 for c in (a.skin, a.hair, a.top, a.bottom, a.boots) for x in c)
        assert 0.85 <= a.build <= 1.15


def test_looking_down_sees_ice_and_looking_up_sees_the_stands():
    down = render_rink(camera([12.0, 3.0, 3.0], [13.0, 3.3, 0.0]))[0]  # away from the markings
    assert down.mean() > 0.8 and np.all(down[..., 2] >= down[..., 0] - 0.02)  # bluish white
    up = render_rink(camera([0.0, 0.0, 1.5], [3.0, 15.0, 7.0], 96, 96))[0]
    assert (up[:48].max(-1) < 0.7).mean() > 0.9 and up[:48].mean() < 0.3  # dark...
    assert np.abs(np.diff(up[:48], axis=1)).mean() > 0.02  # ...and textured: a crowd
    assert (np.abs(up - down.mean((0, 1))).max(-1) < 0.1).mean() < 0.1  # hardly any ice


def test_markings_are_anchored_on_the_ice():
    # The red centre line (x = 0) is red from every camera that sees it.
    cams = camera([[-4.0, -3.0, 1.5], [3.0, -5.0, 2.5], [2.0, 4.0, 1.2]], [[0.0, 0.0, 0.0]] * 3, 96, 96)
    rink = render_rink(cams)
    point = np.array([[[0.0, 0.6, 0.0]]] * 3)
    uv = project(cams.world_to_camera(point), cams.intrinsics)[:, 0]
    for f, (u, v) in enumerate(np.floor(uv).astype(int)):
        r, g, b = rink[f, v, u]
        assert r > g + 0.15 and r > b + 0.1


def test_a_skater_out_of_view_leaves_the_rink_untouched():
    joints = skater(2)
    cam = camera([[5.0, 0.0, 1.5]] * 2, [[10.0, 0.0, 1.0]] * 2)  # looking away
    frames, mask = render(joints, cam, APP)
    assert not mask.any()
    np.testing.assert_array_equal(frames, to_uint8(render_rink(cam)))


def test_scratch_arrays_are_reused_from_batch_to_batch():
    """Each batch of frames gives its scratch arrays back: three times the frames (three rink
    blocks of 16 frames, a bigger body batch) need no more of them."""
    from concurrent.futures import ThreadPoolExecutor

    from sportanim.synth.render.pool import scratch_pool

    def arrays_used(T):  # in a fresh thread: a pool of its own, empty at first
        joints = skater(T)
        render(joints, orbit(joints, np.zeros(T)), APP)
        return {dtype: len(arrays) for dtype, arrays in scratch_pool().arrays.items()}

    counts = []
    for T in (16, 48):
        with ThreadPoolExecutor(1) as thread:
            counts.append(thread.submit(arrays_used, T).result())
    assert counts[0] and counts[1] == counts[0]
