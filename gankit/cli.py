"""The command line: arguments -> config -> train / sample / theory / eval.

    gankit train [--config FILE] [--out DIR] [--dry-run] [--overwrite] [--resume RUN] [key=value ...]
    gankit sample RUN -n N --out FILE.npz
    gankit report RUN [--out FILE.html]
    gankit compare RUN RUN ... [--out DIR]
    gankit keys

A user mistake (bad key, missing file, existing run folder) prints one line,
``gankit: error: ...``, and exits with code 2; nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gankit.errors import GankitError

EPILOG_TRAIN = """\
keys (key=value, anywhere after `train`; `gankit keys` lists them all, `gankit keys --presets` the presets):
  objective=gan|ns-gan|wgan|wgan-gp (default ns-gan)   preset=NAME
  data=ring8|grid25|spiral|mog1d|digits|mnist5k|PATH (default ring8)   iterations=N
  batch_size=N  d_steps=K  g_steps=N  seed=S  lr_d=X  lr_g=X  lambda_gp=X  clip=C

examples:
  gankit train
  gankit train --config configs/ring8_wgan_gp.toml d_steps=5 lambda_gp=10
  gankit train objective=gan data=grid25 iterations=2000 seed=3 --out runs/mm
  gankit train --resume runs/mm iterations=4000
  gankit train preset=mnist5k-ns-gan --fast
  gankit train --nproc 2 objective=wgan-gp
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gankit", description="Train and check GANs exactly as the theory describes them.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a GAN", epilog=EPILOG_TRAIN, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Train a GAN; the resolved config, metrics, checkpoint, pictures and summary go to the run folder.")
    t.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. d_steps=5 lr_d=1e-4")
    t.add_argument("--config", metavar="FILE", help="a TOML config file (overrides on the command line win)")
    t.add_argument("--out", metavar="DIR", help="the run folder (default: runs/NNNNN-<data>-<objective>)")
    t.add_argument("--dry-run", action="store_true", help="build everything, print the resolved config, train nothing")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run folder at --out")
    t.add_argument("--resume", metavar="RUN", help="continue the run in RUN from its checkpoint")
    t.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                   help="the same as the key checkpoint_every=N: checkpoint every N iterations "
                        "(a multiple of log_every; default 0: at the end and on SIGINT/SIGTERM)")
    t.add_argument("--fast", action="store_true",
                   help="precision=auto channels_last=auto: bf16 / NHWC where docs/scaling.md measured them faster")
    t.add_argument("--nproc", type=int, default=0, metavar="N",
                   help="data-parallel over N processes on this machine (re-launches under torchrun; docs/scaling.md)")
    loud = t.add_mutually_exclusive_group()
    loud.add_argument("--quiet", action="store_true", help="no progress bar and no summary (errors only)")
    loud.add_argument("--verbose", action="store_true", help="also print each metrics record as one line")

    s = sub.add_parser("sample", help="draw samples from a trained run")
    s.add_argument("run", metavar="RUN", help="a run folder with a checkpoint.pt")
    s.add_argument("-n", type=int, default=10000, help="number of samples (default 10000)")
    s.add_argument("--out", required=True, metavar="PATH",
                   help="FILE.npz (key 'x'; images as uint8 N×H×W×C), GRID.png, or a folder of PNGs (images)")
    s.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    s.add_argument("--interpolate", action="store_true", help="images: write a latent interpolation strip to --out FILE.png")
    s.add_argument("--raw", action="store_true", help="use the raw generator weights, not their moving average")

    th = sub.add_parser("theory", help="run the checkable claims of docs/theory.md as experiments",
                        description="Each experiment trains on CPU in about a minute, writes figure.png and results.json "
                                    "with the exact and measured values, and passes or fails against a stated tolerance.")
    th.add_argument("experiment", nargs="?", metavar="NAME|all", help="an experiment (see --list) or all")
    th.add_argument("--list", action="store_true", help="list the experiments")
    th.add_argument("--out", default="runs/theory", metavar="DIR", help="output folder (default runs/theory)")
    th.add_argument("--quick", action="store_true", help="a shortened version (seconds each; the same tolerances)")
    th.add_argument("--seed", type=int, default=0, help="seed (default 0)")

    r = sub.add_parser("report", help="write a self-contained HTML report of a run",
                       description="One HTML file, pictures embedded, no network needed: config, curves, samples, "
                                   "final metrics with their definitions, warnings, and the animation of 2-D runs.")
    r.add_argument("run", metavar="RUN", help="a run folder")
    r.add_argument("--out", metavar="FILE", help="the HTML file (default RUN/report.html)")

    c = sub.add_parser("compare", help="compare the final metrics and curves of several runs",
                       description="Writes DIR/compare.html (table and overlaid curves), DIR/metrics.csv and one PNG "
                                   "per quantity. Patterns such as 'runs/*-wgan-gp' are expanded.")
    c.add_argument("runs", nargs="+", metavar="RUN", help="run folders or glob patterns")
    c.add_argument("--out", default="runs/compare", metavar="DIR", help="output folder (default runs/compare)")

    e = sub.add_parser("eval", help="measure a run's generator, or a set of samples against a reference set",
                       description="Toy runs: modes covered, %% high quality, W1 (and JSD in 1-D). Images: Fréchet distance, "
                                   "KID, precision/recall, density/coverage in the features of a network trained on the "
                                   "reference data (fd_lenet, ...), or Inception-v3 with --inception-weights (fd_inception).")
    e.add_argument("run", nargs="?", metavar="RUN", help="a run folder (its data and its EMA generator)")
    e.add_argument("--samples", metavar="A.npz", help="generated images (instead of RUN)")
    e.add_argument("--ref", metavar="B.npz", help="reference images for --samples; its labels 'y' train the feature net")
    e.add_argument("--metrics", default="fd,kid,pr,dc", help="images: comma-separated fd, kid, pr, dc (default all)")
    e.add_argument("--n", type=int, default=10000, help="samples to use (default 10000)")
    e.add_argument("--seed", type=int, default=0, help="seed of the samples and the feature net (default 0)")
    e.add_argument("--inception-weights", metavar="FILE", help="pt_inception-2015-12-05-6726825d.pth: use Inception-v3 features")
    e.add_argument("--out", metavar="DIR", help="where eval.json goes (default: the run folder, or the current folder)")

    d = sub.add_parser("data", help="download public datasets (checksums verified, atomic writes)")
    dsub = d.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    f = dsub.add_parser("fetch", help="download mnist, fashion-mnist or cifar10 into a folder")
    f.add_argument("name", choices=["mnist", "fashion-mnist", "cifar10"])
    f.add_argument("--to", required=True, metavar="DIR", help="target folder; train on it with data=DIR")
    f.add_argument("--base-url", metavar="URL", help="a mirror to use instead of the public ones")

    k = sub.add_parser("keys", help="list every config key with its meaning and default")
    k.add_argument("--presets", action="store_true", help="list the named presets instead")
    return p


