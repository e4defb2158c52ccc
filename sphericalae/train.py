"""Training: ``fit(model, data, config)`` for every model of :mod:`sphericalae.models`.

* ``config``: a :class:`~sphericalae.config.TrainConfig` (epochs, batch size, lr, seed, device,
  amp, workers, and the dataset it names). The model carries its own ``ModelConfig``; both are
  saved in every checkpoint and in ``config.json``.
* Device ``auto``: CUDA when present, else CPU; bfloat16 autocast on CUDA unless ``amp=False``.
* Seeds (:mod:`sphericalae.seeding`): the initial weights come from ``build(..., seed)``; the
  model's own randomness (posterior samples) from torch's global generator, seeded from stream
  ``(seed, "train")`` at the start and saved in checkpoints; the data order of epoch e from stream
  ``(seed, "order", e)``. So the same config gives the same bits, and a resume continues them.
* Data: in-memory datasets (digits, the small face set) are indexed as whole tensors, moved to the
  device once when they fit; image folders go through a ``DataLoader`` with ``workers`` processes,
  pinned memory and prefetching. Each process of a DDP run takes its share of every global batch.
* One host-device synchronisation per step: the NaN guard, which checks the loss and the gradient
  norm before the optimizer step (running sums stay on the device). A non-finite value stops the
  run with ``FloatingPointError`` and leaves the last good checkpoint as it was; under DDP every
  process stops when any one of them sees it. Weights are checked again before every save.
* Run folder ``out``: ``checkpoint.pt`` (weights, optimizer, RNG states, history, both configs),
  ``history.json`` and ``config.json``, each written atomically (temporary file, then
  ``os.replace``) after every epoch. ``fit`` refuses a folder that holds anything else, a run
  without ``resume=True``, and, on resume, a config that differs from the checkpoint's (naming each
  field; a larger ``epochs`` and the runtime fields device/amp/workers are accepted). Checkpoints
  are untrusted input: loaded with ``weights_only=True``, refused with one line when unreadable.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import pickle
import time
from pathlib import Path

import torch
import torch.distributed as dist

from .config import ModelConfig, TrainConfig, config_diff, from_dict, to_json
from .data import in_memory
from .seeding import derive_seed, torch_generator

CHECKPOINT = "checkpoint.pt"
RUN_FILES = ("checkpoint.pt", "config.json", "history.json")
FORMAT = "sphericalae-run/1"


def resolve_device(device="auto") -> torch.device:
    """``auto`` -> CUDA if available, else CPU; anything else is passed to torch.device."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but CUDA is not available; use --device auto or cpu")
    return dev


def _rank_world():
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def epoch_batches(n, batch_size, seed, epoch):
    """Indices of each global batch of an epoch: a permutation from stream (seed, "order", epoch)."""
    perm = torch.randperm(n, generator=torch_generator(seed, "order", epoch))
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


# --- run folder and checkpoints -------------------------------------------------------------------

def _write_atomic(path: Path, write):
    """``write(tmp_path)``, then rename over ``path``; a failure leaves ``path`` as it was."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path, text: str):
    """Write a text file atomically (temporary file, flush to disk, rename)."""
    def write(tmp):
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    _write_atomic(Path(path), write)


def prepare_run_dir(out, resume: bool) -> Path:
    """Check that ``out`` may hold this run (see the module docstring) and create it."""
    if out is None or str(out).strip() == "":
        raise ValueError("the run folder (--out) is empty; name a folder, e.g. runs/sae")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder; choose a folder for the run")
    if out.is_dir():
        names = {p.name for p in out.iterdir()}
        foreign = sorted(n for n in names if n not in RUN_FILES and not n.endswith(".tmp"))
        if foreign:
            raise ValueError(f"--out {out} holds files that are not part of a sphericalae run "
                             f"({', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}); choose an empty or new folder")
        if not resume and CHECKPOINT in names:
            raise ValueError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        if not resume and names & set(RUN_FILES):
            raise ValueError(f"{out} holds {', '.join(sorted(names & set(RUN_FILES)))} but no checkpoint: not a "
                             "run that can be continued; remove those files or choose another --out")
    if resume and not (out / CHECKPOINT).is_file():
        raise FileNotFoundError(f"no checkpoint at {out / CHECKPOINT} to resume from")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test.tmp"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"cannot write the run folder {out}: {err.strerror or err}") from None
    return out


def read_checkpoint(path, fmt: str, configs: dict) -> dict:
    """Load and check a run checkpoint of format ``fmt`` (a run folder or the file): only tensors
    and plain data are read (``weights_only=True``); anything unreadable is a ``ValueError`` in one
    line. ``configs``: ``{key: dataclass}``, the configs stored under those keys, rebuilt."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "unsupported global" in str(err).lower():         # a class or function: refused unrun
            raise ValueError(f"{path} is refused: it holds objects other than tensors and plain data, which "
                             "are not loaded for safety (weights_only)") from None
        raise ValueError(f"{path} is not a readable checkpoint (UnpicklingError); it is corrupt or not from "
                         "sphericalae") from None
    except Exception as err:  # truncated, empty or random bytes: zipfile, EOFError, RuntimeError...
        raise ValueError(f"{path} is not a readable checkpoint ({type(err).__name__}); it is corrupt or "
                         "not from sphericalae") from None
    if not isinstance(state, dict) or state.get("format") != fmt:
        raise ValueError(f"{path} is not a sphericalae run checkpoint (format {fmt!r} expected)")
    try:
        for key, cls in configs.items():
            state[key] = from_dict(cls, state[key], str(path))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: the configs in the checkpoint are unreadable ({err})") from None
    return state


