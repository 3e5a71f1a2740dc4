"""Evaluating a generator: toy metrics, or image metrics in a learned feature space.

One entry point, :func:`evaluate_generator`, serves the training loop's
``eval_every`` and ``gankit eval RUN``. Toy runs get the metrics of
``gankit.metrics.toy`` (docs/theory.md §7); image runs get the Fréchet
distance, KID, precision/recall and density/coverage of
``gankit.metrics.image_eval``, in the feature space of a network trained on
the run's real data (or Inception-v3 with ``inception_weights``).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from gankit.metrics.toy import toy_summary
from gankit.sampling import generate

#: What a lower value means, per metric family (for picking the best checkpoint).
LOWER_IS_BETTER = {"w1": True, "jsd": True, "fd": True, "kid": True, "hq_fraction": False,
                   "modes_covered": False, "precision": False, "recall": False, "density": False, "coverage": False}


def evaluate_toy(G: nn.Module, dist, config, seed: int, device: torch.device, n: int | None = None) -> dict[str, Any]:
    """Toy metrics of n (default ``config.eval_samples``) fresh samples of G against as many real ones."""
    n = n or config.eval_samples
    fake = generate(G, n, config, torch.Generator(device).manual_seed(seed), device).cpu()
    real = dist.sample(n, torch.Generator().manual_seed(seed)).cpu()
    return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in toy_summary(fake, real, dist).items()}


def evaluate_images_of(G: nn.Module, images, config, seed: int, device: torch.device, *, n: int,
                       metrics: Sequence[str] = ("fd", "kid", "pr", "dc"), feature_net=None,
                       inception_weights=None, cache_dir=None) -> dict[str, Any]:
    """Image metrics of n samples of G against the run's real images (``ImageData``)."""
    from gankit.data.images import float_to_uint8
    from gankit.metrics.image_eval import evaluate_images

    fake = float_to_uint8(generate(G, n, config, torch.Generator(device).manual_seed(seed), device).cpu())
    return evaluate_images(fake, images.images.cpu(), reference_labels=None if images.labels is None else images.labels.cpu(),
                           metrics=metrics, n=n, seed=seed, feature_net=feature_net,
                           inception_weights=inception_weights, cache_dir=cache_dir)


def evaluate_generator(G: nn.Module, source, config, seed: int, device: torch.device, *, n: int | None = None,
                       **image_options) -> dict[str, Any]:
    """Toy or image metrics of G, by the kind of the run's data (``source``: a distribution or ImageData)."""
    if config.kind == "toy":
        return evaluate_toy(G, source, config, seed, device, n)
    return evaluate_images_of(G, source, config, seed, device, n=n or config.eval_samples, **image_options)


def metric_key(metrics: dict[str, Any], name: str) -> tuple[str, bool]:
    """(the key of ``metrics`` that metric family ``name`` names, whether lower is better).

    ``fd`` names ``fd_lenet`` (or ``fd_inception`` ...); ``w1`` names ``w1``.
    """
    if name not in LOWER_IS_BETTER:
        raise KeyError(name)
    if name in metrics:
        return name, LOWER_IS_BETTER[name]
    for key in metrics:
        if key.startswith(name + "_") and not key.endswith(("_floor", "_noise", "_std")):
            return key, LOWER_IS_BETTER[name]
    raise KeyError(name)


class Evaluator:
    """The loop's ``eval_every`` evaluations, and which iteration was best so far.

    For image data the feature network is trained (or loaded from its cache)
    once, at the first evaluation, on the run's real images.
    """

    def __init__(self, config, source, device: torch.device, seed: int):
        self.config, self.source, self.device, self.seed = config, source, device, seed
        self.metrics = tuple(m.strip() for m in config.eval_metrics.split(","))
        self.best_name = config.best_metric or ("w1" if config.kind == "toy" else "fd")
        self.best_value: float | None = None
        self.feature_net = None

    def __call__(self, G: nn.Module) -> tuple[dict[str, Any], bool]:
        """(the numeric metrics of G, named as in summary.json; whether they are the best so far)."""
        options = {}
        if self.config.kind == "image":
            if self.feature_net is None:
                from gankit.metrics.features import train_feature_net

                images = self.source
                self.feature_net = train_feature_net(images.images.cpu(), images.labels, seed=self.seed)
            options = dict(metrics=self.metrics, feature_net=self.feature_net)
        values = evaluate_generator(G, self.source, self.config, self.seed, self.device, n=self.config.eval_n, **options)
        key, lower = metric_key(values, self.best_name)
        value = float(values[key])
        improved = self.best_value is None or (value < self.best_value if lower else value > self.best_value)
        if improved:
            self.best_value = value
        return {k: v for k, v in values.items() if isinstance(v, (int, float)) and k not in ("seed",)}, improved
