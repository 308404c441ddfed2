"""The generic training loop on accelerate: one loop for every strategy and model.

``train(config, data, out, ...)`` runs a strategy's stages; each stage is a ``Trainer``:

    _prepare_accelerator -> _check_run_folder -> _prepare_models -> _prepare_dataset
    -> _prepare_for_training -> _prepare_checkpointing -> _write_run_folder -> _train -> _export

The same code runs on one CPU, one GPU, or many GPUs and nodes under ``accelerate launch``
(DDP, FSDP or DeepSpeed from the accelerate config file). ``config.batch_size`` is the
GLOBAL batch: each of W processes takes ``batch_size / (grad_accum * W)`` clips per
micro-step, chosen by ``GlobalSampler`` so that any W sees the same samples.

Run folder::

    RUN/config.json                    the resolved config, data path and inits
    RUN/stats.json                     the joint normalisation used
    RUN/checkpoints/step-000123/       accelerate.save_state (safetensors weights, optimizer,
                                       scheduler, RNG) + extra_state.safetensors + trainer_state.json;
                                       written to .step-000123.tmp, then renamed; newest `keep` kept
    RUN/logs/                          TensorBoard events
    RUN/metrics.jsonl                  the same scalars, one JSON object per logged step
    RUN/final/<spec>/                  loadable export of each trained model (the DiT's:
                                       RUN/final/pipeline/, a complete pipeline weights folder)
    RUN/cache/                         VAE posteriors and motion tokens of frozen models

Specs may bring hooks the loop calls when present: ``make_dataset`` (a dataset with more than
joints), ``prepare_batch`` (inputs from frozen models, before the module runs), ``after_step``
(after each optimizer step, e.g. an EMA of the weights) and ``export_name``. Staged strategies
write one run folder per stage: ``RUN/stage1-tokenizer/``, ``RUN/stage2-diffusion/``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import pickle
import shutil
import struct
import sys
import time
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Iterable

import torch
from safetensors import SafetensorError

from sportanim.io.files import read_json_object, write_text
from sportanim.io.stats import write_stats
from sportanim.progress import progress_bar
from sportanim.train import checkpoint as ckpt
from sportanim.train import data as tdata
from sportanim.train.checkpoint import EXTRA_NAME, STATE_NAME, CheckpointError, latest_checkpoint
from sportanim.train.config import TrainConfig, diff, from_dict
from sportanim.train.optimizer import make_adamw
from sportanim.train.specs import cast_model, get_spec
from sportanim.train.strategies import Stage, resolve

CHECKPOINTS = "checkpoints"
# Fields a resumed run may change: they do not alter the math of the steps already taken.
RESUMABLE_CHANGES = ("steps", "checkpoint_every", "keep", "log_every", "diffusion.cache", "diffusion.cache_dir",
                     "diffusion.gradient_checkpointing")


class RunFolderError(ValueError):
    """``--out`` holds another run, or a run that does not match this config."""


@dataclass
class TrainResult:
    """What ``train`` returns: the run folder, the last step, the exported models and the
    last logged scalars."""

    run: Path
    step: int
    exports: dict[str, Path] = field(default_factory=dict)
    logs: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- entry point


def train(config: TrainConfig, data: str | Path, out: str | Path, init: str | Path | dict | None = None,
          resume: bool = False, show_progress: bool = True,
          callbacks: Iterable[Callable[[int, dict], None]] = ()) -> TrainResult:
    """Run ``config.strategy`` on the FSJD folder ``data`` into run folder ``out``.

    ``init``: weights to start from: one path (for the first trained spec) or ``{spec name:
    path}``. ``resume``: continue from the newest checkpoint in ``out`` (a fresh start if
    there is none). ``callbacks``: called as ``fn(step, logs)`` after every optimizer step.
    """
    config = config.validate()
    stages = resolve(config.strategy)
    inits = _init_map(init, stages)
    _check_frozen_inits(stages, inits)
    out = Path(out)
    result, exports = None, {}
    for i, stage in enumerate(stages):
        run = out if len(stages) == 1 else out / f"stage{i + 1}-{stage.name}"
        result = Trainer(config, stage, Path(data), run, inits, resume, show_progress, list(callbacks)).run()
        inits.update(result.exports)  # later stages start from (and freeze) what this one trained
        exports.update(result.exports)
    result.exports = exports  # every stage's exports (staged: tokenizer and pipeline)
    _close_process_group_at_exit()
    return result


def _close_process_group_at_exit() -> None:
    """After a successful run in several processes, destroy the process group when Python exits,
    while the interpreter is still whole (PyTorch's documented shutdown): left to interpreter
    teardown, gloo's worker threads can still hold tensors and abort the process ("terminate
    called without an active exception", pytorch/pytorch#190489). Not registered after a failure:
    a failed rank leaves the group to the launcher."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        atexit.unregister(_destroy_process_group)  # once, however many runs this process makes
        atexit.register(_destroy_process_group)


def _destroy_process_group() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def shipped_init(config: TrainConfig) -> Path | None:
    """The shipped tiny base when ``config`` trains the tiny models (it is their pre-trained
    start, as ``generate`` uses it by default); None for other presets or when none is installed."""
    from sportanim.weights import default_weights, has_default_weights

    tiny = config.tokenizer.preset == "tiny" and config.diffusion.dit_preset == "tiny"
    return default_weights() if tiny and has_default_weights() else None


def _init_map(init, stages: tuple[Stage, ...]) -> dict[str, Path]:
    """``{spec: path}`` from ``--init``: a dict as given; a pipeline weights folder (tokenizer/,
    transformer/, vae/) for every spec the strategy uses; any other path for the first
    trained spec."""
    if init is None:
        return {}
    used = {name for stage in stages for name in stage.specs}
    if not isinstance(init, dict):
        from sportanim.train.specs import is_pipeline_folder, pipeline_inits

        if is_pipeline_folder(init):
            return pipeline_inits(Path(init), used)
    if isinstance(init, dict):
        known = {name for stage in stages for name in stage.specs}
        unknown = sorted(set(init) - known)
        if unknown:
            raise ValueError(f"--init names {unknown}, which this strategy does not use (it uses {sorted(known)})")
        return {k: Path(v) for k, v in init.items()}
    return {stages[0].train[0]: Path(init)}


def _check_frozen_inits(stages: tuple[Stage, ...], inits: dict[str, Path]) -> None:
    """Every frozen model needs weights (an init, or an earlier stage's export): refused
    before any stage runs."""
    from sportanim.train.specs import InitError

    have = set(inits)
    for stage in stages:
        missing = [name for name in stage.freeze if name not in have]
        if missing:
            raise InitError(f"stage {stage.name} keeps {missing} frozen and needs their weights: pass --init "
                            "PIPELINE_FOLDER (tokenizer/, transformer/, vae/, as save_pipeline writes) or "
                            f"--init NAME=PATH for each of {missing}")
        have.update(stage.train)


# --------------------------------------------------------------------------- trainer


class Trainer:
    """One stage: trains ``stage.train`` specs, with ``stage.freeze`` specs frozen."""

    def __init__(self, config: TrainConfig, stage: Stage, data: Path, run: Path, inits: dict[str, Path],
                 resume: bool, show_progress: bool = True, callbacks: list | None = None):
        self.config, self.stage, self.data_root, self.run_dir = config, stage, data, run
        self.inits, self.resume, self.show_progress = inits, resume, show_progress
        self.callbacks = callbacks or []
        self.specs = {name: get_spec(name) for name in stage.specs}
        self.ckpt_dir = run / CHECKPOINTS
        self.start_step = 0

    def run(self) -> TrainResult:
        self._prepare_accelerator()
        self._check_run_folder()
        self._prepare_models()
        self._prepare_dataset()
        self._prepare_for_training()
        self._prepare_checkpointing()
        self._write_run_folder()  # nothing is written before every input was checked
        logs = self._train()
        exports = self._export()
        return TrainResult(self.run_dir, self.config.steps, exports, logs)

    # ---- 1. accelerate

    def _prepare_accelerator(self) -> None:
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, set_seed

        # broadcast_buffers=False: buffers (the codebook) are updated identically on every
        # process by the objective; broadcasting 8192 x 3072 floats each step would be waste.
        ddp = DistributedDataParallelKwargs(broadcast_buffers=False)
        # Autocast only on GPUs: on the CPU bf16 is slow and fp16 unsupported, so runs stay float.
        self.accelerator = Accelerator(
            cpu=not torch.cuda.is_available(),
            mixed_precision=self.config.mixed_precision if torch.cuda.is_available() else "no",
            step_scheduler_with_optimizer=False,  # we step it once per optimizer step, any world size
            kwargs_handlers=[ddp],
        )
        acc = self.accelerator
        self.world, self.rank = acc.num_processes, acc.process_index
        micro = self.config.batch_size // self.config.grad_accum
        if micro % self.world:
            raise ValueError(f"batch_size {self.config.batch_size} / grad_accum {self.config.grad_accum} = {micro} "
                             f"clips per micro-step does not split over {self.world} processes; "
                             f"choose a batch_size divisible by {self.config.grad_accum * self.world}")
        self.micro_batch = micro
        set_seed(self.config.seed)  # the same on every process: identical initial weights

    # ---- 2. run folder

    def _check_run_folder(self) -> None:
        """Refuse to mix runs: a used ``--out`` needs ``--resume`` and the same config."""
        saved = self.run_dir / "config.json"
        if saved.is_file() and not self.resume:
            raise RunFolderError(f"{self.run_dir} already holds a run; pass --resume to continue it "
                                 "or choose a new --out")
        if saved.is_file():
            info = read_json_object(saved)
            if not isinstance(info.get("config"), dict):
                raise RunFolderError(f"{saved}: no 'config' object; not a run folder of this trainer, choose a new --out")
            old = from_dict(info["config"])
            changed = [name for name in diff(old, self.config) if name not in RESUMABLE_CHANGES]
            if changed:
                raise RunFolderError(f"cannot resume {self.run_dir}: the config differs in {changed} "
                                     f"(only {list(RESUMABLE_CHANGES)} may change); start a new --out")

    def _write_run_folder(self) -> None:
        """config.json and stats.json, once every input was checked (main process)."""
        acc = self.accelerator
        acc.wait_for_everyone()  # every process has read the folder before it changes
        if acc.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            info = {"config": self.config.to_dict(), "stage": self.stage.name, "data": str(self.data_root.resolve()),
                    "init": {k: str(Path(v).resolve()) for k, v in self.inits.items()}}
            write_text(self.run_dir / "config.json", json.dumps(info, indent=2) + "\n")
            write_stats(self.run_dir, self.dataset.stats.to_json())
            for stale in self.ckpt_dir.glob(".step-*.tmp"):  # a checkpoint cut short by a kill
                shutil.rmtree(stale, ignore_errors=True)
        acc.wait_for_everyone()

    # ---- 3. models

    def _prepare_models(self) -> None:
        dtype = getattr(torch, self.config.dtype)
        self.models = {name: cast_model(spec.build(self.config, self.inits.get(name)), dtype)
                       for name, spec in self.specs.items()}
        for name in self.stage.freeze:
            self.models[name].requires_grad_(False).eval()
        self.lead = self.specs[self.stage.train[0]]
        self.objective = self.lead.objective(self.models, self.config)

    # ---- 4. data

    def _prepare_dataset(self) -> None:
        tdata.read_records(self.data_root, self.config.data.split, self.config.data.quality)  # errors first
        # Joints are normalised as the tokenizer was trained: the first init with a stats.json
        # (the tokenizer's, else a pipeline folder's), else the data's.
        found = [self.inits[n] for n in ("tokenizer", "dit", *self.stage.specs) if n in self.inits]
        stats_init = next((p for p in found if (Path(p) / "stats.json").is_file()), found[0] if found else None)
        stats = tdata.choose_stats(self.config.data.stats, self.data_root, stats_init)
        d = self.config.data
        make = getattr(self.lead, "make_dataset", None)  # a spec that needs more than joints brings its dataset
        if make is not None:
            self.dataset = make(self.config, self.data_root, stats, self.run_dir)
        else:
            self.dataset = tdata.JointsDataset(self.data_root, d.frames, stats, d.split, d.stride, d.quality)
        if self.dataset.flagged:
            self._say(f"left out {len(self.dataset.flagged)} clip(s) that failed the builder's quality gates "
                      f"(e.g. {', '.join(self.dataset.flagged[:3])}); data.quality=all trains on them too")
        self.sampler = tdata.GlobalSampler(len(self.dataset), self.micro_batch, self.config.seed)

    # ---- 5. optimizer, schedule, accelerate.prepare

    def _prepare_for_training(self) -> None:
        o = self.config.optim
        params = [p for name in self.stage.train for p in self.models[name].parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"stage {self.stage.name} has no trainable parameters")
        acc = self.accelerator
        cpu_processes = acc.num_processes > 1 and acc.device.type == "cpu"  # see sportanim.train.optimizer
        optimizer = make_adamw(params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay, eps=o.eps,
                               allow_fused=not cpu_processes)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, partial(lr_factor, o, self.config.steps))
        self.module, self.optimizer, self.scheduler = acc.prepare(self.objective, optimizer, schedule)
        for name in self.stage.freeze:  # outside the prepared module: placed here
            self.models[name].to(acc.device)
        self.params = params
        # Checkpoint weights under the objective's own names ("tokenizer.encoder..."), whatever
        # the wrapper (DDP adds "module."): a run can resume on another number of processes.
        ckpt.use_unwrapped_names(acc)

    # ---- 6. resume

    def _prepare_checkpointing(self) -> None:
        latest = latest_checkpoint(self.ckpt_dir)
        if not self.resume or latest is None:
            if self.resume:
                self._say(f"no checkpoint in {self.ckpt_dir}; starting at step 0")
            return
        if not (latest / STATE_NAME).is_file():
            raise CheckpointError(f"{latest} has no {STATE_NAME}: not a checkpoint of this trainer; "
                                  "move it away to resume from the one before")
        state = read_json_object(latest / STATE_NAME)
        if not (isinstance(state.get("step"), int) and isinstance(state.get("dataset"), dict)
                and "fingerprint" in state["dataset"]):
            raise CheckpointError(f"{latest / STATE_NAME}: no step and dataset fingerprint; not a checkpoint of "
                                  "this trainer, move it away to resume from the one before")
        if state["dataset"]["fingerprint"] != self.dataset.fingerprint():
            raise RunFolderError(f"cannot resume from {latest}: the training data changed since "
                                 f"({state['dataset']['samples']} windows then, {len(self.dataset)} now); "
                                 "start a new --out with --init from the export instead")
        try:
            with warnings.catch_warnings():
                # torch's weights-only reader warns about a foreign pickle before refusing it
                warnings.filterwarnings("ignore", message="Detected pickle protocol")
                self.accelerator.load_state(str(latest))
            self._load_extra(latest / EXTRA_NAME, state.get("extra", {}))
        except (pickle.UnpicklingError, SafetensorError, EOFError, RuntimeError, struct.error, KeyError, IndexError,
                TypeError, ValueError) as err:
            # torch's weights-only refusal, a truncated or overwritten optimizer.bin / scheduler.bin
            # (torch.load's readers fail in struct, memo lookups or decoding), or a corrupt safetensors
            if isinstance(err, pickle.UnpicklingError):
                # torch's own text goes on to advise weights_only=False, which would run the payload
                reason = "refused by torch's weights-only reader"
            else:
                reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(f"cannot resume from {latest}: a file there is unreadable or not a plain "
                                  f"tensor file ({reason[:200]}); move that checkpoint away to resume from "
                                  "the one before") from None
        self.start_step = int(state["step"])
        self._say(f"resumed from {latest} (step {self.start_step})")

    # ---- 7. the loop

    def _train(self) -> dict[str, float]:
        cfg, acc = self.config, self.accelerator
        self.module.train()
        for name in self.stage.freeze:
            self.models[name].eval()
        log = _Logger(self.run_dir, self.start_step, enabled=acc.is_main_process)
        logs: dict[str, float] = {}
        try:
            with progress_bar(f"train {self.stage.name}", cfg.steps,
                              enabled=self.show_progress and acc.is_main_process) as advance:
                advance(self.start_step)
                tick, last = time.perf_counter(), self.start_step
                for step in range(self.start_step, cfg.steps):
                    logs = self._step(step)
                    done = step + 1
                    if done % cfg.log_every == 0 or done == cfg.steps:
                        now = time.perf_counter()
                        logs = self._reduce(logs)
                        logs["steps_per_sec"] = (done - last) / max(now - tick, 1e-9)
                        tick, last = now, done
                        log.write(done, logs)
                    if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                        self.save_checkpoint(done)
                    advance()
                    for fn in self.callbacks:
                        fn(done, logs)
        finally:
            log.close()
        return logs

    def _step(self, step: int) -> dict[str, float]:
        """One optimizer step over ``grad_accum`` micro-steps; returns local scalars."""
        cfg, acc = self.config, self.accelerator
        sums: dict[str, float] = {}
        for m in range(cfg.grad_accum):
            g = step * cfg.grad_accum + m
            positions = self.sampler.positions(g, self.rank, self.world)
            batch = {k: v.to(acc.device) for k, v in self.dataset.batch(self.sampler.indices(positions)).items()}
            batch["positions"] = positions  # global stream positions: per-sample seeds for any world size
            seed = tdata.step_seed(cfg.seed, g)
            prepare = getattr(self.lead, "prepare_batch", None)  # inputs from frozen models (no grad)
            if prepare is not None:
                batch = prepare(batch, seed)
            sync = m == cfg.grad_accum - 1
            with contextlib.nullcontext() if sync else acc.no_sync(self.module):
                out = self.module(batch, seed)
                acc.backward(out["loss"] / cfg.grad_accum)
            for key, value in {"loss": out["loss"], **out["logs"]}.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach()) / cfg.grad_accum
        max_norm = cfg.optim.max_grad_norm or math.inf  # inf: measure only, grads unchanged
        grad_norm = acc.clip_grad_norm_(self.params, max_norm)
        sums["lr"] = self.scheduler.get_last_lr()[0]
        sums["grad_norm"] = float(grad_norm) if grad_norm is not None else math.nan  # DeepSpeed clips itself
        self._stop_if_not_finite(step, sums["loss"], None if grad_norm is None else sums["grad_norm"])
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        for name in self.stage.train:  # e.g. an EMA of the weights
            after = getattr(self.specs[name], "after_step", None)
            if after is not None:
                after(self.models[name], cfg)
        return sums

    def _stop_if_not_finite(self, step: int, loss: float, grad_norm: float | None) -> None:
        """Stop before a non-finite loss or gradient reaches the weights: one more step would
        only spread NaN, and nothing of this run is exported. Every process agrees (the loss
        is local to each), so none is left waiting in a collective."""
        bad = not math.isfinite(loss) or (grad_norm is not None and not math.isfinite(grad_norm))
        if self.world > 1:
            flag = torch.tensor([float(bad)], device=self.accelerator.device)
            bad = bool(self.accelerator.reduce(flag, reduction="sum").item())
        if bad:
            cause = (f"the loss is {loss}" if not math.isfinite(loss) else f"the gradient norm is {grad_norm}")
            lr = self.scheduler.get_last_lr()[0]
            raise NonFiniteError(f"step {step + 1}: {cause}; training stopped and nothing was exported "
                                 f"(lower --lr: {self.config.optim.lr:g}, {lr:g} at this step; or check the "
                                 "data's stats.json)")

    def _reduce(self, logs: dict[str, float]) -> dict[str, float]:
        """Mean of each scalar over processes (a collective: every process calls it)."""
        if self.world == 1:
            return dict(logs)
        keys = sorted(logs)
        t = torch.tensor([logs[k] for k in keys], dtype=torch.float64, device=self.accelerator.device)
        t = self.accelerator.reduce(t, reduction="mean")
        return dict(zip(keys, t.tolist()))

    # ---- checkpoints

    def save_checkpoint(self, step: int) -> Path:
        """``checkpoints/step-{step}``, atomically; the newest ``keep`` are kept."""
        return ckpt.write_checkpoint(self.accelerator, self.ckpt_dir, step, self.config.keep,
                                     partial(self._write_extra, step=step))

    def _write_extra(self, folder: Path, step: int) -> None:
        """Spec state outside state_dict (``extra_state.safetensors``) and ``trainer_state.json``."""
        from safetensors.torch import save_file

        tensors, extra = {}, {}
        for name in self.stage.train:
            t, meta = self.specs[name].extra_state(self.models[name])
            tensors.update({f"{name}.{k}": v for k, v in t.items()})
            extra[name] = meta
        save_file(tensors, str(folder / EXTRA_NAME), metadata={"format": "pt"})
        state = {"step": step, "stage": self.stage.name, "micro_steps": step * self.config.grad_accum,
                 "samples_seen": step * self.config.batch_size, "world_size": self.world,
                 "dataset": {"samples": len(self.dataset), "fingerprint": self.dataset.fingerprint()},
                 "extra": extra}
        (folder / STATE_NAME).write_text(json.dumps(state, indent=2) + "\n")

    def _load_extra(self, path: Path, extra: dict) -> None:
        from safetensors.torch import load_file

        tensors = load_file(str(path)) if path.is_file() else {}
        for name in self.stage.train:
            prefix = f"{name}."
            mine = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            self.specs[name].load_extra_state(self.models[name], mine, extra.get(name, {}))

    # ---- export

    def _export(self) -> dict[str, Path]:
        """``final/<spec>/`` for each trained spec, from the full state dict (gathered
        from the shards under FSDP / ZeRO-3: a collective, so every process calls it)."""
        acc = self.accelerator
        full = acc.get_state_dict(self.module)  # the objective's names: "tokenizer.encoder..."
        exports = {name: self.run_dir / "final" / getattr(self.specs[name], "export_name", name)
                   for name in self.stage.train}
        if acc.is_main_process:
            info = {"strategy": self.config.strategy, "stage": self.stage.name, "steps": self.config.steps,
                    "data": str(self.data_root.resolve()), "init": {k: str(v) for k, v in self.inits.items()}}
            for name, folder in exports.items():
                prefix = f"{name}."
                state = {k[len(prefix):]: v for k, v in full.items() if k.startswith(prefix)}
                _check_finite(state, name)
                self.specs[name].export(self.config, state, folder, self.dataset.stats, info)
        acc.wait_for_everyone()
        return exports

    def _say(self, message: str) -> None:
        if self.accelerator.is_main_process:
            print(message, file=sys.stderr)


