"""The recognizers that ship with the package: each loads by its short name and by its folder, reads the
example line of its card as the card says, and its card names its recipe, data and measured error rates."""

import pytest
import yaml
from PIL import Image
from support import REPO_ROOT
from transformers import pipeline

import modeling_stackmix_htr  # noqa: F401  (registers the model and the pipeline)
from stackmix_htr.pretrained import SHIPPED, pretrained_path, resolve_model
from stackmix_htr.recognition.checkpoints import load_checkpoint


def card(name: str) -> tuple[dict, str]:
    text = (pretrained_path(name) / "README.md").read_text(encoding="utf-8")
    _, front, body = text.split("---\n", 2)
    return yaml.safe_load(front), body


@pytest.mark.parametrize("name", list(SHIPPED))
def test_a_shipped_recognizer_loads_by_name_and_by_path_and_reads_its_example(name, tmp_path, monkeypatch):
    metadata, body = card(name)
    monkeypatch.chdir(tmp_path)  # no local folder of that name: the short name means the shipped model
    assert resolve_model(name) == str(pretrained_path(name))
    by_name = load_checkpoint(name)
    by_path = load_checkpoint(str(pretrained_path(name)))
    assert by_name.model.config.to_dict() == by_path.model.config.to_dict()
    assert not list(pretrained_path(name).glob("*.py"))  # the package's classes load it, not shipped code
    recognizer = pipeline("handwriting-recognition", model=by_name.model, processor=by_name.processor, device="cpu")
    example = metadata["example"]
    assert recognizer(Image.open(pretrained_path(name) / example["image"]))["text"] == example["reading"]
    # The card: the recipe (a command of this repository), the data with their licences, measured results.
    assert metadata["recipe"].split()[0] in body and (REPO_ROOT / metadata["recipe"].split()[0]).is_file()
    assert "Licence:" in body and "## Measured on held-out data" in body
    assert metadata["results"] and all(0 <= row["cer"] < 1 for row in metadata["results"])


def test_a_local_folder_of_the_same_name_wins_over_the_shipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "general").mkdir()
    assert resolve_model("general") == "general"
    assert resolve_model("user/model") == "user/model"
