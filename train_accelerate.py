#!/usr/bin/env python
"""Train a StackMix-HTR line recognizer with Accelerate (the stackmix-train command); see stackmix_htr/cli/train.py.

Works from a checkout as it does installed: `python train_accelerate.py --help`, `accelerate launch train_accelerate.py ...`."""

import sys

from stackmix_htr.cli.train import run

if __name__ == "__main__":
    sys.exit(run())
