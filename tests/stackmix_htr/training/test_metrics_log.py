"""The running totals of a training epoch: the largest gradient norm, across a save and resume."""

import math

import torch
from accelerate import Accelerator

from stackmix_htr.training.metrics_log import EpochTotals


def test_epoch_totals_keep_the_largest_finite_gradient_norm_across_a_resume():
    accelerator = Accelerator(cpu=True)
    totals = EpochTotals(accelerator, lr=1e-3)
    for norm in (0.5, 7.25, 2.0, math.inf, math.nan):  # the last two: overflowed fp16 steps
        totals.add_grad_norm(torch.tensor(norm))
    saved = totals.totals()
    assert saved["grad_norm_max"] == 7.25

    resumed = EpochTotals(accelerator, lr=1e-3, saved=saved)
    resumed.add_grad_norm(torch.tensor(3.0))
    assert resumed.totals()["grad_norm_max"] == 7.25
    resumed.add_grad_norm(torch.tensor(9.5))
    assert resumed.totals()["grad_norm_max"] == 9.5
    # A state saved before the norm was recorded resumes from none.
    older = {key: value for key, value in saved.items() if key != "grad_norm_max"}
    assert EpochTotals(accelerator, lr=1e-3, saved=older).totals()["grad_norm_max"] == 0.0
