"""jessl_lite.data: the offline copies in JESSL_DATA, the torchvision layouts, the error path, splits."""

from __future__ import annotations

import gzip
import math
import os
import pickle
import time

import numpy as np
import pytest
import torch

from jessl_lite import data
from jessl_lite.data import ImageData, internet_available, load_cifar10, load_dataset, load_mnist

# Published class counts of MNIST's test split (LeCun et al.; also in ../shared/data/README.md).
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No internet, and decoded-JPEG caches in a temporary folder."""
    monkeypatch.setattr(data, "internet_available", lambda *a, **k: False)
    monkeypatch.setenv("JESSL_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_mnist_test_split_matches_the_published_counts():
    mnist = load_mnist("test")
    assert mnist.images.shape == (10000, 1, 28, 28) and mnist.images.dtype == torch.uint8
    assert torch.bincount(mnist.labels).tolist() == MNIST_TEST_COUNTS
    # Mean pixel value of the original t10k images: 33.79 (README's check of the IDX file).
    assert mnist.images.double().mean().item() == pytest.approx(33.79, abs=0.01)
    assert mnist.classes[3] == "3" and mnist.name == "mnist-test"


def test_missing_data_fails_fast_naming_the_files_and_the_variable(offline):
    empty = offline / "empty"
    empty.mkdir()
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as err:
        load_mnist("train", root=empty)
    message = str(err.value)
    assert "train-images-idx3-ubyte.gz" in message and "JESSL_DATA" in message and str(empty) in message
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py") as err:
        load_cifar10("test", root=empty, download=False)
    assert "cifar10-jpeg" in str(err.value) and "switched off" in str(err.value)
    assert time.perf_counter() - start < 2.0


# Published class counts of MNIST's training split (also in ../shared/data/README.md).
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_mnist_training_split_matches_the_published_counts():
    mnist = load_mnist("train", download=False)
    assert mnist.images.shape == (60000, 1, 28, 28) and mnist.images.dtype == torch.uint8
    assert torch.bincount(mnist.labels).tolist() == MNIST_TRAIN_COUNTS
    assert mnist.labels[:5].tolist() == [5, 0, 4, 1, 9]  # the first digits of LeCun's file
    # Mean pixel of the training images: 33.318 = 0.1307 * 255, the normalisation constant everyone uses.
    assert mnist.images.double().mean().item() == pytest.approx(33.318, abs=0.001)
    assert mnist.name == "mnist-train"


def test_a_missing_training_split_fails_fast_even_when_the_test_split_is_there(offline):
    only_test = offline / "only-test" / "mnist"
    only_test.mkdir(parents=True)
    shared = data.data_root() / "mnist"
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (only_test / name).symlink_to(shared / name)
    start = time.perf_counter()
    assert len(load_mnist("test", root=only_test.parent)) == 10000
    with pytest.raises(FileNotFoundError) as err:
        load_mnist("train", root=only_test.parent)
    message = str(err.value)
    assert "train-images-idx3-ubyte.gz" in message and "JESSL_DATA" in message
    assert time.perf_counter() - start < 5.0


def test_internet_check_gives_up_after_its_timeout(monkeypatch):
    # A dead network that hangs (as name resolution can offline), simulated so that the test
    # itself sends no packet anywhere.
    def hang(*args, **kwargs):
        time.sleep(5.0)
        raise OSError("unreachable")

    monkeypatch.setattr(data.socket, "create_connection", hang)
    start = time.perf_counter()
    assert internet_available("example.invalid", 443, timeout=0.5) is False
    assert time.perf_counter() - start < 1.5


def test_idx_files_in_torchvision_layout_round_trip(offline):
    raw = offline / "root" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.arange(2 * 28 * 28, dtype=np.uint64).reshape(2, 28, 28).astype(np.uint8)
    header = b"\x00\x00\x08\x03" + b"".join(int(d).to_bytes(4, "big") for d in images.shape)
    with gzip.open(raw / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(header + images.tobytes())
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + (2).to_bytes(4, "big") + bytes([7, 1]))
    mnist = load_mnist("test", root=offline / "root")
    assert torch.equal(mnist.images[:, 0], torch.from_numpy(images))
    assert mnist.labels.tolist() == [7, 1] and mnist.labels.dtype == torch.int64


def test_cifar_pickles_in_torchvision_layout_are_read_pixel_exact(offline):
    folder = offline / "root" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(3, 3 * 32 * 32), dtype=np.uint8)  # rows: R plane, G plane, B plane
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": pixels, b"labels": [2, 0, 9]}, f)
    cifar = load_cifar10("test", root=offline / "root")
    assert cifar.images.shape == (3, 3, 32, 32)
    assert int(cifar.images[1, 2, 0, 5]) == int(pixels[1, 2 * 1024 + 5])  # image 1, blue, row 0, col 5
    assert cifar.labels.tolist() == [2, 0, 9]


def test_jpeg_folder_is_decoded_once_and_cached_outside_the_root(offline):
    import io

    from PIL import Image

    root = offline / "root"
    rng = torch.Generator().manual_seed(0)
    originals = {}
    for name in ("cat", "airplane"):
        (root / "cifar10-jpeg" / "train" / name).mkdir(parents=True)
        for i in range(3):
            img = torch.randint(0, 256, (32, 32, 3), dtype=torch.uint8, generator=rng).numpy()
            path = root / "cifar10-jpeg" / "train" / name / f"{i:04d}.jpg"
            Image.fromarray(img).save(path, quality=90)
            decoded = np.array(Image.open(io.BytesIO(path.read_bytes())))
            originals[(name, i)] = torch.from_numpy(decoded).permute(2, 0, 1)
    first = load_cifar10("train", root=root)
    assert first.labels.tolist() == [0, 0, 0, 3, 3, 3]  # airplane=0, cat=3, files in sorted order
    assert torch.equal(first.images[4], originals[("cat", 1)])
    cached = list((offline / "cache").glob("cifar10-jpeg-train-*.pt"))
    assert len(cached) == 1 and not list(root.rglob("*.pt"))
    second = load_cifar10("train", root=root)
    assert torch.equal(first.images, second.images) and torch.equal(first.labels, second.labels)


def test_jpeg_cifar10_test_split_matches_known_class_counts_and_channel_means():
    cifar = load_cifar10("test")
    assert cifar.images.shape == (10000, 3, 32, 32) and cifar.images.dtype == torch.uint8
    assert torch.bincount(cifar.labels).tolist() == [1000] * 10
    means = (cifar.images.double() / 255).mean(dim=(0, 2, 3))
    # CIFAR-10 test-set channel means (0.4942, 0.4851, 0.4504); the JPEG copy is within 1e-3.
    assert means.tolist() == pytest.approx([0.4942, 0.4851, 0.4504], abs=1e-3)
    assert cifar.classes[0] == "airplane" and cifar.classes[9] == "truck"


def test_split_is_seeded_disjoint_and_complete():
    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1)
    toy = ImageData(images, torch.arange(100), ("x",), "toy")
    a, b = toy.split([0.8, 0.2], seed=3)
    assert len(a) == 80 and len(b) == 20
    assert sorted(a.labels.tolist() + b.labels.tolist()) == list(range(100))
    a2, _ = toy.split([80, 20], seed=3)
    assert torch.equal(a.labels, a2.labels)
    a3, _ = toy.split([0.8, 0.2], seed=4)
    assert not torch.equal(a.labels, a3.labels)
    assert torch.equal(a.images.view(-1).long(), a.labels)  # rows stay paired with their labels


@pytest.mark.parametrize("parts", [[0.8, 0.3], [90, 20], [0.5, 7]])
def test_split_rejects_impossible_parts(parts):
    toy = ImageData(torch.zeros(100, 1, 2, 2, dtype=torch.uint8), torch.zeros(100, dtype=torch.long), ("x",), "toy")
    with pytest.raises(ValueError, match="parts"):
        toy.split(parts)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation")
    with pytest.raises(ValueError, match="name"):
        load_dataset("imagenet", "train")
    with pytest.raises(TypeError, match="images"):
        ImageData(torch.zeros(2, 1, 4, 4), torch.zeros(2), ("x",), "float images")
    with pytest.raises(TypeError, match="download"):
        load_mnist("train", root="/nonexistent", download="yes")


# --- damaged files: each error names the file and the fix -------------------------------------------


def write_mnist_test_split(folder, n: int = 3):
    """A tiny valid MNIST test split (IDX files, gzipped) in ``folder``; returns the images' path."""
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.arange(n * 28 * 28, dtype=np.uint64).astype(np.uint8).reshape(n, 28, 28)
    header = b"\x00\x00\x08\x03" + b"".join(int(d).to_bytes(4, "big") for d in pixels.shape)
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(header + pixels.tobytes())
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x01" + n.to_bytes(4, "big") + bytes(range(n)))
    return folder / "t10k-images-idx3-ubyte.gz"


