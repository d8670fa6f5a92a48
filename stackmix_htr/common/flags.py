"""Earlier spellings of command-line flags: still accepted, no longer listed in --help.

Every flag of the project is spelled with underscores (`--output_dir`, `--num_workers`,
`--image_height`). A command whose former spellings are in use (in scripts, recorded commands)
passes its arguments through `with_current_spellings` before argparse reads them: a flag spelled
with hyphens (`--skip-invalid`) becomes its underscore spelling, and renamed flags, e.g.
{"--out": "--output_dir"}, their new name.
"""

from __future__ import annotations

import re
import sys

HYPHENATED_FLAG = re.compile(r"--[a-z0-9]+(-[a-z0-9]+)+")


def with_current_spellings(argv: list[str] | None, renamed: dict[str, str] | None = None) -> list[str]:
    """`argv` (default: the process's arguments) with former flag spellings replaced by the current
    ones, also in the `--flag=value` form; arguments after `--` are left alone."""
    argv = list(sys.argv[1:] if argv is None else argv)
    current = []
    for index, argument in enumerate(argv):
        if argument == "--":
            return current + argv[index:]
        flag, equals, value = argument.partition("=")
        if HYPHENATED_FLAG.fullmatch(flag):
            flag = flag.replace("-", "_").replace("__", "--", 1)
        flag = (renamed or {}).get(flag, flag)
        current.append(flag + equals + value if argument.startswith("--") else argument)
    return current
