"""Notebook 01 writes its autoencoder by hand and then uses ``models.Autoencoder``: the two must be the same network.

The hand-written pair below is notebook 01's (section 2): an encoder Flatten -> Linear(D, H) -> ReLU ->
Linear(H, J) and a decoder Linear(J, H) -> ReLU -> Linear(H, D) -> sigmoid -> Unflatten. Copying its
weights, in order, into ``models.Autoencoder(image_shape, hidden=(H,), latent_dim=J)`` must give the same
outputs; any other weights must not.
"""
import pytest
import torch
from torch import nn

from vae_course import models


def hand_written(image_shape, H, J):
    D = int(torch.tensor(image_shape).prod())
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(D, H), nn.ReLU(), nn.Linear(H, J))
    decoder = nn.Sequential(nn.Linear(J, H), nn.ReLU(), nn.Linear(H, D), nn.Sigmoid(), nn.Unflatten(1, image_shape))
    return encoder, decoder


@pytest.mark.parametrize("image_shape, H, J", [((1, 28, 28), 256, 16), ((1, 8, 8), 32, 2), ((3, 4, 5), 7, 3)])
def test_package_autoencoder_is_the_hand_written_network(image_shape, H, J):
    torch.manual_seed(0)
    encoder, decoder = hand_written(image_shape, H, J)
    package_ae = models.Autoencoder(image_shape, hidden=(H,), latent_dim=J)
    ours = list(encoder.parameters()) + list(decoder.parameters())
    theirs = list(package_ae.parameters())
    assert [p.shape for p in ours] == [p.shape for p in theirs], "the two networks have different layers"

    x = torch.rand(9, *image_shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = (package_ae(x) - decoder(encoder(x))).abs().max().item()
        for p_theirs, p_ours in zip(theirs, ours):
            p_theirs.copy_(p_ours)
        after = (package_ae(x) - decoder(encoder(x))).abs().max().item()
        codes = (package_ae.encode(x) - encoder(x)).abs().max().item()
    # independently initialised weights give different outputs: the comparison can fail
    assert before > 1e-3
    # the same weights give the same codes and the same reconstructions
    assert codes < 1e-6 and after < 1e-6, f"models.Autoencoder differs from the hand-written network by {after}"
    assert package_ae(x).shape == x.shape
