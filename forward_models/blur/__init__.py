"""Nonlinear blur (nonlinear deconvolution) forward models."""

from forward_models.blur.image_blur import ImageBlur2D, gaussian_kernel
from forward_models.blur.quadratic_window import QuadraticWindowBlur, random_window_weights

__all__ = ["ImageBlur2D", "QuadraticWindowBlur", "gaussian_kernel", "random_window_weights"]
