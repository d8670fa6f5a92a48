"""Errors a user can fix, and how every command line of the project reports them.

A command raises an `InputError` (or a subclass) whose message names the file, folder or sample
and says what to do; `run_command` prints it as one line and exits with status 2, the argparse
convention for bad usage. A SIGTERM becomes an exception too, so the `except BaseException`
clean-ups of the writers remove their temporary folders before the process ends.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Callable

INPUT_ERROR_EXIT_STATUS = 2


class InputError(Exception):
    """An input that cannot be used as given (a file, folder, sample or option); the message says why."""


class MissingInputError(InputError, FileNotFoundError):
    """A named input file or folder does not exist."""


class OutputExistsError(InputError, FileExistsError):
    """An output already exists and may not be replaced."""


class Terminated(BaseException):
    """The process received SIGTERM (a BaseException, like KeyboardInterrupt, so `except Exception` lets it pass)."""


def _raise_terminated(owner_pid: int):
    def handler(signum, frame):
        if os.getpid() != owner_pid:  # a forked worker: end the way SIGTERM normally does
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Terminated(signal.Signals(signum).name)

    return handler


def run_command(main: Callable[[list[str] | None], object], argv: list[str] | None = None) -> int:
    """Run a command's `main(argv)` and return its exit status: 0, or 2 after printing an
    `InputError` as one line on stderr, or 128 + 15 after a SIGTERM."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated(os.getpid()))
    try:
        main(argv)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return INPUT_ERROR_EXIT_STATUS
    except Terminated as signal_name:
        print(f"stopped by {signal_name}", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
