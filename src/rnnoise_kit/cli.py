"""The ``rnnoise-kit`` command line: subcommands, each a thin layer over the Python API.

Exit codes (the same for every command):

* 0: done (files a dataset command skipped are listed, not fatal);
* 1: done in part (a multi-file command where some inputs failed, each named);
* 2: nothing done: bad arguments or unusable input, one line on stderr naming the file and
  the problem, no traceback (``--debug`` shows it).

Each subcommand is a pair of functions: ``_add_<name>(subparsers)`` declares its arguments and
sets ``func`` to ``_run_<name>(args) -> int``. Commands that live together (``model ...``)
share one section.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence

from rnnoise_kit import __version__
from rnnoise_kit.errors import PartialFailure, RnnoiseKitError

EXIT_OK, EXIT_PARTIAL, EXIT_FAILED = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that exits with code 2 and a one-line message on bad arguments."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_FAILED, f"{self.prog}: error: {message}\n")


def _err(message: str) -> None:
    print(f"rnnoise-kit: {message}", file=sys.stderr)


def _note(message: str) -> None:
    print(f"rnnoise-kit: {message}", file=sys.stderr)


# --------------------------------------------------------------------------- dump-features


def _add_dump_features(sub) -> None:
    p = sub.add_parser(
        "dump-features",
        help="write the per-frame features, silence flag, pitch and band energies of a file",
        description=(
            "Run the RNNoise v0.1 analysis (high-pass, silence rule, pitch search, 42 features) "
            "over an audio file and save a float32 array of shape (n_frames, 66): columns 0-41 "
            "the features, 42 the silence flag, 43 the pitch period, 44-65 the band energies."
        ),
    )
    p.add_argument("input", help="audio file (any format soundfile reads; resampled to 48 kHz)")
    p.add_argument("-o", "--output", required=True, help="output .npy file")
    p.set_defaults(func=_run_dump_features)


def _run_dump_features(args) -> int:
    from rnnoise_kit.dsp.features import dump_features_file

    notes: list[str] = []
    n = dump_features_file(args.input, args.output, notes=notes)
    for line in notes:
        _note(line)
    print(f"{args.output}: {n} frames x 66")
    return EXIT_OK


# --------------------------------------------------------------------------- main

_SECTIONS: list[Callable] = [_add_dump_features]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used to document the CLI)."""
    parser = _Parser(
        prog="rnnoise-kit",
        description="Train, export, evaluate and run RNNoise v0.1 noise-suppression models.",
    )
    parser.add_argument("--version", action="version", version=f"rnnoise-kit {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback when a command fails"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in _SECTIONS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rnnoise-kit`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_FAILED
    try:
        return int(args.func(args) or EXIT_OK)
    except PartialFailure as exc:
        for name, reason in exc.failures.items():
            _err(f"{name}: {reason}")
        _err(str(exc))
        if args.debug:
            traceback.print_exc()
        return EXIT_PARTIAL
    except RnnoiseKitError as exc:
        if args.debug:
            traceback.print_exc()
        _err(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _err("interrupted; no partial output was kept")
        return 130
    except Exception as exc:  # a bug: still one line unless --debug
        if args.debug:
            traceback.print_exc()
        _err(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
