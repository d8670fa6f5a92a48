"""Character spans from CTC posteriors: forced (Viterbi) alignment, and boxes from frame runs.

Runs of frames come from the greedy path (`modeling_stackmix_htr.ctc_decoding.greedy_runs`) or from
a forced alignment of a known text (`forced_align`, `forced_runs`); both give, for every character of
the transcription, a run of frames `[start, end]` (inclusive). `runs_to_boxes` turns runs into horizontal boxes in original-image pixels:

* a `FrameMapping` (measured on the model: `frame_mapping.measure_frame_mapping`) says which
  input column frame f reads; a run spans half a stride beyond its first and last frames' columns,
  and its centre is the column of its middle frame;
* `cuts="ink"` puts the cut between neighbours k and k+1 at the column with the least ink
  between their centres (the one nearest the midpoint of their spans among equals), so a cut
  falls in the gap between two glyphs rather than a fixed distance from a CTC spike; the first
  and last cuts follow the ink outwards until a gap of one frame's width, so the outer glyphs
  keep their strokes;
* `cuts="midpoint"` (the paper's rule) puts the cut halfway between the spans, and the outer
  cuts halfway between the line ends and the outer spans;
* `char_offset` / `space_offset` pixels shift the inner cuts (`space_offset` when either
  neighbour is a space); every box is at least one pixel wide.
"""

from __future__ import annotations

import numpy as np

from .frame_mapping import FrameMapping

NEG_INF = -np.inf


