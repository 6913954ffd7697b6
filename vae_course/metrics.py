"""Sample-based measures of a generative model: the Fréchet distance between Gaussians
fitted to features, and precision / recall with k-nearest-neighbour manifolds.

The Fréchet distance between N(mu1, S1) and N(mu2, S2) is the squared 2-Wasserstein
distance between them,

    d^2 = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1^{1/2} S2 S1^{1/2})^{1/2}),

with S the covariance E[(x - mu)(x - mu)^T], not the raw second moment E[x x^T].
"FID" is this number on the pool features of one particular Inception network; on any
other feature map (such as the small classifier of ``vae_course.features``) it is a
Fréchet distance on *those* features and is not comparable with published FID values.

All computations run in float64 numpy; inputs may be numpy arrays or torch tensors.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import torch

from . import disentanglement as _disentanglement
from ._deprecation import deprecated_alias
from .validation import check_array, check_callable, check_choice, check_int, check_number, check_symmetric, \
    check_tensor

__all__ = [
    "sqrtm_psd",
    "trace_sqrt_product",
    "gaussian_statistics",
    "frechet_distance",
    "frechet_distance_from_features",
    "extract_features",
    "feature_frechet_distance",
    "PrecisionRecall",
    "knn_radii",
    "precision_recall",
]

METHODS = ("eigh", "scipy")

# The disentanglement score lives in vae_course.disentanglement (notebook 09).
mutual_information_gap = deprecated_alias(_disentanglement.mutual_information_gap,
                                          "vae_course.metrics.mutual_information_gap",
                                          "vae_course.disentanglement.mutual_information_gap")


def __getattr__(name):
    if name == "MIGResult":
        import warnings

        warnings.warn("vae_course.metrics.MIGResult is deprecated; use vae_course.disentanglement.MIGResult",
                      DeprecationWarning, stacklevel=2)
        return _disentanglement.MIGResult
    raise AttributeError(f"module 'vae_course.metrics' has no attribute {name!r}")


# ----------------------------------------------------------------------------- argument checks


def _as_array(name: str, value, ndim: int) -> np.ndarray:
    """A float64 copy of ``value`` (numpy array or torch tensor) with exactly ``ndim`` dimensions and finite entries."""
    if not isinstance(value, (torch.Tensor, np.ndarray, list, tuple, int, float, np.integer, np.floating)) \
            or isinstance(value, bool):
        raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(value).__name__}")
    what = {1: "a vector (D,)", 2: "a matrix"}[ndim]
    return check_array(name, value, ndim=ndim, what=what)


def _check_square_symmetric(name: str, a: np.ndarray, rtol: float = 1e-6) -> np.ndarray:
    if a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {a.shape}")
    scale = max(1.0, float(np.abs(a).max()))
    check_symmetric(name, a, rtol=0.0, atol=rtol * scale, what="a covariance matrix")
    return 0.5 * (a + a.T)  # remove rounding-level asymmetry only


def _check_int(name, value, minimum):
    return check_int(name, value, minimum=minimum)


# ----------------------------------------------------------------------------- matrix square roots


def _psd_eigvalsh(name: str, a: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of a symmetric matrix that must be positive semi-definite.

    Eigenvalues in [-tol * max(1, lambda_max), 0) are rounding noise and become 0; a more
    negative one means the matrix is not PSD, which is an error.
    """
    w, v = np.linalg.eigh(a)
    floor = -tol * max(1.0, float(np.abs(w).max()))
    if w.min() < floor:
        raise ValueError(
            f"{name} must be positive semi-definite (a covariance matrix), but it has the eigenvalue "
            f"{w.min():.3g} (allowed: >= {floor:.3g}, rounding noise)"
        )
    return np.clip(w, 0.0, None), v


def sqrtm_psd(matrix, tol: float = 1e-8) -> np.ndarray:
    """The symmetric square root S of a symmetric positive semi-definite matrix A (S @ S = A).

    Computed from the eigen-decomposition A = V diag(w) V^T as V diag(sqrt(w)) V^T, so the
    result is real and symmetric even when A is singular (where ``scipy.linalg.sqrtm`` can
    return small imaginary parts). Eigenvalues slightly below zero from rounding
    (>= -tol * max(1, largest |eigenvalue|)) are treated as zero; a clearly negative one
    raises ``ValueError``.
    """
    a = _check_square_symmetric("matrix", _as_array("matrix", matrix, 2))
    w, v = _psd_eigvalsh("matrix", a, tol)
    return (v * np.sqrt(w)) @ v.T


