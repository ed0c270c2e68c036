"""Data-parallel training under ``torchrun`` without touching the families' code.

Each rank draws its own real batches; before any optimizer steps, a pre-step hook
averages that optimizer's gradients across ranks (what DDP's all-reduce does, without
bucketing). Parameters start identical because every rank seeds identically and rank 0's
are broadcast once. Only rank 0 writes checkpoints, grids and logs.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
import torch.nn as nn


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def init(device: torch.device) -> None:
    """Join the process group when launched by torchrun; no-op otherwise."""
    if world_size() > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def broadcast_parameters(*modules: nn.Module) -> None:
    if not dist.is_initialized():
        return
    for module in modules:
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)


def average_gradients_before_step(optimizer: torch.optim.Optimizer) -> None:
    """Register a hook that all-reduces (averages) gradients before each optimizer step."""
    if not dist.is_initialized():
        return

    def hook(opt, args, kwargs):
        n = dist.get_world_size()
        for group in opt.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
                    p.grad.div_(n)

    optimizer.register_step_pre_hook(hook)
