"""The two-stage plan of a pack (``hashplan plan-robust``): one first stage for every scenario,
with the value of the stochastic solution and the expected value of perfect information.

Definitions (maximising value V; RP the two-stage optimum):

- WS, wait and see: the same extensive form without the shared first stage (each scenario
  plans knowing its future). EVPI = WS - RP >= 0.
- EEV: the extensive form with the first stage held at the plan made for the mean scenario
  (every market path averaged with the scenario probabilities). VSS = RP - EEV >= 0.

All three use the pack's objective, so with risk terms they are in its risk-adjusted value.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from models.build import build_model
from models.stochastic import build_extensive_form, first_stage_variables, scenario
from optimizer.case import Case
from optimizer.case.errors import SchemaError
from optimizer.case.model import NetworkPath
from optimizer.results import Results, extract_results
from optimizer.scenarios import Pack, Scenario
from optimizer.solve import SolveReport, solve


@dataclass(frozen=True)
class RobustPlan:
    """The two-stage plan and what it is worth.

    Attributes
    ----------
    report : SolveReport
        The extensive form's solve (status, objective, certified bound and gap).
    first_stage : list of dict
        Per shared decision: ``decision``, ``value`` in the plan and ``mean_scenario_value``
        in the plan made for the mean scenario [units or BTC].
    expected_value_usd : float
        sum_s pi_s V_s at the plan [USD].
    cvar_usd, breach_probability : float or None
        CVaR_alpha of V [USD] (None without ``cvar_alpha``), and the probability of the
        scenarios whose plan breaches the minimum-cash covenant on some test day [-] (None
        without a treasury), measured on the plan's shortfalls.
    wait_and_see_usd, eev_usd, vss_usd, evpi_usd : float
        WS, EEV, VSS = RP - EEV and EVPI = WS - RP, in the objective's value [USD].
    scenarios : list of (Scenario, float, Results)
        Each scenario, its probability and its results under the plan.
    """

    report: SolveReport
    first_stage: list[dict]
    expected_value_usd: float
    cvar_usd: float | None
    breach_probability: float | None
    wait_and_see_usd: float
    eev_usd: float
    vss_usd: float
    evpi_usd: float
    scenarios: list[tuple[Scenario, float, Results]]


def plan_robust(pack: Pack, scenarios: Sequence[Scenario], probabilities: Sequence[float], log: Callable[[str], None] | None = None) -> RobustPlan:
    """Solve the extensive form, then the wait-and-see and mean-scenario problems for EVPI and VSS."""
    say = log or (lambda _: None)
    failed = [s for s in scenarios if s.case is None]
    if failed:
        raise SchemaError(f"scenarios ({failed[0].name})", failed[0].error, "fix the scenario's inputs: a two-stage plan needs every scenario")
    cases = [s.case for s in scenarios]
    check_same_first_stage(cases)
    stochastic, options = pack.spec.stochastic, pack.base.spec.solver
    risk = stochastic.risk
    ef = build_extensive_form(
        cases, probabilities, stochastic.first_stage_epochs, stochastic.first_stage_days,
        risk.cvar_alpha, risk.weight, risk.max_shortfall_probability,
    )
    say(f"extensive form of {len(cases)} scenarios with {len(ef.FIRST_STAGE)} shared decisions")
    report = solve(ef, options, lambda line: say(f"plan: {line}"))
    plan = {j: pyo.value(ef.first_stage[j]) for j in ef.FIRST_STAGE}
    results = []
    for s, (item, probability) in enumerate(zip(scenarios, probabilities)):
        value = pyo.value(ef.scenario_value_usd[s])
        # each scenario's own objective; its bound is the whole plan's, not its own, and duals
        # of the extensive form are scaled by the probability, so neither is reported per scenario
        own = dataclasses.replace(report, objective_usd=value, bound_usd=math.nan, mip_gap=math.inf, duals=ComponentMap())
        results.append((item, probability, extract_results(scenario(ef, s), item.case, own)))
    expected = pyo.value(ef.expected_value_usd)
    cvar = pyo.value(ef.cvar_usd) if risk.cvar_alpha is not None else None
    breach = breach_probability(ef, cases, probabilities)

    say("wait and see: every scenario planned knowing its future")
    ef.nonanticipativity.deactivate()
    wait_and_see = solve(ef, options, lambda line: say(f"wait and see: {line}")).objective_usd
    ef.nonanticipativity.activate()

    say("the mean scenario's plan")
    mean = mean_case(cases, probabilities)
    mean_model = build_model(mean)
    solve(mean_model, options, lambda line: say(f"mean scenario: {line}"))
    mean_plan = {j: pyo.value(var) for j, var in first_stage_variables(mean_model, mean, stochastic.first_stage_epochs, stochastic.first_stage_days).items()}
    for j, value in mean_plan.items():
        ef.first_stage[j].fix(value)
    eev = solve(ef, options, lambda line: say(f"mean scenario's first stage in every scenario: {line}")).objective_usd
    ef.first_stage.unfix()
    first_stage = [{"decision": j, "value": plan[j], "mean_scenario_value": mean_plan[j]} for j in ef.FIRST_STAGE]
    return RobustPlan(report, first_stage, expected, cvar, breach, wait_and_see, eev, report.objective_usd - eev, wait_and_see - report.objective_usd, results)


BREACH_TOLERANCE = 1e-6
"""Covenant shortfall, as a share of the covenant, below which a scenario does not count as breached [-]: solver noise."""


def breach_probability(ef: pyo.ConcreteModel, cases: Sequence[Case], probabilities: Sequence[float]) -> float | None:
    """Probability of the scenarios whose solved plan is short of the minimum-cash covenant on
    some test day by more than ``BREACH_TOLERANCE`` of the covenant [-]; None if the scenarios
    have no treasury.

    Read from the shortfalls themselves rather than the cap's breach binaries, which are free
    to be 1 in a scenario that does not breach.
    """
    if cases[0].spec.treasury is None:
        return None
    breached = []
    for s, case in enumerate(cases):
        noise = BREACH_TOLERANCE * case.spec.treasury.min_cash_usd
        breached.append(any(pyo.value(short) > noise for short in scenario(ef, s).treasury.covenant_short_usd.values()))
    return float(sum(p for p, b in zip(probabilities, breached) if b))


def check_same_first_stage(cases: Sequence[Case]) -> None:
    """Every scenario has the inputs that set the first-stage decisions in common (horizon,
    purchases, retirements, HPC, whether there is a treasury), so they can be shared."""
    fields = ("horizon", "purchases", "retirements", "hpc")
    for case in cases[1:]:
        for name in fields:
            if getattr(case.spec, name) != getattr(cases[0].spec, name):
                raise SchemaError(
                    f"scenarios[].set.{name}", f"scenarios differ in `{name}`, which sets the decisions they share",
                    "override only market inputs, costs and dates in a pack used for a two-stage plan",
                )
        if (case.spec.treasury is None) != (cases[0].spec.treasury is None):
            raise SchemaError("scenarios[].set.treasury", "some scenarios have a treasury and some do not", "give every scenario a treasury, or none")


def mean_case(cases: Sequence[Case], probabilities: Sequence[float]) -> Case:
    """The first case with every market path replaced by the probability-weighted mean over the cases."""
    weights = np.asarray(probabilities, dtype=float)

    def mean(arrays: list[np.ndarray]) -> np.ndarray:
        return np.tensordot(weights, np.stack(arrays), axes=1)

    first = cases[0]
    network = NetworkPath(**{name: mean([getattr(c.network, name) for c in cases]) for name in vars(first.network)})
    spot = {site: mean([c.spot_usd_per_mwh[site] for c in cases]) for site in first.spot_usd_per_mwh}
    prices = {key: mean([c.demand_response_price_usd_per_mw_hour[key] for c in cases]) for key in first.demand_response_price_usd_per_mw_hour}
    return dataclasses.replace(first, network=network, spot_usd_per_mwh=spot, demand_response_price_usd_per_mw_hour=prices)
