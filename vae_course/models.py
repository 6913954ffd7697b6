"""The networks of the course: MLP and small convolutional encoders/decoders, an
autoencoder, a VAE with a Bernoulli or Gaussian decoder, and a conditional VAE.

Conventions: images are N x C x H x W in [0, 1]; an encoder returns ``(mu, logvar)``
(or a code for the plain autoencoder); a decoder returns one tensor in image shape:
logits for the Bernoulli likelihood, means for the Gaussian one.
"""
from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from . import losses
from .validation import check_choice, check_generator, check_image_shape, check_images, check_int, check_number, \
    check_tensor

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
    return check_image_shape("image_shape", image_shape)


def _check_pos_int(name, value):
    return check_int(name, value, minimum=1)


def _check_input(x, image_shape, name="x"):
    """A batch of images (N, C, H, W); flat vectors (N, C*H*W) are reshaped to it."""
    return check_images(name, x, image_shape)


def _check_latent(z, latent_dim):
    check_tensor("z", z, shape=("batch", latent_dim))


def _codes_for(model, z):
    """``z`` checked as (batch, latent_dim) codes and moved to ``model``'s device and dtype."""
    _check_latent(z, model.latent_dim)
    p = next(model.parameters())
    return z.to(p.device, p.dtype)


def _check_sigma(sigma):
    return check_number("sigma", sigma, positive=True, what="the Gaussian decoder's standard deviation")


@contextlib.contextmanager
def _seeded(seed):
    """A context in which torch's global CPU generator starts from ``seed`` and is restored
    afterwards: building a model with a seed neither depends on nor changes the caller's random state."""
    if seed is None:
        yield
        return
    seed = check_int("seed", seed, minimum=0)
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


