"""Checkpoint folders: atomic writes, newest-K pruning, wrapper-free weight names.

A checkpoint is ``RUN/checkpoints/step-000123/``: what ``accelerator.save_state`` writes
(``model.safetensors``, ``optimizer.bin``, ``scheduler.bin``, ``random_states_<rank>.pkl``)
plus the trainer's ``extra_state.safetensors`` and ``trainer_state.json``. It is written
into ``.step-000123.tmp`` and renamed when every process has finished, so a folder named
``step-*`` is always complete; a kill or a full disk leaves at most a ``.tmp`` folder,
which is removed, and the earlier checkpoints as they were.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Callable

STATE_NAME = "trainer_state.json"
EXTRA_NAME = "extra_state.safetensors"
_STEP_DIR = re.compile(r"step-(\d+)")


class CheckpointError(OSError):
    """A checkpoint could not be written (or read); the earlier ones are untouched."""


def list_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of the complete checkpoints under ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _STEP_DIR.fullmatch(p.name))]
    return sorted(found)


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The newest complete ``step-*`` folder under ``folder`` (temporary ones never count)."""
    found = list_checkpoints(folder)
    return found[-1][1] if found else None


def write_checkpoint(accelerator, folder: Path, step: int, keep: int, write_extra: Callable[[Path], None]) -> Path:
    """Write ``folder/step-{step}`` on every process (``save_state`` + ``write_extra(tmp)`` on
    the main one), atomically, then keep the newest ``keep``. ``CheckpointError`` naming the
    failing process and cause if any process fails; the temporary folder is removed."""
    final = folder / f"step-{step:06d}"
    tmp = folder / f".step-{step:06d}.tmp"
    main = accelerator.is_main_process

    def make_tmp():
        if main:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)

    def write():
        accelerator.save_state(str(tmp), safe_serialization=True)
        if main:
            write_extra(tmp)

    def publish():
        if main:
            if final.exists():  # the same step from an earlier attempt that was cut short
                shutil.rmtree(final)
            os.rename(tmp, final)

    for phase in (make_tmp, write, publish):
        error = _first_error(accelerator, phase)
        if error:
            if main:
                shutil.rmtree(tmp, ignore_errors=True)
            previous = latest_checkpoint(folder)
            kept = f"the previous checkpoint {previous} is intact" if previous else "there is no earlier checkpoint"
            raise CheckpointError(f"could not write checkpoint {final}: {error}; {kept}. "
                                  "Free space (or fix the folder) and rerun with --resume")
    if main:
        for _, old in list_checkpoints(folder)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def _first_error(accelerator, fn: Callable[[], None]) -> str | None:
    """Run ``fn`` on every process; the first error as text (with its process) or None.
    The outcome is all-gathered, so no process is left waiting for one that failed."""
    try:
        fn()
        error = None
    except Exception as err:  # OSError mostly (ENOSPC, EACCES): reported to the user, not swallowed
        error = f"{type(err).__name__}: {err}"
    if accelerator.num_processes == 1:
        return error
    from accelerate.utils import gather_object

    failed = [(rank, e) for rank, e in enumerate(gather_object([error])) if e]
    return f"process {failed[0][0]}: {failed[0][1]}" if failed else None


# --------------------------------------------------------------------------- weight names


def use_unwrapped_names(accelerator) -> None:
    """Save and load checkpoint weights under the module's own names, whatever wraps it
    (DDP adds ``module.``), so a run can resume on another number of processes. FSDP and
    DeepSpeed keep their own formats (accelerate does not route them through these hooks)."""
    accelerator.register_save_state_pre_hook(_strip_wrapper)
    accelerator.register_load_state_pre_hook(lambda models, input_dir: _load_unwrapped(accelerator, models, input_dir))


def _strip_wrapper(models, weights, output_dir) -> None:
    for i, state in enumerate(weights):
        if state and all(k.startswith("module.") for k in state):
            weights[i] = type(state)((k[len("module."):], v) for k, v in state.items())


def _load_unwrapped(accelerator, models, input_dir) -> None:
    """Load each model's weights into the unwrapped module, strictly, then empty the list
    so that accelerate does not load them a second time (with wrapper names)."""
    from safetensors.torch import load_file

    for i, model in enumerate(models):
        path = Path(input_dir) / ("model.safetensors" if i == 0 else f"model_{i}.safetensors")
        if not path.is_file():
            raise CheckpointError(f"{path} is missing: the checkpoint is incomplete")
        target = accelerator.unwrap_model(model)
        state = load_file(str(path), device=str(next(target.parameters()).device))
        missing, unexpected = target.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise CheckpointError(f"{path} does not fit this model: missing {missing[:3]}, "
                                  f"unexpected {unexpected[:3]}")
    models.clear()
