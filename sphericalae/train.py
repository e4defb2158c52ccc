"""The one training loop: ``fit(model, data, config)`` for every model family of the package.

A family plugs in through a :class:`Trainer` (its optimizers, one ``step`` per batch, an optional
held-out ``evaluate``, its checkpoint format), defined beside its models and named by the model
class's ``trainer`` attribute: ``sphericalae.models.AutoEncoderTrainer`` for the autoencoders,
``sphericalae.gan.GANTrainer`` for the GANs. The loop knows no family; it owns everything else,
once for all families:

* Device ``auto`` (CUDA when present, else CPU); bfloat16 autocast on CUDA unless ``amp=False``.
* Seeds (:mod:`sphericalae.seeding`): weights from ``build(..., seed)``; torch's global generator
  (posterior samples) from stream ``(seed, "train")``, saved in every checkpoint; the order of
  epoch e from stream ``(seed, "order", e)``. The same config gives the same bits; a resume
  continues them.
* Data: in-memory datasets are indexed as whole tensors (moved to the device once when they fit);
  image folders go through a ``DataLoader`` with ``workers`` processes. Under DDP each process
  takes its share of every global batch (families that declare ``distributed = True``).
* The NaN guard: one host-device sync per optimizer step checks the loss and the gradient norm
  before the step (``FloatingPointError``, naming the last good checkpoint; under DDP all
  processes stop together); weights are checked again before every save.
* Run folder ``out`` (:mod:`sphericalae.runfiles`): ``checkpoint.pt``, ``history.json``,
  ``config.json``, written atomically after every epoch; held under a lock for the whole run
  (:mod:`sphericalae.runlock`). ``resume=True`` continues a run, refusing a checkpoint with other
  settings (naming each field; a larger ``epochs`` and device/amp/workers may change) or with
  non-finite weights. A run that fails before its first checkpoint removes the folder it created.
* Denormal floats are flushed to zero while a run trains on the CPU (:func:`flush_denormals`): late
  in a run Adam's second moments of small gradients fall below float32's normal range, where x86
  arithmetic is many times slower; flushed, they read as 0 (the step divides by ``eps``), a change
  far below the optimizer's own noise (``benchmarks/bench_train.py --denormals``).
* Stop rule (``converge`` in the TrainConfig): a family with a held-out loss (its trainer's
  ``monitor``) may stop before ``epochs`` once :func:`convergence` of that loss is below
  ``converge``, after at least :data:`MIN_EPOCHS` epochs: training at a constant learning rate
  until the held-out loss has levelled off (early stopping on a plateau), not a schedule that
  forces the change to vanish. ``epochs`` is then the cap; a resumed run that has converged has
  nothing to do.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from pathlib import Path

import torch
import torch.distributed as dist

from .checks import resolve_device
from .config import RUNTIME_FIELDS, TrainConfig, config_diff, to_json
from .data import in_memory
from .parallel import loader_workers
from .runlock import LOCK_NAME, run_lock
from .runfiles import (CHECKPOINT, all_finite, check_optimizer_fits, load_weights, prepare_run_dir,
                       read_run_checkpoint, write_run_files)
from .seeding import derive_seed, torch_generator

__all__ = ["fit", "trained", "Trainer", "RunError", "adam", "flush_denormals", "convergence", "MIN_EPOCHS", "epoch_batches", "sequential_batches",
           "grad_norm", "batches_of", "resident", "FORMAT", "CHECKPOINT"]

FORMAT = "sphericalae-run/1"

MIN_EPOCHS = 30
"""The stop rule is not tried before this many epochs (earlier, a fifth of the run is a handful
of noisy epochs)."""


FUSED_DEVICES = ("cpu", "cuda")
"""Devices where Adam runs as one fused kernel (``fused=True``): the same update as the loop over
tensors, in one pass over the parameters (``benchmarks/bench_train.py`` prints the step time of
both)."""


def adam(params, **kwargs) -> torch.optim.Adam:
    """``torch.optim.Adam(params, **kwargs)``, fused where every parameter is a floating-point tensor
    on a device of ``FUSED_DEVICES`` (the trainers' optimizer; elsewhere the default
    implementation)."""
    params = list(params)
    fused = all(p.is_floating_point() and p.device.type in FUSED_DEVICES for p in params)
    return torch.optim.Adam(params, fused=fused or None, **kwargs)


def convergence(history, key="heldout_recon", share=0.2) -> float:
    """How much ``key`` still moves at the end of ``history``: over its last ``share`` of epochs
    (k = round(share n) >= 2 epochs), the change its least-squares line makes across them, relative
    to their mean, ``|slope| (k - 1) / mean``. A line, not the gap between two epochs, so that one
    noisy epoch does not decide it. inf with fewer than 2 epochs."""
    values = [float(h[key]) for h in history]
    k = max(2, int(round(len(values) * share)))
    if len(values) < k:
        return float("inf")
    y = torch.tensor(values[-k:], dtype=torch.float64)
    t = torch.arange(k, dtype=torch.float64)
    slope = ((t - t.mean()) * (y - y.mean())).sum() / (t - t.mean()).square().sum()
    return float(slope.abs() * (k - 1) / y.mean().abs())


def _converged(trainer, history) -> bool:
    """Whether the stop rule of ``trainer.config.converge`` is met by ``history``."""
    tol = trainer.config.converge
    return tol is not None and len(history) >= MIN_EPOCHS and convergence(history, trainer.monitor) < tol


def _rank_world():
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def epoch_batches(n, batch_size, seed, epoch):
    """Indices of each global batch of an epoch: a permutation from stream (seed, "order", epoch)."""
    perm = torch.randperm(n, generator=torch_generator(seed, "order", epoch))
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


def sequential_batches(n, batch_size):
    """Indices of ``n`` items in order, ``batch_size`` at a time (held-out evaluation)."""
    return [torch.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def batches_of(dataset, batches, device, workers=0, resident=None):
    """Yield the image batches of ``dataset`` on ``device``, one per index tensor of ``batches``.
    ``resident``: the images as one tensor (see :func:`resident`), else read through a DataLoader."""
    tensors = in_memory(dataset) if resident is None else resident
    if tensors is not None:
        x = tensors[0]
        for idx in batches:
            yield x[idx.to(x.device)].to(device, non_blocking=True)
        return
    from torch.utils.data import DataLoader

    loader = DataLoader(dataset, batch_sampler=[b.tolist() for b in batches], num_workers=workers,
                        pin_memory=device.type == "cuda", prefetch_factor=4 if workers else None,
                        persistent_workers=False)
    for x, _ in loader:
        yield x.to(device, non_blocking=True)


def resident(dataset, device):
    """The dataset's images as a one-tensor tuple, on ``device`` when they fit (a quarter of free
    memory); None for datasets read from disk."""
    tensors = in_memory(dataset)
    if tensors is None:
        return None
    x = tensors[0]
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if x.numel() * x.element_size() < free / 4:
            x = x.to(device)
    return x, None


def grad_norm(params):
    """The global gradient norm of ``params`` as a 0-d tensor on their device (no sync)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads, foreach=True).float()   # one fused kernel per dtype


