"""Evaluation: pose metrics, Frechet distances, video metrics and their extractors.

Modules (import what you need; nothing heavy loads here):
``frechet`` (Frechet distance), ``pose`` (MPJPE family, acceleration error, motion FID),
``video`` (PSNR, SSIM, LPIPS per frame), ``extractors`` (FID/FVD/FID-VID/LPIPS networks and
their input protocols), ``weights`` (published files, env vars, checksums),
``evaluate`` (folders in, results out), ``tables`` (Markdown/CSV/JSON tables).
"""
