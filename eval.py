#!/usr/bin/env python
"""Score StackMix-HTR checkpoints on a dataset split (the stackmix-eval command); see stackmix_htr/cli/evaluate.py.

Works from a checkout as it does installed: `python eval.py --help`."""

import sys

from stackmix_htr.cli.evaluate import run

if __name__ == "__main__":
    sys.exit(run())
