"""Deprecated: the log p(x) bounds and latent diagnostics moved to ``vae_course.evaluation``.

Each old name still works and warns (``DeprecationWarning``) with the new one:
``likelihood.elbo`` -> ``evaluation.elbo``, ``likelihood.importance_weighted_bound`` ->
``evaluation.importance_weighted_bound``, ``likelihood.kl_per_dimension`` ->
``evaluation.kl_per_dimension``, ``likelihood.active_units`` -> ``evaluation.active_units``.
"""
from __future__ import annotations

from . import evaluation as _evaluation
from ._deprecation import deprecated_alias
from .evaluation import ActiveUnits

__all__ = ["ActiveUnits", "active_units", "elbo", "importance_weighted_bound", "kl_per_dimension"]

elbo = deprecated_alias(_evaluation.elbo, "vae_course.likelihood.elbo", "vae_course.evaluation.elbo")
importance_weighted_bound = deprecated_alias(
    _evaluation.importance_weighted_bound, "vae_course.likelihood.importance_weighted_bound",
    "vae_course.evaluation.importance_weighted_bound")
kl_per_dimension = deprecated_alias(_evaluation.kl_per_dimension, "vae_course.likelihood.kl_per_dimension",
                                    "vae_course.evaluation.kl_per_dimension")
active_units = deprecated_alias(_evaluation.active_units, "vae_course.likelihood.active_units",
                                "vae_course.evaluation.active_units")
