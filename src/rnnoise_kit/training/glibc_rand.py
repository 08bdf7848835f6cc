"""Bit-exact emulation of glibc's ``rand()`` (TYPE_3 additive feedback generator).

RNNoise's ``denoise_training`` never calls ``srand``, so glibc runs with seed 1. The
recurrence (spec section 12):

* ``r[0] = seed``; ``r[i] = (16807 * r[i-1]) % 2147483647`` for i = 1..30 (computed without
  overflow, as glibc does with Schrage's method; for seed 1 there is no negative value);
* ``r[i] = r[i-31]`` for i = 31..33;
* ``r[i] = (r[i-31] + r[i-3]) mod 2**32`` for i >= 34;
* the k-th call (k = 0, 1, ...) returns ``r[k+344] >> 1``.

So the first values with seed 1 are 1804289383, 846930886, 1681692777.
"""

from __future__ import annotations

import math

import numpy as np

RAND_MAX = 2147483647
_MASK32 = 0xFFFFFFFF


class GlibcRand:
    """A glibc ``rand()`` stream.

    Parameters
    ----------
    seed : int
        As ``srand(seed)``; glibc treats 0 as 1. The default 1 is the unseeded state.
    """

    def __init__(self, seed: int = 1):
        seed = int(seed) & _MASK32
        if seed == 0:
            seed = 1
        r = [0] * 34
        r[0] = seed
        word = seed - (1 << 32) if seed >= 0x80000000 else seed  # int32_t
        for i in range(1, 31):
            # glibc srandom_r: Schrage's method with C division (truncates toward zero)
            hi = abs(word) // 127773 * (1 if word >= 0 else -1)
            lo = word - hi * 127773
            word = 16807 * lo - 2836 * hi
            if word < 0:
                word += 2147483647
            r[i] = word & _MASK32
        for i in range(31, 34):
            r[i] = r[i - 31]
        self._ring = r[3:34]  # the 31 most recent values r[i-31..i-1] for i = 34
        self._pos = 0  # index into the ring of r[i-31]
        for _ in range(344 - 34):
            self._step()

    def _step(self) -> int:
        ring, p = self._ring, self._pos
        # r[i] = r[i-31] + r[i-3]; ring[p] holds r[i-31], ring[(p+28) % 31] holds r[i-3]
        v = (ring[p] + ring[(p + 28) % 31]) & _MASK32
        ring[p] = v
        self._pos = (p + 1) % 31
        return v

    def rand(self) -> int:
        """The next ``rand()`` value, in [0, RAND_MAX]."""
        return self._step() >> 1

    def uni_rand(self) -> np.float32:
        """``denoise.c``'s ``uni_rand``: ``(float)(rand()/(double)RAND_MAX - .5)``."""
        return np.float32(self.rand() / 2147483647.0 - 0.5)

    def rand_resp(self) -> tuple[np.ndarray, np.ndarray]:
        """``rand_resp(a, b)``: a[0], a[1], b[0], b[1] in that order, each ``.75*uni_rand()``.

        Returns ``(a, b)`` as float32 arrays of two values.
        """
        v = [np.float32(0.75 * float(self.uni_rand())) for _ in range(4)]
        return np.array(v[:2], dtype=np.float32), np.array(v[2:], dtype=np.float32)

    def pow50(self) -> float:
        """``pow(50., rand()/(double)RAND_MAX)`` (libm pow, as C)."""
        return math.pow(50.0, self.rand() / 2147483647.0)


def first_values(n: int, seed: int = 1) -> list[int]:
    """The first ``n`` values of ``rand()`` after ``srand(seed)``."""
    g = GlibcRand(seed)
    return [g.rand() for _ in range(n)]
