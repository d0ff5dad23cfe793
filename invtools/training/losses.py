"""Training losses: MSE on the image, and losses on a label net's class assignment
z (B, *shape, K) (:mod:`invtools.nets.output_layers`) against the true classes (B, *shape).

- ``hamming``: ``1 - <t, z>`` averaged over the entries: the expected fraction labelled wrong
  (for an LP vertex, the fraction labelled wrong). Linear in z, so an LPGD backward pass needs
  no second-order information.
- ``cross_entropy``: ``-log z_t``, with z clipped at :data:`CE_FLOOR` (an LP's z is 0 or 1).
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor
LOSSES = ("mse", "hamming", "cross_entropy")
LABEL_LOSSES = ("hamming", "cross_entropy")
CE_FLOOR = 1e-4


def true_class_weight(z: Tensor, labels: Tensor) -> Tensor:
    """z's weight on the true class of every entry: (B, *shape)."""
    return z.gather(-1, labels.unsqueeze(-1)).squeeze(-1)


def hamming_loss(z: Tensor, labels: Tensor) -> Tensor:
    """``1 - <t, z>`` for z (B, *shape, K) and class indices labels (B, *shape), averaged over
    the entries: the expected fraction labelled wrong (a scalar)."""
    return 1.0 - true_class_weight(z, labels).mean()


def cross_entropy_loss(z: Tensor, labels: Tensor) -> Tensor:
    """Mean ``-log z_t`` of z (B, *shape, K) on the true classes labels (B, *shape), with z
    clipped below at :data:`CE_FLOOR` (a scalar)."""
    return -torch.log(true_class_weight(z, labels).clamp_min(CE_FLOOR)).mean()


LABEL_LOSS_FUNCTIONS = {"hamming": hamming_loss, "cross_entropy": cross_entropy_loss}