def trace_sqrt_product(sigma1, sigma2, method: str = "eigh", eps: float = 1e-6) -> float:
    """Tr((S1^{1/2} S2 S1^{1/2})^{1/2}) for covariance matrices S1, S2.

    ``method='eigh'`` (default): S1^{1/2} S2 S1^{1/2} is symmetric PSD, so the trace of its
    square root is the sum of the square roots of its eigenvalues (from ``numpy.linalg.eigvalsh``);
    stable for singular and near-singular matrices.
    ``method='scipy'``: the common route Tr(sqrtm(S1 @ S2)) with ``scipy.linalg.sqrtm``
    (S1 S2 has the same eigenvalues but is not symmetric). When the result is not finite,
    ``eps`` times the identity is added to both matrices; imaginary parts are dropped only
    when they are small (below 1e-3 times the trace), otherwise a ``ValueError`` is raised.
    """
    s1 = _check_square_symmetric("sigma1", _as_array("sigma1", sigma1, 2))
    s2 = _check_square_symmetric("sigma2", _as_array("sigma2", sigma2, 2))
    if s1.shape != s2.shape:
        raise ValueError(f"sigma1 and sigma2 must have the same shape, got {s1.shape} and {s2.shape}")
    check_choice("method", method, METHODS)
    eps = check_number("eps", eps, positive=True)
    w1, v1 = _psd_eigvalsh("sigma1", s1, 1e-8)
    _psd_eigvalsh("sigma2", s2, 1e-8)
    if method == "eigh":
        root1 = (v1 * np.sqrt(w1)) @ v1.T
        product = root1 @ s2 @ root1  # symmetric PSD in exact arithmetic
        w = np.linalg.eigvalsh(0.5 * (product + product.T))
        return float(np.sqrt(np.clip(w, 0.0, None)).sum())  # clip rounding noise below zero
    import scipy.linalg

    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if not np.all(np.isfinite(covmean)):
        offset = eps * np.eye(len(s1))
        covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    trace = np.trace(covmean)
    if np.iscomplexobj(covmean):
        scale = max(1.0, abs(trace.real))
        if abs(trace.imag) > 1e-3 * scale or np.abs(covmean.imag).max() > 1e-3 * scale:
            raise ValueError(
                f"scipy.linalg.sqrtm returned a large imaginary part ({np.abs(covmean.imag).max():.3g}); "
                "the covariances are too ill-conditioned for method='scipy', use method='eigh'"
            )
        trace = trace.real
    return float(trace)


# ----------------------------------------------------------------------------- the Fréchet distance


def gaussian_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """The mean vector and the covariance matrix of a set of feature vectors.

    ``features`` is (N, D) with N >= 2. The covariance is the unbiased sample covariance
    1/(N-1) sum_n (f_n - mean)(f_n - mean)^T (as ``numpy.cov``), centred on the mean: the raw
    second moment 1/N sum_n f_n f_n^T is a different matrix and the wrong one for the
    Fréchet distance. Returns float64 arrays of shape (D,) and (D, D).
    """
    f = _as_array("features", features, 2)
    if f.shape[0] < 2 or f.shape[1] < 1:
        raise ValueError(f"features must have shape (N, D) with N >= 2 and D >= 1, got {f.shape}")
    mu = f.mean(axis=0)
    centred = f - mu
    sigma = centred.T @ centred / (f.shape[0] - 1)
    return mu, 0.5 * (sigma + sigma.T)


def frechet_distance(mu1, sigma1, mu2, sigma2, method: str = "eigh") -> float:
    """The Fréchet (squared 2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2):

        |mu1 - mu2|^2 + Tr(sigma1 + sigma2 - 2 (sigma1^{1/2} sigma2 sigma1^{1/2})^{1/2}).

    ``mu`` are vectors (D,), ``sigma`` covariance matrices (D, D) (symmetric PSD; singular
    is fine with the default ``method='eigh'``, see ``trace_sqrt_product``). The value is a
    squared distance (no square root is taken, as in FID). In exact arithmetic it is >= 0;
    rounding can leave a value like -1e-13 for identical inputs, which is returned as 0.
    """
    m1 = _as_array("mu1", mu1, 1)
    m2 = _as_array("mu2", mu2, 1)
    s1 = _as_array("sigma1", sigma1, 2)
    s2 = _as_array("sigma2", sigma2, 2)
    if m1.shape != m2.shape:
        raise ValueError(f"mu1 and mu2 must have the same length, got {m1.shape} and {m2.shape}")
    for name, s in (("sigma1", s1), ("sigma2", s2)):
        if s.shape != (len(m1), len(m1)):
            raise ValueError(f"{name} must have shape ({len(m1)}, {len(m1)}) to match mu1, got {s.shape}")
    diff = m1 - m2
    d2 = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt_product(s1, s2, method=method)
    return float(max(d2, 0.0))


def frechet_distance_from_features(features1, features2, method: str = "eigh") -> float:
    """Fit a Gaussian (mean, covariance) to each set of feature vectors (N1, D) and (N2, D)
    and return the Fréchet distance between the two Gaussians.

    The estimate depends on N1 and N2 (it is biased upwards, roughly by a term proportional
    to 1/N): compare models only at the same sample counts.
    """
    f1 = _as_array("features1", features1, 2)
    f2 = _as_array("features2", features2, 2)
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"features1 and features2 must have the same dimension D, got {f1.shape[1]} and {f2.shape[1]}")
    mu1, s1 = gaussian_statistics(f1)
    mu2, s2 = gaussian_statistics(f2)
    return frechet_distance(mu1, s1, mu2, s2, method=method)


