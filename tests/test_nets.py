"""jessl_lite.nets: shapes, the CIFAR stem, parameter counts by hand (the heads: tests/test_heads.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from jessl_lite.nets import MLP, ConvNet, make_backbone, resnet18_cifar


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_mlp_shapes_and_parameter_count():
    mlp = MLP(784, [256, 128], 32)
    assert mlp(torch.zeros(5, 1, 28, 28)).shape == (5, 32) and mlp.out_dim == 32
    # Linear weights + biases, plus BatchNorm's scale and shift on each hidden layer.
    assert _count(mlp) == (784 * 256 + 256) + (256 * 128 + 128) + (128 * 32 + 32) + 2 * (256 + 128)
    assert _count(MLP(10, [], 3, batchnorm=False)) == 33


def test_convnet_halves_resolution_per_block():
    net = ConvNet(1, width=8, depth=3)
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 32) and net.out_dim == 32
    # 3x3 convs without bias: 1*8*9 + 8*16*9 + 16*32*9 weights, plus BatchNorm 2*(8+16+32).
    assert _count(net) == 9 * (8 + 128 + 512) + 2 * 56


def test_resnet18_has_the_cifar_stem_and_keeps_resolution():
    net = resnet18_cifar()
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, nn.Identity) and net.out_dim == 512
    seen = {}
    net.layer1.register_forward_hook(lambda m, i, o: seen.update(layer1=o.shape))  # returns None: output kept
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 512)
    assert seen["layer1"] == (2, 64, 32, 32)
    # torchvision's ImageNet ResNet-18 has 11,689,512 parameters: minus the 1000-way classifier
    # (512*1000 + 1000) and with a 3x3 instead of a 7x7 first convolution (3*64*(49 - 9) fewer).
    assert _count(net) == 11_689_512 - 513_000 - 3 * 64 * 40


def test_make_backbone_and_bad_arguments():
    assert make_backbone("mlp", 1, 28)(torch.zeros(3, 1, 28, 28)).shape == (3, 512)
    with pytest.raises(ValueError, match="name"):
        make_backbone("vit", 3, 32)
    with pytest.raises(ValueError, match="width"):
        ConvNet(1, width=0)
    with pytest.raises(ValueError, match="hidden_dims"):
        MLP(4, [0], 2)
    with pytest.raises(ValueError, match="last_batchnorm"):
        MLP(4, [], 2, last_batchnorm="yes")


def test_sizes_are_ints_and_bools_are_not_sizes():
    # True is an int in Python: MLP(True, ...) would build a one-input layer without a word.
    with pytest.raises(TypeError, match="^in_dim must be an int"):
        MLP(True, [4], 2)
    with pytest.raises(TypeError, match=r"^hidden_dims\[1\] must be an int"):
        MLP(4, [4, True], 2)
    with pytest.raises(TypeError, match="^hidden_dims must be a sequence"):
        MLP(4, 4, 2)
    with pytest.raises(ValueError, match="^last_batchnorm"):
        MLP(4, [4], 2, last_batchnorm=1)
    with pytest.raises(TypeError, match="^batchnorm must be True or False"):
        MLP(4, [4], 2, batchnorm=None)
    with pytest.raises(TypeError, match="^depth must be an int"):
        ConvNet(1, 8, depth=2.0)
    with pytest.raises(ValueError, match="^image_size must be an int >= 1"):
        make_backbone("mlp", 1, 0)


def test_forward_checks_the_batch_on_metadata_only():
    with pytest.raises(TypeError, match="^x must be a torch.Tensor"):
        MLP(4, [8], 2)([[0.0] * 4])
    with pytest.raises(TypeError, match="^x must be a floating-point tensor"):
        MLP(4, [8], 2)(torch.ones(3, 4, dtype=torch.long))
    # conv2d takes a 3-D tensor for one unbatched image: a batch that lost its channel axis.
    with pytest.raises(ValueError, match=r"^x must have shape \(N, C, H, W\)"):
        ConvNet(1, 4, 2)(torch.zeros(2, 28, 28))
