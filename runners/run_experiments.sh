#!/usr/bin/env bash
# The paper's four experiments on one dataset: base, +blots, +StackMix, +blots+StackMix.
#
# Usage: runners/run_experiments.sh DATASET_NAME [EXPERIMENT ...]
#   EXPERIMENT in: base blots stackmix blots_stackmix (default: all four, in this order).
# Per-dataset settings come from runners/<DATASET_NAME>/settings.sh; these variables override them:
#   DATA        built dataset folder or Hub id          (default: data/<name>)
#   OUT         experiments root folder                  (default: outputs/<name>)
#   CORPUS      text corpus for StackMix, one text per line
#   EPOCHS, BATCH_SIZE, PRESET (default: paper), NUM_PROCESSES (default: 1), NUM_WORKERS (default: 4),
#   MIXED_PRECISION (no, bf16, fp16; default: no)
#   LAUNCH      the launcher (default: accelerate launch --num_processes $NUM_PROCESSES [--multi_gpu])
#   EXTRA_ARGS  more train_accelerate.py arguments, e.g. "--mixed_precision bf16 --group_by_width"
# StackMix needs char masks from a trained base model: the stackmix experiments compute them
# (and the token bank) from OUT/base/best_cer once, then reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."

name="${1:?usage: $0 DATASET_NAME [base|blots|stackmix|blots_stackmix ...]}"
shift
settings="runners/$name/settings.sh"
[ -f "$settings" ] || { echo "no settings for dataset '$name' ($settings)" >&2; exit 2; }
# shellcheck source=/dev/null
source "$settings"

DATA="${DATA:-data/$name}"
OUT="${OUT:-outputs/$name}"
CORPUS="${CORPUS:-$DEFAULT_CORPUS}"
EPOCHS="${EPOCHS:-$DEFAULT_EPOCHS}"
BATCH_SIZE="${BATCH_SIZE:-$DEFAULT_BATCH_SIZE}"
PRESET="${PRESET:-paper}"
NUM_PROCESSES="${NUM_PROCESSES:-1}"
NUM_WORKERS="${NUM_WORKERS:-4}"
if [ -z "${LAUNCH:-}" ]; then
    LAUNCH="accelerate launch --num_processes $NUM_PROCESSES --num_machines 1 --dynamo_backend no"
    LAUNCH="$LAUNCH --mixed_precision ${MIXED_PRECISION:-no}"
    [ "$NUM_PROCESSES" -gt 1 ] && LAUNCH="$LAUNCH --multi_gpu"
fi
experiments=("$@")
[ ${#experiments[@]} -gt 0 ] || experiments=(base blots stackmix blots_stackmix)

image_height() {  # the image height of the preset, for the StackMix bank's slices
    python -c "from modeling_stackmix_htr import StackMixHTRConfig as C; print(C.from_preset('$PRESET').image_height)"
}

prepare_stackmix() {
    local base="$OUT/base/best_cer"
    [ -d "$base" ] || { echo "StackMix needs the base model: run '$0 $name base' first ($base is missing)" >&2; exit 2; }
    [ -n "$CORPUS" ] || { echo "StackMix needs a corpus: set CORPUS" >&2; exit 2; }
    if [ ! -d "$OUT/char_masks" ]; then
        python -m augmentations.char_masks --model "$base" --dataset "$DATA" --output_dir "$OUT/char_masks"
    fi
    if [ ! -d "$OUT/stackmix_bank" ]; then
        python -m augmentations.stackmix build-bank --char_masks "$OUT/char_masks" --dataset "$DATA" \
            --output_dir "$OUT/stackmix_bank" --height "$(image_height)"
    fi
}

for experiment in "${experiments[@]}"; do
    args=()
    case "$experiment" in
        base) ;;
        blots) args+=(--use_blots) ;;
        stackmix) prepare_stackmix; args+=(--stackmix_bank "$OUT/stackmix_bank" --corpus "$CORPUS") ;;
        blots_stackmix) prepare_stackmix; args+=(--use_blots --stackmix_bank "$OUT/stackmix_bank" --corpus "$CORPUS") ;;
        *) echo "unknown experiment '$experiment'" >&2; exit 2 ;;
    esac
    resume=()
    [ -f "$OUT/$experiment/state/training_progress.json" ] && resume=(--resume_from_checkpoint latest)
    # shellcheck disable=SC2086  # LAUNCH and EXTRA_ARGS are word lists
    $LAUNCH train_accelerate.py \
        --dataset "$DATA" --output_dir "$OUT/$experiment" \
        --model_preset "$PRESET" --text_rules "$TEXT_RULES" --use_augs \
        --num_train_epochs "$EPOCHS" --train_batch_size "$BATCH_SIZE" --num_workers "$NUM_WORKERS" \
        --seed 6955 "${args[@]}" "${resume[@]}" ${EXTRA_ARGS:-}
done
