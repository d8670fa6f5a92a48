"""Processor: image processor + character CTC tokenizer + a named text-rules profile."""

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from transformers import ProcessorMixin
from transformers.image_processing_utils import BatchFeature
from transformers.models.wav2vec2.tokenization_wav2vec2 import Wav2Vec2CTCTokenizerOutput
from transformers.utils import IMAGE_PROCESSOR_NAME, PROCESSOR_NAME

from .ctc_beam_search import (
    UNKNOWN_LABEL,
    LanguageModelSettings,
    WordLanguageModel,
    find_language_model_folder,
    read_language_model_folder,
    write_language_model_folder,
)
from .ctc_decoding import DECODERS, DEFAULT_BEAM_WIDTH, CTCDecoder, as_numpy, checked_beam_width, checked_decoder
from .image_processing_stackmix_htr import StackMixHTRImageProcessor
from .text_rules import get_text_rules
from .tokenization_stackmix_htr import (
    UNKNOWN_TOKEN,
    OutOfVocabularyError,
    character_tokenizer,
    character_vocabulary,
    ctc_labels,
    encode_texts,
    text_characters,
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
        self.decoder = checked_decoder(decoder)
        self.beam_width = checked_beam_width(beam_width)
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
        vocab = character_vocabulary(text_characters(texts, get_text_rules(text_rules)))
        return cls.from_vocab(vocab, text_rules=text_rules, **image_processor_kwargs)

    @classmethod
    def from_vocab(cls, vocab: dict[str, int], text_rules: str = "none", **image_processor_kwargs):
        """Build a processor with exactly this vocabulary (token -> id), which must hold "<pad>" at id 0
        and "<unk>", with ids 0..len(vocab)-1. `image_processor_kwargs` go to [`StackMixHTRImageProcessor`].
        """
        tokenizer = character_tokenizer(vocab)
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
        language_model = find_language_model_folder(str(pretrained_model_name_or_path), kwargs)
        if language_model is not None:
            processor.attach_language_model(language_model)
        return processor

    def attach_language_model(self, folder: str | os.PathLike) -> None:
        """Use the language model in `folder` (a `language_model/` folder) for beam search.

        Its settings are read now; the n-gram model itself (which needs `kenlm`) on the first beam decode.
        """
        self.lm_settings = read_language_model_folder(folder)
        self.language_model_dir = Path(folder)
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
            write_language_model_folder(
                self.language_model_dir, self.lm_settings, Path(save_directory), self.ctc_labels
            )
        return super().save_pretrained(save_directory, **kwargs)

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
            labels = self._cached_labels = ctc_labels(self._vocab())
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
        """Preprocess each text with the text rules and map it to character ids (see `encode_texts`)."""
        return encode_texts(self._vocab(), self._rules, texts, sample_ids, unknown_to_unk)

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

    @property
    def _decoder(self) -> CTCDecoder:
        return CTCDecoder(
            self.ctc_labels,
            self.blank_id,
            self._ids_to_text,
            lambda text: self._rules.postprocess(text.replace(UNKNOWN_LABEL, UNKNOWN_TOKEN)),
        )

    def batch_decode(
        self,
        logits_or_ids,
        output_lengths=None,
        decoder: str | None = None,
        beam_width: int | None = None,
        alpha: float | None = None,
        beta: float | None = None,
        output_char_offsets: bool = False,
        **kwargs,
    ):
        """CTC decoding, greedy or by beam search.

        Args:
            logits_or_ids: logits `(B, T, V)` (tensor or array) or, for greedy decoding, frame ids `(B, T)`.
            output_lengths: valid frames per sample `(B,)` (the model's `output_lengths`); frames
                beyond are ignored. All frames when None.
            decoder: "greedy" or "beam"; the processor's `decoder` when None.
            beam_width: beams kept per frame; the processor's `beam_width` when None.
            alpha, beta: language-model weight and word bonus for this call; the values of
                `language_model/attrs.json` when None. Only with a language model.
            output_char_offsets: greedy decoding only; return a `Wav2Vec2CTCTokenizerOutput` whose
                `char_offsets` list each emitted character with its first and last frame + 1, as
                transformers' CTC tokenizers do.

        Greedy: repeats collapse and blanks drop. Both: whitespace collapses and the text rules'
        `postprocess` applies. Returns the texts (or the output with offsets).
        """
        if kwargs:
            raise TypeError(f"unexpected arguments: {', '.join(kwargs)}")
        decoder = checked_decoder(decoder or self.decoder)
        if (alpha is not None or beta is not None) and not (decoder == "beam" and self.has_language_model):
            raise ValueError("alpha and beta weigh a language model in beam search; this decoding has none")
        if decoder == "greedy":
            if not output_char_offsets:
                return self._decoder.greedy(logits_or_ids, output_lengths)
            texts, offsets = self._decoder.greedy(logits_or_ids, output_lengths, output_char_offsets=True)
            return Wav2Vec2CTCTokenizerOutput(text=texts, char_offsets=offsets)
        if output_char_offsets:
            raise ValueError("output_char_offsets needs greedy decoding (a beam's text has no single path)")
        settings = self.lm_settings
        if settings is not None:
            overrides = {name: float(value) for name, value in (("alpha", alpha), ("beta", beta)) if value is not None}
            settings = dataclasses.replace(settings, **overrides)
        beam_width = checked_beam_width(self.beam_width if beam_width is None else beam_width)
        return self._decoder.beam(logits_or_ids, output_lengths, beam_width, self.language_model, settings)

    def decode_labels(self, labels) -> list[str]:
        """Turn label rows `(B, L)` padded with -100 back into (preprocessed) target texts, without collapsing."""
        labels = as_numpy(labels)
        return [self._ids_to_text([i for i in row.tolist() if i >= 0 and i != self.blank_id]) for row in labels]

    @property
    def model_input_names(self):
        return self.image_processor.model_input_names


__all__ = ["StackMixHTRProcessor", "OutOfVocabularyError", "DECODERS", "DEFAULT_BEAM_WIDTH"]
