"""Checkpoint folders written atomically: model exports (`best_cer/`, `last/`, ...) and the
resumable Accelerate state (`state/`).

A folder is first written under a temporary name next to its destination and then renamed
into place; the previous version is moved aside and removed only after the new one is in
place, so an interrupted write never leaves a half-written folder under the final name.
"""

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

PROGRESS_FILE = "training_progress.json"


def _replace_directory(new: Path, final: Path) -> None:
    previous = final.with_name(final.name + ".previous")
    if previous.exists():
        shutil.rmtree(previous)
    if final.exists():
        os.replace(final, previous)
    os.replace(new, final)
    if previous.exists():
        shutil.rmtree(previous)


@contextmanager
def atomic_directory(final: str | os.PathLike):
    """Yields a fresh temporary folder beside `final`; on success it replaces `final`."""
    final = Path(final)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _replace_directory(tmp, final)


def resolve_state_dir(path: str | os.PathLike) -> Path | None:
    """The state folder to resume from: `path` itself, or the version set aside while it was replaced."""
    path = Path(path)
    for candidate in (path, path.with_name(path.name + ".previous")):
        if (candidate / PROGRESS_FILE).is_file():
            return candidate
    return None


def save_training_state(accelerator, state_dir: str | os.PathLike, progress: dict) -> None:
    """`accelerator.save_state` (model, optimizer, scheduler, RNG of every process) plus `progress`
    (epoch, step, best metrics; JSON) into `state_dir`, atomically. Call on every process."""
    state_dir = Path(state_dir)
    tmp = state_dir.with_name(f".{state_dir.name}.tmp")
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    # Not safetensors: on CUDA the LSTM's weights are views of one flat cuDNN buffer, which the
    # safetensors path would drop as "shared"; accelerate reads these files back with weights_only.
    accelerator.save_state(str(tmp), safe_serialization=False)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / PROGRESS_FILE).write_text(json.dumps(progress, indent=2))
        _replace_directory(tmp, state_dir)
    accelerator.wait_for_everyone()


def load_progress(state_dir: str | os.PathLike) -> dict:
    return json.loads((Path(state_dir) / PROGRESS_FILE).read_text())


def is_hub_id(name: str) -> bool:
    """Whether a dataset or model name is a Hub repo id rather than a local folder."""
    return "/" in name and not Path(name).exists()


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


def save_model_checkpoint(model, processor, final_dir: str | os.PathLike, card: ModelCard) -> None:
    """`save_pretrained` of the (unwrapped) model and the processor plus the model card, atomically."""
    with atomic_directory(final_dir) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        card.save(tmp / "README.md")
