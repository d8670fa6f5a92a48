"""The one seeding scheme of the training transforms: a random stream per (seed, process, epoch, worker).

Each DataLoader worker gets a copy of a transform when it starts, so a stream seeded once would repeat in
every worker and every epoch. `stream_key` says which stream the current call belongs to, and
`stream_seed` derives that stream's seed: every epoch, worker and process draws differently while a run
stays reproducible from its one seed.
"""

import numpy as np
import torch.utils.data


def stream_key(rank: int, epoch: int) -> tuple[int, int, int]:
    """(process, epoch, worker slot) of the current call; the main process (no worker) is slot 0, workers 1, 2, ..."""
    worker = torch.utils.data.get_worker_info()
    return rank, epoch, 0 if worker is None else worker.id + 1


def stream_seed(seed: int, *key: int) -> int:
    """A 64-bit seed derived from `seed` and a tuple of non-negative ints; distinct keys give independent seeds."""
    return int(np.random.SeedSequence(seed, spawn_key=key).generate_state(1, np.uint64)[0])
