"""The Mutual Information Gap (MIG), a disentanglement score computed from known factors.

For each generative factor v_k, rank the latent dimensions z_j by their mutual information
I(z_j; v_k) with it; the factor's gap is the difference between the largest and the second
largest, divided by the factor's entropy H(v_k) so that it lies in [0, 1]:

    gap_k = (I(z_{j1}; v_k) - I(z_{j2}; v_k)) / H(v_k),        MIG = mean_k gap_k.

A gap near 1 means one latent dimension holds all the information about the factor and no
other holds any; near 0, the information is shared (or absent). Continuous latents are
discretised into ``n_bins`` equal-width bins over their range, and the mutual informations
are the plug-in (histogram) estimates, in nats. Factors must be discrete (integer indices).

Reference: R. T. Q. Chen, X. Li, R. Grosse, D. Duvenaud, "Isolating Sources of
Disentanglement in Variational Autoencoders", NeurIPS 2018.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .validation import check_array, check_int

__all__ = ["MIGResult", "discretize", "entropy", "mutual_information", "mutual_information_matrix", "mutual_information_gap"]


class MIGResult(NamedTuple):
    """What ``mutual_information_gap`` returns.

    - ``score``: the MIG, the mean of the gaps (a float in [0, 1]);
    - ``gaps``: (K,) the normalised gap of each factor;
    - ``mutual_info``: (J, K) the estimates I(z_j; v_k) in nats;
    - ``factor_entropy``: (K,) H(v_k) in nats;
    - ``best_latent``: (K,) the index j of the latent dimension most informative about each factor.
    """

    score: float
    gaps: np.ndarray
    mutual_info: np.ndarray
    factor_entropy: np.ndarray
    best_latent: np.ndarray


# ----------------------------------------------------------------------------- checks


def _to_numpy(name, a):
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array or a torch.Tensor, got {type(a).__name__}")
    return a


def _check_latents(latents):
    z = check_array("latents", _to_numpy("latents", latents), shape=("N", "J"))
    if z.shape[0] < 2:
        raise ValueError(f"latents must hold at least 2 examples, got {z.shape[0]}")
    return z


def _check_labels(name, a, ndim):
    a = _to_numpy(name, a)
    if a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
        raise TypeError(
            f"{name} must hold integer indices (discrete values), got dtype {a.dtype}; "
            "discretise continuous values first, e.g. with vae_course.disentanglement.discretize"
        )
    if a.ndim != ndim:
        shape = "(N,)" if ndim == 1 else "(N, K)"
        raise ValueError(f"{name} must have shape {shape}, got shape {a.shape}")
    return a.astype(np.int64)


def _check_bins(n_bins):
    return check_int("n_bins", n_bins, minimum=2)


# ----------------------------------------------------------------------------- pieces


def discretize(latents, n_bins: int = 20) -> np.ndarray:
    """Bin each column of ``latents`` (N, J) into ``n_bins`` equal-width bins over its own range.

    Returns int64 bin indices (N, J) in 0..n_bins-1; the minimum falls in bin 0, the maximum
    in bin n_bins-1, and a constant column entirely in bin 0.
    """
    z = _check_latents(latents)
    n_bins = _check_bins(n_bins)
    low, high = z.min(axis=0), z.max(axis=0)
    width = np.where(high > low, high - low, 1.0)
    bins = np.floor((z - low) / width * n_bins).astype(np.int64)
    return np.clip(bins, 0, n_bins - 1)  # the maximum itself lands on n_bins: it belongs to the last bin


def entropy(labels) -> float:
    """The plug-in entropy H(a) = -sum_a p(a) log p(a) of integer labels (N,), in nats."""
    a = _check_labels("labels", labels, 1)
    if a.size == 0:
        raise ValueError("labels must not be empty")
    _, counts = np.unique(a, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def _joint_mi(a, b):
    """Plug-in mutual information of two integer arrays of equal length (no checks)."""
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    ai, bi = ai.reshape(-1), bi.reshape(-1)
    joint = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(joint, (ai, bi), 1.0)
    joint /= joint.sum()
    pa, pb = joint.sum(axis=1, keepdims=True), joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    return float(max(0.0, (joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])).sum()))


def mutual_information(a, b) -> float:
    """The plug-in mutual information I(a; b) = sum p(a, b) log[p(a, b) / (p(a) p(b))] of two
    integer label arrays of shape (N,), in nats (the joint histogram's estimate)."""
    a = _check_labels("a", a, 1)
    b = _check_labels("b", b, 1)
    if len(a) != len(b):
        raise ValueError(f"a and b must have the same length, got {len(a)} and {len(b)}")
    if len(a) == 0:
        raise ValueError("a and b must not be empty")
    return _joint_mi(a, b)


def mutual_information_matrix(codes, factors) -> np.ndarray:
    """I(codes[:, j]; factors[:, k]) for every pair: a (J, K) array in nats. Both inputs are integer (N, .)."""
    c = _check_labels("codes", codes, 2)
    f = _check_labels("factors", factors, 2)
    if len(c) != len(f):
        raise ValueError(f"codes and factors must have the same number of rows (examples), got {len(c)} and {len(f)}")
    return np.array([[_joint_mi(c[:, j], f[:, k]) for k in range(f.shape[1])] for j in range(c.shape[1])])


# ----------------------------------------------------------------------------- the score


def mutual_information_gap(latents, factors, n_bins: int = 20) -> MIGResult:
    """The Mutual Information Gap of continuous ``latents`` (N, J) with discrete ``factors`` (N, K).

    ``latents`` are usually the encoder means mu(x) of a model, one row per image;
    ``factors`` the integer indices of the true generative factors of the same images.
    Each latent column is discretised into ``n_bins`` equal-width bins (``discretize``).
    Needs J >= 2 (a gap compares the best latent with the second best) and factors that are
    not constant (their entropy divides the gap). Returns a ``MIGResult``.
    """
    z = _check_latents(latents)
    f = _check_labels("factors", factors, 2)
    n_bins = _check_bins(n_bins)
    if len(z) != len(f):
        raise ValueError(f"latents and factors must have the same number of rows (examples), got {len(z)} and {len(f)}")
    if z.shape[1] < 2:
        raise ValueError(f"latents must have at least 2 columns (the gap compares the two most informative), got {z.shape[1]}")
    if f.shape[1] < 1:
        raise ValueError("factors must have at least one column")
    h = np.array([entropy(f[:, k]) for k in range(f.shape[1])])
    constant = np.flatnonzero(h == 0)
    if constant.size:
        raise ValueError(f"factors {constant.tolist()} take a single value (entropy 0), so their gap is undefined; drop those columns")
    mi = mutual_information_matrix(discretize(z, n_bins), f)
    top2 = np.sort(mi, axis=0)[::-1][:2]  # (2, K): largest and second largest per factor
    gaps = np.clip((top2[0] - top2[1]) / h, 0.0, 1.0)  # the plug-in MI cannot exceed H, up to rounding
    return MIGResult(float(gaps.mean()), gaps, mi, h, np.argmax(mi, axis=0))