def one_hot(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """One-hot float encoding (batch, num_classes) of integer labels ``y`` (batch,) in 0..num_classes-1."""
    if isinstance(y, torch.Tensor) and (y.is_floating_point() or y.dtype == torch.bool):
        raise TypeError(f"y must hold integer labels, got dtype {y.dtype}")
    check_tensor("y", y, dtype="integer", what="integer labels")
    num_classes = check_int("num_classes", num_classes, minimum=1)
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
        """``(mu, logvar)`` (each (batch, latent_dim)) when ``gaussian``, else the code (batch, latent_dim)."""
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
        """One output per pixel for codes ``z`` (batch, latent_dim), shape (batch, C, H, W)."""
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
        """``(mu, logvar)`` (each (batch, latent_dim)) when ``gaussian``, else the code (batch, latent_dim)."""
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
        """One output per pixel for codes ``z`` (batch, latent_dim), shape (batch, C, H, W)."""
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
        check_choice("arch", arch, ("mlp", "conv"))
    return enc, dec


# ----------------------------------------------------------------------------- models


class Autoencoder(nn.Module):
    """A deterministic autoencoder x -> z = g_phi(x) -> x_hat = f_theta(z), outputs in [0, 1] (sigmoid).

    ``seed`` (optional) initialises the weights from that seed without touching torch's
    global random state; without it they come from the global generator, as in torch.
    """

    def __init__(self, image_shape=(1, 28, 28), hidden=(256,), latent_dim: int = 2, arch: str = "mlp",
                 seed: int | None = None):
        super().__init__()
        self.image_shape = _check_shape(image_shape)
        self.latent_dim = _check_pos_int("latent_dim", latent_dim)
        with _seeded(seed):
            self.encoder, self.decoder = _make_coders(arch, self.image_shape, hidden, latent_dim, gaussian=False)

    def encode(self, x):
        """The code z = g_phi(x) (batch, latent_dim); ``x`` is (batch, C, H, W) or flat (batch, C*H*W)."""
        return self.encoder(_check_input(x, self.image_shape))

    def decode(self, z):
        """x_hat = f_theta(z) in [0, 1], shape (batch, C, H, W), for codes ``z`` (batch, latent_dim)."""
        _check_latent(z, self.latent_dim)
        return torch.sigmoid(self.decoder(z))

    @torch.no_grad()
    def decode_mean(self, z):
        """The decoder's image f_theta(z) in [0, 1] without gradients, on ``z``'s device
        (the same name as the VAEs' ``decode_mean``, so code can treat all three alike)."""
        return self.decode(_codes_for(self, z)).to(z.device)

    def forward(self, x):
        """The reconstruction f_theta(g_phi(x)) in [0, 1], shape (batch, C, H, W)."""
        return self.decode(self.encode(x))


class VAE(nn.Module):
    """A VAE: Gaussian encoder q_phi(z|x) = N(mu, diag(exp(logvar))), prior N(0, I), and a
    Bernoulli (decoder gives logits) or Gaussian (decoder gives means, fixed ``sigma``) likelihood.

    Images are (batch, C, H, W) with (C, H, W) = ``image_shape``; flat vectors (batch, C*H*W)
    are accepted too. ``sigma`` is a finite number > 0. ``seed`` (optional) initialises the
    weights from that seed without touching torch's global random state.

    Randomness: the reparameterisation noise of ``forward``, ``loss`` and ``sample`` comes from
    the ``generator`` they are given, or torch's global generator when it is None.
    """

    def __init__(self, image_shape=(1, 28, 28), hidden=(400,), latent_dim: int = 20,
                 likelihood: str = "bernoulli", arch: str = "mlp", sigma: float = 1.0, seed: int | None = None):
        super().__init__()
        self.likelihood = check_choice("likelihood", likelihood, LIKELIHOODS)
        self.sigma = _check_sigma(sigma)
        self.image_shape = _check_shape(image_shape)
        self.latent_dim = _check_pos_int("latent_dim", latent_dim)
        with _seeded(seed):
            self.encoder, self.decoder = _make_coders(arch, self.image_shape, hidden, latent_dim, gaussian=True)

    def _images(self, x):
        return _check_input(x, self.image_shape)

    def encode(self, x):
        """The parameters (mu, logvar) of q_phi(z | x), each (batch, latent_dim)."""
        return self.encoder(self._images(x))

    @staticmethod
    def reparameterize(mu, logvar, generator=None):
        """z = mu + sigma * eps with eps ~ N(0, I) drawn from ``generator`` (or the global one):
        a sample of q = N(mu, diag(exp(logvar))) that gradients flow through."""
        check_generator("generator", generator)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode(self, z):
        """The decoder's output parameter: logits (Bernoulli) or means (Gaussian)."""
        _check_latent(z, self.latent_dim)
        return self.decoder(z)

    def mean_image(self, out):
        """E[x | z] from the decoder's output: sigmoid(logits) or the Gaussian mean."""
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    @torch.no_grad()
    def decode_mean(self, z):
        """E[x | z] for codes ``z`` (batch, latent_dim), without gradients: the pixel
        probabilities (Bernoulli) or the means (Gaussian), shape (batch, C, H, W).

        ``z`` is moved to the model's device and dtype; the images come back on ``z``'s device.
        """
        return self.mean_image(self.decode(_codes_for(self, z))).to(z.device)

    def forward(self, x, generator=None):
        """``(out, mu, logvar)``: the decoder's output for one z ~ q(z | x) and q's parameters.

        The noise eps of z = mu + sigma * eps comes from ``generator`` (a ``torch.Generator`` on
        the model's device) or, when it is None, from torch's global generator.
        """
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode(z), mu, logvar

    def log_likelihood(self, x, out):
        """log p_theta(x | z) per example, summed over pixels (shape (batch,))."""
        x = self._images(x)
        if self.likelihood == "bernoulli":
            return losses.bernoulli_log_likelihood(x, out)
        return losses.gaussian_log_likelihood(x, out, sigma=self.sigma)

    def loss(self, x, beta: float = 1.0, generator=None) -> losses.LossParts:
        """The negative ELBO (or its beta-weighted version) with its parts, averaged over the batch.

        One z ~ q(z | x) per image, its noise from ``generator`` (or the global generator);
        the KL term's reference distribution is the prior N(0, I).
        """
        x = self._images(x)
        out, mu, logvar = self(x, generator)
        return losses.negative_elbo(self.log_likelihood(x, out), mu, logvar, beta=beta)

    def _param(self):
        return next(self.parameters())

    @torch.no_grad()
    def sample(self, n: int, generator=None):
        """``n`` images E[x | z] with z ~ N(0, I) drawn from ``generator`` (or the global one),
        in the model's dtype and on its device."""
        _check_pos_int("n", n)
        check_generator("generator", generator)
        p = self._param()
        z = torch.randn(n, self.latent_dim, generator=generator, device=p.device, dtype=p.dtype)
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
                 likelihood: str = "bernoulli", sigma: float = 1.0, seed: int | None = None):
        nn.Module.__init__(self)
        self.likelihood = check_choice("likelihood", likelihood, LIKELIHOODS)
        self.sigma = _check_sigma(sigma)
        self.num_classes = _check_pos_int("num_classes", num_classes)
        self.image_shape = _check_shape(image_shape)
        self.latent_dim = _check_pos_int("latent_dim", latent_dim)
        with _seeded(seed):
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
        """The parameters (mu, logvar) of q_phi(z | x, y)."""
        x = self._images(x)
        c = self._condition(y, len(x)).to(x.device)
        return self.encoder(torch.cat([x.flatten(1), c], dim=1))

    def decode(self, z, y):
        """The decoder's output for codes ``z`` (batch, latent_dim) and labels ``y``."""
        _check_latent(z, self.latent_dim)
        c = self._condition(y, len(z)).to(z.device)
        return self.decoder(torch.cat([z, c], dim=1))

    def forward(self, x, y, generator=None):
        """``(out, mu, logvar)`` for one z ~ q(z | x, y), its noise from ``generator`` (or the global one)."""
        mu, logvar = self.encode(x, y)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode(z, y), mu, logvar

    def loss(self, x, y, beta: float = 1.0, generator=None) -> losses.LossParts:
        """The (beta-weighted) negative ELBO of p(x | y), KL to the prior N(0, I), batch means."""
        x = self._images(x)
        out, mu, logvar = self(x, y, generator)
        return losses.negative_elbo(self.log_likelihood(x, out), mu, logvar, beta=beta)

    @torch.no_grad()
    def decode_mean(self, z, y):
        """E[x | z, y] for codes ``z`` (batch, latent_dim) and labels ``y`` (one per code),
        without gradients; the images come back on ``z``'s device."""
        zz = _codes_for(self, z)
        c = self._condition(y, len(zz)).to(zz.device, zz.dtype)
        return self.mean_image(self.decode(zz, c)).to(z.device)

    @torch.no_grad()
    def sample(self, y, generator=None):
        """One image per label in ``y`` with z ~ N(0, I)."""
        c = self._condition(y, len(y))
        check_generator("generator", generator)
        p = self._param()
        device = p.device
        z = torch.randn(len(c), self.latent_dim, generator=generator, device=device, dtype=p.dtype)
        return self.mean_image(self.decode(z, c.to(device)))

    @torch.no_grad()
    def reconstruct(self, x, y):
        """E[x | z = mu(x, y), y]: the decoder's mean at the encoder's mean."""
        mu, _ = self.encode(x, y)
        return self.mean_image(self.decode(mu, y))
