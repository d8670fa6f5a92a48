#!/usr/bin/env python
"""Transcribe line images or PAGE-XML / ALTO pages with a checkpoint (the stackmix-transcribe command); see stackmix_htr/cli/transcribe.py.

Works from a checkout as it does installed: `python transcribe.py --help`."""

import sys

from stackmix_htr.cli.transcribe import run

if __name__ == "__main__":
    sys.exit(run())
