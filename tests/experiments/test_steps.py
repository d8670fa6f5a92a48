"""experiments/steps.py's run_steps: up to `jobs` steps at once, the next starting as soon as one ends, each
finished step recorded and followed by `on_done`; a failed step starts no further one."""

import sys

import pytest

from experiments.steps import Record, offline_env, run_steps


def step_that_marks(name: str, folder, waits_for: str | None = None, exit_code: int = 0):
    """A step that, once `waits_for`'s mark exists (if given; it fails after 60 s without), writes its own mark
    and exits with `exit_code`."""
    code = (
        "import pathlib, sys, time\n"
        f"folder = pathlib.Path({str(folder)!r})\n"
        "deadline = time.time() + 60\n"
        f"while {waits_for!r} and not (folder / {waits_for!r}).exists():\n"
        "    time.sleep(0.05)\n"
        "    if time.time() > deadline: sys.exit(1)\n"
        f"(folder / {name!r}).write_text('')\n"
        f"sys.exit({exit_code})\n"
    )
    return name, [sys.executable, "-c", code], ()


def test_the_next_step_starts_when_one_ends_not_when_all_do(tmp_path):
    record = Record(tmp_path / "record.json", {})
    finished = []
    # "long" ends only once "third" has run: with batches of two, "third" would wait for "long" to end
    steps = [
        step_that_marks("long", tmp_path, waits_for="third"),
        step_that_marks("short", tmp_path),
        step_that_marks("third", tmp_path),
    ]
    run_steps(record, steps, offline_env(), tmp_path / "logs", jobs=2, on_done=finished.append)
    assert sorted(finished) == ["long", "short", "third"]
    assert all(record.step_done(name) for name in ("long", "short", "third"))
    assert sorted(path.name for path in (tmp_path / "logs").iterdir()) == ["long.log", "short.log", "third.log"]
    assert (tmp_path / "record.json").is_file()


def test_a_failed_step_starts_no_further_one_and_stops_the_experiment(tmp_path):
    record = Record(tmp_path / "record.json", {})
    finished = []
    steps = [step_that_marks("broken", tmp_path, exit_code=3), step_that_marks("after", tmp_path)]
    with pytest.raises(SystemExit, match="'broken' failed with exit code 3"):
        run_steps(record, steps, offline_env(), tmp_path / "logs", jobs=1, on_done=finished.append)
    assert finished == [] and not record.step_done("broken")
    assert not (tmp_path / "after").exists() and "after" not in record.data["steps"]