def _print_summary(result) -> None:
    m = result.metrics
    lines = [f"gankit: {result.config.objective} on {result.config.data}: {m['iterations']} iterations "
             f"in {m['wall_seconds']:.1f} s ({m.get('iterations_per_second') or 0:.1f} it/s)"]
    if "modes_covered" in m:
        lines.append(f"  modes covered {m['modes_covered']}/{m['modes_total']}   high-quality samples "
                     f"{100 * m['hq_fraction']:.1f}%   W1 to data {m['w1']:.4f}"
                     + (f"   JSD {m['jsd']:.4f}" if "jsd" in m else ""))
    if result.run_dir is not None:
        lines.append(f"  run folder: {result.run_dir}  (samples.png, curves.png, summary.json, checkpoint.pt)")
    lines += [f"  warning: {w}" for w in m.get("warnings", [])]
    print("\n".join(lines))


def cmd_train(args) -> int:
    import os

    from gankit import distributed
    from gankit.config import build_config, parse_overrides, resolve_config
    from gankit.runs import default_run_dir

    if args.nproc and "WORLD_SIZE" not in os.environ:  # not yet under a launcher: start N copies of this command
        return distributed.relaunch(args.nproc, _without_nproc(args.argv))

    if args.resume:
        overrides = parse_overrides(args.overrides)
        if set(overrides) - {"iterations"}:
            raise GankitError("--resume takes only iterations=N as an override; the rest comes from the checkpoint")
        clash = [flag for flag, given in (("--config", args.config), ("--overwrite", args.overwrite), ("--fast", args.fast),
                                          ("--out", args.out and Path(args.out) != Path(args.resume))) if given]
        if clash:
            raise GankitError(f"--resume continues RUN in place with its own config; drop {' and '.join(clash)}")
        from gankit.checkpoint import load_checkpoint
        from gankit.runs import resume_checkpoint

        saved = load_checkpoint(resume_checkpoint(Path(args.resume)))["config"]
        config = build_config({**saved, **overrides})
        out = Path(args.resume)
    else:
        config = resolve_config(args.config, (["precision=auto", "channels_last=auto"] if args.fast else []) + args.overrides)
        out = Path(args.out) if args.out else default_run_dir(Path("runs"), f"{config.data}-{config.objective}")
    if args.dry_run:
        print(f"# resolved config (run folder would be {out}); nothing trained\n" + config.to_toml(), end="")
        from gankit.train import train

        train(config.replace(iterations=0), None, progress=False)  # build everything, train nothing
        return 0
    from gankit.train import train

    try:
        result = train(config, out, overwrite=args.overwrite, resume=bool(args.resume),
                       progress=False if args.quiet else None, checkpoint_every=args.checkpoint_every, verbose=args.verbose)
    finally:
        distributed.teardown()  # several processes: leave the group (a no-op for one)
    if not args.quiet and int(os.environ.get("RANK", "0")) == 0:
        _print_summary(result)
    return 0


