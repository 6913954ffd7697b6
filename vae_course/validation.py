"""Argument checks shared by every public function of ``vae_course``.

Each check either returns the value (converted where that is its job: ``check_int`` gives
an ``int``, ``check_array`` a float64 numpy array) or raises an error whose message names
the argument, says what was wrong and what is allowed:

    >>> check_int("K", 0, minimum=1, what="the number of importance samples")
    Traceback (most recent call last):
    ...
    ValueError: K (the number of importance samples) must be >= 1, got 0

``TypeError`` is raised for a value of the wrong kind (a string where a number belongs, an
integer tensor where a floating-point one is needed), ``ValueError`` for a value of the
right kind that is not allowed (out of range, wrong shape, NaN, not symmetric). Every check
takes the argument's ``name`` first and an optional ``what`` that explains it in words.

The checks are general on purpose: numbers (``check_int``, ``check_number``,
``check_bool``), choices (``check_choice``), callables and generators, torch tensors
(``check_tensor``: dtype, number of dimensions, shape with wildcards, finiteness, range),
numpy-or-torch arrays (``check_array``), probability vectors, covariance matrices
(``check_covariance``: square, symmetric, positive definite, for numpy and torch alike) and
image batches (``check_images``: N x C x H x W, or flat vectors that are reshaped).
"""
from __future__ import annotations

import math
import numbers
from typing import Iterable, Sequence

import numpy as np
import torch

__all__ = [
    "check_array",
    "check_bool",
    "check_callable",
    "check_choice",
    "check_covariance",
    "check_generator",
    "check_images",
    "check_image_shape",
    "check_int",
    "check_number",
    "check_probability_vector",
    "check_same_shape",
    "check_symmetric",
    "check_tensor",
]


def _label(name: str, what: str | None) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string naming the argument, got {name!r}")
    return f"{name} ({what})" if what else name


def _range_text(minimum, maximum, positive=False, strict_max=False) -> str:
    parts = []
    if positive:
        parts.append("> 0")
    if minimum is not None:
        parts.append(f">= {minimum:g}" if isinstance(minimum, float) else f">= {minimum}")
    if maximum is not None:
        op = "<" if strict_max else "<="
        parts.append(f"{op} {maximum:g}" if isinstance(maximum, float) else f"{op} {maximum}")
    return " and ".join(parts)


# ----------------------------------------------------------------------------- scalars


def check_bool(name: str, value, *, what: str | None = None) -> bool:
    """``value`` if it is ``True`` or ``False`` (a numpy bool too); otherwise ``TypeError``."""
    label = _label(name, what)
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{label} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def check_int(name: str, value, *, minimum: int | None = None, maximum: int | None = None,
              what: str | None = None) -> int:
    """``value`` as an ``int`` if it is an integer (Python or numpy, not a bool) in [minimum, maximum].

    Raises ``TypeError`` for a non-integer (``2.0`` and ``True`` included) and ``ValueError``
    outside the range; the message names the argument and the allowed range.
    """
    label = _label(name, what)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{label} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{label} must be an int {_range_text(minimum, maximum)}, got {value}")
    return value


def check_number(name: str, value, *, minimum: float | None = None, maximum: float | None = None,
                 positive: bool = False, finite: bool = True, what: str | None = None) -> float:
    """``value`` as a ``float`` if it is a real number (not a bool) satisfying the options.

    ``finite=True`` (the default) rejects NaN and +-inf; NaN is always rejected.
    ``positive=True`` requires > 0; ``minimum`` / ``maximum`` are inclusive bounds. A
    zero-dimensional real tensor or numpy scalar counts as a number.
    """
    label = _label(name, what)
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.is_complex() \
            and value.dtype != torch.bool:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{label} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if math.isnan(value) or (finite and math.isinf(value)):
        allowed = _range_text(minimum, maximum, positive) or "any real value"
        raise ValueError(f"{label} must be a finite number ({allowed}), got {value}")
    if (positive and not value > 0) or (minimum is not None and value < minimum) \
            or (maximum is not None and value > maximum):
        raise ValueError(f"{label} must be a number {_range_text(minimum, maximum, positive)}, got {value:g}")
    return value


