#!/usr/bin/env python
"""The demo page: read a line or a page, write a text in the manuscript's hand (the stackmix-demo command; a Hugging Face Space runs this file); see stackmix_htr/cli/demo.py.

Works from a checkout as it does installed: `python app.py --help`."""

import sys

from stackmix_htr.cli.demo import run

if __name__ == "__main__":
    sys.exit(run())
