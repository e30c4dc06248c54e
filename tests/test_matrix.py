"""optimizer.matrix compiles a model to the matrices Pyomo's own standard-form compiler gives.

Pyomo's ``LinearStandardFormCompiler`` (mixed form) is the independent reference: every
column, row, coefficient, right-hand side and the objective must be the same, matched by
variable and row names. The hand-built model has every form the direct reader handles and
those it leaves to Pyomo's visitor; the cases are the models the product builds.
"""

import numpy as np
import pyomo.environ as pyo
import pytest
import scipy.sparse
from pyomo.core.expr.numeric_expr import LinearExpression
from pyomo.repn.standard_repn import generate_standard_repn

from models.build import build_model
from models.expr import MatrixRows, linear
from optimizer import matrix
from optimizer.matrix import ColumnIndex, InfeasibleConstantRow, Rows, addresses, column_bounds, compile_matrices, integer_columns
from test_reference_build import by_name, coefficients
from test_twin import CASES


def assert_same_as_pyomo(model):
    ours = compile_matrices(model)
    mine = by_name(ours.columns, ours.rows, ours.A, ours.rhs, ours.c, ours.offset)
    reference = coefficients(model)
    assert mine["columns"] == reference["columns"]
    assert mine["rhs"].keys() == reference["rhs"].keys()
    assert mine["matrix"].keys() == reference["matrix"].keys()
    for key, value in reference["matrix"].items():
        assert mine["matrix"][key] == pytest.approx(value, rel=1e-12), key
    assert mine["rhs"] == pytest.approx(reference["rhs"], rel=1e-12, abs=1e-12)
    assert mine["objective"] == pytest.approx(reference["objective"], rel=1e-12, abs=1e-12)
    assert mine["offset"] == pytest.approx(reference["offset"], rel=1e-12, abs=1e-12)
    assert ours.sense == next(model.component_data_objects(pyo.Objective, active=True)).sense
    return ours


