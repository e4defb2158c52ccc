"""Training: ``fit(model, train_set, heldout_set, ...)`` for every model of sphericalae.models.

* device ``auto``: CUDA when present, else CPU; mixed precision (bfloat16 autocast) on CUDA.
* Seeds: the model's randomness comes from torch's global generator, seeded once; the data order
  of epoch e comes from its own generator seeded by (seed, e). Both are saved in checkpoints.
* A tqdm progress bar per epoch; a loss history (one dict per epoch) with held-out evaluation
  (deterministic codes: the posterior mean or mean direction).
* Checkpoints: with ``out`` set, ``out/checkpoint.pt`` is written atomically (temporary file, then
  ``os.replace``) at the end of every epoch: weights, optimizer, RNG states, history, config.
  ``resume=True`` continues from it and gives the same final weights as an uninterrupted run.
  Checkpoints are untrusted input: they are loaded with ``weights_only=True``.
* A NaN or infinite loss stops the run with ``FloatingPointError``; the last good checkpoint is
  kept as it was. Under DDP every process stops when any one of them sees it.
* Multi-GPU (or multi-process CPU): under ``torchrun`` (or any initialized ``torch.distributed``
  process group) the model is wrapped in DistributedDataParallel and each process takes its share
  of every global batch; rank 0 writes checkpoints and shows progress.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

CHECKPOINT = "checkpoint.pt"


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


def _batches(n, batch_size, seed, epoch):
    """Indices of each global batch of an epoch: a permutation seeded by (seed, epoch)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100003 + epoch))
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


def _stack(dataset, idx):
    items = [dataset[int(i)] for i in idx]
    return torch.stack([x for x, _ in items])


def _save_atomic(state, path: Path):
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path):
    """Load a checkpoint safely (``weights_only=True``: no arbitrary code from the file)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location="cpu", weights_only=True)


@torch.no_grad()
def evaluate(model, dataset, batch_size=256, device="cpu"):
    """Mean held-out reconstruction loss (per image, summed over pixels) with deterministic codes,
    and the mean squared error per pixel."""
    model.eval()
    total, sq, count, pixels = 0.0, 0.0, 0, 0
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for x, _ in loader:
        x = x.to(device)
        logits = model.decoder(model.encode(x))
        total += float(model.reconstruction_loss(logits, x).sum())
        sq += float((torch.sigmoid(logits.float()) - x).square().sum())
        count += x.shape[0]
        pixels += x.numel()
    model.train()
    return {"heldout_recon": total / count, "heldout_mse": sq / pixels}


def fit(model, train_set, heldout_set=None, *, epochs=10, batch_size=64, lr=1e-3, device="auto",
        amp=None, seed=0, out=None, resume=False, progress=True, log=print, max_batches=None):
    """Train ``model`` with Adam on ``train_set``; returns the history (a list of dicts per epoch).

    ``out``: run folder for ``checkpoint.pt`` and ``history.json``; ``resume``: continue from the
    checkpoint in ``out`` (an error if there is none). ``amp``: None = bfloat16 autocast on CUDA
    only. ``max_batches``: stop each epoch early (for smoke tests and benchmarks).
    """
    from tqdm.auto import tqdm

    if epochs < 1 or batch_size < 1:
        raise ValueError("epochs and batch_size must be at least 1")
    dev = resolve_device(device)
    rank, world = _rank_world()
    if batch_size % world:
        raise ValueError(f"batch_size {batch_size} must be divisible by the number of processes {world}")
    amp = (dev.type == "cuda") if amp is None else amp
    out = Path(out) if out is not None else None
    torch.manual_seed(seed)
    model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history, start = [], 0
    if resume:
        if out is None:
            raise ValueError("resume needs the run folder (out)")
        state = load_checkpoint(out / CHECKPOINT)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng_cpu"])
        if dev.type == "cuda" and "rng_cuda" in state:
            torch.cuda.set_rng_state(state["rng_cuda"])
        history, start = list(state["history"]), int(state["epoch"])
        if start >= epochs:
            log(f"checkpoint already at epoch {start} of {epochs}: nothing to do")
            return history
    if out is not None and rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    local = batch_size // world

    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        sums = {"loss": 0.0, "recon": 0.0, "kl": 0.0}
        seen = 0
        batches = _batches(len(train_set), batch_size, seed, epoch)
        if world > 1 and len(batches[-1]) < batch_size:
            batches = batches[:-1]            # every process needs an equal share of each batch
        if max_batches:
            batches = batches[:max_batches]
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress or rank != 0, leave=False)
        for step, idx in enumerate(bar):
            mine = idx[rank * local:(rank + 1) * local] if world > 1 else idx
            x = _stack(train_set, mine).to(dev, non_blocking=True)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                total, recon, kl = model.loss(x, forward=net)   # through DDP when distributed
                loss = total.mean()
            bad = not bool(torch.isfinite(loss))
            if world > 1:  # every process stops together, or the others would wait forever
                flag = torch.tensor([float(bad)], device=dev)
                dist.all_reduce(flag)
                bad = bool(flag.item() > 0)
            if bad:
                where = f" The last good checkpoint, {out / CHECKPOINT}, is kept." if out else ""
                raise FloatingPointError(f"loss is {float(loss.detach())} at epoch {epoch + 1}, step {step + 1}; "
                                         f"stopping.{where} Try a lower learning rate.")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n = x.shape[0]
            seen += n
            sums["loss"] += float(loss.detach()) * n
            sums["recon"] += float(recon.detach().float().mean()) * n
            sums["kl"] += float(kl.detach().float().mean()) * n
            if rank == 0 and progress:
                bar.set_postfix(loss=f"{sums['loss'] / seen:.2f}")
        if world > 1:  # the history holds global means, as a single process would see them
            t = torch.tensor([sums["loss"], sums["recon"], sums["kl"], seen], dtype=torch.float64)
            dist.all_reduce(t)
            sums, seen = dict(zip(["loss", "recon", "kl"], t[:3].tolist())), int(t[3])
        record = {"epoch": epoch + 1, **{f"train_{k}": v / max(seen, 1) for k, v in sums.items()},
                  "seconds": time.perf_counter() - t0}
        if heldout_set is not None:
            record.update(evaluate(model, heldout_set, device=dev))
        history.append(record)
        if rank == 0:
            log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
            if out is not None:
                state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch + 1,
                         "history": history, "config": dict(model.config), "rng_cpu": torch.get_rng_state()}
                if dev.type == "cuda":
                    state["rng_cuda"] = torch.cuda.get_rng_state()
                _save_atomic(state, out / CHECKPOINT)
                (out / "history.json").write_text(json.dumps(history, indent=1))
    return history