# --------------------------------------------------------------------------- helpers




def lr_factor(optim, total_steps: int, step: int) -> float:
    """Multiplier of ``optim.lr`` at optimizer step ``step`` (0-based): linear warm-up over
    ``warmup_steps``, then constant, cosine down to ``min_lr_ratio``, or x ``gamma`` at each
    milestone (upstream's MultiStepLR)."""
    if step < optim.warmup_steps:
        return (step + 1) / optim.warmup_steps
    if optim.schedule == "cosine":
        span = max(1, total_steps - optim.warmup_steps)
        t = min(1.0, (step - optim.warmup_steps) / span)
        return optim.min_lr_ratio + (1 - optim.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))
    if optim.schedule == "step":
        return optim.gamma ** sum(step >= m for m in optim.milestones)
    return 1.0


class _Logger:
    """TensorBoard scalars plus ``metrics.jsonl`` (main process only). On a resume, events
    after the resumed step are dropped from both, so curves never double back."""

    def __init__(self, run: Path, start_step: int, enabled: bool):
        self.enabled, self.writer = enabled, None
        if not enabled:
            return
        self.jsonl = run / "metrics.jsonl"
        if self.jsonl.is_file():
            kept = [line for line in self.jsonl.read_text().splitlines() if _step_of(line) <= start_step]
            write_text(self.jsonl, "".join(line + "\n" for line in kept))
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run / "logs"), purge_step=start_step if start_step else None)
        except ImportError as err:  # tensorboard missing or broken: metrics.jsonl still has everything
            print(f"TensorBoard logging off ({err}); scalars go to {self.jsonl} only", file=sys.stderr)
            self.writer = None

    def write(self, step: int, logs: dict[str, float]) -> None:
        if not self.enabled:
            return
        with open(self.jsonl, "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, **logs}) + "\n")
        if self.writer is not None:
            for key, value in logs.items():
                self.writer.add_scalar(f"train/{key}", value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class NonFiniteError(ValueError):
    """A loss, gradient or weight that is NaN or infinite."""


def _check_finite(state: dict[str, torch.Tensor], model: str) -> None:
    """Refuse to export weights holding NaN/inf (e.g. the last step of a too-high lr)."""
    for key, tensor in state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise NonFiniteError(f"the trained {model} holds NaN/inf in {key}: not exported "
                                 "(lower --lr, or check the data's stats.json)")


def _step_of(line: str) -> float:
    """The step of a metrics.jsonl line; inf for a line a kill cut short (dropped)."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return math.inf
