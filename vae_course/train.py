"""A small training loop: in-memory minibatches, a notebook-aware progress bar, a
per-epoch history of every loss part on training and validation data, and checkpoints.

``loss_fn(model, *batch)`` returns either a scalar tensor or a named tuple / dict of
scalar tensors whose first entry (or key ``'total'``) is the loss to minimise, e.g.
``losses.LossParts(total, reconstruction, kl)``. Every part is recorded. A ``loss_fn``
that accepts a ``generator`` keyword (``vae_loss``, ``cvae_loss``) gets the training run's
own generator for its noise.

Randomness: ``train(..., seed=s)`` draws everything from generators seeded with ``s`` (the
shuffling, the model's noise, and anything else drawn from torch's global generator during
the run, which is forked and restored), so two runs with the same arguments are
bit-identical and the caller's random state is the same after the call as before.
"""
from __future__ import annotations

import contextlib
import inspect
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from .data import Split, batches
from .losses import check_beta
from .validation import check_bool, check_callable, check_int, check_number

__all__ = ["History", "train", "evaluate", "vae_loss", "cvae_loss", "ae_loss", "save_checkpoint", "load_checkpoint"]


@dataclass
class History:
    """Per-epoch means of each loss part: ``history.train['total'][epoch]``, ``history.val[...]``."""

    train: dict = field(default_factory=dict)
    val: dict = field(default_factory=dict)
    seconds: list = field(default_factory=list)

    @property
    def epochs(self) -> int:
        """The number of epochs recorded."""
        return len(self.seconds)

    def last(self, split: str = "val", part: str = "total") -> float:
        """The last recorded value of ``part`` on ``split`` ('train' or 'val')."""
        table = {"train": self.train, "val": self.val}.get(split)
        if table is None:
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        if part not in table or not table[part]:
            raise ValueError(f"no {split} values of {part!r} recorded; known parts: {sorted(table)}")
        return table[part][-1]


# ----------------------------------------------------------------------------- loss functions


def vae_loss(beta: float = 1.0) -> Callable:
    """``loss_fn`` for a VAE: the (beta-weighted) negative ELBO; labels in the batch are ignored.

    The returned function is ``loss_fn(model, x, *rest, generator=None)``: ``train`` passes
    its own generator, so the reparameterisation noise is seeded with the shuffling.
    """
    beta = check_beta(beta)

    def loss_fn(model, x, *rest, generator=None):
        return model.loss(x, beta=beta, generator=generator)

    return loss_fn


def cvae_loss(beta: float = 1.0) -> Callable:
    """``loss_fn`` for a conditional VAE: batches are (x, y); ``generator`` as in ``vae_loss``."""
    beta = check_beta(beta)

    def loss_fn(model, x, y, generator=None):
        return model.loss(x, y, beta=beta, generator=generator)

    return loss_fn


def ae_loss(model, x, *rest, generator=None):
    """L_AE: the squared reconstruction error summed over pixels, averaged over the batch.

    ``x`` may be images or flat vectors; ``generator`` is accepted and unused (no noise).
    """
    out = model(x)
    return (out - x.reshape(out.shape)).pow(2).flatten(1).sum(dim=1).mean()


def _takes_generator(loss_fn) -> bool:
    """Whether ``loss_fn`` accepts a ``generator`` keyword (or any keyword)."""
    try:
        params = inspect.signature(loss_fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "generator" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
               or p.kind == p.VAR_KEYWORD for p in params)


def _call(loss_fn, batch, generator, takes_generator):
    if takes_generator and generator is not None:
        return loss_fn(*batch, generator=generator)
    return loss_fn(*batch)


def _parts(result):
    if isinstance(result, torch.Tensor):
        if result.dim() != 0:
            raise ValueError(f"loss_fn must return a scalar, got a tensor of shape {tuple(result.shape)}")
        return {"total": result}
    if isinstance(result, dict):
        if "total" not in result:
            raise ValueError(f"a dict returned by loss_fn needs a 'total' key, got keys {sorted(result)}")
        return result
    if isinstance(result, tuple) and hasattr(result, "_asdict"):
        d = result._asdict()
        first = next(iter(d))
        return {"total": d[first], **{k: v for k, v in d.items() if k != first}}
    raise TypeError(f"loss_fn must return a scalar tensor, a dict or a named tuple, got {type(result).__name__}")


def _as_tensors(data, name):
    if isinstance(data, Split):
        return (data.x, data.y)
    if isinstance(data, torch.Tensor):
        return (data,)
    if isinstance(data, (tuple, list)) and data and all(isinstance(t, torch.Tensor) for t in data):
        return tuple(data)
    raise TypeError(f"{name} must be a Split, a tensor or a tuple of tensors, got {type(data).__name__}")


