"""The local evaluate modules against a straightforward Levenshtein computation."""

import evaluate
import pytest

from stackmix_htr.metrics import METRIC_NAMES, line_cer, load_metric, metric_path, normalize_as_asr


def levenshtein(source, target) -> int:
    """Textbook dynamic programme over two sequences (characters or words)."""
    previous = list(range(len(target) + 1))
    for i, source_item in enumerate(source, start=1):
        current = [i]
        for j, target_item in enumerate(target, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (source_item != target_item)))
        previous = current
    return previous[-1]


def corpus_rate(predictions, references, tokenize) -> float:
    errors = sum(levenshtein(tokenize(r), tokenize(p)) for p, r in zip(predictions, references))
    return errors / sum(len(tokenize(r)) for r in references)


def characters(text):
    return list(text)


def words(text):
    return text.split()


CASES = {
    "latin": (["the quick brwn fox", "jumps ovr", "the lazy dog"], ["the quick brown fox", "jumps over", "a lazy dog"]),
    "unicode": (
        ["Сѣверъ и югъ", "ꝑ dñs", "über straße"],
        ["Сѣверъ и югь", "ꝑ dñs noster", "Über Strasse"],
    ),
    "whitespace": (["a  b", " c"], ["a b", "c "]),
    "empty_prediction_and_reference": (["", "xyz", "abc"], ["lost line", "", "abc"]),
    "longer_prediction": (["one two three four", "x"], ["one", "x"]),
}


@pytest.fixture(scope="module")
def modules():
    return {name: load_metric(name) for name in METRIC_NAMES}


@pytest.mark.parametrize("case", sorted(CASES))
def test_cer_and_wer_are_corpus_edit_rates(modules, case):
    predictions, references = CASES[case]
    cer = modules["cer"].compute(predictions=predictions, references=references)["cer"]
    wer = modules["wer"].compute(predictions=predictions, references=references)["wer"]
    assert cer == pytest.approx(corpus_rate(predictions, references, characters))
    assert wer == pytest.approx(corpus_rate(predictions, references, words))


@pytest.mark.parametrize("case", sorted(CASES))
def test_string_accuracy_counts_exact_lines(modules, case):
    predictions, references = CASES[case]
    accuracy = modules["string_accuracy"].compute(predictions=predictions, references=references)
    expected = sum(p == r for p, r in zip(predictions, references)) / len(references)
    assert accuracy == {"string_accuracy": pytest.approx(expected)}


def test_corpus_rate_is_not_a_mean_of_line_rates(modules):
    predictions, references = ["b", "abcdefghij"], ["a", "abcdefghij"]
    cer = modules["cer"].compute(predictions=predictions, references=references)["cer"]
    assert cer == pytest.approx(1 / 11)
    assert cer != pytest.approx((1.0 + 0.0) / 2)


# Hand-normalised pairs: lower case, Unicode punctuation (P*) removed, whitespace collapsed.
AS_ASR = [
    ("Hello, World!", "hello world"),
    ("«Сѣверъ» — ДА…", "сѣверъ да"),
    ("  Dominus,   vobiscum .", "dominus vobiscum"),
    ("don't  stop-here", "dont stophere"),
    ("$5 + 3 = 8", "$5 + 3 = 8"),
]


@pytest.mark.parametrize("raw, normalized", AS_ASR)
def test_normalize_as_asr(raw, normalized):
    assert normalize_as_asr(raw) == normalized


def test_as_asr_scores_normalised_strings(modules):
    predictions = ["hello world", "сѣверъ дА", "Dominus vobiscum!", "dont stop here"]
    references = [raw for raw, _ in AS_ASR[:4]]
    normalized_predictions = ["hello world", "сѣверъ да", "dominus vobiscum", "dont stop here"]
    normalized_references = [normalized for _, normalized in AS_ASR[:4]]
    for name, tokenize in (("cer", characters), ("wer", words)):
        raw = modules[name].compute(predictions=predictions, references=references)[name]
        asr = modules[name].compute(predictions=predictions, references=references, as_asr=True)[name]
        assert raw == pytest.approx(corpus_rate(predictions, references, tokenize))
        assert asr == pytest.approx(corpus_rate(normalized_predictions, normalized_references, tokenize))
        assert asr < raw
    accuracy = modules["string_accuracy"].compute(predictions=predictions, references=references, as_asr=True)
    assert accuracy["string_accuracy"] == pytest.approx(3 / 4)


def test_combine_forwards_as_asr(modules):
    combined = evaluate.combine([str(metric_path(name)) for name in METRIC_NAMES])
    predictions, references = ["Hello world", "ab"], ["hello, world", "abc"]
    assert combined.compute(predictions=predictions, references=references, as_asr=True) == {
        "cer": pytest.approx(1 / 14),
        "wer": pytest.approx(1 / 3),
        "string_accuracy": pytest.approx(1 / 2),
    }
    raw = combined.compute(predictions=predictions, references=references)
    assert raw["cer"] == pytest.approx(corpus_rate(predictions, references, characters))
    assert raw["string_accuracy"] == 0.0


def test_empty_reference_counts_insertions(modules):
    cer = modules["cer"].compute(predictions=["abc", "x"], references=["", "y"])["cer"]
    assert cer == pytest.approx((3 + 1) / 1)
    wer = modules["wer"].compute(predictions=["one two", "x"], references=["   ", "x"])["wer"]
    assert wer == pytest.approx(2 / 1)


@pytest.mark.parametrize("name", ["cer", "wer"])
def test_all_empty_references_raise(modules, name):
    with pytest.raises(ValueError, match="all references are empty"):
        modules[name].compute(predictions=["a", ""], references=["", ""])


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_no_lines_raise(modules, name):
    with pytest.raises(ValueError, match="no references"):
        modules[name].compute(predictions=[], references=[])


def test_line_cer():
    assert line_cer("hallo", "hello") == pytest.approx(levenshtein("hello", "hallo") / 5)
    assert line_cer("", "") == 0.0
    assert line_cer("a", "") == float("inf")


def test_unknown_metric_name():
    with pytest.raises(ValueError, match="unknown metric 'bleu'"):
        load_metric("bleu")
