"""The forward-operator interface and what every forward model shares: the :class:`Operator`
protocol (:mod:`.interface`), its contract checks (:mod:`.check`), composition and the log
parametrisation (:mod:`.composition`, :mod:`.parametrization`), the geometry of an operator's
input (:mod:`.geometry`) and the plug-ins through which invtools finds forward models
(:mod:`.plugins`)."""

from invtools.operators.check import OperatorCheck, check_operator
from invtools.operators.interface import (
    Operator,
    OperatorInputError,
    operator_class,
    operator_from_config,
    register_operator,
    registered_operators,
)

__all__ = ["Operator", "OperatorCheck", "OperatorInputError", "check_operator", "operator_class",
           "operator_from_config", "register_operator", "registered_operators"]
