"""vae_course.photos: 32 x 32 patches of scikit-learn's sample photographs (about 5 s in all)."""
import pytest
import torch
import torch.nn.functional as F

from vae_course import photos
from vae_course.data import ImageData


@pytest.fixture(scope="module")
def patches():
    return photos.load_photo_patches()


def test_photos_are_the_two_sample_images():
    p = photos.load_photos()
    assert p.shape == (2, 3, 427, 640) and p.dtype == torch.uint8
    # the dahlia photograph is darker and greener on average than the pagoda's sky
    mean = p.float().mean(dim=(2, 3))
    assert mean[0].mean() > mean[1].mean()


def test_shapes_range_and_counts(patches):
    assert isinstance(patches, ImageData) and patches.name == "photo-patches"
    assert patches.image_shape == (3, 32, 32) and patches.num_classes == 2
    # 48 blocks of 96 x 96: 81 full-resolution patches + 9 from the half-size photograph per block;
    # per photograph 4 validation, 4 test and 16 training blocks
    assert (len(patches.train), len(patches.val), len(patches.test)) == (32 * 90, 8 * 90, 8 * 90)
    for split in (patches.train, patches.val, patches.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert split.x.min() >= 0.0 and split.x.max() <= 1.0
        assert split.x.shape[1:] == (3, 32, 32) and len(split.x) == len(split.y)
        # both photographs in every split, in equal numbers (the split is made per photograph)
        assert split.y.bincount(minlength=2).tolist() == [len(split) // 2] * 2
        assert split.x.std() > 0.05  # not blank


def test_patches_are_cut_from_the_photographs():
    """With stride = size and full resolution only, the patches are exactly the 32 x 32 tiles of
    the centred block grid: 427 x 640 -> 4 x 6 blocks of 96 (rows 21..404, columns 32..607)."""
    d = photos.load_photo_patches(block=96, stride=32, scales=(1,))
    p = photos.load_photos()
    expected = []
    for label in range(2):
        region = p[label, :, 21 : 21 + 384, 32 : 32 + 576]
        tiles = region.unfold(1, 32, 32).unfold(2, 32, 32).permute(1, 2, 0, 3, 4).reshape(-1, 3 * 32 * 32)
        expected += [(label, bytes(t.numpy())) for t in tiles]
    got = []
    for split in (d.train, d.val, d.test):
        pixels = split.x.mul(255).round().to(torch.uint8).flatten(1)
        got += [(int(y), bytes(t.numpy())) for t, y in zip(pixels, split.y)]
    assert len(got) == len(expected) == 2 * 12 * 18
    assert sorted(got) == sorted(expected)


def test_shrunk_patches_average_the_pixels():
    """scales=(2,): each patch is a crop of the photograph shrunk by averaging 2 x 2 squares."""
    d = photos.load_photo_patches(block=96, stride=48, scales=(2,), val_fraction=0.0, test_fraction=0.0)
    p = photos.load_photos().float()
    # 4 x 6 blocks, each 48 x 48 after shrinking: one patch per block, at the block's top-left corner
    shrunk = F.avg_pool2d(p[:, :, 21 : 21 + 384, 32 : 32 + 576], 2).round()
    expected = sorted(
        (label, bytes(shrunk[label, :, 48 * r : 48 * r + 32, 48 * c : 48 * c + 32].to(torch.uint8).numpy()))
        for label in range(2) for r in range(4) for c in range(6)
    )
    got = sorted((int(y), bytes(t.mul(255).round().to(torch.uint8).numpy())) for t, y in zip(d.train.x, d.train.y))
    assert got == expected


def test_label_is_the_photograph(patches):
    """The flower photograph is mostly dark green: its patches are less red and darker."""
    x, y = patches.train.x, patches.train.y
    red = x[:, 0].mean(dim=(1, 2))
    assert red[y == 0].mean() > red[y == 1].mean()


def test_split_fixed_by_seed_and_disjoint(patches):
    again = photos.load_photo_patches()
    assert torch.equal(again.train.x, patches.train.x) and torch.equal(again.test.y, patches.test.y)
    other = photos.load_photo_patches(seed=1)
    assert not torch.equal(other.test.x, patches.test.x)
    # no test patch appears in training (different blocks share no pixel)
    train_keys = {tuple(v) for v in patches.train.x.flatten(1)[:, ::97].mul(255).round().int().tolist()}
    test_keys = {tuple(v) for v in patches.test.x.flatten(1)[:, ::97].mul(255).round().int().tolist()}
    assert not train_keys & test_keys


def test_options_change_the_counts():
    d = photos.load_photo_patches(size=16, block=64, stride=16, scales=(1,), val_fraction=0.0, test_fraction=0.25)
    # 427 x 640 -> 6 x 10 blocks of 64; (64 - 16) / 16 + 1 = 4 -> 16 patches per block
    assert d.image_shape == (3, 16, 16)
    assert (len(d.train), len(d.val), len(d.test)) == (2 * 45 * 16, 0, 2 * 15 * 16)
    assert d.val.x.shape == (0, 3, 16, 16)


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"size": 2}, ValueError, "size must be an int >= 4"),
        ({"size": 32.0}, TypeError, "size must be an int"),
        ({"stride": 0}, ValueError, "stride"),
        ({"block": 99}, ValueError, "multiple"),
        ({"block": 48}, ValueError, "at least size"),
        ({"block": 512}, ValueError, "at most"),
        ({"scales": ()}, ValueError, "at least one"),
        ({"scales": (1, 1)}, ValueError, "repeat"),
        ({"scales": 2}, TypeError, "scales"),
        ({"scales": (1, 0)}, ValueError, r"scales\[1\]"),
        ({"val_fraction": 0.5}, ValueError, r"val_fraction must be a number in \[0, 0.5\)"),
        ({"test_fraction": -0.1}, ValueError, "test_fraction"),
        ({"test_fraction": "0.1"}, TypeError, "test_fraction"),
        ({"seed": -1}, ValueError, "seed"),
        ({"block": 192, "scales": (1,), "val_fraction": 0.49, "test_fraction": 0.49}, ValueError, "no training block"),
    ],
)
def test_bad_input(kwargs, err, match):
    with pytest.raises(err, match=match):
        photos.load_photo_patches(**kwargs)


def test_the_course_switch_gives_the_photo_patches_offline(monkeypatch, patches):
    """data.load_natural_images(): the photo patches unless VAE_COURSE_DATASET=cifar10."""
    from vae_course import data

    monkeypatch.delenv("VAE_COURSE_DATASET", raising=False)
    d = data.load_natural_images()
    assert d.name == "photo-patches" and torch.equal(d.test.x, patches.test.x)
