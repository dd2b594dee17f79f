"""Runs jessl_lite.train.fit in a child process for tests/test_train.py (not a test module).

    python tests/_fit_worker.py resume OUT KILL_AT RESUME   # KILL_AT < 0: never kill itself
    python tests/_fit_worker.py interrupt OUT               # SIGINTs itself after step 6 (Ctrl-C)
    torchrun --standalone --nproc_per_node=2 tests/_fit_worker.py ddp OUT   # every method, 3 steps each
"""

from __future__ import annotations

import os
import signal
import sys

import torch
from torch import nn

from jessl_lite import distributed
from jessl_lite.data import load_mnist
from jessl_lite.methods import BYOL, METHODS, BarlowTwins, JointEmbeddingMethod, SimCLR, SimSiam, SwAV, VICReg
from jessl_lite.monitors import knn_monitor
from jessl_lite.nets import MLP, ConvNet
from jessl_lite.train import FitConfig, fit
from jessl_lite.views import mnist_views

torch.set_num_threads(1)  # the same kernels in every process, so results can be bit-identical


def resume_run(out: str, kill_at: int, resume: bool, kill_signal: int = signal.SIGKILL) -> None:
    mnist = load_mnist("test")
    train, heldout = mnist.subset(range(384)), mnist.subset(range(9000, 9200))
    torch.manual_seed(0)
    # Dropout draws from the global torch generator, BatchNorm has running buffers: the resumed
    # run must restore both, not only the weights.
    backbone = nn.Sequential(ConvNet(1, width=4, depth=2), nn.Dropout(0.2))
    backbone.out_dim = 8
    method = SimSiam(backbone, dim=16, pred_dim=4, proj_layers=2)

    def die(step: int, logs: dict) -> None:
        if step == kill_at:
            os.kill(os.getpid(), kill_signal)

    config = FitConfig(steps=12, batch_size=32, lr=0.05, warmup_steps=2, seed=1, log_every=2,
                       checkpoint_dir=os.path.join(out, "ckpt"), checkpoint_every=4, resume=resume, eval_every=6,
                       progress=False)
    try:
        run = fit(method, train, mnist_views(), config, hooks=[knn_monitor(train, heldout, mnist_views().prepare)],
                  callback=die)
    except KeyboardInterrupt as err:
        print(f"interrupted: {err}")
        sys.exit(130)
    torch.save({"model": method.state_dict(), "losses": run.curves["loss"], "knn": run.evals},
               os.path.join(out, "final.pt"))


def ddp_run(out: str) -> None:
    distributed.setup_from_env()
    rank = distributed.rank()
    # 1. The gradient-carrying gather: rank r holds rows 4r..4r+3 of a fixed 8x3 matrix.
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))[4 * rank : 4 * rank + 4].requires_grad_()
    gathered = distributed.gather_with_grad(x)
    loss = torch.logsumexp(x @ gathered.T, dim=1).mean()  # local queries against the global batch
    loss.backward()
    # 2. Every method data-parallel (heads without BatchNorm: per-rank batch statistics would
    # differ by design; the losses' own batch statistics are global through the gather).
    mnist = load_mnist("test").subset(range(256))
    models = {}
    for name in METHODS:
        method = build_ddp_method(name)
        config = FitConfig(steps=3, batch_size=32, lr=0.1, seed=2, log_every=1, progress=False)
        fit(method, mnist, mnist_views(), config)
        models[name] = method.state_dict()
    torch.save({"models": models, "x_grad": x.grad, "world": distributed.world_size()},
               os.path.join(out, f"rank{rank}.pt"))
    torch.distributed.destroy_process_group()


def build_ddp_method(name: str = "simsiam") -> JointEmbeddingMethod:
    """A small method without BatchNorm, the same in every process and in the single-process reference."""
    torch.manual_seed(0)
    backbone = MLP(784, [32], 16, batchnorm=False)

    def head(width_in: int, width_out: int) -> MLP:
        return MLP(width_in, [16], width_out, batchnorm=False)

    if name == "simsiam":
        return SimSiam(backbone, head(16, 8), MLP(8, [4], 8, batchnorm=False))
    if name == "byol":
        return BYOL(backbone, head(16, 8), MLP(8, [4], 8, batchnorm=False), dim=8)
    if name == "swav":
        # The queue (one global batch long) is full after the first step and used in the next two.
        return SwAV(backbone, head(16, 8), dim=8, num_prototypes=10, queue_length=32)
    others = {"simclr": SimCLR, "barlow_twins": BarlowTwins, "vicreg": VICReg}
    return others[name](backbone, head(16, 8))


if __name__ == "__main__":
    mode, out = sys.argv[1], sys.argv[2]
    if mode == "resume":
        resume_run(out, int(sys.argv[3]), sys.argv[4] == "1")
    elif mode == "interrupt":
        resume_run(out, 6, False, kill_signal=signal.SIGINT)
    else:
        ddp_run(out)
