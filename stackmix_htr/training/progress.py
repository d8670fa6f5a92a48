"""Where a training run stands: what its resumable state records besides the model and optimizer."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class RunProgress:
    epoch: int = 0  # epochs finished
    batches_done_in_epoch: int = 0  # of the epoch under way (a state saved mid-epoch)
    global_step: int = 0  # optimizer steps
    nonfinite_losses: int = 0  # batches skipped for a non-finite loss
    best: dict = field(default_factory=dict)  # validation metric -> best value so far (checkpoint selection)
    epoch_totals: dict | None = None  # the unfinished epoch's totals so far (a state saved mid-epoch)
    elapsed_seconds: float = 0.0  # training and validation time of the whole run, resumed processes included
    budget: dict | None = None  # a budgeted run's spending (TrainingBudget.state)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RunProgress":
        """The progress of a saved state (one written before a field existed has that field's default)."""
        names = {item.name for item in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})
