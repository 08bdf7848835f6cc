"""Shared fixtures. Reference data lives in ``../shared/reference`` beside the repository.

Tests that need it use the ``reference`` fixture: where it is missing they are skipped on a
developer's machine but **fail** under CI (``CI=true``), so a CI run can never pass by
silently skipping every parity check.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest


def _triton_mode() -> None:
    """Without a GPU, run the Triton GRU kernels in Triton's interpreter.

    The mode is fixed for the whole process when ``triton`` is first imported, so it is chosen
    here, before any test imports it. An explicit ``TRITON_INTERPRET`` is left alone.
    """
    try:
        import torch
    except ImportError:
        return
    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")


_triton_mode()

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("RNNOISE_KIT_REFERENCE", REPO.parent / "shared" / "reference"))


def _need(what: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} is required under CI=true but is missing")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session")
def reference() -> Path:
    """Path of ``../shared/reference`` (fails under CI when missing)."""
    if not (REFERENCE / "README.md").is_file():
        _need(f"reference data ({REFERENCE})")
    return REFERENCE


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    """Path of the ffmpeg binary (fails under CI when missing: .ci/run installs it)."""
    path = shutil.which("ffmpeg")
    if path is None:
        _need("ffmpeg")
    return path


@pytest.fixture(scope="session")
def pyrnnoise_library() -> Path:
    """Path of the ``librnnoise.so`` inside the pyrnnoise package (fails under CI when missing:
    the dev extra installs pyrnnoise)."""
    spec = importlib.util.find_spec("pyrnnoise")  # located, not imported: no library loaded yet
    if spec is None or spec.origin is None:
        _need("pyrnnoise")
    path = Path(spec.origin).parent / "librnnoise.so"
    if not path.is_file():
        _need(f"pyrnnoise's librnnoise.so ({path})")
    return path
