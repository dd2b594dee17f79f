"""jessl_lite.data: the offline copies in JESSL_DATA, the torchvision layouts, the error path, splits."""

from __future__ import annotations

import gzip
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