def every_form():
    """A model with each kind of row and term the compiler meets."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(4), bounds=(0, 10))
    m.y = pyo.Var(domain=pyo.NonNegativeIntegers, bounds=(0, 5))
    m.fixed = pyo.Var(initialize=2.5)
    m.fixed.fix()
    m.unused = pyo.Var(bounds=(1, 2))
    m.price = pyo.Param(initialize=3.0, mutable=True)
    m.site_load = pyo.Expression(range(2), rule=lambda m, i: linear([1.0, 2.0], [m.x[i], m.x[i + 1]], 0.5))
    m.flat = pyo.Constraint(expr=linear([1.0, -2.0, 4.0], [m.x[0], m.x[1], m.y], 3.0) <= 7.0)
    m.bare = pyo.Constraint(expr=m.x[0] + m.x[2] >= 1.0)
    m.ranged = pyo.Constraint(expr=pyo.inequality(-1.0, linear([1.0, 1.0], [m.x[1], m.x[3]]), 6.0))
    m.equal = pyo.Constraint(expr=linear([2.0], [m.x[2]], 1.0) == m.x[3] + 4.0)
    m.repeated = pyo.Constraint(expr=linear([1.0, 2.0, -3.0], [m.x[0], m.x[0], m.x[1]]) <= 5.0)
    m.with_fixed = pyo.Constraint(expr=linear([1.0, 3.0], [m.x[2], m.fixed]) <= 9.0)
    m.only_fixed = pyo.Constraint(expr=linear([2.0], [m.fixed]) <= 6.0)
    m.scaled = pyo.Constraint(expr=1.5 * m.site_load[0] - m.site_load[1] + (-m.x[3]) <= 2.0)
    m.parameter = pyo.Constraint(expr=m.price * m.x[1] + m.y <= 8.0)
    m.sum_of_linears = pyo.Constraint(expr=2.0 + linear([1.0, -1.0], [m.x[0], m.x[2]], 1.0) + m.x[3] + linear([3.0], [m.y]) >= -4.0)
    m.off = pyo.Constraint(expr=m.x[0] <= 0.0)
    m.off.deactivate()
    A = scipy.sparse.csr_matrix(np.array([[1.0, -1.0, 0.0], [0.0, 2.0, 1.0], [1.0, 1.0, 1.0], [0.0, 1.0, -1.0], [1.0, 0.0, 0.0]]))
    m.rows = MatrixRows(
        [("a", 0), ("a", 1), ("b", 0), ("b", 1), ("c", 0)],
        A,
        np.array([-np.inf, 1.0, 2.0, 3.0, 0.5]),
        np.array([0.0, np.inf, 4.0, 3.0, 9.0]),
        [m.x[0], m.x[1], m.fixed],
    )
    m.rows["c", 0].deactivate()
    m.profit = pyo.Objective(expr=linear([1.0, 2.0], [m.x[0], m.fixed], 10.0) + m.price * m.y - 0.5 * m.site_load[1], sense=pyo.maximize)
    return m


def test_every_form_compiles_as_pyomo_compiles_it():
    compiled = assert_same_as_pyomo(every_form())
    names = {var.name for var in compiled.columns}
    assert "fixed" not in names and "unused" not in names
    kinds = {(row.constraint.name, row.bound_type) for row in compiled.rows}
    assert {("ranged", 1), ("ranged", -1), ("rows[b,0]", 1), ("rows[b,0]", -1), ("rows[b,1]", 0)} <= kinds
    assert not {name for name, _ in kinds} & {"only_fixed", "off", "rows[c,0]"}


def test_a_matrix_row_reads_as_an_ordinary_constraint():
    m = every_form()
    row = m.rows["b", 0]
    assert (row.lb, row.ub) == (2.0, 4.0)
    assert [(coef, var.name) for coef, var in (term.args for term in row.body.args)] == [(1.0, "x[0]"), (1.0, "x[1]"), (1.0, "fixed")]
    assert m.rows["b", 1].equality and m.rows["a", 1].ub is None
    copy = m.clone()
    assert copy.rows["a", 0].body.args[1].args[1] is copy.x[1]
    with pytest.raises(TypeError, match=r"rows\[a,0\] is a row of a matrix"):
        m.rows["a", 0].set_value(m.x[0] <= 1.0)


def test_an_array_linear_expression_is_the_linear_expression_it_stands_for():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(4), initialize=lambda _, i: i + 1.0)
    coefs, variables = [1.5, -2.0, 3.0], [m.x[0], m.x[1], m.x[2]]
    ours = linear(coefs, variables, 4.0)
    pyomos = LinearExpression(constant=4.0, linear_coefs=coefs, linear_vars=variables)
    assert str(ours) == str(pyomos) == "4.0 + 1.5*x[0] - 2.0*x[1] + 3.0*x[2]"
    assert pyo.value(ours) == 4.0 + 1.5 * 1 - 2.0 * 2 + 3.0 * 3
    assert (ours.constant, ours.linear_coefs, [v.name for v in ours.linear_vars]) == (4.0, (1.5, -2.0, 3.0), ["x[0]", "x[1]", "x[2]"])
    # sums with it are plain LinearExpressions and leave it as it was
    for combined, expected in ((ours + m.x[3], 14.5), (1.0 + ours, 11.5), (ours + linear([2.0], [m.x[3]]), 18.5)):
        assert type(combined) is LinearExpression and pyo.value(combined) == expected
    assert ours.nargs() == 4 and pyo.value(ours) == 10.5
    m.unset = pyo.Var()
    with pytest.raises(ValueError, match="No value for uninitialized"):
        pyo.value(linear([1.0, 2.0], [m.x[0], m.unset]))
    # Pyomo's standard_repn (its persistent solvers, mpi-sppy) reads it too
    repn = generate_standard_repn(ours, compute_values=True)
    assert (repn.constant, list(repn.linear_coefs), [v.name for v in repn.linear_vars]) == (4.0, coefs, ["x[0]", "x[1]", "x[2]"])
    m.row = pyo.Constraint(expr=ours <= 20.0)
    m.profit = pyo.Objective(expr=linear([1.0], [m.x[3]]), sense=pyo.maximize)
    copy = m.clone()
    assert copy.row.body.args[1].args[1] is copy.x[0] and str(copy.row.body) == str(m.row.body)
    compiled = assert_same_as_pyomo(copy)
    assert sorted(compiled.A.data.tolist()) == [-2.0, 1.5, 3.0] and compiled.rhs.tolist() == [16.0]


def test_an_array_linear_expression_needs_a_coefficient_per_variable():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(2))
    with pytest.raises(ValueError, match=r"\(3,\) coefficients for 2 variables"):
        linear([1.0, 2.0, 3.0], [m.x[0], m.x[1]])


def test_matrix_rows_refuse_inconsistent_shapes_and_bounds():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(2))
    A = scipy.sparse.csr_matrix(np.eye(2))
    with pytest.raises(ValueError, match="3 keys"):
        MatrixRows([0, 1, 2], A, np.zeros(2), np.ones(2), [m.x[0], m.x[1]])
    with pytest.raises(ValueError, match="lower <= upper"):
        MatrixRows([0, 1], A, np.array([0.0, 2.0]), np.ones(2), [m.x[0], m.x[1]])


def test_a_row_left_with_only_fixed_variables_must_hold():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=4.0)
    m.y = pyo.Var(bounds=(0, 1))
    m.x.fix()
    m.broken = pyo.Constraint(expr=linear([1.0], [m.x]) <= 3.0)
    m.profit = pyo.Objective(expr=m.y)
    with pytest.raises(InfeasibleConstantRow, match="broken"):
        compile_matrices(m)


def pyomo_bounds(columns):
    """Each variable's bounds and integrality as Pyomo gives them, None as infinite."""
    lower = [-np.inf if var.lb is None else var.lb for var in columns]
    upper = [np.inf if var.ub is None else var.ub for var in columns]
    return np.array(lower, dtype=float), np.array(upper, dtype=float), np.array([var.is_integer() for var in columns], dtype=bool)


