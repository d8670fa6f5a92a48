"""Checkpoint folders written atomically (see `stackmix_htr.common.atomic`): model exports (`best_cer/`,
`last/`, ...) and the resumable Accelerate state (`state/`), whose previous version a resume finds
when a kill fell between its renames.
"""

import json
import os
import shutil
from pathlib import Path

from accelerate.utils import RNG_STATE_NAME
from accelerate.utils import load as accelerate_load
from huggingface_hub import ModelCard, ModelCardData

from stackmix_htr.common.atomic import atomic_folder, previous_version, replace_keeping_previous
from stackmix_htr.common.errors import InputError
from stackmix_htr.common.hub import is_hub_id

from .progress import RunProgress

PROGRESS_FILE = "training_progress.json"  # written last: a state folder holding it is complete
MODEL_SPEC_DIR = "model_spec"  # inside the state folder: config + processor, to rebuild the run on resume
MODEL_SPEC_FILES = ("config.json", "processor_config.json")
RANDOM_STATE_KEYS = {"random_state", "numpy_random_seed", "torch_manual_seed"}  # what accelerate restores on CPU


def is_complete_state(folder: Path) -> bool:
    """Whether `folder` holds a whole training state (progress and the model spec to rebuild the run)."""
    spec = folder / MODEL_SPEC_DIR
    return (folder / PROGRESS_FILE).is_file() and all((spec / name).is_file() for name in MODEL_SPEC_FILES)


def resolve_state_dir(path: str | os.PathLike) -> Path | None:
    """The complete state to resume from: `path` itself, or the version set aside while it was replaced."""
    path = Path(path)
    for candidate in (path, previous_version(path)):
        if is_complete_state(candidate):
            return candidate
    return None


def save_training_state(accelerator, state_dir: str | os.PathLike, progress: RunProgress, config, processor) -> None:
    """`accelerator.save_state` (model, optimizer, scheduler, RNG of every process), the model
    `config` and `processor` (in MODEL_SPEC_DIR) and `progress` (epoch, step, best metrics; JSON)
    into `state_dir`, atomically: all of it is written in a temporary folder renamed last. Call on
    every process."""
    state_dir = Path(state_dir)
    tmp = state_dir.with_name(f".{state_dir.name}.tmp")  # one name for every process: each saves its RNG there
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    # Not safetensors: on CUDA the LSTM's weights are views of one flat cuDNN buffer, which the
    # safetensors path would drop as "shared"; accelerate reads these files back with weights_only.
    accelerator.save_state(str(tmp), safe_serialization=False)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        config.save_pretrained(tmp / MODEL_SPEC_DIR)
        processor.save_pretrained(tmp / MODEL_SPEC_DIR)
        (tmp / PROGRESS_FILE).write_text(json.dumps(progress.to_dict(), indent=2))
        replace_keeping_previous(tmp, state_dir, is_complete=is_complete_state)
    accelerator.wait_for_everyone()


def load_progress(state_dir: str | os.PathLike) -> RunProgress:
    return RunProgress.from_dict(json.loads((Path(state_dir) / PROGRESS_FILE).read_text()))


def check_resumed_schedule(saved_total_steps: int, updates_per_epoch: int, num_train_epochs: int) -> None:
    """Refuse to resume when this run's OneCycle schedule has another length than the saved one:
    the restored scheduler would run out of steps (or never anneal), and a started one-cycle
    schedule cannot be stretched without changing the learning rates already used."""
    total_steps = updates_per_epoch * num_train_epochs
    if max(1, total_steps) == saved_total_steps:
        return
    saved = f"{saved_total_steps} optimizer steps"
    if updates_per_epoch and saved_total_steps % updates_per_epoch == 0:
        saved += f" (--num_train_epochs {saved_total_steps // updates_per_epoch})"
    raise InputError(
        f"--resume_from_checkpoint: the saved run's learning-rate schedule has {saved}, this run's {total_steps} "
        f"({num_train_epochs} epochs of {updates_per_epoch}); a started OneCycle schedule cannot change length. "
        "Resume with the saved run's --num_train_epochs, --train_batch_size, --gradient_accumulation_steps, "
        "--max_train_samples and number of processes, or start a new run in another --output_dir"
    )


