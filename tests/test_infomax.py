"""Chapter 5's MI maximization between image halves: the method, the probe, and the quick-profile claims."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from jessl_lite.bounds import infonce_bound, nwj_bound
from jessl_lite.data import ImageData
from jessl_lite.experiments.infomax import (
    HALF_DIM,
    SIZES,
    InfoMax,
    conv_encoder,
    flow_encoder,
    heldout_bound,
    infomax_monitor,
    make_critic,
    mlp_encoder,
    probe_accuracies,
    probe_accuracy,
    train_adversarial,
)
from jessl_lite.runs import Run
from jessl_lite.train import fit
from jessl_lite.views import TopBottomViews


@pytest.fixture
def one_thread():
    """The chapter runs on one thread on CPUs; its seeds' numbers are those of one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def parts():
    """The chapter's data as (pretraining, probe-train, probe-test): as in the paper, the training
    digits are both the pretraining data and the probe's fit, the test digits score the probe."""
    train, test = SIZES["quick"].data()
    return train, train, test


def small_method(bound: str = "infonce", target: float | None = None) -> InfoMax:
    torch.manual_seed(0)
    return InfoMax(
        flow_encoder(2, (16,), init_std=0.05, seed=0),
        flow_encoder(2, (16,), init_std=0.05, seed=1),
        make_critic("bilinear", HALF_DIM),
        bound,
        target=target,
    )


# --- the method --------------------------------------------------------------------------------


@pytest.mark.parametrize("bound, reference", [("infonce", infonce_bound), ("nwj", nwj_bound)])
def test_loss_is_the_negative_bound_of_the_score_matrix(bound, reference):
    method = small_method(bound)
    x1, x2 = torch.rand(16, 1, 14, 28), torch.rand(16, 1, 14, 28)
    loss, logs = method(x1, x2)
    scores = method.critic(method.g1(x1), method.g2(x2))
    assert scores.shape == (16, 16)
    torch.testing.assert_close(loss, -reference(scores))
    torch.testing.assert_close(logs["bound"], reference(scores).detach())


def test_a_target_turns_the_loss_into_a_distance_to_it():
    method = small_method("infonce", target=3.0)
    x1, x2 = torch.rand(16, 1, 14, 28), torch.rand(16, 1, 14, 28)
    loss, logs = method(x1, x2)
    assert float(loss.detach()) == pytest.approx(abs(float(logs["bound"]) - 3.0), abs=1e-6)


def test_the_paper_optimizer_is_adam_at_a_constant_rate_and_the_curve_is_the_training_bound(parts, one_thread):
    """Tschannen et al.: Adam, constant learning rate, no weight decay; the run logs the bound per step."""
    sizes = SIZES["quick"]
    config = sizes.fit_config(sizes.steps)
    assert (config.optimizer, config.lr_schedule, config.weight_decay, config.precision) == (
        "adam", "constant", 0.0, "fp32")
    assert config.lr == sizes.lr and config.batch_size == sizes.batch_size
    assert config.eval_every == sizes.steps // sizes.evals
    assert sizes.fit_config(sizes.critic_steps, sizes.critic_batch_size).batch_size == sizes.critic_batch_size
    pretrain, _, _ = parts
    method = small_method()
    run = fit(method, pretrain, TopBottomViews(), config.replace(steps=12, eval_every=0), hooks=())
    steps, lr = run.curve("lr")
    assert steps.tolist() == list(range(12)) and (lr == sizes.lr).all(), "no decay: the lr is constant"
    _, bound = run.curve("bound")
    _, loss = run.curve("loss")
    assert np.array_equal(bound, -loss), "without a target the loss is the negative bound"
    assert run.method == "InfoMax (infonce)" and run.config["schedule"]["optimizer"] == "adam"
    assert InfoMax(nn.Flatten(), nn.Flatten(), make_critic("bilinear", 4), target=2.0).name == (
        "InfoMax (infonce, target 2)")


def test_the_paper_convnet_normalizes_like_a_layer_norm_over_channels_and_positions():
    torch.manual_seed(0)
    net = conv_encoder(8, 100)
    x = torch.rand(5, 1, 14, 28)
    features = net[:4](x)  # the two convolutions and their ReLUs
    expected = F.layer_norm(features, features.shape[1:], eps=1e-6)
    torch.testing.assert_close(net[4](features), expected, rtol=1e-5, atol=1e-5)
    assert net(x).shape == (5, 100)
    assert mlp_encoder()(x).shape == (5, 100)


