"""CTC prefix beam search with an optional word n-gram language model (KenLM).

A checkpoint folder holds its language model the way pyctcdecode and transformers'
`Wav2Vec2ProcessorWithLM` lay it out, so those tools read it too:

    alphabet.json                  {"labels": [...], "is_bpe": false}: the CTC classes in id order
    language_model/attrs.json      alpha, beta, unk_score_offset, score_boundary
    language_model/unigrams.txt    the words the model knows, one per line
    language_model/<name>.arpa     the n-gram model (ARPA, or KenLM binary .bin / .binary)

Scoring follows pyctcdecode's conventions, so the settings mean the same to both: a completed
word adds `alpha * ln(10) * (log10 p(word | history) + unk_score_offset * [word unknown]) + beta`,
and with `score_boundary` the line is scored from `<s>` to `</s>`. While a word is being spelled,
a beginning that no known word has costs `unk_score_offset` (natural log, growing with the length
beyond AVERAGE_WORD_LENGTH characters), so hopeless prefixes leave the beam early and beams do not
escape the penalty by running words together.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

LANGUAGE_MODEL_DIR = "language_model"
ALPHABET_FILE = "alphabet.json"
ATTRS_FILE = "attrs.json"
UNIGRAMS_FILE = "unigrams.txt"
MODEL_SUFFIXES = (".arpa", ".arpa.gz", ".bin", ".binary")  # KenLM reads a gzipped ARPA file as it is
UNKNOWN_LABEL = "⁇"  # pyctcdecode's one-character stand-in for the unknown token
LN_10 = math.log(10.0)
TOKEN_MIN_LOGP = -5.0  # classes below this log-probability in a frame are not expanded (unless the frame's best)
BEAM_PRUNE_LOGP = -10.0  # beams this far below the best one are dropped
AVERAGE_WORD_LENGTH = 6  # characters; longer unknown beginnings pay proportionally more
logger = logging.getLogger(__name__)
LM_EXTRA_HINT = "install the language-model extra: pip install 'stackmix-htr[lm]' (or pip install kenlm)"


def import_kenlm():
    """The `kenlm` module, or an ImportError that names the extra to install."""
    try:
        import kenlm
    except ImportError as error:
        raise ImportError(
            f"decoding with a language model needs the kenlm package: {LM_EXTRA_HINT}; "
            "greedy decoding (decoder='greedy') works without it"
        ) from error
    return kenlm


@dataclass
class LanguageModelSettings:
    """The weights of a language model in beam search (pyctcdecode's attrs.json)."""

    alpha: float = 0.5  # weight of the LM log-probability
    beta: float = 1.0  # bonus per word
    unk_score_offset: float = -10.0  # log10 penalty for a word the LM does not know
    score_boundary: bool = True  # score the line from <s> to </s>

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LanguageModelSettings":
        try:
            values = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: cannot read the language-model settings ({error})") from error
        expected = {field.name for field in fields(cls)}
        if not isinstance(values, dict) or set(values) != expected:
            raise ValueError(f"{path}: expected exactly the keys {sorted(expected)}, got {values!r}")
        settings = cls(**values)
        if not all(isinstance(getattr(settings, name), (int, float)) for name in ("alpha", "beta", "unk_score_offset")):
            raise ValueError(f"{path}: alpha, beta and unk_score_offset must be numbers, got {values!r}")
        return settings

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def find_model_file(folder: str | os.PathLike) -> Path:
    """The n-gram model file of a language-model folder (the one .arpa / .arpa.gz / .bin / .binary file)."""
    candidates = sorted(
        path for path in Path(folder).iterdir() if path.name.endswith(MODEL_SUFFIXES) and not path.name.startswith(".")
    )
    if len(candidates) != 1:
        raise ValueError(
            f"{folder}: expected one n-gram model file ({', '.join(MODEL_SUFFIXES)}), found {len(candidates)}"
        )
    return candidates[0]


def read_language_model_folder(folder: str | os.PathLike) -> LanguageModelSettings:
    """The settings of a `language_model/` folder, after checking it holds a model and its unigrams."""
    folder = Path(folder)
    find_model_file(folder)
    if not (folder / UNIGRAMS_FILE).is_file():
        raise ValueError(f"{folder}: {UNIGRAMS_FILE} is missing")
    return LanguageModelSettings.load(folder / ATTRS_FILE)


def write_language_model_folder(
    source: Path, settings: LanguageModelSettings, save_directory: Path, labels: Sequence[str]
) -> None:
    """Write `alphabet.json` and `language_model/` (the model and unigrams of `source`, these settings) into
    `save_directory`; the folder is staged beside its final place and renamed into it."""
    target = save_directory / LANGUAGE_MODEL_DIR
    save_directory.mkdir(parents=True, exist_ok=True)
    (save_directory / ALPHABET_FILE).write_text(alphabet_json(labels), encoding="utf-8")
    if target.is_dir() and os.path.samefile(target, source):
        (target / ATTRS_FILE).write_text(settings.to_json(), encoding="utf-8")
        return
    staging = Path(tempfile.mkdtemp(prefix=f".{LANGUAGE_MODEL_DIR}.", dir=save_directory))
    try:
        for file in (find_model_file(source), source / UNIGRAMS_FILE):
            shutil.copy2(file, staging / file.name)
        (staging / ATTRS_FILE).write_text(settings.to_json(), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def find_language_model_folder(name_or_path: str, hub_kwargs: dict) -> Path | None:
    """`language_model/` of a local checkpoint, or of a Hub repo (downloaded with the same revision and cache)."""
    if os.path.isdir(name_or_path):
        folder = Path(name_or_path) / LANGUAGE_MODEL_DIR
        return folder if folder.is_dir() else None
    from huggingface_hub import snapshot_download

    options = {
        key: hub_kwargs[key] for key in ("revision", "cache_dir", "token", "local_files_only") if key in hub_kwargs
    }
    try:
        snapshot = snapshot_download(name_or_path, allow_patterns=[f"{LANGUAGE_MODEL_DIR}/*"], **options)
    except Exception as error:  # offline without a cached copy, no access, unknown revision
        logger.warning(f"{name_or_path}: could not look for a language model ({error}); decoding without one")
        return None
    folder = Path(snapshot) / LANGUAGE_MODEL_DIR
    return folder if folder.is_dir() else None


def alphabet_labels(tokens: Sequence[str], blank_token: str, unknown_token: str) -> list[str]:
    """pyctcdecode's labels for tokens in id order: "" for the blank, "⁇" for the unknown token."""
    labels = []
    for token in tokens:
        label = "" if token == blank_token else UNKNOWN_LABEL if token == unknown_token else token
        if token != blank_token and len(label) != 1:
            raise ValueError(f"beam search needs one character per class; class {token!r} is not")
        labels.append(label)
    return labels


def alphabet_json(labels: Sequence[str]) -> str:
    return json.dumps({"labels": list(labels), "is_bpe": False}, ensure_ascii=False)


class WordLanguageModel:
    """A KenLM word n-gram model and its known words, read from a `language_model/` folder."""

    def __init__(self, folder: str | os.PathLike):
        kenlm = import_kenlm()
        self.folder = Path(folder)
        self.model_file = find_model_file(self.folder)
        unigrams_file = self.folder / UNIGRAMS_FILE
        if not unigrams_file.is_file():
            raise ValueError(f"{self.folder}: {UNIGRAMS_FILE} is missing")
        config = kenlm.Config()
        config.show_progress = False
        config.arpa_complain = kenlm.ARPALoadComplain.NONE
        try:
            self.model = kenlm.Model(str(self.model_file), config)
        except (OSError, RuntimeError) as error:
            raise ValueError(f"{self.model_file}: not a KenLM model KenLM can read ({error})") from error
        self.words = frozenset(word for word in unigrams_file.read_text(encoding="utf-8").split("\n") if word)
        # Every beginning of a known word: a partial word outside it can only end as an unknown word.
        self.word_prefixes = frozenset(word[:end] for word in self.words for end in range(1, len(word) + 1))
        self._kenlm = kenlm

    def start_state(self, at_line_start: bool):
        state = self._kenlm.State()
        if at_line_start:
            self.model.BeginSentenceWrite(state)
        else:
            self.model.NullContextWrite(state)
        return state

    def log10_score(self, state, word: str):
        """(log10 p(word | state), next state)."""
        next_state = self._kenlm.State()
        return self.model.BaseScore(state, word, next_state), next_state

    def __deepcopy__(self, memo):
        return self  # read-only once loaded; processors copy themselves when they serialise


class _LanguageModelScorer:
    """Language-model score of beam prefixes within one line, cached per prefix."""

    def __init__(self, language_model: WordLanguageModel, settings: LanguageModelSettings):
        self.lm = language_model
        self.settings = settings
        self.weight = settings.alpha * LN_10
        self.unknown_penalty = settings.unk_score_offset * self.weight
        # prefix -> (score of its completed words, LM state after them, the word being spelled)
        self.cache = {"": (0.0, language_model.start_state(settings.score_boundary), "")}
        self.scores = {"": 0.0}  # prefix -> score (beams are ranked every frame; most prefixes recur)

    def _word(self, state, word: str):
        log10_probability, next_state = self.lm.log10_score(state, word)
        score = self.weight * log10_probability + self.settings.beta
        if word not in self.lm.words:
            score += self.unknown_penalty
        return score, next_state

    def _entry(self, prefix: str):
        entry = self.cache.get(prefix)
        if entry is None:
            completed, state, partial = self._entry(prefix[:-1])
            char = prefix[-1]
            if char != " ":
                entry = (completed, state, partial + char)
            elif partial:
                score, state = self._word(state, partial)
                entry = (completed + score, state, "")
            else:
                entry = (completed, state, "")
            self.cache[prefix] = entry
        return entry

    def score(self, prefix: str) -> float:
        score = self.scores.get(prefix)
        if score is None:
            score, _, partial = self._entry(prefix)
            if partial and partial not in self.lm.word_prefixes:
                score += self.settings.unk_score_offset * max(1.0, len(partial) / AVERAGE_WORD_LENGTH)
            self.scores[prefix] = score
        return score

    def final_score(self, prefix: str) -> float:
        completed, state, partial = self._entry(prefix)
        if partial:
            score, state = self._word(state, partial)
            completed += score
        if self.settings.score_boundary:
            completed += self.weight * self.lm.log10_score(state, "</s>")[0]
        return completed


def _frame_candidates(log_probs: np.ndarray, labels: Sequence[str], blank: int) -> list[list[tuple[str, float]]]:
    """Per frame, (character, probability) of the classes worth expanding: those at or above
    TOKEN_MIN_LOGP and the frame's best class, the blank excepted."""
    keep = log_probs >= TOKEN_MIN_LOGP
    keep[np.arange(len(log_probs)), log_probs.argmax(axis=1)] = True
    keep[:, blank] = False
    rows, columns = np.nonzero(keep)
    probabilities = np.exp(log_probs[rows, columns]).tolist()
    candidates: list[list[tuple[str, float]]] = [[] for _ in range(len(log_probs))]
    for row, column, probability in zip(rows.tolist(), columns.tolist(), probabilities):
        candidates[row].append((labels[column], probability))
    return candidates


def ctc_beam_search(
    log_probs: np.ndarray,
    labels: Sequence[str],
    beam_width: int,
    language_model: WordLanguageModel | None = None,
    settings: LanguageModelSettings | None = None,
) -> str:
    """The best line for `log_probs` (frames, classes) by CTC prefix beam search.

    `labels[i]` is class i's character ("" for the blank). Each prefix keeps the probability of
    its paths ending in a blank and in a character, so a repeated character is emitted twice only
    across a blank. Beams rank by that probability (in log space) plus the language-model score
    when a model is given (`settings` then holds its weights). Probabilities are rescaled every
    frame so that the best beam has 1: they cannot underflow, and ratios are all ranking needs.
    """
    if beam_width < 1:
        raise ValueError(f"beam_width must be at least 1, got {beam_width}")
    log_probs = np.asarray(log_probs, dtype=np.float64)
    blank = labels.index("")
    scorer = (
        None if language_model is None else _LanguageModelScorer(language_model, settings or LanguageModelSettings())
    )
    prune_ratio = math.exp(BEAM_PRUNE_LOGP)
    blank_probabilities = np.exp(log_probs[:, blank]).tolist()
    beams = {"": [1.0, 0.0]}  # prefix -> [p of its paths ending in a blank, p of those ending in a character]
    for expansions, blank_probability in zip(_frame_candidates(log_probs, labels, blank), blank_probabilities):
        if not expansions:  # only the blank: every beam scales alike, the ranking stays
            for probabilities in beams.values():
                probabilities[0] = (probabilities[0] + probabilities[1]) * blank_probability
                probabilities[1] = 0.0
            best = max(ends_blank for ends_blank, _ in beams.values())
            for probabilities in beams.values():
                probabilities[0] /= best
            continue
        grown: dict[str, list[float]] = {}
        for prefix, (ends_blank, ends_char) in beams.items():
            total = ends_blank + ends_char
            entry = grown.get(prefix)
            if entry is None:
                entry = grown[prefix] = [0.0, 0.0]
            entry[0] += total * blank_probability
            last = prefix[-1:]
            for char, probability in expansions:
                if char == last:
                    entry[1] += ends_char * probability  # the repeat merges into the same character
                    source = ends_blank  # a new character only after a blank
                else:
                    source = total
                if source:
                    extended = prefix + char
                    target = grown.get(extended)
                    if target is None:
                        target = grown[extended] = [0.0, 0.0]
                    target[1] += source * probability
        if scorer is None:
            ranked = [(ends_blank + ends_char, prefix) for prefix, (ends_blank, ends_char) in grown.items()]
            threshold = max(ranked)[0] * prune_ratio
        else:
            ranked = [
                (math.log(ends_blank + ends_char) + scorer.score(prefix), prefix)
                for prefix, (ends_blank, ends_char) in grown.items()
                if ends_blank + ends_char > 0
            ]
            threshold = max(ranked)[0] + BEAM_PRUNE_LOGP
        kept = heapq.nlargest(beam_width, (item for item in ranked if item[0] >= threshold))
        beams = {prefix: grown[prefix] for _, prefix in kept}
        scale = max(ends_blank + ends_char for ends_blank, ends_char in beams.values())
        for probabilities in beams.values():
            probabilities[0] /= scale
            probabilities[1] /= scale
    if scorer is None:
        return max(beams, key=lambda prefix: sum(beams[prefix]))
    return max(beams, key=lambda prefix: math.log(sum(beams[prefix])) + scorer.final_score(prefix))


__all__ = [
    "ALPHABET_FILE",
    "ATTRS_FILE",
    "LANGUAGE_MODEL_DIR",
    "LanguageModelSettings",
    "UNIGRAMS_FILE",
    "UNKNOWN_LABEL",
    "WordLanguageModel",
    "alphabet_json",
    "alphabet_labels",
    "ctc_beam_search",
    "find_model_file",
    "import_kenlm",
]
