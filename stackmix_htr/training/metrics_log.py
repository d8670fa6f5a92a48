"""Per-epoch metrics as JSON lines, the running training totals of an epoch, and the peak memory
figure they report."""

import json
import os
import resource
import sys
import time
from pathlib import Path

import torch

from stackmix_htr.common.atomic import write_file_atomic
from stackmix_htr.metrics.scoring import METRIC_KEYS


def peak_memory_mb(device: torch.device) -> float:
    """Peak accelerator memory allocated by torch on CUDA, else the process's peak resident set size."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


class JsonlLogger:
    """Appends one JSON object per call to a file, flushed immediately so a killed run keeps its rows."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, row: dict) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, default=float) + "\n")

    def keep_epochs_before(self, epoch: int) -> None:
        """Drop the rows of `epoch` and later (and a line cut short by a kill). A run resumed at
        `epoch` logs them again: they were written after the state it resumes from was saved."""
        if not self.path.is_file():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines(keepends=True):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if row.get("epoch", epoch) < epoch:
                kept.append(line)
        write_file_atomic(self.path, "".join(kept).encode("utf-8"))


class EpochTotals:
    """Training loss sum, loss count, lines and seconds of the current epoch, over all processes,
    `lr`, the learning rate of its latest optimizer update, and the largest gradient norm of its
    updates (before clipping; the same on every process once gradients are all-reduced), which
    shows the steps that throw a run off course.

    `saved` are the totals recorded in a state saved mid-epoch, so that an epoch resumed there
    reports the whole epoch, not only its resumed part. Losses accumulate on the device (no sync
    per batch); `totals()` sums over processes and must be called on every process.
    """

    def __init__(self, accelerator, lr: float, saved: dict | None = None):
        self.accelerator = accelerator
        self.saved = saved or {"loss_sum": 0.0, "losses": 0, "lines": 0, "seconds": 0.0, "lr": lr}
        self.lr = self.saved["lr"]
        # A device tensor, read once per epoch (no sync per step); states saved before it existed lack it.
        self.grad_norm_max = torch.tensor(self.saved.get("grad_norm_max", 0.0), device=accelerator.device)
        self.losses = torch.zeros(2, device=accelerator.device)  # sum of finite batch losses, their count
        self.lines = 0
        self.started = time.perf_counter()

    def add_loss(self, loss: torch.Tensor) -> None:
        self.losses += torch.stack([loss.detach().float(), torch.tensor(1.0, device=loss.device)])

    def add_lines(self, count: int) -> None:
        self.lines += count

    def add_grad_norm(self, norm: torch.Tensor) -> None:
        """Count an update's gradient norm; an overflowed one (fp16 loss scaling, a skipped step) is not."""
        norm = norm.detach().float().to(self.grad_norm_max.device)
        self.grad_norm_max = torch.maximum(self.grad_norm_max, torch.where(torch.isfinite(norm), norm, 0.0))

    def totals(self) -> dict:
        """{"loss_sum", "losses", "lines", "seconds", "lr", "grad_norm_max"} of the epoch so far (JSON-ready)."""
        local = torch.cat([self.losses, torch.tensor([float(self.lines)], device=self.losses.device)])
        loss_sum, losses, lines = self.accelerator.reduce(local, reduction="sum").tolist()
        return {
            "loss_sum": self.saved["loss_sum"] + loss_sum,
            "losses": self.saved["losses"] + int(losses),
            "lines": self.saved["lines"] + int(lines),
            "seconds": self.saved["seconds"] + time.perf_counter() - self.started,
            "lr": self.lr,
            "grad_norm_max": self.grad_norm_max.item(),
        }


def epoch_row(accelerator, epoch: int, progress, train: dict, validation: dict, budget=None) -> dict:
    """The epoch's line of metrics.jsonl and TensorBoard (validation metrics only on validated epochs)."""
    return {
        "epoch": epoch,
        "step": progress.global_step,
        "train_loss": train["loss_sum"] / max(train["losses"], 1),
        **({"val_loss": validation["loss"]} if validation else {}),
        **{metric: validation[metric] for metric in METRIC_KEYS if validation},
        "lr": train["lr"],
        "grad_norm_max": train["grad_norm_max"],
        "train_lines": int(train["lines"]),  # real and generated lines trained on this epoch
        "train_samples_per_second": train["lines"] / max(train["seconds"], 1e-9),
        "elapsed_seconds": progress.elapsed_seconds,
        "nonfinite_losses": progress.nonfinite_losses,
        "world_size": accelerator.num_processes,
        "peak_memory_mb": peak_memory_mb(accelerator.device),
        # A budgeted run: the budget, the seconds spent on each kind of work so far, the training fraction used.
        **(
            {"budget_seconds": budget.seconds, "budget_spent": dict(budget.spent), "budget_fraction": budget.fraction()}
            if budget is not None
            else {}
        ),
    }
