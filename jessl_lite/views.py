"""Two views of every image in a batch, made on the device with per-sample random parameters.

Joint-embedding methods learn what two random views of one image share (chapter 3), so each
image needs its own crop, flip and colour change. torchvision's v2 transforms draw one set of
parameters per call, which for a batch would give every image the same crop; here every sample
draws its own, from the same distributions as torchvision's per-image transforms:

* random resized crop (``RandomResizedCrop``: area fraction ``U(scale)``, log aspect ratio
  ``U(log ratio)``, ten tries then a centre crop), resampled bilinearly;
* horizontal flip with probability ``flip_p``;
* colour jitter (``ColorJitter``): brightness, contrast, saturation factors ``U[max(0, 1-s), 1+s]``,
  hue shift ``U[-h, h]``, applied in a random order per sample, with probability ``jitter_p``;
* random grayscale (ITU-R 601-2 luma), Gaussian blur (``sigma ~ U(blur_sigma)``), solarize.

A batch goes through in two steps, :meth:`Augmentation.sample` (cheap: a few numbers per image)
and :meth:`Augmentation.apply` (the pixel work). The split lets data-parallel training draw the
parameters of the *global* batch on every rank and apply only its own shard, so N processes see
exactly the views one process would. Everything is reproducible from a ``torch.Generator``.

Images are ``uint8`` (0..255, what :class:`~jessl_lite.data.ImageData` holds) or floating point
in [0, 1]. Float images in 0..255 would be clamped to white by the first colour operation, so
their range is checked, as are the values of crop boxes and jitter factors passed to the
operations below, wherever reading them costs no wait: always on the CPU, and in
:meth:`Augmentation.prepare` (evaluation) on any device. On a GPU, :meth:`Augmentation.apply`
and the operations check only shapes, dtypes and devices, because reading a value there makes
the host wait for the device in every training step. The training loop passes uint8 images and
parameters drawn by :meth:`Augmentation.sample`, which are valid by construction.

Example::

    >>> views = cifar10_views()
    >>> images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    >>> v1, v2 = views(images, torch.Generator().manual_seed(0))
    >>> v1.shape, v1.dtype
    (torch.Size([8, 3, 32, 32]), torch.float32)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .validation import (
    check_bool,
    check_generator,
    check_int,
    check_int_sequence,
    check_interval,
    check_number,
    check_probability,
    check_same_device,
    check_tensor,
    check_tensor_range,
)

__all__ = [
    "Augmentation",
    "TwoViews",
    "TopBottomViews",
    "cifar10_views",
    "mnist_views",
    "top_bottom_views",
    "sample_crop_boxes",
    "resized_crop",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_saturation",
    "adjust_hue",
    "to_grayscale",
    "gaussian_blur",
    "solarize",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "MNIST_MEAN",
    "MNIST_STD",
]

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
MNIST_MEAN = (0.1307,)
MNIST_STD = (0.3081,)

Params = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Augmentation:
    """One random view: the torchvision pipeline ``RandomResizedCrop -> RandomApply(ColorJitter)
    -> RandomGrayscale -> GaussianBlur -> RandomSolarize -> RandomHorizontalFlip -> Normalize``.

    Args:
        size: output side length (square views).
        crop_scale: range of the crop's area as a fraction of the image (SimSiam CIFAR: 0.2..1).
        crop_ratio: range of the crop's aspect ratio w/h.
        flip_p: probability of a horizontal flip.
        jitter: strengths (brightness, contrast, saturation, hue), as ``ColorJitter``'s arguments.
        jitter_p: probability that colour jitter is applied at all.
        grayscale_p: probability of converting to grayscale (3-channel images only).
        blur_p: probability of a Gaussian blur with ``sigma ~ U(blur_sigma)``.
        blur_kernel: blur kernel side (odd); BYOL uses 23 on 224-pixel images (~10%).
        solarize_p: probability of solarizing (``x -> 1 - x`` where ``x >= solarize_threshold``).
        mean, std: per-channel normalisation applied last; ``None`` leaves values in [0, 1].
    """

    size: int
    crop_scale: tuple[float, float] = (0.2, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1)
    jitter_p: float = 0.8
    grayscale_p: float = 0.2
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    blur_kernel: int = 3
    solarize_p: float = 0.0
    solarize_threshold: float = 0.5
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        # Checked once here, then stored normalised (tuples of floats), so that sample/apply can trust them.
        def store(name: str, value) -> None:
            object.__setattr__(self, name, value)

        check_int(self.size, "size", minimum=1)
        store("crop_scale", check_interval(self.crop_scale, "crop_scale", low=0.0, high=1.0, low_open=True))
        store("crop_ratio", check_interval(self.crop_ratio, "crop_ratio", low=0.0, low_open=True))
        for name in ("flip_p", "jitter_p", "grayscale_p", "blur_p", "solarize_p"):
            store(name, check_probability(getattr(self, name), name))
        jitter = self.jitter
        if isinstance(jitter, str | bytes) or not isinstance(jitter, tuple | list) or len(jitter) != 4:
            raise TypeError(f"jitter must be 4 strengths (brightness, contrast, saturation, hue); got {jitter!r}")
        names = ("brightness", "contrast", "saturation", "hue")
        strengths = tuple(check_number(j, f"jitter[{i}] ({names[i]})", low=0.0) for i, j in enumerate(jitter))
        if strengths[3] > 0.5:
            raise ValueError(f"jitter[3] (hue) must be <= 0.5 (half a turn); got {strengths[3]}")
        store("jitter", strengths)
        store("blur_sigma", check_interval(self.blur_sigma, "blur_sigma", low=0.0, low_open=True))
        _check_kernel_size(self.blur_kernel, "blur_kernel", self.size)
        store("solarize_threshold", check_number(self.solarize_threshold, "solarize_threshold", low=0.0, high=1.0))
        mean, std = _check_mean_std(self.mean, self.std)
        store("mean", mean)
        store("std", std)

    def sample(self, n: int, generator: torch.Generator, image_size: tuple[int, int]) -> Params:
        """Random parameters for ``n`` images of size ``(H, W)``, drawn on ``generator``'s device."""
        check_int(n, "n", minimum=1)
        check_generator(generator, "generator")
        _check_image_size(image_size)
        device = generator.device

        def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
            return low + (high - low) * torch.rand(*shape, generator=generator, device=device)

        top, left, height, width = sample_crop_boxes(n, image_size, self, generator)
        params = {"top": top, "left": left, "height": height, "width": width}
        params["flip"] = torch.rand(n, generator=generator, device=device) < self.flip_p
        b, c, s, h = self.jitter
        params["jitter"] = torch.rand(n, generator=generator, device=device) < self.jitter_p
        params["brightness"] = uniform(max(0.0, 1 - b), 1 + b, n)
        params["contrast"] = uniform(max(0.0, 1 - c), 1 + c, n)
        params["saturation"] = uniform(max(0.0, 1 - s), 1 + s, n)
        params["hue"] = uniform(-h, h, n)
        # torchvision applies the four jitter operations in a random order: a random permutation.
        params["order"] = torch.rand(n, 4, generator=generator, device=device).argsort(dim=1)
        params["grayscale"] = torch.rand(n, generator=generator, device=device) < self.grayscale_p
        params["blur"] = torch.rand(n, generator=generator, device=device) < self.blur_p
        params["sigma"] = uniform(*self.blur_sigma, n)
        params["solarize"] = torch.rand(n, generator=generator, device=device) < self.solarize_p
        return params

    def apply(self, images: torch.Tensor, params: Params) -> torch.Tensor:
        """The views of ``images`` (``(N, C, H, W)`` uint8 or float in [0, 1]) for ``params``.

        Returns:
            ``(N, C, size, size)`` float32 (normalised when ``mean``/``std`` are set).
        """
        _check_images(images, cpu_only=True, channels=(1, 3))
        self._check_channels(images)
        _check_params(params, images)
        x = _to_float(images)
        box = params["top"], params["left"], params["height"], params["width"]
        x = _resized_crop(x, *box, self.size, params["flip"])
        if self.jitter_p > 0 and max(self.jitter) > 0:
            x = self._color_jitter(x, params)
        if self.grayscale_p > 0 and x.shape[1] == 3:
            x = torch.where(_per_sample(params["grayscale"]), _grayscale(x).expand_as(x), x)
        if self.blur_p > 0:
            x = torch.where(_per_sample(params["blur"]), _blur(x, params["sigma"], self.blur_kernel), x)
        if self.solarize_p > 0:
            x = torch.where(_per_sample(params["solarize"]), _solarize(x, self.solarize_threshold), x)
        return self._normalize(x)

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        check_tensor(images, "images", ndim=4, dims="(N, C, H, W)", nonempty=True)  # apply checks the rest
        return self.apply(images, self.sample(images.shape[0], generator, tuple(images.shape[-2:])))

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Un-augmented input for evaluation: to float, resized to ``size`` if needed, normalised.

        Float images are checked to lie in [0, 1] on every device: evaluation is not the training step.
        """
        _check_images(images, cpu_only=False)
        self._check_channels(images)
        x = _to_float(images)
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        return self._normalize(x)

    def _color_jitter(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        on = params["jitter"]
        one = torch.ones_like(params["brightness"])
        strength = self.jitter
        for position in range(4):
            op = params["order"][:, position]
            # A factor of exactly 1 leaves an image bit-for-bit unchanged, so masking factors
            # (rather than images) applies each operation only to the samples whose turn it is.
            if strength[0] > 0:
                x = _brightness(x, torch.where(on & (op == 0), params["brightness"], one))
            if strength[1] > 0:
                x = _contrast(x, torch.where(on & (op == 1), params["contrast"], one))
            if strength[2] > 0 and x.shape[1] == 3:
                x = _saturation(x, torch.where(on & (op == 2), params["saturation"], one))
            if strength[3] > 0 and x.shape[1] == 3:
                x = _masked_hue(x, params["hue"], on & (op == 3))
        return x

    def _check_channels(self, images: torch.Tensor) -> None:
        if self.mean is not None and len(self.mean) != images.shape[1]:
            raise ValueError(f"mean has {len(self.mean)} channels but the images have {images.shape[1]}")

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean is None:
            return x
        mean = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        return (x - mean) / std


class TwoViews:
    """Two independent random views per image: ``(first(x), second(x))``.

    Args:
        first: the augmentation of view 1.
        second: the augmentation of view 2; ``None`` uses ``first`` (symmetric, as SimSiam).
            BYOL's asymmetric pair differs in blur (p=1.0 vs 0.1) and solarize (0 vs 0.2).
    """

    def __init__(self, first: Augmentation, second: Augmentation | None = None) -> None:
        if not isinstance(first, Augmentation):
            raise TypeError(f"first must be an Augmentation; got {type(first).__name__}")
        if not isinstance(second, Augmentation | None):
            raise TypeError(f"second must be an Augmentation or None; got {type(second).__name__}")
        self.first, self.second = first, first if second is None else second

    def sample(self, n: int, generator: torch.Generator, image_size: tuple[int, int]) -> dict[str, Params]:
        """Parameters of both views for ``n`` images (see :meth:`Augmentation.sample`)."""
        first = self.first.sample(n, generator, image_size)
        return {"view1": first, "view2": self.second.sample(n, generator, image_size)}

    def apply(self, images: torch.Tensor, params: dict[str, Params]) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(params, dict) or set(params) != {"view1", "view2"}:
            raise ValueError(f"params must be the dict of TwoViews.sample, with keys 'view1' and 'view2'; got "
                             f"{sorted(params) if isinstance(params, dict) else type(params).__name__}")
        return self.first.apply(images, params["view1"]), self.second.apply(images, params["view2"])

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        check_tensor(images, "images", ndim=4, dims="(N, C, H, W)", nonempty=True)  # apply checks the rest
        return self.apply(images, self.sample(images.shape[0], generator, tuple(images.shape[-2:])))

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Un-augmented, normalised input for evaluation (the first view's preprocessing)."""
        return self.first.prepare(images)

    def __repr__(self) -> str:
        return f"TwoViews(first={self.first}, second={self.second})"


