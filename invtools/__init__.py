"""invtools: learned reconstruction for nonlinear inverse problems."""

from invtools.operator_check import OperatorCheck, check_operator
from invtools.operators import (
    Operator,
    OperatorInputError,
    operator_from_config,
    register_operator,
)

__version__ = "0.1.0"

__all__ = ["Operator", "OperatorCheck", "OperatorInputError", "check_operator",
           "operator_from_config", "register_operator", "__version__"]
