"""What every experiment runner shares: commands run as recorded steps, and the record that lets a later
invocation (another session too) skip what is finished.

A `Record` is a JSON file holding the experiment's budget and its steps (command, wall time, done); an
invocation with another budget is refused, since its results would not be comparable. `run_steps`
runs commands from the repository root, up to a number at once (several share the CPU threads and
write their output to a log folder), and records them. Commands are shown relative to the repository
root, with `python` for the interpreter, as the reports list them.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from stackmix_htr.common.atomic import write_file_atomic

REPO_ROOT = Path(__file__).resolve().parents[1]
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}


def offline_env(**extra: str) -> dict:
    """The environment of the runs: this process's, offline unless the caller's says otherwise, plus `extra`."""
    return {**os.environ, **{key: os.environ.get(key, value) for key, value in OFFLINE_ENV.items()}, **extra}


class Record:
    """The JSON record of an experiment: its `budget` and whatever the runner keeps beside it (`sections`,
    each a dict, e.g. "steps", "runs"). `additions` name budget keys added since the first records, with
    the value every run had before they existed; keys in `ignore` are recorded but not compared."""

    def __init__(
        self, path: Path, budget: dict, sections=("steps",), additions: dict | None = None, ignore: tuple = ()
    ):
        self.path = Path(path)
        self.data = {"budget": budget, **{name: {} for name in sections}}
        if self.path.is_file():
            self.data = json.loads(self.path.read_text())
            for name in sections:
                self.data.setdefault(name, {})
            recorded = {**(additions or {}), **self.data["budget"]}
            if {k: v for k, v in recorded.items() if k not in ignore} != {
                k: v for k, v in budget.items() if k not in ignore
            }:
                raise SystemExit(
                    f"{shown(self.path)} holds runs with another budget {self.data['budget']}; this one is "
                    f"{budget}. Use another record and work folder, or remove them."
                )

    def step_done(self, step: str) -> bool:
        return self.data["steps"].get(step, {}).get("done", False)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomic(self.path, (json.dumps(self.data, indent=2) + "\n").encode())


def shown_command(command: list[str]) -> str:
    """A command as the report lists it: `python` for the interpreter running this script (any Python
    with the project installed runs it the same way), paths as `shown` gives them."""
    return shlex.join(["python" if part == sys.executable else part for part in command])


def shown(path: Path) -> str:
    """A path as commands show it: relative to the repository root (their working directory) when it lies
    inside the root or beside it (such as ../shared), else absolute."""
    if path.is_relative_to(REPO_ROOT.parent):
        return os.path.relpath(path, REPO_ROOT)
    return str(path)


def threads_per_job(jobs: int) -> int:
    """CPU threads each of `jobs` runs at once gets, so that together they use every core once."""
    return max(1, (os.cpu_count() or 1) // jobs)


def describe_training_device() -> str:
    """The accelerator Accelerate trains on by default: the GPUs when there are any."""
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return f"CPU ({os.cpu_count()} cores)"


def run_steps(
    record: "Record",
    steps: list[tuple[str, list, tuple[str, ...]]],
    env: dict,
    logs_dir: Path,
    jobs: int | None = None,
    on_done: Callable[[str], None] | None = None,
) -> None:
    """Run steps, each as (name, command, resume flags appended but not recorded), from the repository
    root, and add their commands and wall times to `record`'s "steps". Up to `jobs` (default: all of
    them) run at once, the next starting as soon as one ends; several at once write their output to
    `logs_dir` and share the CPU threads. `on_done(name)` follows each step that succeeded. A failed step
    starts no further one and, once the running ones end, stops the experiment."""
    jobs = min(jobs or len(steps), len(steps))
    if jobs > 1:
        env = {**env, "OMP_NUM_THREADS": str(threads_per_job(jobs))}
    waiting, running, logs, failed = list(steps), {}, {}, []
    while waiting or running:
        while waiting and len(running) < jobs and not failed:
            step, command, resume_flags = waiting.pop(0)
            command = [str(part) for part in command]
            entry = record.data["steps"].setdefault(step, {"seconds": 0.0})
            entry.update(command=shown_command(command), done=False)
            resumed = " (resumed)" if resume_flags else ""
            print(f"\n[step] {step}{resumed}\n$ {shown_command([*command, *resume_flags])}", flush=True)
            output = None
            if jobs > 1:
                logs_dir.mkdir(parents=True, exist_ok=True)
                logs[step] = logs_dir / (step.replace(" ", "_") + ".log")
                output = logs[step].open("a")
                print(f"[step] {step}: output in {shown(logs[step])}", flush=True)
            errors = subprocess.STDOUT if output else None
            process = subprocess.Popen([*command, *resume_flags], cwd=REPO_ROOT, env=env, stdout=output, stderr=errors)
            running[step] = (process, time.perf_counter(), output)
        if failed and not running:
            break
        time.sleep(0.2)
        for step, (process, started, output) in list(running.items()):
            if process.poll() is None:
                continue
            del running[step]
            if output:
                output.close()
            entry = record.data["steps"][step]
            entry["seconds"] += time.perf_counter() - started
            entry["done"] = process.returncode == 0
            record.save()
            if entry["done"]:
                print(f"[step] {step} done in {entry['seconds']:.1f} s", flush=True)
                if on_done:
                    on_done(step)
            else:
                where = f" (output: {shown(logs[step])})" if step in logs else ""
                failed.append(f"step {step!r} failed with exit code {process.returncode}{where}: {entry['command']}")
    if failed:
        raise SystemExit("[step] " + "\n[step] ".join(failed))
