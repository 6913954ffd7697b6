"""The networks of the course: MLP and small convolutional encoders/decoders, an
autoencoder, a VAE with a Bernoulli or Gaussian decoder, and a conditional VAE.

Conventions: images are N x C x H x W in [0, 1]; an encoder returns ``(mu, logvar)``
(or a code for the plain autoencoder); a decoder returns one tensor in image shape:
logits for the Bernoulli likelihood, means for the Gaussian one.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from . import losses

__all__ = [
    "MLPEncoder",
    "MLPDecoder",
    "ConvEncoder",
    "ConvDecoder",
    "Autoencoder",
    "VAE",
    "ConditionalVAE",
    "one_hot",
]

LIKELIHOODS = ("bernoulli", "gaussian")


def _check_shape(image_shape):
    if not (isinstance(image_shape, (tuple, list)) and len(image_shape) == 3 and all(isinstance(s, int) and s > 0 for s in image_shape)):
        raise ValueError(f"image_shape must be (channels, height, width) of positive ints, got {image_shape!r}")
    return tuple(image_shape)


def _check_pos_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")


def _check_input(x, image_shape, name="x"):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if tuple(x.shape[1:]) != tuple(image_shape) or x.dim() != len(image_shape) + 1:
        raise ValueError(f"{name} must have shape (batch, {', '.join(map(str, image_shape))}), got {tuple(x.shape)}")


def _check_latent(z, latent_dim):
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"z must be a torch.Tensor, got {type(z).__name__}")
    if not z.is_floating_point():
        raise TypeError(f"z must be a floating-point tensor, got dtype {z.dtype}")
    if z.dim() != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"z must have shape (batch, {latent_dim}), got {tuple(z.shape)}")


def one_hot(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """One-hot float encoding of integer labels, with a clear error for labels out of range."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a torch.Tensor of integer labels, got {type(y).__name__}")
    if y.is_floating_point() or y.dtype == torch.bool:
        raise TypeError(f"y must hold integer labels, got dtype {y.dtype}")
    if y.dim() != 1:
        raise ValueError(f"y must be one-dimensional (batch,), got shape {tuple(y.shape)}")
    if y.numel() and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"y must hold labels in 0..{num_classes - 1}, got min {y.min().item()} and max {y.max().item()}")
    return nn.functional.one_hot(y, num_classes).float()


# ----------------------------------------------------------------------------- building blocks


