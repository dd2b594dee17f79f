"""jessl_lite.monitors: the evaluation hooks measure what their evaluate functions measure, and check
their arguments when they are made (not at the first evaluation, minutes into a run)."""

from __future__ import annotations

import math

import pytest
import torch

from jessl_lite.data import ImageData
from jessl_lite.evaluate import embeddings, knn_accuracy
from jessl_lite.monitors import embedding_monitor, knn_monitor, linear_probe_monitor
from jessl_lite.nets import MLP

pytestmark = pytest.mark.usefixtures("one_thread")


def _images(n: int, seed: int) -> ImageData:
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 4, 4), generator=gen, dtype=torch.uint8)
    return ImageData(images, torch.arange(n) % 3, ("a", "b", "c"), f"random-{seed}")


def prepare(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 255


def test_knn_monitor_is_knn_accuracy_of_the_embeddings():
    memory, queries = _images(30, 0), _images(12, 1)
    torch.manual_seed(0)
    method = torch.nn.Module()
    method.embed = MLP(16, [], 8)
    hook = knn_monitor(memory, queries, prepare, k=5, name="knn5")
    features = [embeddings(method.embed, d.images, prepare) for d in (memory, queries)]
    expected = knn_accuracy(features[0], memory.labels, features[1], queries.labels, k=5, num_classes=3)
    assert hook(method, 0) == {"knn5": expected}


def test_monitors_check_their_arguments_when_made():
    data = _images(6, 0)
    with pytest.raises(TypeError, match="^queries must be an ImageData"):
        knn_monitor(data, data.images, prepare)
    with pytest.raises(TypeError, match="^memory must be an ImageData"):
        knn_monitor("mnist", data, prepare)
    with pytest.raises(TypeError, match="^test must be an ImageData"):
        linear_probe_monitor(data, None, prepare)
    with pytest.raises(TypeError, match="^prepare must be callable"):
        knn_monitor(data, data, "views.prepare")
    for bad in (math.nan, 0.0, True):
        with pytest.raises((TypeError, ValueError), match="^temperature must be"):
            knn_monitor(data, data, prepare, temperature=bad)
        with pytest.raises((TypeError, ValueError), match="^C must be"):
            linear_probe_monitor(data, data, prepare, C=bad)
    with pytest.raises(TypeError, match="^name must be a str"):
        knn_monitor(data, data, prepare, name=3)
    with pytest.raises(TypeError, match="^images must be a torch.Tensor"):
        embedding_monitor(data, prepare)
    with pytest.raises(ValueError, match="^images must not be empty"):
        embedding_monitor(data.images[:0], prepare)
    with pytest.raises(TypeError, match="^encode must be callable"):
        embedding_monitor(data.images, prepare, encode="projector")
    with pytest.raises(TypeError, match="^prefix must be a str"):
        embedding_monitor(data.images, prepare, prefix=None)


def test_wrong_pixels_are_named_when_the_monitor_is_made():
    from jessl_lite.experiments.collapse import collapse_monitor
    from jessl_lite.views import mnist_views

    pixels = _images(6, 0).images.float()  # floats in 0..255: prepare would refuse them at the first evaluation
    with pytest.raises(ValueError, match="^images must lie in"):
        embedding_monitor(pixels, mnist_views().prepare)
    with pytest.raises(ValueError, match="^images must lie in"):
        collapse_monitor(pixels, mnist_views())
    with pytest.raises(TypeError, match="need prepare="):
        embedding_monitor(_images(6, 0).images)
