"""vae_course.validation: each check accepts what it should and names the argument, the fault
and what is allowed when it rejects."""
import math

import numpy as np
import pytest
import torch

from vae_course import validation as V


def test_check_int():
    assert V.check_int("n", 3) == 3 and type(V.check_int("n", np.int64(3))) is int
    with pytest.raises(TypeError, match=r"n must be an int, got bool"):
        V.check_int("n", True)
    with pytest.raises(TypeError, match=r"n must be an int, got float 2.0"):
        V.check_int("n", 2.0)
    with pytest.raises(ValueError, match=r"K \(the number of samples\) must be an int >= 1, got 0"):
        V.check_int("K", 0, minimum=1, what="the number of samples")
    with pytest.raises(ValueError, match=r">= 1 and <= 5, got 6"):
        V.check_int("k", 6, minimum=1, maximum=5)


def test_check_number():
    assert V.check_number("x", 2) == 2.0 and V.check_number("x", torch.tensor(0.5)) == 0.5
    with pytest.raises(TypeError, match="sigma must be a real number, got bool"):
        V.check_number("sigma", True, positive=True)
    with pytest.raises(TypeError, match="got str"):
        V.check_number("sigma", "1")
    with pytest.raises(ValueError, match=r"sigma must be a finite number \(> 0\), got inf"):
        V.check_number("sigma", math.inf, positive=True)
    with pytest.raises(ValueError, match="got nan"):
        V.check_number("x", float("nan"), finite=False)
    assert V.check_number("x", math.inf, finite=False) == math.inf
    with pytest.raises(ValueError, match=r"beta must be a number >= 0, got -1"):
        V.check_number("beta", -1, minimum=0)
    with pytest.raises(ValueError, match=r"must be a number > 0, got 0"):
        V.check_number("s", 0.0, positive=True)
    with pytest.raises(ValueError, match=r"<= 1, got 1.5"):
        V.check_number("p", 1.5, minimum=0, maximum=1)


def test_check_bool_choice_callable_generator():
    assert V.check_bool("flag", np.bool_(True)) is True
    with pytest.raises(TypeError, match="flag must be True or False, got int"):
        V.check_bool("flag", 1)
    assert V.check_choice("kl", "mc", ("analytic", "mc")) == "mc"
    with pytest.raises(ValueError, match=r"kl must be one of 'analytic', 'mc'; got 'MC'"):
        V.check_choice("kl", "MC", ("analytic", "mc"))
    with pytest.raises(ValueError, match="one of"):
        V.check_choice("x", np.zeros(2), ("a",))
    with pytest.raises(TypeError, match=r"f \(called as f\(z\)\) must be callable, got int"):
        V.check_callable("f", 3, what="called as f(z)")
    g = torch.Generator()
    assert V.check_generator("generator", g) is g and V.check_generator("generator", None) is None
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int"):
        V.check_generator("generator", 0)
    with pytest.raises(TypeError, match="must be a torch.Generator, got NoneType"):
        V.check_generator("generator", None, allow_none=False)


def test_check_tensor():
    t = torch.zeros(2, 3)
    assert V.check_tensor("x", t, ndim=2, shape=(None, 3), finite=True) is t
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
        V.check_tensor("x", [1.0])
    with pytest.raises(TypeError, match="floating-point tensor, got dtype torch.int64"):
        V.check_tensor("x", torch.zeros(2, dtype=torch.long))
    with pytest.raises(TypeError, match="integer tensor, got dtype torch.float32"):
        V.check_tensor("y", t, dtype="integer")
    with pytest.raises(TypeError, match="must have dtype torch.float64"):
        V.check_tensor("x", t, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 4\), got \(2, 3\)"):
        V.check_tensor("x", t, shape=("N", 4))
    with pytest.raises(ValueError, match=r"must have 1 or 3 dimension\(s\), got shape \(2, 3\)"):
        V.check_tensor("x", t, ndim=(1, 3))
    with pytest.raises(ValueError, match="x must hold finite values; it holds NaN or inf"):
        V.check_tensor("x", torch.tensor([1.0, float("nan")]), finite=True)
    with pytest.raises(ValueError, match="NaN"):  # a range check rejects NaN even without finite=True
        V.check_tensor("x", torch.tensor([float("nan")]), minimum=0)
    with pytest.raises(ValueError, match=r"sigma must be > 0 everywhere, got a minimum of -1"):
        V.check_tensor("sigma", torch.tensor([1.0, -1.0]), positive=True)
    with pytest.raises(ValueError, match=r"x must hold values >= 0 and <= 1, got a maximum of 2"):
        V.check_tensor("x", torch.tensor([0.0, 2.0]), minimum=0, maximum=1)
    with pytest.raises(ValueError, match="at least one value"):
        V.check_tensor("x", torch.zeros(0, 3), nonempty=True)
    assert V.check_tensor("x", torch.tensor([math.inf])) is not None  # finiteness only when asked


