#!/usr/bin/env bash
# The main job, from a fresh clone on a CPU machine: install, build the embedded synthetic
# dataset, train a small recognizer for a few minutes, score it on the test split and check
# that the best checkpoint serves the "handwriting-recognition" pipeline.
#
#   bash scripts/main_job.sh            # DATA, OUT and EPOCHS may be set in the environment
#   PYTHON=python3 bash scripts/main_job.sh   # use an existing environment instead of .venv
#
# Running it again resumes (or, when finished, only re-scores) the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
    bash scripts/setup_env.sh
    PYTHON=.venv/bin/python
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

DATA="${DATA:-outputs/synthetic}"
OUT="${OUT:-outputs/main_job}"
EPOCHS="${EPOCHS:-6}"
started=$(date +%s)

if [ ! -f "$DATA/README.md" ]; then
    "$PYTHON" -m data_builders synthetic --output_dir "$DATA" --no_progress
fi

resume=()
[ -f "$OUT/state/training_progress.json" ] && resume=(--resume_from_checkpoint latest)
# bfloat16 autocast only where the CPU computes it natively (elsewhere it is emulated, several times slower).
precision=()
grep -q -E "avx512_bf16|amx_bf16" /proc/cpuinfo 2>/dev/null && precision=(--mixed_precision bf16 --channels_last)
# The "small" preset at half its line height (32 px) in grayscale: the synthetic lines stay
# legible, and a 2-core CPU trains it to a low error in a few minutes.
"$PYTHON" train_accelerate.py \
    --dataset "$DATA" --output_dir "$OUT" \
    --model_preset small --image_height 32 --num_channels 1 \
    --num_train_epochs "$EPOCHS" --train_batch_size 8 --eval_batch_size 32 \
    --group_by_width --num_workers 1 "${precision[@]}" \
    "${resume[@]}"

"$PYTHON" - "$DATA" "$OUT" <<'PY'
import json
import sys
from pathlib import Path

from transformers import pipeline

import modeling_stackmix_htr  # noqa: F401  (registers the pipeline)
from data_builders import load_dataset_folder_or_hub

data, out = sys.argv[1], Path(sys.argv[2])
results = json.loads((out / "test_results.json").read_text())
recognizer = pipeline("handwriting-recognition", model=str(out / "best_cer"))
sample = load_dataset_folder_or_hub(data, split="test")[0]
print(f"pipeline check on {sample['sample_id']}: {recognizer(sample['image'])['text']!r} (reference {sample['text']!r})")
print(f"test CER {100 * results['cer']:.2f} %, WER {100 * results['wer']:.2f} %, "
      f"line accuracy {100 * results['string_accuracy']:.2f} % on {results['num_lines']} lines")
print(f"model: {out / 'best_cer'}  (pipeline('handwriting-recognition', model='{out / 'best_cer'}'))")
PY
echo "main job took $(( $(date +%s) - started )) s"
