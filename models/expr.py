"""Building blocks for linear expressions and rows from prepared coefficient arrays.

Pyomo's operator overloading creates one Python object per ``+``; building one
:class:`ArrayLinearExpression` from arrays keeps model construction linear in size, and
writes no object per term until something other than ``optimizer.matrix`` asks for the terms.
A family of hundreds of thousands of rows with the same shape is cheaper still as a
:class:`MatrixRows`: a constraint component holding its rows as one sparse matrix.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from itertools import repeat

import numpy as np
import scipy.sparse
from pyomo.common.modeling import NOTSET
from pyomo.core.base.constraint import ConstraintData, IndexedConstraint
from pyomo.core.base.set import Any
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression
from pyomo.core.expr.relational_expr import EqualityExpression, InequalityExpression, RangedExpression
from pyomo.repn import standard_repn
from pyomo.repn.util import sum_like_expression_types


def object_array(items) -> np.ndarray:
    """``items`` as a new one-dimensional numpy array of objects (never unpacked, as ``numpy.array`` might)."""
    if isinstance(items, np.ndarray) and items.dtype == object and items.ndim == 1:
        return items.copy()
    items = items if isinstance(items, (list, tuple, np.ndarray)) else list(items)
    return np.fromiter(items, dtype=object, count=len(items))


def linear(coefs: Sequence[float] | np.ndarray, variables: Sequence, constant: float = 0.0) -> ArrayLinearExpression:
    """``constant + sum(coefs[i] * variables[i])`` as one expression node."""
    return ArrayLinearExpression(coefs, variables, constant)


class ArrayLinearExpression(LinearExpression):
    """``constant + sum(coefs[i] * variables[i])``, held as an array of coefficients and an array of variables.

    Pyomo's ``LinearExpression`` holds one ``MonomialTermExpression`` per term. The year's P&L
    lines and daily BTC and cash flows have 3.4 million terms, and writing them cost about 0.6 s
    of its build and reading them back as long again in the hand-off. This one writes its terms
    only when they are first asked for (``args``: printing, Pyomo's writers);
    ``optimizer.matrix`` reads the arrays instead (:meth:`arrays`), and its value is the
    arrays' dot product. One built from it by Pyomo (a sum with it, a clone) is a plain
    ``LinearExpression``.

    Pyomo's own walkers dispatch on a node's exact class: this module registers the class with
    the LP writer and standard-form compiler and with ``standard_repn`` (persistent solvers,
    mpi-sppy), which is every one ``hashplan`` uses. Others (bounds tightening, unit checks,
    the GAMS and BARON writers) would refuse the model as having an unknown node.

    Parameters
    ----------
    coefs : sequence of float
        The coefficient of each variable.
    variables : sequence
        Pyomo variables, as many as ``coefs`` (kept as an object array).
    constant : float, optional
        The constant term.
    """

    __slots__ = ("coefs", "variables", "constant_value", "_terms")

    def __init__(self, coefs: Sequence[float] | np.ndarray, variables: Sequence, constant: float = 0.0) -> None:
        self.coefs = np.asarray(coefs, dtype=float)
        self.variables = object_array(variables)
        if self.coefs.shape != (len(self.variables),):
            raise ValueError(f"linear: {self.coefs.shape} coefficients for {len(self.variables)} variables")
        self.constant_value = float(constant)
        self._terms = None
        self._nargs = len(self.variables) + (1 if self.constant_value else 0)

    @property
    def _args_(self) -> list:
        if self._terms is None:
            self._terms = [self.constant_value] if self.constant_value else []
            self._terms.extend(map(MonomialTermExpression, zip(self.coefs.tolist(), self.variables)))
        return self._terms

    @_args_.setter
    def _args_(self, terms: list) -> None:
        # a copy (clone, pickle) restores the terms it read, equal to the arrays copied with them
        self._terms = terms

    def arrays(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(coefficients, variables, constant) of the expression."""
        return self.coefs, self.variables, self.constant_value

    def __call__(self, exception=NOTSET):
        """The value at the variables' values, from the arrays; Pyomo's evaluation (and its
        error) if a variable has none."""
        values = [var.value for var in self.variables]
        if None in values:
            return LinearExpression.__call__(self, exception)
        return self.constant_value + float(self.coefs @ np.array(values, dtype=float))

    def create_node_with_local_data(self, args, classtype=None):
        return LinearExpression.create_node_with_local_data(self, args, LinearExpression if classtype is None else classtype)

    def _trunc_append(self, other):
        return LinearExpression([*self.args, other])

    def _trunc_extend(self, other):
        return LinearExpression([*self.args, *other.args])


# Pyomo's expression walkers dispatch on a node's exact class, so a subclass must be registered
# with each that is to read it: the LP writer and standard-form compiler (repn.util's sum-like
# types) and standard_repn (Pyomo's persistent solvers, which mpi-sppy's hedging uses)
sum_like_expression_types.add(ArrayLinearExpression)
standard_repn._repn_collectors[ArrayLinearExpression] = standard_repn._repn_collectors[LinearExpression]


def sparse_from_runs(rows: list[np.ndarray], columns: list[np.ndarray], values: list[np.ndarray], shape: tuple[int, int]) -> scipy.sparse.csr_matrix:
    """The ``shape`` matrix with ``values[i]`` at rows ``rows[i]`` and columns ``columns[i]``, each
    run of entries an array (duplicates summed); all zeros if there is no run."""
    if not values:
        return scipy.sparse.csr_matrix(shape)
    return scipy.sparse.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))), shape=shape)