def test_flow_encoder_maps_a_half_image_bijectively():
    g = flow_encoder(3, (16,), init_std=0.05)
    x = torch.rand(4, 1, 14, 28)
    z = g(x)
    assert z.shape == (4, HALF_DIM)
    torch.testing.assert_close(g[1].inverse(z), x.flatten(1), rtol=0, atol=1e-5)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="bound"):
        InfoMax(nn.Flatten(), nn.Flatten(), make_critic("bilinear", 4), "dv")
    with pytest.raises(TypeError, match="critic"):
        InfoMax(nn.Flatten(), nn.Flatten(), lambda a, b: a @ b.T)
    with pytest.raises(TypeError, match="target"):
        InfoMax(nn.Flatten(), nn.Flatten(), make_critic("bilinear", 4), target="high")
    with pytest.raises(ValueError, match="kind"):
        make_critic("cosine", 4)
    with pytest.raises(ValueError, match="channels"):
        conv_encoder(0)


def test_sizes_rates_and_targets_are_checked_under_their_own_names():
    # make_critic builds BilinearCritic(dim, dim): a bad dim must be called dim, not dim_x.
    with pytest.raises(ValueError, match="^dim must be an int >= 1; got 0$"):
        make_critic("bilinear", 0)
    with pytest.raises(TypeError, match="^hidden_dim must be an int"):
        make_critic("separable", 4, hidden_dim=True)
    for bad in (math.nan, math.inf, True):
        with pytest.raises((TypeError, ValueError), match="^target must be"):
            InfoMax(nn.Flatten(), nn.Flatten(), make_critic("bilinear", 4), target=bad)
    with pytest.raises(ValueError, match="^lr must be"):
        SIZES["quick"].__class__(lr=-1e-4)
    with pytest.raises(ValueError, match="^train_size must be"):
        SIZES["quick"].__class__(train_size=70000)
    with pytest.raises(ValueError, match="^probe_scaling must be"):
        SIZES["quick"].__class__(probe_scaling="zscore")
    with pytest.raises(TypeError, match="^steps must be an int"):
        SIZES["quick"].fit_config(10.0)
    with pytest.raises(TypeError, match="^channels must be an int"):
        conv_encoder(True)
    method = InfoMax(nn.Flatten(), nn.Flatten(), make_critic("bilinear", HALF_DIM))
    top = torch.rand(4, 1, 14, 28)
    with pytest.raises(ValueError, match=r"^view2 must hold as many halves as view1 \(4\)"):
        method.loss(top, top[:3])
    with pytest.raises(TypeError, match="^view1 must be a torch.Tensor"):
        method.loss(top.tolist(), top)


# --- evaluation --------------------------------------------------------------------------------


def test_the_monitor_returns_the_probe_on_g1_and_the_heldout_bound(parts, one_thread):
    _, probe_train, probe_test = parts
    train, test = probe_train.subset(list(range(300))), probe_test.subset(list(range(256)))
    method = small_method()
    values = infomax_monitor(train, test, batch_size=32, C=0.01)(method, 0)
    assert set(values) == {"probe_accuracy", "heldout_bound"}
    assert values["probe_accuracy"] == probe_accuracy(method.g1, train, test, C=0.01)
    assert values["heldout_bound"] == heldout_bound(method, test, 32)
    with pytest.raises(ValueError, match="batch_size"):
        infomax_monitor(train, test, batch_size=1)
    with pytest.raises(ValueError, match="C"):
        infomax_monitor(train, test, batch_size=32, C=0)
    with pytest.raises(TypeError, match="probe_test"):
        infomax_monitor(train, test.images, batch_size=32)
    with pytest.raises(TypeError, match="InfoMax"):
        infomax_monitor(train, test, batch_size=32)(nn.Flatten(), 0)


