"""Site power balance, interconnect limit and the cost of energy."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from models.expr import linear
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
    pi_{s,t} spot price [USD/MWh]; d_s adder [USD/MWh]; B_s, f_s fixed block size [MW] and
    price [USD/MWh] (0 when the site has none).

    Constraints
    -----------
    site_load_within_interconnect[s, t] : (1 + a_s) * it_load_mw[s, t] <= C_s

    Expressions
    -----------
    site_load_mw[s, t] = (1 + a_s) * it_load_mw[s, t]                                [MW]
    spot_energy_cost_usd = sum_{s,t} pi_{s,t} h_t (site_load_mw[s, t] - B_s)           [USD]
        energy beyond the block is bought at spot; unused block energy is sold back at spot
    energy_adder_cost_usd = sum_{s,t} d_s h_t site_load_mw[s, t]                      [USD]
    fixed_block_cost_usd = sum_{s,t} f_s B_s h_t  (take-or-pay, a constant)           [USD]
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

    block_mw = {s.name: s.power.fixed_block.mw if s.power.fixed_block else 0.0 for s in sites}
    block_price = {s.name: s.power.fixed_block.price_usd_per_mwh if s.power.fixed_block else 0.0 for s in sites}
    spot_coefs, adder_coefs, running = [], [], []
    for s in block.SITES:
        ks = fleet.classes_at_site[s]
        site_mw_per_machine = (1.0 + site_spec[s].aux_load_fraction) * fleet.class_power_mw[ks]
        spot_coefs.append(np.outer(site_mw_per_machine, case.spot_usd_per_mwh[s] * hours).ravel())
        adder_coefs.append(np.outer(site_mw_per_machine, site_spec[s].power.adder_usd_per_mwh * hours).ravel())
        running.extend(fleet.running[k, t] for k in ks for t in periods)
    block_resale_usd = sum(block_mw[s] * float(case.spot_usd_per_mwh[s] @ hours) for s in block.SITES)
    block.spot_energy_cost_usd = pyo.Expression(expr=linear(np.concatenate(spot_coefs), running, -block_resale_usd))
    block.energy_adder_cost_usd = pyo.Expression(expr=linear(np.concatenate(adder_coefs), running))
    block.fixed_block_cost_usd = pyo.Expression(
        expr=sum(block_mw[s] * block_price[s] for s in block.SITES) * float(hours.sum())
    )
    return block
