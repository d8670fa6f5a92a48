"""Recognizers that ship with the project, by short name: each a `save_pretrained` folder inside this
package (weights, processor, model card `README.md` with its data, licences, recipe and measured error
rates, and an example line), so they work offline and load like any checkpoint folder:

    python transcribe.py --model saintgall --input pages/ --output_dir out/
    python train_accelerate.py --dataset data/mine --init_from general --output_dir outputs/mine --max_train_minutes 60

    from stackmix_htr.pretrained import pretrained_path
    recognizer = pipeline("handwriting-recognition", model=pretrained_path("general"))

Each is built by the recipe its card names (`experiments/pretrained/`).
"""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent
SHIPPED = {
    "general": "Latin-script handwriting (French notarial registers 1830-1939, Saint Gall's Latin, printed-like lines)",
    "saintgall": "Saint Gall (Latin, 9th century), with its word language model",
}


def pretrained_path(name: str) -> Path:
    """The folder of the shipped recognizer `name` (see SHIPPED)."""
    if name not in SHIPPED:
        raise KeyError(f"no shipped recognizer {name!r}; they are: {', '.join(SHIPPED)}")
    return FOLDER / name


def resolve_model(name_or_path: str) -> str:
    """A model argument as given (a folder, a Hub id), or the folder of a shipped recognizer when it is one's
    short name and no such local folder exists."""
    if name_or_path in SHIPPED and not Path(name_or_path).exists():
        return str(pretrained_path(name_or_path))
    return name_or_path
