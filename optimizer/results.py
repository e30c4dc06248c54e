"""Typed results of a solved plan: DataFrames with units in column names, KPIs, reconciliations."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from models.objective import pnl_terms
from optimizer import market
from optimizer.case import Case
from optimizer.solve import SolveReport

RECONCILE_RELATIVE_TOLERANCE = 1e-7
"""Relative difference above which two ways of totalling the same figure disagree [-]."""


class ReconciliationError(RuntimeError):
    """Two computations of the same total disagree: a defect, never a user error."""


@dataclass(frozen=True)
class Results:
    """A solved plan.

    Attributes
    ----------
    kpis : dict
        Flat headline figures (the keys of ``summary.json``), units in the names.
    dispatch : pandas.DataFrame
        One row per site, model, mode and period.
    sites : pandas.DataFrame
        One row per site: energy, cost, curtailment, uptime.
    breakeven : pandas.DataFrame
        One row per site, model and mode: efficiency and break-even power prices.
    pnl : pandas.DataFrame
        The objective's named revenue and cost Expressions; they sum to the objective.
    solve : SolveReport
        Solver status, gap and times.
    """

    kpis: dict
    dispatch: pd.DataFrame
    sites: pd.DataFrame
    breakeven: pd.DataFrame
    pnl: pd.DataFrame
    solve: SolveReport


def extract_results(model: pyo.ConcreteModel, case: Case, report: SolveReport) -> Results:
    """Read the plan out of a solved model and reconcile it.

    Raises
    ------
    ReconciliationError
        If the P&L lines do not sum to the objective or the site totals do not sum to them.
    """
    grid = case.grid
    classes = case.machine_classes
    running = np.array([[model.fleet.running[k, t].value for t in range(grid.n_periods)] for k in range(len(classes))])
    dispatch = _dispatch_table(case, running)
    pnl = _pnl_table(model)
    _reconcile("P&L lines vs objective", pnl["usd"].sum(), report.objective_usd)
    sites = _site_table(case, dispatch)
    energy_cost_usd = -pnl.loc[pnl["line"].str.startswith("power."), "usd"].sum()
    _reconcile("site energy costs vs power P&L", sites["energy_cost_usd"].sum(), energy_cost_usd)
    mining_revenue_usd = pnl.loc[pnl["line"] == "fleet.mining_revenue_usd", "usd"].sum()
    _reconcile("dispatch revenue vs fleet P&L", dispatch["mining_revenue_usd"].sum(), mining_revenue_usd)
    btc_mined = float(dispatch["btc_expected"].sum())
    energy_mwh = float(sites["energy_mwh"].sum())
    kpis = {
        "case": case.name,
        "status": report.status,
        "objective_usd": report.objective_usd,
        "bound_usd": _finite_or_none(report.bound_usd),
        "mip_gap": _finite_or_none(report.mip_gap),
        "solve_seconds": report.solve_seconds,
        "btc_mined": btc_mined,
        "mining_revenue_usd": float(mining_revenue_usd),
        "energy_cost_usd": float(energy_cost_usd),
        "energy_cost_per_btc_usd": float(energy_cost_usd / btc_mined) if btc_mined > 0 else None,
        "energy_mwh": energy_mwh,
        "curtailed_mwh": float(sites["curtailed_mwh"].sum()),
        "average_power_price_paid_usd_per_mwh": float(energy_cost_usd / energy_mwh) if energy_mwh > 0 else None,
        "uptime_fraction": float(sites["machine_hours_run"].sum() / sites["machine_hours_installed"].sum()),
    }
    return Results(
        kpis=kpis, dispatch=dispatch, sites=sites, breakeven=_breakeven_table(case, running), pnl=pnl, solve=report
    )


def _dispatch_table(case: Case, running: np.ndarray) -> pd.DataFrame:
    grid, net = case.grid, case.network
    classes = case.machine_classes
    n = grid.n_periods
    hashrate = np.array([c.hashrate_th for c in classes])[:, None]
    power_mw = np.array([c.power_w / 1e6 for c in classes])[:, None]
    btc = running * hashrate * net.btc_per_th
    return pd.DataFrame(
        {
            "period_start": np.tile(grid.start_local, len(classes)),
            "period_hours": np.tile(grid.hours, len(classes)),
            "site": np.repeat([c.site for c in classes], n),
            "model": np.repeat([c.model for c in classes], n),
            "mode": np.repeat([c.mode for c in classes], n),
            "machines_running": running.ravel(),
            "it_load_mw": (running * power_mw).ravel(),
            "hashrate_ths": (running * hashrate).ravel(),
            "btc_expected": btc.ravel(),
            "mining_revenue_usd": (btc * net.btc_price_usd).ravel(),
        }
    )


def _site_table(case: Case, dispatch: pd.DataFrame) -> pd.DataFrame:
    """Per site: energy and its cost recomputed from the dispatch, curtailment and uptime."""
    hours = case.grid.hours
    n = case.grid.n_periods
    models = {m.name: m for m in case.spec.miner_models}
    rows = []
    for site in case.spec.sites:
        at_site = dispatch[dispatch["site"] == site.name]
        # dispatch rows are class-major, n periods per class
        it_mw = at_site["it_load_mw"].to_numpy().reshape(-1, n).sum(axis=0)
        load_mw = (1.0 + site.aux_load_fraction) * it_mw
        spot = case.spot_usd_per_mwh[site.name]
        block = site.power.fixed_block
        block_mw, block_price = (block.mw, block.price_usd_per_mwh) if block else (0.0, 0.0)
        energy_cost = float(
            spot @ ((load_mw - block_mw) * hours) + site.power.adder_usd_per_mwh * load_mw @ hours + block_mw * block_price * hours.sum()
        )
        fleet = [e for e in case.spec.fleet if e.site == site.name]
        nameplate_mw = (1.0 + site.aux_load_fraction) * sum(e.count * models[e.model].power_w / 1e6 for e in fleet)
        available_mw = min(nameplate_mw, site.interconnect_mw)
        installed = sum(e.count for e in fleet)
        energy_mwh = float(load_mw @ hours)
        rows.append(
            {
                "site": site.name,
                "interconnect_mw": site.interconnect_mw,
                "nameplate_load_mw": nameplate_mw,
                "machines_installed": installed,
                "peak_load_mw": float(load_mw.max()) if n else 0.0,
                "energy_mwh": energy_mwh,
                "energy_cost_usd": energy_cost,
                "average_price_paid_usd_per_mwh": energy_cost / energy_mwh if energy_mwh > 0 else math.nan,
                "curtailed_mwh": float(np.clip(available_mw - load_mw, 0.0, None) @ hours),
                "machine_hours_run": float(at_site["machines_running"].to_numpy() @ at_site["period_hours"].to_numpy()),
                "machine_hours_installed": float(installed * hours.sum()),
                "btc_expected": float(at_site["btc_expected"].sum()),
                "mining_revenue_usd": float(at_site["mining_revenue_usd"].sum()),
            }
        )
    return pd.DataFrame(rows)


def _breakeven_table(case: Case, running: np.ndarray) -> pd.DataFrame:
    """Per class: break-even power prices at the horizon's mean hashprice, and how often it ran."""
    hours = case.grid.hours
    hashprice = float(case.network.hashprice_usd_per_ph_day @ hours / hours.sum())
    sites = {s.name: s for s in case.spec.sites}
    rows = []
    for k, c in enumerate(case.machine_classes):
        site = sites[c.site]
        efficiency = c.efficiency_j_per_th
        spot_breakeven = float(market.breakeven_site_price_usd_per_mwh(hashprice, efficiency, site.aux_load_fraction, site.power.adder_usd_per_mwh))
        rows.append(
            {
                "site": c.site,
                "model": c.model,
                "mode": c.mode,
                "hashrate_th": c.hashrate_th,
                "power_w": c.power_w,
                "efficiency_j_per_th": efficiency,
                "hashprice_usd_per_ph_day": hashprice,
                "breakeven_power_usd_per_mwh": float(market.breakeven_power_price_usd_per_mwh(hashprice, efficiency)),
                "breakeven_spot_usd_per_mwh": spot_breakeven,
                "hours_spot_above_breakeven": float(hours[case.spot_usd_per_mwh[c.site] > spot_breakeven].sum()),
                "run_fraction": float(running[k] @ hours / (c.installed * hours.sum())),
            }
        )
    return pd.DataFrame(rows)


def _pnl_table(model: pyo.ConcreteModel) -> pd.DataFrame:
    return pd.DataFrame([{"line": name, "usd": sign * pyo.value(expr)} for name, sign, expr in pnl_terms(model)])


def _reconcile(what: str, a: float, b: float) -> None:
    if abs(a - b) > RECONCILE_RELATIVE_TOLERANCE * max(1.0, abs(a), abs(b)):
        raise ReconciliationError(f"{what} do not reconcile: {a!r} vs {b!r}")


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None
