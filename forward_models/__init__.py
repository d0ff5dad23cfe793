"""Physics: forward operators implementing :class:`invtools.operators.Operator`."""

from forward_models import blur, eit

__all__ = ["blur", "eit"]
