"""The character vocabulary of a CTC line recognizer: the tokenizer, and transcriptions as class ids.

Class 0 is the CTC blank ("<pad>"), then the characters in sorted order, then "<unk>". The tokenizer
is transformers' `Wav2Vec2CTCTokenizer` (word delimiter " ", case kept), so checkpoints load with
`AutoProcessor` and decode as transformers' CTC models do.
"""

import itertools
import json
import os
import tempfile
from collections.abc import Sequence

from transformers import Wav2Vec2CTCTokenizer

from .ctc_beam_search import alphabet_labels

BLANK_TOKEN = "<pad>"
UNKNOWN_TOKEN = "<unk>"
WORD_DELIMITER = " "


def text_characters(texts: Sequence[str], rules) -> set[str]:
    """The characters of `texts` after the text rules' preprocessing."""
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


def character_tokenizer(vocab: dict[str, int]) -> Wav2Vec2CTCTokenizer:
    """A tokenizer of exactly this vocabulary (token -> id), which must hold "<pad>" at id 0 and "<unk>",
    with ids 0..len(vocab)-1."""
    if vocab.get(BLANK_TOKEN) != 0 or UNKNOWN_TOKEN not in vocab:
        raise ValueError(f"a vocabulary needs {BLANK_TOKEN!r} at id 0 and {UNKNOWN_TOKEN!r}")
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise ValueError(f"vocabulary ids must be 0..{len(vocab) - 1} without gaps or repeats")
    with tempfile.TemporaryDirectory() as folder:
        vocab_file = os.path.join(folder, "vocab.json")
        with open(vocab_file, "w", encoding="utf-8") as handle:
            json.dump(vocab, handle, ensure_ascii=False)
        return Wav2Vec2CTCTokenizer(
            vocab_file,
            bos_token=None,
            eos_token=None,
            unk_token=UNKNOWN_TOKEN,
            pad_token=BLANK_TOKEN,
            word_delimiter_token=WORD_DELIMITER,
            do_lower_case=False,
        )


def ctc_labels(vocab: dict[str, int]) -> list[str]:
    """One character per class id ("" for the blank), as beam search and pyctcdecode's alphabet.json see them."""
    by_id = sorted(vocab.items(), key=lambda item: item[1])
    return alphabet_labels([token for token, _ in by_id], BLANK_TOKEN, UNKNOWN_TOKEN)


def encode_texts(
    vocab: dict[str, int], rules, texts: Sequence[str], sample_ids: Sequence | None = None, unknown_to_unk: bool = False
) -> list[list[int]]:
    """Preprocess each text with the text rules and map it to class ids.

    Raises `OutOfVocabularyError` naming the sample (its id, or its index) and the
    unknown characters, unless `unknown_to_unk` maps them to "<unk>".
    """
    if isinstance(texts, str):
        texts = [texts]
    if sample_ids is not None and len(sample_ids) != len(texts):
        raise ValueError(f"got {len(sample_ids)} sample_ids for {len(texts)} texts")
    special = {BLANK_TOKEN, UNKNOWN_TOKEN}
    unknown_id = vocab[UNKNOWN_TOKEN]
    encoded = []
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            name = sample_ids[index] if sample_ids is not None else index
            raise TypeError(f"sample {name!r}: expected a str transcription, got {type(text).__name__}")
        text = rules.preprocess(text)
        unknown = [char for char in dict.fromkeys(text) if char not in vocab or char in special]
        if unknown and not unknown_to_unk:
            raise OutOfVocabularyError(sample_ids[index] if sample_ids is not None else index, unknown)
        encoded.append([unknown_id if char in unknown else vocab[char] for char in text])
    return encoded
