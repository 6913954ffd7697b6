import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits as sk_digits

from vae_course import data


def test_digits_shapes_range_and_split(digits):
    assert digits.image_shape == (1, 28, 28)
    n = len(digits.train) + len(digits.val) + len(digits.test)
    assert n == 1797
    for split in (digits.train, digits.val, digits.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert split.x.min() >= 0 and split.x.max() <= 1
        assert len(split.x) == len(split.y)
    assert set(digits.train.y.tolist()) == set(range(10))


def test_digits_8x8_are_sklearns_images_over_16():
    d = data.load_digits(size=8, val_fraction=0.0, test_fraction=0.0)
    bunch = sk_digits()
    # the split is a permutation: compare as sorted multisets of flattened images with labels
    ours = sorted(zip(d.train.y.tolist(), (d.train.x.flatten(1) * 16).round().int().tolist()))
    theirs = sorted(zip(bunch.target.tolist(), bunch.data.astype(int).tolist()))
    assert ours == theirs


def test_digits_split_is_fixed_and_disjoint():
    a, b = data.load_digits(), data.load_digits()
    assert torch.equal(a.test.x, b.test.x) and torch.equal(a.train.y, b.train.y)
    c = data.load_digits(seed=1)
    assert not torch.equal(a.test.x, c.test.x)
    flat = lambda s: {tuple(r) for r in s.x.flatten(1).numpy().round(5).tolist()}  # noqa: E731
    # the digits hold a few exact duplicates; the splits must still be mostly disjoint
    assert len(flat(a.train) & flat(a.test)) <= 5


@pytest.mark.parametrize(
    "kwargs, err",
    [({"size": 4}, ValueError), ({"size": 28.0}, TypeError), ({"val_fraction": 0.9}, ValueError), ({"seed": -1}, ValueError)],
)
def test_digits_bad_input(kwargs, err):
    with pytest.raises(err):
        data.load_digits(**kwargs)


def test_load_data_choices(capsys):
    d = data.load_data("digits")
    assert d.name == "digits"
    d = data.load_data("auto")
    assert d.name in {"digits", "mnist"}
    assert "data:" in capsys.readouterr().out
    with pytest.raises(ValueError, match="name must be one of"):
        data.load_data("cifar")
    with pytest.raises(TypeError, match="name"):
        data.load_data(3)


def test_mnist_without_working_torchvision_says_why(monkeypatch):
    ok, why = data.torchvision_status()
    if ok:
        pytest.skip("torchvision works here")
    assert "torchvision" in why and ("install" in why.lower())
    with pytest.raises(ImportError, match="torchvision"):
        data.load_mnist("mnist")
    with pytest.raises(ValueError, match="name must be one of"):
        data.load_mnist("svhn")


def test_binarize_threshold_and_sampling():
    x = torch.tensor([[0.0, 0.2, 0.5, 0.51, 1.0]])
    assert data.binarize(x).tolist() == [[0.0, 0.0, 0.0, 1.0, 1.0]]
    g = torch.Generator().manual_seed(0)
    p = torch.full((200_000,), 0.3)
    s = data.binarize(p, method="sample", generator=g)
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    assert abs(s.mean().item() - 0.3) < 0.005  # 5 standard errors
    with pytest.raises(ValueError, match="method"):
        data.binarize(x, method="otsu")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data.binarize(x * 2)
    with pytest.raises(TypeError, match="floating"):
        data.binarize(torch.ones(3, dtype=torch.int64))


def test_corruptions_have_the_requested_strength():
    g = torch.Generator().manual_seed(0)
    x = torch.full((100, 1, 28, 28), 0.5)
    masked = data.corrupt(x, "mask", 0.3, generator=g)
    frac = (masked == 0).float().mean().item()
    assert abs(frac - 0.3) < 0.005
    sp = data.corrupt(x, "salt_pepper", 0.2, generator=g)
    changed = (sp != 0.5).float().mean().item()
    assert abs(changed - 0.2) < 0.005
    assert abs((sp == 1).float().mean().item() - 0.1) < 0.005
    noisy = data.corrupt(x, "gaussian", 0.1, generator=g, clip=False)
    assert abs((noisy - x).std().item() - 0.1) < 0.002
    assert data.corrupt(x, "gaussian", 1.0, generator=g).max() <= 1.0
    assert torch.equal(data.corrupt(x, "mask", 0.0), x)


@pytest.mark.parametrize(
    "kind, level, err, match",
    [("blur", 0.1, ValueError, "kind"), ("mask", 1.5, ValueError, "level"), ("gaussian", -0.1, ValueError, "level"),
     ("mask", "a", TypeError, "level")],
)
def test_corrupt_bad_input(kind, level, err, match):
    with pytest.raises(err, match=match):
        data.corrupt(torch.rand(2, 1, 4, 4), kind, level)


def test_gmm_sampler_matches_its_parameters():
    x, z, params = data.sample_gmm_2d(n=40_000, k=3, seed=1)
    assert x.shape == (40_000, 2) and z.shape == (40_000,)
    assert np.isclose(params["weights"].sum(), 1.0)
    for j in range(3):
        pts = x[z == j]
        assert abs(len(pts) / len(x) - params["weights"][j]) < 0.01
        np.testing.assert_allclose(pts.mean(0), params["means"][j], atol=0.05)
        np.testing.assert_allclose(np.cov(pts.T), params["covariances"][j], atol=0.05)
        assert np.all(np.linalg.eigvalsh(params["covariances"][j]) > 0)
    with pytest.raises(ValueError, match="k"):
        data.sample_gmm_2d(k=0)


def test_batches_cover_every_example_once():
    x = torch.arange(10)
    y = torch.arange(10) * 2
    seen = []
    for xb, yb in data.batches(x, y, batch_size=3, generator=torch.Generator().manual_seed(0)):
        assert torch.equal(yb, xb * 2)
        seen += xb.tolist()
    assert sorted(seen) == list(range(10))
    assert [len(b) for b in data.batches(x, batch_size=4, shuffle=False)] == [4, 4, 2]
    assert [len(b) for b in data.batches(x, batch_size=4, shuffle=False, drop_last=True)] == [4, 4]
    with pytest.raises(ValueError, match="same length"):
        list(data.batches(x, y[:5]))
    with pytest.raises(ValueError, match="batch_size"):
        list(data.batches(x, batch_size=0))
    with pytest.raises(TypeError, match="tensors"):
        list(data.batches([1, 2, 3]))


def test_split_subset(digits):
    s = digits.train.subset(10)
    assert len(s) == 10 and torch.equal(s.x, digits.train.x[:10])
    with pytest.raises(ValueError, match="n"):
        digits.train.subset(0)


def test_shapes_generator_is_reachable_from_data():
    from vae_course import metrics, shapes, disentanglement

    assert data.make_shapes is shapes.make_shapes
    assert metrics.mutual_information_gap is disentanglement.mutual_information_gap
