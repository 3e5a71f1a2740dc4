"""Tests for gankit.data.fetch against a local HTTP server (no network)."""

from __future__ import annotations

import hashlib
import io
import pickle
import re
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from gankit.data import fetch as fetch_module
from gankit.data.fetch import RemoteFile, Source, fetch
from gankit.data.images import load_images
from gankit.errors import DataError

GOOD = b"gankit test payload " * 1000


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Server:
    """Routes: URL path -> (status, body, Content-Length to declare). Counts GETs per path."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, int]] = {}
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                status, body, length = server.routes.get(self.path, (404, b"not found", 9))
                self.send_response(status)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    def serve(self, path: str, body: bytes, *, status: int = 200, length: int | None = None) -> None:
        self.routes[path] = (status, body, len(body) if length is None else length)


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture
def one_file(monkeypatch: pytest.MonkeyPatch) -> RemoteFile:
    """Point the 'mnist' entry of the table at one small file whose digest is GOOD's."""
    remote = RemoteFile("train-images-idx3-ubyte.gz", _sha(GOOD))
    monkeypatch.setitem(fetch_module.SOURCES, "mnist", Source(mirrors=("http://unused.invalid/",), files=(remote,)))
    return remote


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_table_has_real_sha256_for_every_file() -> None:
    assert set(fetch_module.SOURCES) == {"mnist", "fashion-mnist", "cifar10"}
    for source in fetch_module.SOURCES.values():
        assert source.mirrors and all(m.endswith("/") for m in source.mirrors)
        for remote in source.files:
            assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256), remote
    mnist = {f.name: f.sha256 for f in fetch_module.SOURCES["mnist"].files}
    assert mnist["train-images-idx3-ubyte.gz"].startswith("440fcabf73cc546f")


def test_good_download_then_skipped(server: _Server, one_file: RemoteFile, tmp_path: Path) -> None:
    server.serve("/m/train-images-idx3-ubyte.gz", GOOD)
    paths = fetch("mnist", tmp_path / "data", base_url=server.url + "/m", progress=False)
    assert paths == [tmp_path / "data" / "train-images-idx3-ubyte.gz"]
    assert paths[0].read_bytes() == GOOD and _names(tmp_path / "data") == ["train-images-idx3-ubyte.gz"]
    fetch("mnist", tmp_path / "data", base_url=server.url + "/m", progress=False)
    assert server.hits["/m/train-images-idx3-ubyte.gz"] == 1  # verified file not fetched again


def test_bad_local_copy_is_replaced(server: _Server, one_file: RemoteFile, tmp_path: Path) -> None:
    server.serve("/train-images-idx3-ubyte.gz", GOOD)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"stale")
    fetch("mnist", tmp_path, base_url=server.url, progress=True)
    assert (tmp_path / "train-images-idx3-ubyte.gz").read_bytes() == GOOD


def test_corrupted_download(server: _Server, one_file: RemoteFile, tmp_path: Path) -> None:
    server.serve("/train-images-idx3-ubyte.gz", GOOD[:-1] + b"X")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: SHA-256 .* does not match") as err:
        fetch("mnist", tmp_path, base_url=server.url, progress=False)
    assert "\n" not in str(err.value)
    assert _names(tmp_path) == []  # no partial, no temp


def test_truncated_download(server: _Server, one_file: RemoteFile, tmp_path: Path) -> None:
    server.serve("/train-images-idx3-ubyte.gz", GOOD[:5000], length=len(GOOD))
    with pytest.raises(DataError, match=r"download truncated \(5000 of 20000 bytes\)"):
        fetch("mnist", tmp_path, base_url=server.url, progress=False)
    assert _names(tmp_path) == []


def test_404(server: _Server, one_file: RemoteFile, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: HTTP 404"):
        fetch("mnist", tmp_path, base_url=server.url, progress=False)
    assert _names(tmp_path) == []


def test_falls_back_to_next_mirror(server: _Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    remote = RemoteFile("a.gz", _sha(GOOD))
    mirrors = (server.url + "/dead/", server.url + "/live/")
    monkeypatch.setitem(fetch_module.SOURCES, "fashion-mnist", Source(mirrors=mirrors, files=(remote,)))
    server.serve("/live/a.gz", GOOD)
    assert fetch("fashion-mnist", tmp_path, progress=False)[0].read_bytes() == GOOD
    assert server.hits == {"/dead/a.gz": 1, "/live/a.gz": 1}


def test_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown dataset to fetch; choose one of mnist, fashion-mnist, cifar10"):
        fetch("imagenet", tmp_path)


def _tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _use_cifar(monkeypatch: pytest.MonkeyPatch, archive: bytes) -> None:
    remote = RemoteFile("cifar-10-python.tar.gz", _sha(archive))
    source = Source(mirrors=("http://unused.invalid/",), files=(remote,), extract="cifar-10-batches-py")
    monkeypatch.setitem(fetch_module.SOURCES, "cifar10", source)


def test_cifar_archive_extracted_and_loadable(server: _Server, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    data = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    batch = pickle.dumps({"data": data, "labels": [4, 2]}, protocol=2)
    archive = _tarball({"cifar-10-batches-py/data_batch_1": batch, "cifar-10-batches-py/test_batch": batch})
    _use_cifar(monkeypatch, archive)
    server.serve("/cifar-10-python.tar.gz", archive)
    paths = fetch("cifar10", tmp_path, base_url=server.url, progress=False)
    assert paths == [tmp_path / "cifar-10-python.tar.gz", tmp_path / "cifar-10-batches-py"]
    assert _names(tmp_path) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
    loaded = load_images(paths[1])
    assert loaded.images.shape == (2, 3, 32, 32) and loaded.labels.tolist() == [4, 2]


def test_cifar_archive_with_escaping_member_refused(server: _Server, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    archive = _tarball({"cifar-10-batches-py/data_batch_1": b"x", "cifar-10-batches-py/../../evil": b"x"})
    _use_cifar(monkeypatch, archive)
    server.serve("/cifar-10-python.tar.gz", archive)
    with pytest.raises(DataError, match="unexpected archive member 'cifar-10-batches-py/../../evil'"):
        fetch("cifar10", tmp_path / "in", base_url=server.url, progress=False)
    assert _names(tmp_path / "in") == ["cifar-10-python.tar.gz"] and not (tmp_path / "evil").exists()