def assert_names_file_and_fix(message: str, path) -> None:
    assert str(path) in message and "Delete" in message and "JESSL_DATA" in message


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda raw: raw[: len(raw) // 2], "truncated"),  # a download cut short: EOFError inside gzip
        (lambda raw: b"\x1f\x8c" + raw[2:], "BadGzipFile: Not a gzipped file"),  # a flipped byte in the magic
        (lambda raw: raw[:-8] + bytes([raw[-8] ^ 0xFF]) + raw[-7:], "CRC check failed"),  # the data changed
        (lambda raw: raw[:20] + bytes(b ^ 0x55 for b in raw[20:40]) + raw[40:], "cannot be decompressed"),
    ],
)
def test_a_damaged_gz_names_the_file_and_the_fix(offline, damage, why):
    path = write_mnist_test_split(offline / "root" / "mnist")
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=why) as err:
        load_mnist("test", root=offline / "root")
    assert_names_file_and_fix(str(err.value), path)


def test_an_idx_file_with_a_wrong_header_or_length_is_named(offline):
    folder = offline / "root" / "mnist"
    path = write_mnist_test_split(folder)
    with gzip.open(path, "wb") as f:
        f.write(b"\x00\x00\x08\x03" + (5).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + bytes(28 * 28))
    with pytest.raises(ValueError, match="truncated: the header says") as err:
        load_mnist("test", root=offline / "root")
    assert_names_file_and_fix(str(err.value), path)
    with gzip.open(path, "wb") as f:
        f.write(b"<html>not found</html>")
    with pytest.raises(ValueError, match="not an IDX file"):
        load_mnist("test", root=offline / "root")


