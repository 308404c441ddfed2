"""Training: one generic loop on accelerate, one spec per trainable model, strategies as data.

- ``config``: ``TrainConfig`` tree, presets ``tiny`` / ``mtvcrafter-7b``, YAML/JSON loading.
- ``data``: FSJD joints windows and the world-size-exact ``GlobalSampler``.
- ``specs``: ``TokenizerSpec`` (4DMoT: L1 + 0.5 * commitment, EMA codebook synced over processes).
- ``diffusion``: ``DiTSpec`` / ``VAESpec`` (MV-DiT v-prediction with the 4DMoT and VAE frozen;
  LoRA, EMA, gradient checkpointing), on ``clips`` (windows with video) and ``latent_cache``.
- ``strategies``: tokenizer | diffusion | staged as stages of specs to train and to freeze.
- ``trainer``: ``train(config, data, out, init=..., resume=...)``, the loop, logs, export.
- ``checkpoint``: atomic step folders, newest-K pruning, ``latest_checkpoint``.
- ``cli``: the ``sportanim train`` command; ``python -m sportanim.train`` runs it alone
  (``accelerate launch -m sportanim.train ...`` for several processes).

Names are imported on first use, so that ``sportanim --help`` does not load torch.
"""

from importlib import import_module

_NAMES = {
    "TRAIN_PRESETS": "config", "ConfigError": "config", "TrainConfig": "config", "load_config": "config",
    "CheckpointError": "checkpoint", "latest_checkpoint": "checkpoint",
    "TrainResult": "trainer", "train": "trainer",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(import_module(f"sportanim.train.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'sportanim.train' has no attribute {name!r}")
