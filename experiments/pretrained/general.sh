#!/usr/bin/env bash
# The shipped general Latin-script line recognizer: built from data anyone can have, by this recipe.
#
# Usage: experiments/pretrained/general.sh [STEP ...]      (default: data pretrain anneal banks stackmix ship)
#   data      build the line datasets into OUT/data: three LECTAUREP lots and the LECTAUREP ALTO sample
#             (page-level splits from experiments/pretrained/splits/), Saint Gall (official splits) and
#             the synthetic lines (python -m data_builders synthetic)
#   pretrain  train OUT/pretrain on the train splits of all of them except the held-out hand (the
#             lectaurep-dufour-1 lot, kept out whole: the target of the new-collection benchmark),
#             validated on the held-out pages of lectaurep-random-set-1
#   anneal    OUT/anneal: from pretrain's best_cer, the same data for ANNEAL_MINUTES (70) with the learning
#             rate held at pretrain's last rate (4.4e-4) and decayed to nothing when the budget runs out; it
#             finishes a pretraining cut short of its schedule (the shipped one stopped after 7 of 12 epochs)
#   banks     one StackMix bank per real source (the lots mix several hands each; Saint Gall is one scribe):
#             char masks of its train lines by anneal's model, the bank, and STACKMIX_LINES new lines written
#             with it into OUT/banks/SOURCE/lines (Saint Gall's from the Latin corpus in the scribe's
#             spelling; the French lots' from their own transcriptions recombined: no French corpus is at hand)
#   stackmix  OUT/stackmix: from anneal's best_cer, the real and synthetic lines plus every bank's lines, with
#             blots, for STACKMIX_MINUTES (120), the learning rate warmed to 3e-4 and decayed by the budget
#   ship      stackmix_htr/pretrained/general with its card, from the last training step that finished
#             (stackmix, else anneal): measured on the held-out pages of every source and on the whole
#             held-out lot (python -m experiments.pretrained.ship)
# Budget: EPOCHS (12) epochs of about 11,000 lines, about 26 minutes each on one thread of this project's
# 2-core CPU machine (float32; bfloat16 only where the CPU has it natively), 5.2 hours in all, then
# ANNEAL_MINUTES, about 15 minutes of banks, then STACKMIX_MINUTES. The shipped model: the first 7 epochs
# (3 hours), 70 minutes of anneal, 8 minutes of banks and a 55-minute StackMix stage (STACKMIX_MINUTES=55
# WORKERS=0 OMP_NUM_THREADS=1), 5.2 hours of one thread in all.
# An interrupted training step resumes from its state when run again; a finished one is skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED="${SHARED:-../shared}"
OUT="${OUT:-outputs/general}"
EPOCHS="${EPOCHS:-12}"
ANNEAL_MINUTES="${ANNEAL_MINUTES:-70}"
STACKMIX_MINUTES="${STACKMIX_MINUTES:-120}"
STACKMIX_LINES="${STACKMIX_LINES:-1000}"  # per bank; twice as many for the largest lot
LATIN_CORPUS="${LATIN_CORPUS:-$SHARED/corpora/latin_ecclesiastical.txt}"
WORKERS="${WORKERS:-1}"  # DataLoader workers per run (0 beside another one-thread run)
PRECISION="${PRECISION:-no}"  # bf16 pays only on CPUs with native bfloat16 (avx512_bf16, AMX) or GPUs
PYTHON="${PYTHON:-.venv/bin/python}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1
splits=experiments/pretrained/splits
lots=(lectaurep-random-set-1 lectaurep-riant-4 lectaurep-dufour-1)
banked=(lectaurep-random-set-1 lectaurep-riant-4 lectaurep-alto-sample saintgall)  # not the held-out lot

build_alto() {  # NAME RAW: one page-split ALTO dataset
    local name="$1" raw="$2"
    [ -d "$OUT/data/$name" ] && return
    "$PYTHON" -m data_builders alto --raw "$raw" --output_dir "$OUT/data/$name" --skip_invalid --no_progress \
        --train_list "$splits/$name.train.txt" --validation_list "$splits/$name.validation.txt" \
        --test_list "$splits/$name.test.txt"
}