class TopBottomViews:
    """The top and the bottom half of each image (Tschannen et al. 2020, chapter 5).

    No randomness: the two views are ``x[..., :H//2, :]`` and ``x[..., H//2:, :]``, each
    ``(N, C, H//2, W)``. :meth:`prepare` returns the top half, the input of the first encoder.
    """

    def __init__(self, mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None) -> None:
        self.mean, self.std = _check_mean_std(mean, std)

    def sample(self, n: int, generator: torch.Generator, image_size: tuple[int, int]) -> dict[str, Params]:
        check_int(n, "n", minimum=1)
        _check_image_size(image_size)
        return {}

    def apply(self, images: torch.Tensor, params: dict[str, Params]) -> tuple[torch.Tensor, torch.Tensor]:
        return self._halves(images, cpu_only=True)

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        return self._halves(images, cpu_only=True)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        return self._halves(images, cpu_only=False)[0]

    def _halves(self, images: torch.Tensor, *, cpu_only: bool) -> tuple[torch.Tensor, torch.Tensor]:
        _check_images(images, cpu_only=cpu_only)
        if images.shape[-2] < 2:
            raise ValueError(f"images must be at least 2 pixels high to have two halves; got {tuple(images.shape)}")
        if self.mean is not None and len(self.mean) != images.shape[1]:
            raise ValueError(f"mean has {len(self.mean)} channels but the images have {images.shape[1]}")
        x = self._normalize(_to_float(images))
        half = x.shape[-2] // 2
        return x[..., :half, :], x[..., half : 2 * half, :]

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean is None:
            return x
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)


