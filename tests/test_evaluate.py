"""jessl_lite.evaluate: kNN against scikit-learn, probes on separable data, collapse diagnostics
against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import i0
from sklearn.neighbors import KNeighborsClassifier

from jessl_lite.evaluate import (
    alignment,
    effective_rank,
    embeddings,
    knn_accuracy,
    knn_predict,
    linear_probe,
    std_of_normalized,
    uniformity,
)


def _separable(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Four classes around four orthogonal directions in R^8, with small noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    features = 5 * F.one_hot(labels, 8).float() + 0.5 * torch.randn(n, 8, generator=g)
    return features, labels


def test_knn_on_separable_features_is_perfect():
    train, train_y = _separable(400, 0)
    test, test_y = _separable(200, 1)
    assert knn_accuracy(train, train_y, test, test_y) == 1.0


def test_knn_predictions_equal_scikit_learns_weighted_cosine_knn():
    g = torch.Generator().manual_seed(2)
    train, test = torch.randn(300, 6, generator=g, dtype=torch.float64), torch.randn(100, 6, generator=g)
    train_y = torch.randint(0, 5, (300,), generator=g)
    k, t = 25, 0.1
    ours = knn_predict(train.float(), train_y, test, k=k, temperature=t)
    # sklearn's cosine distance is 1 - similarity: weight exp(similarity / T) = exp((1 - d) / T).
    reference = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute",
                                     weights=lambda d: np.exp((1 - d) / t))
    reference.fit(train.numpy(), train_y.numpy())
    assert (ours.numpy() == reference.predict(test.double().numpy())).mean() == 1.0


def test_linear_probe_separates_separable_classes_and_not_random_labels():
    train, train_y = _separable(400, 3)
    test, test_y = _separable(200, 4)
    assert linear_probe(train, train_y, test, test_y) == 1.0
    shuffled = test_y[torch.randperm(200, generator=torch.Generator().manual_seed(0))]
    assert linear_probe(train, train_y, test, shuffled) < 0.5  # chance is 1/4


def test_std_of_normalized_is_zero_for_collapse_and_one_over_sqrt_d_when_isotropic():
    assert std_of_normalized(torch.ones(100, 16) * 3).item() == pytest.approx(0.0, abs=1e-7)
    z = torch.randn(20000, 64, generator=torch.Generator().manual_seed(5))
    assert std_of_normalized(z).item() == pytest.approx(1 / math.sqrt(64), rel=0.02)


def test_effective_rank_counts_equal_singular_values():
    q, _ = torch.linalg.qr(torch.randn(50, 50, generator=torch.Generator().manual_seed(6), dtype=torch.float64))
    for r in (1, 3, 10):
        z = q[:, :r] @ torch.eye(r, 20, dtype=torch.float64) * 7.0  # r equal singular values
        assert effective_rank(z).item() == pytest.approx(r, rel=1e-9)
    assert effective_rank(torch.ones(100, 16)).item() == pytest.approx(1.0, rel=1e-9)  # collapse: rank 1
    iso = torch.randn(20000, 32, generator=torch.Generator().manual_seed(7))
    assert effective_rank(iso).item() > 0.99 * 32


def test_alignment_and_uniformity_closed_forms():
    z = torch.randn(10, 4)
    assert alignment(z, 2 * z).item() == pytest.approx(0.0, abs=1e-6)
    assert alignment(z, -z).item() == pytest.approx(4.0)  # antipodal pairs: |x - y|^2 = 4
    assert uniformity(torch.ones(5, 3)).item() == pytest.approx(0.0, abs=1e-12)
    # Evenly spread points on the circle: E exp(-t |x - y|^2) = exp(-2t) I0(2t) (Bessel function).
    n, t = 2000, 2.0
    angles = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    circle = torch.stack([angles.cos(), angles.sin()], dim=1)
    exact = math.log(math.exp(-2 * t) * i0(2 * t))
    # Excluding the n self-pairs shifts the average by O(1/n).
    assert uniformity(circle, t=t).item() == pytest.approx(exact, abs=5e-3)


def test_embeddings_use_eval_mode_and_restore_training_mode():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    net.train()
    x = torch.randn(10, 3)
    out = embeddings(net, x, batch_size=3)
    assert net.training
    net.eval()
    torch.testing.assert_close(out, net(x))  # running statistics, so batching does not matter


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="k must"):
        knn_predict(torch.randn(5, 2), torch.zeros(5, dtype=torch.long), torch.randn(3, 2), k=0)
    with pytest.raises(ValueError, match="temperature"):
        knn_predict(torch.randn(5, 2), torch.zeros(5, dtype=torch.long), torch.randn(3, 2), temperature=0)
    with pytest.raises(ValueError, match="train_labels"):
        knn_predict(torch.randn(5, 2), torch.zeros(4, dtype=torch.long), torch.randn(3, 2))
    with pytest.raises(ValueError, match="z"):
        std_of_normalized(torch.randn(5))
    with pytest.raises(TypeError, match="z1"):
        alignment([1.0], torch.randn(1, 2))
    with pytest.raises(ValueError, match="z must have at least 2 rows"):
        uniformity(torch.randn(1, 3))


def test_knn_refuses_nan_features_instead_of_predicting_class_zero():
    # One NaN in the memory bank used to make topk pick it for every query and predict its class.
    gen = torch.Generator().manual_seed(0)
    bank, queries = torch.randn(50, 4, generator=gen), torch.randn(10, 4, generator=gen)
    labels = torch.arange(50) % 5
    bank[3, 0] = math.nan
    with pytest.raises(ValueError, match="^train_features must be finite; it holds 1 NaN"):
        knn_predict(bank, labels, queries)
    queries[0, 1] = math.inf
    with pytest.raises(ValueError, match="^test_features must be finite; it holds 0 NaN and 1 infinite"):
        knn_predict(torch.randn(50, 4), labels, queries)
    with pytest.raises(ValueError, match="^train_features must be finite"):
        linear_probe(bank, labels, torch.randn(10, 4), labels[:10])
    with pytest.raises(ValueError, match="^z must be finite"):
        effective_rank(bank)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -0.1, 0.0, True, "0.1"])
def test_knn_temperature_is_a_finite_positive_number(bad):
    x, labels = torch.randn(5, 2), torch.arange(5)
    with pytest.raises((TypeError, ValueError), match="^temperature must be"):
        knn_predict(x, labels, x, temperature=bad)
    with pytest.raises((TypeError, ValueError), match="^temperature must be"):
        knn_accuracy(x, labels, x, labels, temperature=bad)


def test_knn_and_probe_check_labels_and_widths():
    x = torch.randn(6, 3)
    with pytest.raises(TypeError, match="^train_labels must be an integer tensor"):
        knn_predict(x, torch.zeros(6), x)
    with pytest.raises(ValueError, match=r"^train_labels must be class indices in 0\.\.1; they range over \[0, 5\]"):
        knn_predict(x, torch.arange(6), x, num_classes=2)
    with pytest.raises(ValueError, match="^train_labels must be class indices >= 0"):
        knn_predict(x, -torch.ones(6, dtype=torch.long), x)
    with pytest.raises(ValueError, match="^test_features must have the width D = 3"):
        knn_predict(x, torch.arange(6), torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"^test_labels must hold one label per row of test_features \(6\)"):
        knn_accuracy(x, torch.arange(6), x, torch.arange(5))
    with pytest.raises(TypeError, match="^train_features must be a floating-point tensor"):
        knn_predict(x.long(), torch.arange(6), x)
    with pytest.raises(ValueError, match="^C must be"):
        linear_probe(x, torch.arange(6) % 2, x, torch.arange(6) % 2, C=math.nan)
    with pytest.raises(TypeError, match="^max_iter must be an int"):
        linear_probe(x, torch.arange(6) % 2, x, torch.arange(6) % 2, max_iter=10.0)


def test_embeddings_refuse_unprepared_pixels():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    pixels = torch.randint(0, 256, (3, 1, 2, 2), generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"^images look like pixels in 0\.\.255"):
        embeddings(net, pixels.float())  # float in 0..255, no prepare: the encoder would see them unscaled
    with pytest.raises(TypeError, match="need prepare="):
        embeddings(net, pixels.to(torch.uint8))
    assert embeddings(net, pixels.float() / 255).shape == (3, 2)  # scaled floats pass
    assert embeddings(net, pixels.to(torch.uint8), prepare=lambda x: x.float() / 255).shape == (3, 2)
    with pytest.raises(TypeError, match="^encoder must be callable"):
        embeddings("net", pixels.float() / 255)
    with pytest.raises(TypeError, match="^prepare must be callable"):
        embeddings(net, pixels, prepare="views")
    with pytest.raises(TypeError, match="^batch_size must be an int"):
        embeddings(net, pixels.float() / 255, batch_size=2.0)
    with pytest.raises(ValueError, match="^images must not be empty"):
        embeddings(net, pixels[:0].float())