def _without_nproc(argv: list[str]) -> list[str]:
    """``argv`` without its ``--nproc N`` / ``--nproc=N`` (the relaunched processes must not relaunch)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def load_generator(run: Path, *, raw: bool = False):
    """(config, G) of a run's checkpoint: the moving average of G unless ``raw``."""
    from gankit.checkpoint import load_checkpoint
    from gankit.config import build_config
    from gankit.nets import build_networks

    state = load_checkpoint(Path(run) / "checkpoint.pt")
    config = build_config(state["config"])
    G, _ = build_networks(config, tuple(state["sample_shape"]))
    G.load_state_dict(state["ema"]["module"] if "ema" in state and not raw else state["generator"])
    return config, G.eval()


def cmd_sample(args) -> int:
    import numpy as np
    import torch

    from gankit.checkpoint import atomic_write_bytes
    from gankit.sampling import Noise, generate

    if args.n < 1:
        raise GankitError(f"-n must be >= 1, got {args.n}")
    out = Path(args.out)
    is_npz, is_png = out.suffix == ".npz", out.suffix == ".png"
    if not (out.parent.is_dir() or (not is_npz and not is_png)):
        raise GankitError(f"--out {out}: folder {out.parent} does not exist")
    config, G = load_generator(Path(args.run), raw=args.raw)
    rng = torch.Generator().manual_seed(args.seed)
    if args.interpolate:
        from gankit.report.grid import save_interpolation_strip

        if config.kind == "toy" or not is_png:
            raise GankitError("--interpolate draws an image strip: it needs an image run and --out FILE.png")
        ends = [Noise(min(args.n, 16), config.z_dim, config.z_dist, rng, torch.device("cpu")).sample().clone()
                for _ in range(2)]
        with torch.no_grad():
            save_interpolation_strip(G, ends[0], ends[1], out, steps=10)
        print(f"gankit: wrote a latent interpolation strip ({len(ends[0])} rows of 10) to {out}")
        return 0
    x = generate(G, args.n, config, rng, torch.device("cpu"))
    if config.kind == "toy":
        if not is_npz:
            raise GankitError(f"--out {out}: toy samples are points; give a path ending in .npz")
        atomic_write_bytes(out, lambda fh: np.savez(fh, x=x.numpy()))
    elif is_npz:
        from gankit.data.images import float_to_uint8, save_npz

        save_npz(out, float_to_uint8(x))
    elif is_png:
        from gankit.report.grid import save_grid

        save_grid(x, out)
    else:
        from gankit.report.grid import save_grid

        out.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(x):
            save_grid(image[None], out / f"{i:06d}.png", nrow=1)
    print(f"gankit: wrote {args.n} samples of shape {tuple(x.shape[1:])} to {out}")
    return 0


def cmd_theory(args) -> int:
    from gankit.theory import EXPERIMENTS, run_all

    if args.list or not args.experiment:
        for exp in EXPERIMENTS.values():
            print(f"{exp.name:24s} {exp.section:6s} {exp.summary}")
        return 0
    if args.experiment != "all" and args.experiment not in EXPERIMENTS:
        raise GankitError(f"unknown experiment {args.experiment!r}; expected all or one of {', '.join(EXPERIMENTS)}")
    out = Path(args.out)
    if args.experiment == "all":
        results = run_all(out, quick=args.quick, seed=args.seed)
    else:
        results = [EXPERIMENTS[args.experiment].run(out, quick=args.quick, seed=args.seed)]
    failed = 0
    for res in results:
        for check in res["checks"]:
            failed += not check["pass"]
            exact = "" if check.get("exact") is None else f" exact {check['exact']:.4g}"
            print(f"{'PASS' if check['pass'] else 'FAIL'}  {res['experiment']}: {check['name']}: measured "
                  f"{check['measured']:.4g}{exact} (tolerance {check['tolerance']})")
    print(f"gankit: results in {out}" + (" (index.html, index.md)" if args.experiment == "all" else ""))
    return 1 if failed else 0


