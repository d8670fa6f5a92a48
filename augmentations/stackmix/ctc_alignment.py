"""Character spans from CTC posteriors: greedy (argmax) runs and forced (Viterbi) alignment.

Both give, for every character of the transcription, a run of frames `[start, end]`
(inclusive). `runs_to_boxes` turns runs into horizontal boxes in original-image pixels:

* frame f covers [f, f + 1) in frame units, so a run's left edge is `start` and its right
  edge `end + 1`;
* the boundary between neighbours k and k+1 is the midpoint between k's right edge and
  k+1's left edge, shifted by `char_offset` pixels (`space_offset` when either neighbour
  is a space);
* CTC spikes are narrower than glyphs, so the outer edges also take midpoints: the first
  character starts halfway between the line start (frame 0) and its run, the last one
  ends halfway between its run and the last valid frame edge;
* pixels: x = edge * width_stride * original_width / valid_width, rounded and clipped to
  [0, original_width]; every box is at least one pixel wide.
"""

from __future__ import annotations

import numpy as np

NEG_INF = -np.inf


def greedy_runs(argmax_ids: np.ndarray, blank_id: int = 0) -> tuple[list[int], list[tuple[int, int]]]:
    """Collapse a greedy path into emitted labels and the frame run of each.

    argmax_ids: (T,) int. Consecutive equal non-blank ids form one run (one emitted
    character); a blank separates runs, so "a, blank, a" emits "a" twice.
    Returns (labels, runs) with runs as inclusive (start, end) frames.
    """
    labels, runs = [], []
    previous = blank_id
    for frame, token in enumerate(np.asarray(argmax_ids).tolist()):
        if token != blank_id:
            if token == previous:
                runs[-1] = (runs[-1][0], frame)
            else:
                labels.append(token)
                runs.append((frame, frame))
        previous = token
    return labels, runs


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


def runs_to_boxes(
    runs: list[tuple[int, int]],
    labels: str,
    num_frames: int,
    pixels_per_frame: float,
    image_width: int,
    char_offset: float = 0.0,
    space_offset: float = 0.0,
) -> list[dict]:
    """Boxes [{label, x1, x2}, ...] in original pixels from per-character frame runs (module rules).

    num_frames: valid frames of the line; pixels_per_frame: width_stride * original_width / valid_width.
    """
    if len(runs) != len(labels):
        raise ValueError(f"{len(runs)} runs for {len(labels)} characters")
    if not runs:
        return []
    lefts = np.array([start for start, _ in runs], dtype=np.float64)
    rights = np.array([end + 1 for _, end in runs], dtype=np.float64)
    inner = (rights[:-1] + lefts[1:]) / 2 * pixels_per_frame
    is_space = np.array([char == " " for char in labels])
    touches_space = is_space[:-1] | is_space[1:]
    inner += np.where(touches_space, space_offset, char_offset)
    first = lefts[0] / 2 * pixels_per_frame
    last = (rights[-1] + num_frames) / 2 * pixels_per_frame
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
