"""Training to a wall-clock budget (`train_accelerate.py --max_train_minutes M`).

A user gives a run an hour, not a number of epochs. The run then plans as it goes, from what it has
measured: everything it spends counts (start-up, training, validation, checkpoints, the final test),
a reserve is kept for the end (a last validation, its checkpoints and the test split's scoring), and
the rest is training time. The learning rate follows the paper's one-cycle shape over the *fraction
of the training time used* rather than over a fixed number of steps: a warm-up over the first
`pct_start`, then a cosine decay that reaches its floor exactly when the training time runs out,
however the speed changes on the way (other programs on the machine, wider lines, a resumed run on
another machine). Validation runs at epoch ends, at most about `MAX_VALIDATIONS` times and never so
often that it takes more than 1 / `VALIDATION_SHARE_LIMIT` of the training time.

Everything spent is kept in the run's state (`TrainingBudget.state`), so a resumed run goes on with
the rest of its budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

SPENDING = ("startup", "training", "validation", "checkpoints", "test")
MAX_VALIDATIONS = 10  # validations planned over a run (besides the last one)
VALIDATION_SHARE_LIMIT = 4  # training time between validations: at least this many validations' time
RESERVE_MARGIN = 1.25  # the end's estimated time, times this
SLACK_SHARE = 0.01  # and this share of the budget kept free, for saves and scoring slower than measured
EVAL_SPEEDUP = 3.0  # lines a forward pass reads per training line (before the first validation is timed)
MIN_SECONDS = 60.0


@dataclass
class TrainingBudget:
    """The wall-clock budget of a run and what it has spent, by kind of work.

    `clock` gives seconds (monotonic); `spent` starts from a resumed run's state. Call `start()` when the
    run's process starts and `charge(kind)` after each piece of work (it charges the time since the
    previous charge; `charge_training(lines)` after a stretch of training), `measure_validation(seconds)`
    after each validation and `measure_checkpoints(seconds)` after each save.
    """

    seconds: float
    validation_lines: int = 0
    test_lines: int = 0
    spent: dict[str, float] = field(default_factory=lambda: dict.fromkeys(SPENDING, 0.0))
    validations: int = 0
    validation_seconds: float | None = None  # the last validation's duration
    checkpoint_seconds: float = 0.0  # the longest save of checkpoints so far
    training_lines: int = 0  # lines trained on, for the speed of a forward pass
    last_validation_training: float = 0.0  # training seconds at the last validation
    clock: Callable[[], float] = time.monotonic
    # The fraction the learning rate follows: `fraction()` of the main process, agreed by all of them.
    agreed_fraction: float = 0.0
    _mark: float | None = None

    def __post_init__(self):
        if self.seconds < MIN_SECONDS:
            raise ValueError(f"a training budget must be at least {MIN_SECONDS / 60:g} minute(s)")

    # ------------------------------------------------------------------ accounting

    def start(self, at: float | None = None) -> None:
        """Start the clock (at `at`, a reading of `clock` taken earlier, e.g. when the process started)."""
        self._mark = self.clock() if at is None else at

    def charge(self, kind: str) -> float:
        """Add the time since the previous charge (or start) to `kind`; returns it."""
        now = self.clock()
        seconds = now - self._mark
        self.spent[kind] += seconds
        self._mark = now
        return seconds

    def charge_training(self, lines: int) -> None:
        self.charge("training")
        self.training_lines += lines

    def measure_validation(self, seconds: float) -> None:
        self.validations += 1
        self.validation_seconds = seconds
        self.last_validation_training = self.spent["training"]

    def measure_checkpoints(self, seconds: float) -> None:
        self.checkpoint_seconds = max(self.checkpoint_seconds, seconds)

    @property
    def used(self) -> float:
        """Seconds spent so far, everything counted, up to the last charge."""
        return sum(self.spent.values())

    # ------------------------------------------------------------------ planning

    def pass_seconds(self, lines: int) -> float:
        """The time a validation-style pass over `lines` lines takes: measured on the last validation, else
        estimated from the training speed (a forward pass without gradients reads lines faster)."""
        if self.validation_seconds is not None and self.validation_lines:
            return self.validation_seconds * lines / self.validation_lines
        if self.training_lines and self.spent["training"] > 0:
            return lines * self.spent["training"] / self.training_lines / EVAL_SPEEDUP
        return 0.0

    def reserve(self) -> float:
        """Seconds kept for the end: a last validation with its checkpoints, and the test split's scoring."""
        end = self.pass_seconds(self.validation_lines) + self.pass_seconds(self.test_lines)
        return RESERVE_MARGIN * (end + 2 * self.checkpoint_seconds) + SLACK_SHARE * self.seconds

    def _interval(self, training: float) -> float:
        """Training seconds between validations in a run of `training` seconds of training."""
        return max(training / MAX_VALIDATIONS, VALIDATION_SHARE_LIMIT * self.pass_seconds(self.validation_lines), 1e-9)

    def _uncharged(self) -> float:
        """Seconds since the last charge: the current stretch of training, not charged yet."""
        return self.clock() - self._mark if self._mark is not None else 0.0

    def planned_training(self) -> float:
        """The training seconds of the whole run, as now planned: what is spent (the current stretch too),
        plus what remains of the budget after the reserve, less the validations (and their checkpoints)
        still to come."""
        trained = self.spent["training"] + self._uncharged()
        remaining = max(self.seconds - self.used - self._uncharged() - self.reserve(), 0.0)
        validation = self.pass_seconds(self.validation_lines) + self.checkpoint_seconds
        # The validation share of the remaining time (bounded: an interval is at least a MAX_VALIDATIONS-th
        # of the run and VALIDATION_SHARE_LIMIT validations long).
        return trained + remaining / (1.0 + validation / self._interval(trained + remaining))

    def fraction(self) -> float:
        """The fraction of the planned training time used, in [0, 1]: what the learning rate follows."""
        planned = self.planned_training()
        trained = self.spent["training"] + self._uncharged()
        return min(1.0, trained / planned) if planned > 0 else 1.0

    def training_done(self) -> bool:
        return self.fraction() >= 1.0

    def validation_due(self) -> bool:
        """At an epoch's end: whether enough training time passed since the last validation."""
        return self.spent["training"] - self.last_validation_training >= self._interval(self.planned_training())

    # ------------------------------------------------------------------ state and report

    def state(self) -> dict:
        """What a resumed run needs to go on with the rest of the budget (JSON)."""
        keys = (
            "seconds",
            "spent",
            "validations",
            "validation_seconds",
            "checkpoint_seconds",
            "training_lines",
            "last_validation_training",
        )
        return {key: getattr(self, key) for key in keys}

    @classmethod
    def resumed(cls, state: dict, seconds: float, validation_lines: int, test_lines: int, **kwargs) -> "TrainingBudget":
        if not math.isclose(state["seconds"], seconds):
            raise ValueError(
                f"the run's state holds a budget of {state['seconds'] / 60:g} minutes, not {seconds / 60:g}; "
                f"resume with --max_train_minutes {state['seconds'] / 60:g}"
            )
        kept = {key: value for key, value in state.items() if key != "seconds"}
        return cls(seconds, validation_lines, test_lines, **kept, **kwargs)

    def summary(self) -> str:
        parts = ", ".join(
            f"{kind} {self.spent[kind] / 60:.1f}" + (f" ({self.validations} passes)" if kind == "validation" else "")
            for kind in SPENDING
        )
        return f"budget {self.seconds / 60:g} min, used {self.used / 60:.1f} min: {parts} (minutes)"