def test_check_array():
    a = V.check_array("a", [1, 2, 3], ndim=1)
    assert a.dtype == np.float64 and a.tolist() == [1.0, 2.0, 3.0]
    assert V.check_array("a", torch.tensor([[1.0]]), shape=(1, 1)).dtype == np.float64
    with pytest.raises(TypeError, match="a must be a number or an array of real numbers, got str"):
        V.check_array("a", "1")
    with pytest.raises(TypeError, match="real numbers, got dtype complex128"):
        V.check_array("a", np.array([1j]))
    with pytest.raises(TypeError, match="real numbers"):
        V.check_array("a", [[1, 2], [3]])
    with pytest.raises(ValueError, match="finite"):
        V.check_array("a", [1.0, np.inf])
    with pytest.raises(ValueError, match=r"a must have 2 dimension\(s\), got shape \(3,\)"):
        V.check_array("a", [1, 2, 3], ndim=2)


def test_probability_vector_and_same_shape():
    assert V.check_probability_vector("p", [0.25, 0.75]).sum() == 1.0
    with pytest.raises(ValueError, match=r"p must sum to 1 along its last axis \(within 1e-06\)"):
        V.check_probability_vector("p", [0.5, 0.6])
    with pytest.raises(ValueError, match="p must hold probabilities >= 0"):
        V.check_probability_vector("p", [-0.5, 1.5])
    with pytest.raises(ValueError, match=r"x and mean must have the same shape, got x \(2,\), mean \(3,\)"):
        V.check_same_shape(("x", "mean"), torch.zeros(2), torch.zeros(3))


def test_check_covariance_numpy_and_torch():
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    assert np.allclose(V.check_covariance("cov", cov) @ V.check_covariance("cov", cov).T, cov)
    chol = V.check_covariance("cov", torch.tensor(cov))
    assert isinstance(chol, torch.Tensor) and torch.allclose(chol @ chol.T, torch.tensor(cov))
    with pytest.raises(ValueError, match=r"cov must be symmetric .* largest \|A - A\^T\| entry is 0.5"):
        V.check_covariance("cov", np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="cov must be symmetric"):
        V.check_covariance("cov", torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"covs\[1\] must be positive definite .* smallest eigenvalue is -1"):
        V.check_covariance("covs", np.stack([np.eye(2), np.diag([1.0, -1.0])]))
    with pytest.raises(ValueError, match="positive definite; its smallest eigenvalue is -1"):
        V.check_covariance("cov", torch.diag(torch.tensor([1.0, -1.0], dtype=torch.float64)))
    with pytest.raises(ValueError, match=r"square matrices of shape \(d, d\)"):
        V.check_covariance("cov", np.eye(2)[None], batched=False)


def test_check_images():
    x = torch.rand(5, 1, 4, 4)
    assert V.check_images("x", x, (1, 4, 4)) is x
    flat = torch.rand(5, 16)
    out = V.check_images("x", flat, (1, 4, 4))
    assert out.shape == (5, 1, 4, 4) and torch.equal(out.flatten(1), flat)
    with pytest.raises(ValueError, match=r"reshape it with x.view\(-1, 1, 4, 4\)"):
        V.check_images("x", torch.rand(5, 4, 4), (1, 4, 4))
    with pytest.raises(ValueError, match=r"\(N, 1, 4, 4\), got shape \(5, 16\)"):
        V.check_images("x", flat, (1, 4, 4), allow_flat=False)
    with pytest.raises(ValueError, match="finite"):
        V.check_images("x", torch.full((1, 1, 4, 4), float("nan")), (1, 4, 4), finite=True)
    assert V.check_image_shape("image_shape", [1, 28, 28]) == (1, 28, 28)
    with pytest.raises(ValueError, match="three positive ints"):
        V.check_image_shape("image_shape", (1, 28))
