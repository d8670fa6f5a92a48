#!/usr/bin/env bash
# The shipped Saint Gall recognizer: fine-tuned from the shipped general one, then trained on with StackMix
# and blots, then given a word language model; each step resumable, each training run to a wall-clock budget.
#
# Usage: experiments/pretrained/saintgall.sh [STEP ...]   (default: data finetune bank stackmix lm)
#   data      OUT/data/saintgall (python -m data_builders saintgall, the database's page splits)
#   finetune  OUT/finetune: --init_from START (default: the shipped general recognizer, its characters
#             extended by Saint Gall's; START=scratch: random weights), plain augmentations, gradients
#             clipped, FINETUNE_MINUTES of training
#   bank      OUT/char_masks (CTC forced alignment with finetune's best_cer) and OUT/bank (StackMix token bank)
#   stackmix  OUT/stackmix: from finetune's best_cer, with blots and StackMix lines (the Latin corpus written
#             with the bank, the scribe's spellings fitted on the train transcriptions), STACKMIX_MINUTES
#   lm        a word 3-gram model of the corpus and the train transcriptions into stackmix's best_cer, its
#             weights tuned on the validation split, the test split scored (OUT/eval_lm)
#   ship      stackmix_htr/pretrained/saintgall with its card (python -m experiments.pretrained.ship)
# Budget (2 CPU cores, one thread per run): FINETUNE_MINUTES + STACKMIX_MINUTES of training, the bank and
# the language model a few minutes each. SEED picks the run (two seeds: SEED=6956 OUT=outputs/saintgall_s6956;
# side by side, give each OMP_NUM_THREADS=1, or the two runs' threads contend and each trains at half speed).
# IMAGE_HEIGHT (default 64, the small preset's and `general`'s) is the line height of the first run (from `general`,
# its weights fit any height: each column is pooled over the height) and of the bank's glyphs.
# TEXT_RULES (default saintgall_unpunctuated) trains, scores and writes the language model without punctuation marks,
# as the database transcribes its validation and test pages; TEXT_RULES=saintgall keeps the marks only its training
# pages carry (the ablation's profile and the paper's preparation).
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED="${SHARED:-../shared}"
OUT="${OUT:-outputs/saintgall}"
SEED="${SEED:-6955}"
START="${START:-general}"
FINETUNE_MINUTES="${FINETUNE_MINUTES:-60}"
STACKMIX_MINUTES="${STACKMIX_MINUTES:-30}"
TEXT_RULES="${TEXT_RULES:-saintgall_unpunctuated}"
IMAGE_HEIGHT="${IMAGE_HEIGHT:-64}"
CORPUS="${CORPUS:-$SHARED/corpora/latin_ecclesiastical.txt}"
PYTHON="${PYTHON:-.venv/bin/python}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1
data="$OUT/data/saintgall"
precision=()
grep -q -E "avx512_bf16|amx_bf16" /proc/cpuinfo 2>/dev/null && precision=(--mixed_precision bf16 --channels_last)

train() {  # NAME ARGS...: one run into OUT/NAME, resumed when interrupted, skipped when finished
    local run_dir="$OUT/$1"
    shift
    [ -f "$run_dir/test_results.json" ] && return
    local resume=()
    [ -f "$run_dir/state/training_progress.json" ] && resume=(--resume_from_checkpoint latest)
    "$PYTHON" train_accelerate.py --dataset "$data" --output_dir "$run_dir" --use_augs --train_batch_size 16 \
        --num_workers 1 --seed "$SEED" --text_rules "$TEXT_RULES" "${precision[@]}" "$@" "${resume[@]}"
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(data finetune bank stackmix lm)
for step in "${steps[@]}"; do
    case "$step" in
        data)
            [ -d "$data" ] || "$PYTHON" -m data_builders saintgall --raw "$SHARED/datasets/saintgalldb-v1.0" \
                --output_dir "$data" --skip_invalid --no_progress
            ;;
        finetune)
            start=(--init_from "$START" --vocab_resize union)
            [ "$START" = scratch ] && start=(--model_preset small)
            train finetune "${start[@]}" --image_height "$IMAGE_HEIGHT" --max_train_minutes "$FINETUNE_MINUTES"
            ;;
        bank)
            [ -d "$OUT/char_masks" ] || "$PYTHON" -m augmentations.stackmix char-masks --model "$OUT/finetune/best_cer" \
                --dataset "$data" --output_dir "$OUT/char_masks" --device cpu
            [ -d "$OUT/bank" ] || "$PYTHON" -m augmentations.stackmix build-bank --char_masks "$OUT/char_masks" \
                --dataset "$data" --output_dir "$OUT/bank" --image_height "$IMAGE_HEIGHT" --seed "$SEED"
            ;;
        stackmix)
            train stackmix --init_from "$OUT/finetune/best_cer" --use_blots --stackmix_bank "$OUT/bank" \
                --corpus "$CORPUS" --max_train_minutes "$STACKMIX_MINUTES"
            ;;
        lm)
            model="$OUT/stackmix/best_cer"
            [ -d "$model/language_model" ] || "$PYTHON" -m stackmix_htr.cli.lm build --model "$model" \
                --corpus "$CORPUS" --dataset "$data" --order 3
            [ -f "$OUT/eval_lm/results.json" ] || "$PYTHON" -m stackmix_htr.cli.evaluate --model "$model" \
                --dataset "$data" --split test --tune_lm --output_dir "$OUT/eval_lm" --device cpu
            ;;
        ship)
            "$PYTHON" -m experiments.pretrained.ship saintgall --checkpoint "$OUT/stackmix/best_cer" \
                --evaluate "$data:test" --example "$data:test:0"
            ;;
        *) echo "unknown step '$step' (data, finetune, bank, stackmix, lm, ship)" >&2; exit 2 ;;
    esac
done