build_data() {
    for lot in "${lots[@]}"; do build_alto "$lot" "$SHARED/datasets/lectaurep-repertoires/$lot"; done
    build_alto lectaurep-alto-sample "$SHARED/datasets/lectaurep-alto-sample"
    [ -d "$OUT/data/saintgall" ] || "$PYTHON" -m data_builders saintgall --raw "$SHARED/datasets/saintgalldb-v1.0" \
        --output_dir "$OUT/data/saintgall" --skip_invalid --no_progress
    [ -d "$OUT/data/synthetic" ] || "$PYTHON" -m data_builders synthetic --output_dir "$OUT/data/synthetic" \
        --num_lines 3000 --image_height 64 --no_progress
}

build_banks() {
    local model="$OUT/anneal/best_cer"
    for source in "${banked[@]}"; do
        local dir="$OUT/banks/$source" lines="$STACKMIX_LINES" texts=()
        [ "$source" = lectaurep-random-set-1 ] && lines=$((2 * STACKMIX_LINES))
        [ "$source" = saintgall ] && texts=(--corpus "$LATIN_CORPUS" --text_rules saintgall)
        [ -d "$dir/char_masks" ] || "$PYTHON" -m augmentations.stackmix char-masks --model "$model" \
            --dataset "$OUT/data/$source" --output_dir "$dir/char_masks" --device cpu
        [ -d "$dir/bank" ] || "$PYTHON" -m augmentations.stackmix build-bank --char_masks "$dir/char_masks" \
            --dataset "$OUT/data/$source" --output_dir "$dir/bank" --image_height 64 --seed 6955
        [ -d "$dir/lines" ] || "$PYTHON" -m augmentations.stackmix generate --bank "$dir/bank" "${texts[@]}" \
            --num "$lines" --seed 6955 --output_dir "$dir/lines"
    done
}

train() {  # NAME ARGS...: one run on the pretraining data into OUT/NAME, resumed when interrupted
    local run_dir="$OUT/$1" resume=()
    shift
    [ -f "$run_dir/test_results.json" ] && return
    [ -f "$run_dir/state/training_progress.json" ] && resume=(--resume_from_checkpoint latest)
    "$PYTHON" train_accelerate.py --output_dir "$run_dir" \
        --dataset "$OUT/data/lectaurep-random-set-1" --dataset "$OUT/data/lectaurep-riant-4" \
        --dataset "$OUT/data/lectaurep-alto-sample" --dataset "$OUT/data/saintgall" --dataset "$OUT/data/synthetic" \
        --train_batch_size 16 --group_by_width --use_augs --mixed_precision "$PRECISION" --num_workers "$WORKERS" \
        --seed 6955 "$@" "${resume[@]}"
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(data pretrain anneal banks stackmix ship)
for step in "${steps[@]}"; do
    case "$step" in
        data) build_data ;;
        pretrain) train pretrain --model_preset small --num_train_epochs "$EPOCHS" ;;
        anneal)
            train anneal --init_from "$OUT/pretrain/best_cer" --max_train_minutes "$ANNEAL_MINUTES" \
                --learning_rate 4.4e-4 --max_learning_rate 4.4e-4 --pct_start 0.01
            ;;
        banks) build_banks ;;
        stackmix)
            generated=()
            for source in "${banked[@]}"; do generated+=(--dataset "$OUT/banks/$source/lines/hf"); done
            train stackmix --init_from "$OUT/anneal/best_cer" --use_blots --max_train_minutes "$STACKMIX_MINUTES" \
                --learning_rate 1e-4 --max_learning_rate 3e-4 --pct_start 0.05 "${generated[@]}"
            ;;
        ship)
            last=anneal
            [ -f "$OUT/stackmix/test_results.json" ] && last=stackmix
            "$PYTHON" -m experiments.pretrained.ship general --checkpoint "$OUT/$last/best_cer" --evaluate \
                "$OUT/data/lectaurep-random-set-1:test" "$OUT/data/lectaurep-riant-4:test" \
                "$OUT/data/lectaurep-alto-sample:test" "$OUT/data/lectaurep-dufour-1:test" "$OUT/data/saintgall:test" \
                --example "$OUT/data/lectaurep-random-set-1:test:0"
            ;;
        *) echo "unknown step '$step' (data, pretrain, anneal, banks, stackmix, ship)" >&2; exit 2 ;;
    esac
done
