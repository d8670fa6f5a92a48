"""The learning-rate schedule of a run and its resumption: the paper's OneCycle over the run's optimizer
steps, or over the fraction of a training budget used (`budget.BudgetOneCycleLR`)."""

import math
from pathlib import Path

import torch
from accelerate.logging import get_logger

from .budget import BudgetOneCycleLR, TrainingBudget
from .checkpointing import check_resumed_schedule, load_progress, random_states_problem
from .progress import RunProgress

logger = get_logger(__name__)


def make_scheduler(args, optimizer, total_updates: int, budget: TrainingBudget | None = None):
    """The paper's OneCycle schedule (stepped once per optimizer step) over the run's steps, or over the
    training time of `budget`."""
    if budget is not None:
        return BudgetOneCycleLR(
            optimizer, budget, args.max_learning_rate, args.learning_rate, args.final_div_factor, args.pct_start
        )
    total_steps = max(1, total_updates)
    pct_start = args.pct_start
    if total_steps > 1 and math.isclose(pct_start * total_steps, 1.0):
        # torch interpolates the warm-up over pct_start * total_steps - 1 steps: a warm-up of exactly
        # one step divides by zero. Half a step means no warm-up: the run starts at the peak.
        pct_start = 0.5 / total_steps
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=args.max_learning_rate,
        total_steps=total_steps,
        pct_start=pct_start,
        anneal_strategy="cos",
        div_factor=args.max_learning_rate / args.learning_rate,
        final_div_factor=args.final_div_factor,
    )


def resume_state(
    accelerator, state_dir: Path, scheduler, updates_per_epoch: int, num_train_epochs: int | None
) -> RunProgress:
    """Load the saved state into the prepared objects and return its progress. An epoch-based schedule
    must have the saved one's length (`num_train_epochs`); a budgeted one (None) follows its budget."""
    problem = random_states_problem(state_dir, accelerator.process_index)
    if problem:
        logger.warning(
            f"{problem}: resuming with fresh random states (unlike an uninterrupted run)", main_process_only=False
        )
    accelerator.load_state(str(state_dir))
    if num_train_epochs is not None:
        check_resumed_schedule(scheduler.scheduler.total_steps, updates_per_epoch, num_train_epochs)
    progress = load_progress(state_dir)
    logger.info(
        f"resumed from {state_dir}: epoch {progress.epoch}, {progress.batches_done_in_epoch} batches done in it, "
        f"optimizer step {progress.global_step}"
    )
    return progress
