"""Language-model folders for tests (not collected: the name does not start with test_)."""

from pathlib import Path

from modeling_stackmix_htr.ctc_beam_search import LanguageModelSettings
from stackmix_htr.recognition.kneser_ney import KneserNeyModel


def write_language_model(folder: Path, sentences: list[str], order: int = 2, **settings) -> Path:
    """A language_model/ folder in pyctcdecode's layout from `sentences`."""
    folder.mkdir(parents=True)
    model = KneserNeyModel(order)
    for sentence in sentences:
        model.add_sentence(sentence.split())
    with open(folder / f"{order}gram.arpa", "w", encoding="utf-8") as handle:
        model.write_arpa(handle)
    (folder / "unigrams.txt").write_text("".join(f"{word}\n" for word in model.words), encoding="utf-8")
    (folder / "attrs.json").write_text(LanguageModelSettings(**settings).to_json(), encoding="utf-8")
    return folder
