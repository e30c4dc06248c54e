"""The textbook formulation kept as the baseline of target P3: cash and BTC balances every hour.

:func:`build_textbook_model` builds hashplan's model, then replaces the daily treasury
roll-forward with hourly balances, as a first formulation would write them:

    btc_h[t] = btc_h[t-1] + sum_k beta_{k,t} running[k,t] - sold_h[t]                 [BTC]
    cash_h[t] = cash_h[t-1] + (1 - c) p_{d(t)} sold_h[t] + (F_d on the day's first hour)  [USD]
    cash_h[t] + covenant_short_usd[d(t)] >= min_cash  on every hour of a test day
    btc_h[t] + btc_short[d(t)] >= min_btc  on every hour, when a floor is set
    btc_sold[d] = sum_{t in d} sold_h[t];  btc_held[d], cash_usd[d] = the day's last hour's

F_d is the daily model's net cash flow of day d other than BTC sales (every block's flows,
opex, debt paid, emergency funding), read off its cash roll-forward row; sales execute at the
day's price as in the daily model. The objective is unchanged: it reads the daily variables,
now tied to the hourly ones. Each hour of a test day must meet the covenant, not only the
day's close, so this plan is worth at most the daily model's (equal when the covenant does not
bind inside a day).
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from models.build import build_model
from models.treasury import daily_btc_price_usd
from optimizer.case import Case


def build_textbook_model(case: Case) -> pyo.ConcreteModel:
    """hashplan's model with the treasury rolled forward every hour instead of every day."""
    model = build_model(case)
    tb, fleet, grid = model.treasury, model.fleet, case.grid
    treasury = case.spec.treasury
    day_of_period = grid.day_of_period
    hours_in_day = np.bincount(day_of_period, minlength=len(grid.days))
    last_hour = np.cumsum(hours_in_day) - 1
    price_day = daily_btc_price_usd(case)
    sale_cost = treasury.sale_cost_bps / 1e4
    periods = range(grid.n_periods)
    classes = range(len(case.machine_classes))

    # F_d: the daily row is cash[d] - opening - (1 - c) p_d sold[d] - F_d == 0
    other_flow = {}
    for d in tb.cash_roll_forward:
        opening = tb.cash_usd[d - 1] if d else treasury.cash_usd
        other_flow[d] = tb.cash_usd[d] - opening - (1.0 - sale_cost) * price_day[d] * tb.btc_sold[d] - tb.cash_roll_forward[d].body
    tb.cash_roll_forward.deactivate()
    tb.btc_roll_forward.deactivate()

    tb.sold_h = pyo.Var(periods, domain=pyo.NonNegativeReals)
    tb.btc_h = pyo.Var(periods, domain=pyo.NonNegativeReals)
    tb.cash_h = pyo.Var(periods, domain=pyo.NonNegativeReals)
    first_hour = last_hour - hours_in_day + 1

    def btc_hourly(b, t):
        opening = b.btc_h[t - 1] if t else treasury.btc
        mined = sum(float(fleet.btc_per_machine[k, t]) * fleet.running[k, t] for k in classes)
        return b.btc_h[t] == opening + mined - b.sold_h[t]

    def cash_hourly(b, t):
        d = int(day_of_period[t])
        opening = b.cash_h[t - 1] if t else treasury.cash_usd
        flow = other_flow[d] if t == first_hour[d] else 0.0
        return b.cash_h[t] == opening + (1.0 - sale_cost) * price_day[d] * b.sold_h[t] + flow

    tb.btc_hourly = pyo.Constraint(periods, rule=btc_hourly)
    tb.cash_hourly = pyo.Constraint(periods, rule=cash_hourly)
    tb.sold_by_hour = pyo.Constraint(tb.btc_sold.index_set(), rule=lambda b, d: b.btc_sold[d] == sum(b.sold_h[t] for t in range(first_hour[d], last_hour[d] + 1)))
    tb.btc_close = pyo.Constraint(tb.btc_held.index_set(), rule=lambda b, d: b.btc_held[d] == b.btc_h[int(last_hour[d])])
    tb.cash_close = pyo.Constraint(tb.cash_usd.index_set(), rule=lambda b, d: b.cash_usd[d] == b.cash_h[int(last_hour[d])])
    test_days = set(tb.TEST_DAYS)
    test_hours = [t for t in periods if int(day_of_period[t]) in test_days]
    tb.covenant_hourly = pyo.Constraint(
        test_hours, rule=lambda b, t: b.cash_h[t] + b.covenant_short_usd[int(day_of_period[t])] >= treasury.min_cash_usd
    )
    floor_hours = list(periods) if treasury.min_btc > 0 else []
    tb.btc_floor_hourly = pyo.Constraint(floor_hours, rule=lambda b, t: b.btc_h[t] + b.btc_short[int(day_of_period[t])] >= treasury.min_btc)
    return model
