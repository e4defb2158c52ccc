"""Command line: train an autoencoder, or decode prior samples of a trained one.

    python -m sphericalae train --model sae --dataset mnist-5k --latent-dim 10 --epochs 20 \\
        --device auto --out runs/sae [--resume]
    python -m sphericalae sample --run runs/sae --prior uniform -n 64 --out grid.png
    python -m sphericalae train-gan --dataset mnist-5k --spherize-input off --epochs 20 --out runs/gan

The options of ``train`` are the fields of ModelConfig and TrainConfig (sphericalae.config).
Under torchrun the same train command runs data-parallel (DistributedDataParallel):

    torchrun --nproc_per_node 4 -m sphericalae train --model sae --dataset folder:/data/ffhq \\
        --image-size 128 --latent-dim 512 --batch-size 256 --out runs/sae-ffhq

Mistakes (an unknown option value, a bad run folder, an unreadable checkpoint, a NaN) end with one
line on stderr and exit status 2. Ctrl-C (SIGINT, also when the shell started the command with
SIGINT ignored, as it does for a background job) ends with status 130, SIGTERM with 143, as a
shell reports them, each in one line saying which checkpoint is kept and how to resume; a run
stopped before its first checkpoint leaves no folder. A signal that lands inside a callback is
raised just after it (sphericalae.signals), so no stop is lost.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import typing
import warnings
from pathlib import Path

from .checks import seed_value
from .config import TrainConfig
from .models import ModelConfig
from .ops import PIPELINES, PRIORS, pipeline_name, prior_name
from .signals import Terminated, stop_signals

_BOOL = {"auto": None, "on": True, "off": False, "true": True, "false": False}


def _add_config_options(parser, cls):
    """One option per dataclass field: type, default, choices and help come from the field."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        flags = meta.get("flags", (f"--{f.name.replace('_', '-')}",))
        kind = hints[f.name]
        args = typing.get_args(kind)
        base = next((a for a in args if a is not type(None)), kind) if args else kind
        kw = {"dest": f.name, "default": None, "help": f"{meta.get('help', '')} (default: "
              f"{meta.get('none', 'auto') if f.default is None else f.default})"}
        if base is bool:
            kw.update(type=lambda s: _BOOL[s.lower()] if s.lower() in _BOOL else s, metavar="{auto,on,off}")
        elif "choices" in meta:
            kw.update(metavar="{" + ",".join(meta["choices"]()) + "}")
        elif base in (int, float):
            kw.update(type=_number(base, flags[0]))
        parser.add_argument(*flags, **kw)


def _add_run_options(parser, model_config, train_config):
    """The options of a training command: both configs' fields, the run folder, resume, progress."""
    _add_config_options(parser, model_config)
    _add_config_options(parser, train_config)
    parser.add_argument("--out", required=True, help="run folder: checkpoint.pt, history.json, config.json")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out (same settings; "
                        "a larger --epochs is accepted)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _number(base, flag):
    def parse(text):
        try:
            return base(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} expects {'an integer' if base is int else 'a number'}, "
                                             f"got {text!r}") from None
    return parse


def _config_from(args, cls, **override):
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if getattr(args, f.name) is not None}
    return cls(**{**given, **override})