def test_heldout_bound_averages_full_batches_and_respects_log_k(parts, one_thread):
    _, _, probe_test = parts
    method = small_method()
    top, bottom = TopBottomViews()(probe_test.images[:64])
    with torch.no_grad():
        first = float(infonce_bound(method.scores(top[:32], bottom[:32])))
        second = float(infonce_bound(method.scores(top[32:], bottom[32:])))
    value = heldout_bound(method, probe_test.subset(list(range(64))), 32)
    assert value == pytest.approx((first + second) / 2, abs=1e-6)
    assert heldout_bound(method, probe_test, 8) <= math.log(8)
    with pytest.raises(ValueError, match="batch_size"):
        heldout_bound(method, probe_test, 1)
    with pytest.raises(TypeError, match="^batch_size must be an int"):
        heldout_bound(method, probe_test, True)
    with pytest.raises(TypeError, match="^data must be an ImageData"):
        heldout_bound(method, probe_test.images, 8)
    with pytest.raises(TypeError, match="^method must be an InfoMax"):
        heldout_bound(nn.Flatten(), probe_test, 8)


def test_global_probe_ignores_the_scale_of_the_features(parts):
    _, probe_train, probe_test = parts
    small_train, small_test = probe_train.subset(list(range(500))), probe_test.subset(list(range(500)))

    class Scaled(nn.Module):
        def forward(self, x):
            return 1000.0 * x.flatten(1)

    pixels = probe_accuracy(nn.Flatten(), small_train, small_test, scaling="global")
    assert probe_accuracy(Scaled(), small_train, small_test, scaling="global") == pytest.approx(pixels, abs=2e-3)
    assert 0.5 < pixels < 0.95
    with pytest.raises(ValueError, match="scaling"):
        probe_accuracy(nn.Flatten(), small_train, small_test, scaling="zscore")
    with pytest.raises(TypeError, match="train"):
        probe_accuracy(nn.Flatten(), small_train.images, small_test)
    for bad in (math.nan, -1.0, True):
        with pytest.raises((TypeError, ValueError), match="^C must be"):
            probe_accuracy(nn.Flatten(), small_train, small_test, C=bad)


def test_probe_agrees_with_an_independent_logistic_regression(parts):
    from sklearn.linear_model import LogisticRegression

    _, probe_train, probe_test = parts
    train, test = probe_train.subset(list(range(600))), probe_test.subset(list(range(600)))
    views = TopBottomViews()
    a = views.prepare(train.images).flatten(1).double().numpy()
    b = views.prepare(test.images).flatten(1).double().numpy()
    mean = a.mean(axis=0)
    scale = ((a - mean) ** 2).mean() ** 0.5
    model = LogisticRegression(C=0.01, max_iter=1000).fit((a - mean) / scale, train.labels.numpy())
    expected = model.score((b - mean) / scale, test.labels.numpy())
    assert probe_accuracy(nn.Flatten(), train, test, C=0.01, scaling="global") == pytest.approx(expected, abs=1e-12)