def random_states_problem(state_dir: str | os.PathLike, process_index: int) -> str | None:
    """Why this process's random states in `state_dir` cannot be restored, or None. Accelerate
    skips such a file silently and the run goes on with fresh random states."""
    path = Path(state_dir) / f"{RNG_STATE_NAME}_{process_index}.pkl"
    if not path.is_file():
        return f"{path} is missing"
    try:
        states = accelerate_load(path)  # as accelerate reads it: weights_only, numpy states allowed
    except Exception as error:  # torch.load raises many types for a corrupt file
        first_line = (str(error).strip().splitlines() or [""])[0]
        return f"{path} is unreadable ({type(error).__name__}: {first_line})"
    if not isinstance(states, dict) or not RANDOM_STATE_KEYS <= set(states):
        return f"{path} does not hold the random states {sorted(RANDOM_STATE_KEYS)}"
    return None


def build_model_card(
    *,
    title: str,
    datasets: list[str],
    metrics: dict,
    training_arguments: dict,
    text_rules: str,
    base_model: str | None = None,
) -> ModelCard:
    """A local model card (README.md) with the validation metrics and the training arguments;
    Hub ids among `datasets` and `base_model` (the model it was fine-tuned from) go into its metadata."""
    hub_datasets = [name for name in datasets if is_hub_id(name)]
    data = ModelCardData(
        library_name="transformers",
        pipeline_tag="image-to-text",
        tags=["handwriting-recognition", "htr", "ctc", "stackmix"],
        datasets=hub_datasets or None,
        base_model=base_model if base_model and is_hub_id(base_model) else None,
        metrics=["cer", "wer"],
    )
    metric_rows = "\n".join(f"| {name} | {value:.6g} |" for name, value in metrics.items())
    started = f", starting from `{base_model}`" if base_model else ""
    content = f"""---
{data.to_yaml()}
---

# {title}

A ResNet-BiLSTM-CTC handwritten text line recognizer (StackMix-HTR) trained with
`train_accelerate.py` on {", ".join(f"`{name}`" for name in datasets)} (text rules: `{text_rules}`){started}.

## Usage

```python
import modeling_stackmix_htr  # registers the model and the pipeline
from transformers import pipeline

recognizer = pipeline("handwriting-recognition", model="path/to/this/folder")
print(recognizer("line.png"))
```

## Validation metrics

| metric | value |
|---|---|
{metric_rows}

## Training arguments

```json
{json.dumps(training_arguments, indent=2, sort_keys=True, default=str)}
```
"""
    return ModelCard(content)


def read_training_arguments(card_path: str | os.PathLike) -> dict:
    """The training arguments a model card of `build_model_card` records."""
    text = Path(card_path).read_text(encoding="utf-8")
    _, marker, rest = text.partition("## Training arguments")
    block = rest.split("```json", 1)[-1].split("```", 1)[0] if marker else ""
    try:
        return json.loads(block)
    except ValueError:
        raise ValueError(f"{card_path}: no JSON block of training arguments under '## Training arguments'") from None


def save_model_checkpoint(model, processor, final_dir: str | os.PathLike, card: ModelCard) -> None:
    """`save_pretrained` of the (unwrapped) model and the processor plus the model card, atomically."""
    with atomic_folder(final_dir) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        card.save(tmp / "README.md")


CHECKPOINT_METRICS = {"best_cer": ("cer", True), "best_wer": ("wer", True), "best_acc": ("string_accuracy", False)}


def save_checkpoints(
    args, accelerator, model, processor, output_dir: Path, epoch: int, progress: RunProgress, validation: dict
):
    """`last/`, and each `best_*/` whose validation metric improved (the best values go into `progress`)."""
    improved = ["last"]
    for folder, (metric, lower_is_better) in CHECKPOINT_METRICS.items() if validation else ():
        value, previous = validation[metric], progress.best.get(metric)
        if previous is None or (value < previous if lower_is_better else value > previous):
            progress.best[metric] = validation[metric]
            improved.append(folder)
    if not accelerator.is_main_process:
        return
    card = build_model_card(
        title=f"StackMix-HTR ({args.model_preset or 'from ' + args.init_from}) trained on {' + '.join(args.dataset)}",
        datasets=args.dataset,
        base_model=args.init_from,
        metrics={"epoch": epoch, **{f"val_{k}": v for k, v in validation.items() if k != "num_lines"}},
        training_arguments={**vars(args), "world_size": accelerator.num_processes},
        text_rules=processor.text_rules,
    )
    for folder in improved:
        save_model_checkpoint(accelerator.unwrap_model(model), processor, output_dir / folder, card)
