"""BTC and cash rolled forward day by day: sales, opex, debt service, covenants, elastic slack."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from models.expr import linear
from models.fleet import renewal_groups
from models.time import day_share_of_month
from optimizer.case import Case

UNFUNDED_PENALTY_USD_PER_USD = 10_000.0
"""Penalty per dollar of operating cost that no cash or allowed sale could pay [USD/USD]."""

UNPAID_DEBT_PENALTY_USD_PER_USD = 1_000.0
"""Penalty per dollar of a debt payment left unpaid [USD/USD]: below unfunded costs, above covenants."""

COVENANT_PENALTY_USD_PER_USD = 100.0
"""Penalty per dollar of closing cash below the covenant on a test date [USD/USD]."""

MIN_BTC_PENALTY_USD_PER_USD = 100.0
"""Penalty per dollar (at the highest BTC price) of BTC held below the board's floor [USD/USD]."""


def add_treasury(model: pyo.ConcreteModel, case: Case) -> pyo.Block | None:
    """Daily BTC and cash roll-forward; makes the objective the plan's terminal value.

    Sets
    ----
    DAYS : d, the time block's local calendar days; T(d) the dispatch periods starting on d.
    PAYMENTS : j, debt payments; J(d) those due on day d.
    TEST_DAYS : covenant test days (every day unless ``treasury.covenant_dates``).

    Data
    ----
    B0, C0 opening BTC [BTC] and cash [USD]; p_d the day's time-weighted BTC price [USD/BTC];
    p_T the last period's price; h terminal haircut [-]; m = (1 - h) p_T the terminal mark;
    c sale cost [-]; A_j payment amounts [USD]; o_d opex [USD], pro rata to the hours of the
    day in its month; beta_{k,t} BTC per running machine (fleet); f_d the sum of every other
    block's ``cash_flow_usd[d]`` (energy, 4CP, demand response, switching) [USD].

    Variables
    ---------
    btc_sold[d] in [0, max sale]  (0 on days with p_d below ``no_sale_below_usd``)   [BTC]
    btc_held[d] >= 0, cash_usd[d] >= 0  closing balances                                [BTC], [USD]
    unpaid_debt_usd[j] in [0, A_j], unfunded_usd[d] >= 0, covenant_short_usd[d] >= 0,
    btc_short[d] >= 0  elastic slack, each with a penalty                               [USD], [BTC]

    Constraints
    -----------
    btc_roll_forward[d] : btc_held[d] = btc_held[d-1] + sum_{k, t in T(d)} beta_{k,t} running[k,t] - btc_sold[d]
    cash_roll_forward[d] : cash_usd[d] = cash_usd[d-1] + (1 - c) p_d btc_sold[d] + f_d - o_d
        - sum_{j in J(d)} (A_j - unpaid_debt_usd[j]) + unfunded_usd[d]
    min_cash_covenant[d in TEST_DAYS] : cash_usd[d] + covenant_short_usd[d] >= min_cash_usd
    min_btc_kept[d] : btc_held[d] + btc_short[d] >= min_btc
    (day -1 is the opening position B0, C0)

    Expressions (with the fleet's mining revenue and the power costs they bridge the opening
    position to the terminal value cash_usd[D] + m btc_held[D], less penalties)
    -----------
    opening_position_revenue_usd = C0 + m B0
    btc_revaluation_revenue_usd = sum_{k,t} beta_{k,t} (m - p_t) running[k,t] + sum_d (p_d - m) btc_sold[d]
    emergency_funding_revenue_usd = sum_d unfunded_usd[d]
    sale_cost_usd = sum_d c p_d btc_sold[d]
    opex_cost_usd = sum_d o_d
    debt_service_cost_usd = sum_j (A_j - unpaid_debt_usd[j])
    shortfall_penalty_cost_usd = penalties x slack
    """
    treasury = case.spec.treasury
    if treasury is None:
        return None
    block = pyo.Block(concrete=True)
    model.treasury = block
    grid, net = case.grid, case.network
    fleet = model.fleet
    day_of_period = grid.day_of_period
    n_days = len(grid.days)
    days = model.time.DAYS
    block.PAYMENTS = pyo.Set(initialize=range(len(case.spec.debt)), ordered=True)

    price_day = daily_btc_price_usd(case)
    mark = terminal_mark_usd_per_btc(case)
    sale_cost = treasury.sale_cost_bps / 1e4
    block.btc_price_day_usd = price_day
    block.opex_day_usd = daily_opex_usd(case)
    due_day = {j: grid.days.index(p.date) for j, p in enumerate(case.spec.debt)}
    amounts = [p.total_usd for p in case.spec.debt]
    test_days = range(n_days) if treasury.covenant_dates is None else sorted({grid.days.index(d) for d in treasury.covenant_dates})
    block.TEST_DAYS = pyo.Set(initialize=list(test_days) if treasury.min_cash_usd > 0 else [], ordered=True)

    def sale_bounds(_, d):
        floor = treasury.no_sale_below_usd
        return (0.0, 0.0) if floor is not None and price_day[d] < floor else (0.0, treasury.max_sale_btc_per_day)

    block.btc_sold = pyo.Var(days, bounds=sale_bounds)
    block.btc_held = pyo.Var(days, domain=pyo.NonNegativeReals)
    block.cash_usd = pyo.Var(days, domain=pyo.NonNegativeReals)
    block.unpaid_debt_usd = pyo.Var(block.PAYMENTS, bounds=lambda _, j: (0.0, amounts[j]))
    block.unfunded_usd = pyo.Var(days, domain=pyo.NonNegativeReals)
    block.covenant_short_usd = pyo.Var(block.TEST_DAYS, domain=pyo.NonNegativeReals)
    block.btc_short = pyo.Var(days if treasury.min_btc > 0 else [], domain=pyo.NonNegativeReals)

    # per day, the running variables of its periods with their BTC coefficients
    first_period = np.searchsorted(day_of_period, np.arange(n_days + 1))
    day_terms = []
    for d in range(n_days):
        periods = slice(first_period[d], first_period[d + 1])
        day_terms.append((fleet.running_array[:, periods].ravel(), fleet.btc_per_machine[:, periods].ravel()))
    cash_flows = [e for e in model.component_objects(pyo.Expression, descend_into=True) if e.local_name == "cash_flow_usd"]

    def btc_roll_forward(b, d):
        """Closing BTC = opening + mined - sold."""
        variables, btc = day_terms[d]
        # one array expression: a sum with it would write out each of its terms as an object
        closing_less_flows = linear(
            np.concatenate([[1.0], -btc, [1.0], [-1.0] if d else []]),
            [b.btc_held[d], *variables, b.btc_sold[d], *([b.btc_held[d - 1]] if d else [])],
        )
        return closing_less_flows == (0.0 if d else treasury.btc)

    def cash_roll_forward(b, d):
        """Closing cash = opening + sale proceeds + other blocks' cash flows - opex - debt paid + unfunded."""
        opening = b.cash_usd[d - 1] if d else treasury.cash_usd
        debt = sum(amounts[j] - b.unpaid_debt_usd[j] for j, day in due_day.items() if day == d)
        proceeds = (1.0 - sale_cost) * price_day[d] * b.btc_sold[d]
        flows = sum(flow[d] for flow in cash_flows)
        return b.cash_usd[d] == opening + proceeds + flows - block.opex_day_usd[d] - debt + b.unfunded_usd[d]

    block.btc_roll_forward = pyo.Constraint(days, rule=btc_roll_forward)
    block.cash_roll_forward = pyo.Constraint(days, rule=cash_roll_forward)
    block.min_cash_covenant = pyo.Constraint(
        block.TEST_DAYS, rule=lambda b, d: b.cash_usd[d] + b.covenant_short_usd[d] >= treasury.min_cash_usd
    )
    block.min_btc_kept = pyo.Constraint(block.btc_short.index_set(), rule=lambda b, d: b.btc_held[d] + b.btc_short[d] >= treasury.min_btc)
    # the only rows that tie the sites together: a price-block solve prices them at the blocked
    # plan's duals, and bounds the hourly model site by site (optimizer.solve)
    block.couples_sites = pyo.Suffix(direction=pyo.Suffix.LOCAL)
    for constraint in block.component_objects(pyo.Constraint, descend_into=False):
        block.couples_sites[constraint] = True

    revaluation = fleet.btc_per_machine * (mark - net.btc_price_usd)
    sold = [block.btc_sold[d] for d in days]
    block.opening_position_revenue_usd = pyo.Expression(expr=treasury.cash_usd + mark * treasury.btc)
    # one array expression: a sum of two would write out each of their terms as an object
    block.btc_revaluation_revenue_usd = pyo.Expression(
        expr=linear(np.concatenate([revaluation.ravel(), price_day - mark]), [*fleet.running_array.ravel(), *sold])
    )
    block.emergency_funding_revenue_usd = pyo.Expression(expr=linear(np.ones(n_days), [block.unfunded_usd[d] for d in days]))
    block.sale_cost_usd = pyo.Expression(expr=linear(sale_cost * price_day, sold))
    block.opex_cost_usd = pyo.Expression(expr=float(block.opex_day_usd.sum()))
    block.debt_service_cost_usd = pyo.Expression(
        expr=linear(-np.ones(len(amounts)), [block.unpaid_debt_usd[j] for j in block.PAYMENTS], float(sum(amounts)))
    )
    btc_penalty = MIN_BTC_PENALTY_USD_PER_USD * float(net.btc_price_usd.max())
    block.shortfall_penalty_cost_usd = pyo.Expression(
        expr=UNFUNDED_PENALTY_USD_PER_USD * sum(block.unfunded_usd.values())
        + UNPAID_DEBT_PENALTY_USD_PER_USD * sum(block.unpaid_debt_usd.values())
        + COVENANT_PENALTY_USD_PER_USD * sum(block.covenant_short_usd.values())
        + btc_penalty * sum(block.btc_short.values())
    )
    return block


