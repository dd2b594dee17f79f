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
    with pytest.raises(ValueError, match="two rows"):
        uniformity(torch.randn(1, 3))
