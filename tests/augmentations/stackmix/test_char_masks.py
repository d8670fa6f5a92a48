"""Character boxes from CTC posteriors: forced alignment, the greedy rule, frame -> pixel mapping."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from augmentations.stackmix.char_masks import align_line
from modeling_stackmix_htr.ctc_decoding import greedy_runs
from stackmix_htr.recognition.alignment import forced_align, forced_runs, runs_to_boxes
from stackmix_htr.recognition.frame_mapping import FrameMapping, measure_frame_mapping

NOMINAL = FrameMapping.nominal(8)  # frame f reads columns [8 f, 8 f + 8)

BLANK = 0


def synthetic_log_probs(num_frames: int, vocab_size: int, spans: list[tuple[int, int, int]], seed: int = 0):
    """(T, V) log-probs where blank dominates everywhere except label `k` on frames [a, b] of each span."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 0.3, size=(num_frames, vocab_size))
    logits[:, BLANK] += 4.0
    for label, start, end in spans:
        logits[start : end + 1, label] += 8.0
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def test_forced_alignment_recovers_glyph_frames():
    # "abca" with a repeated label far apart and glyphs of different widths.
    spans = [(1, 3, 6), (2, 9, 10), (3, 14, 20), (1, 24, 25)]
    log_probs = synthetic_log_probs(30, 5, spans)
    states, score = forced_align(log_probs, [label for label, _, _ in spans])
    runs = forced_runs(states, len(spans))
    for (_, start, end), (run_start, run_end) in zip(spans, runs):
        assert abs(run_start - start) <= 1 and abs(run_end - end) <= 1
    assert score < 0 and np.isfinite(score)


def test_forced_alignment_follows_targets_not_argmax():
    # The posterior says "ab" but the transcription is "ba": the path must still emit b then a, in order.
    log_probs = synthetic_log_probs(20, 4, [(1, 3, 5), (2, 10, 12)])
    states, _ = forced_align(log_probs, [2, 1])
    runs = forced_runs(states, 2)
    assert runs[0][1] < runs[1][0]
    emitted = [int(state) for state in states if state % 2 == 1]
    assert emitted == sorted(emitted)


def test_forced_alignment_of_repeats_needs_a_blank_between():
    log_probs = synthetic_log_probs(3, 3, [(1, 0, 0), (1, 2, 2)])
    states, _ = forced_align(log_probs, [1, 1])
    assert states.tolist() == [1, 2, 3]
    assert forced_align(synthetic_log_probs(2, 3, []), [1, 1]) is None  # two frames cannot hold "a blank a"
    assert forced_align(synthetic_log_probs(2, 3, []), [1, 2, 1]) is None


def test_greedy_runs_collapse_repeats_and_split_on_blanks():
    path = np.array([0, 1, 1, 0, 2, 0, 0, 3, 3, 0, 3])
    labels, runs = greedy_runs(path)
    assert labels == [1, 2, 3, 3]
    assert runs == [(1, 2), (4, 4), (7, 8), (10, 10)]


def test_greedy_rule_boxes_use_midpoints():
    # blank, a, a, blank, b, blank, blank, c: runs a=[1,2], b=[4,4], c=[7,7], T=8, one frame = 8 px.
    labels, runs = greedy_runs(np.array([0, 1, 1, 0, 2, 0, 0, 3]))
    boxes = runs_to_boxes(runs, "abc", num_frames=8, mapping=NOMINAL, scale=1.0, image_width=64)
    # a|b boundary: (right edge of a = 3 + left edge of b = 4) / 2 = 3.5 frames; b|c: (5 + 7) / 2 = 6.
    # The first box starts halfway from frame 0 to a's run (0.5), the last ends halfway to T (8).
    assert boxes == [
        {"label": "a", "x1": round(0.5 * 8), "x2": round(3.5 * 8)},
        {"label": "b", "x1": round(3.5 * 8), "x2": 6 * 8},
        {"label": "c", "x1": 6 * 8, "x2": 8 * 8},
    ]


def test_boxes_scale_back_to_original_pixels():
    runs = [(2, 3), (6, 6)]
    # A 400 px line shown to the model 200 px wide: one frame covers 8 * 400 / 200 = 16 original pixels.
    boxes = runs_to_boxes(runs, "ab", num_frames=10, mapping=NOMINAL, scale=400 / 200, image_width=400)
    # Edges in frames: 2 / 2 = 1, (4 + 6) / 2 = 5, (7 + 10) / 2 = 8.5.
    assert [box["x1"] for box in boxes] == [16, 80]
    assert [box["x2"] for box in boxes] == [80, 136]
    assert all(0 <= box["x1"] < box["x2"] <= 400 for box in boxes)


