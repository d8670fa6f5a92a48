"""Processor: image processor + character CTC tokenizer + a named text-rules profile."""

import dataclasses
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import ProcessorMixin, Wav2Vec2CTCTokenizer
from transformers.image_processing_utils import BatchFeature
from transformers.utils import IMAGE_PROCESSOR_NAME, PROCESSOR_NAME, logging

from .ctc_beam_search import (
    ALPHABET_FILE,
    ATTRS_FILE,
    LANGUAGE_MODEL_DIR,
    UNIGRAMS_FILE,
    UNKNOWN_LABEL,
    LanguageModelSettings,
    WordLanguageModel,
    alphabet_json,
    alphabet_labels,
    ctc_beam_search,
    find_model_file,
)
from .image_processing_stackmix_htr import StackMixHTRImageProcessor
from .text_rules import get_text_rules

logger = logging.get_logger(__name__)

BLANK_TOKEN = "<pad>"
UNKNOWN_TOKEN = "<unk>"
WORD_DELIMITER = " "
DECODERS = ("greedy", "beam")
DEFAULT_BEAM_WIDTH = 16


def text_characters(texts: Sequence[str], text_rules: str = "none") -> set[str]:
    """The characters of `texts` after the text rules' preprocessing."""
    rules = get_text_rules(text_rules)
    return set(itertools.chain.from_iterable(rules.preprocess(text) for text in texts))


def character_vocabulary(characters) -> dict[str, int]:
    """A fresh vocabulary: 0 = blank ("<pad>"), then the characters in sorted order, then "<unk>"."""
    vocab = {BLANK_TOKEN: 0, **{char: index + 1 for index, char in enumerate(sorted(characters))}}
    vocab[UNKNOWN_TOKEN] = len(vocab)
    return vocab


class OutOfVocabularyError(ValueError):
    """A transcription holds characters the vocabulary does not have."""

    def __init__(self, sample_id, characters: Sequence[str]):
        self.sample_id = sample_id
        self.characters = list(characters)
        listed = ", ".join(f"{char!r} (U+{ord(char):04X})" for char in self.characters)
        super().__init__(
            f"sample {sample_id!r}: characters not in the vocabulary: {listed}; "
            "extend the vocabulary or pass unknown_to_unk=True to map them to <unk>"
        )


