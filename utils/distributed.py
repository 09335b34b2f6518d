"""Where to add up numbers across the processes of a distributed run (a panel's DDP processes each hold a shard of
the series, so their counts and sums are reduced)."""
from __future__ import annotations

from typing import Optional

import torch


def sync_device() -> Optional[torch.device]:
    """The device for an all-reduce: the CPU for gloo, this process's GPU for nccl; None when the run is not
    distributed over two or more processes."""
    distributed = torch.distributed
    if not (distributed.is_available() and distributed.is_initialized()) or distributed.get_world_size() < 2:
        return None
    if distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
