"""Physics: forward operators implementing :class:`invtools.operators.Operator`."""

from forward_models import blur

__all__ = ["blur"]