class MLPEncoder(nn.Module):
    """Flatten, hidden ReLU layers, then either a code (``gaussian=False``) or ``(mu, logvar)``."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...] | int, latent_dim: int, gaussian: bool = True):
        super().__init__()
        hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
        for name, v in [("in_dim", in_dim), ("latent_dim", latent_dim), *[("hidden", h) for h in hidden]]:
            _check_pos_int(name, v)
        layers, d = [], in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        self.body = nn.Sequential(nn.Flatten(), *layers)
        self.gaussian = gaussian
        self.head = nn.Linear(d, 2 * latent_dim if gaussian else latent_dim)

    def forward(self, x):
        out = self.head(self.body(x))
        return tuple(out.chunk(2, dim=-1)) if self.gaussian else out


class MLPDecoder(nn.Module):
    """Hidden ReLU layers from z to one output per pixel, reshaped to the image."""

    def __init__(self, latent_dim: int, hidden: tuple[int, ...] | int, image_shape: tuple[int, int, int]):
        super().__init__()
        hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
        for name, v in [("latent_dim", latent_dim), *[("hidden", h) for h in hidden]]:
            _check_pos_int(name, v)
        self.image_shape = _check_shape(image_shape)
        layers, d = [], latent_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        self.net = nn.Sequential(*layers, nn.Linear(d, math.prod(self.image_shape)))

    def forward(self, z):
        return self.net(z).view(-1, *self.image_shape)


class ConvEncoder(nn.Module):
    """Two stride-2 convolutions (28 -> 14 -> 7 for 28x28 input), then a linear head."""

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int, channels: int = 32, gaussian: bool = True):
        super().__init__()
        c, h, w = _check_shape(image_shape)
        _check_pos_int("latent_dim", latent_dim)
        _check_pos_int("channels", channels)
        if h % 4 or w % 4:
            raise ValueError(f"image height and width must be multiples of 4 for ConvEncoder, got {h}x{w}")
        self.body = nn.Sequential(
            nn.Conv2d(c, channels, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(),
        )
        self.gaussian = gaussian
        self.head = nn.Linear(2 * channels * (h // 4) * (w // 4), 2 * latent_dim if gaussian else latent_dim)

    def forward(self, x):
        out = self.head(self.body(x))
        return tuple(out.chunk(2, dim=-1)) if self.gaussian else out


class ConvDecoder(nn.Module):
    """A linear layer to a 7x7 map (for 28x28), then two stride-2 transposed convolutions."""

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], channels: int = 32):
        super().__init__()
        c, h, w = self.image_shape = _check_shape(image_shape)
        _check_pos_int("latent_dim", latent_dim)
        if h % 4 or w % 4:
            raise ValueError(f"image height and width must be multiples of 4 for ConvDecoder, got {h}x{w}")
        self.start = (2 * channels, h // 4, w // 4)
        self.fc = nn.Sequential(nn.Linear(latent_dim, math.prod(self.start)), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(channels, c, 4, stride=2, padding=1),
        )

    def forward(self, z):
        return self.net(self.fc(z).view(-1, *self.start))


def _make_coders(arch, image_shape, hidden, latent_dim, gaussian, extra_in=0, extra_latent=0):
    if arch == "mlp":
        enc = MLPEncoder(math.prod(image_shape) + extra_in, hidden, latent_dim, gaussian=gaussian)
        dec = MLPDecoder(latent_dim + extra_latent, hidden if isinstance(hidden, int) else tuple(reversed(hidden)), image_shape)
    elif arch == "conv":
        if extra_in or extra_latent:
            raise ValueError("arch='conv' is not available for the conditional VAE; use arch='mlp'")
        enc = ConvEncoder(image_shape, latent_dim, gaussian=gaussian)
        dec = ConvDecoder(latent_dim, image_shape)
    else:
        raise ValueError(f"arch must be 'mlp' or 'conv', got {arch!r}")
    return enc, dec


# ----------------------------------------------------------------------------- models


class Autoencoder(nn.Module):
    """A deterministic autoencoder x -> z = g_phi(x) -> x_hat = f_theta(z), outputs in [0, 1] (sigmoid)."""

    def __init__(self, image_shape=(1, 28, 28), hidden=(256,), latent_dim: int = 2, arch: str = "mlp"):
        super().__init__()
        self.image_shape = _check_shape(image_shape)
        self.latent_dim = latent_dim
        self.encoder, self.decoder = _make_coders(arch, self.image_shape, hidden, latent_dim, gaussian=False)

    def encode(self, x):
        _check_input(x, self.image_shape)
        return self.encoder(x)

    def decode(self, z):
        _check_latent(z, self.latent_dim)
        return torch.sigmoid(self.decoder(z))

    def forward(self, x):
        return self.decode(self.encode(x))


class VAE(nn.Module):
    """A VAE: Gaussian encoder q_phi(z|x) = N(mu, diag(exp(logvar))), prior N(0, I), and a
    Bernoulli (decoder gives logits) or Gaussian (decoder gives means, fixed ``sigma``) likelihood.
    """

    def __init__(self, image_shape=(1, 28, 28), hidden=(400,), latent_dim: int = 20,
                 likelihood: str = "bernoulli", arch: str = "mlp", sigma: float = 1.0):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if not (isinstance(sigma, (int, float)) and sigma > 0):
            raise ValueError(f"sigma (the Gaussian decoder's standard deviation) must be a number > 0, got {sigma!r}")
        self.image_shape = _check_shape(image_shape)
        self.latent_dim = latent_dim
        self.likelihood = likelihood
        self.sigma = float(sigma)
        self.encoder, self.decoder = _make_coders(arch, self.image_shape, hidden, latent_dim, gaussian=True)

    def encode(self, x):
        """The parameters (mu, logvar) of q_phi(z | x)."""
        _check_input(x, self.image_shape)
        return self.encoder(x)

    @staticmethod
    def reparameterize(mu, logvar, generator=None):
        """z = mu + sigma * eps with eps ~ N(0, I): a sample of q that gradients flow through."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode(self, z):
        """The decoder's output parameter: logits (Bernoulli) or means (Gaussian)."""
        _check_latent(z, self.latent_dim)
        return self.decoder(z)

    def mean_image(self, out):
        """E[x | z] from the decoder's output: sigmoid(logits) or the Gaussian mean."""
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def forward(self, x, generator=None):
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode(z), mu, logvar

    def log_likelihood(self, x, out):
        """log p_theta(x | z) per example, summed over pixels."""
        if self.likelihood == "bernoulli":
            return losses.bernoulli_log_likelihood(x, out)
        return losses.gaussian_log_likelihood(x, out, sigma=self.sigma)

    def loss(self, x, beta: float = 1.0, generator=None) -> losses.LossParts:
        """The negative ELBO (or its beta-weighted version) with its parts, averaged over the batch."""
        out, mu, logvar = self(x, generator)
        return losses.negative_elbo(self.log_likelihood(x, out), mu, logvar, beta=beta)

    @torch.no_grad()
    def sample(self, n: int, generator=None):
        """n images E[x | z] with z ~ N(0, I)."""
        _check_pos_int("n", n)
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return self.mean_image(self.decode(z))

    @torch.no_grad()
    def reconstruct(self, x):
        """E[x | z = mu(x)]: the decoder's mean at the encoder's mean."""
        mu, _ = self.encode(x)
        return self.mean_image(self.decode(mu))


