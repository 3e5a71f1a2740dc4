"""Sample grids as PNG files, with Pillow only.

Images arrive as generator outputs, floats in [-1, 1] (docs/theory.md §1),
and are mapped back to pixels with the inverse of the data scaling,
v = round((x + 1) · 127.5). Files are written atomically (temp file in the
same folder, then os.replace), so a viewer never shows half a PNG.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from gankit.data.images import atomic_write, float_to_uint8

PADDING = 2  # pixels between and around tiles


def make_grid(images: torch.Tensor, nrow: int | None = None, padding: int = PADDING) -> np.ndarray:
    """Tile float images (N, C, H, W) in [-1, 1] into one uint8 array.

    ``nrow`` images per row (default ceil(sqrt(N))); ``padding`` black pixels
    between and around tiles. Returns (rows·(H+p)+p, nrow·(W+p)+p) for C = 1,
    with a trailing 3 for C = 3.
    """
    assert images.dim() == 4 and images.shape[1] in (1, 3), tuple(images.shape)
    n, c, h, w = images.shape
    assert n >= 1, "no images to tile"
    cols = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    pixels = float_to_uint8(images).permute(0, 2, 3, 1).cpu().numpy()  # (N, H, W, C)
    grid = np.zeros((rows * (h + padding) + padding, cols * (w + padding) + padding, c), dtype=np.uint8)
    for i in range(n):
        top, left = padding + (i // cols) * (h + padding), padding + (i % cols) * (w + padding)
        grid[top : top + h, left : left + w] = pixels[i]
    return grid[:, :, 0] if c == 1 else grid


def save_grid(images: torch.Tensor, path: str | os.PathLike, nrow: int | None = None) -> Path:
    """Write float images (N, C, H, W) in [-1, 1] as one PNG grid, atomically.

    Args:
        images: N images, C = 1 (grayscale PNG) or 3 (RGB PNG).
        path: destination .png.
        nrow: images per row (default ceil(sqrt(N))).

    Returns:
        The destination path.
    """
    grid = make_grid(images, nrow)
    picture = Image.fromarray(grid, "L" if grid.ndim == 2 else "RGB")
    path = Path(path)
    atomic_write(path, lambda f: picture.save(f, format="PNG"))
    return path


def interpolate_latents(z_start: torch.Tensor, z_end: torch.Tensor, steps: int) -> torch.Tensor:
    """Points on the straight lines z_start -> z_end: (K, D), (K, D) -> (K·steps, D), row-major."""
    assert z_start.shape == z_end.shape and z_start.dim() == 2, (tuple(z_start.shape), tuple(z_end.shape))
    assert steps >= 2, steps
    t = torch.linspace(0.0, 1.0, steps, dtype=z_start.dtype, device=z_start.device).view(1, steps, 1)
    z = z_start[:, None, :] + t * (z_end - z_start)[:, None, :]
    return z.reshape(-1, z_start.shape[1])


@torch.no_grad()
def save_interpolation_strip(
    generator: nn.Module,
    z_start: torch.Tensor,
    z_end: torch.Tensor,
    path: str | os.PathLike,
    steps: int = 8,
) -> Path:
    """One row per (z_start[k], z_end[k]) pair, ``steps`` images along the line, as a PNG.

    The generator is switched to eval mode for the call and restored after.
    """
    was_training = generator.training
    generator.eval()
    try:
        images = generator(interpolate_latents(z_start, z_end, steps))
    finally:
        generator.train(was_training)
    return save_grid(images, path, nrow=steps)
