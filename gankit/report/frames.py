"""The training animation of a 2-D toy run (config key ``frame_every``).

Every ``frame_every`` iterations a small frame is written to
``RUN/frames/NNNNNNN.png`` (NNNNNNN = the iteration): the generator's
samples of one fixed noise batch (gold) over real points (black), and D's
output as a heatmap beneath (blue = fake, red = real, as in samples.png).
At the end of the run the frames are assembled into ``RUN/animation.gif``.

A frame is drawn with numpy and Pillow, not matplotlib, on a grid fixed for
the whole run (so frames line up): one batched D evaluation on
``HEAT`` × ``HEAT`` points, one G evaluation of ``N_POINTS``, no figure.
With the default 512-wide MLPs that is about 0.04 s of CPU time, most of it
D on the grid (``Frames.seconds`` keeps the wall-time total, summary.json
gets ``seconds_per_frame``; the test checks the CPU time stays under 0.3 s). For gan / ns-gan the heatmap is D(x) = sigmoid(logit) on
[0, 1]; a critic's scores have no scale, so they are stretched to the
frame's own range.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import nn

from gankit.checkpoint import atomic_write_bytes

FRAMES_DIR = "frames"
ANIMATION_FILE = "animation.gif"
SIZE = 240  #: frame side in pixels (plus a caption strip)
HEAT = 40  #: heatmap resolution: D evaluations per side (upsampled bilinearly; D on the grid is most of the cost)
N_POINTS = 500  #: real and generated points per frame
CAPTION = 16  #: caption strip height in pixels


def default_frame_every(iterations: int) -> int:
    """About 20 frames per run (and at least one iteration apart)."""
    return max(1, iterations // 20) if iterations > 0 else 0


def _colormap() -> np.ndarray:
    """The 256 RGB colours of matplotlib's RdBu_r (the heatmap of samples.png), uint8 (256, 3)."""
    from matplotlib import colormaps

    return (colormaps["RdBu_r"](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)


class Frames:
    """Writes the frames of one run and assembles the animation.

    Args:
        run_dir: the run folder.
        dist: the toy distribution (2-D); real points and the fixed view come from it.
        z: the fixed noise batch, (n, z_dim), on the run's device.
        every: iterations between frames (0: off).
        wasserstein: D is a critic (raw scores) rather than a classifier (logits).
        start_iteration: frames after it are removed (0: a new run, all are removed).
        seed: seeds the real points.
    """

    def __init__(self, run_dir: Path, dist, z: torch.Tensor, every: int, *, wasserstein: bool,
                 start_iteration: int = 0, seed: int = 0) -> None:
        self.dir, self.every, self.z, self.wasserstein = Path(run_dir) / FRAMES_DIR, every, z, wasserstein
        self.seconds, self.count, self.last = 0.0, 0, -1
        remove_stale(run_dir, start_iteration)
        real = dist.sample(N_POINTS, torch.Generator().manual_seed(seed)).cpu().float().numpy()
        lo, hi = np.quantile(real, 0.005, axis=0), np.quantile(real, 0.995, axis=0)
        centre, half = (lo + hi) / 2, (hi - lo).max() / 2 * 1.3 + 1e-3  # square view, 30% margin
        self.lo, self.hi = centre - half, centre + half
        xs = np.linspace(self.lo[0], self.hi[0], HEAT)
        ys = np.linspace(self.hi[1], self.lo[1], HEAT)  # image rows run top to bottom
        gx, gy = np.meshgrid(xs, ys)
        self.grid = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1)).float().to(z.device)
        self.real_px = self._pixels(real)
        self.cmap = _colormap()

    @classmethod
    def for_run(cls, config, run_dir: Path | None, dist, device: torch.device, *, wasserstein: bool,
                start_iteration: int = 0, seed: int = 0) -> "Frames | None":
        """The Frames of a run, or None when the run writes none (frame_every = 0 or no run folder)."""
        if run_dir is None:
            return None
        if not config.frame_every or config.iterations == 0:
            remove_stale(run_dir, start_iteration)  # a run folder replaced by --overwrite keeps no old animation
            return None
        g = torch.Generator(device).manual_seed(seed)
        if config.z_dist == "normal":
            z = torch.randn(N_POINTS, config.z_dim, generator=g, device=device)
        else:
            z = torch.rand(N_POINTS, config.z_dim, generator=g, device=device) * 2 - 1
        return cls(run_dir, dist, z, config.frame_every, wasserstein=wasserstein, start_iteration=start_iteration,
                   seed=seed)

    def _pixels(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column pixel indices of the points inside the view."""
        u = (points - self.lo) / (self.hi - self.lo)
        inside = np.all((u >= 0) & (u < 1), axis=1)
        col = (u[inside, 0] * SIZE).astype(int)
        row = ((1 - u[inside, 1]) * SIZE).astype(int).clip(0, SIZE - 1)
        return row, col

    def maybe_save(self, iteration: int, G: nn.Module, D: nn.Module, g_steps: int = 1) -> None:
        """Save a frame when ``iteration`` has just crossed a multiple of ``every``."""
        if iteration % self.every < g_steps and iteration != self.last:
            self.save(iteration, G, D)

    @torch.no_grad()
    def save(self, iteration: int, G: nn.Module, D: nn.Module) -> Path:
        """Draw and write the frame of ``iteration``; returns its path."""
        t0 = time.perf_counter()
        modes = G.training, D.training
        G.eval(), D.eval()
        try:
            fake = G(self.z).float().cpu().numpy()
            out = D(self.grid).float().flatten().cpu()
        finally:
            G.train(modes[0]), D.train(modes[1])
        if self.wasserstein:
            heat = (out - out.min()) / (out.max() - out.min()).clamp_min(1e-12)
        else:
            heat = torch.sigmoid(out)
        index = (heat.numpy().reshape(HEAT, HEAT) * 255).round().astype(np.uint8)
        picture = Image.fromarray(self.cmap[index]).resize((SIZE, SIZE), Image.BILINEAR)
        pixels = np.asarray(picture).copy()
        for (row, col), colour, alpha in ((self.real_px, (0, 0, 0), 0.55), (self._pixels(fake), (255, 200, 0), 0.9)):
            for dr in (0, 1):  # 2×2-pixel dots
                for dc in (0, 1):
                    r, c = (row + dr).clip(0, SIZE - 1), (col + dc).clip(0, SIZE - 1)
                    pixels[r, c] = (alpha * np.array(colour) + (1 - alpha) * pixels[r, c]).astype(np.uint8)
        frame = Image.new("RGB", (SIZE, SIZE + CAPTION), "white")
        frame.paste(Image.fromarray(pixels), (0, 0))
        ImageDraw.Draw(frame).text((4, SIZE + 2), f"iteration {iteration}", fill=(0, 0, 0))
        buf = io.BytesIO()
        frame.quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(buf, format="PNG")  # 4x smaller, same look
        path = self.dir / f"{iteration:07d}.png"
        self.dir.mkdir(exist_ok=True)
        atomic_write_bytes(path, lambda fh: fh.write(buf.getvalue()))
        self.seconds += time.perf_counter() - t0
        self.count += 1
        self.last = iteration
        return path

    def finish(self, iteration: int, G: nn.Module, D: nn.Module) -> dict[str, float | int]:
        """Save the last frame if it is missing, assemble RUN/animation.gif.

        Returns ``frames`` (frames in the animation) and ``seconds_per_frame``
        (the mean drawing and writing time of this session's frames), for summary.json.
        """
        if iteration > 0 and iteration != self.last and not (self.dir / f"{iteration:07d}.png").exists():
            self.save(iteration, G, D)
        assemble_gif(self.dir, self.dir.parent / ANIMATION_FILE)
        return {"frames": len(list(self.dir.glob("[0-9]*.png"))),
                "seconds_per_frame": round(self.seconds / self.count, 4) if self.count else None}


def remove_stale(run_dir: Path, start_iteration: int) -> None:
    """Remove the frames after ``start_iteration`` (all of them, and the animation, for a new run)."""
    frames_dir = Path(run_dir) / FRAMES_DIR
    for old in frames_dir.glob("*.png") if frames_dir.is_dir() else []:
        if not old.stem.isdigit() or int(old.stem) > start_iteration or start_iteration == 0:
            old.unlink()
    if start_iteration == 0:
        (Path(run_dir) / ANIMATION_FILE).unlink(missing_ok=True)


def assemble_gif(frames_dir: Path, path: Path, *, seconds_per_frame: float = 0.2, hold_last: float = 1.5) -> Path | None:
    """All ``frames_dir/*.png`` in iteration order as one looping GIF (the last frame held); None if no frames."""
    files = sorted(Path(frames_dir).glob("[0-9]*.png"))
    if not files:
        return None
    images = []
    for f in files:
        with Image.open(f) as im:
            images.append(im.convert("RGB").quantize(colors=96, method=Image.Quantize.MEDIANCUT))
    durations = [int(seconds_per_frame * 1000)] * (len(images) - 1) + [int(hold_last * 1000)]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    atomic_write_bytes(Path(path), lambda fh: fh.write(buf.getvalue()))
    return Path(path)
