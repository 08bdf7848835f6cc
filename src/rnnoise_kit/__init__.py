"""rnnoise-kit: train, export, evaluate and run RNNoise v0.1 noise-suppression models."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rnnoise-kit")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
