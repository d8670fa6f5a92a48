"""`python -m augmentations.char_masks ...`, the former spelling of `python -m augmentations.stackmix char-masks ...`."""

import sys

from augmentations.stackmix.__main__ import main
from stackmix_htr.common.errors import run_command

if __name__ == "__main__":
    sys.exit(run_command(main, ["char-masks", *sys.argv[1:]]))
