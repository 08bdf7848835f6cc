"""A first look at rnnoise-kit on a signal it makes itself (no data needed).

Run: ``python examples/quickstart.py [OUT_DIR]``. It synthesises a few seconds of a voiced,
noisy test signal, writes it as a WAV, and runs every rnnoise-kit stage that is available on it,
printing what each produced.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from rnnoise_kit.cli import main as cli


def synth_signal(seconds: float = 4.0, rate: int = 48000, seed: int = 0) -> np.ndarray:
    """A vowel-like harmonic tone with a moving pitch, gated like syllables, plus pink noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 25))
    gate = (np.sin(2 * np.pi * 2.5 * t) > -0.2).astype(float)
    white = rng.standard_normal(t.size)
    pink = np.fft.irfft(np.fft.rfft(white) / np.sqrt(np.arange(1, t.size // 2 + 2)), t.size)
    x = 0.25 * voice * gate / np.abs(voice).max() + 0.05 * pink / np.abs(pink).max()
    return x.astype(np.float32)


def run(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    wav = out_dir / "noisy.wav"
    sf.write(wav, synth_signal(), 48000, subtype="PCM_16")
    print(f"wrote {wav}")
    rc = cli(["dump-features", str(wav), "-o", str(out_dir / "features.npy")])
    if rc:
        return rc
    feats = np.load(out_dir / "features.npy")
    voiced = feats[feats[:, 42] == 0]
    print(f"{feats.shape[0]} frames, {int(feats[:, 42].sum())} silent; "
          f"median pitch period {np.median(voiced[:, 43]):.0f} samples "
          f"({48000 / np.median(voiced[:, 43]):.0f} Hz)")
    return 0


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1] if len(sys.argv) > 1 else "quickstart-out")))
