"""The demo data's manifest (``demo.json``): reusing an identical earlier build, refusing a
folder that is not demo data."""

from __future__ import annotations

import json
from pathlib import Path

from rnnoise_kit.audio.demo.speech import espeak_rates_used
from rnnoise_kit.errors import InputError

MANIFEST_VERSION = 1
MANIFEST_NAME = "demo.json"
PLACEHOLDER = (json.dumps({"format": "rnnoise-kit demo data", "version": MANIFEST_VERSION,
                           "incomplete": "a build was interrupted while it replaced this one; "
                                         "the next build replaces it"}) + "\n").encode()
"""The ``demo.json`` that stands in while a new build is swapped in: the folder is demo data
(so the next build may replace it) but matches no build (so it is never reused)."""


def manifest_params(speech_seconds, noise_seconds, languages, babble, seed, reverb,
                    hf_extension, noise_types, voices: str = "espeak") -> dict:
    """The arguments of a build as ``demo.json`` records them (what decides reuse).

    ``voices`` is recorded only when it is not ``"espeak"``, so that an espeak-only build
    made before Piper voices existed is still reused.
    """
    params = {"speech_seconds": float(speech_seconds), "noise_seconds": float(noise_seconds),
              "languages": list(languages), "babble_languages": list(babble),
              "noise_types": list(noise_types), "seed": int(seed), "reverb": float(reverb),
              "hf_extension": bool(hf_extension)}
    if voices != "espeak":
        params["voices"] = voices
    return params


def reusable_build(root: Path, manifest: Path, params: dict) -> dict | None:
    """The manifest of an earlier build with the same ``params`` whose files are all intact
    (same sizes), or None."""
    try:
        old = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if old.get("version") != MANIFEST_VERSION or old.get("params") != params:
        return None
    for entry in old.get("speech", []) + old.get("noise", []):
        p = root / entry["path"]
        if not p.is_file() or p.stat().st_size != entry.get("bytes"):
            return None
    return old


def check_folder(root: Path, manifest: Path) -> None:
    """Refuse to write into a folder whose ``speech/`` or ``noise/`` holds foreign files."""
    if manifest.is_file():
        return
    for sub in ("speech", "noise"):
        d = root / sub
        if d.is_dir() and any(d.iterdir()):
            raise InputError(root, f"holds a non-empty {sub}/ folder but no demo.json: not a "
                                   "demo-data folder, refusing to write into it")



def generator_info() -> dict:
    """Versions of the synthesis libraries and espeak's native rates, for ``demo.json``."""
    from importlib import metadata

    out: dict = {"espeak_rates": espeak_rates_used()}
    for pkg in ("espeakng-loader", "pyroomacoustics", "soxr"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out
