"""Inference on a CPU: lines/s of PyTorch (float32 and bfloat16 autocast) against ONNX Runtime, on the
same preprocessed batches of Saint Gall test lines and the same number of threads (2 by default),
plus how closely ONNX Runtime reproduces PyTorch: the largest logit difference over the lines'
valid frames and the share of lines decoded to the same text.

    python bench/onnx_inference.py --dataset outputs/exp/saintgall --model outputs/exp/base64/best_cer
    python bench/onnx_inference.py --dataset outputs/exp/saintgall --preset small   # random weights

The timed loops cover the forward pass only (images are decoded, resized and batched before),
after one untimed pass; ONNX export time is not counted. Wall-clock lines/s is what a user sees;
lines per CPU-second of the process is steadier on a busy shared machine. Needs the onnx extra.
"""

import argparse
import time

import torch


def load_model_and_processor(args, texts: list[str]):
    from transformers import AutoProcessor

    from modeling_stackmix_htr import StackMixHTRConfig, StackMixHTRForCTC, StackMixHTRProcessor

    if args.model:
        return StackMixHTRForCTC.from_pretrained(args.model).eval(), AutoProcessor.from_pretrained(args.model)
    config = StackMixHTRConfig.from_preset(args.preset)
    processor = StackMixHTRProcessor.from_texts(texts, image_height=config.image_height, max_width=config.max_width)
    config.vocab_size = processor.vocab_size
    torch.manual_seed(0)
    return StackMixHTRForCTC(config).eval(), processor


def time_batches(run, batches, repeats: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) per pass over `batches`, each the best of `repeats`
    after one untimed pass. CPU time counts every thread, spinning ones included."""
    for batch in batches:
        run(batch)
    wall = cpu = float("inf")
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        for batch in batches:
            run(batch)
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - cpu_started)
    return wall, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="a built dataset folder (e.g. Saint Gall)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--model", help="a checkpoint folder (default: random weights of --preset)")
    parser.add_argument("--preset", default="small", help="preset for random weights when --model is absent")
    parser.add_argument("--num_lines", type=int, default=64, help="lines timed (and compared)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads of both runtimes")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes; the best counts")
    args = parser.parse_args()

    import datasets

    from modeling_stackmix_htr.onnx import StackMixHTROnnxModel

    torch.set_num_threads(args.threads)
    split = datasets.load_dataset(args.dataset, split=args.split)
    split = split.select(range(min(args.num_lines, len(split))))
    model, processor = load_model_and_processor(args, list(split["text"]))
    onnx_model = StackMixHTROnnxModel.from_model(model, num_threads=args.threads)
    images = list(split["image"])
    batches = [
        dict(processor(images=images[start : start + args.batch_size], return_tensors="pt"))
        for start in range(0, len(images), args.batch_size)
    ]

    def pytorch_fp32(batch):
        with torch.inference_mode():
            return model(**batch)

    def pytorch_bf16(batch):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            return model(**batch)

    largest_difference, same_texts = 0.0, 0
    for batch in batches:
        expected, actual = pytorch_fp32(batch), onnx_model(**batch)
        assert torch.equal(expected.output_lengths, actual.output_lengths)
        for row, length in enumerate(expected.output_lengths.tolist()):
            difference = (expected.logits[row, :length] - actual.logits[row, :length]).abs().max().item()
            largest_difference = max(largest_difference, difference)
        lengths = expected.output_lengths
        same_texts += sum(
            a == b
            for a, b in zip(
                processor.batch_decode(expected.logits, output_lengths=lengths),
                processor.batch_decode(actual.logits, output_lengths=lengths),
            )
        )

    seconds = {
        "PyTorch fp32 (eager)": time_batches(pytorch_fp32, batches, args.repeats),
        "PyTorch bf16 autocast": time_batches(pytorch_bf16, batches, args.repeats),
        "ONNX Runtime fp32": time_batches(lambda batch: onnx_model(**batch), batches, args.repeats),
    }
    source = args.model or f"random {args.preset} preset"
    print(
        f"{len(images)} {args.split} lines of {args.dataset}, batch {args.batch_size}, {args.threads} threads, {source}"
    )
    print(
        f"ONNX Runtime vs PyTorch fp32: largest logit difference {largest_difference:.2e}, "
        f"same text for {same_texts}/{len(images)} lines"
    )
    baseline_wall, baseline_cpu = seconds["PyTorch fp32 (eager)"]
    print("| runtime | lines/s | vs PyTorch fp32 | lines/CPU-s | vs PyTorch fp32 (CPU) |")
    print("|---|---|---|---|---|")
    for name, (wall, cpu) in seconds.items():
        print(
            f"| {name} | {len(images) / wall:.2f} | {baseline_wall / wall:.2f}x | {len(images) / cpu:.2f} | {baseline_cpu / cpu:.2f}x |"
        )


if __name__ == "__main__":
    main()
