"""Command line: train an autoencoder, or decode prior samples of a trained one.

    python -m sphericalae train --model sae --dataset mnist-5k --latent-dim 10 --epochs 20 \\
        --device auto --out runs/sae [--resume]
    python -m sphericalae sample --run runs/sae --prior uniform -n 64 --out grid.png

Under torchrun the same train command runs data-parallel (DistributedDataParallel):

    torchrun --nproc_per_node 4 -m sphericalae train --model sae --dataset folder:/data/ffhq \\
        --image-size 128 --latent-dim 512 --batch-size 256 --out runs/sae-ffhq
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .models import KINDS, RECON
from .ops import PRIORS


def _parser():
    ap = argparse.ArgumentParser(prog="python -m sphericalae", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train an autoencoder and write checkpoints to a run folder")
    tr.add_argument("--model", required=True, help=f"one of: {', '.join(KINDS)}")
    tr.add_argument("--dataset", required=True, help="mnist-5k, mnist, lfw-faces or folder:PATH")
    tr.add_argument("--latent-dim", type=int, default=10, help="size d of the code the decoder reads (default 10)")
    tr.add_argument("--epochs", type=int, default=20, help="number of epochs (default 20)")
    tr.add_argument("--batch-size", type=int, default=64, help="global batch size (default 64)")
    tr.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    tr.add_argument("--recon", default="bce", help=f"reconstruction loss, one of: {', '.join(RECON)} (default bce)")
    tr.add_argument("--beta", type=float, default=1.0, help="weight of the KL term for vae, svae, ps (default 1)")
    tr.add_argument("--image-size", type=int, default=None, help="32, 64 or 128 for image folders / faces")
    tr.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    tr.add_argument("--seed", type=int, default=0, help="seed for weights, data order and sampling")
    tr.add_argument("--out", required=True, help="run folder: checkpoint.pt, history.json, config.json")
    tr.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")
    sa = sub.add_parser("sample", help="decode prior samples of a trained run into an image grid")
    sa.add_argument("--run", required=True, help="run folder written by train")
    sa.add_argument("--prior", default="normal", help=f"one of: {', '.join(PRIORS)}")
    sa.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    sa.add_argument("--raw", action="store_true", help="raw prior samples instead of Algorithm 1")
    sa.add_argument("--seed", type=int, default=0)
    sa.add_argument("--out", required=True, help="PNG file for the grid")
    return ap


def _train(args, ap):
    from .data import arch_for, load
    from .models import build
    from .train import fit

    if args.model not in KINDS:
        ap.error(f"unknown model {args.model!r}; valid models: {', '.join(KINDS)}")
    if args.recon not in RECON:
        ap.error(f"unknown reconstruction loss {args.recon!r}; valid: {', '.join(RECON)}")
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    if distributed:
        import torch.distributed as dist

        backend = "nccl" if args.device != "cpu" and __import__("torch").cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        if backend == "nccl":
            args.device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    try:
        train_set, heldout = load(args.dataset, image_size=args.image_size, seed=args.seed)
        model = build(args.model, arch_for(args.dataset, args.image_size), args.latent_dim, args.recon, args.beta)
        out = Path(args.out)
        if not args.resume and (out / "checkpoint.pt").exists():
            ap.error(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps({**model.config, "dataset": args.dataset,
                                                     "image_size": args.image_size, "seed": args.seed}, indent=1))
        fit(model, train_set, heldout, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
            device=args.device, seed=args.seed, out=out, resume=args.resume, progress=not args.no_progress)
    finally:
        if distributed:
            dist.destroy_process_group()


def _sample(args, ap):
    import torch
    from torchvision.utils import save_image

    from .models import build
    from .train import load_checkpoint

    if args.prior not in PRIORS:
        ap.error(f"unknown prior {args.prior!r}; valid priors: {', '.join(PRIORS)}")
    if args.n < 1:
        ap.error("-n must be at least 1")
    state = load_checkpoint(args.run)
    cfg = state["config"]
    model = build(cfg["kind"], cfg["arch"], cfg["latent_dim"], cfg["recon"], cfg["beta"])
    model.load_state_dict(state["model"])
    model.eval()
    images = model.decode_prior(args.prior, args.n, robust=not args.raw,
                                generator=torch.Generator().manual_seed(args.seed))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save_image(images, args.out, nrow=int(max(1, round(args.n ** 0.5))))
    print(f"wrote {args.n} samples ({args.prior}, {'raw' if args.raw else 'Algorithm 1'}) to {args.out}")


def main(argv=None):
    ap = _parser()
    args = ap.parse_args(argv)
    try:
        if args.command == "train":
            _train(args, ap)
        else:
            _sample(args, ap)
    except (ValueError, FileNotFoundError, RuntimeError, FloatingPointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
