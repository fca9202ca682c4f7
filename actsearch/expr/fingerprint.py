"""Functional fingerprints: equal fingerprints mean (numerically) equivalent activations."""

from __future__ import annotations

import hashlib

import numpy as np

# 32 magnitudes spaced geometrically over [0.01, 10] (incl. 0.01 .. 0.5 for the
# small-input behaviour), with both signs: 64 probe points, 0 left out so that
# functions differing only at a removable point (sinc-like) stay equal.
_MAGNITUDES = np.round(np.geomspace(0.01, 10.0, 32), 4)
PROBE_POINTS: np.ndarray = np.concatenate([-_MAGNITUDES[::-1], _MAGNITUDES])
FINGERPRINT_DIGITS = 6


def _token(value: float) -> str:
    """Deterministic text of one output: 6 significant digits, -0 -> 0, nan/inf spelled out."""
    if np.isnan(value):
        return "nan"
    if np.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = f"{value:.{FINGERPRINT_DIGITS}g}"
    return "0" if float(text) == 0 else text


_FORMAT = f"%.{FINGERPRINT_DIGITS}g"


def fingerprint_of(outputs: np.ndarray) -> str:
    """sha256 of the rounded outputs on PROBE_POINTS, first 16 hex digits.

    The text is that of `_token` for every output; printed in one pass ("%g" spells nan,
    inf and -inf as `_token` does, and only -0.0 prints as a zero with a sign)."""
    values = np.asarray(outputs, dtype=np.float64).ravel().tolist()
    text = ",".join(["0" if token == "-0" else token for token in [_FORMAT % v for v in values]])
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]
