"""rnnoise-kit: train, export, evaluate and run RNNoise v0.1 noise-suppression models."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rnnoise-kit")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["Denoiser", "__version__"]


def __getattr__(name: str):
    # lazy, so that `rnnoise-kit --version` and light imports skip numba start-up
    if name == "Denoiser":
        from rnnoise_kit.denoise import Denoiser

        return Denoiser
    raise AttributeError(f"module 'rnnoise_kit' has no attribute {name!r}")
