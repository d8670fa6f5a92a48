"""Unit tests of the training helpers: batching, sharding, collation, start-up checks, atomic folders."""

import numpy as np
import pytest
import torch
from accelerate.data_loader import BatchSamplerShard
from support.training import line_image

from modeling_stackmix_htr import StackMixHTRConfig, StackMixHTRForCTC, StackMixHTRImageProcessor, StackMixHTRProcessor
from stackmix_htr.common.atomic import atomic_folder
from stackmix_htr.recognition.batches import LineCollator
from stackmix_htr.training.checks import ctc_required_frames, encode_all, find_unfit_lines, output_frames
from stackmix_htr.training.sampler import LineBatchSampler


def flatten(batches):
    return [index for batch in batches for index in batch]


def test_batch_sampler_covers_every_line_once_and_reshuffles_per_epoch():
    sampler = LineBatchSampler(23, batch_size=4, seed=3)
    epoch0 = list(sampler)
    assert sorted(flatten(epoch0)) == list(range(23))
    assert [len(batch) for batch in epoch0] == [4] * 5 + [3]  # the short batch comes last
    assert len(sampler) == 6
    assert list(sampler) == epoch0  # same epoch, same order
    sampler.set_epoch(1)
    assert list(sampler) != epoch0


def test_width_grouping_puts_similar_widths_together():
    rng = np.random.default_rng(0)
    widths = rng.integers(100, 2000, size=400)
    random_batches = list(LineBatchSampler(400, 8, seed=0))
    grouped = LineBatchSampler(400, 8, seed=0, widths=widths, mega_batch_factor=10)
    grouped_batches = list(grouped)
    assert sorted(flatten(grouped_batches)) == list(range(400))

    def mean_padding(batches):
        return np.mean([widths[b].max() - widths[b].mean() for b in batches])

    assert mean_padding(grouped_batches) < 0.2 * mean_padding(random_batches)
    grouped.set_epoch(1)
    assert list(grouped) != grouped_batches


def test_sharding_gives_processes_different_lines_and_equal_batch_counts():
    sampler = LineBatchSampler(37, batch_size=4, seed=5, widths=np.arange(37) * 10)
    shards = [list(BatchSamplerShard(sampler, num_processes=2, process_index=rank)) for rank in range(2)]
    assert len(shards[0]) == len(shards[1])
    assert all(len(batch) == 4 for shard in shards for batch in shard)
    # Apart from the few lines accelerate repeats to even out the last step, the processes see disjoint lines.
    first, second = set(flatten(shards[0])), set(flatten(shards[1]))
    assert first | second == set(range(37))
    assert len(first & second) <= 4


@pytest.fixture
def processor():
    image_processor = StackMixHTRImageProcessor(num_channels=1, image_height=32, max_width=256)
    tokenizer = StackMixHTRProcessor.from_texts(["abc de"]).tokenizer
    return StackMixHTRProcessor(image_processor, tokenizer)


def test_collator_pads_to_the_widest_line_or_to_max_width(processor):
    rows = [
        {"image": line_image(50, 16), "text": "abc", "sample_id": "a"},
        {"image": line_image(90, 16), "text": "de", "sample_id": "b"},
    ]
    batch = LineCollator(processor)(rows)
    assert batch["pixel_values"].shape == (2, 1, 32, 96)  # never upscaled; 90 px rounded up to 8
    assert batch["pixel_mask"].sum(dim=1).tolist() == [50, 90]
    assert batch["labels"].tolist()[1][2] == -100
    assert batch["sample_id"] == ["a", "b"] and batch["text"] == ["abc", "de"]

    fixed = LineCollator(processor, pad_to_width=256)(rows)
    assert fixed["pixel_values"].shape == (2, 1, 32, 256) and "pixel_mask" not in fixed
    assert torch.equal(fixed["pixel_values"][..., :96], batch["pixel_values"])

    unlabeled = LineCollator(processor, with_labels=False)([{**rows[0], "text": "unknown chars"}])
    assert "labels" not in unlabeled


def test_output_frames_match_the_model(processor):
    config = StackMixHTRConfig.from_preset("tiny", vocab_size=processor.vocab_size, num_channels=1, max_width=256)
    model = StackMixHTRForCTC(config).eval()
    sizes = [(37, 20), (300, 40), (1000, 16), (9, 64)]
    features = processor.image_processor([line_image(w, h) for w, h in sizes])
    with torch.no_grad():
        lengths = model(**features).output_lengths.tolist()
    assert lengths == [output_frames(processor.image_processor, w, h, config.width_stride) for w, h in sizes]


def test_encode_all_lists_every_unknown_character(processor):
    ids, report = encode_all(processor, ["abc", "abX", "Yd", "ee"], ["s1", "s2", "s3", "s4"])
    assert ids[0] == processor.encode_text(["abc"])[0] and ids[1] == []
    assert report.counts == {"X": 1, "Y": 1}
    assert report.sample_ids == {"X": ["s2"], "Y": ["s3"]}
    assert "'X' (U+0058) in 1 line(s): s2" in report.format()


def test_unfit_lines_count_blanks_between_repeats():
    assert ctc_required_frames([1, 1, 2, 2, 2, 3]) == 9
    unfit = find_unfit_lines([[1, 2, 3], [1, 1, 1], [4]], frames=[3, 4, 0], sample_ids=["ok", "repeats", "empty"])
    assert unfit == [("repeats", 5, 4), ("empty", 1, 0)]


def test_atomic_folder_keeps_the_old_version_when_writing_fails(tmp_path):
    target = tmp_path / "best_cer"
    with atomic_folder(target) as folder:
        (folder / "weights").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic_folder(target) as folder:
            (folder / "weights").write_text("half")
            raise RuntimeError("disk full")
    assert (target / "weights").read_text() == "v1"
    with atomic_folder(target) as folder:
        (folder / "weights").write_text("v2")
    assert (target / "weights").read_text() == "v2"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["best_cer"]