# --- model families ------------------------------------------------------------------------------

class Trainer:
    """What the loop needs of a model family. Subclasses set the class attributes and implement
    :meth:`step`; the loop sets ``device`` and ``amp`` before the first step.

    ``format``: the checkpoint format; ``family``: the family's name in the model cache;
    ``config_key``/``label``: where the model's config is
    stored and how a resume names its fields; ``train_config``: the TrainConfig class it takes;
    ``distributed``: whether DDP is supported; ``hint``: advice after a non-finite loss;
    ``optimizer_names``: the optimizers of :meth:`optimizers` (checkpoint keys)."""
    format = FORMAT
    family = None                        # the model cache's name for trained models of the family
    config_key, label = "model_config", "model"
    train_config = TrainConfig
    distributed = True
    hint = "Try a lower learning rate."
    optimizer_names = ("optimizer",)
    optimizer_labels = {}                # optimizer name -> the network it steps, for messages
    monitor = None                       # the held-out score the stop rule reads (None: no stop rule)

    def __init__(self, model, config):
        self.model, self.config = model, config
        self.device, self.amp = torch.device("cpu"), False

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def optimizers(self) -> dict:
        """``{name: optimizer}`` for the names of ``optimizer_names``; each is saved under its name."""
        return {"optimizer": adam(self.model.parameters(), lr=self.config.lr)}

    def begin_epoch(self, epoch: int):
        """Called before the first step of each epoch."""

    def step(self, x, update) -> dict:
        """One batch: compute the losses, call ``update(loss, optimizer_name)`` for each optimizer
        step (it runs backward, the NaN guard and the step, and returns the loss as a float), and
        return ``{history name: 0-d tensor}``, the batch means the epoch record averages."""
        raise NotImplementedError

    def evaluate(self, heldout, workers) -> dict:
        """Held-out scores added to each epoch's record (none by default)."""
        return {}

    def config_json(self) -> str:
        return to_json({self.label: self.model.config, "train": self.config})


