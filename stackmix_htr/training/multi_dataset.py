"""Several datasets in one run: their training splits interleaved into one with the datasets library.

Only the columns every line dataset has are kept (`sample_id`, `image`, `text`). Without
probabilities every line of every dataset comes once per epoch (the run's shuffled batch sampler
mixes them); with probabilities the datasets are drawn in those proportions, the smaller shares
repeated, until every line of every dataset has been drawn once (a fixed draw from the seed).
"""

from collections.abc import Sequence

import datasets

from modeling_stackmix_htr import get_text_rules

LINE_FEATURES = datasets.Features(
    {"sample_id": datasets.Value("string"), "image": datasets.Image(), "text": datasets.Value("string")}
)


def line_columns(split: datasets.Dataset) -> datasets.Dataset:
    """The split reduced to the shared line columns, in their order and types."""
    split = split.select_columns(list(LINE_FEATURES))
    return split if split.features == LINE_FEATURES else split.cast(LINE_FEATURES)


def normalize_texts(split: datasets.Dataset, text_rules: str) -> datasets.Dataset:
    """The split with its transcriptions passed through a text-rules profile's preprocessing.

    For a dataset mixed into a run whose processor applies another profile: its targets then
    follow its own conventions first. Only the text column is rewritten (the images are not copied).
    """
    rules = get_text_rules(text_rules)
    texts = [rules.preprocess(text) for text in split["text"]]
    return split.remove_columns("text").add_column("text", texts)


def interleave_train_splits(
    splits: Sequence[datasets.Dataset], probabilities: Sequence[float] | None = None, seed: int = 0
) -> datasets.Dataset:
    """One training split from several (map-style, so the per-epoch batch sampler can shuffle it)."""
    parts = [line_columns(split) for split in splits]
    if probabilities is None:
        return datasets.interleave_datasets(parts, stopping_strategy="all_exhausted_without_replacement")
    return datasets.interleave_datasets(
        parts, probabilities=list(probabilities), seed=seed, stopping_strategy="all_exhausted"
    )
