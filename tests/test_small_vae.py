"""Notebook 07 trains a VAE written out in the open and hands its weights to models.VAE.

This checks that the hand-over is exact: the open class (copied here as notebook 07 writes
it) and the package's class, with the same weights and the same noise, give the same loss.
"""
import torch
from torch import nn
from torch.nn import functional as F

from vae_course import models


class SmallVAE(nn.Module):
    def __init__(self, D=784, H=400, J=20):
        super().__init__()
        self.enc_hidden = nn.Linear(D, H)
        self.enc_mu, self.enc_logvar = nn.Linear(H, J), nn.Linear(H, J)
        self.dec_hidden, self.dec_out = nn.Linear(J, H), nn.Linear(H, D)

    def encode(self, x):
        h = F.relu(self.enc_hidden(x.flatten(1)))
        return self.enc_mu(h), self.enc_logvar(h)

    def decode(self, z):
        return self.dec_out(F.relu(self.dec_hidden(z)))

    def loss(self, x, eps):
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * eps
        logits = self.decode(z)
        rec = F.binary_cross_entropy_with_logits(logits, x.flatten(1), reduction="none").sum(1)
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
        return (rec + kl).mean(), rec.mean(), kl.mean()


def hand_over(small, vae):
    """The weight copy of notebook 07, section 4."""
    with torch.no_grad():
        vae.encoder.body[1].weight.copy_(small.enc_hidden.weight)
        vae.encoder.body[1].bias.copy_(small.enc_hidden.bias)
        vae.encoder.head.weight.copy_(torch.cat([small.enc_mu.weight, small.enc_logvar.weight]))
        vae.encoder.head.bias.copy_(torch.cat([small.enc_mu.bias, small.enc_logvar.bias]))
        vae.decoder.net[0].weight.copy_(small.dec_hidden.weight)
        vae.decoder.net[0].bias.copy_(small.dec_hidden.bias)
        vae.decoder.net[2].weight.copy_(small.dec_out.weight)
        vae.decoder.net[2].bias.copy_(small.dec_out.bias)


def test_the_open_vae_and_the_package_vae_compute_the_same_loss():
    torch.manual_seed(0)
    small = SmallVAE(J=20)
    vae = models.VAE((1, 28, 28), hidden=(400,), latent_dim=20, likelihood="bernoulli")
    hand_over(small, vae)
    x = torch.bernoulli(torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(1)))
    eps = torch.randn(64, 20, generator=torch.Generator().manual_seed(7))
    ours = small.loss(x, eps)
    theirs = vae.loss(x, generator=torch.Generator().manual_seed(7))   # draws the same eps from the same seed
    for a, b in zip(ours, (theirs.total, theirs.reconstruction, theirs.kl)):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-4), (a, b)
    # and the decoders agree on codes: same logits
    z = torch.randn(5, 20)
    assert torch.allclose(small.decode(z), vae.decode(z).flatten(1), atol=1e-5)