def cifar10_views(size: int = 32, *, normalize: bool = True) -> TwoViews:
    """SimSiam's CIFAR-10 views (Chen & He 2021, appendix): crop scale 0.2..1, jitter
    (0.4, 0.4, 0.4, 0.1) with p=0.8, grayscale p=0.2, flip p=0.5, no blur."""
    stats = {"mean": CIFAR10_MEAN, "std": CIFAR10_STD} if check_bool(normalize, "normalize") else {}
    return TwoViews(Augmentation(size=size, **stats))


def mnist_views(size: int = 28, *, normalize: bool = True) -> TwoViews:
    """Views for digits: crop scale 0.3..1 (ratio 3/4..4/3), brightness and contrast jitter 0.4
    with p=0.8; no flip (a mirrored 2 is not a 2), no hue, saturation or grayscale (one channel)."""
    stats = {"mean": MNIST_MEAN, "std": MNIST_STD} if check_bool(normalize, "normalize") else {}
    return TwoViews(Augmentation(size=size, crop_scale=(0.3, 1.0), flip_p=0.0, jitter=(0.4, 0.4, 0.0, 0.0),
                                 grayscale_p=0.0, **stats))


def top_bottom_views(*, normalize: bool = True) -> TopBottomViews:
    """Top and bottom halves of MNIST digits (Tschannen et al. 2020)."""
    return TopBottomViews(MNIST_MEAN, MNIST_STD) if check_bool(normalize, "normalize") else TopBottomViews()


