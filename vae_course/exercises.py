"""Checks for the visible tests of exercises.

On failure they raise an ``AssertionError`` whose message says what was expected and what
came back (type, shape, values, the largest difference and the tolerance) instead of a bare
``AssertionError``; an answer that returns ``None`` (a function without ``return``) or the
wrong type of object gets a message that says so.

    check_close("kl_to_standard_normal", got, expected, atol=1e-6)
    check_shape("encoder output", z, (5, 3))
    check_type("elbo_1d", value, float)
    check_true("decoder outputs", bool((out > 0).all()), "should lie inside (0, 1)")

The first argument names what is checked (shown first in the message). A mistake in the
test itself (a negative tolerance, a shape that is not a tuple of ints) raises ``TypeError``
or ``ValueError`` instead, so that it cannot be mistaken for a wrong answer.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from .validation import check_number

__all__ = ["check_close", "check_shape", "check_true", "check_type"]

_NONE_HINT = "got None (does the function end with `return ...`?)"


def _check_name(name) -> None:
    if not isinstance(name, str):
        raise TypeError(f"name must be a string that says what is checked, got {type(name).__name__}")


def _describe(value) -> str:
    """A short description of an object for a message: its type and, for arrays, its shape and dtype."""
    if value is None:
        return "None"
    if isinstance(value, torch.Tensor):
        return f"a torch.Tensor of shape {tuple(value.shape)} and dtype {str(value.dtype).replace('torch.', '')}"
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} item(s)"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {text!r}"
    if isinstance(value, (bool, numbers.Number, np.generic)):
        return f"the {type(value).__name__} {value!r}"
    return f"an object of type {type(value).__name__}"


def _numeric(name: str, value, role: str) -> np.ndarray:
    """``value`` as a float (or complex) numpy array; an ``AssertionError`` that names ``role`` if it is not numeric."""
    if value is None:
        raise AssertionError(f"{name}: expected {role}, {_NONE_HINT}")
    if isinstance(value, (str, bytes, dict, set)) or callable(value) and not isinstance(value, torch.Tensor):
        raise AssertionError(f"{name}: expected {role}, got {_describe(value)}")
    try:
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu()
            if t.dtype in (torch.bfloat16, torch.float16):
                t = t.float()
            arr = t.numpy()
        elif isinstance(value, (list, tuple)):
            items = [v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v for v in value]
            arr = np.asarray(items)
        else:
            arr = np.asarray(value)
        if arr.dtype == object or arr.dtype.kind not in "biufc":
            raise ValueError
        return arr.astype(complex if arr.dtype.kind == "c" else float)
    except (ValueError, TypeError, RuntimeError):
        raise AssertionError(f"{name}: expected {role}, got {_describe(value)} that is not an array of numbers") from None


def _brief(a: np.ndarray) -> str:
    return np.array2string(np.asarray(a), precision=4, threshold=8, edgeitems=2, suppress_small=True)


def _shape_hint(got: tuple, expected: tuple) -> str:
    if math.prod(got) == math.prod(expected):
        return " (same number of elements: a reshape, a transpose or a kept/dropped dimension?)"
    if len(got) == len(expected) + 1 and got[1:] == expected:
        return " (an extra leading dimension: a sum or mean over the batch missing?)"
    if len(got) + 1 == len(expected) and got == expected[1:]:
        return " (the leading dimension is missing: reduced over the batch too early?)"
    return ""


def check_type(name: str, got, expected_type) -> None:
    """Fail with a readable message unless ``got`` is an instance of ``expected_type`` (a type or a tuple of types)."""
    _check_name(name)
    types = expected_type if isinstance(expected_type, tuple) else (expected_type,)
    if not types or not all(isinstance(t, type) for t in types):
        raise TypeError(f"expected_type must be a type or a tuple of types, got {expected_type!r}")
    if isinstance(got, types) and not (isinstance(got, bool) and bool not in types and int in types):
        return
    wanted = " or ".join(t.__module__ + "." + t.__qualname__ if t.__module__ not in ("builtins",) else t.__name__
                         for t in types)
    if got is None:
        raise AssertionError(f"{name}: expected {wanted}, {_NONE_HINT}")
    raise AssertionError(f"{name}: expected {wanted}, got {_describe(got)}")


def check_shape(name: str, got, expected_shape) -> None:
    """Fail with a readable message unless ``got`` (tensor, array, list or number) has shape ``expected_shape``."""
    _check_name(name)
    try:
        if isinstance(expected_shape, (str, bytes)):
            raise TypeError
        expected = tuple(int(d) for d in expected_shape)
    except (TypeError, ValueError):
        raise TypeError(f"expected_shape must be a tuple of ints such as (5, 3), got {expected_shape!r}") from None
    if any(d < 0 for d in expected):
        raise ValueError(f"expected_shape must hold sizes >= 0, got {expected}")
    if got is None:
        raise AssertionError(f"{name}: expected an array of shape {expected}, {_NONE_HINT}")
    if isinstance(got, (torch.Tensor, np.ndarray, np.generic)):
        shape = tuple(got.shape)
    else:
        shape = tuple(_numeric(name, got, f"an array of shape {expected}").shape)
    if shape != expected:
        raise AssertionError(f"{name}: expected shape {expected}, got shape {shape}{_shape_hint(shape, expected)}")


def check_close(name: str, got, expected, atol: float = 1e-6, rtol: float = 1e-5) -> None:
    """Fail with a readable message unless ``got`` equals ``expected`` within ``atol + rtol * |expected|``.

    Both may be tensors (any device, with or without gradient), arrays, numbers or lists.
    Infinities must match (same sign, same place); NaN never matches.
    """
    _check_name(name)
    for arg, tol in (("atol", atol), ("rtol", rtol)):
        check_number(arg, tol, minimum=0, what="a tolerance")
    e = _numeric(name, expected, "an expected value")  # a mistake in the test, but say it readably anyway
    what = f"a value of shape {e.shape}" if e.shape else "a number"
    g = _numeric(name, got, what)
    if g.shape != e.shape:
        raise AssertionError(
            f"{name}: expected shape {e.shape}, got shape {g.shape}{_shape_hint(g.shape, e.shape)}; "
            f"expected {_brief(e)}, got {_brief(g)}"
        )
    bad_nan = np.isnan(g)
    if bad_nan.any():
        raise AssertionError(f"{name}: the result holds NaN at {int(bad_nan.sum())} place(s): {_brief(g)}; expected {_brief(e)}")
    inf_g, inf_e = np.isinf(g), np.isinf(e)
    if (inf_g | inf_e).any():
        mismatch = (inf_g != inf_e) | (inf_g & inf_e & (np.sign(g.real) != np.sign(e.real)))
        if mismatch.any():
            raise AssertionError(f"{name}: infinite values do not match: expected {_brief(e)}, got {_brief(g)}")
    finite = ~(inf_g | inf_e)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(finite, np.abs(g - e), 0.0)
        allowed = atol + rtol * np.abs(np.where(finite, e, 0.0))
    wrong = diff > allowed
    if wrong.any():
        worst = np.unravel_index(np.argmax(np.where(wrong, diff - allowed, -np.inf)), g.shape) if g.shape else ()
        where = f" at index {tuple(int(i) for i in worst)}" if g.shape else ""
        count = f"{int(wrong.sum())} of {wrong.size} values differ; " if g.size > 1 else ""
        raise AssertionError(
            f"{name}: expected {_brief(e)}, got {_brief(g)} ({count}largest difference "
            f"{float(diff[worst]):.3g}{where}; tolerance atol={atol}, rtol={rtol})"
        )


def check_true(name: str, condition, message: str) -> None:
    """Fail with ``name: message`` unless ``condition`` holds (a bool, or a one-element tensor/array)."""
    _check_name(name)
    if not isinstance(message, str):
        raise TypeError(f"message must be a string, got {type(message).__name__}")
    if condition is None:
        raise AssertionError(f"{name}: {message} (the condition is None)")
    if isinstance(condition, (torch.Tensor, np.ndarray)):
        size = condition.numel() if isinstance(condition, torch.Tensor) else condition.size
        if size != 1:
            raise AssertionError(f"{name}: {message} (the check got {_describe(condition)} instead of one truth value)")
        condition = condition.item()
    if not bool(condition):
        raise AssertionError(f"{name}: {message}")
