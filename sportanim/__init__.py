"""sportanim: sports video generation from 3D motion (MTVCrafter, fine-tuned for sport)."""

__version__ = "0.1.0"
