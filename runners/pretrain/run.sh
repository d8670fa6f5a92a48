#!/usr/bin/env bash
# Pretrain a recognizer on data that needs no download, then fine-tune it on a target collection.
#
# Usage: runners/pretrain/run.sh [STEP ...]
#   data      build OUT/synthetic (python -m data_builders synthetic) and, with BANK set,
#             OUT/stackmix_lines: STACKMIX_LINES lines of CORPUS written with the bank's slices
#   pretrain  train OUT/pretrain on the synthetic lines (+ the StackMix lines, + EXTRA_DATASETS),
#             validated on the synthetic validation split; from PRETRAIN_FROM when set
#   finetune  train OUT/finetune on TARGET from OUT/pretrain/best_cer (--init_from, --vocab_resize)
#   scratch   train OUT/scratch on TARGET from random weights with the same settings (the baseline)
# Default: data pretrain finetune. Settings and their overrides: runners/pretrain/settings.sh.
# An interrupted training step resumes from its state when run again.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=runners/pretrain/settings.sh
source runners/pretrain/settings.sh

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(data pretrain finetune)

image_height() {
    python -c "from modeling_stackmix_htr import StackMixHTRConfig as C; print(C.from_preset('$PRESET').image_height)"
}

build_data() {
    if [ ! -d "$OUT/synthetic" ]; then
        python -m data_builders synthetic --output_dir "$OUT/synthetic" --num_lines "$SYNTHETIC_LINES" \
            --image_height "$(image_height)" --no_progress
    fi
    if [ -n "$BANK" ] && [ ! -d "$OUT/stackmix_lines" ]; then
        python -m augmentations.stackmix generate --bank "$BANK" --corpus "$CORPUS" --num "$STACKMIX_LINES" \
            --output_dir "$OUT/stackmix_lines"
    fi
}

# train NAME ARGS...: one train_accelerate.py run into OUT/NAME, resumed when interrupted, limited to
# TIME_LIMIT when set; its best_cer/ is scored on the test split when training did not do it.
train() {
    local name="$1" run_dir="$OUT/$1"
    shift
    local resume=() limit=()
    [ -f "$run_dir/state/training_progress.json" ] && resume=(--resume_from_checkpoint latest)
    [ -n "$TIME_LIMIT" ] && limit=(timeout --signal TERM --kill-after 5m "$TIME_LIMIT")
    local status=0
    # shellcheck disable=SC2086  # LAUNCH and EXTRA_ARGS are word lists
    "${limit[@]}" $LAUNCH train_accelerate.py --output_dir "$run_dir" --use_augs --train_batch_size "$BATCH_SIZE" \
        --num_workers "$NUM_WORKERS" --seed 6955 "$@" "${resume[@]}" $EXTRA_ARGS || status=$?
    if [ "$status" -ne 0 ] && { [ -z "$TIME_LIMIT" ] || [ "$status" -ne 124 ]; }; then
        echo "training $name failed with exit code $status" >&2
        exit "$status"
    fi
    if [ ! -f "$run_dir/test_results.json" ] && [ "$name" != pretrain ]; then
        python eval.py --model "$run_dir/best_cer" --dataset "$TARGET" --split test --output_dir "$run_dir/eval" \
            --overwrite
    fi
}

for step in "${steps[@]}"; do
    case "$step" in
        data) build_data ;;
        pretrain)
            [ -d "$OUT/synthetic" ] || { echo "run the data step first ($OUT/synthetic is missing)" >&2; exit 2; }
            datasets=(--dataset "$OUT/synthetic")  # the first: its validation split scores pretraining
            [ -n "$BANK" ] && datasets+=(--dataset "$OUT/stackmix_lines/hf")
            for extra in $EXTRA_DATASETS; do datasets+=(--dataset "$extra"); done
            start=(--model_preset "$PRESET")
            [ -n "$PRETRAIN_FROM" ] && start=(--init_from "$PRETRAIN_FROM" --vocab_resize union)
            train pretrain "${datasets[@]}" "${start[@]}" --num_train_epochs "$PRETRAIN_EPOCHS"
            ;;
        finetune)
            [ -d "$OUT/pretrain/best_cer" ] || { echo "run the pretrain step first ($OUT/pretrain/best_cer is missing)" >&2; exit 2; }
            train finetune --dataset "$TARGET" --init_from "$OUT/pretrain/best_cer" --vocab_resize "$VOCAB_RESIZE" \
                --freeze_backbone_epochs "$FREEZE_BACKBONE_EPOCHS" --num_train_epochs "$FINETUNE_EPOCHS"
            ;;
        scratch)
            train scratch --dataset "$TARGET" --model_preset "$PRESET" --num_train_epochs "$FINETUNE_EPOCHS"
            ;;
        *) echo "unknown step '$step' (data, pretrain, finetune, scratch)" >&2; exit 2 ;;
    esac
done