def check_choice(name: str, value, choices: Iterable, *, what: str | None = None):
    """``value`` if it is one of ``choices`` (compared with ``==``); otherwise ``ValueError`` listing them."""
    label = _label(name, what)
    choices = tuple(choices)
    try:
        ok = not isinstance(value, bool) and value in choices
    except Exception:  # arrays and the like compare elementwise
        ok = False
    if not ok:
        raise ValueError(f"{label} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value


def check_callable(name: str, value, *, what: str | None = None):
    """``value`` if it is callable; ``what`` should say how it is called."""
    label = _label(name, what)
    if not callable(value):
        raise TypeError(f"{label} must be callable, got {type(value).__name__}")
    return value


def check_generator(name: str, value, *, allow_none: bool = True, what: str | None = None):
    """``value`` if it is a ``torch.Generator`` (or ``None`` when ``allow_none``)."""
    label = _label(name, what)
    if value is None and allow_none:
        return None
    if not isinstance(value, torch.Generator):
        allowed = "a torch.Generator or None" if allow_none else "a torch.Generator"
        raise TypeError(f"{label} must be {allowed}, got {type(value).__name__}")
    return value


# ----------------------------------------------------------------------------- tensors and arrays


def _shape_text(shape) -> str:
    inner = ", ".join("*" if s is None else (s if isinstance(s, str) else str(s)) for s in shape)
    return f"({inner}{',' if len(shape) == 1 else ''})"


def _check_shape_pattern(label, actual: tuple, ndim, shape):
    if ndim is not None:
        allowed = ndim if isinstance(ndim, (tuple, list)) else (ndim,)
        if len(actual) not in allowed:
            dims = " or ".join(str(d) for d in allowed)
            raise ValueError(f"{label} must have {dims} dimension(s), got shape {actual}")
    if shape is not None:
        ok = len(actual) == len(shape) and all(
            want is None or isinstance(want, str) or got == want for got, want in zip(actual, shape))
        if not ok:
            raise ValueError(f"{label} must have shape {_shape_text(shape)}, got {actual}")


def _check_values(label, values_min, values_max, has_nan, has_inf, finite, minimum, maximum, positive):
    if has_nan or (finite and has_inf):
        raise ValueError(f"{label} must hold finite values; it holds NaN or inf")
    if values_min is None:  # empty
        return
    if positive and not values_min > 0:
        raise ValueError(f"{label} must be > 0 everywhere, got a minimum of {values_min:.3g}")
    if minimum is not None and values_min < minimum:
        raise ValueError(f"{label} must hold values {_range_text(minimum, maximum)}, got a minimum of {values_min:.3g}")
    if maximum is not None and values_max > maximum:
        raise ValueError(f"{label} must hold values {_range_text(minimum, maximum)}, got a maximum of {values_max:.3g}")


def check_tensor(name: str, value, *, dtype: str | torch.dtype | None = "floating", ndim=None,
                 shape: Sequence | None = None, finite: bool = False, minimum: float | None = None,
                 maximum: float | None = None, positive: bool = False, nonempty: bool = False,
                 what: str | None = None) -> torch.Tensor:
    """``value`` if it is a ``torch.Tensor`` meeting every option; otherwise a clear error.

    - ``dtype``: ``"floating"`` (the default: any floating-point dtype), ``"integer"``, a
      ``torch.dtype``, or ``None`` (anything);
    - ``ndim``: an int or a tuple of allowed numbers of dimensions;
    - ``shape``: a pattern such as ``(None, 3)``; ``None`` or a string entry matches any size
      (a string names the size in the message, e.g. ``("N", 784)``);
    - ``finite``: reject NaN and +-inf (NaN is also rejected whenever a range is given);
    - ``minimum`` / ``maximum`` (inclusive) and ``positive`` (> 0): bounds on every entry;
    - ``nonempty``: require at least one entry.
    """
    label = _label(name, what)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{label} must be a torch.Tensor, got {type(value).__name__}")
    if dtype == "floating":
        if not value.is_floating_point():
            raise TypeError(f"{label} must be a floating-point tensor, got dtype {value.dtype}")
    elif dtype == "integer":
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{label} must be an integer tensor, got dtype {value.dtype}")
    elif dtype is not None and value.dtype != dtype:
        raise TypeError(f"{label} must have dtype {dtype}, got {value.dtype}")
    _check_shape_pattern(label, tuple(value.shape), ndim, shape)
    if nonempty and value.numel() == 0:
        raise ValueError(f"{label} must hold at least one value, got shape {tuple(value.shape)}")
    ranged = minimum is not None or maximum is not None or positive
    if (finite or ranged) and value.numel():
        v = value.detach()
        if not v.is_floating_point():
            v = v.double()
        has_nan = bool(torch.isnan(v).any())
        has_inf = bool(torch.isinf(v).any())
        lo = hi = None
        if ranged and not has_nan:
            lo, hi = v.min().item(), v.max().item()
        _check_values(label, lo, hi, has_nan, has_inf, finite, minimum, maximum, positive)
    return value


def check_array(name: str, value, *, ndim=None, shape: Sequence | None = None, finite: bool = True,
                minimum: float | None = None, maximum: float | None = None, positive: bool = False,
                nonempty: bool = False, what: str | None = None) -> np.ndarray:
    """``value`` (a number, a list, a numpy array or a torch tensor of real numbers) as a
    float64 numpy array meeting the options (as in ``check_tensor``; ``finite`` defaults to True)."""
    label = _label(name, what)
    if isinstance(value, torch.Tensor):
        if value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{label} must hold real numbers, got a tensor of dtype {value.dtype}")
        arr = value.detach().cpu().double().numpy()
    else:
        if value is None or isinstance(value, (str, bytes, dict, set)):
            raise TypeError(f"{label} must be a number or an array of real numbers, got {type(value).__name__}")
        try:
            arr = np.asarray(value)
        except Exception as err:  # ragged nested lists and the like
            raise TypeError(f"{label} must be an array of real numbers: {err}") from None
        if arr.dtype == object or arr.dtype == bool or arr.dtype.kind not in "iuf":
            raise TypeError(f"{label} must hold real numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
    _check_shape_pattern(label, arr.shape, ndim, shape)
    if nonempty and arr.size == 0:
        raise ValueError(f"{label} must hold at least one value, got shape {arr.shape}")
    if arr.size:
        has_nan, has_inf = bool(np.isnan(arr).any()), bool(np.isinf(arr).any())
        lo = hi = None
        if not has_nan and (minimum is not None or maximum is not None or positive):
            lo, hi = float(arr.min()), float(arr.max())
        _check_values(label, lo, hi, has_nan, has_inf, finite, minimum, maximum, positive)
    return arr


def check_same_shape(names: Sequence[str], *values) -> tuple:
    """The common shape of ``values`` (tensors or arrays); ``ValueError`` naming them if they differ."""
    shapes = [tuple(v.shape) for v in values]
    if any(s != shapes[0] for s in shapes):
        listed = ", ".join(f"{n} {s}" for n, s in zip(names, shapes))
        raise ValueError(f"{' and '.join(names)} must have the same shape, got {listed}")
    return shapes[0]


def check_probability_vector(name: str, value, *, atol: float = 1e-6, what: str | None = None) -> np.ndarray:
    """A float64 array of non-negative entries summing to 1 (within ``atol``) along its last axis."""
    label = _label(name, what)
    p = check_array(name, value, what=what)
    if p.ndim < 1 or p.shape[-1] < 1:
        raise ValueError(f"{label} must be a probability vector (at least one entry), got shape {p.shape}")
    if np.any(p < 0):
        raise ValueError(f"{label} must hold probabilities >= 0, got a minimum of {p.min():.3g}")
    sums = p.sum(axis=-1)
    if not np.allclose(sums, 1.0, rtol=0.0, atol=atol):
        raise ValueError(f"{label} must sum to 1 along its last axis (within {atol:g}), sums are {sums}")
    return p


def check_symmetric(name: str, value, *, rtol: float = 1e-8, atol: float = 1e-12, what: str | None = None):
    """``value`` (a numpy array or torch tensor, (..., d, d)) if every matrix equals its transpose
    within ``atol + rtol * |A|`` entrywise (float32 tensors get at least 1e-6 for both)."""
    label = _label(name, what)
    if isinstance(value, torch.Tensor):
        t = value.detach()
        loose = t.dtype != torch.float64
        sym = torch.allclose(t, t.transpose(-1, -2), rtol=max(rtol, 1e-6) if loose else rtol,
                             atol=max(atol, 1e-6) if loose else atol)
        asym = float((t - t.transpose(-1, -2)).abs().max()) if t.numel() else 0.0
    else:
        sym = np.allclose(value, np.swapaxes(value, -1, -2), rtol=rtol, atol=atol)
        asym = float(np.abs(value - np.swapaxes(value, -1, -2)).max()) if np.size(value) else 0.0
    if not sym:
        raise ValueError(f"{label} must be symmetric (each matrix equal to its transpose); "
                         f"the largest |A - A^T| entry is {asym:.3g}")
    return value


def check_covariance(name: str, value, *, batched: bool = True, rtol: float = 1e-8, atol: float = 1e-12,
                     what: str | None = None):
    """Check a covariance matrix (or a stack of them, (..., d, d)) and return its Cholesky factor.

    ``value`` is a numpy array or a torch tensor (already checked for dtype and finiteness);
    it must be square, symmetric (|A - A^T| <= atol + rtol |A| entrywise) and positive
    definite. The lower Cholesky factor comes back in the same library. ``batched=False``
    requires exactly two dimensions.
    """
    label = _label(name, what)
    is_torch = isinstance(value, torch.Tensor)
    shape = tuple(value.shape)
    if len(shape) < 2 or (not batched and len(shape) != 2) or shape[-1] != shape[-2] or shape[-1] == 0:
        want = "(..., d, d)" if batched else "(d, d)"
        raise ValueError(f"{label} must be square matrices of shape {want} with d >= 1, got shape {shape}")
    check_symmetric(name, value, rtol=rtol, atol=atol, what=what)
    if is_torch:
        chol, info = torch.linalg.cholesky_ex(value)
        if bool((info != 0).any()):
            eig = torch.linalg.eigvalsh(0.5 * (value + value.transpose(-1, -2))).min().item()
            raise ValueError(f"{label} must be positive definite; its smallest eigenvalue is {eig:.3g}")
        return chol
    try:
        return np.linalg.cholesky(value)
    except np.linalg.LinAlgError:
        flat = value.reshape(-1, shape[-1], shape[-1])
        for k, cov in enumerate(flat):
            try:
                np.linalg.cholesky(cov)
            except np.linalg.LinAlgError:
                eig = np.linalg.eigvalsh(0.5 * (cov + cov.T)).min()
                where = f"{name}[{k}]" if len(shape) > 2 else label
                raise ValueError(f"{where} must be positive definite (every covariance symmetric with strictly "
                                 f"positive eigenvalues); its smallest eigenvalue is {eig:.3g}") from None
        raise  # pragma: no cover


# ----------------------------------------------------------------------------- images


def check_image_shape(name: str, value, *, what: str | None = None) -> tuple:
    """``value`` as a tuple ``(channels, height, width)`` of positive ints."""
    label = _label(name, what)
    if not (isinstance(value, (tuple, list)) and len(value) == 3
            and all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in value)):
        raise ValueError(f"{label} must be (channels, height, width) of three positive ints, got {value!r}")
    return tuple(int(s) for s in value)


def check_images(name: str, value, image_shape: Sequence[int], *, allow_flat: bool = True, finite: bool = False,
                 minimum: float | None = None, maximum: float | None = None, nonempty: bool = False,
                 what: str | None = None) -> torch.Tensor:
    """A floating-point batch of images of shape (N, C, H, W) with (C, H, W) = ``image_shape``.

    With ``allow_flat`` a batch of flat vectors (N, C*H*W), the way MNIST is often stored,
    is accepted and returned as a view of shape (N, C, H, W); any other shape is an error that
    says how to reshape. The value options are those of ``check_tensor``.
    """
    label = _label(name, what)
    shape = tuple(image_shape)
    check_tensor(name, value, what=what)
    size = math.prod(shape)
    dims = ", ".join(map(str, shape))
    if allow_flat and value.dim() == 2 and value.shape[1] == size:
        value = value.reshape(value.shape[0], *shape)
    elif value.dim() != 4 or tuple(value.shape[1:]) != shape:
        hint = ""
        if value.dim() >= 1 and value.numel() and value.numel() % size == 0:
            hint = f"; reshape it with {name}.view(-1, {dims})"
        flat = f" or flat vectors (N, {size})" if allow_flat else ""
        raise ValueError(f"{label} must be a batch of images of shape (N, {dims}){flat}, "
                         f"got shape {tuple(value.shape)}{hint}")
    return check_tensor(name, value, finite=finite, minimum=minimum, maximum=maximum, nonempty=nonempty, what=what)