# --- the loop ----------------------------------------------------------------------------------------

def _check_resume(trainer, state, out):
    """Refuse a checkpoint whose settings differ from this run's, or whose weights are not finite."""
    problems = [f"{trainer.label} {p}" for p in config_diff(state[trainer.config_key], trainer.model.config,
                                                             allow=())]
    problems += config_diff(state["train_config"], trainer.config, allow=RUNTIME_FIELDS)
    if problems:
        raise ValueError(f"--resume with settings that differ from the checkpoint in {out}: " + "; ".join(problems)
                         + ". Resume with the checkpoint's settings (only a larger epochs, device, amp and "
                         "workers may change) or start a new run elsewhere.")
    if not all_finite(state["model"].values()):
        raise ValueError(f"{Path(out) / CHECKPOINT} holds NaN or infinite weights and cannot be resumed; "
                         "start a new run (with a lower learning rate) in another folder")


def _restore(trainer, opts, state, dev, where):
    """Load weights, optimizers and RNG states of ``state``; returns ``(history, start epoch)``."""
    load_weights(trainer.model, state["model"], where)
    for name, opt in opts.items():
        check_optimizer_fits(state[name], (p for g in opt.param_groups for p in g["params"]), where, name)
    try:
        for name, opt in opts.items():
            opt.load_state_dict(state[name])
    except (RuntimeError, KeyError, ValueError, TypeError) as err:
        raise ValueError(f"{where}: the optimizer state does not fit the model ({str(err).splitlines()[0]})") from None
    if "rng_cpu" in state:
        torch.set_rng_state(state["rng_cpu"])
    if dev.type == "cuda" and "rng_cuda" in state:
        torch.cuda.set_rng_state(state["rng_cuda"])
    return list(state["history"]), state["epoch"]