def one_cycle_point(
    fraction: float, max_lr: float, initial_lr: float, final_div_factor: float, pct_start: float
) -> tuple[float, float]:
    """(learning rate, Adam's beta1) of torch's OneCycleLR (cosine, momentum cycled 0.95 -> 0.85 -> 0.95)
    at a fraction of the run instead of a step."""
    min_lr = initial_lr / final_div_factor
    base_momentum, max_momentum = 0.85, 0.95

    def cosine(start, end, pct):
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)

    fraction = min(max(fraction, 0.0), 1.0)
    if pct_start > 0 and fraction < pct_start:
        pct = fraction / pct_start
        return cosine(initial_lr, max_lr, pct), cosine(max_momentum, base_momentum, pct)
    pct = (fraction - pct_start) / (1.0 - pct_start) if pct_start < 1 else 1.0
    return cosine(max_lr, min_lr, pct), cosine(base_momentum, max_momentum, pct)


class BudgetOneCycleLR(torch.optim.lr_scheduler.LRScheduler):
    """The paper's OneCycle schedule (AdamW's learning rate and beta1) over the fraction of the training
    budget used. Stepped once per optimizer step, like OneCycleLR; its state is the budget's (in the
    run's progress), so `state_dict` holds nothing of its own."""

    def __init__(
        self,
        optimizer,
        budget: TrainingBudget,
        max_lr: float,
        initial_lr: float,
        final_div_factor: float,
        pct_start: float,
    ):
        self.budget = budget
        self.shape = dict(max_lr=max_lr, initial_lr=initial_lr, final_div_factor=final_div_factor, pct_start=pct_start)
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        lr, beta1 = one_cycle_point(self.budget.agreed_fraction, **self.shape)
        for group in self.optimizer.param_groups:
            if "betas" in group:
                group["betas"] = (beta1, group["betas"][1])
        return [lr for _ in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state_dict: dict) -> None:
        pass
