import numpy as np
import pytest
import torch

from vae_course.exercises import check_close, check_shape, check_true


def test_check_close_passes_and_explains_failures():
    check_close("kl", torch.tensor([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]))
    with pytest.raises(AssertionError, match=r"kl: expected .*got .*largest difference 0\.5.*tolerance"):
        check_close("kl", [1.0, 2.5], [1.0, 2.0])
    with pytest.raises(AssertionError, match=r"expected shape \(2,\), got shape \(3,\)"):
        check_close("kl", [1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(AssertionError, match="None"):
        check_close("kl", None, 1.0)
    with pytest.raises(AssertionError, match="NaN"):
        check_close("kl", float("nan"), 1.0)


def test_check_shape_and_true():
    check_shape("z", torch.zeros(2, 3), (2, 3))
    with pytest.raises(AssertionError, match=r"z: expected shape \(2, 3\), got shape \(3, 2\)"):
        check_shape("z", torch.zeros(3, 2), (2, 3))
    check_true("x", True, "never shown")
    with pytest.raises(AssertionError, match="x: must be positive"):
        check_true("x", False, "must be positive")
