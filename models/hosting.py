"""AI/HPC hosting: mining halls converted to leased load, block by block, at month starts."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyomo.environ as pyo

from models.expr import linear
from models.fleet import order_arrival_days
from models.time import add_daily_lines, day_share_of_month
from optimizer.case import Case


def months_between(start: dt.date, day: dt.date) -> int:
    """Whole calendar months from ``start`` to ``day`` (0 in the first month) [months]."""
    return (day.year - start.year) * 12 + day.month - start.month - (day.day < start.day)


def leased_share(case: Case, offer: int, commissioned_day: int) -> np.ndarray:
    """Share of one hall leased on each treasury day, for a hall whose tenant load starts on ``commissioned_day`` [-].

    0 before commissioning; ``ramp[m]`` in the m-th month after it; 1 once the ramp is over.
    """
    ramp = case.spec.hpc[offer].ramp
    days = case.grid.days
    share = np.zeros(len(days))
    for d in range(commissioned_day, len(days)):
        month = months_between(days[commissioned_day], days[d])
        share[d] = ramp[month] if month < len(ramp) else 1.0
    return share


def add_hosting(model: pyo.ConcreteModel, case: Case) -> pyo.Block | None:
    """Halls converted from mining to AI/HPC hosting.

    Sets
    ----
    OFFERS : h, one per ``hpc`` entry, at site s_h with hall size B_h [MW] and at most
        n_h = floor(max_mw / B_h) halls.
    CONVERSIONS : (h, e), halls ordered on the first day of epoch e (month) whose tenant load
        starts inside the horizon, on day c_{h,e} = first day + lead time.

    Variables
    ---------
    halls[h, e] in {0 .. n_h} integer: halls ordered at the start of e; flagged
        ``monthly_decision`` (chosen by branch and bound over the LP relaxation)    [halls]

    converted_mw[s, d] in [0, sum_{h at s} n_h B_h]  MW converted at site s and in service on
        day d: taken from the interconnect available to mining from commissioning on  [MW]
        (the upper bound is implied by the rows below; stated, as for the renewal block's
        ``installed``, so that a warm dual simplex needs no dual phase 1)

    Constraints
    -----------
    halls_within_offer[h] : sum_e halls[h, e] <= n_h
    converted_roll_forward[s, d] : converted_mw[s, d] = converted_mw[s, d-1]
        + sum_{h at s, e: c_{h,e} = d} B_h halls[h, e]   (converted_mw[s, -1] = 0)
        A roll-forward rather than the sum over all earlier commissionings, so that a hall
        appears in one row, not in every hourly interconnect row after it (as a dense
        column, it made a year's LP 10x slower to solve)

    Data
    ----
    l_{h,e,d} share of a hall leased on day d (:func:`leased_share`); u_h contracted
    utilisation [-]; q_h lease rate [USD/kW-month]; K_h capex [USD/MW]; pi_{s,t} + d_s the
    site's spot price plus adders [USD/MWh]; w_d the day's share of its month [-].

    Expressions
    -----------
    hpc_load_mw(s, t) = sum_{h at s, e} u_h B_h l_{h,e,d(t)} halls[h, e]  (data ``hall_load_mw``) [MW]
    hosting_revenue_usd = sum_{h,e,d} 1000 q_h B_h l_{h,e,d} w_d halls[h, e]            [USD]
    hpc_capex_cost_usd = sum_{h,e} K_h B_h halls[h, e], paid on the order day           [USD]
    hpc_energy_cost_usd = sum_{h,e,t} (pi_{s,t} + d_s) h_t u_h B_h l_{h,e,d(t)} halls[h, e]  [USD]
    hpc_terminal_value_revenue_usd = sum_{h,e: c_{h,e} <= D} V_h B_h halls[h, e]          [USD]
        V_h the offer's ``terminal_value_usd_per_mw``: the lease beyond the horizon, which a
        horizon of months would otherwise count as nothing against capex paid in full
    cash_flow_usd[d] = lease revenue - capex - energy of day d (not the terminal value);
        each line also ``<line>_by_day[d]``
    """
    offers = case.spec.hpc
    if not offers:
        return None
    block = pyo.Block(concrete=True)
    model.hosting = block
    grid = case.grid
    sites = {s.name: s for s in case.spec.sites}
    first_day = grid.epoch_first_day
    commissioning = [order_arrival_days(case, offer.lead_time_days) for offer in offers]
    most_halls = [math.floor(offer.max_mw / offer.block_mw + 1e-9) for offer in offers]
    block.OFFERS = pyo.RangeSet(0, len(offers) - 1)
    block.CONVERSIONS = pyo.Set(initialize=[(h, e) for h, days in enumerate(commissioning) for e in days], dimen=2, ordered=True)
    block.halls = pyo.Var(block.CONVERSIONS, domain=pyo.NonNegativeIntegers, bounds=lambda _, h, e: (0, most_halls[h]))
    block.monthly_decision = pyo.Suffix(direction=pyo.Suffix.LOCAL)
    for var in block.halls.values():
        block.monthly_decision[var] = True
    block.halls_within_offer = pyo.Constraint(
        block.OFFERS,
        rule=lambda b, h: sum(b.halls[h, e] for e in commissioning[h]) <= most_halls[h] if commissioning[h] else pyo.Constraint.Skip,
    )

    share_of_month = day_share_of_month(case)
    day_of_period = grid.day_of_period
    block.hall_leased_share = {}
    block.hall_load_mw = {}
    revenue, capex, energy = [], [], []
    for h, e in block.CONVERSIONS:
        offer = offers[h]
        site = sites[offer.site]
        leased = leased_share(case, h, commissioning[h][e])
        load = offer.utilisation * offer.block_mw * leased[day_of_period]
        block.hall_leased_share[h, e] = leased
        block.hall_load_mw[h, e] = load
        energy_usd = load * (case.spot_usd_per_mwh[offer.site] + site.power.per_mwh_charges_usd) * grid.hours
        hall = block.halls[h, e]
        capex.append((int(first_day[e]), offer.capex_usd_per_mw * offer.block_mw, hall))
        for d in np.flatnonzero(leased):
            revenue.append((int(d), 1000.0 * offer.rate_usd_per_kw_month * offer.block_mw * leased[d] * share_of_month[d], hall))
        for d, usd in enumerate(np.bincount(day_of_period, weights=energy_usd, minlength=len(grid.days))):
            if usd:
                energy.append((d, float(usd), hall))

    block.SITES_HPC = pyo.Set(initialize=list(dict.fromkeys(offer.site for offer in offers)), ordered=True)
    most_mw = dict.fromkeys(block.SITES_HPC, 0.0)
    for offer, halls in zip(offers, most_halls):
        most_mw[offer.site] += halls * offer.block_mw
    block.converted_mw = pyo.Var(block.SITES_HPC, model.time.DAYS, domain=pyo.NonNegativeReals, bounds=lambda _, s, d: (0, most_mw[s]))

    def converted_roll_forward(b, s, d):
        """MW converted = the day before + halls whose tenant load starts today."""
        terms = [(offers[h].block_mw, b.halls[h, e]) for h, e in b.CONVERSIONS if offers[h].site == s and commissioning[h][e] == d]
        opening = b.converted_mw[s, d - 1] if d else 0.0
        return b.converted_mw[s, d] == opening + linear([c for c, _ in terms], [v for _, v in terms])

    block.converted_roll_forward = pyo.Constraint(block.SITES_HPC, model.time.DAYS, rule=converted_roll_forward)
    last = len(grid.days) - 1
    terminal = [(last, offers[h].terminal_value_usd_per_mw * offers[h].block_mw, block.halls[h, e]) for h, e in block.CONVERSIONS]
    add_daily_lines(
        block,
        {"hosting_revenue_usd": revenue, "hpc_capex_cost_usd": capex, "hpc_energy_cost_usd": energy, "hpc_terminal_value_revenue_usd": terminal},
        non_cash=("hpc_terminal_value_revenue_usd",),
    )
    return block
