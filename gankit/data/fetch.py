"""Download the public image datasets, verified by SHA-256, atomically.

``fetch(name, to_dir)`` streams each archive of a dataset from its mirrors
(first that works wins) into a temporary file in ``to_dir`` while hashing it,
checks the length and the SHA-256 digest, and only then moves it into place
with os.replace: an interrupted, truncated, corrupted or missing (404)
download raises DataError and leaves no partial file. Files already present
with the right digest are not downloaded again. CIFAR-10's tarball is then
extracted (regular files under ``cifar-10-batches-py/`` only) for
:func:`gankit.data.images.load_images`.

The digests are the SHA-256 values of the canonical public archives (the
same bytes as the MD5s torchvision publishes).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gankit.errors import DataError

CHUNK = 1 << 20  # bytes per read
TIMEOUT_S = 60.0  # socket timeout per request


@dataclass(frozen=True)
class RemoteFile:
    """One archive of a dataset: its file name on the mirrors and its SHA-256."""

    name: str
    sha256: str


@dataclass(frozen=True)
class Source:
    """A downloadable dataset: mirrors (base URLs ending in '/'), files, folder to extract."""

    mirrors: tuple[str, ...]
    files: tuple[RemoteFile, ...]
    extract: str | None = None  # top-level folder inside a tarball, extracted beside it


SOURCES: dict[str, Source] = {
    "mnist": Source(
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        files=(
            RemoteFile("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            RemoteFile("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
            RemoteFile("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        ),
    ),
    "fashion-mnist": Source(
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                 "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        files=(
            RemoteFile("train-images-idx3-ubyte.gz", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
            RemoteFile("train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
            RemoteFile("t10k-images-idx3-ubyte.gz", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
        ),
    ),
    "cifar10": Source(
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        files=(RemoteFile("cifar-10-python.tar.gz", "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),),
        extract="cifar-10-batches-py",
    ),
}


def fetch(name: str, to_dir: str | os.PathLike, *, base_url: str | None = None, progress: bool = True) -> list[Path]:
    """Download and verify dataset ``name`` into ``to_dir``.

    Args:
        name: one of ``SOURCES`` (mnist, fashion-mnist, cifar10).
        to_dir: target folder (created if missing).
        base_url: use this mirror instead of the built-in ones (tests, local caches).
        progress: show a tqdm bar per file.

    Returns:
        The verified archives in table order, then the extracted folder if
        the dataset has one (cifar10). For the IDX sets, the first path is
        the training images, which :func:`load_images` reads with its labels.

    Raises:
        DataError: unknown name, or a download that fails every mirror.
    """
    if name not in SOURCES:
        raise DataError(f"{name}: unknown dataset to fetch; choose one of {', '.join(SOURCES)}")
    source = SOURCES[name]
    folder = Path(to_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"{folder}: cannot create the download folder ({err}); choose a writable one") from None
    mirrors = (base_url if base_url.endswith("/") else base_url + "/",) if base_url else source.mirrors
    paths = [_fetch_file(remote, folder, mirrors, progress) for remote in source.files]
    if source.extract is not None:
        paths.append(extract_tarball(paths[0], source.extract))
    return paths


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch_file(remote: RemoteFile, folder: Path, mirrors: tuple[str, ...], progress: bool) -> Path:
    """One verified file in ``folder``: kept if already good, else downloaded from the first good mirror."""
    target = folder / remote.name
    if target.is_file() and sha256_of(target) == remote.sha256:
        return target
    problems = []
    for mirror in mirrors:
        try:
            download(mirror + remote.name, target, remote.sha256, progress=progress)
            return target
        except DataError as err:
            problems.append(str(err))
    raise DataError(" | ".join(problems) if len(problems) > 1 else problems[0])


def download(url: str, target: Path, sha256: str, *, progress: bool = True) -> None:
    """Stream ``url`` to a temp file beside ``target``, verify length and SHA-256, os.replace.

    Raises:
        DataError: HTTP error, network failure, short body, or digest mismatch
            (no partial file is left behind).
    """
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as err:
        raise DataError(f"{target.parent}: cannot write the download ({err}); choose a writable folder") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest, received, expected = _stream(url, out, target.name, progress)
        if expected is not None and received != expected:
            raise DataError(f"{url}: download truncated ({received} of {expected} bytes); try again")
        if digest != sha256:
            raise DataError(f"{url}: SHA-256 {digest[:16]}... does not match the expected {sha256[:16]}...; "
                            f"the download is corrupted, try again or another mirror")
        os.replace(tmp, target)
    except OSError as err:
        raise DataError(f"{target}: cannot move the download into place ({err}); remove what is there") from None
    finally:
        tmp.unlink(missing_ok=True)


def _stream(url: str, out, label: str, progress: bool) -> tuple[str, int, int | None]:
    """Copy the body of ``url`` into ``out`` in chunks; returns (sha256 hex, bytes, Content-Length)."""
    from tqdm import tqdm

    digest, received = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            with tqdm(total=expected, unit="B", unit_scale=True, desc=label, disable=not progress,
                      leave=False) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as err:
        raise DataError(f"{url}: HTTP {err.code} {err.reason}; check the name or use another mirror "
                        f"(base_url)") from None
    except urllib.error.URLError as err:
        raise DataError(f"{url}: cannot connect ({err.reason}); check the network or use base_url") from None
    except (http.client.HTTPException, OSError) as err:
        raise DataError(f"{url}: download failed ({type(err).__name__}: {err}); try again") from None
    return digest.hexdigest(), received, expected


def extract_tarball(archive: Path, top: str) -> Path:
    """Extract the regular files under ``top/`` of a verified tarball, beside it, atomically.

    Members outside ``top/``, links, devices and absolute or '..' paths are
    refused. The folder is built in a temp folder and moved into place; an
    existing ``top`` folder is kept as is.
    """
    final = archive.parent / top
    if final.is_dir():
        return final
    staging = Path(tempfile.mkdtemp(dir=archive.parent, prefix=f".{top}."))
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = [_checked_member(m, top, archive) for m in tar.getmembers()]
            for member in members:
                if member.isfile():
                    _extract_member(tar, member, staging)
        if not (staging / top).is_dir():
            raise DataError(f"{archive}: archive has no {top}/ folder; it is not the expected dataset")
        os.replace(staging / top, final)
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DataError(f"{archive}: cannot extract ({err}); delete it and fetch again") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _checked_member(member: tarfile.TarInfo, top: str, archive: Path) -> tarfile.TarInfo:
    """A tar member that is a plain file or folder under ``top/``, else DataError."""
    parts = PurePosixPath(member.name).parts
    safe = parts and parts[0] == top and ".." not in parts and not member.name.startswith("/")
    if not safe or not (member.isfile() or member.isdir()):
        raise DataError(f"{archive}: unexpected archive member {member.name!r}; refusing to extract it")
    return member


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, staging: Path) -> None:
    """Copy one regular file member to ``staging``/its name."""
    dest = staging.joinpath(*PurePosixPath(member.name).parts)
    dest.parent.mkdir(parents=True, exist_ok=True)
    source = tar.extractfile(member)
    assert source is not None, member.name
    with source, open(dest, "wb") as out:
        shutil.copyfileobj(source, out, CHUNK)
