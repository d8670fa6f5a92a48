"""Command line: `python -m data_builders <name> --raw RAW_DIR --output_dir OUT_DIR [options]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stackmix_htr.common.errors import run_command
from stackmix_htr.common.flags import with_current_spellings

from .build import BUILDERS, build, get_source
from .writer import DEFAULT_MAX_SHARD_MB

OLD_SPELLINGS = {"--out": "--output_dir"}  # and every flag with hyphens instead of underscores
COMMON_OPTIONS = (
    "raw",
    "output_dir",
    "overwrite",
    "skip_invalid",
    "max_shard_mb",
    "push_to_hub",
    "private",
    "no_progress",
    "name",
)


def _add_common_arguments(parser: argparse.ArgumentParser, needs_raw: bool) -> None:
    if needs_raw:
        parser.add_argument(
            "--raw", type=Path, required=True, help="folder of the official download (page_xml, alto: or a ZIP export)"
        )
    parser.add_argument("--output_dir", type=Path, required=True, help="output folder (Parquet shards + README.md)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder (atomically)")
    parser.add_argument(
        "--skip_invalid",
        action="store_true",
        help="leave out invalid samples (missing/corrupt image, empty text, ...) and record them in the card "
        "instead of stopping",
    )
    parser.add_argument(
        "--max_shard_mb", type=float, default=DEFAULT_MAX_SHARD_MB, help="largest Parquet shard, in MB of payload"
    )
    parser.add_argument("--push_to_hub", metavar="REPO_ID", help="upload the built folder to this Hub dataset repo")
    parser.add_argument("--private", action="store_true", help="create the Hub repo as private")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m data_builders",
        description="Build a Hugging Face dataset (Parquet shards + dataset card) from a handwriting dataset "
        "as its official source ships it.",
    )
    subparsers = parser.add_subparsers(dest="name", required=True, metavar="NAME")
    for name in BUILDERS:
        source = get_source(name)
        first_line = (source.__doc__ or name).strip().splitlines()[0]
        sub = subparsers.add_parser(
            name, help=first_line, description=source.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        _add_common_arguments(sub, source.INFO.needs_raw)
        if hasattr(source, "add_arguments"):
            source.add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = vars(make_parser().parse_args(with_current_spellings(argv, OLD_SPELLINGS)))
    options = {key: value for key, value in args.items() if key not in COMMON_OPTIONS}
    report = build(
        args["name"],
        args.get("raw"),
        args["output_dir"],
        overwrite=args["overwrite"],
        skip_invalid=args["skip_invalid"],
        max_shard_mb=args["max_shard_mb"],
        push_to_hub=args["push_to_hub"],
        private=args["private"],
        progress=not args["no_progress"],
        **options,
    )
    counts = ", ".join(f"{split} {count}" for split, count in report.counts.items())
    skipped = f"; skipped {report.num_skipped} invalid" if report.num_skipped else ""
    print(f"wrote {args['output_dir']}: {counts}{skipped}")


def run(argv: list[str] | None = None) -> int:
    """The console script: bad input is reported as one line on stderr with exit status 2."""
    return run_command(main, argv)


if __name__ == "__main__":
    sys.exit(run())