def test_paper_probe_agrees_with_scikit_learns_minmax_pipeline(parts):
    """The paper's probe (mirl.ipynb): MinMaxScaler, then multinomial logistic regression, saga, tol 0.1."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import MinMaxScaler

    _, probe_train, probe_test = parts
    train, test = probe_train.subset(list(range(800))), probe_test.subset(list(range(500)))
    views = TopBottomViews()
    a = views.prepare(train.images).flatten(1).double().numpy()
    b = views.prepare(test.images).flatten(1).double().numpy()
    scaler = MinMaxScaler().fit(a)
    expected = {}
    for C in (0.01, 10.0):
        model = LogisticRegression(C=C, solver="saga", tol=0.1, random_state=0).fit(scaler.transform(a),
                                                                                   train.labels.numpy())
        expected[C] = model.score(scaler.transform(b), test.labels.numpy())
    got = probe_accuracies(nn.Flatten(), train, test, Cs=(0.01, 10.0, 0.01))
    assert list(got) == [0.01, 10.0]  # each C once, in the order given
    # The probe divides where MinMaxScaler multiplies by a reciprocal: at most a test digit's difference.
    assert got[0.01] == pytest.approx(expected[0.01], abs=1 / len(test) + 1e-12)
    assert got[10.0] == pytest.approx(expected[10.0], abs=1 / len(test) + 1e-12)
    assert expected[10.0] > expected[0.01]  # a weaker penalty fits 392 pixels better
    assert probe_accuracy(nn.Flatten(), train, test) == got[10.0]  # the default is the paper's probe

    class Rescaled(nn.Module):  # a positive scale and a shift per feature: min-max scaling undoes it
        def forward(self, x):
            flat = x.flatten(1)
            return flat * torch.linspace(0.5, 50.0, flat.shape[1]) + torch.linspace(-3.0, 3.0, flat.shape[1])

    assert probe_accuracy(Rescaled(), train, test) == pytest.approx(got[10.0], abs=4e-3)
    with pytest.raises(ValueError, match=r"^Cs\[1\] must be"):
        probe_accuracies(nn.Flatten(), train, test, Cs=(1.0, 0.0))
    with pytest.raises(ValueError, match="^Cs must hold"):
        probe_accuracies(nn.Flatten(), train, test, Cs=())


# --- the chapter's claims, in the quick profile, with its seeds ------------------------------------


def test_evidence_1_probe_accuracy_rises_while_the_encoder_stays_bijective(parts, one_thread):
    """Chapter 5, Evidence 1: +1 point or more of linear accuracy at a fixed MI (seeds 0-2 of the quick
    profile gained 1.65 to 2.05 points with the paper's probe, and ended 2.0 to 2.8 above the pixels)."""
    sizes = SIZES["quick"]
    pretrain, probe_train, probe_test = parts
    torch.manual_seed(0)
    method = InfoMax(
        flow_encoder(sizes.flow_layers, sizes.flow_hidden, seed=0),
        flow_encoder(sizes.flow_layers, sizes.flow_hidden, seed=1),
        make_critic("bilinear", HALF_DIM),
        "infonce",
    )
    # The paper's init is the identity to within 1e-4: with one common scale the probe cannot tell it
    # from the pixels (min-max scaling per feature can: it blows the tiny shifts of blank pixels up).
    common = {"C": sizes.probe_C, "scaling": "global"}
    assert probe_accuracy(method.g1, probe_train, probe_test, **common) == pytest.approx(
        probe_accuracy(nn.Flatten(), probe_train, probe_test, **common), abs=2e-3)
    monitor = infomax_monitor(probe_train, probe_test, batch_size=sizes.batch_size, C=sizes.probe_C,
                              scaling=sizes.probe_scaling)
    run = fit(method, pretrain, TopBottomViews(), sizes.fit_config(sizes.steps), hooks=[monitor])
    pixel = probe_accuracy(nn.Flatten(), probe_train, probe_test, C=sizes.probe_C, scaling=sizes.probe_scaling)
    eval_steps, accuracy = run.metric("probe_accuracy")
    assert eval_steps.tolist() == [0, 60, 120, 180, 240, 300]
    assert run.curve("bound")[1].shape == (sizes.steps,)
    assert accuracy[-1] - accuracy[0] >= 0.01 and accuracy[-1] >= pixel + 0.01
    # The estimate rose well above 0 and above the label's entropy log 10, below log K.
    assert math.log(10) < run.final("heldout_bound") < math.log(sizes.batch_size)
    flow = method.g1[1]
    x = TopBottomViews().prepare(probe_test.images).flatten(1)
    with torch.no_grad():
        assert float((flow.inverse(flow(x)) - x).abs().max()) < 1e-4
        assert torch.equal(flow.log_det_jacobian(x), torch.zeros(len(x)))


def test_evidence_2_the_adversarial_encoder_falls_below_the_pixel_baseline(parts, one_thread):
    """Chapter 5, Evidence 2: the bijective adversarial encoder ends 4 points or more below pixels
    (seeds 0-2 of the quick profile ended 6.7 to 9.0 points below, with the paper's probe)."""
    sizes = SIZES["quick"]
    pretrain, probe_train, probe_test = parts
    torch.manual_seed(0)
    encoder = flow_encoder(sizes.flow_layers, sizes.flow_hidden, affine=True, seed=0)
    run = train_adversarial(
        encoder, pretrain, probe_train, probe_test, steps=sizes.adversarial_steps,
        batch_size=sizes.batch_size, lr=sizes.adversarial_lr, encoder_lr=sizes.adversarial_encoder_lr,
        classifier_steps=sizes.adversarial_classifier_steps, warmup_steps=sizes.adversarial_warmup,
        evals=sizes.evals, probe_C=sizes.probe_C, probe_scaling=sizes.probe_scaling,
    )
    pixel = probe_accuracy(nn.Flatten(), probe_train, probe_test, C=sizes.probe_C, scaling=sizes.probe_scaling)
    eval_steps, accuracy = run.metric("probe_accuracy")
    warmup = sizes.adversarial_warmup  # the record's first steps are the classifier's warm-up
    assert eval_steps.tolist() == [warmup + k for k in (0, 30, 60, 90, 120, 150)]
    assert accuracy[0] >= pixel - 0.01  # the warm-up trains the classifier only: the encoder is still as made
    assert accuracy[-1] <= pixel - 0.04
    assert run.config["probe_scaling"] == sizes.probe_scaling
    steps, classifier_loss = run.curve("classifier_loss")
    assert steps.tolist() == list(range(warmup + sizes.adversarial_steps)) and run.steps == len(steps)
    encoder_loss = np.asarray(run.curves["encoder_loss"])
    assert np.isnan(encoder_loss[:warmup]).all() and not np.isnan(encoder_loss[warmup:]).any()
    # The encoder's loss is a cross-entropy with the uniform distribution: at least log 10.
    assert (encoder_loss[warmup:] >= math.log(10) - 1e-5).all()
    assert run.config["classifier_steps"] == sizes.adversarial_classifier_steps and run.seconds > 0
    assert Run.from_json(run.to_json()).final("probe_accuracy") == accuracy[-1]
    flow = encoder[1]
    x = TopBottomViews().prepare(probe_test.images).flatten(1)
    with torch.no_grad():
        assert float((flow.inverse(flow(x)) - x).abs().max()) < 1e-3


def test_an_interrupted_adversarial_run_resumes_to_the_same_record(tmp_path):
    images = torch.randint(0, 256, (64, 1, 28, 28), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    data = ImageData(images, torch.arange(64) % 10, tuple("0123456789"), "noise")

    def game(directory, **kwargs):
        torch.manual_seed(0)
        return train_adversarial(mlp_encoder((8,), 4), data, data, data, steps=6, warmup_steps=4, batch_size=8,
                                 classifier_steps=2, evals=2, seed=3, checkpoint_dir=directory, **kwargs)

    whole = game(tmp_path / "a", checkpoint_every=3)
    part = game(tmp_path / "b", checkpoint_every=3, until=8)  # checkpoints at steps 3 and 6, then stops at 8
    assert part.steps == 8 and part.metric("probe_accuracy")[0].tolist() == [4, 7]
    resumed = game(tmp_path / "b", checkpoint_every=3, resume=True)  # from step 6
    assert resumed.curves.keys() == whole.curves.keys() and resumed.evals == whole.evals and resumed.steps == 10
    for name, column in whole.curves.items():
        assert np.array_equal(resumed.curves[name], column, equal_nan=True), name
    assert whole.metric("probe_accuracy")[0].tolist() == [4, 7, 10]
    with pytest.raises(ValueError, match="need a checkpoint_dir"):
        train_adversarial(mlp_encoder((8,), 4), data, data, data, steps=1, batch_size=8, resume=True)


def test_adversarial_arguments_are_checked(parts):
    pretrain, probe_train, probe_test = parts
    with pytest.raises(ValueError, match="steps"):
        train_adversarial(flow_encoder(1, (4,)), pretrain, probe_train, probe_test, steps=0)
    with pytest.raises(ValueError, match="warmup_steps"):
        train_adversarial(flow_encoder(1, (4,)), pretrain, probe_train, probe_test, steps=1, warmup_steps=-1)
    with pytest.raises(TypeError, match="encoder"):
        train_adversarial(lambda x: x, pretrain, probe_train, probe_test, steps=1)
    assert isinstance(pretrain, ImageData)


def test_the_encoders_are_named_as_infomax_takes_them():
    # The base class calls its first module "backbone": InfoMax's is g1.
    with pytest.raises(TypeError, match="^g1 must be an nn.Module"):
        InfoMax("flow", nn.Flatten(), make_critic("bilinear", 4))
    with pytest.raises(TypeError, match="^hidden_dims must be a sequence"):
        mlp_encoder(300)