def forced_align(log_probs: np.ndarray, targets: list[int], blank_id: int = 0) -> tuple[np.ndarray, float] | None:
    """Most likely CTC path of `targets` through `log_probs` (Viterbi over blank-interleaved states).

    log_probs: (T, V) float, per-frame log-probabilities. targets: L label ids (no blanks).
    States are s = 0..2L: even s = blank, odd s = targets[(s - 1) // 2]. From s a path may stay,
    move to s + 1, or skip to s + 2 when s + 2 is a label different from the label at s.
    Returns (states (T,) int, path log-probability), or None when no path fits (T shorter than
    the labels plus the blanks needed between repeats).
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    num_frames = log_probs.shape[0]
    num_states = 2 * len(targets) + 1
    extended = np.full(num_states, blank_id, dtype=np.int64)
    extended[1::2] = targets
    # A skip s-2 -> s is allowed into a label state whose label differs from the one two back.
    can_skip = np.zeros(num_states, dtype=bool)
    can_skip[3::2] = extended[3::2] != extended[1:-2:2]
    emissions = log_probs[:, extended]  # (T, S)

    score = np.full(num_states, NEG_INF)
    score[:2] = emissions[0, :2]
    backpointer = np.zeros((num_frames, num_states), dtype=np.int8)  # 0 stay, 1 from s-1, 2 from s-2
    candidates = np.empty((3, num_states))
    for frame in range(1, num_frames):
        candidates[0] = score
        candidates[1, 0] = NEG_INF
        candidates[1, 1:] = score[:-1]
        candidates[2, :2] = NEG_INF
        candidates[2, 2:] = np.where(can_skip[2:], score[:-2], NEG_INF)
        best = candidates.argmax(axis=0)
        backpointer[frame] = best
        score = candidates[best, np.arange(num_states)] + emissions[frame]

    ends = [num_states - 1] if num_states == 1 else [num_states - 1, num_states - 2]
    final = max(ends, key=lambda s: score[s])
    if not np.isfinite(score[final]):
        return None
    states = np.empty(num_frames, dtype=np.int64)
    states[-1] = final
    for frame in range(num_frames - 1, 0, -1):
        states[frame - 1] = states[frame] - backpointer[frame, states[frame]]
    return states, float(score[final])


def forced_runs(states: np.ndarray, num_labels: int) -> list[tuple[int, int]]:
    """Frame run (inclusive) of each label from a forced-alignment state path."""
    runs = []
    for index in range(num_labels):
        frames = np.flatnonzero(states == 2 * index + 1)
        runs.append((int(frames[0]), int(frames[-1])))
    return runs


CUT_RULES = ("ink", "midpoint")


def _run_edges(runs, num_frames: int, mapping: FrameMapping, scale: float):
    """Left edges, centres and right edges of runs, and the end of the last frame, in original pixels.

    Frame f reads the window of one stride centred on `mapping.column(f)`; `scale` turns model-input
    columns into original-image columns.
    """
    starts = np.array([start for start, _ in runs], dtype=np.float64)
    ends = np.array([end for _, end in runs], dtype=np.float64)
    lefts = mapping.column(starts - 0.5) * scale
    rights = mapping.column(ends + 0.5) * scale
    centres = mapping.column((starts + ends) / 2) * scale
    return lefts, centres, rights, float(mapping.column(num_frames - 0.5) * scale)


def _least_ink_cut(profile: np.ndarray, low: float, high: float, target: float) -> float:
    """The column in [low, high] with the least ink; among equals, the one nearest `target`."""
    first, last = max(0, int(np.ceil(low))), min(len(profile) - 1, int(np.floor(high)))
    if last < first:
        return target
    window = profile[first : last + 1]
    candidates = np.flatnonzero(window == window.min()) + first
    return float(candidates[np.argmin(np.abs(candidates - target))])


def _ink_extent(profile: np.ndarray, start: float, step: int, gap: int) -> float:
    """From column `start`, walk in direction `step` (-1 or +1) while ink lies within `gap` columns;
    return the boundary just outside the last ink column reached (the edge of a glyph cluster)."""
    width = len(profile)
    position = int(np.clip(round(start), 0, width - 1))
    edge, blank_run = position, 0
    while 0 <= position < width and blank_run < gap:
        if profile[position] > 0:
            edge, blank_run = position, 0
        else:
            blank_run += 1
        position += step
    return float(edge if step < 0 else edge + 1)


def runs_to_boxes(
    runs: list[tuple[int, int]],
    labels: str,
    num_frames: int,
    mapping: FrameMapping,
    scale: float,
    image_width: int,
    cuts: str = "midpoint",
    ink_profile: np.ndarray | None = None,
    char_offset: float = 0.0,
    space_offset: float = 0.0,
) -> list[dict]:
    """Boxes [{label, x1, x2}, ...] in original pixels from per-character frame runs (module rules).

    num_frames: valid frames of the line; mapping: where frames look in the model's input;
    scale: original columns per model-input column (original_width / valid_width); cuts: "midpoint"
    or "ink" (needs `ink_profile`, the ink pixels of each original column).
    """
    if len(runs) != len(labels):
        raise ValueError(f"{len(runs)} runs for {len(labels)} characters")
    if cuts not in CUT_RULES:
        raise ValueError(f"cuts must be one of {CUT_RULES}, got {cuts!r}")
    if cuts == "ink" and (ink_profile is None or len(ink_profile) != image_width):
        raise ValueError(f"cuts='ink' needs an ink profile of {image_width} columns")
    if not runs:
        return []
    lefts, centres, rights, line_end = _run_edges(runs, num_frames, mapping, scale)
    midpoints = (rights[:-1] + lefts[1:]) / 2
    if cuts == "midpoint":
        inner = midpoints
        first, last = lefts[0] / 2, (rights[-1] + line_end) / 2
    else:
        inner = np.array([_least_ink_cut(ink_profile, *bounds) for bounds in zip(centres[:-1], centres[1:], midpoints)])
        # A glyph's strokes may reach past its frames: the outer cuts follow the ink, one frame's gap ends it.
        gap = max(2, int(round(mapping.stride * scale)))
        first = min(_ink_extent(ink_profile, centres[0], -1, gap), lefts[0])
        last = max(_ink_extent(ink_profile, centres[-1], +1, gap), rights[-1])
    is_space = np.array([char == " " for char in labels])
    touches_space = is_space[:-1] | is_space[1:]
    inner = inner + np.where(touches_space, space_offset, char_offset)
    edges = np.concatenate([[first], inner, [last]])
    edges = np.clip(np.rint(edges), 0, image_width).astype(np.int64)
    edges = np.maximum.accumulate(edges)  # offsets must not make boundaries cross
    boxes = []
    for index, label in enumerate(labels):
        x1 = int(edges[index])
        x2 = max(int(edges[index + 1]), x1 + 1)
        if x2 > image_width:
            x1, x2 = image_width - 1, image_width
        boxes.append({"label": label, "x1": x1, "x2": x2})
    return boxes