def daily_btc_price_usd(case: Case) -> np.ndarray:
    """BTC price at which a day's sales execute: the time-weighted mean over its periods [USD/BTC]."""
    grid = case.grid
    weights = np.bincount(grid.day_of_period, weights=grid.hours, minlength=len(grid.days))
    return np.bincount(grid.day_of_period, weights=case.network.btc_price_usd * grid.hours, minlength=len(grid.days)) / weights


def terminal_mark_usd_per_btc(case: Case) -> float:
    """Value of one BTC held at the end: the last period's price less the haircut [USD/BTC]."""
    haircut = case.spec.objective.terminal_btc_haircut if case.spec.objective else 0.0
    return (1.0 - haircut) * float(case.network.btc_price_usd[-1])


def daily_opex_usd(case: Case) -> np.ndarray:
    """Fixed opex and the maintenance of machines no plan decision changes, per day [USD].

    Pro rata to the horizon hours of the day in its month; the maintenance of a (site, model)
    that may buy or retire machines is the renewal block's, on the machines installed each day.
    """
    opex = case.spec.opex
    grid = case.grid
    if opex is None:
        return np.zeros(len(grid.days))
    renewing = set(renewal_groups(case))
    machines = sum(entry.count for entry in case.spec.fleet if (entry.site, entry.model) not in renewing)
    monthly = opex.fixed_usd_per_month + opex.maintenance_usd_per_machine_month * machines
    return monthly * day_share_of_month(case)