def test_offsets_shift_boundaries_next_to_spaces():
    runs = [(1, 1), (3, 3), (5, 5)]
    plain = runs_to_boxes(runs, "a b", 7, NOMINAL, 1.0, 56)
    shifted = runs_to_boxes(runs, "a b", 7, NOMINAL, 1.0, 56, char_offset=1.0, space_offset=3.0)
    assert [box["x1"] for box in shifted] == [plain[0]["x1"], plain[1]["x1"] + 3, plain[2]["x1"] + 3]


@pytest.mark.parametrize("method", ["forced", "greedy"])
def test_align_line_methods(method):
    spans = [(1, 2, 3), (2, 7, 8), (1, 12, 13)]
    log_probs = synthetic_log_probs(16, 3, spans)
    results, reason = align_line(log_probs, [1, 2, 1], "aba", NOMINAL, 1.0, 128, method)
    assert reason is None
    boxes, score = results[method]
    assert "".join(box["label"] for box in boxes) == "aba"
    centres = [(box["x1"] + box["x2"]) / 2 / 8 for box in boxes]
    for centre, (_, start, end) in zip(centres, spans):
        assert start - 2 <= centre <= end + 2
    # A transcription the greedy path does not read: only forced alignment gives boxes.
    results, reason = align_line(log_probs, [1, 1, 1], "aaa", NOMINAL, 1.0, 128, method)
    assert results["greedy"] is None and results["forced"] is not None
    assert (reason is None) == (method == "forced")


def test_ink_cuts_fall_in_the_gaps_between_glyphs():
    # Three glyphs drawn at columns [10, 30), [38, 50) and [53, 75): gaps [30, 38) and [50, 53).
    # Their CTC spikes (frames 3, 5, 8 at 8 px per frame) sit off-centre, as trained models place them.
    profile = np.zeros(90, dtype=np.int64)
    for start, stop in ((10, 30), (38, 50), (53, 75)):
        profile[start:stop] = 5
    profile[20] = 1  # a thin stroke inside the first glyph must not attract a cut: it lies outside the windows
    runs = [(3, 3), (5, 5), (8, 8)]
    boxes = runs_to_boxes(runs, "abc", 11, NOMINAL, 1.0, 90, cuts="ink", ink_profile=profile)
    assert 30 <= boxes[0]["x2"] <= 38 and boxes[1]["x1"] == boxes[0]["x2"]
    assert 50 <= boxes[1]["x2"] <= 53
    # The outer cuts follow the ink: nothing of the first or last glyph is clipped.
    assert boxes[0]["x1"] <= 10 and boxes[2]["x2"] >= 75
    # The paper's midpoint rule cuts a fixed distance from the spikes, inside the glyphs here.
    midpoint = runs_to_boxes(runs, "abc", 11, NOMINAL, 1.0, 90)
    assert midpoint[0]["x1"] > 10 and not 50 <= midpoint[1]["x2"] <= 53


def test_ink_cut_prefers_the_midpoint_among_blank_columns():
    profile = np.zeros(64, dtype=np.int64)
    profile[4:12] = 3
    profile[40:50] = 3
    boxes = runs_to_boxes([(1, 1), (5, 5)], "ab", 8, NOMINAL, 1.0, 64, cuts="ink", ink_profile=profile)
    # Every column in [12, 40) is blank; the cut is the one nearest the spans' midpoint (16 + 40) / 2 = 28.
    assert boxes[0]["x2"] == 28


class PlantedReader(torch.nn.Module):
    """A stand-in CTC model whose frame t reads exactly input column 8 t + 3 (class 1 where it is bright)."""

    def __init__(self):
        super().__init__()
        self.config = SimpleNamespace(width_stride=8, pad_token_id=0)

    def forward(self, pixel_values, pixel_mask=None):
        columns = pixel_values.mean(dim=(1, 2))[:, 3::8]  # (B, T)
        logits = torch.stack([torch.zeros_like(columns), 10 * (columns - 0.5)], dim=-1)
        return SimpleNamespace(logits=logits)


def test_frame_mapping_is_measured_where_frames_look():
    torch.manual_seed(0)
    pixels = torch.rand(2, 1, 4, 160)
    mask = torch.ones(2, 160, dtype=torch.long)
    mapping, probed = measure_frame_mapping(PlantedReader(), pixels, mask)
    assert probed > 4
    assert mapping.stride == 8 and mapping.offset == 3
    assert mapping.column(2) == 19 and FrameMapping.nominal(8).column(2) == 20