def load_checkpoint(path) -> dict:
    """An autoencoder run's checkpoint (:func:`read_checkpoint` with both configs rebuilt)."""
    return read_checkpoint(path, FORMAT, {"model_config": ModelConfig, "train_config": TrainConfig})


def load_run(path):
    """``(model, state)``: the model of a run folder with its trained weights, in eval mode.
    Refuses a checkpoint whose weights are not finite."""
    from .models import build

    state = load_checkpoint(path)
    model = build(state["model_config"])
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: the weights do not fit the model of its config ({str(err).splitlines()[0]})") from None
    if not all(torch.isfinite(p).all() for p in model.state_dict().values() if p.is_floating_point()):
        raise ValueError(f"{path}: the checkpoint holds NaN or infinite weights; it cannot be sampled")
    return model.eval(), state


# --- evaluation ------------------------------------------------------------------------------------

@torch.no_grad()
def evaluate(model, dataset, batch_size=256, device="cpu", workers=0):
    """Mean held-out reconstruction loss (per image, summed over pixels) with deterministic codes,
    and the mean squared error per pixel of ``model.reconstruct``."""
    model.eval()
    device = torch.device(device)
    total = torch.zeros((), dtype=torch.float64, device=device)
    sq = torch.zeros((), dtype=torch.float64, device=device)
    count = pixels = 0
    for x in _loader(dataset, _sequential(len(dataset), batch_size), device, workers):
        total += model(x, sample=False).recon.double().sum()
        sq += (model.reconstruct(x).float() - x).double().square().sum()
        count += x.shape[0]
        pixels += x.numel()
    model.train()
    return {"heldout_recon": float(total) / count, "heldout_mse": float(sq) / pixels}


