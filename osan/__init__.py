"""osan: multimodal unsupervised domain adaptation (OSAN and baselines)."""

__version__ = "0.1.0"
