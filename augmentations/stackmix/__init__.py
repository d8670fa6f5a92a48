"""StackMix: new training lines stacked from character slices of real ones.

Flow: char masks (`python -m augmentations.stackmix char-masks`) -> token bank (`build_bank`,
`python -m augmentations.stackmix build-bank`) -> `StackMixGenerator` (text -> image) ->
`StackMixReplacement` (training transform) or `python -m augmentations.stackmix generate`.
"""

from .bank import BankError, TokenBank, build_bank
from .corpus import Corpus, CorpusCoverageError, MixedTexts, RecombinedTexts, build_text_source, load_corpus
from .generator import StackMixGenerator, smooth_background
from .replacement import StackMixReplacement
from .tokenizer import TokenTrie, sample_max_length

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
    "build_bank",
    "build_text_source",
    "load_corpus",
    "sample_max_length",
    "smooth_background",
]
