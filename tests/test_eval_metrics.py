"""Frechet distance, pose metrics and paired video metrics against references."""

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from sportanim.eval import frechet, pose, video
from sportanim.eval.extractors import build_lpips


def _scipy_fd(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_frechet_matches_scipy_sqrtm(seed):
    rng = np.random.default_rng(seed)
    dims = 12
    a = rng.normal(size=(400, dims)) @ rng.normal(size=(dims, dims))
    b = rng.normal(loc=0.3, size=(300, dims)) @ rng.normal(size=(dims, dims))
    ours, ref = frechet.frechet_distance_features(a, b), _scipy_fd(a, b)
    assert ours == pytest.approx(ref, rel=1e-6)


def test_frechet_zero_for_same_set_and_mean_shift_only():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(200, 5))
    assert frechet.frechet_distance_features(a, a) == pytest.approx(0, abs=1e-9)
    shift = np.array([1.0, 2.0, 0, 0, 0])
    assert frechet.frechet_distance_features(a, a + shift) == pytest.approx(5.0, rel=1e-9)


def test_frechet_few_samples_warns_and_stays_finite():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(5, 40)), rng.normal(size=(6, 40)) + 1
    with pytest.warns(frechet.FewSamplesWarning):
        value = frechet.frechet_distance_features(a, b)
    assert np.isfinite(value) and value > 0
    with pytest.raises(ValueError, match="at least 2"):
        frechet.frechet_distance_features(a[:1], b)


# ---------------------------------------------------------------------------- pose


def _skeleton(frames=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=300, size=(frames, 24, 3)) + np.array([0, 0, 3000.0])


def _rotation(seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def test_mpjpe_known_offset_and_root_alignment():
    gt = _skeleton()
    moved = gt + np.array([30.0, 40.0, 0.0])  # 50 mm everywhere
    assert pose.mpjpe(moved, gt) == pytest.approx(50.0)
    assert pose.root_aligned_mpjpe(moved, gt) == pytest.approx(0.0, abs=1e-9)
    assert pose.mpjpe(gt, gt) == 0.0


def test_pa_mpjpe_removes_rotation_scale_translation_not_shape():
    gt = _skeleton()
    pred = 1.3 * gt @ _rotation().T + np.array([100.0, -50, 20])
    assert pose.mpjpe(pred, gt) > 100
    assert pose.pa_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-6)
    bent = gt.copy()
    bent[:, 20] += 100.0  # one wrist moved: not a similarity transform
    assert pose.pa_mpjpe(bent, gt) > 1
    # least squares: the alignment never fits worse than leaving the skeleton as it is
    aligned = pose.procrustes_align(bent, gt)
    assert ((aligned - gt) ** 2).sum() < ((bent - gt) ** 2).sum()


def test_pa_excludes_reflections():
    gt = _skeleton()
    mirrored = gt * np.array([-1.0, 1, 1])
    assert pose.pa_mpjpe(mirrored, gt) > 10


def test_accel_error_known_values():
    gt = _skeleton(frames=20)
    t = np.arange(20, dtype=float)[:, None, None]
    assert pose.accel_error(gt + 7.0 * t, gt) == pytest.approx(0.0, abs=1e-9)  # velocity only
    pred = gt + np.array([0, 0, 1.0]) * 2.5 * t**2  # extra acceleration 5 mm/frame^2 in z
    assert pose.accel_error(pred, gt) == pytest.approx(5.0)


def test_pose_shape_errors():
    with pytest.raises(ValueError, match="joints"):
        pose.mpjpe(np.zeros((5, 24, 3)), np.zeros((5, 23, 3)))


def test_motion_fid_zero_for_identical_and_grows_with_distortion():
    clips = [_skeleton(49, seed) for seed in range(12)]
    same = pose.motion_fid(clips, clips)
    assert same["value"] == pytest.approx(0.0, abs=1e-6)
    assert "PCA" in same["feature"] and same["components"] == 11
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", frechet.FewSamplesWarning)
        small = pose.motion_fid(clips, [c + np.random.default_rng(1).normal(scale=5, size=c.shape) for c in clips])
        large = pose.motion_fid(clips, [c + np.random.default_rng(1).normal(scale=80, size=c.shape) for c in clips])
    assert 0 < small["value"] < large["value"]
    with pytest.raises(ValueError, match="49-frame"):
        pose.motion_windows(_skeleton(30))


# --------------------------------------------------------------------------- video


def _pair(seed=0, shape=(4, 40, 48, 3)):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, shape), 0, 255).astype(np.uint8)
    return a, b


def test_psnr_ssim_match_scikit_image():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    a, b = _pair()
    psnr = video.psnr_frames(a, b)
    ssim = video.ssim_frames(a, b)
    for i in range(len(a)):
        assert psnr[i] == pytest.approx(peak_signal_noise_ratio(a[i], b[i], data_range=255), abs=1e-4)
        ref = structural_similarity(a[i], b[i], gaussian_weights=True, sigma=1.5, data_range=255,
                                    use_sample_covariance=False, channel_axis=-1)
        assert ssim[i] == pytest.approx(ref, abs=1e-4)


def test_identical_frames_cap_psnr_and_give_ssim_one_lpips_zero():
    a, _ = _pair(1)
    assert np.all(video.psnr_frames(a, a) == video.PSNR_CAP)
    assert np.allclose(video.ssim_frames(a, a), 1.0)
    metric = build_lpips(seed=0)
    assert np.allclose(video.lpips_frames(metric, a, a), 0.0, atol=1e-6)


def test_lpips_matches_lpips_package_and_orders_distortions():
    a, b = _pair(2)
    metric = build_lpips(seed=0)
    ours = video.lpips_frames(metric, a, b)
    x = torch.from_numpy(a).permute(0, 3, 1, 2).float() / 127.5 - 1
    y = torch.from_numpy(b).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        ref = metric.net(y, x).flatten().numpy()
    assert np.allclose(ours, ref, atol=1e-4)
    worse = np.clip(a.astype(int) + 120, 0, 255).astype(np.uint8)
    assert video.lpips_frames(metric, a, worse).mean() > ours.mean() > 0


def test_paired_metrics_refuse_mismatched_shapes():
    a, _ = _pair()
    with pytest.raises(ValueError, match="same frames and size"):
        video.psnr_frames(a, a[:, :20])
