"""Building blocks for linear expressions from prepared coefficient arrays.

Pyomo's operator overloading creates one Python object per ``+``; building
``LinearExpression`` objects directly from lists keeps model construction linear in size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pyomo.core.expr.numeric_expr import LinearExpression


def linear(coefs: Sequence[float] | np.ndarray, variables: Sequence, constant: float = 0.0) -> LinearExpression:
    """``constant + sum(coefs[i] * variables[i])`` as one expression node."""
    return LinearExpression(
        constant=float(constant), linear_coefs=np.asarray(coefs, dtype=float).tolist(), linear_vars=list(variables)
    )