# --- the operations, each on a whole batch with per-sample parameters ----------------------------


def sample_crop_boxes(
    n: int, image_size: tuple[int, int], augmentation: Augmentation, generator: torch.Generator, tries: int = 10
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``RandomResizedCrop.get_params`` for ``n`` images at once: integer ``(top, left, height, width)``.

    Each try draws an area ``s * H * W`` with ``s ~ U(crop_scale)`` and an aspect ratio
    ``r = exp(U(log crop_ratio))``, giving ``w = round(sqrt(s H W r))``, ``h = round(sqrt(s H W / r))``;
    the first try that fits is kept, with ``top ~ U{0..H-h}``, ``left ~ U{0..W-w}``. When none of
    the ``tries`` fits, the centre crop with the ratio clamped to ``crop_ratio`` is used.
    """
    check_int(n, "n", minimum=1)
    height, width = _check_image_size(image_size)
    if not isinstance(augmentation, Augmentation):
        raise TypeError(f"augmentation must be an Augmentation; got {type(augmentation).__name__}")
    check_generator(generator, "generator")
    check_int(tries, "tries", minimum=1)
    device = generator.device
    lo, hi = augmentation.crop_scale
    log_lo, log_hi = math.log(augmentation.crop_ratio[0]), math.log(augmentation.crop_ratio[1])
    area = height * width * (lo + (hi - lo) * torch.rand(n, tries, generator=generator, device=device))
    ratio = torch.exp(log_lo + (log_hi - log_lo) * torch.rand(n, tries, generator=generator, device=device))
    w = torch.round(torch.sqrt(area * ratio)).long()
    h = torch.round(torch.sqrt(area / ratio)).long()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.int().argmax(dim=1, keepdim=True)  # index of the first fitting try (0 when none fits)
    any_fits = fits.any(dim=1)
    w, h = w.gather(1, first).squeeze(1), h.gather(1, first).squeeze(1)
    # torchvision's fallback: the whole image, cut down to the nearest allowed aspect ratio.
    in_ratio = width / height
    if in_ratio < augmentation.crop_ratio[0]:
        fw, fh = width, int(round(width / augmentation.crop_ratio[0]))
    elif in_ratio > augmentation.crop_ratio[1]:
        fw, fh = int(round(height * augmentation.crop_ratio[1])), height
    else:
        fw, fh = width, height
    w = torch.where(any_fits, w, torch.full_like(w, fw))
    h = torch.where(any_fits, h, torch.full_like(h, fh))
    u_top, u_left = torch.rand(2, n, generator=generator, device=device)
    top = torch.where(any_fits, (u_top * (height - h + 1)).long().clamp(max=height - h), (height - h) // 2)
    left = torch.where(any_fits, (u_left * (width - w + 1)).long().clamp(max=width - w), (width - w) // 2)
    return top, left, h, w


def resized_crop(
    x: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    height: torch.Tensor,
    width: torch.Tensor,
    size: int,
    flip: torch.Tensor | None = None,
) -> torch.Tensor:
    """Crop box ``i`` of image ``i`` and resize it to ``size x size`` bilinearly, flipped where ``flip``.

    Output pixel ``u`` samples the crop at ``left + (u + 1/2) w / size - 1/2`` (clamped to the
    crop), which is what ``F.interpolate(crop, mode="bilinear", align_corners=False)`` does: the
    result equals torchvision's ``resized_crop(..., antialias=False)`` image by image, and for the
    usual case (crop no larger than the output) antialiasing changes nothing.

    Args:
        x: ``(N, C, H, W)`` float images.
        top, left, height, width: ``(N,)`` integer boxes, each inside its image
            (``0 <= top``, ``1 <= height``, ``top + height <= H``, the same for ``left``, ``width``, ``W``).
        size: output side length.
        flip: ``(N,)`` bool, mirror horizontally where true.
    """
    _check_float_batch(x, "x")
    check_int(size, "size", minimum=1)
    for name, box in (("top", top), ("left", left), ("height", height), ("width", width)):
        _check_per_sample(box, name, x, kind="integer")
    if flip is not None:
        _check_per_sample(flip, "flip", x, kind="bool")
    _check_boxes(top, left, height, width, tuple(x.shape[-2:]))
    return _resized_crop(x, top, left, height, width, size, flip)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor | float) -> torch.Tensor:
    """``clamp(f x, 0, 1)`` per sample (torchvision ``adjust_brightness``); ``factor``: ``(N,)`` or a number, >= 0."""
    _check_float_batch(x, "x")
    return _brightness(x, _per_image(factor, "factor", x, low=0.0))


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor | float) -> torch.Tensor:
    """``clamp(f x + (1 - f) m, 0, 1)``, ``m`` each image's mean grey level; ``factor``: ``(N,)`` or a number, >= 0."""
    _check_float_batch(x, "x")
    return _contrast(x, _per_image(factor, "factor", x, low=0.0))


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor | float) -> torch.Tensor:
    """``clamp(f x + (1 - f) gray(x), 0, 1)``; ``factor``: ``(N,)`` or a number, ``>= 0``.

    One-channel images are returned unchanged.
    """
    _check_float_batch(x, "x")
    return _saturation(x, _per_image(factor, "factor", x, low=0.0))


