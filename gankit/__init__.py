"""gankit: generative adversarial networks exactly as the theory describes them.

    import gankit
    result = gankit.train(gankit.Config(objective="ns-gan"))
    print(result.metrics)

See docs/theory.md for the equations each module implements.
"""

__version__ = "0.1.0"

from gankit.config import Config  # noqa: E402
from gankit.errors import GankitError  # noqa: E402


def train(config: "Config", out=None, **kwargs):
    """Train the GAN ``config`` describes; see :func:`gankit.train.train`."""
    from gankit.train import train as _train

    return _train(config, out, **kwargs)


__all__ = ["Config", "GankitError", "train", "__version__"]
