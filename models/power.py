"""Site power balance, interconnect limit and the cost of energy."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from models.expr import linear
from models.time import cash_flow_by_day
from optimizer.case import Case


def add_power(model: pyo.ConcreteModel, case: Case) -> pyo.Block:
    """Power at each site.

    Sets
    ----
    SITES : s.
    PERIODS : t, from the time block.

    Data
    ----
    a_s aux load per MW of IT load [MW/MW]; C_s interconnect [MW]; h_t period length [h];
    pi_{s,t} spot price [USD/MWh]; d_s adders plus delivery charges [USD/MWh]; B_{s,t} the
    fixed blocks' MW in period t and F_{s,t} their take-or-pay cost [USD] (0 without blocks).

    Constraints
    -----------
    site_load_within_interconnect[s, t] : (1 + a_s) * it_load_mw[s, t] <= C_s

    Data
    ----
    spot_cost_usd_per_machine[k, t] = (1 + a_s) P_k / 1e6 * pi_{s,t} h_t, adder_cost_usd_per_machine[k, t]
    likewise with d_s, block_resale_usd[t] = sum_s B_{s,t} pi_{s,t} h_t, block_cost_usd[t] = sum_s F_{s,t}.

    Expressions
    -----------
    site_load_mw[s, t] = (1 + a_s) * it_load_mw[s, t]                                [MW]
    spot_energy_cost_usd = sum_{s,t} pi_{s,t} h_t (site_load_mw[s, t] - B_{s,t})       [USD]
        energy beyond the blocks is bought at spot; unused block energy is sold back at spot
    energy_adder_cost_usd = sum_{s,t} d_s h_t site_load_mw[s, t]                      [USD]
    fixed_block_cost_usd = sum_{s,t} F_{s,t}  (take-or-pay, a constant)               [USD]
    cash_flow_usd[d] = -(the three costs above, over the periods of day d)           [USD]
    """
    block = pyo.Block(concrete=True)
    model.power = block
    fleet = model.fleet
    periods = model.time.PERIODS
    hours = model.time.period_hours
    sites = case.spec.sites
    block.SITES = pyo.Set(initialize=[s.name for s in sites], ordered=True)

    site_spec = {s.name: s for s in sites}

    def site_load_within_interconnect(b, s, t):
        """Machines plus auxiliaries stay within the interconnect."""
        return b.site_load_mw[s, t] <= site_spec[s].interconnect_mw

    block.site_load_mw = pyo.Expression(
        block.SITES, periods, rule=lambda b, s, t: (1.0 + site_spec[s].aux_load_fraction) * fleet.it_load_mw[s, t]
    )
    block.site_load_within_interconnect = pyo.Constraint(block.SITES, periods, rule=site_load_within_interconnect)

    classes = case.machine_classes
    n = len(hours)
    spot = np.array([case.spot_usd_per_mwh[c.site] for c in classes]).reshape(len(classes), n)
    adder = np.array([site_spec[c.site].power.per_mwh_charges_usd for c in classes])[:, None]
    site_mw = np.array([(1.0 + site_spec[c.site].aux_load_fraction) * c.power_w / 1e6 for c in classes])[:, None]
    block.spot_cost_usd_per_machine = site_mw * spot * hours
    block.adder_cost_usd_per_machine = site_mw * adder * hours
    block.block_resale_usd = np.zeros(n)
    block.block_cost_usd = np.zeros(n)
    for site in sites:
        block_mw, block_cost = fixed_block_schedule(case, site.name)
        block.block_resale_usd += block_mw * case.spot_usd_per_mwh[site.name] * hours
        block.block_cost_usd += block_cost
    running = [fleet.running[k, t] for k in range(len(classes)) for t in periods]
    block.spot_energy_cost_usd = pyo.Expression(
        expr=linear(block.spot_cost_usd_per_machine.ravel(), running, -float(block.block_resale_usd.sum()))
    )
    block.energy_adder_cost_usd = pyo.Expression(expr=linear(block.adder_cost_usd_per_machine.ravel(), running))
    block.fixed_block_cost_usd = pyo.Expression(expr=float(block.block_cost_usd.sum()))
    energy = energy_cost_usd_per_machine(block)
    cash_flow_by_day(
        block,
        [-energy[:, t] for t in periods],
        [[fleet.running[k, t] for k in range(len(classes))] for t in periods],
        -energy_cost_constant_usd(block),
    )
    return block


def fixed_block_schedule(case: Case, site: str) -> tuple[np.ndarray, np.ndarray]:
    """A site's take-or-pay blocks per period: MW bought [MW] and what they cost [USD].

    A block applies in the periods whose local start hour is in its ``hours`` (all if none).
    """
    spec = next(s for s in case.spec.sites if s.name == site)
    local_hour = case.grid.start_local.hour.to_numpy()
    mw = np.zeros(case.grid.n_periods)
    cost = np.zeros(case.grid.n_periods)
    for fixed in spec.power.fixed_blocks:
        applies = np.ones(case.grid.n_periods, dtype=bool) if fixed.hours is None else np.isin(local_hour, fixed.hours)
        mw += fixed.mw * applies
        cost += fixed.mw * fixed.price_usd_per_mwh * case.grid.hours * applies
    return mw, cost


def energy_cost_usd_per_machine(power: pyo.Block) -> np.ndarray:
    """Cost of the energy one machine of class k running in period t makes its site draw [USD], K x T."""
    return power.spot_cost_usd_per_machine + power.adder_cost_usd_per_machine


def energy_cost_constant_usd(power: pyo.Block) -> np.ndarray:
    """Energy cost that does not depend on dispatch: take-or-pay blocks less their resale at spot [USD], per period."""
    return power.block_cost_usd - power.block_resale_usd
