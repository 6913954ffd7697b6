"""pytest set-up shared by tests/ and notebooks/ (nbval).

Notebooks run as tests start their kernels with this process's environment: figures they
save go under build/test-figures unless VAE_COURSE_FIGURES says otherwise, never into the
committed figures/ folder (only `make figures` writes that).
"""
import os

os.environ.setdefault(
    "VAE_COURSE_FIGURES", os.path.join(os.path.dirname(os.path.abspath(__file__)), "build", "test-figures")
)
