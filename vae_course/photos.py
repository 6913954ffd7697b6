"""Natural images offline: small colour patches cut from scikit-learn's two sample photographs.

scikit-learn ships two colour photographs, 427 x 640 pixels each (``load_sample_images``):
``china.jpg`` (a pagoda, sky, a lake and trees) and ``flower.jpg`` (a dahlia on a dark green
background). ``load_photo_patches`` cuts them into 32 x 32 patches, a stand-in for CIFAR-10
(3 x 32 x 32) that needs no download. The label of a patch is the photograph it comes from
(0 = china, 1 = flower), so ``num_classes`` is 2.

How the split keeps test pixels out of training. Each photograph is divided into square
**blocks** (``block`` pixels wide, the grid centred on the photograph). Every block goes,
as a whole, to the training, validation or test split (drawn with ``seed``, separately for
each photograph, so that both labels appear in every split). Patches are then cut only
*inside* a block: at full resolution with a step of ``stride`` pixels, and, for each factor
``f`` in ``scales`` other than 1, from the photograph shrunk ``f`` times (mean of each f x f
square of pixels, rounded to 8 bits like the photograph), where a 32 x 32 patch shows a wider view of f*32 x f*32 original pixels.
Overlapping patches of one block are like shifted crops (augmentation); patches of two
different blocks share no pixel, so no test pixel is ever seen in training.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .data import ImageData, Split
from .validation import check_int, check_number

__all__ = ["PHOTO_NAMES", "load_photos", "load_photo_patches"]

PHOTO_NAMES = ("china", "flower")  # the label of a patch is the index of its photograph here


def _check_int(name, value, minimum):
    return check_int(name, value, minimum=minimum)


def _check_fraction(name, value):
    value = check_number(name, value, minimum=0.0)
    if not value < 0.5:
        raise ValueError(f"{name} must be a number in [0, 0.5), got {value:g}")
    return value


def load_photos() -> torch.Tensor:
    """scikit-learn's two sample photographs as a uint8 tensor (2, 3, 427, 640), 0..255,
    in the order of ``PHOTO_NAMES``."""
    from sklearn.datasets import load_sample_images

    bunch = load_sample_images()
    by_name = {}
    for filename, image in zip(bunch.filenames, bunch.images):
        stem = str(filename).replace("\\", "/").rsplit("/", 1)[-1].split(".")[0]
        by_name[stem] = image
    missing = [name for name in PHOTO_NAMES if name not in by_name]
    if missing:
        raise RuntimeError(f"scikit-learn's sample images lack {missing}; found {sorted(by_name)}")
    stack = np.stack([by_name[name] for name in PHOTO_NAMES])  # (2, H, W, 3) uint8
    return torch.from_numpy(stack).permute(0, 3, 1, 2).contiguous()


def _block_patches(block_image: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """All size x size patches of a (3, h, w) image at a step of ``stride``: (n, 3, size, size)."""
    p = block_image.unfold(1, size, stride).unfold(2, size, stride)  # (3, rows, cols, size, size)
    return p.permute(1, 2, 0, 3, 4).reshape(-1, block_image.shape[0], size, size)


def load_photo_patches(
    size: int = 32,
    block: int = 96,
    stride: int = 8,
    scales: tuple[int, ...] = (1, 2),
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> ImageData:
    """Labelled 32 x 32 colour patches of scikit-learn's two sample photographs, offline.

    Returns an ``ImageData`` named ``'photo-patches'``: images (N, 3, size, size), float32 in
    [0, 1]; labels int64, the photograph (0 = china, 1 = flower; ``PHOTO_NAMES``); two classes.
    With the defaults: 48 blocks of 96 x 96 pixels (24 per photograph), 90 patches per block
    (81 at full resolution, 9 from the photograph shrunk twice), 4,320 patches in all; per
    photograph 4 blocks each for validation and test (``round(24 * fraction)``), 16 for training.

    - ``size``: patch side in pixels (>= 4);
    - ``block``: side of the blocks that are assigned to the splits as a whole; a multiple of
      every factor in ``scales`` and at least ``size`` times the largest factor;
    - ``stride``: step between neighbouring patches inside a block (>= 1);
    - ``scales``: shrink factors of the photograph (distinct ints >= 1); 1 is full resolution;
    - ``val_fraction``, ``test_fraction``: share of each photograph's blocks in [0, 0.5) for
      the validation and the test split; at least one block per photograph stays for training;
    - ``seed``: which blocks go where, and the order of the patches in each split.

    The split is a function of the arguments only: the same arguments give the same tensors.
    """
    size = _check_int("size", size, 4)
    block = _check_int("block", block, 1)
    stride = _check_int("stride", stride, 1)
    seed = _check_int("seed", seed, 0)
    val_fraction = _check_fraction("val_fraction", val_fraction)
    test_fraction = _check_fraction("test_fraction", test_fraction)
    if isinstance(scales, (str, bytes)) or not hasattr(scales, "__iter__"):
        raise TypeError(f"scales must be a tuple of ints such as (1, 2), got {scales!r}")
    scales = tuple(scales)
    if not scales:
        raise ValueError("scales must hold at least one factor, e.g. (1,)")
    for i, f in enumerate(scales):
        _check_int(f"scales[{i}]", f, 1)
    if len(set(scales)) != len(scales):
        raise ValueError(f"scales must not repeat a factor, got {scales}")
    for f in scales:
        if block % f:
            raise ValueError(f"block must be a multiple of every factor in scales; {block} is not a multiple of {f}")
        if block // f < size:
            raise ValueError(
                f"block must be at least size x the largest factor in scales ({size} x {f} = {size * f}), got {block}"
            )

    photos = load_photos()
    _, channels, height, width = photos.shape
    rows, cols = height // block, width // block
    if rows < 1 or cols < 1:
        raise ValueError(f"block must be at most the photographs' smaller side ({min(height, width)} pixels), got {block}")
    n_blocks = rows * cols
    n_test = int(round(n_blocks * test_fraction))
    n_val = int(round(n_blocks * val_fraction))
    if n_test + n_val >= n_blocks:
        raise ValueError(
            f"val_fraction and test_fraction leave no training block: each photograph has {n_blocks} blocks, "
            f"{n_val} would go to validation and {n_test} to test; use smaller fractions or a smaller block"
        )
    top, left = (height - rows * block) // 2, (width - cols * block) // 2

    generator = torch.Generator().manual_seed(seed)
    parts = {"train": ([], []), "val": ([], []), "test": ([], [])}
    for label in range(len(PHOTO_NAMES)):
        photo = photos[label, :, top : top + rows * block, left : left + cols * block]
        # shrinking averages f x f squares of pixels and rounds back to 0..255
        shrunk = {f: photo if f == 1 else F.avg_pool2d(photo.unsqueeze(0).float(), f).squeeze(0).round().to(torch.uint8)
                  for f in scales}
        order = torch.randperm(n_blocks, generator=generator).tolist()
        assignment = {}
        for rank, b in enumerate(order):
            assignment[b] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
        for b in range(n_blocks):
            r, c = divmod(b, cols)
            for f in scales:
                side = block // f
                region = shrunk[f][:, r * side : (r + 1) * side, c * side : (c + 1) * side]
                patches = _block_patches(region, size, stride)
                parts[assignment[b]][0].append(patches)
                parts[assignment[b]][1].append(torch.full((len(patches),), label, dtype=torch.int64))

    splits = {}
    for name, (xs, ys) in parts.items():
        if xs:
            x, y = torch.cat(xs), torch.cat(ys)
            perm = torch.randperm(len(x), generator=generator)
            x, y = x[perm].float().div_(255.0), y[perm]
        else:
            x, y = torch.empty(0, channels, size, size), torch.empty(0, dtype=torch.int64)
        splits[name] = Split(x, y)
    return ImageData("photo-patches", splits["train"], splits["val"], splits["test"], num_classes=len(PHOTO_NAMES))
