"""mascotbot engine: data, conditional GANs, training, evaluation and the HTTP service."""

__version__ = "0.1.0"
