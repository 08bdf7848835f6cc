"""The public models: names, checksums, download cache.

These are the ``.rnnn`` files published for FFmpeg's ``arnndn`` filter (the arnndn-models
and rnnoise-models repositories): RNNoise v0.1.1's default model (``std``) and the five
rnnoise-nu models. ``rnnoise-kit model get NAME`` downloads one into the user cache, checks
its sha256 and renames it into place only when it matches, so the cache never holds a
partial or wrong file.

``rnnoise-0.2`` is RNNoise 0.2's model as built into pyrnnoise's librnnoise: it is not
downloaded but imported from the installed library's weight table into the cache (the
blob's sha256 recorded beside it in ``rnnoise-0.2.json``), the first time the name is used.

Environment:

* ``RNNOISE_KIT_MODEL_URL``: base URL the files are fetched from (``<base>/<file>``);
  default: the arnndn-models repository.
* ``RNNOISE_KIT_CACHE``: cache folder; default ``$XDG_CACHE_HOME/rnnoise-kit/models``
  (``~/.cache/rnnoise-kit/models``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rnnoise_kit.errors import InputError, PartialFailure, RnnoiseKitError
from rnnoise_kit.fileio import atomic_path, atomic_write_bytes, atomic_write_text, sha256_file

DEFAULT_BASE_URL = "https://raw.githubusercontent.com/richardpl/arnndn-models/master"


@dataclass(frozen=True)
class PublicModel:
    """One published model: registry name, file name, sha256, and what it is."""

    name: str
    filename: str
    sha256: str
    description: str


PUBLIC_MODELS: dict[str, PublicModel] = {
    m.name: m
    for m in [
        PublicModel("std", "std.rnnn",
                    "6b8943dc4a9b6b24425873992a44f29c0577503276456af46a8854774faeb294",
                    "RNNoise v0.1.1's built-in default model (general speech)"),
        PublicModel("bd", "bd.rnnn",
                    "ae3f7411e1e6a884f839a4a145c394408398f09854dbc1216ee02faafc98a17b",
                    "rnnoise-nu model beguiling-drafter (GregorR/rnnoise-models)"),
        PublicModel("cb", "cb.rnnn",
                    "f1357c4e5be9dee8467bead486dfced2d75b640c26ad0b594fa7f102322371d9",
                    "rnnoise-nu model conjoined-burgers (GregorR/rnnoise-models)"),
        PublicModel("lq", "lq.rnnn",
                    "1957528b752799fddf06270bc5469af7cf54c3badc358544ae2abed730943ff9",
                    "rnnoise-nu model leavened-quisling (GregorR/rnnoise-models)"),
        PublicModel("mp", "mp.rnnn",
                    "4e84a448a4baf937992aaf4d10c8258007ec5d24219b6647dfd5fb4b563ad231",
                    "rnnoise-nu model marathon-prescription (GregorR/rnnoise-models)"),
        PublicModel("sh", "sh.rnnn",
                    "70bb6685eb0c2a1d18e2918dca3fbfbd39317010b1802eb1b6ea73a92f3fdec0",
                    "rnnoise-nu model somnolent-hogwash (GregorR/rnnoise-models)"),
    ]
}


@dataclass(frozen=True)
class LibraryModel:
    """A model imported from an installed shared library rather than downloaded.

    ``known_sha256`` is the blob of the library version it was written against (pyrnnoise
    0.4.5); another version may ship other weights, which are imported all the same.
    """

    name: str
    filename: str
    known_sha256: str
    description: str


LIBRARY_MODELS: dict[str, LibraryModel] = {
    "rnnoise-0.2": LibraryModel(
        "rnnoise-0.2", "rnnoise-0.2.bin",
        "1b99898350e75656c77d068162fea402afe51eff15dc751989b1e9f53b98bf91",
        "RNNoise 0.2 (main-branch network) as built into pyrnnoise's librnnoise; "
        "imported from the installed pyrnnoise, not downloaded"),
}


def base_url() -> str:
    """Where models are downloaded from (``RNNOISE_KIT_MODEL_URL`` overrides)."""
    return os.environ.get("RNNOISE_KIT_MODEL_URL", DEFAULT_BASE_URL).rstrip("/")


def cache_dir() -> Path:
    """The model cache folder (``RNNOISE_KIT_CACHE`` overrides)."""
    env = os.environ.get("RNNOISE_KIT_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(xdg) / "rnnoise-kit" / "models"


def is_registry_name(name: str) -> bool:
    """True for a public model name (``std``, ``sh``, ..., ``rnnoise-0.2``)."""
    return name in PUBLIC_MODELS or name in LIBRARY_MODELS


def _entry(name: str) -> PublicModel | LibraryModel:
    if name in LIBRARY_MODELS:
        return LIBRARY_MODELS[name]
    try:
        return PUBLIC_MODELS[name]
    except KeyError:
        known = ", ".join([*PUBLIC_MODELS, *LIBRARY_MODELS])
        raise InputError(None, f"unknown model name {name!r} (public models: {known})") from None


CACHE_STATES = ("missing", "ok", "modified")
"""What :func:`cache_status` says of a public model in the cache."""


def cache_status(name: str) -> str:
    """``"missing"``, ``"ok"`` or ``"modified"``: a model's state in the cache, checked now.

    A downloaded model is ``"ok"`` when its sha256 is the published one; a library model
    (``rnnoise-0.2``) when its sha256 is the one recorded on import (or, placed there by hand,
    when there is no record). The checksum is checked on every call, not only on download: a
    cached file replaced or damaged afterwards is ``"modified"``.
    """
    entry = _entry(name)
    path = cache_dir() / entry.filename
    if not path.is_file():
        return "missing"
    if isinstance(entry, LibraryModel):
        return "ok" if _library_cache_ok(entry) else "modified"
    try:
        digest = sha256_file(path)
    except OSError:
        return "modified"
    return "ok" if digest == entry.sha256 else "modified"


def cached_path(name: str) -> Path:
    """Path of a public model in the cache, its sha256 checked now.

    Downloaded models must have been fetched, and be the published files (a clear error
    says how to fetch them otherwise); library models (``rnnoise-0.2``) are imported from
    the installed library on first use, and again when the cached copy was modified.

    Raises
    ------
    InputError
        A downloaded model is not in the cache, or the cached file is not the published one.
    """
    entry = _entry(name)
    path = cache_dir() / entry.filename
    status = cache_status(name)
    if isinstance(entry, LibraryModel):
        return path if status == "ok" else import_library_model(name)
    if status == "missing":
        raise InputError(
            None, f"model {name!r} is not in the cache ({path}); "
                  f"fetch it with `rnnoise-kit model get {name}`"
        )
    if status == "modified":
        raise InputError(
            path, f"is not the published {name!r} model (its sha256 differs from "
                  f"{entry.sha256[:12]}...): it was replaced or damaged after download; "
                  f"fetch it again with `rnnoise-kit model get {name}`"
        )
    return path


def is_cached(name: str) -> bool:
    """Whether a public model is in the cache and intact (sha256 checked now)."""
    return cache_status(name) == "ok"


def _record_path(entry: LibraryModel) -> Path:
    return (cache_dir() / entry.filename).with_suffix(".json")


def library_record(name: str) -> dict | None:
    """What was recorded when a library model was imported (source, sha256s), or None."""
    try:
        return json.loads(_record_path(LIBRARY_MODELS[name]).read_text())
    except (OSError, ValueError, KeyError):
        return None


def _library_cache_ok(entry: LibraryModel) -> bool:
    path = cache_dir() / entry.filename
    record = library_record(entry.name)
    if not path.is_file():
        return False
    if record is None:  # placed there by hand (e.g. `model import-library -o`): trusted
        return True
    return record.get("sha256") == sha256_file(path)


def import_library_model(name: str, library: str | os.PathLike | None = None) -> Path:
    """Import a library model into the cache and return its path.

    Parameters
    ----------
    name : str
        A library model name (``rnnoise-0.2``).
    library : path-like, optional
        The shared library to read; default: the one inside the installed pyrnnoise.

    Raises
    ------
    InputError
        pyrnnoise is not installed (and no library was given): the message says to
        ``pip install pyrnnoise`` or to run ``rnnoise-kit model import-library``.
    ModelFormatError
        The library has no usable weight table.
    """
    from rnnoise_kit.model.v02.blob import format_blob
    from rnnoise_kit.model.v02.library import pyrnnoise_library, read_library

    entry = LIBRARY_MODELS[name]
    lib = Path(library) if library is not None else pyrnnoise_library()
    if lib is None:
        raise InputError(
            None, f"model {name!r} is imported from pyrnnoise's librnnoise, and pyrnnoise is "
                  f"not installed: `pip install pyrnnoise`, or import a librnnoise 0.2 "
                  f"yourself with `rnnoise-kit model import-library PATH/librnnoise.so "
                  f"-o {entry.filename}` and pass that file"
        )
    blob = format_blob(list(read_library(lib).records))
    target = cache_dir() / entry.filename
    atomic_write_bytes(target, blob)
    try:
        version = importlib.metadata.version("pyrnnoise") if library is None else None
    except importlib.metadata.PackageNotFoundError:
        version = None
    record = {
        "name": name,
        "library": str(lib),
        "library_sha256": sha256_file(lib),
        "pyrnnoise_version": version,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "bytes": len(blob),
    }
    atomic_write_text(_record_path(entry), json.dumps(record, indent=2) + "\n")
    return target


def fetch(name: str, force: bool = False, timeout: float = 60.0) -> Path:
    """Download a public model into the cache, check its sha256, and return its path.

    The file is streamed to a temporary name and renamed only when the checksum matches;
    a wrong checksum or a failed download leaves nothing behind and raises InputError.
    Library models (``rnnoise-0.2``) are imported from the installed library instead.
    """
    entry = _entry(name)
    if isinstance(entry, LibraryModel):
        if force or not _library_cache_ok(entry):
            return import_library_model(name)
        return cache_dir() / entry.filename
    target = cache_dir() / entry.filename
    if target.is_file() and not force and sha256_file(target) == entry.sha256:
        return target
    url = f"{base_url()}/{entry.filename}"
    digest = hashlib.sha256()
    try:
        with atomic_path(target) as tmp, urllib.request.urlopen(url, timeout=timeout) as resp:
            with open(tmp, "wb") as f:
                while block := resp.read(1 << 16):
                    digest.update(block)
                    f.write(block)
            if digest.hexdigest() != entry.sha256:
                raise InputError(
                    url, f"checksum mismatch: got sha256 {digest.hexdigest()}, "
                         f"expected {entry.sha256}; nothing was saved"
                )
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InputError(url, f"download failed ({reason})") from exc
    return target


def fetch_models(names: Sequence[str], force: bool = False) -> dict[str, Path]:
    """:func:`fetch` each name, going on past a failure.

    Parameters
    ----------
    names : sequence of str
        Public model names; ``["all"]`` means every one of :data:`PUBLIC_MODELS`.
    force : bool
        Download again even when cached.

    Returns
    -------
    dict of str to Path
        Each name mapped to its file in the cache, in the order given.

    Raises
    ------
    InputError
        The only name asked for could not be fetched (its own error).
    PartialFailure
        Some names failed (``result``: the paths of the others; ``done`` == 0 when all did).
    """
    names = list(PUBLIC_MODELS) if list(names) == ["all"] else list(names)
    paths: dict[str, Path] = {}
    failures: dict[str, str] = {}
    for name in names:
        try:
            paths[name] = fetch(name, force=force)
        except RnnoiseKitError as exc:
            if len(names) == 1:
                raise
            failures[name] = str(exc)
    if failures:
        raise PartialFailure(failures, len(paths), paths)
    return paths


BUNDLED_NAMES = ("bundled", "default")
"""Names of the bundled default model wherever a model can be named."""


def model_path(model: str | os.PathLike) -> Path:
    """The file a model argument stands for: an existing path as it is; otherwise the cached
    file of a public model name (sha256 checked now, :func:`cached_path`) or the bundled model
    (:data:`BUNDLED_NAMES`). Anything else is returned unchanged, for the reader to refuse.

    Raises
    ------
    InputError
        A public model that is not in the cache or whose cached file was modified.
    """
    path = Path(model)
    text = os.fspath(model)
    if path.exists():
        return path
    if text in BUNDLED_NAMES:
        return default_model_path()
    if is_registry_name(text):
        return cached_path(text)
    return path


def _bundled_path() -> Path:
    return Path(str(resources.files("rnnoise_kit") / "data" / "default.rnnn"))


def has_bundled_model() -> bool:
    """Whether this build ships a default model."""
    return _bundled_path().is_file()


def default_model_path() -> Path:
    """The bundled default model (used when no model is given)."""
    path = _bundled_path()
    if not path.is_file():
        raise InputError(
            None, "no model given and no bundled default model in this build; "
                  "fetch a public one with `rnnoise-kit model get std` and use it by name (std)"
        )
    return path
