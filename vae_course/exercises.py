"""Checks for the visible tests of exercises: on failure they say what was expected
and what came back (shape, values, tolerance) instead of a bare ``AssertionError``."""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["check_close", "check_shape", "check_true"]


def _as_array(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _brief(a: np.ndarray) -> str:
    return np.array2string(a, precision=4, threshold=8, edgeitems=2, suppress_small=True)


def check_shape(name: str, got, expected_shape) -> None:
    """Fail with a readable message unless ``got`` has shape ``expected_shape``."""
    if got is None:
        raise AssertionError(f"{name}: expected an array of shape {tuple(expected_shape)}, got None (did the function return?)")
    shape = tuple(_as_array(got).shape)
    if shape != tuple(expected_shape):
        raise AssertionError(f"{name}: expected shape {tuple(expected_shape)}, got shape {shape}")


def check_close(name: str, got, expected, atol: float = 1e-6, rtol: float = 1e-5) -> None:
    """Fail with a readable message unless ``got`` equals ``expected`` within the tolerance."""
    if got is None:
        raise AssertionError(f"{name}: expected {_brief(_as_array(expected))}, got None (did the function return?)")
    g, e = _as_array(got).astype(float), _as_array(expected).astype(float)
    if g.shape != e.shape:
        raise AssertionError(f"{name}: expected shape {e.shape}, got shape {g.shape}")
    if not np.all(np.isfinite(g)):
        raise AssertionError(f"{name}: the result holds NaN or inf values: {_brief(g)}")
    if not np.allclose(g, e, atol=atol, rtol=rtol):
        worst = np.unravel_index(np.argmax(np.abs(g - e)), g.shape) if g.shape else ()
        raise AssertionError(
            f"{name}: expected {_brief(e)}, got {_brief(g)} "
            f"(largest difference {np.abs(g - e).max():.3g} at index {worst}; tolerance atol={atol}, rtol={rtol})"
        )


def check_true(name: str, condition: bool, message: str) -> None:
    """Fail with ``name: message`` unless ``condition`` holds."""
    if not bool(condition):
        raise AssertionError(f"{name}: {message}")
