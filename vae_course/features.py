"""A small image classifier whose penultimate layer serves as a feature map for the
Fréchet distance and for precision / recall (``vae_course.metrics``).

FID proper uses an Inception-v3 network trained on ImageNet; its weights are not part of
an offline course. A classifier trained on the course's own digits gives features that
know what a digit looks like. Numbers computed on them are "Fréchet distances on this
classifier's features": comparable with each other (same network, image size and sample
count), never with published FID values.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .data import ImageData, Split
from .models import _seeded
from .validation import check_image_shape, check_images, check_int, check_tensor

__all__ = ["FeatureClassifier", "classifier_loss", "accuracy", "train_feature_classifier"]


def _check_pos_int(name, value):
    return check_int(name, value, minimum=1)


class FeatureClassifier(nn.Module):
    """Two stride-2 convolutions, a ``feature_dim``-unit ReLU layer (the features), a linear head.

    ``forward(x)`` gives class logits; ``features(x)`` gives the penultimate activations,
    a (batch, feature_dim) tensor. ``seed`` (optional) initialises the weights from that seed
    without touching torch's global random state.
    """

    def __init__(self, image_shape=(1, 28, 28), num_classes: int = 10, channels: int = 16, feature_dim: int = 64,
                 seed: int | None = None):
        super().__init__()
        image_shape = check_image_shape("image_shape", image_shape)
        for name, v in (("channels", channels), ("feature_dim", feature_dim)):
            _check_pos_int(name, v)
        check_int("num_classes", num_classes, minimum=2)
        with _seeded(seed):
            self._build(image_shape, num_classes, channels, feature_dim)

    def _build(self, image_shape, num_classes, channels, feature_dim):
        c, h, w = image_shape
        self.image_shape = tuple(image_shape)
        self.feature_dim = feature_dim
        self.body = nn.Sequential(
            nn.Conv2d(c, channels, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(),
        )
        flat = 2 * channels * math.ceil(math.ceil(h / 2) / 2) * math.ceil(math.ceil(w / 2) / 2)
        self.penultimate = nn.Sequential(nn.Linear(flat, feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer's activations, (batch, feature_dim), for images (batch, C, H, W) or flat vectors."""
        return self.penultimate(self.body(check_images("x", x, self.image_shape)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (batch, num_classes) for images (batch, C, H, W) or flat vectors."""
        return self.head(self.features(x))


def classifier_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the class logits: a ``loss_fn`` for ``vae_course.train.train``."""
    return F.cross_entropy(model(x), y)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """The share of images ``x`` whose most probable class under ``model`` is the label ``y`` (integers, (N,))."""
    check_tensor("y", y, dtype="integer", ndim=1, what="the labels")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    _check_pos_int("batch_size", batch_size)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = model(x[start : start + batch_size].to(device))
        correct += (logits.argmax(dim=1).cpu() == y[start : start + batch_size].cpu()).sum().item()
    model.train(was_training)
    return correct / max(1, len(x))


def train_feature_classifier(data, epochs: int = 30, batch_size: int = 32, lr: float = 3e-3,
                             feature_dim: int = 64, seed: int = 0, device=None, progress: bool = True,
                             checkpoint=None) -> FeatureClassifier:
    """Train a ``FeatureClassifier`` on ``data`` (an ``ImageData``, or a training ``Split``).

    With ``checkpoint`` (a path): load the weights from it when the file exists, otherwise
    train and save them there, so that later runs reuse the same feature network.
    ``seed`` fixes the initial weights and the training run without changing the caller's
    random state. Returns the classifier in eval mode.
    """
    from .train import load_checkpoint, save_checkpoint, train

    if isinstance(data, ImageData):
        train_split, val_split, num_classes = data.train, data.val, data.num_classes
    elif isinstance(data, Split):
        train_split, val_split = data, None
        num_classes = max(2, int(data.y.max().item()) + 1)
    else:
        raise TypeError(f"data must be an ImageData or a Split, got {type(data).__name__}")
    image_shape = tuple(int(s) for s in train_split.x.shape[1:])
    model = FeatureClassifier(image_shape, num_classes=num_classes, feature_dim=feature_dim, seed=seed)
    if device is not None:
        model.to(device)
    if checkpoint is not None and Path(checkpoint).is_file():
        load_checkpoint(model, checkpoint, device=device)
    else:
        train(model, classifier_loss, train_split, val_split, epochs=epochs, batch_size=batch_size, lr=lr,
              device=device, seed=seed, progress=progress)
        if checkpoint is not None:
            save_checkpoint(model, checkpoint)
    return model.eval()
