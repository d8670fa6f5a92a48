"""Word n-gram language models for beam search: built into a checkpoint folder, and their weights tuned.

`build` (the `stackmix-lm build --model CKPT --corpus latin.txt [--dataset data/saintgall] [--order 3]`
command) writes `CKPT/alphabet.json` and `CKPT/language_model/` (see `ctc_beam_search`) from the corpus,
the transcriptions of `--dataset`'s train split, or both (a new collection without a corpus of its
language takes its own transcriptions alone). Texts are written the way the model
writes: corpus lines go through the text rules' `from_plain_text` (the dataset's transcription
conventions; with `--dataset`, its spelling rules take the rates of its transcriptions, each rewrite
made where it is the usual form), every text through `preprocess`, and corpus lines with characters
the model cannot emit are left out. A line is a sentence; words are what spaces separate (the unit
beam search scores). KenLM's `lmplz` estimates the model when it is on the PATH; otherwise
`kneser_ney` does, with the same smoothing. Nothing already in CKPT changes unless the build succeeds.

Beam search only uses the model once the checkpoint decodes with `decoder="beam"`:
`tune_language_model` (`python eval.py --model CKPT --dataset DS --tune_lm`) chooses alpha and beta on a
validation split and `store_decoding` writes them and the decoder into the checkpoint.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from modeling_stackmix_htr.ctc_beam_search import (
    ALPHABET_FILE,
    ATTRS_FILE,
    LANGUAGE_MODEL_DIR,
    UNIGRAMS_FILE,
    LanguageModelSettings,
    alphabet_json,
)
from modeling_stackmix_htr.text_rules import get_text_rules
from stackmix_htr.common.atomic import atomic_folder, check_output_folder, write_file_atomic
from stackmix_htr.common.errors import InputError
from stackmix_htr.common.text_files import utf8_lines

from .checkpoints import forward_lines
from .kneser_ney import KneserNeyModel

DEFAULT_ORDER = 3
ALPHA_GRID = (0.1, 0.25, 0.5, 0.75, 1.0)  # the weights --tune_lm tries
BETA_GRID = (0.0, 1.5, 3.0, 4.5, 6.0)


class LanguageModelBuildError(InputError):
    """An input the build cannot use; the message names it and says what to do."""


def _load_processor(model: str):
    from transformers import AutoProcessor

    from modeling_stackmix_htr import StackMixHTRProcessor

    folder = Path(model)
    if not (folder / "processor_config.json").is_file():
        raise LanguageModelBuildError(f"checkpoint {model}: no processor_config.json; give a save_pretrained folder")
    try:
        processor = AutoProcessor.from_pretrained(model)
    except Exception as error:  # transformers raises many types for a broken folder
        raise LanguageModelBuildError(
            f"checkpoint {model}: the processor cannot be loaded ({type(error).__name__}: {error})"
        ) from error
    if not isinstance(processor, StackMixHTRProcessor):
        raise LanguageModelBuildError(f"checkpoint {model}: not a StackMix-HTR processor ({type(processor).__name__})")
    return processor


def corpus_sentences(path: Path, processor, report: dict, training_texts: list[str] | None = None) -> Iterator[str]:
    """Corpus lines in the model's conventions (spelling rules fitted on `training_texts`); lines with
    characters the model cannot emit are counted and skipped."""
    rules = get_text_rules(processor.text_rules)
    spellings = rules.spelling_rules(training_texts)
    if spellings:
        report["spelling_rules"] = [rule.describe() for rule in spellings]
    charset = {token for token in processor.tokenizer.get_vocab() if len(token) == 1}
    for line in utf8_lines(path, "corpus"):
        text = rules.preprocess(rules.from_plain_text(line, spellings))
        if not text:
            continue
        if set(text) <= charset:
            report["corpus_lines"] += 1
            yield text
        else:
            report["corpus_lines_skipped"] += 1


def dataset_sentences(texts: list[str], processor, report: dict) -> list[str]:
    """A dataset's transcriptions as sentences in the model's conventions (empty ones left out)."""
    sentences = [text for text in map(get_text_rules(processor.text_rules).preprocess, texts) if text]
    report["dataset_lines"] = len(sentences)
    return sentences


def estimate_with_lmplz(sentences: list[str], order: int, arpa_path: Path) -> None:
    lmplz = shutil.which("lmplz")
    if lmplz is None:
        raise LanguageModelBuildError("--estimator lmplz: KenLM's lmplz is not on the PATH; use --estimator python")
    text_path = arpa_path.with_suffix(".txt")
    text_path.write_text("".join(f"{sentence}\n" for sentence in sentences), encoding="utf-8")
    command = [lmplz, "--order", str(order), "--discount_fallback", "--text", str(text_path), "--arpa", str(arpa_path)]
    completed = subprocess.run(command, capture_output=True, text=True)
    text_path.unlink()
    if completed.returncode != 0:
        raise LanguageModelBuildError(f"lmplz failed (exit {completed.returncode}): {completed.stderr.strip()[-500:]}")


def estimate_with_python(sentences: list[str], order: int, arpa_path: Path) -> list[str]:
    model = KneserNeyModel(order)
    for sentence in sentences:
        model.add_sentence(sentence.split(" "))
    with arpa_path.open("w", encoding="utf-8") as handle:
        model.write_arpa(handle)
    return model.words


def build(
    model: str,
    corpus: str | None,
    dataset_texts: list[str] | None = None,
    order: int = DEFAULT_ORDER,
    estimator: str = "auto",
    overwrite: bool = False,
) -> dict:
    """Build MODEL/language_model/ and MODEL/alphabet.json from the corpus, a dataset's transcriptions
    (which also fit the corpus's spelling rules), or both; returns what went in."""
    if corpus is None and dataset_texts is None:
        raise LanguageModelBuildError("a language model needs a corpus, a dataset's transcriptions, or both")
    checkpoint = Path(model)
    target = checkpoint / LANGUAGE_MODEL_DIR
    check_output_folder(target, "--model", overwrite=overwrite)
    corpus = Path(corpus) if corpus is not None else None
    if corpus is not None and not corpus.is_file():
        raise LanguageModelBuildError(f"corpus {corpus}: file not found")
    processor = _load_processor(model)
    if estimator == "auto":
        estimator = "lmplz" if shutil.which("lmplz") else "python"

    report = {
        "corpus_lines": 0,
        "corpus_lines_skipped": 0,
        "dataset_lines": 0,
        "order": order,
        "estimator": estimator,
    }
    report["decoder"] = processor.decoder
    training = dataset_sentences(dataset_texts, processor, report) if dataset_texts is not None else []
    sentences = (list(corpus_sentences(corpus, processor, report, training)) if corpus else []) + training
    if not sentences:
        source = f"corpus {corpus}" if corpus else "the dataset's transcriptions"
        raise LanguageModelBuildError(
            f"{source}: no line is written in characters the model can emit; check the texts and the checkpoint"
        )

    with atomic_folder(target) as staging:
        arpa_path = staging / f"{order}gram.arpa"
        if estimator == "lmplz":
            estimate_with_lmplz(sentences, order, arpa_path)
            words = sorted({word for sentence in sentences for word in sentence.split(" ")})
        else:
            words = estimate_with_python(sentences, order, arpa_path)
        (staging / UNIGRAMS_FILE).write_text("".join(f"{word}\n" for word in sorted(words)), encoding="utf-8")
        (staging / ATTRS_FILE).write_text(LanguageModelSettings().to_json(), encoding="utf-8")
        write_file_atomic(checkpoint / ALPHABET_FILE, alphabet_json(processor.ctc_labels).encode("utf-8"))
    report["words"] = len(words)
    report["sentences"] = len(sentences)
    return report


def tune_language_model(
    checkpoint,
    data,
    scorers,
    batch_size: int,
    device: str,
    num_workers: int = 0,
    beam_width: int | None = None,
    alpha_grid=ALPHA_GRID,
    beta_grid=BETA_GRID,
) -> list[dict]:
    """Score every (alpha, beta) of the grids with beam search on `data` (a split with image and text); the
    checkpoint's processor keeps the best pair (lowest CER, then WER) and decodes with beam search from then
    on. Returns the grid's results."""
    processor = checkpoint.processor
    batches = list(forward_lines(checkpoint, data, batch_size, num_workers, device))
    references = list(data["text"])
    beam_width = beam_width or processor.beam_width
    grid = []
    for alpha in alpha_grid:
        for beta in beta_grid:
            predictions = []
            for logits, lengths in batches:
                predictions.extend(
                    processor.batch_decode(
                        logits, output_lengths=lengths, decoder="beam", beam_width=beam_width, alpha=alpha, beta=beta
                    )
                )
            values = scorers.compute(predictions=predictions, references=references)
            grid.append({"alpha": alpha, "beta": beta, "cer": values["cer"], "wer": values["wer"]})
            print(
                f"{checkpoint.name}: alpha {alpha:g}, beta {beta:g}: "
                f"CER {100 * values['cer']:.2f}%, WER {100 * values['wer']:.2f}%"
            )
    best = min(grid, key=lambda row: (row["cer"], row["wer"]))
    processor.lm_settings.alpha, processor.lm_settings.beta = best["alpha"], best["beta"]
    processor.decoder, processor.beam_width = "beam", beam_width
    return grid


def store_decoding(checkpoint) -> None:
    """Write the processor's language-model weights and decoder into the checkpoint folder, one atomic file at a time.

    The weights go first: until the decoder switches to beam search, they change nothing."""
    processor = checkpoint.processor
    folder = Path(checkpoint.path)
    write_file_atomic(folder / LANGUAGE_MODEL_DIR / ATTRS_FILE, processor.lm_settings.to_json().encode("utf-8"))
    config_file = folder / "processor_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config.update(decoder=processor.decoder, beam_width=processor.beam_width)
    write_file_atomic(
        config_file, (json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    )
