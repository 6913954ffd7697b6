"""Deprecated aliases: old names keep working for one release and warn with the new name."""
from __future__ import annotations

import functools
import warnings


def deprecated_alias(new, old_name: str, new_name: str):
    """A function ``old_name`` that warns (``DeprecationWarning``, naming ``new_name``) and calls ``new``."""

    @functools.wraps(new)
    def alias(*args, **kwargs):
        warnings.warn(f"{old_name} is deprecated; use {new_name}", DeprecationWarning, stacklevel=2)
        return new(*args, **kwargs)

    alias.__name__ = old_name.rsplit(".", 1)[-1]
    alias.__qualname__ = alias.__name__
    alias.__doc__ = f"Deprecated: use ``{new_name}`` (same arguments unless stated).\n\n" + (new.__doc__ or "")
    alias.__deprecated__ = new_name
    return alias


def warn_module(old: str, new: str) -> None:
    """Warn once per import that module ``old`` is deprecated in favour of ``new``."""
    warnings.warn(f"{old} is deprecated; use {new}", DeprecationWarning, stacklevel=3)
