"""Audio input and output, resampling, folder scanning and dataset tools."""

from rnnoise_kit.audio.io import (
    AUDIO_EXTENSIONS,
    SAMPLE_RATE,
    read_audio,
    read_mono_48k,
    resample,
    to_int16,
    to_mono,
    write_audio,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "SAMPLE_RATE",
    "read_audio",
    "read_mono_48k",
    "resample",
    "to_int16",
    "to_mono",
    "write_audio",
]
