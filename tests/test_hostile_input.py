"""Hostile input: every bad config, folder or dataset gives one line, exit 2, and writes nothing.

The property-based tests feed arbitrary text, bytes and dicts to the config
parser and the dataset loaders: each either succeeds or raises GankitError,
never anything else.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gankit.cli import main
from gankit.config import KEYS, Config, build_config, load_toml, parse_overrides
from gankit.data.images import load_images
from gankit.errors import GankitError

TINY = ["iterations=2", "batch_size=8", "g_hidden=8", "d_hidden=8", "eval_samples=16", "log_every=1", "frame_every=0"]

BAD_CONFIGS = {
    "unknown key": ["bogus=1"],
    "wrong type": ["d_steps=two"],
    "bool type": ["spectral_norm=maybe"],
    "out of range": ["batch_size=0"],
    "not finite": ["lr_d=nan"],
    "negative seed": ["seed=-1"],
    "huge float": ["lr_d=" + "9" * 400],
    "huge int": ["batch_size=" + "9" * 5000],
    "bad choice": ["optimizer=adamw"],
    "not key=value": ["d_steps"],
    "empty key": ["=3"],
    "conflict clip/wgan-gp": ["clip=0.01", "objective=wgan-gp"],
    "conflict batch norm/penalty": ["d_norm=batch", "data=digits", "objective=wgan-gp"],
    "checkpoint_every vs log_every": ["log_every=4", "checkpoint_every=6"],
    "missing data path": ["data=/nonexistent/images.npz"],
    "nul in data path": ["data=a\0b"],
    "toml syntax": ["--config", "syntax.toml"],
    "toml section": ["--config", "section.toml"],
    "toml binary": ["--config", "binary.toml"],
    "toml wrong type": ["--config", "types.toml"],
    "toml missing": ["--config", "missing.toml"],
    "toml folder": ["--config", "."],
    "resume with an override": ["--resume", "old", "lr_d=1"],
}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "syntax.toml").write_text("objective = 'wgan\nd_steps = = 5\n")
    (tmp_path / "section.toml").write_text("[train]\nd_steps = 5\n")
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00garbage\x80")
    (tmp_path / "types.toml").write_text("d_steps = '5'\n")
    return tmp_path


def run_cli(args, capsys) -> tuple[int, str]:
    rc = main(["train", *args])
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("args", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_bad_config_one_line_exit_2_nothing_written(workdir, capsys, args):
    before = sorted(p.name for p in workdir.iterdir())
    rc, err = run_cli([*args, "--out", "run"], capsys)
    assert rc == 2
    assert err.startswith("gankit: error: ") and err.count("\n") == 1, err
    assert sorted(p.name for p in workdir.iterdir()) == before, "something was written"


def test_real_process_exit_code_and_nothing_written(tmp_path):
    (tmp_path / "afile").write_text("x")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for args in (["bogus=1"], ["--out", "afile/run", *TINY]):
        proc = subprocess.run([sys.executable, "-m", "gankit", "train", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and proc.stderr.startswith("gankit: error: "), proc.stderr
        assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
        assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_output_folder_refusals(workdir, capsys):
    (workdir / "afile").write_text("x")
    rc, err = run_cli(["--out", "afile", *TINY], capsys)
    assert rc == 2 and "is a file" in err
    rc, err = run_cli(["--out", "afile/run", *TINY], capsys)
    assert rc == 2 and "afile is a file, not a folder" in err
    # An existing run without --resume/--overwrite is left byte for byte as it was.
    assert run_cli(["--out", "run", *TINY], capsys)[0] == 0
    files = {p: p.read_bytes() for p in (workdir / "run").rglob("*") if p.is_file()}
    rc, err = run_cli(["--out", "run", *TINY], capsys)
    assert rc == 2 and "already exists" in err and "--resume" in err
    assert {p: p.read_bytes() for p in (workdir / "run").rglob("*") if p.is_file()} == files
    # A folder that is not a run is never overwritten.
    (workdir / "mine").mkdir()
    (workdir / "mine" / "thesis.tex").write_text("precious")
    rc, err = run_cli(["--out", "mine", "--overwrite", *TINY], capsys)
    assert rc == 2 and "not a gankit run folder" in err and (workdir / "mine" / "thesis.tex").exists()


def test_dataset_smaller_than_one_batch(workdir, capsys):
    np.savez(workdir / "tiny.npz", x=np.zeros((4, 28, 28, 1), np.uint8))
    rc, err = run_cli(["data=tiny.npz", "batch_size=8", "iterations=1", "--out", "run"], capsys)
    assert rc == 2 and "batch_size" in err and "4 images" in err
    assert not (workdir / "run").exists(), "the run folder is created only once the data is loaded"


# ----------------------------------------------------------------------------
# property-based: the parser
# ----------------------------------------------------------------------------
VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-2**70, max_value=2**70),
                   st.floats(), st.text(max_size=12), st.sampled_from(["gan", "wgan", "ring8", "digits", "adam"]),
                   st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
KEY_NAMES = st.one_of(st.sampled_from(KEYS), st.text(max_size=10))


def _gankit_or_ok(fn, *args):
    try:
        return fn(*args)
    except GankitError as err:
        assert str(err) and "\n" not in str(err), repr(str(err))
        return None


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=20), st.builds(lambda k, v: f"{k}={v}", KEY_NAMES, st.text(max_size=8))),
                max_size=4))
def test_parse_overrides_returns_values_or_gankit_error(pairs):
    values = _gankit_or_ok(parse_overrides, pairs)
    if values is not None:
        _gankit_or_ok(build_config, values)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEY_NAMES, VALUES, max_size=5))
def test_build_config_returns_a_config_or_gankit_error(values):
    config = _gankit_or_ok(build_config, values)
    if config is not None:
        assert isinstance(config, Config) and build_config(config.to_dict()) == config


TOML_TEXT = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=64).map(str.encode),
    st.lists(st.builds(lambda k, v: f"{k} = {v}", KEY_NAMES.filter(lambda k: "\n" not in k),
                       st.sampled_from(["5", "'x'", "1e-4", "true", "[1, 2]", "{a = 1}", "nan", "inf", "'", "0x10",
                                        "1979-05-27", "\"\\u0000\"", "-0"])), max_size=4)
    .map(lambda lines: "\n".join(lines).encode()),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(TOML_TEXT)
def test_load_toml_on_arbitrary_bytes(tmp_path, raw):
    path = tmp_path / "c.toml"
    path.write_bytes(raw)
    values = _gankit_or_ok(load_toml, path)
    if values is not None:
        _gankit_or_ok(build_config, values)


def test_load_toml_deep_nesting():
    path_text = "x = " + "[" * 3000 + "]" * 3000 + "\n"
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "c.toml").write_text(path_text)
        _gankit_or_ok(load_toml, Path(d) / "c.toml")


# ----------------------------------------------------------------------------
# property-based: the dataset loaders
# ----------------------------------------------------------------------------
def _idx(code: int, dims: list[int], payload: bytes) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload


IDX_BYTES = st.one_of(
    st.binary(max_size=64),
    st.builds(_idx, st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07]),
              st.lists(st.one_of(st.integers(0, 5), st.integers(0, 2**32 - 1)), min_size=0, max_size=5),
              st.binary(max_size=200)),
)
DTYPES = st.sampled_from(["u1", "i1", "<i2", ">i4", "<u8", "<f4", ">f8", "<f2", "?", "<c8", "U3", "S2", "V4"])
SHAPES = st.lists(st.integers(0, 4), min_size=0, max_size=5)


def _array(dtype: str, shape: list[int], fill: bytes) -> np.ndarray:
    dt = np.dtype(dtype)
    n = int(np.prod(shape)) * dt.itemsize
    buf = (fill * (n // max(1, len(fill)) + 1))[:n] if fill else bytes(n)
    return np.frombuffer(buf, dtype=dt).reshape(shape) if n or not shape else np.zeros(shape, dt)


def _npy(array: np.ndarray) -> bytes:
    fh = io.BytesIO()
    np.save(fh, array)
    return fh.getvalue()


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    fh = io.BytesIO()
    np.savez(fh, **arrays)
    return fh.getvalue()


ARRAYS = st.builds(_array, DTYPES, SHAPES, st.binary(max_size=16))
NPY_BYTES = st.one_of(st.binary(max_size=80), ARRAYS.map(_npy),
                      st.tuples(ARRAYS.map(_npy), st.integers(0, 200)).map(lambda t: t[0][: t[1]]))
NPZ_BYTES = st.one_of(
    st.binary(max_size=80),
    st.dictionaries(st.sampled_from(["x", "y", "z"]), ARRAYS, max_size=3).map(_npz),
    st.tuples(st.dictionaries(st.sampled_from(["x", "y"]), ARRAYS, min_size=1, max_size=2).map(_npz),
              st.integers(0, 400)).map(lambda t: t[0][: t[1]]),
)


def _load_or_gankit_error(path: Path) -> None:
    try:
        data = load_images(path)
    except GankitError as err:
        assert "\n" not in str(err)
        return
    images = data.images
    assert images.dtype.is_floating_point is False and images.dim() == 4 and images.shape[1] in (1, 3)
    assert len(data) > 0 and images.shape[2] > 0 and images.shape[3] > 0
    assert data.labels is None or (data.labels.shape == (len(data),) and bool((data.labels >= 0).all()))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(IDX_BYTES, st.booleans())
def test_idx_loader_on_arbitrary_bytes(tmp_path, raw, gz):
    path = tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(raw) if gz else raw)
    _load_or_gankit_error(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(NPY_BYTES)
def test_npy_loader_on_arbitrary_bytes(tmp_path, raw):
    (tmp_path / "d.npy").write_bytes(raw)
    _load_or_gankit_error(tmp_path / "d.npy")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(NPZ_BYTES)
def test_npz_loader_on_arbitrary_bytes(tmp_path, raw):
    (tmp_path / "d.npz").write_bytes(raw)
    _load_or_gankit_error(tmp_path / "d.npz")
