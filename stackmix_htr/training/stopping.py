"""Graceful stop on SIGINT/SIGTERM: the handler only records the request; the training loop
checks it at the next step boundary, saves a resumable state and exits."""

import signal

import torch


class StopRequest:
    """Installs handlers for SIGINT and SIGTERM that set `requested`; a second SIGINT raises
    KeyboardInterrupt so an impatient user can still abort immediately."""

    def __init__(self, signals=(signal.SIGINT, signal.SIGTERM)):
        self.requested = False
        self.signal_name = None
        self._previous = {sig: signal.signal(sig, self._handle) for sig in signals}

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def init_dataloader_worker(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: workers ignore SIGINT/SIGTERM (Ctrl-C reaches the whole process
    group; the main process stops them after saving its state) and seed numpy's global generator
    from the per-worker torch seed, which torch does not do itself."""
    import numpy as np
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    np.random.seed(torch.initial_seed() % 2**32)


def stop_agreed(accelerator, stop: StopRequest) -> bool:
    """Whether any process received a stop signal (all processes must leave the loop together)."""
    flag = torch.tensor([float(stop.requested)], device=accelerator.device)
    return accelerator.reduce(flag, reduction="sum").item() > 0
