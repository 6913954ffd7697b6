"""A small training loop: in-memory minibatches, a notebook-aware progress bar, a
per-epoch history of every loss part on training and validation data, and checkpoints.

``loss_fn(model, *batch)`` returns either a scalar tensor or a named tuple / dict of
scalar tensors whose first entry (or key ``'total'``) is the loss to minimise, e.g.
``losses.LossParts(total, reconstruction, kl)``. Every part is recorded.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from .data import Split, batches

__all__ = ["History", "train", "evaluate", "vae_loss", "cvae_loss", "ae_loss", "save_checkpoint", "load_checkpoint"]


@dataclass
class History:
    """Per-epoch means of each loss part: ``history.train['total'][epoch]``, ``history.val[...]``."""

    train: dict = field(default_factory=dict)
    val: dict = field(default_factory=dict)
    seconds: list = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.seconds)

    def last(self, split: str = "val", part: str = "total") -> float:
        table = {"train": self.train, "val": self.val}.get(split)
        if table is None:
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        if part not in table or not table[part]:
            raise ValueError(f"no {split} values of {part!r} recorded; known parts: {sorted(table)}")
        return table[part][-1]


# ----------------------------------------------------------------------------- loss functions


def vae_loss(beta: float = 1.0) -> Callable:
    """``loss_fn`` for a VAE: the (beta-weighted) negative ELBO; labels in the batch are ignored."""
    from .losses import check_beta

    beta = check_beta(beta)

    def loss_fn(model, x, *rest):
        return model.loss(x, beta=beta)

    return loss_fn


def cvae_loss(beta: float = 1.0) -> Callable:
    """``loss_fn`` for a conditional VAE: batches are (x, y)."""
    from .losses import check_beta

    beta = check_beta(beta)

    def loss_fn(model, x, y):
        return model.loss(x, y, beta=beta)

    return loss_fn


def ae_loss(model, x, *rest):
    """L_AE: the squared reconstruction error summed over pixels, averaged over the batch."""
    return (model(x) - x).pow(2).flatten(1).sum(dim=1).mean()


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
def evaluate(model, loss_fn, data, batch_size: int = 512, device=None) -> dict:
    """Mean of each loss part over ``data`` (model in eval mode, no gradients)."""
    tensors = _as_tensors(data, "data")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    sums, n = {}, 0
    for batch in batches(*tensors, batch_size=batch_size, shuffle=False):
        batch = batch if isinstance(batch, tuple) else (batch,)
        batch = tuple(t.to(device) for t in batch)
        parts = _parts(loss_fn(model, *batch))
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

    The data are moved to the model's device once and sliced into minibatches there.
    ``seed`` fixes the shuffling and the model's sampling noise, so two runs on the CPU
    give the same numbers. ``on_epoch_end(epoch, history)`` is called after each epoch
    (epoch counts from 0); pass ``history`` to continue an earlier run's record.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError("loss_fn must be callable as loss_fn(model, *batch)")
    for name, v in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if optimizer is None and not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be a number > 0, got {lr!r}")

    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    tensors = tuple(t.to(device) for t in _as_tensors(train_data, "train_data"))
    val_tensors = None if val_data is None else tuple(t.to(device) for t in _as_tensors(val_data, "val_data"))
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    history = history or History()
    generator = None
    if seed is not None:
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)

    bar = tqdm(range(epochs), desc="epochs", disable=not progress or _quiet())
    for epoch in bar:
        start = time.perf_counter()
        model.train()
        sums, n = {}, 0
        for batch in batches(*tensors, batch_size=batch_size, shuffle=True, generator=generator):
            batch = batch if isinstance(batch, tuple) else (batch,)
            parts = _parts(loss_fn(model, *batch))
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
            for k, v in evaluate(model, loss_fn, val_tensors, device=device).items():
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