class _Guard:
    """The NaN guard of one run: ``update(loss, name)`` = backward, one sync, optimizer step."""

    def __init__(self, opts, world, out, hint, names):
        self.opts, self.world, self.out, self.hint, self.names = opts, world, out, hint, names
        self.params = {n: [p for g in o.param_groups for p in g["params"]] for n, o in opts.items()}
        self.epoch = self.step = self.saved_epoch = 0
        self.values = {}

    def __call__(self, loss, name):
        opt = self.opts[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        check = torch.stack([loss.detach().float(), grad_norm(self.params[name]).to(loss.device)])
        if self.world > 1:  # every process stops together, or the others would wait forever
            bad = (~torch.isfinite(check)).any().float().reshape(1)
            dist.all_reduce(bad)
            check = torch.cat([check, bad])
        values = check.tolist()                                   # the one sync of the step
        if not all(math.isfinite(v) for v in values[:2]) or (self.world > 1 and values[2] > 0):
            what = "loss" if not math.isfinite(values[0]) else "gradient"
            whose = self.names.get(name, "")
            self.fail(f"non-finite {whose + ' ' if whose else ''}{what} (loss {values[0]:.4g}, gradient norm {values[1]:.4g}) "
                      f"at epoch {self.epoch + 1}, step {self.step + 1}")
        opt.step()
        self.values[name] = values[0]
        return values[0]

    def kept(self):
        """What a stopped run leaves: the last checkpoint, or none."""
        if self.out is not None and self.saved_epoch > 0:
            return (f"the last good checkpoint, {Path(self.out) / CHECKPOINT} (epoch {self.saved_epoch}), is kept; "
                    "continue with --resume")
        return "no checkpoint was written" if self.out is not None else "nothing was saved"

    def fail(self, what):
        raise FloatingPointError(f"{what}; stopping; {self.kept()}. {self.hint}")


def _run_epoch(run, guard, epoch, data):
    """One epoch of steps; returns the epoch's record (means of the step outputs, seconds).
    ``data``: the training images resident on the device (:func:`resident`), or None."""
    from tqdm.auto import tqdm

    trainer, train_set, progress = run.trainer, run.train_set, run.progress and run.rank == 0
    batches = _batches(run, epoch)
    t0, dev = time.perf_counter(), trainer.device
    trainer.begin_epoch(epoch)
    sums, names, seen = None, None, 0
    bar = tqdm(batches_of(train_set, batches, dev, run.workers, data), total=len(batches),
               desc=f"epoch {epoch + 1}/{trainer.config.epochs}", disable=not progress, leave=False)
    for step, x in enumerate(bar):
        guard.epoch, guard.step = epoch, step
        out = trainer.step(x, guard)
        if sums is None:
            names, sums = list(out), torch.zeros(len(out), dtype=torch.float64, device=dev)
        n = x.shape[0]
        sums += torch.stack([out[k].double() for k in names]) * n
        seen += n
        if progress:
            bar.set_postfix({k: f"{v:.3g}" for k, v in guard.values.items()}, refresh=False)
    if guard.world > 1:  # the history holds global means, as a single process would see them
        t = torch.cat([sums.cpu(), torch.tensor([float(seen)], dtype=torch.float64)])
        dist.all_reduce(t)
        sums, seen = t[:-1], int(t[-1])
    record = {"epoch": epoch + 1, **dict(zip(names or [], (sums / max(seen, 1)).tolist() if names else []))}
    record["seconds"] = time.perf_counter() - t0
    return record


def _batches(run, epoch):
    """This process's share of each batch of ``epoch``."""
    config, rank, world, max_batches = run.trainer.config, run.rank, run.world, run.max_batches
    batches = epoch_batches(len(run.train_set), config.batch_size, config.seed, epoch)
    if world > 1 and len(batches[-1]) < config.batch_size:
        batches = batches[:-1]            # every process needs an equal share of each batch
    if max_batches:
        batches = batches[:max_batches]
    local = config.batch_size // world
    return [b[rank * local:(rank + 1) * local] for b in batches] if world > 1 else batches


def _save(trainer, opts, history, epoch, out):
    state = {"format": trainer.format, "model": trainer.model.state_dict(), "epoch": epoch, "history": history,
             trainer.config_key: dataclasses.asdict(trainer.model.config),
             "train_config": dataclasses.asdict(trainer.config), "rng_cpu": torch.get_rng_state(),
             **{name: opt.state_dict() for name, opt in opts.items()}}
    if trainer.device.type == "cuda":
        state["rng_cuda"] = torch.cuda.get_rng_state(trainer.device)
    write_run_files(out, state, trainer.config_json())


def trainer_for(model, config=None) -> Trainer:
    """The :class:`Trainer` of ``model``'s family (the model class's attribute ``trainer``) with
    ``config`` (the family's TrainConfig; its defaults when None)."""
    cls = getattr(model, "trainer", None)
    if not (isinstance(cls, type) and issubclass(cls, Trainer)):
        raise TypeError(f"{type(model).__name__} names no Trainer (class attribute 'trainer'); "
                        "fit trains the models of sphericalae.models and sphericalae.gan")
    config = config if config is not None else cls.train_config()
    if not isinstance(config, cls.train_config):
        raise TypeError(f"config must be a {cls.train_config.__name__}, got {type(config).__name__}")
    return cls(model, config)


@dataclasses.dataclass
class _Run:
    """What one call of :func:`fit` runs on: its trainer, data, folder, process and reporting."""
    trainer: Trainer
    train_set: object
    heldout_set: object
    out: object = None
    rank: int = 0
    world: int = 1
    workers: int = 0
    progress: bool = True
    log: object = print
    max_batches: int | None = None


@contextlib.contextmanager
def _run_folder(out, resume, rank):
    """Hold ``out``'s run lock for the run (rank 0) and check the folder; a run that created the
    folder and fails before its first checkpoint leaves no folder behind."""
    if out is None:
        if resume:
            raise ValueError("resume needs the run folder (out)")
        yield None
        return
    if rank != 0:
        yield Path(out)
        return
    if not str(out).strip() or (Path(out).exists() and not Path(out).is_dir()):
        prepare_run_dir(out, resume)                  # the one-line errors: no name, a file in the way
    created = not Path(out).exists()
    with run_lock(out) as folder:
        prepare_run_dir(folder, resume)
        try:
            yield folder
        except BaseException:
            if created and not (folder / CHECKPOINT).exists():
                for p in folder.iterdir():
                    if p.name != LOCK_NAME:
                        p.unlink()
            raise


def _check_sets(train_set, heldout_set):
    """Refuse an empty training set or an empty held-out set (``ValueError``, one line)."""
    for name, dataset in (("training", train_set), ("held-out", heldout_set)):
        if dataset is not None and hasattr(dataset, "__len__") and len(dataset) == 0:
            raise ValueError(f"the {name} set is empty; pass a dataset with at least one image"
                             + (" (or None for no held-out set)" if name == "held-out" else ""))


def fit(model, data, config=None, *, out=None, resume=False, progress=True, log=print, max_batches=None):
    """Train ``model`` (an autoencoder, a GAN: any model whose family has a :class:`Trainer`);
    returns the history, one dict per epoch.

    ``data``: ``(train, heldout)`` (held-out may be None) or a training dataset alone. ``config``:
    the family's TrainConfig (its dataset fields are recorded, not loaded: pass the matching data).
    ``out``: the run folder; ``resume``: continue the run in ``out`` (from its last checkpoint, or
    from the previous one, ``checkpoint.prev.pt``, when the last is damaged: a line is logged).
    ``max_batches``: stop each epoch early (smoke tests and benchmarks). An empty training or
    held-out set is refused (``ValueError``)."""
    trainer = trainer_for(model, config)
    config = trainer.config
    train_set, heldout_set = data if isinstance(data, (tuple, list)) else (data, None)
    _check_sets(train_set, heldout_set)
    dev = trainer.device = resolve_device(config.device)
    rank, world = _rank_world()
    if world > 1 and not trainer.distributed:
        raise ValueError(f"{type(model).__name__} cannot be trained with several processes (DDP)")
    if config.converge is not None and (trainer.monitor is None or heldout_set is None):
        raise ValueError(f"converge needs a held-out loss to watch: {type(model).__name__} has none"
                         if trainer.monitor is None else "converge needs a held-out set: pass data as (train, heldout)")
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} must be divisible by the number of processes {world}")
    trainer.amp = (dev.type == "cuda") if config.amp is None else config.amp
    workers = loader_workers() if config.workers is None else config.workers
    with _run_folder(out, resume, rank) as out:
        state = None
        if resume:
            state, note = read_run_checkpoint(out, trainer.format, {trainer.config_key: type(model.config),
                                                                    "train_config": type(config)},
                                              required=("model", *trainer.optimizer_names))
            if note and rank == 0:
                log(note)
            _check_resume(trainer, state, out)
        return _loop(_Run(trainer, train_set, heldout_set, out, rank, world, workers, progress, log, max_batches),
                     state)