def cmd_report(args) -> int:
    from gankit.report.html import write_report

    path = write_report(Path(args.run), Path(args.out) if args.out else None)
    print(f"gankit: wrote {path}")
    return 0


def cmd_compare(args) -> int:
    from gankit.report.compare import expand_runs, write_comparison

    written = write_comparison(expand_runs(args.runs), Path(args.out))
    print(f"gankit: compared {written['runs']} runs: {written['html']} ({written['csv'].name}, "
          f"{written['figures']} figures)")
    return 0


def cmd_eval(args) -> int:
    import torch

    from gankit import __version__
    from gankit.runs import write_json

    if args.n < 10:
        raise GankitError(f"--n must be >= 10, got {args.n}")
    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    if args.run and (args.samples or args.ref):
        raise GankitError("give either RUN or --samples A.npz --ref B.npz, not both")
    if args.run:
        from gankit.data import load_image_data
        from gankit.data.toy import toy_distribution
        from gankit.evaluation import evaluate_generator

        config, G = load_generator(Path(args.run))
        source = toy_distribution(config.data) if config.kind == "toy" else load_image_data(config)
        options = {} if config.kind == "toy" else dict(metrics=metrics, inception_weights=args.inception_weights)
        values = evaluate_generator(G, source, config, args.seed, torch.device("cpu"), n=args.n, **options)
        values.update(run=str(args.run), data=config.data)
        out_dir = Path(args.out or args.run)
    elif args.samples and args.ref:
        from gankit.data.images import load_images
        from gankit.metrics.image_eval import evaluate_images

        samples, ref = load_images(args.samples), load_images(args.ref)
        values = evaluate_images(samples.images, ref.images, reference_labels=ref.labels, metrics=metrics, n=args.n,
                                 seed=args.seed, inception_weights=args.inception_weights)
        values.update(samples=str(args.samples), reference=str(args.ref))
        out_dir = Path(args.out or ".")
    else:
        raise GankitError("nothing to evaluate: give a run folder (gankit eval RUN) or --samples A.npz --ref B.npz")
    values.update(seed=args.seed, gankit_version=__version__)
    if not out_dir.is_dir():
        raise GankitError(f"--out {out_dir}: not a folder; create it or pass another")
    write_json(out_dir / "eval.json", values)
    width = max(len(k) for k in values)
    for key, value in values.items():
        print(f"{key:{width}s}  {value:.6g}" if isinstance(value, float) else f"{key:{width}s}  {value}")
    print(f"gankit: wrote {out_dir / 'eval.json'}")
    return 0


def cmd_data(args) -> int:
    from gankit.data.fetch import fetch

    paths = fetch(args.name, Path(args.to), base_url=args.base_url, progress=sys.stderr.isatty())
    for path in paths:
        print(f"gankit: {path}")
    print(f"gankit: {args.name} is ready; train on it with: gankit train data={paths[-1] if args.name == 'cifar10' else args.to}")
    return 0


def cmd_keys(args) -> int:
    import dataclasses

    from gankit.config import NAMED_PRESETS, Config

    if args.presets:
        for name, values in NAMED_PRESETS.items():
            print(f"{name:18s} " + " ".join(f"{k}={v}" for k, v in values.items()))
        return 0
    for f in dataclasses.fields(Config):
        default = "(preset)" if f.default is None else repr(f.default)
        print(f"{f.name:18s} {default:12s} {f.metadata['help']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may stand anywhere after `train`, also between options (argparse alone
    # would take only one run of positionals).
    if args.command == "train":
        args.overrides += [e for e in extra if "=" in e and not e.startswith("-")]
        extra = [e for e in extra if not ("=" in e and not e.startswith("-"))]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.version:
        from gankit import __version__

        print(f"gankit {__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 0
    handler = {"train": cmd_train, "sample": cmd_sample, "theory": cmd_theory, "report": cmd_report,
               "compare": cmd_compare, "eval": cmd_eval, "data": cmd_data, "keys": cmd_keys}[args.command]
    try:
        return handler(args)
    except GankitError as err:
        print(f"gankit: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("gankit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
