"""vae_course: the helper package of the VAE notebook course.

Which module holds what
-----------------------
Small modules, each named after what it holds:

========================  ==================================================================
``config``                seeding, device, run mode (fast / default), the figures folder
``data``                  datasets (MNIST and friends, 8x8 digits, 2-D mixtures), corruption,
                          binarisation, minibatches
``shapes``                images of simple shapes with known generative factors (notebook 09)
``validation``            the argument checks every public function uses (one place)
``models``                encoders, decoders, ``Autoencoder``, ``VAE``, ``ConditionalVAE``
``losses``                per-example log-likelihoods (Bernoulli, Gaussian) and the training
                          loss ``negative_elbo`` assembled from its parts
``kl``                    every KL divergence: ``kl_discrete``, ``kl_normal``, ``kl_mvn``,
                          ``kl_diag_gaussian_to_standard_normal``, ``kl_mixture_gaussian``
``train``                 the training loop, ``evaluate``, ready-made loss functions, checkpoints
``evaluation``            judging a trained VAE: ``elbo``, ``importance_weighted_bound``,
                          ``kl_per_dimension``, ``active_units``
``linear_gaussian``       the tractable linear-Gaussian model (exact posterior, ELBO, gap)
``estimators``            Monte Carlo gradient estimators (score function, pathwise) and SGVB
``mixtures``              Gaussian mixtures fitted by EM
``inference``             fitting a Gaussian by forward / reverse KL; mean-field VI (CAVI)
``disentanglement``       the Mutual Information Gap
``metrics``               Frechet distance, precision / recall on features
``features``              a small classifier whose features feed ``metrics``
``plots``                 the course's plots and ``save_figure``
``diagrams``              pipeline diagrams of the autoencoder, the denoising autoencoder, the VAE
                          and the conditional VAE (matplotlib figures sized for slides)
``widgets``               interactive explorers (a package: ``widgets.base`` and one module per
                          explorer)
``exercises``             readable checks for the exercises' visible tests
========================  ==================================================================

Two ELBO entry points
---------------------
* a neural model: ``evaluation.elbo(model, x, num_samples=1, generator=None)`` (its
  negative is the training loss ``model.loss(x)``);
* the tractable model: ``LinearGaussian.elbo(x, q_mean, q_cov)``, exact.

``estimators.sgvb_elbo(x, mu, logvar, log_likelihood, num_samples, kl, generator)`` is the
SGVB estimator itself (notebook 06), with the same names for the same things.

Conventions, stated once
------------------------
* **Units and sums.** Log-densities are in nats, summed over pixels and over latent
  dimensions per example; a loss over a minibatch is the mean over examples.
* **Gaussians.** A Gaussian is given by its mean and either its log-variance ``logvar``
  (what the encoders output, the default wherever a VAE is involved) or its standard
  deviation ``sigma``. Every function that takes one accepts the other by keyword (exactly
  one of the two), e.g. ``kl_normal(0, mu_q=1, logvar_p=..., logvar_q=...)``,
  ``sgvb_elbo(..., sigma=...)``, ``pathwise_gradients(f, mu, logvar=...)``. The gradient
  estimators report gradients with respect to (mu, sigma) either way.
* **KL divergences** are named ``kl_<first>[_to_<second>]``; the first argument is the
  distribution the expectation is under, and every docstring states the reference (second)
  distribution. ``kl_discrete``, ``kl_normal`` and ``kl_mvn`` accept numpy or torch input
  and answer in the same library.
* **Images** are (N, C, H, W) with values in [0, 1]; models also take flat vectors
  (N, C*H*W) and reshape them.
* **Randomness.** No function reseeds or draws from torch's global generator behind the
  caller's back. Functions that draw take a ``generator`` (None means torch's global one,
  as in torch). ``train(..., seed=s)`` draws everything from its own generators, model noise
  included, leaves the caller's random state unchanged, and two runs are bit-identical.
  Models take an optional ``seed`` for their initial weights.
* **Validation.** Every public function checks its arguments with ``vae_course.validation``:
  the message names the argument, says what was wrong and what is allowed; NaN or inf where
  it would poison a result is an error.

Deprecated names (they still work, and warn with the new name)
---------------------------------------------------------------
``losses.gaussian_kl`` -> ``kl.kl_diag_gaussian_to_standard_normal``;
``inference.kl_discrete / kl_normal / kl_mvn / kl_mixture_gaussian`` -> the same names in
``kl``; ``linear_gaussian.gaussian_kl_full`` -> ``kl.kl_mvn``; ``likelihood.*`` ->
``evaluation.*``; ``metrics.mutual_information_gap`` and ``metrics.MIGResult`` ->
``disentanglement``.
"""
from .config import get_device, is_fast, pick, seed_everything, setup

__version__ = "0.1.0"
__all__ = ["get_device", "is_fast", "pick", "seed_everything", "setup", "__version__"]