def _parser():
    ap = argparse.ArgumentParser(prog="python -m sphericalae", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train an autoencoder and write checkpoints to a run folder")
    _add_run_options(tr, ModelConfig, TrainConfig)
    _gan_parser(sub)
    sa = sub.add_parser("sample", help="decode prior samples of a trained run into an image grid")
    sa.add_argument("--run", required=True, help="run folder written by train")
    sa.add_argument("--prior", default=None, help=f"one of: {', '.join(PRIORS)} (default: the model's own prior)")
    sa.add_argument("--pipeline", default=None, help=f"one of: {', '.join(PIPELINES)}, or raw / both "
                    "(default: the model's own)")
    sa.add_argument("-n", type=_number(int, "-n"), default=64, help="number of samples (default 64)")
    sa.add_argument("--seed", type=_number(int, "--seed"), default=0)
    sa.add_argument("--out", required=True, help="PNG file for the grid")
    sa.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    return ap


def _train(args):
    from .data import image_shape, load_for
    from .models import arch_for, build, load_checkpoint
    from .train import fit

    train_config = _config_from(args, TrainConfig)
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    if distributed:
        import torch
        import torch.distributed as dist

        backend = "nccl" if train_config.device != "cpu" and torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        if backend == "nccl":
            train_config = dataclasses.replace(train_config, device=f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
    _config_from(args, ModelConfig, arch=args.arch or "mlp")          # refuse bad options before loading data
    _check_run_folder(args.out, args.resume, train_config, load_checkpoint)
    try:
        data = load_for(train_config)
        arch = args.arch or arch_for(image_shape(data[0]))
        model_config = _config_from(args, ModelConfig, arch=arch)
        model = build(model_config, seed=train_config.seed)
        fit(model, data, train_config, out=args.out, resume=args.resume, progress=not args.no_progress)
    finally:
        if distributed:
            dist.destroy_process_group()


def _gan_parser(sub):
    from .gan import GANConfig, GANTrainConfig

    tg = sub.add_parser("train-gan", help="train a GAN (sphericalae.gan) with normal z; options are "
                        "the fields of GANConfig and GANTrainConfig")
    _add_run_options(tg, GANConfig, GANTrainConfig)


def _train_gan(args):
    from .data import image_shape, load_for
    from .gan import GANConfig, GANTrainConfig, build_gan, check_gan_arch, fit_gan, gan_arch_for, load_gan_checkpoint

    train_config = _config_from(args, GANTrainConfig)
    _config_from(args, GANConfig, arch=args.arch or "dcgan28")       # refuse bad options first
    _check_run_folder(args.out, args.resume, train_config, load_gan_checkpoint)
    data = load_for(train_config)
    shape = image_shape(data[0])
    gan_config = _config_from(args, GANConfig, arch=check_gan_arch(args.arch, shape) if args.arch
                              else gan_arch_for(shape))
    fit_gan(build_gan(gan_config, seed=train_config.seed), data, train_config, out=args.out,
            resume=args.resume, progress=not args.no_progress)


def _check_run_folder(out, resume, train_config, load):
    """The run-folder and resume checks of ``fit``, done before the data are loaded (fast errors),
    creating nothing: ``fit`` creates the folder."""

    from .config import config_diff
    from .runfiles import prepare_run_dir
    from .runlock import run_lock

    if Path(out).is_dir():
        with run_lock(out):                   # a folder in use by a live run is refused by its pid
            prepare_run_dir(out, resume)
    elif resume or Path(out).exists():
        prepare_run_dir(out, resume)
    if resume:
        problems = config_diff(_load_or_previous(load, out)["train_config"], train_config)
        if problems:
            raise ValueError(f"--resume with settings that differ from the checkpoint in {out}: " + "; ".join(problems))


def _sample(args):
    import torch
    from torchvision.utils import save_image

    from .models import load_run

    seed = seed_value(args.seed, "--seed")
    prior = prior_name(args.prior) if args.prior is not None else None
    pipeline = pipeline_name(args.pipeline) if args.pipeline is not None else None
    if args.n < 1:
        raise ValueError("-n must be at least 1")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out must name a .png file, got {str(out)!r}")
    if out.exists() and not args.force:
        raise ValueError(f"{out} exists; pass --force to overwrite it or choose another --out")
    model, _ = _load_quietly(load_run, args.run)
    images = model.decode_prior(prior, args.n, pipeline, generator=seed)
    if not torch.isfinite(images).all():
        raise ValueError(f"the decoded images of {args.run} are not finite; nothing written")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        save_image(images, out, nrow=int(max(1, round(args.n ** 0.5))))
    except OSError as err:
        raise ValueError(f"cannot write {out}: {err.strerror or err}") from None
    how = "own prior" if prior is None else f"{prior}, {pipeline or 'default pipeline'}"
    print(f"wrote {args.n} samples ({model.kind}, {how}) to {out}")


def _load_quietly(load, *args):
    """``load(*args)``, with the warnings it raises (torch.load on a foreign pickle warns before
    it fails) shown only if it succeeds: a refused file is one line, the error."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = load(*args)
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result


def _load_or_previous(load, out):
    """``load(out)``, or the previous checkpoint of the folder when the last is damaged and the
    previous one is intact (``fit`` then says so and goes on from it); else the last one's error."""
    from .runfiles import PREVIOUS

    try:
        return load(out)
    except (ValueError, FileNotFoundError):
        if not (Path(out) / PREVIOUS).is_file():
            raise
        try:
            return load(Path(out) / PREVIOUS)
        except (ValueError, FileNotFoundError):
            pass
        raise


def _last_checkpoint(out, load):
    from .runfiles import CHECKPOINT, PREVIOUS

    for name in (CHECKPOINT, PREVIOUS):
        try:
            state = load(Path(out) / name)
            return (f"the last checkpoint, {Path(out) / name} (epoch {state['epoch']}), is kept; "
                    "continue with --resume")
        except (ValueError, FileNotFoundError, OSError):
            pass
    return "no checkpoint was written, so there is nothing to resume"


def _command(args):
    if args.command == "train":
        _train(args)
    elif args.command == "train-gan":
        _train_gan(args)
    else:
        _sample(args)


def main(argv=None):
    ap = _parser()
    args = ap.parse_args(argv)
    with stop_signals():
        try:
            _command(args)
        except (KeyboardInterrupt, Terminated) as err:
            where = ""
            if args.command in ("train", "train-gan"):
                from .gan import load_gan_checkpoint
                from .models import load_checkpoint

                load = load_checkpoint if args.command == "train" else load_gan_checkpoint
                where = "; " + _last_checkpoint(args.out, load)
            stopped = isinstance(err, Terminated)
            print(f"{'terminated' if stopped else 'interrupted'}{where}", file=sys.stderr)
            return 143 if stopped else 130
        except (ValueError, FileNotFoundError, RuntimeError, FloatingPointError, OSError) as err:
            print(f"error: {str(err).splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