class ConditionalVAE(VAE):
    """A conditional VAE for p(x | y): the one-hot label is concatenated to the encoder's
    input and to z at the decoder's input (MLP only)."""

    def __init__(self, image_shape=(1, 28, 28), hidden=(400,), latent_dim: int = 20, num_classes: int = 10,
                 likelihood: str = "bernoulli", sigma: float = 1.0):
        nn.Module.__init__(self)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if not (isinstance(sigma, (int, float)) and sigma > 0):
            raise ValueError(f"sigma must be a number > 0, got {sigma!r}")
        _check_pos_int("num_classes", num_classes)
        self.image_shape = _check_shape(image_shape)
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.likelihood, self.sigma = likelihood, float(sigma)
        self.encoder, self.decoder = _make_coders("mlp", self.image_shape, hidden, latent_dim, True,
                                                  extra_in=num_classes, extra_latent=num_classes)

    def _condition(self, y, batch):
        if isinstance(y, torch.Tensor) and y.is_floating_point():
            if y.dim() != 2 or y.shape[1] != self.num_classes:
                raise ValueError(f"a float condition y must have shape (batch, {self.num_classes}), got {tuple(y.shape)}")
            c = y
        else:
            c = one_hot(y, self.num_classes)
        if len(c) != batch:
            raise ValueError(f"y must have one label per example: {batch} examples, {len(c)} labels")
        return c

    def encode(self, x, y):
        _check_input(x, self.image_shape)
        c = self._condition(y, len(x)).to(x.device)
        return self.encoder(torch.cat([x.flatten(1), c], dim=1))

    def decode(self, z, y):
        _check_latent(z, self.latent_dim)
        c = self._condition(y, len(z)).to(z.device)
        return self.decoder(torch.cat([z, c], dim=1))

    def forward(self, x, y, generator=None):
        mu, logvar = self.encode(x, y)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode(z, y), mu, logvar

    def loss(self, x, y, beta: float = 1.0, generator=None) -> losses.LossParts:
        out, mu, logvar = self(x, y, generator)
        return losses.negative_elbo(self.log_likelihood(x, out), mu, logvar, beta=beta)

    @torch.no_grad()
    def sample(self, y, generator=None):
        """One image per label in ``y`` with z ~ N(0, I)."""
        c = self._condition(y, len(y))
        device = next(self.parameters()).device
        z = torch.randn(len(c), self.latent_dim, generator=generator, device=device)
        return self.mean_image(self.decode(z, c.to(device)))

    @torch.no_grad()
    def reconstruct(self, x, y):
        mu, _ = self.encode(x, y)
        return self.mean_image(self.decode(mu, y))