class MatrixRowData(ConstraintData):
    """One row of a :class:`MatrixRows`, its expression written from the matrix only when asked for.

    It is a Pyomo constraint like any other to everything that reads one (``body``, ``lb``,
    ``ub``, ``expr``, Pyomo's writers); only ``optimizer.matrix`` reads the matrix directly.
    """

    __slots__ = ("_row",)

    def __init__(self, index, row: int, component: weakref.ref) -> None:
        self._component = component
        self._active = True
        self._index = index
        self._row = row

    @property
    def _expr(self):
        return self.parent_component().row_expression(self._row)

    @_expr.setter
    def _expr(self, _) -> None:
        # a copy (clone, pickle) restores every slot: this row's expression is its parent's
        # matrix, copied with the parent, so the expression written out for the copy is dropped
        pass

    def set_value(self, expr) -> None:
        raise TypeError(f"{self.name} is a row of a matrix and cannot be changed; rebuild the model instead")


class MatrixRows(IndexedConstraint):
    """Rows ``lower <= A x <= upper`` keyed by ``keys``, ``A`` a sparse matrix over ``variables``.

    Construction costs one small object per row instead of an expression tree, and the
    hand-off to HiGHS takes ``A`` as it is.

    Parameters
    ----------
    keys : sequence
        Index of each row, in the order of ``A``'s rows.
    A : scipy.sparse matrix
        Coefficients, one row per key, one column per entry of ``variables``.
    lower, upper : numpy.ndarray
        Bounds of each row; ``-inf`` or ``inf`` where there is none.
    variables : sequence
        The Pyomo variable of each column of ``A``.
    doc : str, optional
        What the rows say, as for any Pyomo component.
    """

    def __init__(self, keys: Sequence, A, lower: np.ndarray, upper: np.ndarray, variables: Sequence, doc: str | None = None) -> None:
        A = scipy.sparse.csr_matrix(A)
        lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
        if not (A.shape[0] == len(keys) == len(lower) == len(upper)) or A.shape[1] != len(variables):
            raise ValueError(f"MatrixRows: A is {A.shape}, with {len(keys)} keys, {len(lower)} lower and {len(upper)} upper bounds, {len(variables)} variables")
        if np.any(np.isposinf(lower) | np.isneginf(upper) | (lower > upper)):
            raise ValueError("MatrixRows: every row needs lower <= upper, lower < inf and upper > -inf")
        IndexedConstraint.__init__(self, Any, doc=doc)
        self.rows = object_array([])
        """Each row's constraint, in the order of ``A``'s rows, as an object array (filled on construction)."""
        self.A = A
        self.lower, self.upper = lower, upper
        self.variables = object_array(variables)
        self._keys = list(keys)

    def construct(self, data=None) -> None:
        if self._constructed:
            return
        self._constructed = True
        component = weakref.ref(self)
        self.rows = object_array(list(map(MatrixRowData, self._keys, range(len(self._keys)), repeat(component))))
        self._data = dict(zip(self._keys, self.rows))
        if len(self._data) != len(self._keys):
            raise ValueError(f"MatrixRows {self.name}: the keys are not distinct")

    def row_expression(self, row: int):
        """Row ``row`` as a Pyomo relational expression."""
        span = slice(self.A.indptr[row], self.A.indptr[row + 1])
        body = LinearExpression(
            constant=0.0, linear_coefs=self.A.data[span].tolist(), linear_vars=[self.variables[j] for j in self.A.indices[span]]
        )
        lower, upper = float(self.lower[row]), float(self.upper[row])
        if lower == upper:
            return EqualityExpression((body, upper))
        if np.isneginf(lower):
            return InequalityExpression((body, upper), False)
        if np.isposinf(upper):
            return InequalityExpression((lower, body), False)
        return RangedExpression((lower, body, upper), (False, False))
