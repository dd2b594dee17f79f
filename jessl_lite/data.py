"""Image data sets as whole uint8 tensors on the training device: MNIST and CIFAR-10.

Self-supervised training on small images is limited by the input pipeline long before the GPU
is busy: a per-sample Python loader decodes and augments one image at a time. Here a whole data
set (at most ~150 MB) is one ``uint8`` tensor ``(N, C, H, W)`` on the device, and
:mod:`jessl_lite.views` augments whole batches of it there. Used by chapters 3, 4, 5 and 7.

Where the files come from, first match wins:

1. the data root ``JESSL_DATA`` (default ``~/.cache/jessl_lite/data``), in any of the layouts
   torchvision writes (``MNIST/raw/*.gz``, ``cifar-10-batches-py/``), the bare MNIST IDX files
   (``mnist/*-ubyte.gz``), or a CIFAR-10 folder of JPEGs ``cifar10-jpeg/{train,test}/<class>/*.jpg``
   (decoded once, then cached as a tensor file under ``JESSL_CACHE``, default
   ``~/.cache/jessl_lite``: never inside the repository);
2. otherwise, when the internet answers within a second, torchvision downloads into the root;
3. otherwise a :class:`FileNotFoundError` names every file looked for and the variable to set.
   A dead network never hangs: the check runs in a thread with a short timeout.

A relative ``JESSL_DATA`` (or ``JESSL_CACHE``) is resolved against the working directory the
first time it is read, and that absolute path is used, and shown in messages, from then on (a
notebook that changes directory still finds the data). A damaged file (a truncated or corrupted
``.gz``, pickle or JPEG, or a JPEG whose md5 differs from a ``MANIFEST.md5`` beside it) raises a
:class:`ValueError` that names the file and the fix. The decoded-JPEG cache is keyed on every
file's name, size and modification time, and is decoded again when it cannot be read.

Example::

    >>> mnist = load_mnist("test", device="cpu")            # doctest: +SKIP
    >>> pretrain, heldout = mnist.split([0.8, 0.2], seed=0)  # doctest: +SKIP
    >>> pretrain.images.shape, pretrain.images.dtype         # doctest: +SKIP
    (torch.Size([8000, 1, 28, 28]), torch.uint8)
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import socket
import threading
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .validation import check_bool, check_choice, check_device, check_int, check_number, check_same_device, check_tensor

__all__ = [
    "DATA_ENV_VAR",
    "CACHE_ENV_VAR",
    "ImageData",
    "data_root",
    "cache_dir",
    "load_mnist",
    "load_cifar10",
    "load_dataset",
    "internet_available",
]

DATA_ENV_VAR = "JESSL_DATA"
CACHE_ENV_VAR = "JESSL_CACHE"

MNIST_CLASSES = tuple(str(d) for d in range(10))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SPLITS = ("train", "test")


@dataclass
class ImageData:
    """A labelled image set held as two tensors.

    Attributes:
        images: ``(N, C, H, W)`` uint8, values 0..255.
        labels: ``(N,)`` int64 class indices.
        classes: class names, ``classes[label]``.
        name: where it came from, e.g. ``"mnist-test"``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    name: str

    def __post_init__(self) -> None:
        check_tensor(self.images, "images", ndim=4, dims="(N, C, H, W)")
        if self.images.dtype != torch.uint8:
            raise TypeError(
                f"images must be a uint8 tensor (values 0..255); got dtype {self.images.dtype}. "
                "Convert float images in [0, 1] with (x * 255).round().to(torch.uint8)"
            )
        check_tensor(self.labels, "labels", ndim=1, dims=f"({self.images.shape[0]},)")
        if self.labels.is_floating_point() or self.labels.is_complex() or self.labels.dtype == torch.bool:
            raise TypeError(f"labels must be an integer tensor of class indices; got dtype {self.labels.dtype}")
        if self.labels.shape != self.images.shape[:1]:
            raise ValueError(
                f"labels must have shape ({self.images.shape[0]},), one per image; got {tuple(self.labels.shape)}"
            )
        check_same_device(self.images, "images", self.labels, "labels")
        if not isinstance(self.classes, Sequence) or isinstance(self.classes, str) or not all(
            isinstance(c, str) for c in self.classes
        ):
            raise TypeError(f"classes must be a sequence of class names (strings); got {self.classes!r}")
        self.classes = tuple(self.classes)
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str; got {type(self.name).__name__}")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def device(self) -> torch.device:
        return self.images.device

    def to(self, device: str | torch.device) -> ImageData:
        """The same data on ``device`` (a no-op when it is already there)."""
        device = check_device(device, "device")
        return ImageData(self.images.to(device), self.labels.to(device), self.classes, self.name)

    def subset(self, index: torch.Tensor | Sequence[int] | Sequence[bool], name: str | None = None) -> ImageData:
        """The rows ``index``: integer positions (negative ones count from the end), or a boolean mask.

        A mask must have one entry per row (``len(self)``); float positions are refused (``0.9``
        would silently be row 0). The positions are checked against ``len(self)``, which reads
        them: ``subset`` is for preparing data, not for the training step.
        """
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None; got {type(name).__name__}")
        rows = _positions(index, len(self)).to(self.images.device)
        return ImageData(self.images[rows], self.labels[rows], self.classes, self.name if name is None else name)

    def split(self, parts: Sequence[float | int], *, seed: int = 0) -> tuple[ImageData, ...]:
        """Disjoint random parts, the same for every machine and run with the same ``seed``.

        Args:
            parts: fractions summing to at most 1 (``[0.8, 0.2]``), or sizes summing to at most
                ``len(self)`` (``[8000, 2000]``).
            seed: seeds a CPU ``torch.Generator`` (so the split does not depend on the device).

        Returns:
            one :class:`ImageData` per part, named ``"<name>[part i]"``.
        """
        sizes = _part_sizes(parts, len(self))
        seed = check_int(seed, "seed", minimum=0)
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        out, start = [], 0
        for i, size in enumerate(sizes):
            out.append(self.subset(order[start : start + size], name=f"{self.name}[part {i}]"))
            start += size
        return tuple(out)


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder data is read from, as an absolute path: ``root``, else ``$JESSL_DATA``, else the default.

    The default is ``~/.cache/jessl_lite/data``.

    A relative ``root`` is taken against the working directory now; a relative ``$JESSL_DATA``
    against the working directory when this process first read it (see the module docstring).
    """
    if root is not None:
        if not isinstance(root, str | os.PathLike):
            raise TypeError(f"root must be a folder (a str or os.PathLike) or None; got {type(root).__name__}")
        return _absolute(root)
    return _env_folder(DATA_ENV_VAR) or Path.home() / ".cache" / "jessl_lite" / "data"


def cache_dir() -> Path:
    """Where decoded tensors are cached, as an absolute path: ``$JESSL_CACHE``, else ``~/.cache/jessl_lite``."""
    return _env_folder(CACHE_ENV_VAR) or Path.home() / ".cache" / "jessl_lite"


def internet_available(host: str = "ossci-datasets.s3.amazonaws.com", port: int = 443, timeout: float = 1.0) -> bool:
    """Whether a TCP connection to ``host`` opens within ``timeout`` seconds.

    Name resolution ignores socket timeouts and can hang for a minute offline, so the whole
    attempt runs in a daemon thread that we stop waiting for after ``timeout``.
    """
    if not isinstance(host, str) or not host:
        raise TypeError(f"host must be a non-empty str (a host name or address); got {host!r}")
    check_int(port, "port", minimum=1, maximum=65535)
    check_number(timeout, "timeout", low=0.0, low_open=True, high=60.0)
    result: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def load_mnist(
    split: str = "test",
    *,
    root: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    download: bool | None = None,
) -> ImageData:
    """MNIST (LeCun et al. 1998) as ``(N, 1, 28, 28)`` uint8 images and int64 labels.

    Args:
        split: ``"train"`` (60000) or ``"test"`` (10000).
        root: data root; ``None`` reads ``JESSL_DATA`` (see :func:`data_root`).
        device: where the tensors go.
        download: ``None`` or ``True`` download with torchvision when the files are missing and
            the internet answers within a second; ``False`` never downloads.

    Raises:
        ValueError: ``split`` is not ``"train"``/``"test"``.
        FileNotFoundError: no copy found (the message names the files looked for).
    """
    _check_split(split)
    device = check_device(device, "device")
    _check_download(download)
    base = data_root(root)
    stem = "train" if split == "train" else "t10k"
    names = (f"{stem}-images-idx3-ubyte", f"{stem}-labels-idx1-ubyte")
    folders = [base / "mnist", base / "MNIST" / "raw", base]
    found = _find_pair(folders, names)
    if found is None and _should_download(download):
        import torchvision

        torchvision.datasets.MNIST(str(base), train=split == "train", download=True)
        found = _find_pair(folders, names)
    if found is None:
        looked = [str(f / (n + ext)) for f in folders for n in names for ext in (".gz", "")]
        raise FileNotFoundError(_missing_message(f"MNIST {split} split", looked, download, root))
    images, labels = _read_idx(found[0]), _read_idx(found[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{found[0]} and {found[1]} do not belong together: images {images.shape}, labels {labels.shape}. "
            + _fix(found[0])
        )
    images = torch.from_numpy(images).unsqueeze(1)
    labels = torch.from_numpy(labels.astype(np.int64))
    return ImageData(images.to(device), labels.to(device), MNIST_CLASSES, f"mnist-{split}")


def load_cifar10(
    split: str = "train",
    *,
    root: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    download: bool | None = None,
) -> ImageData:
    """CIFAR-10 (Krizhevsky 2009) as ``(N, 3, 32, 32)`` uint8 images and int64 labels.

    Reads torchvision's ``cifar-10-batches-py`` (pixel-exact) when present, else a JPEG copy in
    ``cifar10-jpeg/<split>/<class>/*.jpg`` (lossy: channel means match, pixels differ slightly).
    Class indices follow the alphabetical class order, which is CIFAR-10's own.

    Args: as :func:`load_mnist`; ``split`` is ``"train"`` (50000) or ``"test"`` (10000).

    Raises:
        ValueError: bad ``split``.
        FileNotFoundError: no copy found (the message names the places looked in).
    """
    _check_split(split)
    device = check_device(device, "device")
    _check_download(download)
    base = data_root(root)
    batches = base / "cifar-10-batches-py"
    batch_names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    jpeg_dir = base / "cifar10-jpeg" / split

    def locate() -> str | None:
        if all((batches / n).is_file() for n in batch_names):
            return "pickle"
        if jpeg_dir.is_dir():
            return "jpeg"
        return None

    kind = locate()
    if kind is None and _should_download(download):
        import torchvision

        torchvision.datasets.CIFAR10(str(base), train=split == "train", download=True)
        kind = locate()
    if kind is None:
        looked = [str(batches / n) for n in batch_names] + [str(jpeg_dir / "<class>" / "*.jpg")]
        raise FileNotFoundError(_missing_message(f"CIFAR-10 {split} split", looked, download, root))
    if kind == "pickle":
        images, labels = _read_cifar_pickles([batches / n for n in batch_names])
    else:
        images, labels = _read_cifar_jpegs(jpeg_dir)
    return ImageData(images.to(device), labels.to(device), CIFAR10_CLASSES, f"cifar10-{split}")


def load_dataset(name: str, split: str, **kwargs) -> ImageData:
    """``load_mnist`` or ``load_cifar10`` by name (``"mnist"``/``"cifar10"``); for the command line."""
    loaders = {"mnist": load_mnist, "cifar10": load_cifar10}
    if name not in loaders:
        raise ValueError(f"name must be one of {sorted(loaders)}; got {name!r}")
    return loaders[name](split, **kwargs)


# --- helpers -------------------------------------------------------------------------------------


def _check_split(split: str) -> None:
    check_choice(split, "split", SPLITS)


def _check_download(download) -> None:
    if download is not None:
        try:
            check_bool(download, "download")
        except TypeError:
            raise TypeError(f"download must be True, False or None; got {download!r}") from None


# Relative values of JESSL_DATA / JESSL_CACHE, resolved once: {(variable, value): (absolute path, cwd then)}.
_RESOLVED: dict[tuple[str, str], tuple[Path, str]] = {}


def _absolute(path: str | os.PathLike) -> Path:
    # abspath, not resolve(): ".." is folded but symlinks are kept, so messages show the path the user gave.
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))


def _env_folder(variable: str) -> Path | None:
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return None
    if (variable, raw) not in _RESOLVED:
        _RESOLVED[variable, raw] = (_absolute(raw), os.getcwd())
    return _RESOLVED[variable, raw][0]


def _where_from(root) -> str:
    """How the data root was chosen, for messages."""
    if root is not None:
        return f"root={os.fspath(root)!r} ({data_root(root)})"
    raw = os.environ.get(DATA_ENV_VAR, "").strip()
    if not raw:
        return f"the default {data_root()} ({DATA_ENV_VAR} is not set)"
    path = data_root()
    if os.path.isabs(os.path.expanduser(raw)):
        return f"{DATA_ENV_VAR}={raw!r}"
    return f"{DATA_ENV_VAR}={raw!r}, a relative path, resolved against {_RESOLVED[DATA_ENV_VAR, raw][1]} to {path}"


def _positions(index, n: int) -> torch.Tensor:
    """``index`` (positions or a boolean mask) as a 1-D int64 CPU-or-device tensor of positions in ``[0, n)``."""
    if isinstance(index, torch.Tensor):
        rows = index
    elif isinstance(index, str | bytes) or not isinstance(index, Sequence | range | np.ndarray):
        raise TypeError(f"index must be a tensor, list or array of row positions, or a boolean mask; got {index!r}")
    elif len(index) == 0:
        rows = torch.zeros(0, dtype=torch.long)
    else:
        try:
            rows = torch.as_tensor(np.asarray(index))
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"index must hold row positions or be a boolean mask; got {index!r}") from err
    if rows.ndim != 1:
        raise ValueError(f"index must be 1-D (positions or a mask); got shape {tuple(rows.shape)}")
    if rows.dtype == torch.bool:
        if rows.shape[0] != n:
            raise ValueError(f"index is a boolean mask of length {rows.shape[0]}, but the data has {n} rows")
        return rows.nonzero().squeeze(1)
    if rows.is_floating_point() or rows.is_complex():
        raise TypeError(f"index must hold integer row positions or be a boolean mask; got dtype {rows.dtype} "
                        "(a float such as 0.9 would silently become row 0)")
    rows = rows.long()
    if rows.numel() and (int(rows.min()) < -n or int(rows.max()) >= n):
        raise ValueError(f"index must hold positions in [-{n}, {n}) for data of {n} rows; "
                         f"got values from {int(rows.min())} to {int(rows.max())}")
    return rows


def _part_sizes(parts: Sequence[float | int], n: int) -> list[int]:
    if isinstance(parts, str | bytes) or not isinstance(parts, Sequence) or len(parts) == 0:
        raise TypeError(f"parts must be a non-empty sequence of fractions or sizes; got {parts!r}")
    if all(isinstance(p, int | np.integer) and not isinstance(p, bool) for p in parts):
        sizes = [check_int(p, f"parts[{i}]", minimum=0) for i, p in enumerate(parts)]
    else:
        fractions = [check_number(p, f"parts[{i}]", low=0.0, high=1.0) for i, p in enumerate(parts)]
        if sum(fractions) > 1 + 1e-9:
            raise ValueError(f"parts must be fractions summing to at most 1; they sum to {sum(fractions):g}")
        sizes = [int(round(p * n)) for p in fractions]
        # Rounding can ask for more than there is ([0.5, 0.5] of 3 rounds to 2 + 2): take it from the last parts.
        while sum(sizes) > n:
            sizes[max(i for i, size in enumerate(sizes) if size > 0)] -= 1
    if sum(sizes) > n:
        raise ValueError(f"parts ask for {sum(sizes)} items but the data has {n}")
    return sizes


def _should_download(download: bool | None) -> bool:
    # Even download=True checks first: torchvision's own attempt can hang on a dead network.
    return download is not False and internet_available()


def _missing_message(what: str, looked: list[str], download: bool | None, root) -> str:
    why = "downloading was switched off" if download is False else "the internet is not reachable"
    return (
        f"{what} not found, and {why}. The data root is {_where_from(root)}. Looked for:\n  " + "\n  ".join(looked)
        + f"\nSet the environment variable {DATA_ENV_VAR} to a folder holding one of these (or pass root=...)."
    )


def _fix(path: Path) -> str:
    return (
        f"Delete {path} and get it again (the loaders download missing MNIST and CIFAR-10 pickle files when the "
        f"internet answers; copy JPEG folders again from their source), or set {DATA_ENV_VAR} to a folder holding a "
        "good copy."
    )


def _damaged(path: Path, why: str) -> ValueError:
    return ValueError(f"{path} is damaged: {why}. {_fix(path)}")


def _find_pair(folders: list[Path], names: Sequence[str]) -> tuple[Path, Path] | None:
    for folder in folders:
        paths = []
        for name in names:
            hits = [folder / (name + ext) for ext in (".gz", "") if (folder / (name + ext)).is_file()]
            paths.append(hits[0] if hits else None)
        if all(p is not None for p in paths):
            return paths[0], paths[1]
    return None


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (LeCun's format): magic 0x08 0x0N, big-endian int32 dims, then uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except EOFError as err:  # gzip: the stream ends before its end-of-stream marker
        raise _damaged(path, f"the gzip stream is truncated ({err})") from err
    except (OSError, zlib.error) as err:  # BadGzipFile (not gzip, CRC check failed), corrupt deflate data
        raise _damaged(path, f"it cannot be decompressed ({type(err).__name__}: {err})") from err
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] != 0x08 or len(raw) < 4 + 4 * raw[3]:
        raise _damaged(path, "it is not an IDX file of uint8 data (wrong header)")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise _damaged(path, f"truncated: the header says {dims}, {int(np.prod(dims))} bytes, but {data.size} follow")
    return data.reshape(dims).copy()


def _read_cifar_pickles(paths: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for path in paths:
        try:
            with open(path, "rb") as f:
                batch = pickle.load(f, encoding="bytes")
            pixels = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            classes = np.asarray(batch[b"labels"], dtype=np.int64)
        except (EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
            raise _damaged(path, f"not a CIFAR-10 batch ({type(err).__name__}: {err})") from err
        if len(pixels) != len(classes):
            raise _damaged(path, f"{len(pixels)} images but {len(classes)} labels")
        images.append(pixels)
        labels.append(classes)
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


def _read_cifar_jpegs(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode ``folder/<class>/*.jpg`` once; later calls read the cached tensor file."""
    files = sorted(folder.glob("*/*.jpg"))
    if not files:
        raise FileNotFoundError(f"no JPEG files in {folder}/<class>/; set {DATA_ENV_VAR} to the data root")
    unknown = sorted({f.parent.name for f in files} - set(CIFAR10_CLASSES))
    if unknown:
        raise ValueError(f"{folder} holds folders that are not CIFAR-10 classes: {unknown}")
    # The key covers the folder and every file's name, size and modification time: a copy changed
    # in any way a stat can see (even to the same size) is decoded again.
    key = hashlib.sha1(f"v2:{folder.resolve()}".encode())
    for f in files:
        stat = f.stat()
        key.update(f"{f.parent.name}/{f.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    cache = cache_dir() / f"cifar10-jpeg-{folder.name}-{key.hexdigest()[:16]}.pt"
    cached = _read_cache(cache, len(files))
    if cached is not None:
        return cached
    from PIL import Image

    expected = _manifest(folder)
    pixels = np.empty((len(files), 32, 32, 3), dtype=np.uint8)
    for i, f in enumerate(files):
        content = f.read_bytes()
        relative = f"{folder.name}/{f.parent.name}/{f.name}"
        if relative in expected and hashlib.md5(content).hexdigest() != expected[relative][0]:
            raise _damaged(f, f"its md5 differs from the one in {expected[relative][1]}")
        try:
            with Image.open(io.BytesIO(content)) as img:
                rgb = np.asarray(img.convert("RGB"))
        except (OSError, SyntaxError, ValueError) as err:  # PIL: truncated, broken stream, not a JPEG
            raise _damaged(f, f"it cannot be decoded as a JPEG ({err})") from err
        if rgb.shape != (32, 32, 3):
            raise ValueError(f"{f} is {rgb.shape[1]}x{rgb.shape[0]}, not a 32x32 CIFAR-10 image")
        pixels[i] = rgb
    listed = {name for name in expected}
    missing = sorted(listed - {f"{folder.name}/{f.parent.name}/{f.name}" for f in files})
    if missing:
        raise ValueError(
            f"{len(missing)} JPEG file(s) listed in the manifest are missing from {folder}, e.g. {missing[0]}. "
            f"Copy the folder again, or set {DATA_ENV_VAR} to a folder holding a complete copy."
        )
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor([CIFAR10_CLASSES.index(f.parent.name) for f in files], dtype=torch.int64)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".tmp{os.getpid()}")
    torch.save({"images": images, "labels": labels}, tmp)
    os.replace(tmp, cache)  # atomic: a concurrent reader never sees half a file
    return images, labels


