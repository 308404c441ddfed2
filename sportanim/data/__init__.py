"""Dataset tools: import upstream data into FSJD folders, split them, summarise them.

- ``sportanim.data.upstream``: MTVCrafter's ``sampled_data.pkl`` (restricted unpickler)
  and ``import_mtvcrafter`` (pkl + videos -> FSJD folder).
- ``sportanim.data.split``: ``split_dataset`` (train/eval without group leakage).
- ``sportanim.data.stats``: ``dataset_stats`` (stats.json) and a rich table of it.
- ``sportanim.data.cli``: the ``sportanim data ...`` typer sub-app.

Modules are imported on use (nothing heavy here), so ``import sportanim.data`` is cheap.
"""
