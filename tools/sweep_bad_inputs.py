"""A sweep of bad inputs, signals and disk faults over every command, as a new user meets them.

Each case runs ``python -m rnnoise_kit.cli ...`` in a subprocess and checks the README's
promises: the exit code (0 done, 1 done in part, 2 nothing done, 143 SIGTERM), one line on
stderr naming the file for a failure (no traceback, no "internal error"), inputs unchanged,
and nothing half-written (no hidden temporary file left, no output where nothing was done;
after SIGKILL the same command run again succeeds and leaves no temporary file).

Conditions: output = input, output = another output, read-only folder (a read-only tmpfs),
full disk (a tmpfs filled to the last byte), parent is a file, unknown suffix, SIGTERM,
SIGKILL then rerun, NaN/inf audio, truncated and garbage files, empty folders, symlink loops.

Run from the repository root (slow: several minutes; not part of the test suite)::

    PYTHONPATH=src python tools/sweep_bad_inputs.py [--only TEXT] [--keep DIR]

The mounts need root; without it the read-only and full-disk cases are skipped and listed.
Prints one line per case and a JSON summary last; exits 1 if a case failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SR = 48000
TEMP = re.compile(r"\.part|\.resume\.json$")


@dataclass
class Case:
    """One command line and what it must do."""

    name: str
    argv: list[str]
    expect: tuple[int, ...] = (2,)
    names: str | None = None
    """A path the error line must name (rc 1 or 2)."""
    intact: list[str] = field(default_factory=list)
    """Inputs that must be unchanged."""
    absent: list[str] = field(default_factory=list)
    """Outputs that must not exist afterwards."""
    signal: int | None = None
    """Send this signal once a temporary file appears under ``watch`` (or after ``delay``)."""
    watch: str | None = None
    delay: float = 60.0
    rerun: bool = False
    """After the signal, run the same command again: it must succeed."""
    timeout: float = 900.0


def _wav(path: Path, seconds: float, seed: int = 0, subtype: str = "PCM_16", x=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if x is None:
        t = np.arange(int(seconds * SR)) / SR
        rng = np.random.default_rng(seed)
        x = 0.2 * np.sin(2 * np.pi * (150 + 40 * seed) * t) * (np.sin(2 * np.pi * 2 * t) > 0)
        x = x + 0.02 * rng.standard_normal(t.size)
    sf.write(str(path), x, SR, subtype=subtype)


def _cli(base: Path, *argv: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "RNNOISE_KIT_NO_PROGRESS": "1",
           "RNNOISE_KIT_CACHE": str(base / "cache")}
    return subprocess.run([sys.executable, "-m", "rnnoise_kit.cli", *argv], cwd=base, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _mount(folder: Path, options: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


def build_inputs(base: Path) -> None:
    """Good and bad inputs under ``base``."""
    for i, name in enumerate("abc"):
        _wav(base / "sp" / f"{name}.wav", 1.5, seed=i)
    for i in range(2):
        _wav(base / "no" / f"n{i}.wav", 1.5, seed=10 + i)
    _wav(base / "long.wav", 240, seed=5)
    bad = base / "bad"
    bad.mkdir()
    x = np.zeros(SR, dtype=np.float32)
    x[100] = np.nan
    _wav(bad / "nan.wav", 1, x=x, subtype="FLOAT")
    x[100] = np.inf
    _wav(bad / "inf.wav", 1, x=x, subtype="FLOAT")
    whole = (base / "sp" / "a.wav").read_bytes()
    (bad / "trunc.wav").write_bytes(whole[:60])
    (bad / "garbage.wav").write_bytes(np.random.default_rng(0).bytes(5000))
    (bad / "empty.wav").write_bytes(b"")
    (bad / "garbage.rnnn").write_bytes(b"not a model\n" * 10)
    model = (ROOT / "src/rnnoise_kit/data/default.rnnn").read_bytes()
    (bad / "trunc.rnnn").write_bytes(model[:500])
    (bad / "garbage.f32").write_bytes(np.random.default_rng(1).bytes(1000))
    (bad / "garbage.npz").write_bytes(b"PK\x03\x04" + bytes(100))
    nanrows = np.zeros((3000, 87), dtype=np.float32)
    nanrows[5, 3] = np.nan
    nanrows.tofile(bad / "nan.f32")
    (base / "empty").mkdir()
    loop = base / "loop"
    loop.mkdir()
    shutil.copy(base / "sp" / "a.wav", loop / "a.wav")
    os.symlink(".", loop / "again")
    os.symlink("..", loop / "up")
    os.symlink("self.rnnn", base / "self.rnnn")  # a link to itself
    mixed = base / "mixed"
    mixed.mkdir()
    shutil.copy(base / "sp" / "a.wav", mixed / "a.wav")
    shutil.copy(bad / "nan.wav", mixed / "nan.wav")
    shutil.copy(bad / "garbage.wav", mixed / "garbage.wav")
    nan_only = base / "nanonly"
    nan_only.mkdir()
    shutil.copy(bad / "nan.wav", nan_only / "nan.wav")
    for g in ("g1", "g2"):
        for i in range(3):
            _wav(base / "grp" / g / f"f{i}.wav", 1.0, seed=i)
    (base / "grp" / "g3").mkdir()
    (base / "a_file").write_text("a file, not a folder\n")
    shutil.copy(ROOT / "src/rnnoise_kit/data/default.rnnn", base / "model.rnnn")

    steps = [
        ("prepare", "sp", "-o", "speech.raw", "--jobs", "1"),
        ("features", "--speech", "speech.raw", "--noise", "no", "--frames", "3000",
         "-o", "m.f32"),
        ("train", "m.f32", "-o", "run", "--epochs", "1", "--batch-size", "2", "--window", "100"),
        ("mix", "--speech", "sp", "--noise", "no", "-o", "ts", "--count", "2",
         "--seconds", "1"),
    ]
    for argv in steps:
        r = _cli(base, *argv)
        if r.returncode != 0:
            raise SystemExit(f"setting up: {' '.join(argv)} failed: {r.stderr}")
    (base / "tiny.toml").write_text('test_count = 1\ntest_seconds = 1.0\ncompare_with = []\n'
                                    'batch_size = 2\nwindow = 100\nholdout = 0.34\n')


def make_mounts(base: Path) -> dict[str, bool]:
    """``base/RO`` (read-only) and ``base/FULL`` (full) tmpfs; which ones could be made."""
    for name in ("RO", "FULL"):
        if os.path.ismount(base / name):
            subprocess.run(["umount", str(base / name)], capture_output=True)
    mounts = {"ro": _mount(base / "RO", "size=1m"), "full": _mount(base / "FULL", "size=64k")}
    if mounts["ro"]:
        subprocess.run(["mount", "-o", "remount,ro", str(base / "RO")], check=True)
    if mounts["full"]:  # fill it to the last byte
        for mode, block in (("wb", 4096), ("ab", 1)):
            try:
                with open(base / "FULL" / ".filler", mode, buffering=0) as f:
                    while True:
                        f.write(b"\0" * block)
            except OSError:
                pass
    return mounts


def cases() -> list[Case]:
    """Every command under every condition that applies to it."""
    out: list[Case] = []

    def add(name, argv, **kw):
        out.append(Case(name, list(argv), **kw))

    def output_side(cmd: str, build, suffix: str, check_suffix: bool = True):
        """read-only folder, full disk, parent is a file, unknown suffix."""
        add(f"{cmd}: read-only folder", build(f"RO/x{suffix}"), names=f"RO/x{suffix}",
            absent=[f"RO/x{suffix}"])
        add(f"{cmd}: full disk", build(f"FULL/x{suffix}"), names=f"FULL/x{suffix}",
            absent=[f"FULL/x{suffix}"])
        add(f"{cmd}: parent is a file", build(f"a_file/x{suffix}"), names="a_file")
        if check_suffix:
            add(f"{cmd}: unknown suffix", build("o/x.xyz"), names="o/x.xyz", absent=["o/x.xyz"])

    # dump-features
    df = lambda o, i="sp/a.wav": ["dump-features", i, "-o", o]  # noqa: E731
    add("dump-features: output = input", df("sp/a.wav"), names="sp/a.wav", intact=["sp/a.wav"])
    output_side("dump-features", df, ".npy")
    for bad in ("nan", "inf", "trunc", "garbage", "empty"):
        add(f"dump-features: {bad} audio", df("o/df.npy", f"bad/{bad}.wav"),
            names=f"bad/{bad}.wav", absent=["o/df.npy"])
    add("dump-features: a folder as input", df("o/df.npy", "empty"), names="empty")
    # its output is one np.save at the end: signal it while it computes
    add("dump-features: SIGTERM", df("o/sig/df.npy", "long.wav"), expect=(143,),
        signal=signal.SIGTERM, delay=7, absent=["o/sig/df.npy"])
    add("dump-features: SIGKILL, rerun", df("o/kill/df.npy", "long.wav"),
        signal=signal.SIGKILL, delay=7, rerun=True)

    # prepare
    pr = lambda o, *src: ["prepare", *(src or ("sp",)), "-o", o, "--jobs", "1"]  # noqa: E731
    add("prepare: output = input", pr("speech.raw", "speech.raw"), names="speech.raw",
        intact=["speech.raw"])
    add("prepare: output = manifest", ["prepare", "sp", "-o", "o/p.raw", "--manifest",
                                       "o/p.raw"], names="o/p.raw", absent=["o/p.raw"])
    output_side("prepare", pr, ".raw")
    add("prepare: NaN/garbage files skipped", pr("o/mixed.raw", "mixed"), expect=(0,))
    add("prepare: only NaN audio", pr("o/nan.raw", "nanonly"), absent=["o/nan.raw"])
    add("prepare: empty folder", pr("o/e.raw", "empty"), names="empty", absent=["o/e.raw"])
    add("prepare: symlink loop", pr("o/loop.raw", "loop"), expect=(0,))
    add("prepare: SIGTERM", pr("o/sig/l.raw", "long.wav"), expect=(143,),
        signal=signal.SIGTERM, watch="o/sig", absent=["o/sig/l.raw"])
    add("prepare: SIGKILL, rerun", pr("o/kill/l.raw", "long.wav"), signal=signal.SIGKILL,
        watch="o/kill", rerun=True)

    # balance
    ba = lambda o, f="g1,g2", root="grp": ["balance", root, "--folders", f, "-o", o]  # noqa: E731
    add("balance: output = a group", ba("grp/g1"), intact=["grp/g1/f0.wav"])
    add("balance: output is a file", ba("a_file"), names="a_file")
    add("balance: read-only folder", ba("RO/b"), names="RO/b")
    add("balance: full disk", ba("FULL/b"), names="FULL/b")
    add("balance: parent is a file", ba("a_file/b"), names="a_file")
    add("balance: empty group", ba("o/be", "g1,g3"), names="g3", absent=["o/be"])
    add("balance: symlink loop group", ba("o/bl", "loop,sp", root="."), expect=(0,))
    add("balance: garbage files skipped", ba("o/bm", "mixed,sp", root="."), expect=(0,))

    # mix
    mx = lambda o, s="sp", n="no", *extra: ["mix", "--speech", s, "--noise", n, "-o", o,  # noqa: E731
                                            "--count", "2", "--seconds", "1", *extra]
    add("mix: output = input folder", mx("sp"), names="sp", intact=["sp/a.wav"])
    add("mix: output is a file", mx("a_file"), names="a_file")
    add("mix: read-only folder", mx("RO/m"), names="RO/m")
    add("mix: full disk", mx("FULL/m"), names="FULL/m")
    add("mix: parent is a file", mx("a_file/m"), names="a_file")
    add("mix: only NaN speech", mx("o/mn", "nanonly"), absent=["o/mn"])
    add("mix: empty noise folder", mx("o/me", "sp", "empty"), absent=["o/me"])
    add("mix: symlink loop", mx("o/ml", "loop"), expect=(0,))
    big = ["--count", "400", "--seconds", "10"]
    add("mix: SIGTERM", ["mix", "--speech", "sp", "--noise", "no", "-o", "o/msig", *big],
        expect=(143,), signal=signal.SIGTERM, delay=8, absent=["o/msig"])
    add("mix: SIGKILL, rerun", ["mix", "--speech", "sp", "--noise", "no", "-o", "o/mkill",
                                "--count", "40", "--seconds", "10"], signal=signal.SIGKILL,
        delay=6, rerun=True)

    # features
    fe = lambda o, sp="speech.raw", no="no", n="2000": ["features", "--speech", sp,  # noqa: E731
                                                         "--noise", no, "--frames", n, "-o", o]
    add("features: output = input", fe("speech.raw"), names="speech.raw", intact=["speech.raw"])
    output_side("features", fe, ".f32")
    add("features: .h5 on a full disk", fe("FULL/x.h5"), names="FULL/x.h5",
        absent=["FULL/x.h5"])
    for bad in ("nan", "inf", "garbage", "trunc"):
        add(f"features: {bad} noise", fe("o/f.f32", no=f"bad/{bad}.wav"),
            names=f"bad/{bad}.wav", absent=["o/f.f32"])
    add("features: empty noise folder", fe("o/f.f32", no="empty"), names="empty",
        absent=["o/f.f32"])
    add("features: --convert garbage", ["features", "--convert", "bad/garbage.f32", "o/c.h5"],
        names="bad/garbage.f32", absent=["o/c.h5"])
    add("features: --inspect garbage", ["features", "--inspect", "bad/garbage.wav"],
        names="bad/garbage.wav")
    add("features: SIGTERM", fe("o/fsig/m.f32", n="400000"), expect=(143,),
        signal=signal.SIGTERM, watch="o/fsig", delay=20, absent=["o/fsig/m.f32"])
    add("features: SIGKILL, rerun", fe("o/fkill/m.f32", n="60000"), signal=signal.SIGKILL,
        watch="o/fkill", delay=20, rerun=True)

    # train
    tr = lambda o, d="m.f32", *x: ["train", d, "-o", o, "--epochs", "1", "--batch-size", "2",  # noqa: E731
                                   "--window", "100", *x]
    add("train: output is its input", tr("m.f32"), names="m.f32", intact=["m.f32"])
    add("train: read-only folder", tr("RO/run"), names="RO/run")
    add("train: full disk", tr("FULL/run"), names="FULL/run")
    add("train: parent is a file", tr("a_file/run"), names="a_file")
    add("train: garbage data", tr("o/tg", "bad/garbage.f32"), names="bad/garbage.f32",
        absent=["o/tg"])
    add("train: NaN rows", tr("o/tn", "bad/nan.f32"), names="bad/nan.f32", absent=["o/tn"])
    add("train: damaged state on --resume", ["train", "m.f32", "-o", "o/tdam", "--resume"],
        names="train_state.pt")
    add("train: SIGTERM", ["train", "m.f32", "-o", "o/tsig", "--epochs", "400",
                           "--batch-size", "2", "--window", "100"], expect=(143,),
        signal=signal.SIGTERM, delay=25)
    add("train: SIGKILL, rerun --resume", ["train", "m.f32", "-o", "o/tkill", "--epochs", "3",
                                           "--batch-size", "2", "--window", "100", "--resume"],
        signal=signal.SIGKILL, delay=25, rerun=True)

    # export and model convert / info
    ex = lambda o, ck="run": ["export", ck, "-o", o]  # noqa: E731
    add("export: output = input", ex("run/checkpoint.npz"), names="run/checkpoint.npz",
        intact=["run/checkpoint.npz"])
    add("export: output = the run's model", ex("run/model.rnnn", "run/model.rnnn"),
        names="run/model.rnnn", intact=["run/model.rnnn"])
    output_side("export", ex, ".c")
    add("export: garbage checkpoint", ex("o/e.rnnn", "bad/garbage.npz"),
        names="bad/garbage.npz", absent=["o/e.rnnn"])
    add("export: empty folder", ex("o/e.rnnn", "empty"), names="empty", absent=["o/e.rnnn"])
    mc = lambda o, i="model.rnnn": ["model", "convert", i, o]  # noqa: E731
    add("model convert: output = input", mc("model.rnnn"), names="model.rnnn",
        intact=["model.rnnn"])
    add("model convert: .c whose .h is the input", mc("o/hh.c", "o/hh.h"), names="o/hh.h")
    output_side("model convert", mc, ".c")
    for bad in ("garbage", "trunc"):
        add(f"model convert: {bad} model", mc("o/m.c", f"bad/{bad}.rnnn"),
            names=f"bad/{bad}.rnnn", absent=["o/m.c", "o/m.h"])
    add("model convert: symlink loop", mc("o/m.c", "self.rnnn"), names="self.rnnn")
    for what in ("bad/garbage.rnnn", "bad/trunc.rnnn", "bad/empty.wav", "empty", "self.rnnn",
                 "nosuchmodel"):
        add(f"model info: {what}", ["model", "info", what], names=what)

    # denoise
    dn = lambda o, *i: ["denoise", *(i or ("sp/a.wav",)), "-o", o]  # noqa: E731
    add("denoise: output = input", dn("sp/a.wav"), names="sp/a.wav", intact=["sp/a.wav"])
    add("denoise: --out-dir = the input's folder", ["denoise", "sp/a.wav", "--out-dir", "sp"],
        names="sp/a.wav", intact=["sp/a.wav"])
    add("denoise: two inputs, one output name", ["denoise", "sp/a.wav", "loop/a.wav",
                                                 "--out-dir", "o/dd"], names="a.wav",
        absent=["o/dd"])
    output_side("denoise", dn, ".wav")
    add("denoise: --out-dir on a full disk", ["denoise", "sp/a.wav", "sp/b.wav", "--out-dir",
                                              "FULL/dd"], names="FULL/dd")
    for bad in ("nan", "inf", "garbage", "empty"):
        add(f"denoise: {bad} audio", dn(f"o/d_{bad}.wav", f"bad/{bad}.wav"),
            names=f"bad/{bad}.wav", absent=[f"o/d_{bad}.wav"])
    # 8 samples after its header: libsndfile reads them, denoise keeps any length
    add("denoise: truncated audio", dn("o/d_trunc.wav", "bad/trunc.wav"), expect=(0,))
    add("denoise: good and bad inputs", ["denoise", "sp/a.wav", "bad/nan.wav", "--out-dir",
                                         "o/dmix"], expect=(1,), names="bad/nan.wav")
    add("denoise: garbage model", ["denoise", "sp/a.wav", "-o", "o/d_model.wav", "--model",
                                   "bad/garbage.rnnn"], names="bad/garbage.rnnn",
        absent=["o/d_model.wav"])
    add("denoise: SIGTERM", dn("o/dsig/d.wav", "long.wav"), expect=(143,),
        signal=signal.SIGTERM, delay=7, absent=["o/dsig/d.wav"])
    add("denoise: SIGKILL, rerun", dn("o/dkill/d.wav", "long.wav"), signal=signal.SIGKILL,
        delay=7, rerun=True)

    # compare
    cp = lambda o, *src: ["compare", *(src or ("--testset", "ts")), "-m", "model.rnnn",  # noqa: E731
                          "-o", o, "--jobs", "1", "--no-spectrograms"]
    add("compare: output is an input file", cp("speech.raw"), names="speech.raw",
        intact=["speech.raw"])
    add("compare: output = the noisy folder", cp("ts/noisy", "--noisy", "ts/noisy"),
        names="ts/noisy", absent=["ts/noisy/index.html"])
    add("compare: output holds someone else's audio/", cp("loopy", "--testset", "ts"),
        names="loopy")
    add("compare: read-only folder", cp("RO/r"), names="RO/r")
    add("compare: full disk", cp("FULL/r"), names="FULL/r", absent=["FULL/r"])
    add("compare: parent is a file", cp("a_file/r"), names="a_file")
    add("compare: NaN and garbage among the noisy", cp("o/cm", "--noisy", "mixed"),
        expect=(1,), names="mixed/nan.wav")
    add("compare: empty folder", cp("o/ce", "--noisy", "empty"), names="empty",
        absent=["o/ce"])
    add("compare: symlink loop", cp("o/cl", "--noisy", "loop"), expect=(0,))
    add("compare: garbage model", ["compare", "--testset", "ts", "-m", "bad/garbage.rnnn",
                                   "-o", "o/cg"], names="bad/garbage.rnnn", absent=["o/cg"])
    add("compare: SIGTERM", cp("o/csig", "--noisy", "long.wav"), expect=(143,),
        signal=signal.SIGTERM, delay=25, absent=["o/csig"])
    add("compare: SIGKILL, rerun", cp("o/ckill", "--noisy", "sp"), signal=signal.SIGKILL,
        delay=25, rerun=True)

    # pipeline and demo
    pl = lambda o, sp="sp", *x: ["pipeline", "--speech", sp, "--noise", "no", "-o", o,  # noqa: E731
                                 "--frames", "3000", "--epochs", "1", "--jobs", "1",
                                 "--config", "tiny.toml", *x]
    add("pipeline: output is a file", pl("a_file"), names="a_file")
    add("pipeline: read-only folder", pl("RO/p"), names="RO/p")
    add("pipeline: full disk", pl("FULL/p"), names="FULL/p")
    add("pipeline: empty speech folder", pl("o/pe", "empty"), names="empty", absent=["o/pe"])
    add("pipeline: only NaN speech", pl("o/pn", "nanonly"), names="nanonly")
    add("pipeline: symlink loop speech", pl("o/pl", "loop"), names="loop")
    add("pipeline: SIGKILL, rerun", pl("o/pkill"), signal=signal.SIGKILL, delay=40,
        rerun=True)
    dm = ["--speech-seconds", "12", "--noise-seconds", "12", "--frames", "3000", "--epochs", "1",
          "--jobs", "1", "--config", "tiny.toml"]
    add("demo: output is a file", ["demo", "-o", "a_file", *dm], names="a_file")
    add("demo: read-only folder", ["demo", "-o", "RO/d", *dm], names="RO/d")
    add("demo: full disk", ["demo", "-o", "FULL/d", *dm], names="FULL/d")
    add("demo: --epochs -1", ["demo", "-o", "o/dneg", "--epochs", "-1"], absent=["o/dneg"])
    add("demo: SIGTERM while making data", ["demo", "-o", "o/dsig", *dm], expect=(143,),
        signal=signal.SIGTERM, watch="o/dsig", delay=12, absent=["o/dsig/data/demo.json"])
    add("demo: SIGKILL while making data, rerun", ["demo", "-o", "o/dkill", *dm],
        signal=signal.SIGKILL, watch="o/dkill", delay=12, rerun=True)
    return out


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _temps(base: Path) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(base):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        for name in dirs + files:
            if TEMP.search(name):
                found.append(os.path.relpath(os.path.join(folder, name), base))
    return sorted(found)


def _error_problems(case: Case, r_err: str) -> list[str]:
    problems = []
    if "Traceback" in r_err:
        problems.append("traceback")
    if "internal error" in r_err:
        problems.append("internal error")
    lines = [ln for ln in r_err.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    if not (last.startswith("rnnoise-kit") and len(last) < 600):
        problems.append(f"last stderr line is not the error line: {last[:200]!r}")
    # a multi-file command names each failed input on its own line, then counts them
    named = [ln for ln in lines if ln.startswith("rnnoise-kit")]
    if case.names and not any(case.names in ln or Path(case.names).name in ln for ln in named):
        problems.append(f"no error line names {case.names}: {last[:200]!r}")
    return problems


def run_case(base: Path, case: Case) -> tuple[str, list[str], str]:
    """Returns (outcome, problems, stderr's last line)."""
    before = {p: _digest(base / p) for p in case.intact}
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "RNNOISE_KIT_NO_PROGRESS": "1",
           "RNNOISE_KIT_CACHE": str(base / "cache")}
    argv = [sys.executable, "-m", "rnnoise_kit.cli", *case.argv]
    problems: list[str] = []
    outcome = "ran"
    if case.signal is None:
        r = subprocess.run(argv, cwd=base, env=env, capture_output=True, text=True,
                           timeout=case.timeout)
        rc, err = r.returncode, r.stderr
    else:
        p = subprocess.Popen(argv, cwd=base, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        watch = base / case.watch if case.watch else None
        while p.poll() is None and time.monotonic() - t0 < case.delay:
            if watch is not None and watch.is_dir() and _temps(watch):
                time.sleep(0.3)  # well inside the writing
                break
            time.sleep(0.1)
        if p.poll() is not None:
            outcome = "finished before the signal"
        else:
            p.send_signal(case.signal)
        _, err = p.communicate(timeout=case.timeout)
        rc = p.returncode
        if outcome == "finished before the signal":
            problems += [] if rc == 0 else [f"exit {rc}"]
        elif case.signal == signal.SIGKILL:
            outcome = "killed"
        if case.rerun:
            r = subprocess.run(argv, cwd=base, env=env, capture_output=True, text=True,
                               timeout=case.timeout)
            if r.returncode != 0:
                last = (r.stderr.strip().splitlines() or [""])[-1]
                problems.append(f"rerun exit {r.returncode}: {last[:300]}")
            rc, err = r.returncode if r.returncode != 0 else 0, r.stderr
    expect = (0,) if case.rerun else case.expect
    if rc == -signal.SIGTERM and 143 in expect:
        # killed by SIGTERM outright (while Python starts, before the handler is set, or
        # as it exits): a shell reports it as 143 as well; nothing may be half-written
        outcome = "ended by SIGTERM's default action"
        rc = 143
    if outcome != "finished before the signal" and rc not in expect:
        problems.append(f"exit {rc}, expected {'/'.join(map(str, expect))}")
    if rc in (1, 2):
        problems += _error_problems(case, err)
    for p in case.intact:
        if _digest(base / p) != before[p]:
            problems.append(f"input {p} changed")
    if rc != 0 or outcome != "ran":
        for p in case.absent:
            if os.path.lexists(base / p) and not outcome.startswith("ended by"):
                problems.append(f"{p} exists (half-written?)")
    left = [t for t in _temps(base) if not t.startswith(("RO/", "FULL/.filler"))]
    if left and (case.signal != signal.SIGKILL or case.rerun):
        problems.append(f"temporary files left: {left[:3]}")
        for t in left:  # do not blame the next case
            path = base / t
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    last = (err.strip().splitlines() or [""])[-1]
    return outcome, problems, last


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append",
                    help="run the cases whose name contains this text (repeatable)")
    ap.add_argument("--keep", help="build the inputs in this folder and keep it")
    args = ap.parse_args()
    base = Path(args.keep or tempfile.mkdtemp(prefix="rnnoise-kit-sweep-")).resolve()
    base.mkdir(parents=True, exist_ok=True)
    mounted: list[Path] = []
    try:
        t0 = time.monotonic()
        if not (base / "m.f32").exists():
            build_inputs(base)
        mounts = make_mounts(base)
        mounted = [base / n for n, m in (("RO", mounts["ro"]), ("FULL", mounts["full"])) if m]
        (base / "o").mkdir(exist_ok=True)
        shutil.copy(base / "model.rnnn", base / "o" / "hh.h")
        (base / "loopy" / "audio").mkdir(parents=True, exist_ok=True)
        (base / "loopy" / "audio" / "mine.flac").write_bytes(b"someone's file")
        dam = base / "o" / "tdam"
        if not dam.exists():
            shutil.copytree(base / "run", dam)
            (dam / "train_state.pt").write_bytes(b"damaged" * 50)
        print(f"inputs ready in {time.monotonic() - t0:.0f} s: {base}", flush=True)
        results = []
        for case in cases():
            if args.only and not any(text in case.name for text in args.only):
                continue
            if ("read-only" in case.name and not mounts["ro"]) or (
                    "full disk" in case.name and not mounts["full"]):
                results.append({"case": case.name, "outcome": "skipped (no mount)",
                                "problems": []})
                print(f"SKIP {case.name}: cannot mount a tmpfs here", flush=True)
                continue
            t = time.monotonic()
            try:
                outcome, problems, last = run_case(base, case)
            except subprocess.TimeoutExpired:
                outcome, problems, last = "timeout", ["timed out"], ""
            results.append({"case": case.name, "argv": case.argv, "outcome": outcome,
                            "problems": problems, "stderr": last,
                            "seconds": round(time.monotonic() - t, 1)})
            flag = "FAIL" if problems else "ok  "
            print(f"{flag} {case.name} ({outcome}, {time.monotonic() - t:.0f} s): "
                  f"{'; '.join(problems) or last[:150]}", flush=True)
        failed = [r for r in results if r["problems"]]
        print(json.dumps({"cases": len(results), "failed": len(failed),
                          "skipped": sum(r["outcome"].startswith("skipped") for r in results),
                          "failures": [{k: r[k] for k in ("case", "problems")} for r in failed],
                          "seconds": round(time.monotonic() - t0)}))
        return 1 if failed else 0
    finally:
        for m in mounted:
            subprocess.run(["umount", str(m)], capture_output=True)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
