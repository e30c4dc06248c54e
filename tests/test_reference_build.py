"""Speed never changes answers: the fast build against a straightforward one.

Every block builds its sums with :func:`models.expr.linear`, which hands Pyomo prepared
coefficient lists as one expression node, and the in-service and interconnect rows as sparse matrices
(:class:`models.expr.MatrixRows`). The reference build replaces ``linear``, in every module
that uses it, with the textbook ``constant + sum(c * v)`` through Pyomo's operator
overloading, and the two matrices (in-service and interconnect rows) with one rule-built
constraint per row. Both builds must compile
(with Pyomo's own compiler) to the same matrices (each coefficient found by row and column
name) and solve to the same objective.
"""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import pyomo.environ as pyo
import scipy.sparse
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from models import fleet, hosting, power, time, treasury
from models.build import build_model
from optimizer.case import load_case
from optimizer.solve import solve
from test_dispatch import random_case
from test_renewal import S9, S19, S21, renewal_case

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def straightforward_linear(coefs, variables, constant=0.0):
    """``constant + sum(c * v)``, one Pyomo operation per term."""
    expression = float(constant)
    for coef, var in zip(coefs, variables):
        expression = expression + float(coef) * var
    return expression


def straightforward_in_service_rows(block, case, running, installed):
    """machines_within_installed_fleet as a rule: running machines of a (site, model) <= available installed."""
    availability = {m.name: m.availability for m in case.spec.miner_models}

    def rule(b, site, model, t):
        in_service = availability[model] * b.installed[site, model, case.grid.day_of_period[t]]
        return sum(running[k, t] for k in case.classes_by_group[(site, model)]) <= in_service

    block.machines_within_installed_fleet = pyo.Constraint(block.GROUPS_R, range(case.grid.n_periods), rule=rule)


def straightforward_interconnect_rows(block, model, case, load_mw):
    """site_load_within_interconnect as a rule: machines with auxiliaries, plus MW converted to hosting, <= interconnect."""
    hosting = model.component("hosting")
    hosted = set(hosting.SITES_HPC) if hosting is not None else set()
    interconnect = {s.name: s.interconnect_mw for s in case.spec.sites}

    def rule(b, site, t):
        load = sum(load_mw[k] * model.fleet.running[k, t] for k, c in enumerate(case.machine_classes) if c.site == site)
        if site in hosted:
            load = load + hosting.converted_mw[site, case.grid.day_of_period[t]]
        return load <= interconnect[site]

    block.site_load_within_interconnect = pyo.Constraint(block.SITES, range(case.grid.n_periods), rule=rule)


def renewal_and_hosting_case():
    """Purchases, retirements, an HPC hall, a treasury with a covenant and debt: every renewal block."""
    case = renewal_case(
        [S19, S21, dict(S9, resale_usd=20.0)],
        [{"site": "a", "model": "S19", "count": 3000}, {"site": "a", "model": "S9", "count": 500}],
        spot={"2026-01": 30.0, "2026-02": 70.0, "2026-03": 45.0},
        interconnect_mw=10.0,
        purchases=[{"site": "a", "model": "S21", "max_units": 800, "lead_time_days": 20, "price_usd_per_th": 12.0}],
        retirements=[{"site": "a", "model": "S9"}],
        hpc=[{"site": "a", "max_mw": 3, "block_mw": 1, "capex_usd_per_mw": 5e5, "lead_time_days": 30,
              "rate_usd_per_kw_month": 110, "utilisation": 0.8, "ramp": [0.5]}],
        treasury={"btc": 20, "cash_usd": 2e6, "min_cash_usd": 5e5, "sale_cost_bps": 10},
        opex={"fixed_usd_per_month": 1e5, "maintenance_usd_per_machine_month": 3},
    )
    return dataclasses.replace(case, spec=case.spec.model_copy(update={"debt": []}))


CASES = {
    "dispatch, seed 3": lambda: random_case(3)[1],
    "dispatch, seed 11": lambda: random_case(11)[1],
    "renewal and hosting": renewal_and_hosting_case,
    "cfo_q1_2026": lambda: load_case(EXAMPLES / "cfo_q1_2026" / "case.yaml"),
}


def by_name(columns, rows, A, rhs, c, offset):
    """A compiled model as dictionaries keyed by variable and row names, so that orders do not matter."""
    names = [var.name for var in columns]
    row_keys = [(row.constraint.name, int(row.bound_type)) for row in rows]
    assert len(set(row_keys)) == len(row_keys)
    coo = scipy.sparse.coo_matrix(A)
    return {
        "matrix": {(row_keys[i], names[j]): v for i, j, v in zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()) if v != 0.0},
        "rhs": dict(zip(row_keys, np.asarray(rhs, dtype=float).tolist())),
        "objective": {name: v for name, v in zip(names, np.asarray(c, dtype=float).ravel().tolist()) if v != 0.0},
        "columns": sorted(names),
        "offset": float(offset),
    }


def coefficients(model):
    """The model compiled by Pyomo's standard-form compiler, keyed by names (:func:`by_name`)."""
    repn = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
    return by_name(repn.columns, repn.rows, repn.A, repn.rhs, repn.c.toarray()[0], repn.c_offset[0])


@pytest.mark.parametrize("name", list(CASES))
def test_the_fast_build_is_the_straightforward_build(name, monkeypatch):
    case = CASES[name]()
    fast = build_model(case)
    for module in (fleet, hosting, power, time, treasury):
        monkeypatch.setattr(module, "linear", straightforward_linear)
    monkeypatch.setattr(fleet, "add_in_service_rows", straightforward_in_service_rows)
    monkeypatch.setattr(power, "add_interconnect_rows", straightforward_interconnect_rows)
    reference = build_model(case)
    monkeypatch.undo()
    ours, theirs = coefficients(fast), coefficients(reference)
    assert ours["columns"] == theirs["columns"]
    assert ours["matrix"].keys() == theirs["matrix"].keys()
    for key, value in ours["matrix"].items():
        assert value == pytest.approx(theirs["matrix"][key], rel=1e-12, abs=1e-12), key
    assert ours["objective"] == pytest.approx(theirs["objective"], rel=1e-12, abs=1e-12)
    assert ours["rhs"] == pytest.approx(theirs["rhs"], rel=1e-12, abs=1e-9)
    assert ours["offset"] == pytest.approx(theirs["offset"], rel=1e-12)
    solved = [solve(model, case.spec.solver) for model in (fast, reference)]
    assert solved[0].objective_usd == pytest.approx(solved[1].objective_usd, rel=1e-9)
    assert solved[0].status == solved[1].status
