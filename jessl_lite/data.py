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

Example::

    >>> mnist = load_mnist("test", device="cpu")            # doctest: +SKIP
    >>> pretrain, heldout = mnist.split([0.8, 0.2], seed=0)  # doctest: +SKIP
    >>> pretrain.images.shape, pretrain.images.dtype         # doctest: +SKIP
    (torch.Size([8000, 1, 28, 28]), torch.uint8)
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

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
        if not isinstance(self.images, torch.Tensor) or self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise TypeError("images must be a uint8 tensor of shape (N, C, H, W)")
        if not isinstance(self.labels, torch.Tensor) or self.labels.shape != self.images.shape[:1]:
            raise ValueError(f"labels must be a tensor of shape ({self.images.shape[0]},)")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def device(self) -> torch.device:
        return self.images.device

    def to(self, device: str | torch.device) -> ImageData:
        """The same data on ``device`` (a no-op when it is already there)."""
        return ImageData(self.images.to(device), self.labels.to(device), self.classes, self.name)

    def subset(self, index: torch.Tensor | Sequence[int], name: str | None = None) -> ImageData:
        """The rows ``index`` (a tensor or list of integer positions)."""
        index = torch.as_tensor(index, dtype=torch.long, device=self.images.device)
        return ImageData(self.images[index], self.labels[index], self.classes, name or self.name)

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
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        out, start = [], 0
        for i, size in enumerate(sizes):
            out.append(self.subset(order[start : start + size], name=f"{self.name}[part {i}]"))
            start += size
        return tuple(out)


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder data is read from: ``root``, else ``$JESSL_DATA``, else ``~/.cache/jessl_lite/data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV_VAR, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "jessl_lite" / "data"


def cache_dir() -> Path:
    """Where decoded tensors are cached: ``$JESSL_CACHE``, else ``~/.cache/jessl_lite``."""
    env = os.environ.get(CACHE_ENV_VAR, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "jessl_lite"


def internet_available(host: str = "ossci-datasets.s3.amazonaws.com", port: int = 443, timeout: float = 1.0) -> bool:
    """Whether a TCP connection to ``host`` opens within ``timeout`` seconds.

    Name resolution ignores socket timeouts and can hang for a minute offline, so the whole
    attempt runs in a daemon thread that we stop waiting for after ``timeout``.
    """
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
        raise FileNotFoundError(_missing_message(f"MNIST {split} split", looked, download))
    images = torch.from_numpy(_read_idx(found[0])).unsqueeze(1)
    labels = torch.from_numpy(_read_idx(found[1]).astype(np.int64))
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
        raise FileNotFoundError(_missing_message(f"CIFAR-10 {split} split", looked, download))
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
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")


def _part_sizes(parts: Sequence[float | int], n: int) -> list[int]:
    if not isinstance(parts, Sequence) or len(parts) == 0:
        raise TypeError("parts must be a non-empty sequence of fractions or sizes")
    if all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
        sizes = list(parts)
    elif all(isinstance(p, float | int) and 0 <= p <= 1 for p in parts):
        sizes = [int(round(p * n)) for p in parts]
    else:
        raise ValueError(f"parts must be all ints (sizes) or all fractions in [0, 1]; got {parts!r}")
    if min(sizes) < 0 or sum(sizes) > n:
        raise ValueError(f"parts ask for {sum(sizes)} items but the data has {n}")
    return sizes


def _should_download(download: bool | None) -> bool:
    if download is not None and not isinstance(download, bool):
        raise TypeError(f"download must be True, False or None; got {download!r}")
    # Even download=True checks first: torchvision's own attempt can hang on a dead network.
    return download is not False and internet_available()


def _missing_message(what: str, looked: list[str], download: bool | None) -> str:
    why = "downloading was switched off" if download is False else "the internet is not reachable"
    return (
        f"{what} not found, and {why}. Looked for:\n  " + "\n  ".join(looked) + f"\nSet the environment variable "
        f"{DATA_ENV_VAR} to a folder holding one of these (or pass root=...)."
    )


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
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of uint8 data")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: header says {dims}, found {data.size} bytes")
    return data.reshape(dims).copy()


def _read_cifar_pickles(paths: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for path in paths:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


def _read_cifar_jpegs(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode ``folder/<class>/*.jpg`` once; later calls read the cached tensor file."""
    files = sorted(folder.glob("*/*.jpg"))
    if not files:
        raise FileNotFoundError(f"no JPEG files in {folder}/<class>/; set {DATA_ENV_VAR} to the data root")
    # The cache key covers the folder, the file list and sizes: a changed copy is decoded again.
    key = hashlib.sha1(str(folder.resolve()).encode())
    for f in files:
        key.update(f"{f.parent.name}/{f.name}:{f.stat().st_size}".encode())
    cache = cache_dir() / f"cifar10-jpeg-{folder.name}-{key.hexdigest()[:16]}.pt"
    if cache.is_file():
        saved = torch.load(cache, weights_only=True)
        return saved["images"], saved["labels"]
    from PIL import Image

    unknown = sorted({f.parent.name for f in files} - set(CIFAR10_CLASSES))
    if unknown:
        raise ValueError(f"{folder} holds folders that are not CIFAR-10 classes: {unknown}")
    pixels = np.empty((len(files), 32, 32, 3), dtype=np.uint8)
    for i, f in enumerate(files):
        with Image.open(f) as img:
            rgb = np.asarray(img.convert("RGB"))
        if rgb.shape != (32, 32, 3):
            raise ValueError(f"{f} is {rgb.shape[1]}x{rgb.shape[0]}, not a 32x32 CIFAR-10 image")
        pixels[i] = rgb
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor([CIFAR10_CLASSES.index(f.parent.name) for f in files], dtype=torch.int64)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".tmp{os.getpid()}")
    torch.save({"images": images, "labels": labels}, tmp)
    os.replace(tmp, cache)  # atomic: a concurrent reader never sees half a file
    return images, labels