def test_a_truncated_cifar_pickle_names_the_file(offline):
    folder = offline / "root" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    payload = pickle.dumps({b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [0, 1]})
    (folder / "test_batch").write_bytes(payload[: len(payload) // 2])
    with pytest.raises(ValueError, match="not a CIFAR-10 batch") as err:
        load_cifar10("test", root=offline / "root")
    assert_names_file_and_fix(str(err.value), folder / "test_batch")


def write_jpegs(root, split: str = "test", n: int = 2):
    """``n`` random 32x32 JPEGs per class for two classes under ``root/cifar10-jpeg/split``; returns the paths."""
    from PIL import Image

    g = torch.Generator().manual_seed(1)
    paths = []
    for name in ("cat", "dog"):
        (root / "cifar10-jpeg" / split / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = torch.randint(0, 256, (32, 32, 3), dtype=torch.uint8, generator=g).numpy()
            path = root / "cifar10-jpeg" / split / name / f"{i:04d}.jpg"
            Image.fromarray(pixels).save(path, quality=90)
            paths.append(path)
    return paths


def test_a_truncated_jpeg_names_the_file(offline):
    paths = write_jpegs(offline / "root")
    paths[1].write_bytes(paths[1].read_bytes()[:300])
    with pytest.raises(ValueError, match="cannot be decoded as a JPEG") as err:
        load_cifar10("test", root=offline / "root")
    assert_names_file_and_fix(str(err.value), paths[1])


def test_a_jpeg_with_corrupted_scan_data_is_caught_by_its_manifest(offline):
    import hashlib

    root = offline / "root"
    paths = write_jpegs(root)
    manifest = "".join(
        f"{hashlib.md5(p.read_bytes()).hexdigest()}  {p.relative_to(root / 'cifar10-jpeg').as_posix()}\n" for p in paths
    )
    (root / "cifar10-jpeg" / "MANIFEST.md5").write_text(manifest)
    assert len(load_cifar10("test", root=root)) == 4  # all four match their md5
    # One flipped bit in the entropy-coded data: Pillow decodes it without a word (other pixels).
    raw = bytearray(paths[2].read_bytes())
    position = raw.index(b"\xff\xda") + 40
    raw[position] ^= 0x10
    paths[2].write_bytes(bytes(raw))
    from PIL import Image

    with Image.open(paths[2]) as img:
        assert np.asarray(img.convert("RGB")).shape == (32, 32, 3)  # no error from the decoder itself
    with pytest.raises(ValueError, match="md5 differs from the one in .*MANIFEST.md5") as err:
        load_cifar10("test", root=root)
    assert_names_file_and_fix(str(err.value), paths[2])
    paths[2].unlink()
    with pytest.raises(ValueError, match="1 JPEG file.* listed in the manifest are missing"):
        load_cifar10("test", root=root)


def test_the_jpeg_cache_sees_a_same_size_change(offline):
    from PIL import Image

    root = offline / "root"
    paths = write_jpegs(root)
    first = load_cifar10("test", root=root)
    size = paths[0].stat().st_size
    # Re-encode the first image brighter, padded to the same number of bytes (JPEG allows trailing bytes).
    with Image.open(paths[0]) as img:
        brighter = Image.fromarray(np.minimum(np.asarray(img).astype(int) + 60, 255).astype(np.uint8))
    import io

    buffer = io.BytesIO()
    brighter.save(buffer, format="JPEG", quality=60)
    content = buffer.getvalue()
    assert len(content) <= size
    paths[0].write_bytes(content + b"\x00" * (size - len(content)))
    assert paths[0].stat().st_size == size
    stat = paths[0].stat()
    os.utime(paths[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a coarse clock could tie
    second = load_cifar10("test", root=root)
    assert second.images[0].float().mean() > first.images[0].float().mean() + 20  # the new pixels, not the cache
    assert torch.equal(second.images[1:], first.images[1:])


def test_an_unreadable_cache_is_decoded_again(offline):
    root = offline / "root"
    write_jpegs(root)
    first = load_cifar10("test", root=root)
    (cache,) = (offline / "cache").glob("cifar10-jpeg-test-*.pt")
    cache.write_bytes(cache.read_bytes()[:100])  # truncated: torch.load fails inside its zip reader
    with pytest.warns(UserWarning, match="unreadable .* decoding the JPEGs again"):
        second = load_cifar10("test", root=root)
    assert torch.equal(first.images, second.images)
    third = load_cifar10("test", root=root)  # the rebuilt cache reads back without a warning
    assert torch.equal(first.images, third.images)


def test_a_relative_data_root_is_resolved_once_and_shown_absolute(offline, monkeypatch):
    monkeypatch.setattr(data, "_RESOLVED", {})
    write_mnist_test_split(offline / "work" / "rel" / "mnist")
    (offline / "elsewhere").mkdir()
    monkeypatch.chdir(offline / "work")
    monkeypatch.setenv("JESSL_DATA", "rel")
    assert data.data_root() == offline / "work" / "rel"
    monkeypatch.chdir(offline / "elsewhere")  # a notebook that changes folder still finds the data
    assert data.data_root() == offline / "work" / "rel"
    assert len(load_mnist("test")) == 3
    with pytest.raises(FileNotFoundError) as err:
        load_mnist("train")
    message = str(err.value)
    assert str(offline / "work" / "rel" / "mnist" / "train-images-idx3-ubyte.gz") in message
    assert "JESSL_DATA='rel', a relative path, resolved against" in message and str(offline / "work") in message


# --- ImageData: subsets, splits and construction --------------------------------------------------


def toy_data(n: int = 5) -> ImageData:
    return ImageData(torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1), torch.arange(n), ("x",) * n, "toy")


def test_a_boolean_mask_selects_rows_and_must_match_the_length():
    toy = toy_data()
    # Not rows 1, 0, 1, 0, 1 (a mask read as indices): rows 0, 2 and 4.
    assert toy.subset([True, False, True, False, True]).labels.tolist() == [0, 2, 4]
    assert toy.subset(torch.tensor([False] * 5)).labels.tolist() == []
    assert toy.subset(np.array([True, True, False, False, False])).labels.tolist() == [0, 1]
    with pytest.raises(ValueError, match="boolean mask of length 3, but the data has 5 rows"):
        toy.subset([True, False, True])


@pytest.mark.parametrize(
    ("index", "error", "match"),
    [
        ([0.9], TypeError, "integer row positions"),
        (torch.tensor([1.0, 2.0]), TypeError, "integer row positions"),
        ([5], ValueError, r"positions in \[-5, 5\)"),
        ([-6], ValueError, r"positions in \[-5, 5\)"),
        ([[0, 1]], ValueError, "1-D"),
        (3, TypeError, "index must be a tensor, list or array"),
        ("01", TypeError, "index must be a tensor, list or array"),
    ],
)
def test_subset_refuses_positions_it_cannot_take(index, error, match):
    with pytest.raises(error, match=match):
        toy_data().subset(index)


def test_subset_takes_integer_positions_and_negative_ones():
    toy = toy_data()
    assert toy.subset([4, 0, -1]).labels.tolist() == [4, 0, 4]
    assert toy.subset([]).labels.tolist() == []
    assert toy.subset(range(2), name="first two").name == "first two"
    with pytest.raises(TypeError, match="name"):
        toy.subset([0], name=3)


def test_split_parts_and_seed_are_checked():
    toy = toy_data(3)
    assert [len(p) for p in toy.split([0.5, 0.5])] == [2, 1]  # rounding never asks for more than there is
    assert [len(p) for p in toy.split([np.int64(2), np.int64(1)])] == [2, 1]
    with pytest.raises(TypeError, match=r"parts\[0\] must be a number"):
        toy.split([True])
    with pytest.raises(ValueError, match=r"parts\[1\] must be a finite number"):
        toy.split([0.5, math.nan])
    with pytest.raises(TypeError, match="seed"):
        toy.split([1], seed=0.5)


def test_image_data_checks_its_fields_and_devices(monkeypatch):
    images = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    with pytest.raises(TypeError, match=r"Convert float images in \[0, 1\]"):
        ImageData(images.float(), torch.zeros(2, dtype=torch.long), ("x",), "x")
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        ImageData(images, torch.zeros(2), ("x",), "x")
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        ImageData(images, torch.zeros(3, dtype=torch.long), ("x",), "x")
    with pytest.raises(TypeError, match="classes must be a sequence of class names"):
        ImageData(images, torch.zeros(2, dtype=torch.long), "xy", "x")
    with pytest.raises(ValueError, match="labels must be on the device of images"):
        ImageData(images, torch.zeros(2, dtype=torch.long, device="meta"), ("x",), "x")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    toy = ImageData(images, torch.zeros(2, dtype=torch.long), ["x"], "x")
    assert toy.classes == ("x",)
    with pytest.raises(ValueError, match="device='cuda' asks for a CUDA GPU"):
        toy.to("cuda")
    with pytest.raises(ValueError, match="device='cuda' asks for a CUDA GPU"):
        load_mnist("test", device="cuda")  # refused before any file is read
    with pytest.raises(TypeError, match="root must be a folder"):
        load_mnist("test", root=3)


def test_internet_available_checks_its_arguments():
    # An int host used to answer False ("no internet") instead of naming the mistake.
    with pytest.raises(TypeError, match="^host must be a non-empty str"):
        internet_available(3)
    for bad in (math.nan, math.inf, -1.0, True):
        with pytest.raises((TypeError, ValueError), match="^timeout must be"):
            internet_available("127.0.0.1", 9, bad)
    with pytest.raises(ValueError, match="^port must be an int in"):
        internet_available("127.0.0.1", 70000)