def test_column_bounds_are_pyomos_for_every_kind_of_bound_and_domain():
    m = pyo.ConcreteModel()
    m.p = pyo.Param(initialize=-2.0, mutable=True)
    kinds = [
        dict(),
        dict(bounds=(None, None)),
        dict(bounds=(-3.0, 7)),
        dict(bounds=(-np.inf, np.inf)),
        dict(domain=pyo.NonNegativeReals, bounds=(-3.0, None)),
        dict(domain=pyo.NonNegativeReals, bounds=(2, 5.5)),
        dict(domain=pyo.NonPositiveReals, bounds=(-4, 3)),
        dict(domain=pyo.Binary, bounds=(-1, 5)),
        dict(domain=pyo.Binary, bounds=(0.5, None)),
        dict(domain=pyo.NonNegativeIntegers, bounds=(None, 12)),
        dict(domain=pyo.Integers, bounds=(-2.5, np.inf)),
        dict(domain=pyo.Reals, bounds=(m.p, 4 * m.p + 10)),
        dict(domain=pyo.UnitInterval, bounds=(0.25, None)),
        dict(domain=pyo.PercentFraction),
    ]
    for i, kind in enumerate(kinds):
        m.add_component(f"x{i}", pyo.Var(range(3), **kind))
    columns = list(m.component_data_objects(pyo.Var))
    # a bound set on one variable of a family, and a family's bound changed after construction
    m.x0[1].setlb(1.5)
    m.x9[2].setub(None)
    m.p = 1.0
    ours = column_bounds(columns)
    for mine, pyomos in zip(ours, pyomo_bounds(columns)):
        np.testing.assert_array_equal(mine, pyomos)
    at = {id(var): j for j, var in enumerate(columns)}
    assert ours[0][at[id(m.x11[0])]] == 1.0 and ours[1][at[id(m.x11[0])]] == 14.0
    assert [ours[2][at[id(var)]] for var in (m.x7[0], m.x9[0], m.x10[0], m.x2[0], m.x12[0])] == [True, True, True, False, False]
    assert integer_columns(columns).tolist() == [var.is_integer() for var in columns] and integer_columns([]).size == 0


def test_column_bounds_refuse_what_pyomo_refuses():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(2), bounds=(0, 1))
    m.x[1]._lb = float("nan")  # what Var's setter refuses, set around it: the reader must not take it as "no bound"
    with pytest.raises(ValueError, match="invalid non-finite lower bound"):
        column_bounds(list(m.x.values()))
    m.x[1]._lb, m.x[0]._ub = 0.0, -np.inf
    with pytest.raises(ValueError, match="invalid non-finite upper bound"):
        column_bounds(list(m.x.values()))


def test_addresses_are_the_ids_read_from_pointers_or_asked(monkeypatch):
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3))
    objects = np.array([m.x[0], m.x[1], m.x[2], m.x[0], m.x, 1.5, "text"], dtype=object)
    ids = [id(item) for item in objects]
    for strided in (objects, objects[::2]):
        assert addresses(strided).tolist() == [id(item) for item in strided]
    monkeypatch.setattr(matrix, "_POINTERS_ARE_IDS", False)
    assert addresses(objects).tolist() == ids


def test_a_column_index_finds_each_column_and_nothing_else():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(4))
    index = ColumnIndex([m.x[3], m.x[0], m.x[2]])
    assert index([m.x[0], m.x[1], m.x[2], m.x[3], m.x[0]]).tolist() == [1, -1, 2, 0, 1]
    assert index([]).tolist() == [] and index.ids() == {id(m.x[0]), id(m.x[2]), id(m.x[3])}
    assert ColumnIndex([])([m.x[0], m.x[1]]).tolist() == [-1, -1]


def test_rows_give_each_row_its_constraint_and_bound_type():
    rows = Rows(np.array(["a", "b", "c"], dtype=object), np.array([0, 1, -1], dtype=np.int8))
    assert len(rows) == 3 and list(rows) == [("a", 0), ("b", 1), ("c", -1)]
    assert rows[2].bound_type == -1 and type(rows[2].bound_type) is int
    taken = rows.take(np.array([2, 0]))
    assert list(taken) == [("c", -1), ("a", 0)] and taken.bound_types.tolist() == [-1, 0]


def test_column_bounds_of_no_columns_are_empty():
    assert [part.size for part in column_bounds([])] == [0, 0, 0]


@pytest.mark.parametrize("name", list(CASES))
def test_product_models_compile_as_pyomo_compiles_them(name):
    compiled = assert_same_as_pyomo(build_model(CASES[name]()))
    for mine, pyomos in zip(column_bounds(compiled.columns), pyomo_bounds(compiled.columns)):
        np.testing.assert_array_equal(mine, pyomos)