@torch.no_grad()
def extract_features(feature_fn: Callable, images, batch_size: int = 256, device=None) -> np.ndarray:
    """Apply ``feature_fn`` to ``images`` (a tensor, N x C x H x W) in minibatches, without gradients.

    ``feature_fn`` maps a batch of images to a (batch, D) tensor (for instance the penultimate
    layer of a classifier, or an Inception network's pool features after resizing). Batches are
    moved to ``device`` when it is given. Returns a float64 array (N, D).
    """
    check_callable("feature_fn", feature_fn, what="called as feature_fn(images) -> (batch, D)")
    check_tensor("images", images, ndim=4, nonempty=True, finite=True, what="(N, C, H, W)")
    batch_size = _check_int("batch_size", batch_size, 1)
    out = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        if device is not None:
            batch = batch.to(device)
        f = feature_fn(batch)
        if not isinstance(f, torch.Tensor):
            raise TypeError(f"feature_fn must return a torch.Tensor, got {type(f).__name__}")
        if f.dim() != 2 or len(f) != len(batch):
            raise ValueError(
                f"feature_fn must return a (batch, D) tensor, got shape {tuple(f.shape)} for a batch of {len(batch)} "
                "(flatten or pool the features inside feature_fn)"
            )
        out.append(f.detach().cpu().double())
    return torch.cat(out).numpy()


def feature_frechet_distance(images1, images2, feature_fn: Callable, batch_size: int = 256, device=None,
                             method: str = "eigh") -> float:
    """The Fréchet distance between Gaussians fitted to ``feature_fn`` features of two image sets.

    With ``feature_fn`` an Inception-v3 pool layer (images resized to 299 x 299, three
    channels) this is FID; with any other network it is a Fréchet distance on that
    network's features, and only comparable with numbers from the same network, image
    size and sample counts.
    """
    f1 = extract_features(feature_fn, images1, batch_size=batch_size, device=device)
    f2 = extract_features(feature_fn, images2, batch_size=batch_size, device=device)
    return frechet_distance_from_features(f1, f2, method=method)


# ----------------------------------------------------------------------------- precision and recall


class PrecisionRecall(NamedTuple):
    """Precision: the share of generated samples that fall on the real data's k-NN manifold
    (quality). Recall: the share of real samples that fall on the generated samples' k-NN
    manifold (coverage)."""

    precision: float
    recall: float


def _pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.spatial.distance import cdist

    return cdist(a, b, metric="euclidean")


def knn_radii(features, k: int = 3, chunk: int = 1024) -> np.ndarray:
    """For each row of ``features`` (N, D), the distance to its k-th nearest neighbour among the
    other rows (the point itself does not count). Needs 1 <= k <= N - 1."""
    f = _as_array("features", features, 2)
    k = _check_int("k", k, 1)
    if k > f.shape[0] - 1:
        raise ValueError(f"k must be <= N - 1 = {f.shape[0] - 1} (the number of other points), got {k}")
    chunk = _check_int("chunk", chunk, 1)
    radii = np.empty(f.shape[0])
    for start in range(0, f.shape[0], chunk):
        d = _pairwise_distances(f[start : start + chunk], f)
        # column k of the sorted rows: index 0 is the point itself (distance 0)
        radii[start : start + chunk] = np.partition(d, k, axis=1)[:, k]
    return radii


def _inside(points: np.ndarray, centres: np.ndarray, radii: np.ndarray, chunk: int) -> np.ndarray:
    """Whether each point lies in at least one ball B(centre_i, radius_i)."""
    inside = np.empty(points.shape[0], dtype=bool)
    for start in range(0, points.shape[0], chunk):
        d = _pairwise_distances(points[start : start + chunk], centres)
        inside[start : start + chunk] = (d <= radii[None, :]).any(axis=1)
    return inside


def precision_recall(real_features, fake_features, k: int = 3, chunk: int = 1024) -> PrecisionRecall:
    """Improved precision and recall for generative models (Kynkäänniemi et al., 2019).

    The real manifold is the union of balls around each real feature vector with radius the
    distance to its k-th nearest real neighbour; likewise for the generated ("fake") set.
    precision = share of fake points inside the real manifold; recall = share of real points
    inside the fake manifold. Both sets are (N, D) with the same D and N >= k + 1.
    Identical sets give (1, 1); sets far apart give (0, 0).
    """
    real = _as_array("real_features", real_features, 2)
    fake = _as_array("fake_features", fake_features, 2)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real_features and fake_features must have the same dimension D, got {real.shape[1]} and {fake.shape[1]}")
    k = _check_int("k", k, 1)
    for name, f in (("real_features", real), ("fake_features", fake)):
        if f.shape[0] < k + 1:
            raise ValueError(f"{name} needs at least k + 1 = {k + 1} rows for k-th neighbour radii, got {f.shape[0]}")
    chunk = _check_int("chunk", chunk, 1)
    real_radii = knn_radii(real, k, chunk)
    fake_radii = knn_radii(fake, k, chunk)
    precision = _inside(fake, real, real_radii, chunk).mean()
    recall = _inside(real, fake, fake_radii, chunk).mean()
    return PrecisionRecall(float(precision), float(recall))
