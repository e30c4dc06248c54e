"""The objective: the sum of every block's named revenue and cost Expressions."""

from __future__ import annotations

import pyomo.environ as pyo

from optimizer.case import Case

REVENUE_SUFFIX = "_revenue_usd"
COST_SUFFIX = "_cost_usd"


def pnl_terms(model: pyo.ConcreteModel) -> list[tuple[str, int, pyo.Expression]]:
    """The P&L lines: (``block.name`` relative to ``model``, +1 for revenue or -1 for cost, Expression).

    Every scalar Expression whose name ends in ``_revenue_usd`` or ``_cost_usd``, in block
    order, so the report's P&L is the objective term by term. Names are relative to ``model``,
    so a scenario's model inside the two-stage extensive form has the same lines as alone.
    """
    terms = []
    for expression in model.component_objects(pyo.Expression, descend_into=True):
        if expression.is_indexed():
            continue
        name = expression.getname(fully_qualified=True, relative_to=model)
        if expression.local_name.endswith(REVENUE_SUFFIX):
            terms.append((name, 1, expression))
        elif expression.local_name.endswith(COST_SUFFIX):
            terms.append((name, -1, expression))
    return terms


def add_objective(model: pyo.ConcreteModel, case: Case) -> pyo.Objective:
    """Maximise profit over the horizon.

    max  sum(revenue Expressions) - sum(cost Expressions)   [USD]
    """
    model.profit_usd = pyo.Objective(expr=sum(sign * expr for _, sign, expr in pnl_terms(model)), sense=pyo.maximize)
    return model.profit_usd
