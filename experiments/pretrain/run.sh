#!/usr/bin/env bash
# Pretrain a recognizer on data that needs no download, then fine-tune it on a target collection.
#
# Usage: experiments/pretrain/run.sh [STEP ...]
#   data      build OUT/synthetic (python -m data_builders synthetic) and, with BANK set,
#             OUT/stackmix_lines: STACKMIX_LINES lines of CORPUS written with the bank's slices
#   pretrain  train OUT/pretrain on the synthetic lines (+ the StackMix lines, + EXTRA_DATASETS),
#             validated on the synthetic validation split; from PRETRAIN_FROM when set
#   finetune  train OUT/finetune on TARGET from OUT/pretrain/best_cer (--init_from, --vocab_resize)
#   scratch   train OUT/scratch on TARGET from random weights with the same settings (the baseline)
# Default: data pretrain finetune. Settings and their overrides: experiments/pretrain/settings.sh.
# An interrupted training step resumes from its state when run again.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=experiments/pretrain/settings.sh
source experiments/pretrain/settings.sh

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

# train NAME ARGS...: one train_accelerate.py run into OUT/NAME, resumed when interrupted; its best_cer/
# is scored on the test split when training did not do it.
train() {
    local name="$1" run_dir="$OUT/$1"
    shift
    local resume=()
    [ -f "$run_dir/state/training_progress.json" ] && resume=(--resume_from_checkpoint latest)
    # shellcheck disable=SC2086  # LAUNCH and EXTRA_ARGS are word lists
    $LAUNCH train_accelerate.py --output_dir "$run_dir" --use_augs --train_batch_size "$BATCH_SIZE" \
        --num_workers "$NUM_WORKERS" --seed "$SEED" "$@" "${resume[@]}" $EXTRA_ARGS
    if [ ! -f "$run_dir/test_results.json" ] && [ "$name" != pretrain ]; then
        python eval.py --model "$run_dir/best_cer" --dataset "$TARGET" --split test --output_dir "$run_dir/eval" \
            --overwrite
    fi
}

# The target runs train for FINETUNE_EPOCHS epochs, or to a wall-clock budget of TRAIN_MINUTES.
target_length=(--num_train_epochs "$FINETUNE_EPOCHS")
[ -n "$TRAIN_MINUTES" ] && target_length=(--max_train_minutes "$TRAIN_MINUTES")

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
                --freeze_backbone_epochs "$FREEZE_BACKBONE_EPOCHS" "${target_length[@]}"
            ;;
        scratch)
            train scratch --dataset "$TARGET" --model_preset "$PRESET" "${target_length[@]}"
            ;;
        *) echo "unknown step '$step' (data, pretrain, finetune, scratch)" >&2; exit 2 ;;
    esac
done
