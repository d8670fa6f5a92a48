"""Training under faults: kills at named points of a save, resumes that change the schedule, bad
states and bad arguments. A kill is `os._exit(137)` (no clean-up, like kill -9) from a patched
function, so each test dies at exactly the same point every time."""

import json
import os
import shutil
from pathlib import Path

import datasets
import pytest
from support.training import TINY_RUN, make_tiny_dataset, run_training, run_training_with_hook, simple_splits
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from stackmix_htr.training import checkpointing
from stackmix_htr.training.checkpointing import load_progress, resolve_state_dir, save_training_state
from stackmix_htr.training.progress import RunProgress

# Dies as soon as the first `state/` has been renamed into place.
KILL_AFTER_STATE_RENAME = """
import stackmix_htr.training.checkpointing as checkpointing
replace_keeping_previous = checkpointing.replace_keeping_previous
def replace_then_die(new, final, **kwargs):
    replace_keeping_previous(new, final, **kwargs)
    if final.name == "state":
        os._exit(137)
checkpointing.replace_keeping_previous = replace_then_die
"""

# Dies right after the first row of metrics.jsonl is written; TensorBoard flushes every scalar (as
# it does every two minutes in a long run), so its events of that epoch are on disk too.
KILL_AFTER_FIRST_METRICS_ROW = """
from torch.utils.tensorboard import SummaryWriter
import stackmix_htr.training.metrics_log as metrics_log
add_scalar = SummaryWriter.add_scalar
def add_scalar_flushed(self, *args, **kwargs):
    add_scalar(self, *args, **kwargs)
    self.flush()
SummaryWriter.add_scalar = add_scalar_flushed
log = metrics_log.JsonlLogger.log
def log_then_die(self, row):
    log(self, row)
    os._exit(137)
metrics_log.JsonlLogger.log = log_then_die
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny", simple_splits())


def arguments(dataset, output_dir, epochs):
    # 12 training lines in batches of 2: 6 optimizer steps per epoch.
    return [
        "--dataset",
        dataset,
        "--output_dir",
        output_dir,
        *TINY_RUN,
        "--num_train_epochs",
        epochs,
        "--train_batch_size",
        2,
        "--eval_batch_size",
        4,
    ]


def metrics_rows(output_dir):
    return [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def finished_run(dataset, tmp_path_factory):
    """A finished one-epoch run (copy it before changing it)."""
    output_dir = tmp_path_factory.mktemp("finished") / "run"
    result = run_training(*arguments(dataset, output_dir, 1))
    assert result.returncode == 0, result.stdout[-3000:]
    return output_dir


def test_a_kill_right_after_the_state_is_renamed_into_place_leaves_a_resumable_run(dataset, tmp_path):
    output_dir = tmp_path / "run"
    killed = run_training_with_hook(KILL_AFTER_STATE_RENAME, *arguments(dataset, output_dir, 2))
    assert killed.returncode == 137, killed.stdout[-3000:]
    assert load_progress(output_dir / "state").epoch == 1
    resumed = run_training(*arguments(dataset, output_dir, 2), "--resume_from_checkpoint", "latest")
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert "resumed from" in resumed.stdout
    assert [row["epoch"] for row in metrics_rows(output_dir)] == [0, 1]


class FakeAccelerator:
    """What save_training_state needs of an Accelerator, on one process."""

    is_main_process = True

    def wait_for_everyone(self):
        pass

    def save_state(self, folder, safe_serialization):
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "model.bin").write_text("weights")


class FakeSaved:
    """A config or processor: save_pretrained writes one file."""

    def __init__(self, file_name):
        self.file_name = file_name

    def save_pretrained(self, folder):
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / self.file_name).write_text("{}")


class Killed(Exception):
    pass


def save(state_dir, epoch):
    config, processor = FakeSaved("config.json"), FakeSaved("processor_config.json")
    save_training_state(FakeAccelerator(), state_dir, RunProgress(epoch=epoch), config, processor)


def die_at_rename(monkeypatch, number):
    """Make the `number`-th rename of the state save raise, leaving the folders as a kill there would."""
    renames = []
    replace = os.replace

    def replace_or_die(source, destination):
        renames.append(destination)
        if len(renames) == number:
            raise Killed
        replace(source, destination)

    monkeypatch.setattr(checkpointing.os, "replace", replace_or_die)


def test_the_resolver_takes_only_a_complete_state_and_a_save_keeps_the_last_one(tmp_path, monkeypatch):
    state = tmp_path / "state"
    save(state, 1)
    with monkeypatch.context() as patch:  # killed between moving state/ aside and moving the new one in
        die_at_rename(patch, 2)
        with pytest.raises(Killed):
            save(state, 2)
    assert not state.exists() and load_progress(resolve_state_dir(state)).epoch == 1

    state.mkdir()  # a state without its model spec, as a writer that renamed too early left it
    (state / "training_progress.json").write_text('{"epoch": 2}')
    assert load_progress(resolve_state_dir(state)).epoch == 1
    with monkeypatch.context() as patch:  # the next save dies before its rename: epoch 1 must survive
        die_at_rename(patch, 1)
        with pytest.raises(Killed):
            save(state, 3)
    assert load_progress(resolve_state_dir(state)).epoch == 1

    save(state, 4)
    assert load_progress(resolve_state_dir(state)).epoch == 4
    assert sorted(path.name for path in tmp_path.iterdir()) == ["state"]


def test_resuming_with_more_epochs_is_refused_up_front(dataset, finished_run, tmp_path):
    output_dir = shutil.copytree(finished_run, tmp_path / "run")
    metrics_before = (output_dir / "metrics.jsonl").read_text()
    resumed = run_training(*arguments(dataset, output_dir, 3), "--resume_from_checkpoint", "latest")
    assert resumed.returncode == 2, resumed.stdout[-3000:]
    assert "Traceback" not in resumed.stdout
    assert "the saved run's learning-rate schedule has 6 optimizer steps (--num_train_epochs 1), this run's 18" in (
        resumed.stdout
    )
    assert (output_dir / "metrics.jsonl").read_text() == metrics_before


def test_an_unreadable_random_state_is_reported_on_resume(dataset, finished_run, tmp_path):
    output_dir = shutil.copytree(finished_run, tmp_path / "run")
    (output_dir / "state" / "random_states_0.pkl").write_bytes(b"not a pickle")
    resumed = run_training(*arguments(dataset, output_dir, 1), "--resume_from_checkpoint", "latest")
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert "random_states_0.pkl is unreadable" in resumed.stdout
    assert "resuming with fresh random states" in resumed.stdout


def test_an_epoch_logged_before_a_kill_is_logged_once_with_its_true_values(dataset, tmp_path):
    output_dir = tmp_path / "run"
    # The state is saved after the epoch's last step, then the epoch's row is written, then the kill.
    args = [*arguments(dataset, output_dir, 2), "--checkpointing_steps", 6, "--report_to", "tensorboard,jsonl"]
    killed = run_training_with_hook(KILL_AFTER_FIRST_METRICS_ROW, *args)
    assert killed.returncode == 137, killed.stdout[-3000:]
    [logged] = metrics_rows(output_dir)
    assert load_progress(output_dir / "state").epoch == 0  # the state predates the row

    resumed = run_training(*args, "--resume_from_checkpoint", "latest")
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    rows = metrics_rows(output_dir)
    assert [row["epoch"] for row in rows] == [0, 1]
    for key in ("train_loss", "val_loss", "cer", "step", "lr"):
        assert rows[0][key] == pytest.approx(logged[key], rel=1e-6), key
    assert rows[0]["train_samples_per_second"] > 0
    assert 0 < rows[0]["elapsed_seconds"] < rows[1]["elapsed_seconds"]  # counted on across the resume

    events = EventAccumulator(str(output_dir / "logs" / "stackmix_htr"))
    events.Reload()
    train_losses = [(event.step, event.value) for event in events.Scalars("train_loss")]
    assert train_losses == [(0, pytest.approx(rows[0]["train_loss"])), (1, pytest.approx(rows[1]["train_loss"]))]


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing dataset", "dataset {root}/nothing: no such folder"),
        (
            "output folder is a file",
            "--output_dir {root}/file/run: {root}/file is a file, not a folder; choose another --output_dir",
        ),
        ("empty validation split", "dataset {root}/data, split 'validation': the split is empty (0 samples)"),
        (
            "no state to resume",
            "--resume_from_checkpoint: no complete training state in {root}/run/state; "
            "give a state folder or start anew",
        ),
    ],
)
def test_bad_arguments_end_with_one_line_and_status_2_before_anything_is_written(dataset, tmp_path, case, expected):
    (tmp_path / "file").write_text("not a folder")
    data, output_dir, extra = dataset, tmp_path / "run", []
    if case == "missing dataset":
        data = tmp_path / "nothing"
    elif case == "output folder is a file":
        output_dir = tmp_path / "file" / "run"
    elif case == "empty validation split":  # in Parquet shards: the builders' layout
        data = tmp_path / "data"
        (data / "data").mkdir(parents=True)
        for name, split in datasets.load_from_disk(str(dataset)).items():
            split = split.select([]) if name == "validation" else split
            split.to_parquet(str(data / "data" / f"{name}-00000-of-00001.parquet"))
    else:
        extra = ["--resume_from_checkpoint", "latest"]
    result = run_training(*arguments(data, output_dir, 1), *extra)
    assert result.returncode == 2, result.stdout[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "error: " + expected.format(root=tmp_path)
    assert "Traceback" not in result.stdout
    if case == "missing dataset":
        assert not output_dir.exists()


@pytest.mark.parametrize("total_updates", [2, 10, 11, 20])
def test_the_learning_rate_schedule_runs_when_the_warm_up_rounds_to_one_step(total_updates):
    import argparse

    import torch

    from stackmix_htr.training.schedule import make_scheduler

    args = argparse.Namespace(max_learning_rate=1e-3, learning_rate=2e-4, pct_start=0.1, final_div_factor=1e5)
    optimizer = torch.optim.AdamW(torch.nn.Linear(1, 1).parameters(), lr=args.learning_rate)
    scheduler = make_scheduler(args, optimizer, total_updates)
    rates = []
    for _ in range(total_updates):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert max(rates) <= args.max_learning_rate * (1 + 1e-6)
    assert rates[-1] < rates[0] and rates[-1] < max(rates)
