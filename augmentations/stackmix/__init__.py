"""StackMix: new training lines stacked from character slices of real ones.

Flow: char masks (`python -m augmentations.stackmix char-masks`) -> token bank (`build_bank`,
`python -m augmentations.stackmix build-bank`) -> `StackMixGenerator` (text -> image) ->
`StackMixReplacement` (training transform), `python -m augmentations.stackmix generate`, or
`write_line` (one typed text, with a note of the characters the bank cannot write).
"""

from .bank import BankError, TokenBank, build_bank
from .corpus import Corpus, CorpusCoverageError, MixedTexts, RecombinedTexts, build_text_source, load_corpus
from .generator import StackMixGenerator, smooth_background
from .replacement import StackMixReplacement
from .tokenizer import TokenTrie, sample_max_length
from .writing import WrittenLine, write_line

__all__ = [
    "BankError",
    "Corpus",
    "CorpusCoverageError",
    "MixedTexts",
    "RecombinedTexts",
    "StackMixGenerator",
    "StackMixReplacement",
    "TokenBank",
    "TokenTrie",
    "WrittenLine",
    "build_bank",
    "build_text_source",
    "load_corpus",
    "sample_max_length",
    "smooth_background",
    "write_line",
]
