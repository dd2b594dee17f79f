"""jessl_lite.views against torchvision's per-image transforms: exact per operation, and in
distribution for whole random pipelines; plus shapes, ranges, independence and determinism."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp

from jessl_lite.views import (
    Augmentation,
    TwoViews,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    cifar10_views,
    gaussian_blur,
    mnist_views,
    resized_crop,
    sample_crop_boxes,
    solarize,
    to_grayscale,
    top_bottom_views,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """32 random smooth-ish RGB images in [0, 1] (smooth so that resampling errors would show)."""
    g = torch.Generator().manual_seed(0)
    coarse = torch.rand(32, 3, 8, 8, generator=g)
    return torch.nn.functional.interpolate(coarse, size=32, mode="bilinear", align_corners=False).clamp(0, 1)


def test_resized_crop_equals_torchvision_image_by_image(images):
    aug = Augmentation(size=32, crop_scale=(0.08, 1.0))
    top, left, h, w = sample_crop_boxes(32, (32, 32), aug, torch.Generator().manual_seed(1))
    flip = torch.arange(32) % 2 == 0
    ours = resized_crop(images, top, left, h, w, 32, flip)
    for k in range(32):
        # antialias=True (torchvision's default) as well: a crop no larger than the output is only upsampled.
        ref = TF.resized_crop(images[k], int(top[k]), int(left[k]), int(h[k]), int(w[k]), [32, 32], antialias=True)
        ref = TF.hflip(ref) if flip[k] else ref
        torch.testing.assert_close(ours[k], ref, atol=1e-6, rtol=0)


def test_resized_crop_of_the_whole_image_is_the_identity(images):
    n = images.shape[0]
    full = torch.full((n,), 32)
    out = resized_crop(images, torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.long), full, full, 32)
    torch.testing.assert_close(out, images, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("ours", "theirs", "low", "high"),
    [
        (adjust_brightness, TF.adjust_brightness, 0.0, 2.0),
        (adjust_contrast, TF.adjust_contrast, 0.0, 2.0),
        (adjust_saturation, TF.adjust_saturation, 0.0, 2.0),
        (adjust_hue, TF.adjust_hue, -0.5, 0.5),
    ],
)
def test_color_operations_equal_torchvision_with_per_sample_factors(images, ours, theirs, low, high):
    factors = low + (high - low) * torch.rand(32, generator=torch.Generator().manual_seed(2))
    out = ours(images, factors)
    for k in range(32):
        torch.testing.assert_close(out[k], theirs(images[k], float(factors[k])), atol=1e-6, rtol=0)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_a_factor_of_one_is_exactly_the_identity(seed):
    # The batched jitter masks factors to 1 for samples whose turn it is not: this must be exact.
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
    ones = torch.ones(4)
    for op in (adjust_brightness, adjust_contrast, adjust_saturation):
        assert torch.equal(op(x, ones), x)


def test_batched_jitter_applies_each_samples_operations_in_its_own_order(images):
    aug = Augmentation(size=32, jitter=(0.6, 0.6, 0.6, 0.2), jitter_p=0.7)
    params = aug.sample(32, torch.Generator().manual_seed(10), (32, 32))
    ours = aug._color_jitter(images, params)
    ops = [(TF.adjust_brightness, "brightness"), (TF.adjust_contrast, "contrast"),
           (TF.adjust_saturation, "saturation"), (TF.adjust_hue, "hue")]
    assert len({tuple(o) for o in params["order"].tolist()}) > 10  # many different orders occur
    for k in range(32):
        ref = images[k]
        if params["jitter"][k]:
            for i in params["order"][k].tolist():
                fn, name = ops[i]
                ref = fn(ref, float(params[name][k]))
        torch.testing.assert_close(ours[k], ref, atol=1e-6, rtol=0)


def test_grayscale_blur_and_solarize_equal_torchvision(images):
    torch.testing.assert_close(to_grayscale(images), TF.rgb_to_grayscale(images), atol=1e-7, rtol=0)
    sigma = 0.1 + 1.9 * torch.rand(32, generator=torch.Generator().manual_seed(3))
    out = gaussian_blur(images, sigma, 5)
    for k in range(32):
        ref = TF.gaussian_blur(images[k], [5, 5], [float(sigma[k])] * 2)
        torch.testing.assert_close(out[k], ref, atol=1e-6, rtol=0)
    torch.testing.assert_close(solarize(images, 0.5), TF.solarize(images, 0.5))


def test_crop_boxes_follow_torchvisions_distribution():
    aug = Augmentation(size=32, crop_scale=(0.2, 1.0))
    top, left, h, w = sample_crop_boxes(4000, (32, 32), aug, torch.Generator().manual_seed(4))
    torch.manual_seed(4)
    ref = torch.tensor([T.RandomResizedCrop.get_params(torch.zeros(3, 32, 32), [0.2, 1.0], [3 / 4, 4 / 3])
                        for _ in range(4000)])
    ours = torch.stack([top, left, h, w], dim=1)
    for name, a, b in [("area", ours[:, 2] * ours[:, 3], ref[:, 2] * ref[:, 3]),
                       ("aspect", ours[:, 3] / ours[:, 2], ref[:, 3] / ref[:, 2]),
                       ("top", ours[:, 0], ref[:, 0]), ("left", ours[:, 1], ref[:, 1])]:
        assert ks_2samp(a.numpy(), b.numpy()).pvalue > 1e-3, name
    assert (ours[:, 2] <= 32).all() and (ours[:, 0] + ours[:, 2] <= 32).all() and (ours[:, 2] >= 1).all()


def test_crop_fallback_is_torchvisions_centre_crop():
    # Aspect ratio 2 at full area never fits a square image: all ten tries fail.
    aug = Augmentation(size=32, crop_scale=(1.0, 1.0), crop_ratio=(2.0, 2.0))
    boxes = torch.stack(sample_crop_boxes(5, (32, 32), aug, torch.Generator().manual_seed(0)), dim=1)
    expected = T.RandomResizedCrop.get_params(torch.zeros(3, 32, 32), [1.0, 1.0], [2.0, 2.0])
    assert boxes.tolist() == [list(expected)] * 5 == [[8, 0, 16, 32]] * 5


def _statistics(views: torch.Tensor) -> dict[str, torch.Tensor]:
    return {
        "red mean": views[:, 0].mean(dim=(1, 2)),
        "blue mean": views[:, 2].mean(dim=(1, 2)),
        "std": views.std(dim=(1, 2, 3)),
        "saturation": (views.max(dim=1).values - views.min(dim=1).values).mean(dim=(1, 2)),
        "corner pixel": views[:, 1, 0, 0],
    }


def _torchvision_views(image: torch.Tensor, n: int, brightness: float = 0.4) -> torch.Tensor:
    pipeline = T.Compose([
        T.RandomResizedCrop(32, scale=(0.2, 1.0)),
        T.RandomApply([T.ColorJitter(brightness, 0.4, 0.4, 0.1)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.RandomHorizontalFlip(),
    ])
    torch.manual_seed(5)
    return torch.stack([pipeline(image) for _ in range(n)])


def test_cifar_views_match_torchvision_pipeline_in_distribution(images):
    n = 2000
    image = images[0]
    ours = cifar10_views(normalize=False).first(image.expand(n, -1, -1, -1), torch.Generator().manual_seed(6))
    theirs = _torchvision_views(image, n)
    stats_ours, stats_theirs = _statistics(ours), _statistics(theirs)
    for name in stats_ours:
        p = ks_2samp(stats_ours[name].numpy(), stats_theirs[name].numpy()).pvalue
        assert p > 1e-3, f"{name}: KS p-value {p:.2e}"
    # The comparison has power: torchvision with twice the brightness range is told apart.
    stronger = _statistics(_torchvision_views(image, n, brightness=0.8))
    assert ks_2samp(stats_ours["std"].numpy(), stronger["std"].numpy()).pvalue < 1e-3


def test_shapes_ranges_and_normalisation():
    g = torch.Generator().manual_seed(0)
    rgb = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8, generator=g)
    v1, v2 = cifar10_views(normalize=False)(rgb, g)
    assert v1.shape == v2.shape == (16, 3, 32, 32) and v1.dtype == torch.float32
    assert v1.min() >= 0 and v1.max() <= 1
    digits = torch.randint(0, 256, (16, 1, 28, 28), dtype=torch.uint8, generator=g)
    d1, _ = mnist_views()(digits, g)
    assert d1.shape == (16, 1, 28, 28)
    prepared = mnist_views().prepare(digits)
    torch.testing.assert_close(prepared, (digits.float() / 255 - 0.1307) / 0.3081)
    small = Augmentation(size=16)(rgb, g)
    assert small.shape == (16, 3, 16, 16)


def test_every_sample_draws_its_own_parameters(images):
    same = images[:1].expand(64, -1, -1, -1)
    v1, v2 = cifar10_views(normalize=False)(same, torch.Generator().manual_seed(0))
    flat = v1.reshape(64, -1)
    distances = torch.cdist(flat, flat) + torch.eye(64) * 1e9
    assert distances.min() > 1e-3  # no two views of the same image coincide
    assert (v1 - v2).abs().amax(dim=(1, 2, 3)).min() > 1e-3
    params = cifar10_views().first.sample(4000, torch.Generator().manual_seed(1), (32, 32))
    # Independence across samples: neighbouring samples' brightness factors are uncorrelated.
    b = params["brightness"]
    r = torch.corrcoef(torch.stack([b[:-1], b[1:]]))[0, 1]
    assert abs(float(r)) < 4 / math.sqrt(4000)
    assert abs(params["flip"].float().mean().item() - 0.5) < 0.03
    assert abs(params["jitter"].float().mean().item() - 0.8) < 0.03


def test_views_are_reproducible_from_the_generator_seed(images):
    views = cifar10_views()
    a = views(images, torch.Generator().manual_seed(7))
    b = views(images, torch.Generator().manual_seed(7))
    c = views(images, torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_parameters_of_a_global_batch_apply_shard_by_shard(images):
    # What data-parallel training relies on: shard k of the views = views of shard k with its parameters.
    views = TwoViews(Augmentation(size=32, blur_p=0.5, solarize_p=0.5))
    params = views.sample(32, torch.Generator().manual_seed(9), (32, 32))
    whole = views.apply(images, params)
    half = {v: {k: t[16:] for k, t in p.items()} for v, p in params.items()}
    shard = views.apply(images[16:], half)
    torch.testing.assert_close(shard[0], whole[0][16:], atol=1e-6, rtol=0)
    torch.testing.assert_close(shard[1], whole[1][16:], atol=1e-6, rtol=0)


def test_top_and_bottom_halves_tile_the_image():
    digits = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    top, bottom = top_bottom_views(normalize=False)(digits)
    assert top.shape == bottom.shape == (4, 1, 14, 28)
    torch.testing.assert_close(torch.cat([top, bottom], dim=2), digits.float() / 255)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="size"):
        Augmentation(size=0)
    with pytest.raises(ValueError, match="crop_scale"):
        Augmentation(size=32, crop_scale=(0.5, 0.2))
    with pytest.raises(ValueError, match="flip_p"):
        Augmentation(size=32, flip_p=1.5)
    with pytest.raises(ValueError, match="blur_kernel"):
        Augmentation(size=32, blur_kernel=4)
    with pytest.raises(ValueError, match=r"images must have shape \(N, C, H, W\)"):
        cifar10_views()(torch.zeros(3, 32, 32), torch.Generator())
    with pytest.raises(TypeError, match="images must be a torch.Tensor"):
        cifar10_views()([[0.0]], torch.Generator())
    with pytest.raises(TypeError, match="first"):
        TwoViews("crop")


# --- float images, jitter factors, crop boxes: refused when they cannot be right -------------------


def test_float_images_in_0_255_are_refused_with_the_fix():
    # Taken as [0, 1], 0..255 floats saturate at white under the first colour operation.
    pixels = torch.randint(0, 256, (4, 3, 32, 32)).float()
    views = cifar10_views()
    for call in (lambda: views(pixels, torch.Generator()), lambda: views.prepare(pixels),
                 lambda: top_bottom_views()(pixels[:, :1]), lambda: top_bottom_views().prepare(pixels[:, :1])):
        with pytest.raises(ValueError, match=r"images must lie in \[0, 1\].*uint8.*divide .* by 255"):
            call()
    # The same pixels as uint8, or scaled by 1/255, are fine and give the same views.
    v_uint8 = views(pixels.to(torch.uint8), torch.Generator().manual_seed(0))
    v_float = views(pixels / 255, torch.Generator().manual_seed(0))
    torch.testing.assert_close(v_uint8, v_float)


def test_images_of_wrong_dtype_or_channels_are_refused():
    views = cifar10_views(normalize=False)
    with pytest.raises(TypeError, match="images must be uint8 .* or floating point"):
        views(torch.zeros(2, 3, 32, 32, dtype=torch.int64), torch.Generator())
    with pytest.raises(ValueError, match="images must have 1 or 3 channels"):
        views(torch.zeros(2, 4, 32, 32), torch.Generator())
    with pytest.raises(ValueError, match="mean has 3 channels but the images have 1"):
        cifar10_views()(torch.zeros(2, 1, 32, 32), torch.Generator())
    with pytest.raises(ValueError, match="images must not be empty"):
        views(torch.zeros(0, 3, 32, 32), torch.Generator())


@pytest.mark.parametrize(
    ("op", "bad"),
    [
        (adjust_brightness, -0.5),
        (adjust_contrast, -0.5),
        (adjust_saturation, -0.5),
        (adjust_hue, 0.7),
    ],
)
def test_jitter_factors_out_of_range_are_refused(images, op, bad):
    name = "shift" if op is adjust_hue else "factor"
    with pytest.raises(ValueError, match=name):
        op(images, torch.full((images.shape[0],), bad))
    with pytest.raises(ValueError, match=name):
        op(images, bad)


def test_a_nan_factor_is_refused_as_a_number_and_passes_through_as_a_tensor_entry(images):
    # A NaN inside a tensor flows through as in torch (the training loop's NaN guard sees it).
    with pytest.raises(ValueError, match="factor must be a finite number >= 0"):
        adjust_brightness(images, math.nan)
    assert adjust_brightness(images, torch.full((32,), math.nan)).isnan().all()


def test_a_number_factor_equals_the_same_factor_per_image(images):
    torch.testing.assert_close(adjust_brightness(images, 0.7), adjust_brightness(images, torch.full((32,), 0.7)))
    torch.testing.assert_close(gaussian_blur(images, 1.0, 3), gaussian_blur(images, torch.ones(32), 3))


def test_factors_of_the_wrong_shape_dtype_or_device_are_refused(images):
    with pytest.raises(ValueError, match=r"factor must have one entry per image, shape \(32,\)"):
        adjust_brightness(images, torch.ones(3))
    with pytest.raises(TypeError, match="factor must be a float tensor"):
        adjust_brightness(images, torch.ones(32, dtype=torch.long))
    with pytest.raises(ValueError, match="factor must be on the device of the images"):
        adjust_brightness(images, torch.ones(32, device="meta"))
    with pytest.raises(ValueError, match="sigma must be > 0"):
        gaussian_blur(images, torch.zeros(32), 3)
    with pytest.raises(ValueError, match="kernel_size must be < 64"):
        gaussian_blur(images, 1.0, 65)  # reflect padding of 32 on a 32-pixel image
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        to_grayscale(torch.zeros(2, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="threshold"):
        solarize(images, math.nan)
    with pytest.raises(ValueError, match="threshold must be a finite number >= 0 and <= 1"):
        solarize(images, 2.5)


def test_crop_boxes_outside_the_image_are_refused(images):
    n = images.shape[0]
    ones, zeros = torch.ones(n, dtype=torch.long), torch.zeros(n, dtype=torch.long)
    good = (zeros, zeros, 4 * ones, 4 * ones)
    assert resized_crop(images, *good, 4).shape == (n, 3, 4, 4)
    for box in [
        (zeros - 1, zeros, 4 * ones, 4 * ones),  # starts above the image
        (zeros, 30 * ones, 4 * ones, 4 * ones),  # ends right of the 32-pixel image
        (zeros, zeros, zeros, 4 * ones),  # empty
    ]:
        with pytest.raises(ValueError, match="crop boxes must lie inside the 32x32 images; box 0"):
            resized_crop(images, *box, 4)
    with pytest.raises(TypeError, match="top must be a integer tensor"):
        resized_crop(images, zeros.float(), zeros, 4 * ones, 4 * ones, 4)
    with pytest.raises(TypeError, match="flip must be a bool tensor"):
        resized_crop(images, *good, 4, flip=zeros)


def test_apply_checks_the_parameters_it_is_given(images):
    aug = Augmentation(size=32)
    params = aug.sample(images.shape[0], torch.Generator().manual_seed(0), (32, 32))
    assert aug.apply(images, params).shape == images.shape
    with pytest.raises(ValueError, match=r"params lacks \['flip'\]"):
        aug.apply(images, {k: v for k, v in params.items() if k != "flip"})
    with pytest.raises(ValueError, match=r"params\['brightness'\] must lie in \[0, inf\]"):
        aug.apply(images, {**params, "brightness": -params["brightness"]})
    with pytest.raises(ValueError, match="crop boxes must lie inside"):
        aug.apply(images, {**params, "top": params["top"] + 32})
    with pytest.raises(ValueError, match=r"params\['top'\] must have one entry per image, shape \(4,\)"):
        aug.apply(images[:4], params)  # parameters drawn for another batch
    with pytest.raises(ValueError, match="params must be the dict of TwoViews.sample"):
        TwoViews(aug).apply(images, params)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"size": 32.0}, TypeError, "size must be an int"),
        ({"crop_scale": (0.2, math.nan)}, ValueError, r"crop_scale\[1\]"),
        ({"crop_scale": 0.5}, TypeError, "crop_scale must be a pair"),
        ({"crop_ratio": (0.0, 1.0)}, ValueError, r"crop_ratio\[0\] must be a finite number > 0"),
        ({"flip_p": math.nan}, ValueError, "flip_p"),
        ({"jitter": (0.4, -0.4, 0.4, 0.1)}, ValueError, r"jitter\[1\] \(contrast\) must be a finite number >= 0"),
        ({"jitter": (0.4, 0.4, 0.4, 0.6)}, ValueError, r"jitter\[3\] \(hue\) must be <= 0.5"),
        ({"jitter": (0.4, 0.4)}, TypeError, "jitter must be 4 strengths"),
        ({"blur_sigma": (2.0, 0.1)}, ValueError, "blur_sigma must be a pair .* low <= high"),
        ({"blur_kernel": 65}, ValueError, "blur_kernel must be < 64"),
        ({"solarize_threshold": math.nan}, ValueError, "solarize_threshold"),
        ({"solarize_threshold": -1.0}, ValueError, "solarize_threshold"),
        ({"mean": (0.5,), "std": (0.0,)}, ValueError, r"std\[0\] must be a finite number > 0"),
        ({"mean": (0.5,), "std": (0.2, 0.2)}, ValueError, "one number per channel"),
        ({"mean": "0.5", "std": (0.2,)}, TypeError, "mean must be a tuple"),
    ],
)
def test_augmentation_arguments_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        Augmentation(**{"size": 32, **kwargs})


def test_sampling_arguments_are_checked():
    aug = Augmentation(size=8)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        aug.sample(4, None, (8, 8))
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        aug.sample(0, torch.Generator(), (8, 8))
    with pytest.raises(ValueError, match="image_size must be a pair"):
        aug.sample(4, torch.Generator(), (8, 8, 3))
    with pytest.raises(TypeError, match="augmentation must be an Augmentation"):
        sample_crop_boxes(4, (8, 8), "crop", torch.Generator())
    with pytest.raises(TypeError, match="normalize must be True or False"):
        cifar10_views(normalize=None)
    with pytest.raises(TypeError, match="second must be an Augmentation or None"):
        TwoViews(aug, "crop")


def test_blur_maps_an_empty_batch_to_an_empty_batch():
    # Like every other operation here (conv2d refuses an empty batch).
    empty = torch.zeros(0, 3, 8, 8)
    assert gaussian_blur(empty, 1.0, 3).shape == (0, 3, 8, 8)