def _loop(run, state):
    trainer, out, world, log = run.trainer, run.out, run.world, run.log
    model, config, dev = trainer.model, trainer.config, trainer.device
    model.to(dev).train()
    opts = trainer.optimizers()
    history, start = [], 0
    torch.manual_seed(derive_seed(config.seed, "train"))
    if state is not None:
        history, start = _restore(trainer, opts, state, dev, Path(out) / CHECKPOINT)
        if start >= config.epochs or _converged(trainer, history):
            log(f"checkpoint at epoch {start} of {config.epochs}"
                f"{', converged' if start < config.epochs else ''}: nothing to do")
            return history
    trainer.net = model if world == 1 else torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[dev.index] if dev.type == "cuda" else None)
    guard = _Guard(opts, world, out, trainer.hint, trainer.optimizer_labels)
    guard.saved_epoch = start
    try:
        with flush_denormals(dev):
            _epochs(run, guard, opts, history, start)
    except (OSError, RuntimeError, ValueError) as err:
        raise RunError(f"{_first_line(err)}; {guard.kept()}") from err
    return history


@contextlib.contextmanager
def flush_denormals(device):
    """Within the block, denormal floats are flushed to zero on ``device`` when it is the CPU and
    the CPU can (x86 with SSE3, ARM): ``torch.set_flush_denormal`` for this thread, turned off
    again (torch's default) at the end. A no-op on CUDA, whose kernels do not see the CPU flag."""
    on = torch.device(device).type == "cpu" and torch.set_flush_denormal(True)
    try:
        yield on
    finally:
        if on:
            torch.set_flush_denormal(False)