def _read_cache(cache: Path, n: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The cached ``(images, labels)``, or ``None`` (with a warning) when the file is missing or unreadable."""
    if not cache.is_file():
        return None
    try:
        saved = torch.load(cache, weights_only=True)
        images, labels = saved["images"], saved["labels"]
        if images.dtype != torch.uint8 or tuple(images.shape) != (n, 3, 32, 32) or tuple(labels.shape) != (n,):
            raise ValueError(f"it holds images {tuple(images.shape)} and labels {tuple(labels.shape)}, not {n} images")
    except Exception as err:  # a truncated or foreign file fails in many ways (zip, pickle, key, shape)
        warnings.warn(f"the decoded-JPEG cache {cache} is unreadable ({type(err).__name__}: {err}); "
                      "decoding the JPEGs again", stacklevel=3)
        return None
    return images, labels


def _manifest(folder: Path) -> dict[str, tuple[str, Path]]:
    """``{"<split>/<class>/<file>.jpg": (md5, manifest path)}`` from ``MANIFEST.md5`` files beside or above ``folder``.

    Such manifests are ``md5sum`` output with paths relative to the JPEG root (``test/cat/0001.jpg``).
    """
    entries: dict[str, tuple[str, Path]] = {}
    for manifest in (folder.parent / "MANIFEST.md5", folder / "MANIFEST.md5"):
        if not manifest.is_file():
            continue
        for line in manifest.read_text(encoding="utf-8", errors="replace").splitlines():
            digest, _, name = line.strip().partition("  ")
            if name.startswith(f"{folder.name}/") and len(digest) == 32:
                entries[name.lstrip("*")] = (digest.lower(), manifest)
    return entries
