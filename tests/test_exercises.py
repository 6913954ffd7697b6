"""vae_course.exercises: the checks of the visible exercise tests and their messages."""
import numpy as np
import pytest
import torch

from vae_course.exercises import check_close, check_shape, check_true, check_type


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


def test_check_close_agrees_with_numpy_isclose():
    """The rule is |got - expected| <= atol + rtol * |expected| elementwise, numpy's isclose."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        e = rng.normal(size=3) * 10.0 ** rng.integers(-3, 4)
        g = e + rng.normal(size=3) * 10.0 ** rng.integers(-9, 1)
        atol, rtol = 10.0 ** rng.integers(-8, -2), 10.0 ** rng.integers(-8, -2)
        if np.isclose(g, e, atol=atol, rtol=rtol).all():
            check_close("x", g, e, atol=atol, rtol=rtol)
        else:
            with pytest.raises(AssertionError):
                check_close("x", g, e, atol=atol, rtol=rtol)


def test_check_close_counts_the_values_that_differ_and_names_the_worst():
    with pytest.raises(AssertionError) as err:
        check_close("r", [[0.0, 1.0], [2.0, 3.0]], [[0.0, 1.5], [2.0, 9.0]])
    text = str(err.value)
    assert "2 of 4 values differ" in text and "largest difference 6" in text and "(1, 1)" in text, text


def test_check_close_accepts_any_numeric_container():
    check_close("grad", torch.ones(2, requires_grad=True) * 2, [2.0, 2.0])
    check_close("half", torch.tensor([0.5, 0.25], dtype=torch.float16), [0.5, 0.25])
    check_close("ints", torch.bincount(torch.tensor([0, 2, 2])), [1, 0, 2])
    check_close("list of 0-d tensors", [torch.tensor(1.0), torch.tensor(2.0)], np.array([1.0, 2.0]))
    check_close("numpy scalar", np.float32(3.0), 3)
    check_close("bool", np.array([True, False]), [1, 0])
    check_close("relative", 1000.0 + 5e-3, 1000.0, atol=0.0, rtol=1e-5)


def test_check_close_handles_infinities():
    check_close("lse", [-np.inf, 0.0], [-np.inf, 0.0])
    with pytest.raises(AssertionError, match="infinite values do not match"):
        check_close("lse", [np.inf], [-np.inf])
    with pytest.raises(AssertionError, match="infinite values do not match"):
        check_close("lse", [0.0], [-np.inf])
    with pytest.raises(AssertionError, match="infinite values do not match"):
        check_close("lse", [np.inf], [1.0])


@pytest.mark.parametrize(
    "got, said",
    [
        (None, r"got None \(does the function end with `return"),
        ("0.5", r"got the string '0.5'"),
        ({"a": 1}, r"got an object of type dict"),
        (torch.nn.Linear(2, 2), r"got an object of type Linear"),
        ((torch.zeros(2), torch.zeros(3)), r"got a tuple of 2 item\(s\) that is not an array of numbers"),
    ],
)
def test_check_close_says_what_came_back_instead_of_a_number(got, said):
    with pytest.raises(AssertionError, match=r"^answer: expected a value of shape \(2,\), " + said):
        check_close("answer", got, [1.0, 2.0])


def test_check_close_shape_hints():
    with pytest.raises(AssertionError, match="same number of elements"):
        check_close("m", torch.zeros(4, 1), torch.zeros(4))
    with pytest.raises(AssertionError, match="extra leading dimension"):
        check_close("m", torch.zeros(8, 3), torch.zeros(3))
    with pytest.raises(AssertionError, match="leading dimension is missing"):
        check_close("m", torch.zeros(3), torch.zeros(8, 3))
    with pytest.raises(AssertionError, match=r"expected shape \(\), got shape \(1,\)"):
        check_close("scalar", [1.0], 1.0)


def test_check_close_rejects_a_bad_test():
    with pytest.raises(ValueError, match=r"atol \(a tolerance\) must be a number >= 0, got -1"):
        check_close("x", 1.0, 1.0, atol=-1.0)
    with pytest.raises(ValueError, match=r"rtol \(a tolerance\) must be a finite number \(>= 0\), got nan"):
        check_close("x", 1.0, 1.0, rtol=float("nan"))
    with pytest.raises(TypeError, match="name must be a string"):
        check_close(3, 1.0, 1.0)


def test_check_shape_and_true():
    check_shape("z", torch.zeros(2, 3), (2, 3))
    check_shape("z", torch.zeros(2, 3), torch.Size([2, 3]))
    check_shape("list", [[1, 2], [3, 4], [5, 6]], (3, 2))
    check_shape("scalar", 1.5, ())
    with pytest.raises(AssertionError, match=r"z: expected shape \(2, 3\), got shape \(3, 2\)"):
        check_shape("z", torch.zeros(3, 2), (2, 3))
    with pytest.raises(AssertionError, match=r"z: expected an array of shape \(2, 3\), got None"):
        check_shape("z", None, (2, 3))
    with pytest.raises(AssertionError, match=r"got the string 'abc'"):
        check_shape("z", "abc", (3,))
    with pytest.raises(TypeError, match="expected_shape must be a tuple of ints"):
        check_shape("z", torch.zeros(2), "2")
    with pytest.raises(ValueError, match="sizes >= 0"):
        check_shape("z", torch.zeros(2), (-1,))
    check_true("x", True, "never shown")
    check_true("x", np.bool_(True), "never shown")
    check_true("x", torch.tensor([True]), "never shown")
    with pytest.raises(AssertionError, match="x: must be positive"):
        check_true("x", False, "must be positive")
    with pytest.raises(AssertionError, match=r"x: must be positive \(the check got a torch.Tensor of shape \(3,\)"):
        check_true("x", torch.tensor([1.0, -1.0, 2.0]) > 0, "must be positive")
    with pytest.raises(AssertionError, match=r"the condition is None"):
        check_true("x", None, "must be positive")
    with pytest.raises(TypeError, match="message must be a string"):
        check_true("x", True, None)


def test_check_type():
    check_type("elbo", 1.5, float)
    check_type("elbo", np.float64(1.5), float)
    check_type("z", torch.zeros(2), (torch.Tensor, np.ndarray))
    check_type("n", 3, int)
    with pytest.raises(AssertionError, match=r"elbo: expected float, got a torch.Tensor of shape \(\)"):
        check_type("elbo", torch.tensor(1.5), float)
    with pytest.raises(AssertionError, match=r"expected torch.Tensor or numpy.ndarray, got None \(does the function"):
        check_type("z", None, (torch.Tensor, np.ndarray))
    with pytest.raises(AssertionError, match="expected int, got the bool True"):
        check_type("n", True, int)
    with pytest.raises(TypeError, match="expected_type must be a type"):
        check_type("n", 3, "int")
