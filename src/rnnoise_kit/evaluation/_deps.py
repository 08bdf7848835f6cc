"""Lazy imports of the optional ``eval`` dependencies, with a one-line error when missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from rnnoise_kit.errors import InputError

_HINT = "pip install 'rnnoise-kit[eval]'"


def require(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`InputError` suggesting the ``eval`` extra.

    Parameters
    ----------
    module : str
        Dotted module name (``"pesq"``, ``"pystoi"``, ``"onnxruntime"``, ...).

    Returns
    -------
    ModuleType
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise InputError(None, f"{top} is needed for evaluation but is not installed "
                               f"({_HINT})") from exc


def matplotlib_pyplot() -> ModuleType:
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    mpl = require("matplotlib")
    mpl.use("Agg", force=True)
    return require("matplotlib.pyplot")
