"""Training throughput: lines/s and peak memory of one optimizer step, per model preset, for
paper-style fixed padding (every line on a max_width canvas, no mask) against variable-width
batches (padded to the batch's widest line, with and without width grouping), in float32 and
bfloat16 autocast, the latter also with channels-last convolution weights (`--channels_last`).

Each setting runs in its own process (so the peak memory is its own) over the first batches
of the training split's epoch-0 order; batches are collated before timing, as DataLoader
workers would do during training, so the figures are those of the model step
(forward, CTC loss, backward, AdamW).

    python bench/train_throughput.py                       # Saint Gall, built from ../shared
    python bench/train_throughput.py --dataset outputs/synthetic --presets small
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RAW = REPO_ROOT.parent / "shared" / "datasets" / "saintgalldb-v1.0"
PADDINGS = ("fixed", "variable", "grouped")
# (autocast precision, channels-last weights)
PRECISIONS = (("fp32", False), ("bf16", False), ("bf16", True))
# (batch size, warm-up steps, timed steps) per preset on a CPU: the paper preset takes tens of
# seconds a step there, so it gets fewer steps to keep the whole run near ten minutes.
CPU_STEPS = {"paper": (4, 0, 2), "small": (8, 2, 10), "tiny": (8, 2, 10)}
GPU_STEPS = (8, 2, 10)


def measure(setting: dict) -> dict:
    """Time `setting["steps"]` optimizer steps after `setting["warmup"]` untimed ones and an untimed pass
    over the same batches."""
    import torch

    sys.path.insert(0, str(REPO_ROOT))
    from data_builders import load_dataset_folder_or_hub, read_text_rules
    from modeling_stackmix_htr import StackMixHTRConfig, StackMixHTRForCTC, StackMixHTRImageProcessor, StackMixHTRProcessor
    from training.data import LineCollator, image_sizes
    from training.metrics_log import peak_memory_mb
    from training.sampler import LineBatchSampler

    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train = load_dataset_folder_or_hub(setting["dataset"], split="train")
    config = StackMixHTRConfig.from_preset(setting["preset"])
    text_rules = read_text_rules(setting["dataset"]) or "none"
    tokenizer = StackMixHTRProcessor.from_texts(list(train["text"]), text_rules=text_rules).tokenizer
    image_processor = StackMixHTRImageProcessor(image_height=config.image_height, max_width=config.max_width)
    processor = StackMixHTRProcessor(image_processor, tokenizer, text_rules=text_rules)
    config.vocab_size = processor.vocab_size

    batch_size, warmup, steps = setting["batch_size"], setting["warmup"], setting["steps"]
    widths = image_sizes(train)[0] if setting["padding"] == "grouped" else None
    sampler = LineBatchSampler(len(train), batch_size, seed=6955, widths=widths, drop_last=True)
    collate = LineCollator(processor, pad_to_width=config.max_width if setting["padding"] == "fixed" else None)
    batches = []
    for indices in sampler:
        if len(batches) == warmup + steps:
            break
        batches.append(collate([train[i] for i in indices]))
    if len(batches) < warmup + steps:
        raise SystemExit(f"{setting['dataset']}: not enough training lines for {warmup + steps} batches of {batch_size}")

    model = StackMixHTRForCTC(config).to(device).train()
    if setting["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4, weight_decay=1e-2)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=setting["precision"] == "bf16")
    # The warm-up steps first, then a pass over the timed batches to let the kernels of every
    # batch shape be built: what a long run sees once widths (multiples of 8) repeat.
    timed = 0.0
    for step, batch in enumerate(batches + batches[warmup:]):
        inputs = {key: batch[key].to(device) for key in ("pixel_values", "pixel_mask", "labels") if key in batch}
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        with autocast:
            loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= warmup + steps:
            timed += time.perf_counter() - started
    return {
        **setting,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "lines_per_second": steps * batch_size / timed,
        "seconds_per_step": timed / steps,
        "mean_batch_width": sum(b["pixel_values"].shape[-1] for b in batches[warmup:]) / steps,
        "peak_memory_mb": peak_memory_mb(device),
    }


def describe(row: dict) -> str:
    return row["precision"] + (" channels-last" if row["channels_last"] else "")


def ensure_dataset(args) -> str:
    if args.dataset:
        return args.dataset
    from data_builders import build

    out = Path(tempfile.mkdtemp(prefix="bench-saintgall-")) / "saintgall"
    build("saintgall", args.raw, out, skip_invalid=True, progress=False)
    return str(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", help="a built dataset folder (default: Saint Gall built from --raw into a temp dir)")
    parser.add_argument("--raw", default=str(DEFAULT_RAW), help="raw Saint Gall database, used when --dataset is absent")
    parser.add_argument("--presets", default="paper,small", help="comma list of model presets")
    parser.add_argument("--batch_size", type=int, help="lines per step (default: per preset, see CPU_STEPS)")
    parser.add_argument("--warmup", type=int, help="untimed steps first")
    parser.add_argument("--steps", type=int, help="timed steps")
    parser.add_argument("--json_out", help="also write all rows as JSON to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # one setting as JSON, run in a child process
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(json.loads(args.worker))))
        return

    import torch

    dataset = ensure_dataset(args)
    rows = []
    for preset in args.presets.split(","):
        defaults = GPU_STEPS if torch.cuda.is_available() else CPU_STEPS[preset]
        batch_size, warmup, steps = (given or default for given, default in zip((args.batch_size, args.warmup, args.steps), defaults))
        for padding in PADDINGS:
            for precision, channels_last in PRECISIONS:
                setting = dict(dataset=dataset, preset=preset, padding=padding, precision=precision,
                               channels_last=channels_last, batch_size=batch_size, warmup=warmup, steps=steps)
                result = subprocess.run(
                    [sys.executable, __file__, "--worker", json.dumps(setting)],
                    capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"},
                )
                if result.returncode:
                    sys.exit(f"setting {setting} failed:\n{result.stderr[-3000:]}")
                row = json.loads(result.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(
                    f"{preset:6s} {padding:9s} {describe(row):18s} batch {batch_size:2d}: {row['lines_per_second']:8.2f} lines/s "
                    f"({row['seconds_per_step']:.3f} s/step, mean width {row['mean_batch_width']:.0f} px), "
                    f"peak memory {row['peak_memory_mb']:.0f} MB",
                    flush=True,
                )

    print(f"\ndataset {dataset}, device {rows[0]['device']}")
    print("| preset | padding | precision, layout | batch | lines/s | s/step | mean width | peak MB | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|")
    for preset in args.presets.split(","):
        group = [row for row in rows if row["preset"] == preset]
        baseline = next(row for row in group if row["padding"] == "fixed" and describe(row) == "fp32")
        for row in group:
            print(
                f"| {preset} | {row['padding']} | {describe(row)} | {row['batch_size']} | {row['lines_per_second']:.2f} "
                f"| {row['seconds_per_step']:.3f} | {row['mean_batch_width']:.0f} | {row['peak_memory_mb']:.0f} "
                f"| {row['lines_per_second'] / baseline['lines_per_second']:.2f}x |"
            )
        variable = [row for row in group if row["padding"] != "fixed"]
        best = max(variable, key=lambda row: row["lines_per_second"])
        print(
            f"{preset}: best variable-width setting ({best['padding']}, {describe(best)}) is "
            f"{best['lines_per_second'] / baseline['lines_per_second']:.2f}x the fixed-padding float32 baseline"
        )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
