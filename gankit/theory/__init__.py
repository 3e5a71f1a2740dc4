"""The checkable claims of docs/theory.md, as experiments.

``EXPERIMENTS`` maps each name to an :class:`Experiment` with ``.name``,
``.section``, ``.summary`` and ``.run(out_dir, *, quick=False, seed=0,
progress=True) -> dict``; :func:`run_all` runs every one and writes
``out_dir/index.md`` and a self-contained ``out_dir/index.html``. Importing
this package imports torch, not matplotlib; figures are drawn with the Agg
backend only when an experiment runs. See docs/theory_experiments.md.
"""

from gankit.theory import (  # noqa: F401  (each module registers its experiment)
    equilibrium,
    k_steps,
    lipschitz_check,
    optimal_discriminator,
    saturation,
    wasserstein_critic,
)
from gankit.theory.index import run_all
from gankit.theory.registry import EXPERIMENTS as _REGISTERED, Experiment

# The order of the index and of ``gankit theory --list``: the order of THEORY.md.
ORDER = ("optimal-discriminator", "equilibrium", "saturation", "k-steps", "wasserstein-critic", "lipschitz")
EXPERIMENTS: dict[str, Experiment] = {name: _REGISTERED[name] for name in ORDER}

__all__ = ["EXPERIMENTS", "Experiment", "run_all"]