@torch.no_grad()
def evaluate(model, loss_fn, data, batch_size: int = 512, device=None, generator=None) -> dict:
    """Mean of each loss part over ``data`` (model in eval mode, no gradients).

    ``data`` is a ``Split``, a tensor or a tuple of tensors; ``loss_fn(model, *batch)`` as in
    ``train``. A noisy ``loss_fn`` that takes a ``generator`` keyword draws from ``generator``
    (or torch's global generator when it is None). Returns ``{part: mean}`` as floats.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_callable("loss_fn", loss_fn, what="called as loss_fn(model, *batch)")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    takes_generator = _takes_generator(loss_fn)
    tensors = _as_tensors(data, "data")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    sums, n = {}, 0
    for batch in batches(*tensors, batch_size=batch_size, shuffle=False):
        batch = batch if isinstance(batch, tuple) else (batch,)
        batch = tuple(t.to(device) for t in batch)
        parts = _parts(_call(loss_fn, (model, *batch), generator, takes_generator))
        m = len(batch[0])
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + v.detach() * m
        n += m
    model.train(was_training)
    return {k: (v / n).item() for k, v in sums.items()}


def train(
    model: torch.nn.Module,
    loss_fn: Callable,
    train_data,
    val_data=None,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    device=None,
    seed: int | None = 0,
    progress: bool = True,
    on_epoch_end: Callable | None = None,
    history: History | None = None,
) -> History:
    """Train ``model`` with Adam(lr) (or ``optimizer``) for ``epochs`` passes over ``train_data``.

    ``train_data`` / ``val_data``: a ``Split``, a tensor or a tuple of tensors (moved to the
    model's device once and sliced into minibatches there). ``loss_fn(model, *batch)``
    returns the loss (see the module docstring). ``epochs`` >= 0 and ``batch_size`` >= 1 are
    ints, ``lr`` a finite number > 0.

    ``seed`` (an int >= 0) makes the run reproducible without touching the caller's random
    state: the shuffling and the model's reparameterisation noise (passed to a ``loss_fn`` that
    takes a ``generator`` keyword) come from generators seeded with it, and torch's global
    generators are forked, seeded with it for the run, and restored afterwards (so a custom
    ``loss_fn`` that calls ``model(x)``, or dropout, is seeded too). Two runs with the same
    arguments and the same initial model are bit-identical on the same machine. With
    ``seed=None`` everything comes from torch's global generator, as in plain torch.
    ``on_epoch_end(epoch, history)`` is called after each epoch (epoch counts from 0); pass
    ``history`` to continue an earlier run's record. Returns the ``History``; the model is
    left in eval mode.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_callable("loss_fn", loss_fn, what="called as loss_fn(model, *batch)")
    epochs = check_int("epochs", epochs, minimum=0)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if optimizer is None:
        lr = check_number("lr", lr, positive=True, what="the learning rate")
    if seed is not None:
        seed = check_int("seed", seed, minimum=0)
    progress = check_bool("progress", progress)
    if on_epoch_end is not None:
        check_callable("on_epoch_end", on_epoch_end, what="called as on_epoch_end(epoch, history)")
    if history is not None and not isinstance(history, History):
        raise TypeError(f"history must be a History from an earlier run or None, got {type(history).__name__}")

    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    tensors = tuple(t.to(device) for t in _as_tensors(train_data, "train_data"))
    val_tensors = None if val_data is None else tuple(t.to(device) for t in _as_tensors(val_data, "val_data"))
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    history = history or History()
    takes_generator = _takes_generator(loss_fn)
    shuffle_gen = noise_gen = None
    if seed is not None:
        shuffle_gen = torch.Generator().manual_seed(seed)
        noise_gen = torch.Generator(device=device).manual_seed(seed + 1)

    with _forked_global_rng(device, seed):
        bar = tqdm(range(epochs), desc="epochs", disable=not progress or _quiet())
        for epoch in bar:
            start = time.perf_counter()
            model.train()
            sums, n = {}, 0
            for batch in batches(*tensors, batch_size=batch_size, shuffle=True, generator=shuffle_gen):
                batch = batch if isinstance(batch, tuple) else (batch,)
                parts = _parts(_call(loss_fn, (model, *batch), noise_gen, takes_generator))
                optimizer.zero_grad(set_to_none=True)
                parts["total"].backward()
                optimizer.step()
                m = len(batch[0])
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0.0) + v.detach() * m
                n += m
            for k, v in sums.items():
                history.train.setdefault(k, []).append((v / n).item())
            if val_tensors is not None:
                for k, v in evaluate(model, loss_fn, val_tensors, device=device, generator=noise_gen).items():
                    history.val.setdefault(k, []).append(v)
            history.seconds.append(time.perf_counter() - start)
            post = {"train": f"{history.train['total'][-1]:.4g}"}
            if val_tensors is not None:
                post["val"] = f"{history.val['total'][-1]:.4g}"
            bar.set_postfix(post)
            if on_epoch_end is not None:
                on_epoch_end(epoch, history)
    model.eval()
    return history


@contextlib.contextmanager
def _forked_global_rng(device, seed):
    """Run a block with torch's global generators (CPU and ``device``'s) seeded with ``seed``,
    restoring their states afterwards; a no-op when ``seed`` is None."""
    if seed is None:
        yield
        return
    kind = device.type if device.type in ("cuda", "mps") else None
    if kind == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    else:
        devices = [0] if kind == "mps" else []
    with torch.random.fork_rng(devices=devices, device_type=kind or "cuda"):
        torch.default_generator.manual_seed(seed)
        if kind == "cuda":
            with torch.cuda.device(devices[0]):
                torch.cuda.manual_seed(seed)
        elif kind == "mps":
            torch.mps.manual_seed(seed)
        yield


def _quiet() -> bool:
    return os.environ.get("VAE_COURSE_PROGRESS", "1").strip().lower() in {"0", "false", "no", "off"}


def save_checkpoint(model: torch.nn.Module, path) -> Path:
    """Save the model's state_dict (tensors only: loads with ``torch.load(weights_only=True)``)."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)
    return path


def load_checkpoint(model: torch.nn.Module, path, device=None) -> torch.nn.Module:
    """Load a state_dict saved by ``save_checkpoint`` into ``model`` (safely: weights only)."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    if device is not None:
        model.to(device)
    return model