class RunError(RuntimeError):
    """A run stopped by an error of its data, device or files; the message says what happened and
    which checkpoint is kept."""


def _first_line(err):
    """The message of ``err`` in one line; for an error re-raised from a DataLoader worker, the
    worker's own message (the last line of the text torch wraps around it)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    return lines[-1] if lines[0].startswith("Caught ") and len(lines) > 1 else lines[0]


def _stop(trainer, history, world, dev) -> bool:
    """The stop rule's decision; under DDP process 0 decides and every process follows, so that
    held-out scores differing in their last bits cannot leave one process waiting for the others."""
    stop = _converged(trainer, history)
    if world > 1 and trainer.config.converge is not None:
        flag = torch.tensor([float(stop)], device=dev)
        dist.broadcast(flag, 0)
        stop = bool(flag.item())
    return stop


def _epochs(run, guard, opts, history, start):
    """Epochs ``start`` .. the cap or the stop rule: train, evaluate, log, check, save."""
    trainer, out, rank, world, log = run.trainer, run.out, run.rank, run.world, run.log
    model, config, dev = trainer.model, trainer.config, trainer.device
    data = resident(run.train_set, dev)
    for epoch in range(start, config.epochs):
        record = _run_epoch(run, guard, epoch, data)
        record.update(trainer.evaluate(run.heldout_set, run.workers))
        history.append(record)
        if rank == 0:
            log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
            if out is not None:
                if not all_finite(p.detach() for p in model.parameters()):
                    guard.fail(f"the weights are not finite at the end of epoch {epoch + 1}")
                _save(trainer, opts, history, epoch + 1, out)
                guard.saved_epoch = epoch + 1
        if _stop(trainer, history, world, dev):
            if rank == 0:
                log(f"converged at epoch {epoch + 1}: the held-out loss's trend over the last fifth changes it "
                    f"by {convergence(history, trainer.monitor):.2%} < {config.converge:.2%}")
            break


def trained(build, model_config, train_config, data=None, *, sources, progress=False, root=None):
    """``(model, history)``: ``build(model_config, seed=train_config.seed)`` trained by :func:`fit`
    on ``data`` (the pair matching the config's dataset fields; loaded when None), on the CPU in
    eval mode. Trained once, then loaded from :func:`sphericalae.cache.cached`: the key holds both
    configs and the source of the modules ``sources`` and everything they import from the package."""
    from .cache import cached
    from .data import load_for

    def compute():
        model = build(model_config, seed=train_config.seed)
        history = fit(model, data or load_for(train_config), train_config, progress=progress, log=lambda *a: None)
        return {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "history": history}

    model = build(model_config)
    trainer = trainer_for(model, train_config)
    key = {trainer.label: dataclasses.asdict(model_config), "train": dataclasses.asdict(train_config)}
    stored = cached(trainer.family, key, compute, root, sources=sources)
    model.load_state_dict(stored["state_dict"])
    return model.eval(), list(stored["history"])
