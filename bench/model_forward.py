"""Parameter counts and single-line forward time of the recognizer presets.

Each preset is timed on its own canvas (image_height x max_width: what one full-width
line costs it) and on the paper's 128 x 2048 canvas, with batch 1, eval mode and
torch.no_grad(); the median of the repeats is printed.

    python bench/model_forward.py --presets paper small --repeats 5
"""

import argparse
import statistics
import time

import torch

from modeling_stackmix_htr import PRESETS, StackMixHTRConfig, StackMixHTRForCTC
from stackmix_htr.common.flags import with_current_spellings


def time_forward(model: StackMixHTRForCTC, height: int, width: int, repeats: int, warmup: int) -> float:
    """Median seconds of one forward pass on a (1, C, height, width) batch."""
    pixel_values = torch.rand(1, model.config.num_channels, height, width, device=model.device)
    timings = []
    with torch.no_grad():
        for run in range(warmup + repeats):
            start = time.perf_counter()
            model(pixel_values)
            if model.device.type == "cuda":
                torch.cuda.synchronize()  # kernels run asynchronously: wait before reading the clock
            if run >= warmup:
                timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["paper", "small"], choices=sorted(PRESETS))
    parser.add_argument("--vocab_size", type=int, default=80, help="CTC classes (IAM-like charset)")
    parser.add_argument("--repeats", type=int, default=5, help="timed forward passes per size")
    parser.add_argument("--warmup", type=int, default=1, help="untimed forward passes first")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    args = parser.parse_args(with_current_spellings(None))
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} CPU threads"
    print(f"torch {torch.__version__}, {where}, batch 1, eval, no_grad")
    print(f"{'preset':<8}{'params':>12}{'backbone':>12}{'canvas':>12}{'frames':>8}{'forward ms':>12}")
    for name in args.presets:
        model = StackMixHTRForCTC(StackMixHTRConfig.from_preset(name, vocab_size=args.vocab_size)).to(device).eval()
        params = sum(p.numel() for p in model.parameters())
        backbone = sum(p.numel() for p in model.backbone.parameters())
        canvases = dict.fromkeys([(model.config.image_height, model.config.max_width), (128, 2048)])
        for height, width in canvases:
            seconds = time_forward(model, height, width, args.repeats, args.warmup)
            print(
                f"{name:<8}{params:>12,}{backbone:>12,}{f'{height}x{width}':>12}"
                f"{width // model.config.width_stride:>8}{seconds * 1000:>12.1f}"
            )


if __name__ == "__main__":
    main()
