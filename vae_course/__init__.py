"""vae_course: the helper package of the VAE notebook course.

Small modules, one idea each: ``config`` (seeding, device, run mode, figures folder),
``data``, ``models``, ``losses``, ``train``, ``plots``, ``exercises``, and the modules the
later notebooks add (mixtures, inference, estimators, metrics, widgets).
"""
from .config import get_device, is_fast, pick, seed_everything, setup

__version__ = "0.1.0"
__all__ = ["get_device", "is_fast", "pick", "seed_everything", "setup", "__version__"]
