"""The two-stage stochastic plan as one extensive form: a copy of the model per scenario,
first-stage decisions shared, the objective the expected (or risk-adjusted) value."""

from __future__ import annotations

from collections.abc import Sequence

import pyomo.environ as pyo

from models.build import build_model
from optimizer.case import Case


def first_stage_variables(model: pyo.Block, case: Case, epochs: int, days: int) -> dict[str, pyo.Var]:
    """The decisions made before the uncertainty resolves, by a name that is the same in every scenario.

    Purchases, retirements and HPC conversions ordered in the first ``epochs`` months, and BTC
    sold on the first ``days`` days.
    """
    shared: dict[str, pyo.Var] = {}
    dates = case.grid.days
    first_day = case.grid.epoch_first_day
    renewal = getattr(model, "renewal", None)
    if renewal is not None:
        for p, e in renewal.ORDERS:
            if e < epochs:
                shared[f"purchases[{p}] ordered {dates[first_day[e]]}"] = renewal.bought[p, e]
        for r, e in renewal.RETIREMENTS:
            if e < epochs:
                shared[f"retirements[{r}] on {dates[first_day[e]]}"] = renewal.retired[r, e]
    hosting = getattr(model, "hosting", None)
    if hosting is not None:
        for h, e in hosting.CONVERSIONS:
            if e < epochs:
                shared[f"hpc[{h}] halls ordered {dates[first_day[e]]}"] = hosting.halls[h, e]
    treasury = getattr(model, "treasury", None)
    if treasury is not None:
        for d in list(model.time.DAYS)[:days]:
            shared[f"BTC sold {dates[d]}"] = treasury.btc_sold[d]
    return shared


def build_extensive_form(
    cases: Sequence[Case],
    probabilities: Sequence[float],
    first_stage_epochs: int,
    first_stage_days: int,
    cvar_alpha: float | None = None,
    cvar_weight: float = 0.0,
    max_shortfall_probability: float | None = None,
) -> pyo.ConcreteModel:
    """One model holding every scenario's model as block ``scenario_<s>``, first stage shared.

    Sets
    ----
    SCENARIOS : s, with probability pi_s.
    FIRST_STAGE : j, the first-stage decisions (:func:`first_stage_variables`), the same in every scenario.

    Variables
    ---------
    first_stage[j]          the shared value of decision j                          [units, BTC]
    value_at_risk_usd       eta, the CVaR threshold (with ``cvar_alpha``)            [USD]
    tail_loss_usd[s] >= 0   how far scenario s's value falls below eta              [USD]
    breach[s] in {0, 1}     scenario s may breach a covenant (with ``max_shortfall_probability``)

    Constraints
    -----------
    nonanticipativity[s, j] : x_{s,j} = first_stage[j]
    tail_loss_definition[s] : tail_loss_usd[s] >= eta - V_s
    breach_flag[s, d]       : covenant_short_usd_s[d] <= m_s breach[s]   (m_s the covenant: cash >= 0 caps the slack)
    breach_probability      : sum_s pi_s breach[s] <= cap

    Expressions
    -----------
    scenario_value_usd[s] = V_s, scenario s's own objective (terminal value less penalties, or profit)
    expected_value_usd    = sum_s pi_s V_s
    cvar_usd              = eta - sum_s pi_s tail_loss_usd[s] / (1 - alpha)

    Objective
    ---------
    max (1 - lambda) expected_value_usd + lambda cvar_usd     (lambda = ``cvar_weight``)
    """
    ef = pyo.ConcreteModel(name="extensive form")
    ef.SCENARIOS = pyo.RangeSet(0, len(cases) - 1)
    shared = []
    for s, case in enumerate(cases):
        model = build_model(case)
        model.profit_usd.deactivate()
        ef.add_component(f"scenario_{s}", model)
        shared.append(first_stage_variables(model, case, first_stage_epochs, first_stage_days))
    names = list(shared[0])
    ef.FIRST_STAGE = pyo.Set(initialize=names, ordered=True)
    ef.first_stage = pyo.Var(ef.FIRST_STAGE)
    ef.nonanticipativity = pyo.Constraint(ef.SCENARIOS, ef.FIRST_STAGE, rule=lambda m, s, j: shared[s][j] == m.first_stage[j])
    ef.scenario_value_usd = pyo.Expression(ef.SCENARIOS, rule=lambda m, s: scenario(m, s).profit_usd.expr)
    ef.expected_value_usd = pyo.Expression(expr=sum(p * ef.scenario_value_usd[s] for s, p in enumerate(probabilities)))
    objective = ef.expected_value_usd
    if cvar_alpha is not None:
        ef.value_at_risk_usd = pyo.Var()
        ef.tail_loss_usd = pyo.Var(ef.SCENARIOS, domain=pyo.NonNegativeReals)
        ef.tail_loss_definition = pyo.Constraint(ef.SCENARIOS, rule=lambda m, s: m.tail_loss_usd[s] >= m.value_at_risk_usd - m.scenario_value_usd[s])
        ef.cvar_usd = pyo.Expression(expr=ef.value_at_risk_usd - sum(p * ef.tail_loss_usd[s] for s, p in enumerate(probabilities)) / (1 - cvar_alpha))
        objective = (1 - cvar_weight) * ef.expected_value_usd + cvar_weight * ef.cvar_usd
    if max_shortfall_probability is not None:
        ef.breach = pyo.Var(ef.SCENARIOS, domain=pyo.Binary)
        flagged = [(s, d) for s in ef.SCENARIOS if hasattr(scenario(ef, s), "treasury") for d in scenario(ef, s).treasury.TEST_DAYS]
        ef.BREACH_TESTS = pyo.Set(initialize=flagged, dimen=2, ordered=True)
        ef.breach_flag = pyo.Constraint(
            ef.BREACH_TESTS, rule=lambda m, s, d: scenario(m, s).treasury.covenant_short_usd[d] <= cases[s].spec.treasury.min_cash_usd * m.breach[s]
        )
        ef.breach_probability = pyo.Constraint(expr=sum(p * ef.breach[s] for s, p in enumerate(probabilities)) <= max_shortfall_probability)
    ef.objective_usd = pyo.Objective(expr=objective, sense=pyo.maximize)
    return ef


def scenario(ef: pyo.ConcreteModel, s: int) -> pyo.Block:
    """Scenario ``s``'s model inside the extensive form."""
    return ef.component(f"scenario_{s}")
