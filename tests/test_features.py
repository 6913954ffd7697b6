"""Tests of vae_course.features: the small feature classifier and its training helper."""
import pytest
import torch
import torch.nn.functional as F

from vae_course import data, features, metrics


def test_feature_classifier_shapes_and_penultimate_layer():
    torch.manual_seed(0)
    net = features.FeatureClassifier((1, 28, 28), num_classes=10, feature_dim=32)
    x = torch.rand(5, 1, 28, 28)
    f = net.features(x)
    assert f.shape == (5, 32) and (f >= 0).all()  # ReLU activations
    assert torch.allclose(net(x), net.head(f))  # logits are the head applied to the features
    odd = features.FeatureClassifier((1, 9, 7), num_classes=3, feature_dim=4)
    assert odd(torch.rand(2, 1, 9, 7)).shape == (2, 3)


def test_classifier_loss_is_cross_entropy():
    torch.manual_seed(1)
    net = features.FeatureClassifier((1, 8, 8), num_classes=4, feature_dim=8)
    x, y = torch.rand(6, 1, 8, 8), torch.tensor([0, 1, 2, 3, 0, 1])
    logits = net(x)
    by_hand = -(logits.log_softmax(dim=1)[torch.arange(6), y]).mean()
    assert torch.allclose(features.classifier_loss(net, x, y), by_hand, atol=1e-6)
    assert torch.allclose(features.classifier_loss(net, x, y), F.cross_entropy(logits, y))


def test_accuracy_counts_correct_labels():
    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):  # predicts class 1 when the mean pixel exceeds 0.5
            m = x.flatten(1).mean(1)
            return torch.stack([0.5 - m, m - 0.5], dim=1)

    x = torch.cat([torch.zeros(3, 1, 2, 2), torch.ones(5, 1, 2, 2)])
    y = torch.tensor([0, 0, 1, 1, 1, 1, 1, 0])
    assert features.accuracy(Fixed(), x, y, batch_size=3) == pytest.approx(6 / 8)


def test_train_feature_classifier_learns_and_checkpoints(tmp_path, digits):
    small = data.ImageData("digits", digits.train.subset(400), digits.val.subset(100), digits.test.subset(100))
    path = tmp_path / "clf.pt"
    net = features.train_feature_classifier(small, epochs=8, feature_dim=16, progress=False, checkpoint=path)
    acc = features.accuracy(net, small.test.x, small.test.y)
    assert acc > 0.5, f"accuracy {acc} is not clearly above chance (0.1)"
    assert path.is_file()
    again = features.train_feature_classifier(small, epochs=0, feature_dim=16, progress=False, checkpoint=path)
    x = small.test.x[:10]
    assert torch.equal(net.features(x), again.features(x))
    # the features plug into the metrics as a feature function
    fd = metrics.feature_frechet_distance(small.val.x, small.test.x, net.features)
    assert fd >= 0


def test_training_is_reproducible(digits):
    tiny = digits.train.subset(64)
    a = features.train_feature_classifier(tiny, epochs=1, feature_dim=8, progress=False, seed=3)
    b = features.train_feature_classifier(tiny, epochs=1, feature_dim=8, progress=False, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"image_shape": (28, 28)}, ValueError, "image_shape"),
        ({"num_classes": 1}, ValueError, "num_classes"),
        ({"feature_dim": 0}, ValueError, "feature_dim"),
        ({"channels": 2.0}, TypeError, "channels"),
    ],
)
def test_feature_classifier_rejects_bad_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        features.FeatureClassifier(**kwargs)


def test_features_reject_images_of_the_wrong_shape():
    net = features.FeatureClassifier((1, 28, 28))
    with pytest.raises(ValueError, match=r"x must be a batch of images of shape \(N, 1, 28, 28\)"):
        net.features(torch.rand(2, 1, 8, 8))
    with pytest.raises(TypeError, match="floating-point"):
        net.features(torch.zeros(2, 1, 28, 28, dtype=torch.int64))


def test_train_feature_classifier_rejects_other_data():
    with pytest.raises(TypeError, match="ImageData or a Split"):
        features.train_feature_classifier(torch.rand(3, 1, 28, 28))


def test_train_feature_classifier_leaves_the_callers_rng_alone(digits):
    from vae_course import features

    torch.manual_seed(5)
    state = torch.get_rng_state()
    a = features.train_feature_classifier(digits.train.subset(64), epochs=1, feature_dim=8, seed=3, progress=False)
    assert torch.equal(torch.get_rng_state(), state)
    b = features.train_feature_classifier(digits.train.subset(64), epochs=1, feature_dim=8, seed=3, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
