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


# --------------------------------------------------------------------------- datasets


def _allow_negative_ranges(p) -> None:
    """Let ``--level -35:-15`` parse (argparse takes a leading '-' for an option)."""
    import re

    if hasattr(p, "_negative_number_matcher"):
        p._negative_number_matcher = re.compile(
            r"^-\d+$|^-\d*\.\d+$|^-?\d*\.?\d+:-?\d*\.?\d+$"
        )


def _list_skipped(skipped) -> None:
    for s in skipped:
        _note(f"skipped {s.path}: {s.reason}")
    if skipped:
        _note(f"{len(skipped)} file(s) skipped")


def _add_prepare(sub) -> None:
    import os

    p = sub.add_parser(
        "prepare",
        help="concatenate audio files into one 48 kHz s16 mono .raw file for training",
        description=(
            "Scan files and folders (recursively) for audio, mix each file down to mono, "
            "resample it to 48 kHz (soxr), convert it to s16 (clipped samples counted) and "
            "append it, in natural-sort path order, to OUT. Unreadable or empty files are "
            "skipped and listed (exit 0); --strict makes them fatal (exit 2, no output)."
        ),
    )
    p.add_argument("sources", nargs="+", metavar="SRC", help="audio files or folders")
    p.add_argument("-o", "--output", required=True, metavar="OUT.raw", help="output .raw file")
    p.add_argument("--manifest", metavar="OUT.json",
                   help="JSON listing each file's offset and duration in OUT, and skipped files")
    default_jobs = min(8, os.cpu_count() or 1)
    p.add_argument("--jobs", "-j", type=int, default=default_jobs, metavar="J",
                   help=f"decoding processes (default: {default_jobs})")
    p.add_argument("--preview", type=int, default=0, metavar="N",
                   help="also write the first N files as OUT.preview.wav for listening")
    p.add_argument("--strict", action="store_true",
                   help="fail (exit 2, nothing written) if any file is unusable")
    p.set_defaults(func=_run_prepare)


def _run_prepare(args) -> int:
    from rnnoise_kit.audio.prepare import prepare

    r = prepare(args.sources, args.output, manifest=args.manifest, jobs=args.jobs,
                preview=args.preview, strict=args.strict)
    _list_skipped(r.skipped)
    if r.clipped:
        n_files = sum(1 for f in r.files if f.clipped)
        _note(f"clipped {r.clipped} sample(s) to the s16 range in {n_files} file(s)")
    print(f"{r.output}: {len(r.files)} file(s), {r.duration:.2f} s "
          f"({r.total_samples} samples, 48 kHz s16 mono)")
    if r.preview:
        print(f"{r.preview}: preview of the first {min(args.preview, len(r.files))} file(s)")
    if r.manifest:
        print(f"{r.manifest}: manifest")
    return EXIT_OK


def _add_balance(sub) -> None:
    p = sub.add_parser(
        "balance",
        help="sample dataset groups down to the size of the smallest one",
        description=(
            "Each group is a folder under ROOT, scanned recursively for audio. The smallest "
            "group (by --by) is kept whole; every other group is sampled (seeded) down to its "
            "size. Chosen files are copied (or hard-linked) to OUT/GROUP/relative/path; "
            "sources are never changed. An existing destination file is an error (nothing "
            "written). Writes OUT/balance.csv."
        ),
    )
    p.add_argument("root", metavar="ROOT", help="folder holding the groups")
    p.add_argument("--folders", required=True, metavar="a,b,c",
                   help="comma-separated group folders under ROOT")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    p.add_argument("--by", choices=("count", "duration", "bytes"), default="duration",
                   help="how group sizes are measured (default: duration)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--copy", dest="link", action="store_false",
                      help="copy the chosen files (default)")
    mode.add_argument("--link", dest="link", action="store_true",
                      help="hard-link the chosen files (copy across file systems)")
    p.add_argument("--dry-run", action="store_true", help="show the choice, write nothing")
    p.set_defaults(func=_run_balance, link=False)


def _run_balance(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from rnnoise_kit.audio.balance import balance, summary_rows

    folders = [f for f in args.folders.split(",") if f.strip()]
    r = balance(args.root, folders, args.output, by=args.by, seed=args.seed, link=args.link,
                dry_run=args.dry_run)
    _list_skipped(r.skipped)
    table = Table(title=f"balance by {r.by} (seed {r.seed})")
    for col in ("group", "files", "duration", "size", "skipped"):
        table.add_column(col, justify="left" if col == "group" else "right")
    for row in summary_rows(r):
        table.add_row(*row)
    Console(soft_wrap=True).print(table)
    if r.link_fallbacks:
        _note(f"{r.link_fallbacks} file(s) copied: hard links impossible there")
    if r.dry_run:
        print("dry run: nothing written")
    else:
        print(f"{r.csv_path}: {sum(len(g.chosen) for g in r.groups)} file(s)")
    return EXIT_OK


def _add_mix(sub) -> None:
    p = sub.add_parser(
        "mix",
        help="synthesize a noisy/clean test set (DNS Challenge style)",
        description=(
            "Draw random speech and noise clips, scale the speech to a level (dBFS, on "
            "active speech: 20 ms frames within 40 dB of the loudest) and the noise to an "
            "SNR (active speech power over noise power), scale all three down together if "
            "a peak would pass 0.99, and write DIR/clean, DIR/noise, DIR/noisy (48 kHz mono "
            "s16 WAV, same names) and DIR/mix.csv. DIR must be new or empty."
        ),
    )
    p.add_argument("--speech", nargs="+", required=True, metavar="SRC",
                   help="speech files or folders")
    p.add_argument("--noise", nargs="+", required=True, metavar="SRC",
                   help="noise files or folders")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    p.add_argument("--count", type=int, required=True, metavar="N", help="number of triplets")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each (default: 10)")
    p.add_argument("--snr", default="0:20", metavar="LO:HI", help="SNR range, dB (default 0:20)")
    p.add_argument("--level", default="-35:-15", metavar="LO:HI",
                   help="active speech level range, dBFS (default -35:-15)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    _allow_negative_ranges(p)
    p.set_defaults(func=_run_mix)


def _run_mix(args) -> int:
    from rnnoise_kit.audio.mix import mix

    r = mix(args.speech, args.noise, args.output, count=args.count, seconds=args.seconds,
            snr=args.snr, level=args.level, seed=args.seed)
    _list_skipped(r.skipped)
    print(f"{r.output}: {len(r.items)} clean/noise/noisy triplet(s); {r.csv_path}")
    return EXIT_OK


# --------------------------------------------------------------------------- main

_SECTIONS: list[Callable] = [_add_dump_features, _add_prepare, _add_balance, _add_mix]


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