def _sequential(n, batch_size):
    return [torch.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def _loader(dataset, batches, device, workers, cache=None):
    """Yield image batches on ``device`` for a list of index tensors."""
    tensors = in_memory(dataset) if cache is None else cache
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


def _resident(dataset, device):
    """The dataset's images as one tensor, on ``device`` when they fit (a quarter of free memory)."""
    tensors = in_memory(dataset)
    if tensors is None:
        return None
    x = tensors[0]
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if x.numel() * x.element_size() < free / 4:
            x = x.to(device)
    return x, None


def default_workers() -> int:
    return min(4, os.cpu_count() or 1)


# --- the loop ----------------------------------------------------------------------------------------

def grad_norm(params):
    """The global gradient norm of ``params`` as a 0-d tensor on their device (no sync)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads, foreach=True).float()   # one fused kernel per dtype


def fit(model, data, config: TrainConfig | None = None, *, out=None, resume=False, progress=True, log=print,
        max_batches=None):
    """Train ``model`` with Adam; returns the history (one dict per epoch).

    ``data``: ``(train, heldout)`` (held-out may be None) or a training dataset alone.
    ``config``: a :class:`~sphericalae.config.TrainConfig` (its dataset fields are recorded, not
    loaded: pass the data that matches them). ``out``: the run folder; ``resume``: continue the
    run in ``out``. ``max_batches``: stop each epoch early (smoke tests and benchmarks).
    """
    from tqdm.auto import tqdm

    config = config or TrainConfig()
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    train_set, heldout_set = data if isinstance(data, (tuple, list)) else (data, None)
    dev = resolve_device(config.device)
    rank, world = _rank_world()
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} must be divisible by the number of processes {world}")
    amp = (dev.type == "cuda") if config.amp is None else config.amp
    workers = default_workers() if config.workers is None else config.workers

    state = None
    if out is not None:
        out = prepare_run_dir(out, resume) if rank == 0 else Path(out)
        if resume:
            state = load_checkpoint(out)
            problems = [f"model {p}" for p in config_diff(state["model_config"], model.config, allow=())]
            problems += config_diff(state["train_config"], config)
            if problems:
                raise ValueError(f"--resume with settings that differ from the checkpoint in {out}: "
                                 + "; ".join(problems) + ". Resume with the checkpoint's settings (only a larger "
                                 "epochs, device, amp and workers may change) or start a new run elsewhere.")
    elif resume:
        raise ValueError("resume needs the run folder (out)")

    model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    history, start = [], 0
    torch.manual_seed(derive_seed(config.seed, "train"))
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng_cpu"])
        if dev.type == "cuda" and "rng_cuda" in state:
            torch.cuda.set_rng_state(state["rng_cuda"])
        history, start = list(state["history"]), int(state["epoch"])
        if start >= config.epochs:
            log(f"checkpoint already at epoch {start} of {config.epochs}: nothing to do")
            return history
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    local = config.batch_size // world
    resident = _resident(train_set, dev)
    params = [p for p in model.parameters() if p.requires_grad]
    saved_epoch = start

    for epoch in range(start, config.epochs):
        t0 = time.perf_counter()
        sums = torch.zeros(3, dtype=torch.float64, device=dev)
        seen = 0
        batches = epoch_batches(len(train_set), config.batch_size, config.seed, epoch)
        if world > 1 and len(batches[-1]) < config.batch_size:
            batches = batches[:-1]            # every process needs an equal share of each batch
        if max_batches:
            batches = batches[:max_batches]
        mine = [b[rank * local:(rank + 1) * local] for b in batches] if world > 1 else batches
        bar = tqdm(_loader(train_set, mine, dev, workers, resident), total=len(mine),
                   desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress or rank != 0, leave=False)
        for step, x in enumerate(bar):
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                losses = net(x)
                loss = losses.total.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            check = torch.stack([loss.detach().float(), grad_norm(params).to(loss.device)])
            if world > 1:  # every process stops together, or the others would wait forever
                bad = (~torch.isfinite(check)).any().float().reshape(1)
                dist.all_reduce(bad)
                check = torch.cat([check, bad])
            values = check.tolist()                               # the one sync of the step
            if not all(math.isfinite(v) for v in values[:2]) or (world > 1 and values[2] > 0):
                raise FloatingPointError(_nan_message(values, epoch, step, out, saved_epoch))
            opt.step()
            n = x.shape[0]
            seen += n
            sums += torch.stack([loss.detach().double(), losses.recon.detach().double().mean(),
                                 losses.kl.detach().double().mean()]) * n
            if progress and rank == 0:
                bar.set_postfix(loss=f"{values[0]:.2f}", refresh=False)
        if world > 1:  # the history holds global means, as a single process would see them
            t = torch.cat([sums.cpu(), torch.tensor([float(seen)], dtype=torch.float64)])
            dist.all_reduce(t)
            sums, seen = t[:3], int(t[3])
        means = (sums / max(seen, 1)).tolist()
        record = {"epoch": epoch + 1, "train_loss": means[0], "train_recon": means[1], "train_kl": means[2],
                  "seconds": time.perf_counter() - t0}
        if heldout_set is not None:
            record.update(evaluate(model, heldout_set, device=dev, workers=workers))
        history.append(record)
        if rank == 0:
            log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
            if out is not None:
                if not all(bool(torch.isfinite(p).all()) for p in params):
                    raise FloatingPointError(_nan_message(None, epoch, None, out, saved_epoch))
                save_run(out, model, opt, config, history, epoch + 1, dev)
                saved_epoch = epoch + 1
    return history


def _nan_message(values, epoch, step, out, saved_epoch):
    what = ("the weights are not finite at the end of epoch " f"{epoch + 1}" if values is None else
            f"non-finite {'loss' if not math.isfinite(values[0]) else 'gradient'} "
            f"(loss {values[0]:.4g}, gradient norm {values[1]:.4g}) at epoch {epoch + 1}, step {step + 1}")
    if out is not None and saved_epoch > 0:
        kept = f" The last good checkpoint, {Path(out) / CHECKPOINT} (epoch {saved_epoch}), is kept."
    elif out is not None:
        kept = " No checkpoint was written (none had been saved yet)."
    else:
        kept = ""
    return f"{what}; stopping.{kept} Try a lower learning rate."


def save_run(out, model, opt, config, history, epoch, dev):
    """Write the checkpoint, then history.json and config.json, each atomically. A failed write
    (disk full) leaves the previous files and raises ``OSError`` saying so."""
    out = Path(out)
    state = {"format": FORMAT, "model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
             "history": history, "model_config": dataclasses.asdict(model.config),
             "train_config": dataclasses.asdict(config), "rng_cpu": torch.get_rng_state()}
    if dev.type == "cuda":
        state["rng_cuda"] = torch.cuda.get_rng_state(dev)
    try:
        _write_atomic(out / CHECKPOINT, lambda tmp: torch.save(state, tmp))
        write_text_atomic(out / "history.json", json.dumps(history, indent=1))
        write_text_atomic(out / "config.json", to_json(model.config, config))
    except OSError as err:
        raise OSError(err.errno, f"could not write the run files in {out} after epoch {epoch} "
                      f"({err.strerror or err}); the files of the previous epoch are kept") from None
