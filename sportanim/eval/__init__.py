"""Evaluation: pose metrics, Frechet distances, video metrics and their extractors.

Modules (import what you need; nothing heavy loads here):
``frechet`` (Frechet distance), ``pose`` (MPJPE family, acceleration error, motion FID),
``video`` (PSNR, SSIM, LPIPS per frame), ``extractors`` (FID/FVD/FID-VID/LPIPS networks and
their input protocols), ``weights`` (published files, env vars, checksums),
``evaluate`` (folders in, results out), ``tables`` (Markdown/CSV/JSON tables),
``keypoints`` (2D keypoint detectors) and ``keypoint_training``, ``motion_fidelity`` (PCK,
AKD against the driving joints), ``appearance`` (colour distance to the reference athlete),
``fidelity`` (those as ``evaluate`` metrics).
"""
