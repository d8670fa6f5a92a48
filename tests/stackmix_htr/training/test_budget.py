"""Training to a wall-clock budget, on a fake clock: the schedule anneals as the training time runs out,
validation keeps to its share, the run ends within the budget, and a resumed run goes on with the rest."""

import pytest
import torch

from stackmix_htr.training.budget import BudgetOneCycleLR, TrainingBudget, one_cycle_point


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def simulate(budget: TrainingBudget, clock: FakeClock, step_seconds, epoch_steps=50, validation_seconds=4.0):
    """Train like the script does (steps, epochs, validations when due, checkpoints) until the budget says stop;
    returns the learning rate of every step."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([parameter], lr=2e-4)
    scheduler = BudgetOneCycleLR(optimizer, budget, max_lr=1e-3, initial_lr=2e-4, final_div_factor=1e5, pct_start=0.1)
    rates, step = [], 0
    while True:
        done = False
        for _ in range(epoch_steps):
            budget.agreed_fraction = budget.fraction()
            rates.append(optimizer.param_groups[0]["lr"])
            clock.now += step_seconds(step)
            step += 1
            optimizer.step()
            scheduler.step()
            if budget.agreed_fraction >= 1.0:
                done = True
                break
        budget.charge_training(16 * epoch_steps)
        if done or budget.validation_due():
            clock.now += validation_seconds
            budget.measure_validation(budget.charge("validation"))
        clock.now += 1.0
        budget.measure_checkpoints(budget.charge("checkpoints"))
        if done:
            clock.now += validation_seconds  # the test split, as large as the validation split
            budget.charge("test")
            return rates


def test_the_schedule_anneals_by_the_end_of_the_budget_and_the_run_ends_within_it():
    clock = FakeClock()
    budget = TrainingBudget(30 * 60, validation_lines=100, test_lines=100, clock=clock)
    clock.now += 20  # start-up
    budget.start(at=1000.0)
    budget.charge("startup")
    step_seconds = lambda step: 1.0 if step < 400 else 2.5  # noqa: E731  (the machine slows down midway)
    rates = simulate(budget, clock, step_seconds)
    assert 0.95 * budget.seconds <= budget.used <= budget.seconds
    assert max(rates) == pytest.approx(1e-3, rel=0.01)
    peak_time = sum(step_seconds(step) for step in range(rates.index(max(rates))))
    assert 0.08 < peak_time / budget.spent["training"] < 0.12  # the warm-up is 10 % of the training time
    assert rates[-1] < 1e-5  # annealed at the end
    assert 3 <= budget.validations <= 11 and budget.spent["validation"] < 0.2 * budget.spent["training"]


def test_a_resumed_budget_goes_on_with_the_rest_of_its_time():
    clock = FakeClock()
    budget = TrainingBudget(20 * 60, validation_lines=100, test_lines=100, clock=clock)
    budget.start()
    for _ in range(300):  # five minutes of training, then the process is stopped
        clock.now += 1.0
    budget.charge_training(16 * 300)
    state = budget.state()
    with pytest.raises(ValueError, match="resume with --max_train_minutes 20"):
        TrainingBudget.resumed(state, 30 * 60, validation_lines=100, test_lines=100)

    clock.now += 3600  # time between the two processes is not spent
    resumed = TrainingBudget.resumed(state, 20 * 60, validation_lines=100, test_lines=100, clock=clock)
    resumed.start()
    assert resumed.spent["training"] == pytest.approx(300)
    assert 0.2 < resumed.fraction() < 0.35  # the learning rate goes on from where it was
    simulate(resumed, clock, step_seconds=lambda step: 1.0)
    assert 0.95 * resumed.seconds <= resumed.used <= resumed.seconds


def test_the_shape_is_torchs_one_cycle_over_the_fraction():
    assert one_cycle_point(0.0, 1e-3, 2e-4, 1e5, 0.1) == pytest.approx((2e-4, 0.95))
    assert one_cycle_point(0.1, 1e-3, 2e-4, 1e5, 0.1) == pytest.approx((1e-3, 0.85))
    assert one_cycle_point(1.0, 1e-3, 2e-4, 1e5, 0.1) == pytest.approx((2e-9, 0.95))
    with pytest.raises(ValueError, match="at least 1 minute"):
        TrainingBudget(30)