def adjust_hue(x: torch.Tensor, shift: torch.Tensor | float) -> torch.Tensor:
    """Rotate the hue by ``shift`` (in turns, ``(N,)`` or a number in [-0.5, 0.5]) through HSV, as torchvision."""
    _check_float_batch(x, "x")
    return _hue(x, _per_image(shift, "shift", x, low=-0.5, high=0.5))


def to_grayscale(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601-2 luma ``0.2989 R + 0.587 G + 0.114 B`` as ``(N, 1, H, W)``."""
    _check_float_batch(x, "x")
    return _grayscale(x)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor | float, kernel_size: int) -> torch.Tensor:
    """Separable Gaussian blur with one ``sigma`` per sample and reflect padding (torchvision's).

    Args:
        x: ``(N, C, H, W)`` float images.
        sigma: ``(N,)`` or a number, standard deviations ``> 0`` in pixels.
        kernel_size: odd, and less than twice the image's smaller side (reflect padding needs it).
    """
    _check_float_batch(x, "x")
    sigma = _per_image(sigma, "sigma", x, low=0.0, low_open=True)
    _check_kernel_size(kernel_size, "kernel_size", min(x.shape[-2:]))
    if x.shape[0] == 0:  # like the other operations: an empty batch gives an empty batch (conv2d refuses it)
        return x.clone()
    return _blur(x, sigma, kernel_size)


def solarize(x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """``1 - x`` where ``x >= threshold``, else ``x`` (torchvision ``solarize`` on floats); ``threshold`` in [0, 1]."""
    _check_float_batch(x, "x")
    return _solarize(x, check_number(threshold, "threshold", low=0.0, high=1.0))


# --- the pixel work, on arguments already checked -------------------------------------------------


def _resized_crop(x, top, left, height, width, size: int, flip) -> torch.Tensor:
    n, _, in_h, in_w = x.shape
    steps = torch.arange(size, device=x.device, dtype=x.dtype) + 0.5
    ys = top[:, None] + steps * (height[:, None].to(x.dtype) / size) - 0.5
    xs = left[:, None] + steps * (width[:, None].to(x.dtype) / size) - 0.5
    ys = torch.minimum(torch.maximum(ys, top[:, None].to(x.dtype)), (top + height - 1)[:, None].to(x.dtype))
    xs = torch.minimum(torch.maximum(xs, left[:, None].to(x.dtype)), (left + width - 1)[:, None].to(x.dtype))
    if flip is not None:
        xs = torch.where(flip[:, None], xs.flip(1), xs)
    # grid_sample's normalised coordinates with align_corners=False: pixel p sits at (2p + 1)/W - 1.
    gx = ((2 * xs + 1) / in_w - 1)[:, None, :].expand(n, size, size)
    gy = ((2 * ys + 1) / in_h - 1)[:, :, None].expand(n, size, size)
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (x * _per_sample(factor)).clamp(0, 1)


def _contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    mean = _grayscale(x).mean(dim=(-3, -2, -1), keepdim=True)
    f = _per_sample(factor)
    return (f * x + (1 - f) * mean).clamp(0, 1)


def _saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    f = _per_sample(factor)
    return (f * x + (1 - f) * _grayscale(x)).clamp(0, 1)


def _hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    h, s, v = _rgb_to_hsv(x).unbind(dim=1)
    h = torch.remainder(h + shift.view(-1, 1, 1), 1.0)
    return _hsv_to_rgb(h, s, v)


def _grayscale(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(dim=1)
    return (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(1)


def _blur(x: torch.Tensor, sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    n, c, h, w = x.shape
    half = (kernel_size - 1) / 2
    t = torch.linspace(-half, half, kernel_size, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (t[None, :] / sigma[:, None].to(x.dtype)) ** 2)
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (N*C, k)
    pad = kernel_size // 2
    # One group per (sample, channel) gives every sample its own kernel in a single conv call.
    y = F.pad(x.reshape(1, n * c, h, w), (pad, pad, pad, pad), mode="reflect")
    y = F.conv2d(y, kernel[:, None, None, :], groups=n * c)
    y = F.conv2d(y, kernel[:, None, :, None], groups=n * c)
    return y.reshape(n, c, h, w)


def _solarize(x: torch.Tensor, threshold: float) -> torch.Tensor:
    return torch.where(x >= threshold, 1 - x, x)


def _rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    # torchvision's _rgb2hsv, written out so the result matches it to float precision.
    r, g, b = x.unbind(dim=1)
    maxc, minc = x.max(dim=1).values, x.min(dim=1).values
    equal = maxc == minc
    cr = maxc - minc
    ones = torch.ones_like(maxc)
    s = cr / torch.where(equal, ones, maxc)
    divisor = torch.where(equal, ones, cr)
    rc, gc, bc = (maxc - r) / divisor, (maxc - g) / divisor, (maxc - b) / divisor
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = torch.fmod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    return torch.stack((h, s, maxc), dim=1)


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    # The closed form c_n = v - v s clamp(min(k, 4 - k), 0, 1), k = (n + 6h) mod 6, n = 5, 3, 1
    # for R, G, B: torchvision's six-way case split in three elementwise passes (equal to ~1e-6).
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = torch.remainder(n + h * 6.0, 6.0)
        channels.append(v - v * s * torch.minimum(k, 4.0 - k).clamp(0.0, 1.0))
    return torch.stack(channels, dim=1)


def _masked_hue(x: torch.Tensor, shift: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # The HSV round trip is not exactly the identity, so images (not factors) are masked. On a
    # CPU only the selected rows are converted (a quarter of the work); on a GPU a boolean index
    # would wait for the device, so the whole batch is converted and selected with where.
    if x.device.type == "cpu":
        rows = mask.nonzero().squeeze(1)
        return x.index_copy(0, rows, _hue(x[rows], shift[rows]))
    return torch.where(_per_sample(mask), _hue(x, shift), x)


def _per_sample(values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, 1, 1, 1)


def _to_float(images: torch.Tensor) -> torch.Tensor:
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    return images.float()


# --- input checks (the policy on reading values is in the module docstring) --------------------

_FLOAT_IMAGE_HINT = (
    ": float images must be in [0, 1]. Pass uint8 images (0..255), or divide float images in 0..255 by 255"
)


def _check_images(images, *, cpu_only: bool, channels: tuple[int, ...] | None = None) -> None:
    check_tensor(images, "images", ndim=4, dims="(N, C, H, W)", nonempty=True)
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise TypeError(f"images must be uint8 (0..255) or floating point in [0, 1]; got dtype {images.dtype}")
    if channels is not None and images.shape[1] not in channels:
        allowed = " or ".join(map(str, channels))
        raise ValueError(f"images must have {allowed} channels; got shape {tuple(images.shape)}")
    if images.is_floating_point():
        check_tensor_range(images, "images", low=0.0, high=1.0, cpu_only=cpu_only, hint=_FLOAT_IMAGE_HINT)


def _check_float_batch(x, name: str) -> None:
    check_tensor(x, name, ndim=4, dims="(N, C, H, W)", floating=True)
    if x.shape[1] not in (1, 3):
        raise ValueError(f"{name} must have 1 or 3 channels; got shape {tuple(x.shape)}")


def _check_image_size(image_size) -> tuple[int, int]:
    if isinstance(image_size, str | bytes) or not isinstance(image_size, tuple | list | torch.Size):
        raise TypeError(f"image_size must be a pair (H, W) of ints; got {image_size!r}")
    size = check_int_sequence(image_size, "image_size", minimum=1)
    if len(size) != 2:
        raise ValueError(f"image_size must be a pair (H, W) of ints; got {image_size!r}")
    return size


def _check_kernel_size(kernel_size, name: str, side: int) -> None:
    if check_int(kernel_size, name, minimum=1) % 2 == 0:
        raise ValueError(f"{name} must be a positive odd int; got {kernel_size}")
    if kernel_size // 2 >= side:
        raise ValueError(f"{name} must be < {2 * side} (twice the image side {side}) for reflect padding; "
                         f"got {kernel_size}")


def _check_mean_std(mean, std) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    if (mean is None) != (std is None):
        raise ValueError("mean and std must both be given or both be None")
    if mean is None:
        return None, None
    values = []
    for name, stats in (("mean", mean), ("std", std)):
        if isinstance(stats, str | bytes) or not isinstance(stats, tuple | list) or not stats:
            raise TypeError(f"{name} must be a tuple of per-channel numbers such as (0.5, 0.5, 0.5); got {stats!r}")
        low = 0.0 if name == "std" else None
        values.append(tuple(check_number(m, f"{name}[{i}]", low=low, low_open=True) for i, m in enumerate(stats)))
    if len(values[0]) != len(values[1]):
        raise ValueError(f"mean and std must have one number per channel each; got {len(mean)} and {len(std)}")
    return values[0], values[1]


def _check_per_sample(t, name: str, x: torch.Tensor, *, kind: str) -> None:
    # kind: "integer", "bool" or "float"; one entry per image, on the images' device.
    check_tensor(t, name, ndim=1, dims=f"({x.shape[0]},)")
    if t.shape[0] != x.shape[0]:
        raise ValueError(f"{name} must have one entry per image, shape ({x.shape[0]},); got {tuple(t.shape)}")
    check_same_device(x, "the images", t, name)
    wrong = {
        "bool": t.dtype != torch.bool,
        "integer": t.is_floating_point() or t.is_complex() or t.dtype == torch.bool,
        "float": not t.is_floating_point(),
    }[kind]
    if wrong:
        raise TypeError(f"{name} must be a {kind} tensor; got dtype {t.dtype}")


def _check_values(t: torch.Tensor, name: str, *, low=None, high=None, low_open: bool = False) -> None:
    check_tensor_range(t, name, low=low, high=high, cpu_only=True)
    if low_open and t.device.type == "cpu" and t.numel() and bool((t.detach() <= low).any()):
        raise ValueError(f"{name} must be > {low:g}; its smallest value is {t.min().item():g}")


def _per_image(value, name: str, x: torch.Tensor, *, low=None, high=None, low_open: bool = False) -> torch.Tensor:
    # A number applies to every image; a tensor gives one value per image.
    if not isinstance(value, torch.Tensor):
        number = check_number(value, name, low=low, high=high, low_open=low_open)
        return torch.full((x.shape[0],), number, device=x.device, dtype=x.dtype)
    _check_per_sample(value, name, x, kind="float")
    _check_values(value, name, low=low, high=high, low_open=low_open)
    return value


def _check_boxes(top, left, height, width, image_size: tuple[int, int]) -> None:
    if top.device.type != "cpu":
        return
    in_h, in_w = image_size
    inside = (top >= 0) & (left >= 0) & (height >= 1) & (width >= 1) & (top + height <= in_h) & (left + width <= in_w)
    if not bool(inside.all()):
        i = int((~inside).nonzero()[0, 0])
        raise ValueError(
            f"crop boxes must lie inside the {in_h}x{in_w} images; box {i} is top={int(top[i])}, left={int(left[i])}, "
            f"height={int(height[i])}, width={int(width[i])}"
        )


# What Augmentation.sample returns: kind of each (N,) tensor, and the range of its values.
_PARAMS = {
    "top": ("integer", {}),
    "left": ("integer", {}),
    "height": ("integer", {}),
    "width": ("integer", {}),
    "flip": ("bool", {}),
    "jitter": ("bool", {}),
    "brightness": ("float", {"low": 0.0}),
    "contrast": ("float", {"low": 0.0}),
    "saturation": ("float", {"low": 0.0}),
    "hue": ("float", {"low": -0.5, "high": 0.5}),
    "grayscale": ("bool", {}),
    "blur": ("bool", {}),
    "sigma": ("float", {"low": 0.0, "low_open": True}),
    "solarize": ("bool", {}),
}


def _check_params(params, images: torch.Tensor) -> None:
    if not isinstance(params, dict):
        raise TypeError(f"params must be the dict returned by Augmentation.sample; got {type(params).__name__}")
    missing = sorted((set(_PARAMS) | {"order"}) - set(params))
    if missing:
        raise ValueError(f"params lacks {missing}: pass the dict returned by Augmentation.sample")
    for key, (kind, bounds) in _PARAMS.items():
        _check_per_sample(params[key], f"params[{key!r}]", images, kind=kind)
        if bounds:
            _check_values(params[key], f"params[{key!r}]", **bounds)
    n, order = images.shape[0], params["order"]
    check_tensor(order, "params['order']", ndim=2, dims=f"({n}, 4)")
    if tuple(order.shape) != (n, 4):
        raise ValueError(f"params['order'] must have shape ({n}, 4); got {tuple(order.shape)}")
    check_same_device(images, "images", order, "params['order']")
    _check_boxes(params["top"], params["left"], params["height"], params["width"], tuple(images.shape[-2:]))
