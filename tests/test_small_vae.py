"""Notebook 07 trains a VAE written out in the open (``SmallVAE``) and says that the package's
``models.VAE`` is the same network. This checks it: the class is read from the notebook itself,
and with the weights copied over and the same noise both give the same loss and its parts,
the same logits and the same ``decode_mean`` images.
"""
import math
from pathlib import Path

import nbformat
import torch
from torch import nn
from torch.nn import functional as F

from vae_course import models

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "07_vae.ipynb"


def small_vae_class():
    """The SmallVAE class exactly as notebook 07 defines it."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    sources = [c.source for c in nb.cells if c.cell_type == "code" and c.source.startswith("class SmallVAE")]
    assert len(sources) == 1, f"notebook 07 should define SmallVAE in one cell, found {len(sources)}"
    namespace = {"math": math, "torch": torch, "nn": nn, "F": F}
    exec(compile(sources[0], f"{NOTEBOOK.name}: SmallVAE", "exec"), namespace)
    return namespace["SmallVAE"]


def hand_over(small, vae):
    """Copy SmallVAE's weights into models.VAE (one head of 2J outputs holds mu's and logvar's rows)."""
    with torch.no_grad():
        vae.encoder.body[1].weight.copy_(small.enc_hidden.weight)
        vae.encoder.body[1].bias.copy_(small.enc_hidden.bias)
        vae.encoder.head.weight.copy_(torch.cat([small.enc_mu.weight, small.enc_logvar.weight]))
        vae.encoder.head.bias.copy_(torch.cat([small.enc_mu.bias, small.enc_logvar.bias]))
        vae.decoder.net[0].weight.copy_(small.dec_hidden.weight)
        vae.decoder.net[0].bias.copy_(small.dec_hidden.bias)
        vae.decoder.net[2].weight.copy_(small.dec_out.weight)
        vae.decoder.net[2].bias.copy_(small.dec_out.bias)


def test_the_open_vae_and_the_package_vae_are_the_same_network():
    SmallVAE = small_vae_class()
    torch.manual_seed(0)
    small = SmallVAE((1, 28, 28), H=400, J=20)
    vae = models.VAE((1, 28, 28), hidden=(400,), latent_dim=20, likelihood="bernoulli")
    assert sum(p.numel() for p in small.parameters()) == sum(p.numel() for p in vae.parameters())
    hand_over(small, vae)
    x = torch.bernoulli(torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(1)))
    eps = torch.randn(64, 20, generator=torch.Generator().manual_seed(7))
    ours = small.loss(x, eps)
    theirs = vae.loss(x, generator=torch.Generator().manual_seed(7))   # draws the same eps from the same seed
    for a, b in zip(ours, (theirs.total, theirs.reconstruction, theirs.kl)):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-4), (a, b)
    # the encoders and decoders agree on their own: same (mu, logvar), same logits, same mean images
    for a, b in zip(small.encode(x), vae.encode(x)):
        assert torch.allclose(a, b, atol=1e-5)
    z = torch.randn(5, 20, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(small.decode(z), vae.decode(z).flatten(1), atol=1e-5)
    mean_small, mean_vae = small.decode_mean(z), vae.decode_mean(z)
    assert mean_small.shape == mean_vae.shape == (5, 1, 28, 28)
    assert torch.allclose(mean_small, mean_vae, atol=1e-6)
    assert not mean_small.requires_grad


def test_small_vae_loss_is_the_negative_elbo_of_torch_distributions():
    SmallVAE = small_vae_class()
    torch.manual_seed(0)
    small = SmallVAE((1, 28, 28), H=50, J=3).double()
    x = torch.bernoulli(torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(2))).double()
    eps = torch.randn(8, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    total, rec, kl = small.loss(x, eps)
    mu, logvar = small.encode(x)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    logits = small.decode(mu + torch.exp(0.5 * logvar) * eps)
    rec_ref = -torch.distributions.Bernoulli(logits=logits).log_prob(x.flatten(1)).sum(1).mean()
    kl_ref = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1).mean()
    assert torch.allclose(rec, rec_ref, atol=1e-8) and torch.allclose(kl, kl_ref, atol=1e-10)
    assert torch.allclose(total, rec_ref + kl_ref, atol=1e-8)