class StackMixHTRProcessor(ProcessorMixin):
    r"""
    Bundles a [`StackMixHTRImageProcessor`], a character-level `Wav2Vec2CTCTokenizer`
    (blank "<pad>" at id 0, word delimiter " ", case kept) and a text-rules profile
    (see `text_rules.get_text_rules`), whose name is saved with the processor.

    Targets go through the profile's `preprocess` before encoding; decoded lines go
    through its `postprocess`.

    Decoding is `decoder="greedy"` (best class per frame) or `"beam"` (CTC prefix beam search of
    `beam_width` beams, with the word n-gram language model of the checkpoint's `language_model/`
    folder when it has one; see `ctc_beam_search`). Both settings are saved with the processor;
    the language model's weights (alpha, beta) live in `language_model/attrs.json`.
    """

    def __init__(
        self,
        image_processor=None,
        tokenizer=None,
        text_rules: str = "none",
        decoder: str = "greedy",
        beam_width: int = DEFAULT_BEAM_WIDTH,
    ):
        self.text_rules = text_rules
        self._rules = get_text_rules(text_rules)
        self.decoder = _checked_decoder(decoder)
        self.beam_width = _checked_beam_width(beam_width)
        self.language_model_dir: Path | None = None
        self.lm_settings: LanguageModelSettings | None = None
        self._language_model: WordLanguageModel | None = None
        super().__init__(image_processor, tokenizer)

    @classmethod
    def from_texts(cls, texts: Sequence[str], text_rules: str = "none", **image_processor_kwargs):
        """Build a processor whose vocabulary is the sorted character set of the preprocessed `texts`.

        Ids: 0 = blank ("<pad>"), then the characters in sorted order, then "<unk>".
        `image_processor_kwargs` go to [`StackMixHTRImageProcessor`].
        """
        vocab = character_vocabulary(text_characters(texts, text_rules))
        return cls.from_vocab(vocab, text_rules=text_rules, **image_processor_kwargs)

    @classmethod
    def from_vocab(cls, vocab: dict[str, int], text_rules: str = "none", **image_processor_kwargs):
        """Build a processor with exactly this vocabulary (token -> id), which must hold "<pad>" at id 0
        and "<unk>", with ids 0..len(vocab)-1. `image_processor_kwargs` go to [`StackMixHTRImageProcessor`].
        """
        if vocab.get(BLANK_TOKEN) != 0 or UNKNOWN_TOKEN not in vocab:
            raise ValueError(f"a vocabulary needs {BLANK_TOKEN!r} at id 0 and {UNKNOWN_TOKEN!r}")
        if sorted(vocab.values()) != list(range(len(vocab))):
            raise ValueError(f"vocabulary ids must be 0..{len(vocab) - 1} without gaps or repeats")
        with tempfile.TemporaryDirectory() as folder:
            vocab_file = os.path.join(folder, "vocab.json")
            with open(vocab_file, "w", encoding="utf-8") as handle:
                json.dump(vocab, handle, ensure_ascii=False)
            tokenizer = Wav2Vec2CTCTokenizer(
                vocab_file,
                bos_token=None,
                eos_token=None,
                unk_token=UNKNOWN_TOKEN,
                pad_token=BLANK_TOKEN,
                word_delimiter_token=WORD_DELIMITER,
                do_lower_case=False,
            )
        return cls(StackMixHTRImageProcessor(**image_processor_kwargs), tokenizer, text_rules=text_rules)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """As `ProcessorMixin.from_pretrained`, with the language model of `language_model/` when the folder
        or repo has one. A local folder without a processor says so by the file name this processor
        saves (transformers' own message names the image processor's)."""
        folder = Path(pretrained_model_name_or_path, kwargs.get("subfolder") or "")
        if folder.is_dir() and not any((folder / name).is_file() for name in (PROCESSOR_NAME, IMAGE_PROCESSOR_NAME)):
            raise OSError(
                f"{folder} holds no processor ({PROCESSOR_NAME} is missing); save it there with "
                "processor.save_pretrained(folder), as training does for every checkpoint"
            )
        processor = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        language_model = _language_model_folder(str(pretrained_model_name_or_path), kwargs)
        if language_model is not None:
            processor.attach_language_model(language_model)
        return processor

    def attach_language_model(self, folder: str | os.PathLike) -> None:
        """Use the language model in `folder` (a `language_model/` folder) for beam search.

        Its settings are read now; the n-gram model itself (which needs `kenlm`) on the first beam decode.
        """
        folder = Path(folder)
        find_model_file(folder)
        if not (folder / UNIGRAMS_FILE).is_file():
            raise ValueError(f"{folder}: {UNIGRAMS_FILE} is missing")
        self.lm_settings = LanguageModelSettings.load(folder / ATTRS_FILE)
        self.language_model_dir = folder
        self._language_model = None

    @property
    def has_language_model(self) -> bool:
        return self.language_model_dir is not None

    @property
    def language_model(self) -> WordLanguageModel | None:
        """The loaded n-gram model (None without one); raises ImportError naming the extra without kenlm."""
        if self.language_model_dir is not None and self._language_model is None:
            self._language_model = WordLanguageModel(self.language_model_dir)
        return self._language_model

    def save_pretrained(self, save_directory, **kwargs):
        """Save the processor and, when it has one, its language model (`alphabet.json`, `language_model/`).

        The language model is written first, so that `push_to_hub=True` uploads it with the rest.
        """
        if self.language_model_dir is not None:
            self._save_language_model(Path(save_directory))
        return super().save_pretrained(save_directory, **kwargs)

    def _save_language_model(self, save_directory: Path) -> None:
        target = save_directory / LANGUAGE_MODEL_DIR
        save_directory.mkdir(parents=True, exist_ok=True)
        (save_directory / ALPHABET_FILE).write_text(alphabet_json(self.ctc_labels), encoding="utf-8")
        if target.is_dir() and os.path.samefile(target, self.language_model_dir):
            (target / ATTRS_FILE).write_text(self.lm_settings.to_json(), encoding="utf-8")
            return
        staging = Path(tempfile.mkdtemp(prefix=f".{LANGUAGE_MODEL_DIR}.", dir=save_directory))
        try:
            for source in (find_model_file(self.language_model_dir), self.language_model_dir / UNIGRAMS_FILE):
                shutil.copy2(source, staging / source.name)
            (staging / ATTRS_FILE).write_text(self.lm_settings.to_json(), encoding="utf-8")
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    @property
    def vocab_size(self) -> int:
        """Number of CTC classes (the model's `vocab_size`)."""
        return len(self.tokenizer.get_vocab())

    @property
    def blank_id(self) -> int:
        return self.tokenizer.pad_token_id

    @property
    def ctc_labels(self) -> list[str]:
        """One character per class id, as beam search and pyctcdecode's alphabet.json see them ("" for the blank)."""
        labels = getattr(self, "_cached_labels", None)
        if labels is None:
            by_id = sorted(self._vocab().items(), key=lambda item: item[1])
            labels = self._cached_labels = alphabet_labels([token for token, _ in by_id], BLANK_TOKEN, UNKNOWN_TOKEN)
        return labels

    def _vocab(self) -> dict[str, int]:
        # The tokenizer builds a fresh dict on every get_vocab() call; decoding long batches reuses one.
        vocab = getattr(self, "_cached_vocab", None)
        if vocab is None:
            vocab = self._cached_vocab = self.tokenizer.get_vocab()
        return vocab

    def encode_text(
        self, texts: Sequence[str], sample_ids: Sequence | None = None, unknown_to_unk: bool = False
    ) -> list[list[int]]:
        """Preprocess each text with the text rules and map it to character ids.

        Raises `OutOfVocabularyError` naming the sample (its id, or its index) and the
        unknown characters, unless `unknown_to_unk` maps them to "<unk>".
        """
        if isinstance(texts, str):
            texts = [texts]
        if sample_ids is not None and len(sample_ids) != len(texts):
            raise ValueError(f"got {len(sample_ids)} sample_ids for {len(texts)} texts")
        vocab = self._vocab()
        special = {BLANK_TOKEN, UNKNOWN_TOKEN}
        unknown_id = vocab[UNKNOWN_TOKEN]
        encoded = []
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                name = sample_ids[index] if sample_ids is not None else index
                raise TypeError(f"sample {name!r}: expected a str transcription, got {type(text).__name__}")
            text = self._rules.preprocess(text)
            unknown = [char for char in dict.fromkeys(text) if char not in vocab or char in special]
            if unknown and not unknown_to_unk:
                raise OutOfVocabularyError(sample_ids[index] if sample_ids is not None else index, unknown)
            encoded.append([unknown_id if char in unknown else vocab[char] for char in text])
        return encoded

    def __call__(
        self,
        images=None,
        text: Sequence[str] | None = None,
        sample_ids: Sequence | None = None,
        unknown_to_unk: bool = False,
        return_tensors: str | None = "pt",
        **kwargs,
    ) -> BatchFeature:
        """
        Returns `BatchFeature` with `pixel_values` (B, C, H, W) and `pixel_mask` (B, W) for
        `images`, and `labels` (B, L) padded with -100 for `text`.
        """
        if images is None and text is None:
            raise ValueError("give images, text or both")
        if kwargs:
            raise TypeError(f"unexpected arguments: {', '.join(kwargs)}")
        data = {}
        if images is not None:
            data.update(self.image_processor(images, return_tensors=None, sample_ids=sample_ids))
        if text is not None:
            encoded = self.encode_text(text, sample_ids=sample_ids, unknown_to_unk=unknown_to_unk)
            if images is not None and len(encoded) != len(data["pixel_values"]):
                raise ValueError(f"got {len(data['pixel_values'])} images but {len(encoded)} texts")
            labels = np.full((len(encoded), max(1, max(map(len, encoded)))), -100, dtype=np.int64)
            for row, ids in enumerate(encoded):
                labels[row, : len(ids)] = ids
            data["labels"] = labels
        return BatchFeature(data, tensor_type=return_tensors)

    def _ids_to_text(self, ids) -> str:
        tokens = self.tokenizer.convert_ids_to_tokens([int(i) for i in ids])
        return self._rules.postprocess("".join(tokens))

    def batch_decode(
        self,
        logits_or_ids,
        output_lengths=None,
        decoder: str | None = None,
        beam_width: int | None = None,
        alpha: float | None = None,
        beta: float | None = None,
        **kwargs,
    ) -> list[str]:
        """CTC decoding, greedy or by beam search.

        Args:
            logits_or_ids: logits `(B, T, V)` (tensor or array) or, for greedy decoding, frame ids `(B, T)`.
            output_lengths: valid frames per sample `(B,)` (the model's `output_lengths`); frames
                beyond are ignored. All frames when None.
            decoder: "greedy" or "beam"; the processor's `decoder` when None.
            beam_width: beams kept per frame; the processor's `beam_width` when None.
            alpha, beta: language-model weight and word bonus for this call; the values of
                `language_model/attrs.json` when None. Only with a language model.

        Greedy: repeats collapse and blanks drop. Both: whitespace collapses and the text rules'
        `postprocess` applies.
        """
        if kwargs:
            raise TypeError(f"unexpected arguments: {', '.join(kwargs)}")
        decoder = _checked_decoder(decoder or self.decoder)
        if (alpha is not None or beta is not None) and not (decoder == "beam" and self.has_language_model):
            raise ValueError("alpha and beta weigh a language model in beam search; this decoding has none")
        if decoder == "beam":
            return self._beam_decode(
                logits_or_ids,
                output_lengths,
                _checked_beam_width(self.beam_width if beam_width is None else beam_width),
                alpha,
                beta,
            )
        ids = self._as_numpy(logits_or_ids)
        if ids.dtype.kind == "f":
            if ids.ndim != 3:
                raise ValueError(f"logits must have shape (batch, frames, vocab), got {ids.shape}")
            ids = ids.argmax(-1)
        if ids.ndim == 1:
            ids = ids[None]
        lengths = None if output_lengths is None else self._as_numpy(output_lengths).reshape(-1)
        texts = []
        for row, frames in enumerate(ids):
            if lengths is not None:
                frames = frames[: int(lengths[row])]
            collapsed = [key for key, _ in itertools.groupby(frames.tolist()) if key != self.blank_id]
            texts.append(self._ids_to_text(collapsed))
        return texts

    def _beam_decode(self, logits, output_lengths, beam_width: int, alpha, beta) -> list[str]:
        logits = self._as_numpy(logits)
        if logits.dtype.kind != "f" or logits.ndim != 3:
            raise ValueError(
                f"beam search needs logits of shape (batch, frames, vocab), got {logits.dtype} {logits.shape}"
            )
        language_model, settings = self.language_model, self.lm_settings
        if settings is not None:
            overrides = {name: float(value) for name, value in (("alpha", alpha), ("beta", beta)) if value is not None}
            settings = dataclasses.replace(settings, **overrides)
        logits = logits.astype(np.float64)
        log_probs = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
        lengths = None if output_lengths is None else self._as_numpy(output_lengths).reshape(-1)
        labels = self.ctc_labels
        texts = []
        for row, frames in enumerate(log_probs):
            if lengths is not None:
                frames = frames[: int(lengths[row])]
            text = ctc_beam_search(frames, labels, beam_width, language_model, settings)
            texts.append(self._rules.postprocess(text.replace(UNKNOWN_LABEL, UNKNOWN_TOKEN)))
        return texts

    def decode_labels(self, labels) -> list[str]:
        """Turn label rows `(B, L)` padded with -100 back into (preprocessed) target texts, without collapsing."""
        labels = self._as_numpy(labels)
        return [self._ids_to_text([i for i in row.tolist() if i >= 0 and i != self.blank_id]) for row in labels]

    @staticmethod
    def _as_numpy(values) -> np.ndarray:
        if isinstance(values, torch.Tensor):
            values = values.detach().float() if values.dtype == torch.bfloat16 else values.detach()
            return values.cpu().numpy()
        return np.asarray(values)

    @property
    def model_input_names(self):
        return self.image_processor.model_input_names


def _checked_decoder(decoder: str) -> str:
    if decoder not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}; choose one of {', '.join(DECODERS)}")
    return decoder


def _checked_beam_width(beam_width: int) -> int:
    if isinstance(beam_width, bool) or not isinstance(beam_width, (int, np.integer)) or beam_width < 1:
        raise ValueError(f"beam_width must be a positive integer, got {beam_width!r}")
    return int(beam_width)


def _language_model_folder(name_or_path: str, hub_kwargs: dict) -> Path | None:
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


__all__ = ["StackMixHTRProcessor", "OutOfVocabularyError", "DECODERS", "DEFAULT_BEAM_WIDTH"]
