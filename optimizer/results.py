"""Typed results of a solved plan: DataFrames with units in column names, KPIs, reconciliations."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from models.objective import pnl_terms
from models.fleet import order_arrival_days, purchase_price_usd
from models.power import fixed_block_schedule
from models.treasury import (
    COVENANT_PENALTY_USD_PER_USD,
    MIN_BTC_PENALTY_USD_PER_USD,
    UNFUNDED_PENALTY_USD_PER_USD,
    UNPAID_DEBT_PENALTY_USD_PER_USD,
    terminal_mark_usd_per_btc,
)
from optimizer import market
from optimizer.case import Case
from optimizer.solve import SolveReport

RECONCILE_RELATIVE_TOLERANCE = 1e-7
"""Relative difference above which two ways of totalling the same figure disagree [-]."""

CENT_USD = 0.005
"""Roll-forwards tie to the cent [USD]."""

SOLVER_BTC = 1e-5
"""How far the model's BTC balances may drift from the accumulated flows: HiGHS's feasibility
tolerance (1e-7 per LP row, 1e-6 per MIP row) over a horizon of days [BTC]."""

SLACK_USD = 0.01
"""Slack below this is solver noise, not a shortfall [USD]."""

SOLD_NOTHING_BTC = 1e-4
"""Sales below this (about $10) do not count as a way a shortfall could have been closed [BTC]."""


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
        One row per site: energy, cost, curtailment, uptime, value of interconnect.
    breakeven : pandas.DataFrame
        One row per site, model and mode: efficiency and break-even power prices.
    thresholds : pandas.DataFrame
        The curtailment threshold per site, model and mode: the spot price above which to switch off.
    curtailment : pandas.DataFrame
        Per site and month: energy curtailed, and why (4CP intervals, deployments, price).
    daily : pandas.DataFrame
        Per local day: mean MW drawn by each machine model and curtailed (all sites), and each
        site's time-weighted mean spot price; the charts' data.
    pnl : pandas.DataFrame
        The objective's named revenue and cost Expressions; they sum to the objective.
    pnl_monthly : pandas.DataFrame
        The same lines by month (columns), each row summing to its line in ``pnl``.
    fleet_plan : pandas.DataFrame
        Per site, machine model and month: machines installed, ordered, delivered, retired,
        capex paid and resale received.
    hpc_plan : pandas.DataFrame or None
        Per site and month: halls ordered, MW converted and leased, commissioning dates,
        hosting revenue, capex and the tenant's energy (with an ``hpc`` section).
    interconnect : pandas.DataFrame
        Per month, for each site and all sites: mean MW drawn by each machine model, MW
        converted to hosting and MW unused; the interconnect chart's data.
    treasury : pandas.DataFrame or None
        Daily BTC and cash roll-forward (with a treasury section).
    covenants : pandas.DataFrame or None
        One row per covenant test date (with a minimum-cash covenant).
    solve : SolveReport
        Solver status, gap and times.
    """

    kpis: dict
    dispatch: pd.DataFrame
    sites: pd.DataFrame
    breakeven: pd.DataFrame
    thresholds: pd.DataFrame
    curtailment: pd.DataFrame
    daily: pd.DataFrame
    pnl: pd.DataFrame
    pnl_monthly: pd.DataFrame
    fleet_plan: pd.DataFrame
    hpc_plan: pd.DataFrame | None
    interconnect: pd.DataFrame
    treasury: pd.DataFrame | None
    covenants: pd.DataFrame | None
    solve: SolveReport


def extract_results(model: pyo.ConcreteModel, case: Case, report: SolveReport) -> Results:
    """Read the plan out of a solved model and reconcile it.

    Raises
    ------
    ReconciliationError
        If the P&L lines do not sum to the objective, the monthly P&L or the site totals do
        not sum to them, or a roll-forward does not tie.
    """
    grid = case.grid
    classes = case.machine_classes
    running = np.array([[model.fleet.running[k, t].value for t in range(grid.n_periods)] for k in range(len(classes))])
    dispatch = _dispatch_table(model, case, running)
    installed = _installed_by_period(model, case)
    converted = {site.name: _converted_mw(model, case, site.name) for site in case.spec.sites}
    capacity = {site.name: _mining_capacity_mw(case, installed, site, converted[site.name]) for site in case.spec.sites}
    pnl = _pnl_table(model)
    _reconcile("P&L lines vs objective", pnl["usd"].sum(), report.objective_usd)
    pnl_monthly = _monthly_pnl(model, case, running, pnl)
    sites = _site_table(case, dispatch, model, report, installed, capacity)
    energy_cost_usd = -pnl.loc[pnl["line"].str.startswith("power."), "usd"].sum()
    _reconcile("site energy costs vs power P&L", sites["energy_cost_usd"].sum(), energy_cost_usd)
    _reconcile("site 4CP charges vs 4CP P&L", sites["four_cp_charge_usd"].sum(), -_line(pnl, "four_cp.four_cp_cost_usd"))
    mining_revenue_usd = pnl.loc[pnl["line"] == "fleet.mining_revenue_usd", "usd"].sum()
    _reconcile("dispatch revenue vs fleet P&L", dispatch["mining_revenue_usd"].sum(), mining_revenue_usd)
    btc_mined = float(dispatch["btc_expected"].sum())
    energy_mwh = float(sites["energy_mwh"].sum())
    fleet_plan = _fleet_plan(model, case, installed)
    _reconcile("fleet plan capex vs renewal P&L", fleet_plan["capex_usd"].sum(), -_line(pnl, "renewal.machine_capex_cost_usd"))
    hpc_plan = _hpc_plan(model, case, converted)
    if hpc_plan is not None:
        _reconcile("HPC plan revenue vs hosting P&L", hpc_plan["hosting_revenue_usd"].sum(), _line(pnl, "hosting.hosting_revenue_usd"))
    kpis = {
        "case": case.name,
        "status": report.status,
        "objective_usd": report.objective_usd,
        "bound_usd": _finite_or_none(report.bound_usd),
        "mip_gap": _finite_or_none(report.mip_gap),
        "solve_method": report.method,
        "btc_mined": btc_mined,
        "mining_revenue_usd": float(mining_revenue_usd),
        "energy_cost_usd": float(energy_cost_usd),
        "energy_cost_per_btc_usd": _ratio(energy_cost_usd, btc_mined),
        "energy_mwh": energy_mwh,
        "curtailed_mwh": float(sites["curtailed_mwh"].sum()),
        "average_power_price_paid_usd_per_mwh": _ratio(energy_cost_usd, energy_mwh),
        "uptime_fraction": _ratio(float(sites["machine_hours_run"].sum()), float(sites["machine_hours_installed"].sum())),
        "fixed_block_cost_usd": float(sites["fixed_block_cost_usd"].sum()),
        "fixed_block_resale_usd": float(sites["fixed_block_resale_usd"].sum()),
        "four_cp_charge_usd": float(sites["four_cp_charge_usd"].sum()),
        "four_cp_avoided_usd": float(sites["four_cp_avoided_usd"].sum()),
        "demand_response_revenue_usd": _line(pnl, "demand_response.demand_response_revenue_usd"),
        "switching_cost_usd": -_line(pnl, "switching.switching_cost_usd"),
        "capex_usd": -_line(pnl, "renewal.machine_capex_cost_usd") - _line(pnl, "hosting.hpc_capex_cost_usd") + 0.0,
        "hosting_revenue_usd": _line(pnl, "hosting.hosting_revenue_usd"),
        "machines_bought": round(fleet_plan["ordered"].sum()),
        "machines_retired": round(fleet_plan["retired"].sum()),
        "hpc_mw_converted": 0.0 if hpc_plan is None else float(hpc_plan["mw_ordered"].sum()),
        "resale_proceeds_usd": _line(pnl, "renewal.resale_proceeds_revenue_usd"),
        "shortfalls": [],
    }
    treasury = covenants = None
    if case.spec.treasury is not None:
        treasury = _treasury_table(model, case, dispatch, running)
        covenants = _covenant_table(model, case, treasury, report)
        shortfalls = _shortfalls(model, case, treasury, covenants)
        kpis.update(_treasury_kpis(case, treasury, covenants, pnl, btc_mined, energy_cost_usd))
        kpis["shortfalls"] = shortfalls
        if shortfalls:
            kpis["status"] = f"{report.status}_with_shortfalls"
    breakeven = _breakeven_table(case, running, installed)
    return Results(
        kpis=kpis,
        dispatch=dispatch,
        sites=sites,
        breakeven=breakeven,
        thresholds=_thresholds_table(breakeven),
        curtailment=_curtailment_table(model, case, dispatch, capacity),
        daily=_daily_table(case, dispatch, capacity),
        pnl=pnl,
        pnl_monthly=pnl_monthly,
        fleet_plan=fleet_plan,
        hpc_plan=hpc_plan,
        interconnect=_interconnect_table(case, dispatch, converted),
        treasury=treasury,
        covenants=covenants,
        solve=report,
    )


def _dispatch_table(model: pyo.ConcreteModel, case: Case, running: np.ndarray) -> pd.DataFrame:
    grid, net = case.grid, case.network
    classes = case.machine_classes
    n = grid.n_periods
    hashrate = model.fleet.hashrate_per_machine_ths
    power_mw = np.array([c.power_w / 1e6 for c in classes])[:, None]
    btc = running * model.fleet.btc_per_machine
    return pd.DataFrame(
        {
            "period_start": grid.start_local[np.tile(np.arange(n), len(classes))],
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


def _site_table(
    case: Case, dispatch: pd.DataFrame, model: pyo.ConcreteModel, report: SolveReport, installed: np.ndarray, capacity: dict[str, np.ndarray]
) -> pd.DataFrame:
    """Per site: energy and its cost recomputed from the dispatch, curtailment, uptime, interconnect value."""
    hours = case.grid.hours
    n = case.grid.n_periods
    rows = []
    for site in case.spec.sites:
        at_site = dispatch[dispatch["site"] == site.name]
        # dispatch rows are class-major, n periods per class
        it_mw = at_site["it_load_mw"].to_numpy().reshape(-1, n).sum(axis=0)
        load_mw = (1.0 + site.aux_load_fraction) * it_mw
        spot = case.spot_usd_per_mwh[site.name]
        block_mw, block_cost = fixed_block_schedule(case, site.name)
        energy_cost = float(spot @ ((load_mw - block_mw) * hours) + site.power.per_mwh_charges_usd * load_mw @ hours + block_cost.sum())
        nameplate_mw = _nameplate_mw(case, installed, site)
        capacity_mw = capacity[site.name]
        groups = _group_rows(case, site.name)
        energy_mwh = float(load_mw @ hours)
        interconnect = model.power.site_load_within_interconnect
        duals = [report.duals.get(interconnect[site.name, t]) for t in range(n)]
        four_cp = _four_cp_figures(model, site, load_mw, capacity_mw)
        rows.append(
            {
                "site": site.name,
                "interconnect_mw": site.interconnect_mw,
                "nameplate_load_mw": float(nameplate_mw.max()) if n else 0.0,
                "machines_installed": int(sum(e.count for e in case.spec.fleet if e.site == site.name)),
                "peak_load_mw": float(load_mw.max()) if n else 0.0,
                "energy_mwh": energy_mwh,
                "energy_cost_usd": energy_cost,
                "average_price_paid_usd_per_mwh": energy_cost / energy_mwh if energy_mwh > 0 else math.nan,
                "curtailed_mwh": float(_curtailment_mw(capacity_mw, load_mw) @ hours),
                "machine_hours_run": float(at_site["machines_running"].to_numpy() @ at_site["period_hours"].to_numpy()),
                "machine_hours_installed": float(installed[groups].sum(axis=0) @ hours),
                "btc_expected": float(at_site["btc_expected"].sum()),
                "mining_revenue_usd": float(at_site["mining_revenue_usd"].sum()),
                "interconnect_value_usd_per_mw": math.nan if None in duals else float(sum(duals)),
                "fixed_block_cost_usd": float(block_cost.sum()),
                "fixed_block_resale_usd": float(spot @ (np.clip(block_mw - load_mw, 0.0, None) * hours)),
                "four_cp_charge_usd": four_cp[0],
                "four_cp_avoided_usd": four_cp[1],
            }
        )
    return pd.DataFrame(rows)


def _four_cp_figures(model: pyo.ConcreteModel, site, load_mw: np.ndarray, flat_out_mw: float) -> tuple[float, float]:
    """A site's 4CP charge [USD], and what it saved against running flat out in the intervals [USD]."""
    four_cp = model.component("four_cp")
    if four_cp is None or site.name not in four_cp.weights:
        return 0.0, 0.0
    usd_per_mw = site.power.four_cp.rate_usd_per_kw_year * 1000.0 * model.time.period_hours.sum() / 8760.0 * four_cp.weights[site.name]
    return float(usd_per_mw @ load_mw), float(usd_per_mw @ (flat_out_mw - load_mw))


def _curtailment_table(model: pyo.ConcreteModel, case: Case, dispatch: pd.DataFrame, capacity: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per site and month: MWh curtailed below what the fleet could draw, split by why.

    Curtailment in a 4CP interval counts as 4CP, in a deployment period as demand response,
    and the rest as price (spot above the break-even of the machines switched off).
    """
    grid = case.grid
    n = grid.n_periods
    hours = grid.hours
    months = [f"{t.year}-{t.month:02d}" for t in grid.start_local]
    four_cp = model.component("four_cp")
    demand_response = model.component("demand_response")
    frames = []
    for site in case.spec.sites:
        at_site = dispatch[dispatch["site"] == site.name]
        load_mw = (1.0 + site.aux_load_fraction) * at_site["it_load_mw"].to_numpy().reshape(-1, n).sum(axis=0)
        curtailed = _curtailment_mw(capacity[site.name], load_mw) * hours
        largest_machine_mw = (1.0 + site.aux_load_fraction) * max((c.power_w / 1e6 for c in case.machine_classes if c.site == site.name), default=0.0)
        at_four_cp = four_cp is not None and site.name in four_cp.weights
        in_four_cp = four_cp.weights[site.name] > 0 if at_four_cp else np.zeros(n, dtype=bool)
        deployed = np.zeros(n, dtype=bool)
        if demand_response is not None:
            for (s, _), (_, shed) in zip(((s.name, p) for s in case.spec.sites for p in s.power.demand_response), demand_response.schedules):
                deployed |= shed & (s == site.name)
        by_price = ~in_four_cp & ~deployed
        spot = case.spot_usd_per_mwh[site.name]
        frame = pd.DataFrame(
            {
                "month": months,
                "curtailed_mwh": curtailed,
                # an hour counts when at least one whole machine could have run: whole machines
                # leave a sliver of the interconnect unused in every hour
                "curtailed_hours": np.where(curtailed > largest_machine_mw * hours, hours, 0.0),
                "four_cp_mwh": np.where(in_four_cp, curtailed, 0.0),
                "deployment_mwh": np.where(deployed & ~in_four_cp, curtailed, 0.0),
                "price_mwh": np.where(by_price, curtailed, 0.0),
                "spot_x_price_mwh": np.where(by_price, curtailed * spot, 0.0),
            }
        ).groupby("month", sort=True).sum()
        frame["mean_spot_when_price_curtailed_usd_per_mwh"] = frame.pop("spot_x_price_mwh") / frame["price_mwh"].where(frame["price_mwh"] > 0)
        frames.append(frame.reset_index().assign(site=site.name))
    table = pd.concat(frames, ignore_index=True)
    return table[["site"] + [c for c in table.columns if c != "site"]]


def _daily_table(case: Case, dispatch: pd.DataFrame, capacity: dict[str, np.ndarray]) -> pd.DataFrame:
    """Mean site MW by machine model and curtailed, and mean spot price per site, for each local day."""
    grid = case.grid
    n, day_of_period, hours = grid.n_periods, grid.day_of_period, grid.hours
    day_hours = np.bincount(day_of_period, weights=hours)

    def daily_mean(per_period: np.ndarray) -> np.ndarray:
        return np.bincount(day_of_period, weights=per_period * hours, minlength=len(day_hours)) / day_hours

    table = {"date": grid.days}
    sites = {s.name: s for s in case.spec.sites}
    site_mw = dispatch["it_load_mw"].to_numpy() * dispatch["site"].map(lambda s: 1.0 + sites[s].aux_load_fraction).to_numpy()
    for machine_model in dict.fromkeys(dispatch["model"]):
        rows = (dispatch["model"] == machine_model).to_numpy()
        table[f"{machine_model} [MW]"] = daily_mean(site_mw[rows].reshape(-1, n).sum(axis=0))
    curtailed = sum(
        _curtailment_mw(capacity[site.name], site_mw[(dispatch["site"] == site.name).to_numpy()].reshape(-1, n).sum(axis=0)) for site in case.spec.sites
    )
    table["curtailed [MW]"] = daily_mean(curtailed)
    for site in case.spec.sites:
        table[f"spot {site.name} [USD/MWh]"] = daily_mean(case.spot_usd_per_mwh[site.name])
    return pd.DataFrame(table)


def _installed_by_period(model: pyo.ConcreteModel, case: Case) -> np.ndarray:
    """Machines of each class's (site, model) installed in each period [units], classes x periods."""
    grid = case.grid
    renewal = model.component("renewal")
    rows = []
    for c in case.machine_classes:
        if renewal is not None and (c.site, c.model) in renewal.GROUPS_R:
            per_day = np.array([renewal.installed[c.site, c.model, d].value for d in range(len(grid.days))])
            rows.append(per_day[grid.day_of_period])
        else:
            rows.append(np.full(grid.n_periods, float(c.installed)))
    return np.array(rows).reshape(len(case.machine_classes), grid.n_periods)


def _group_rows(case: Case, site: str) -> list[int]:
    """One class row per machine model at ``site`` (a model's modes share its machines)."""
    return [ks[0] for (at, _), ks in case.classes_by_group.items() if at == site]


def _nameplate_mw(case: Case, installed: np.ndarray, site, available: bool = False) -> np.ndarray:
    """Site load with every installed machine (or, if ``available``, every one expected able to
    hash) at nameplate, auxiliaries included, per period [MW]."""
    models = {m.name: m for m in case.spec.miner_models}
    rows = _group_rows(case, site.name)
    share = [models[case.machine_classes[k].model].availability if available else 1.0 for k in rows]
    power_mw = np.array([s * models[case.machine_classes[k].model].power_w / 1e6 for s, k in zip(share, rows)])
    return (1.0 + site.aux_load_fraction) * (power_mw @ installed[rows]) if rows else np.zeros(case.grid.n_periods)


def _mining_capacity_mw(case: Case, installed: np.ndarray, site, converted_mw: np.ndarray) -> np.ndarray:
    """MW the site's mining could draw per period: available machines at nameplate, within the
    interconnect left after ``converted_mw`` (per day) went to hosting [MW]."""
    return np.minimum(_nameplate_mw(case, installed, site, available=True), site.interconnect_mw - converted_mw[case.grid.day_of_period])


def _converted_mw(model: pyo.ConcreteModel, case: Case, site: str) -> np.ndarray:
    """Interconnect MW converted to hosting at ``site`` on each treasury day [MW]."""
    hosting = model.component("hosting")
    if hosting is None or site not in hosting.SITES_HPC:
        return np.zeros(len(case.grid.days))
    return np.array([pyo.value(hosting.converted_mw[site, d]) for d in range(len(case.grid.days))])


def _curtailment_mw(capacity_mw: np.ndarray, load_mw: np.ndarray) -> np.ndarray:
    """MW the site could have drawn but did not, per period."""
    return np.clip(capacity_mw - load_mw, 0.0, None)


def _thresholds_table(breakeven: pd.DataFrame) -> pd.DataFrame:
    """What operators load into their controllers: switch a class off above this spot price."""
    return breakeven[["site", "model", "mode", "efficiency_j_per_th", "hashprice_usd_per_ph_day"]].assign(
        curtail_above_spot_usd_per_mwh=breakeven["breakeven_spot_usd_per_mwh"]
    )


def _breakeven_table(case: Case, running: np.ndarray, installed: np.ndarray) -> pd.DataFrame:
    """Per class: break-even power prices at the horizon's mean hashprice, and how often it ran."""
    hours = case.grid.hours
    hashprice = case.grid.horizon_mean(case.network.hashprice_usd_per_ph_day)
    sites = {s.name: s for s in case.spec.sites}
    rows = []
    for k, c in enumerate(case.machine_classes):
        site = sites[c.site]
        efficiency = c.efficiency_j_per_th
        spot_breakeven = float(market.breakeven_site_price_usd_per_mwh(hashprice, efficiency, site.aux_load_fraction, site.power.per_mwh_charges_usd))
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
                "run_fraction": _ratio(float(running[k] @ hours), float(installed[k] @ hours)),
            }
        )
    return pd.DataFrame(rows)


def _month(day) -> str:
    return f"{day.year}-{day.month:02d}"


def _fleet_plan(model: pyo.ConcreteModel, case: Case, installed: np.ndarray) -> pd.DataFrame:
    """Per site, model and month: installed at the start and end, ordered, delivered, retired, capex and resale."""
    grid, spec = case.grid, case.spec
    months = [_month(day) for day in grid.days]
    first_period = np.searchsorted(grid.day_of_period, np.arange(len(grid.days)))
    rows = {key: ks[0] for key, ks in case.classes_by_group.items()}
    flows = {key: {name: np.zeros(len(grid.days)) for name in ("ordered", "delivered", "retired", "capex_usd", "resale_usd")} for key in rows}
    renewal = model.component("renewal")
    if renewal is not None:
        models = {m.name: m for m in spec.miner_models}
        first_day = grid.epoch_first_day
        arrivals = [order_arrival_days(case, purchase.lead_time_days) for purchase in spec.purchases]
        for (p, e), var in renewal.bought.items():
            purchase = spec.purchases[p]
            flow = flows[(purchase.site, purchase.model)]
            arrive = arrivals[p][e]
            flow["ordered"][first_day[e]] += var.value
            flow["delivered"][arrive] += var.value
            flow["capex_usd"][first_day[e] if purchase.capex_paid == "order" else arrive] += var.value * purchase_price_usd(case, purchase)
        for (r, e), var in renewal.retired.items():
            retirement = spec.retirements[r]
            flow = flows[(retirement.site, retirement.model)]
            flow["retired"][first_day[e]] += var.value
            flow["resale_usd"][first_day[e]] += var.value * (models[retirement.model].resale_usd or 0.0)
    frames = []
    for (site, machine_model), k in rows.items():
        closing = installed[k][first_period]
        opening = np.concatenate(([case.machine_classes[k].installed], closing[:-1]))
        frame = pd.DataFrame({"month": months, **flows[(site, machine_model)]}).groupby("month", sort=True).sum()
        # a month opens with the machines of the day before its first day's deliveries and retirements
        frame.insert(0, "installed_start", pd.Series(opening, index=months).groupby(level=0, sort=True).first())
        frame["installed_end"] = pd.Series(closing, index=months).groupby(level=0, sort=True).last()
        frames.append(frame.reset_index().assign(site=site, model=machine_model))
    table = pd.concat(frames, ignore_index=True)
    return table[["site", "model", "month", "installed_start", "ordered", "delivered", "retired", "installed_end", "capex_usd", "resale_usd"]]


def _hpc_plan(model: pyo.ConcreteModel, case: Case, converted: dict[str, np.ndarray]) -> pd.DataFrame | None:
    """Per site and month: halls ordered and commissioned, MW converted and leased, the cash they move."""
    hosting = model.component("hosting")
    if hosting is None:
        return None
    grid, offers = case.grid, case.spec.hpc
    months = [_month(day) for day in grid.days]
    n_days = len(grid.days)
    frames = []
    for site in hosting.SITES_HPC:
        ordered_mw, leased_mw = np.zeros(n_days), np.zeros(n_days)
        commissioned = [[] for _ in range(n_days)]
        tenant_mwh = np.zeros(n_days)
        for (h, e), var in hosting.halls.items():
            if offers[h].site != site or not var.value:
                continue
            ordered_mw[grid.epoch_first_day[e]] += offers[h].block_mw * var.value
            leased_mw += offers[h].block_mw * var.value * hosting.hall_leased_share[h, e]
            tenant_mwh += np.bincount(grid.day_of_period, weights=hosting.hall_load_mw[h, e] * var.value * grid.hours, minlength=n_days)
            start = int(np.argmax(hosting.hall_leased_share[h, e] > 0)) if hosting.hall_leased_share[h, e].any() else None
            if start is not None:
                commissioned[start].append(f"{grid.days[start]}: {offers[h].block_mw * var.value:g} MW")
        lines = {
            name: np.array([pyo.value(hosting.component(f"{name}_by_day")[d]) for d in range(n_days)])
            for name in ("hosting_revenue_usd", "hpc_capex_cost_usd", "hpc_energy_cost_usd")
        }
        frame = pd.DataFrame(
            {
                "month": months,
                "mw_ordered": ordered_mw,
                "capex_usd": lines["hpc_capex_cost_usd"],
                "mean_mw_leased": leased_mw / np.bincount(grid.epoch_of_day)[grid.epoch_of_day],
                "tenant_load_mwh": tenant_mwh,
                "hosting_revenue_usd": lines["hosting_revenue_usd"],
                "tenant_energy_cost_usd": lines["hpc_energy_cost_usd"],
            }
        ).groupby("month", sort=True).sum()
        frame.insert(2, "mw_converted_end", pd.Series(converted[site], index=months).groupby(level=0, sort=True).last())
        frame.insert(3, "commissioned", pd.Series(["; ".join(c) for c in commissioned], index=months).groupby(level=0, sort=True).agg(
            lambda texts: "; ".join(t for t in texts if t)))
        frames.append(frame.reset_index().assign(site=site))
    table = pd.concat(frames, ignore_index=True)
    return table[["site"] + [c for c in table.columns if c != "site"]]


def _interconnect_table(case: Case, dispatch: pd.DataFrame, converted: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per month, per site and for all sites: mean MW by machine model (auxiliaries included), converted to hosting, and unused."""
    grid = case.grid
    n, hours = grid.n_periods, grid.hours
    months = np.array([_month(t) for t in grid.start_local])
    machine_models = list(dict.fromkeys(dispatch["model"]))
    frames = []
    for site in case.spec.sites:
        at_site = dispatch[dispatch["site"] == site.name]
        columns = {}
        for machine_model in machine_models:
            rows = (at_site["model"] == machine_model).to_numpy()
            columns[f"{machine_model} [MW]"] = (1.0 + site.aux_load_fraction) * at_site["it_load_mw"].to_numpy()[rows].reshape(-1, n).sum(axis=0)
        columns["HPC [MW]"] = converted[site.name][grid.day_of_period]
        columns["unused [MW]"] = site.interconnect_mw - sum(columns.values())
        weighted = pd.DataFrame({name: mw * hours for name, mw in columns.items()}).groupby(months, sort=True).sum()
        frame = weighted.div(pd.Series(hours).groupby(months, sort=True).sum(), axis=0)
        frames.append(frame.rename_axis("month").reset_index().assign(site=site.name))
    table = pd.concat(frames, ignore_index=True)
    everything = table.drop(columns="site").groupby("month", sort=True).sum().reset_index().assign(site="all sites")
    table = pd.concat([table, everything], ignore_index=True)
    return table[["site", "month"] + [c for c in table.columns if c not in ("site", "month")]]


def _pnl_table(model: pyo.ConcreteModel) -> pd.DataFrame:
    return pd.DataFrame([{"line": name, "usd": sign * pyo.value(expr)} for name, sign, expr in pnl_terms(model)])


def _monthly_pnl(model: pyo.ConcreteModel, case: Case, running: np.ndarray, pnl: pd.DataFrame) -> pd.DataFrame:
    """Each P&L line by local calendar month; every row must sum to its line in ``pnl``."""
    grid = case.grid
    days = grid.days
    day_of_period = grid.day_of_period
    n_days = len(days)

    def by_day(per_period: np.ndarray) -> np.ndarray:
        return np.bincount(day_of_period, weights=per_period, minlength=n_days)

    power = model.power
    lines = {
        "fleet.mining_revenue_usd": by_day((running * model.fleet.btc_per_machine).sum(axis=0) * case.network.btc_price_usd),
        "power.spot_energy_cost_usd": -by_day((running * power.spot_cost_usd_per_machine).sum(axis=0) - power.block_resale_usd),
        "power.energy_adder_cost_usd": -by_day((running * power.adder_cost_usd_per_machine).sum(axis=0)),
        "power.fixed_block_cost_usd": -by_day(power.block_cost_usd),
    }
    if case.spec.treasury is not None:
        lines.update(_treasury_daily_pnl(model, case, running))
    # a line with a per-day twin (``<line>_by_day``) is split by it; a block with one P&L line
    # and a daily cash flow (4CP, demand response, switching) by that cash flow; the
    # reconciliation below proves the two agree
    terms = pnl_terms(model)
    for name, sign, expr in terms:
        if name in lines:
            continue
        block = expr.parent_block()
        per_day = block.component(f"{expr.local_name}_by_day")
        if per_day is not None:
            lines[name] = (1.0 if sign > 0 else -1.0) * np.array([pyo.value(per_day[d]) for d in range(n_days)])
            continue
        flows = block.component("cash_flow_usd")
        if flows is None or sum(n.rsplit(".", 1)[0] == block.getname(fully_qualified=True, relative_to=model) for n, _, _ in terms) != 1:
            raise ReconciliationError(f"P&L line {name} has no daily split")
        lines[name] = np.array([pyo.value(flows[d]) for d in range(n_days)])
    months = [f"{d.year}-{d.month:02d}" for d in days]
    frame = pd.DataFrame(lines, index=pd.Index(months, name="month")).groupby(level=0, sort=True).sum().T
    frame.index.name = "line"
    totals = pnl.set_index("line")["usd"]
    if set(frame.index) != set(totals.index):
        raise ReconciliationError(f"monthly P&L lines {sorted(frame.index)} differ from the objective's {sorted(totals.index)}")
    for line, total in totals.items():
        _reconcile(f"monthly {line} vs its total", frame.loc[line].sum(), total)
    return frame.loc[totals.index].reset_index()


def _treasury_daily_pnl(model: pyo.ConcreteModel, case: Case, running: np.ndarray) -> dict[str, np.ndarray]:
    grid, net = case.grid, case.network
    tb = model.treasury
    n_days = len(grid.days)
    days = range(n_days)
    spec = case.spec.treasury
    mark = terminal_mark_usd_per_btc(case)
    price_day = tb.btc_price_day_usd
    sold = np.array([tb.btc_sold[d].value for d in days])
    unfunded = np.array([tb.unfunded_usd[d].value for d in days])
    due, unpaid = _debt_by_day(model, case)
    covenant_short = np.zeros(n_days)
    for d in tb.TEST_DAYS:
        covenant_short[d] = tb.covenant_short_usd[d].value
    btc_short = np.array([tb.btc_short[d].value if d in tb.btc_short else 0.0 for d in days])
    opening = np.zeros(n_days)
    opening[0] = spec.cash_usd + mark * spec.btc
    revaluation_per_period = (running * model.fleet.btc_per_machine).sum(axis=0) * (mark - net.btc_price_usd)
    btc_penalty = MIN_BTC_PENALTY_USD_PER_USD * float(net.btc_price_usd.max())
    return {
        "treasury.opening_position_revenue_usd": opening,
        "treasury.btc_revaluation_revenue_usd": np.bincount(grid.day_of_period, weights=revaluation_per_period, minlength=n_days) + (price_day - mark) * sold,
        "treasury.emergency_funding_revenue_usd": unfunded,
        "treasury.sale_cost_usd": -spec.sale_cost_bps / 1e4 * price_day * sold,
        "treasury.opex_cost_usd": -tb.opex_day_usd,
        "treasury.debt_service_cost_usd": -(due - unpaid),
        "treasury.shortfall_penalty_cost_usd": -(
            UNFUNDED_PENALTY_USD_PER_USD * unfunded
            + UNPAID_DEBT_PENALTY_USD_PER_USD * unpaid
            + COVENANT_PENALTY_USD_PER_USD * covenant_short
            + btc_penalty * btc_short
        ),
    }


def _debt_by_day(model: pyo.ConcreteModel, case: Case) -> tuple[np.ndarray, np.ndarray]:
    """Debt due and left unpaid on each treasury day [USD]."""
    days = case.grid.days
    due, unpaid = np.zeros(len(days)), np.zeros(len(days))
    for j, payment in enumerate(case.spec.debt):
        day = days.index(payment.date)
        due[day] += payment.total_usd
        unpaid[day] += model.treasury.unpaid_debt_usd[j].value
    return due, unpaid


def _treasury_table(model: pyo.ConcreteModel, case: Case, dispatch: pd.DataFrame, running: np.ndarray) -> pd.DataFrame:
    """The daily roll-forward; raises if BTC does not tie to the satoshi or cash to the cent."""
    grid = case.grid
    tb = model.treasury
    spec = case.spec.treasury
    n_days = len(grid.days)
    days = range(n_days)
    flows = [e for e in model.component_objects(pyo.Expression, descend_into=True) if e.local_name == "cash_flow_usd"]
    energy = -np.array([pyo.value(model.power.cash_flow_usd[d]) for d in days])
    other = np.array([sum(pyo.value(flow[d]) for flow in flows if flow is not model.power.cash_flow_usd) for d in days])
    mined = np.bincount(grid.day_of_period, weights=(running * model.fleet.btc_per_machine).sum(axis=0), minlength=n_days)
    due, unpaid = _debt_by_day(model, case)
    debt = due - unpaid
    sold = np.array([tb.btc_sold[d].value for d in days])
    unfunded = np.array([tb.unfunded_usd[d].value for d in days])
    proceeds = (1.0 - spec.sale_cost_bps / 1e4) * tb.btc_price_day_usd * sold
    # the balances shown are the flows accumulated, so the table ties exactly; the model's own
    # balances must agree to within the solver's feasibility tolerance
    closing_btc = spec.btc + np.cumsum(mined - sold)
    closing_cash = spec.cash_usd + np.cumsum(proceeds - energy + other - tb.opex_day_usd - debt + unfunded)
    btc_gap = np.abs(closing_btc - np.array([tb.btc_held[d].value for d in days])).max()
    cash_gap = np.abs(closing_cash - np.array([tb.cash_usd[d].value for d in days])).max()
    if btc_gap > SOLVER_BTC or cash_gap > CENT_USD:
        raise ReconciliationError(f"treasury roll-forward does not tie: BTC off by {btc_gap:.3g}, cash by {cash_gap:.3g} USD")
    opening_btc = np.concatenate(([spec.btc], closing_btc[:-1]))
    opening_cash = np.concatenate(([spec.cash_usd], closing_cash[:-1]))
    min_cash = np.full(n_days, np.nan)
    min_cash[list(tb.TEST_DAYS)] = spec.min_cash_usd
    return pd.DataFrame(
        {
            "date": grid.days,
            "btc_price_usd": tb.btc_price_day_usd,
            "opening_btc": opening_btc,
            "btc_mined": mined,
            "btc_sold": sold,
            "closing_btc": closing_btc,
            "opening_cash_usd": opening_cash,
            "sale_proceeds_usd": proceeds,
            "energy_cost_usd": energy,
            "other_cash_flow_usd": other,
            "opex_usd": tb.opex_day_usd,
            "debt_service_usd": debt,
            "emergency_funding_usd": unfunded,
            "closing_cash_usd": closing_cash,
            "min_cash_usd": min_cash,
            "covenant_headroom_usd": closing_cash - min_cash,
        }
    )


def _covenant_table(model: pyo.ConcreteModel, case: Case, treasury: pd.DataFrame, report: SolveReport) -> pd.DataFrame | None:
    """Each covenant test: required, actual, headroom, shortfall and the value of one more dollar."""
    tb = model.treasury
    test_days = list(tb.TEST_DAYS)
    if not test_days:
        return None
    rows = []
    for d in test_days:
        dual = report.duals.get(tb.min_cash_covenant[d])
        rows.append(
            {
                "date": treasury["date"].iloc[d],
                "min_cash_usd": case.spec.treasury.min_cash_usd,
                "closing_cash_usd": treasury["closing_cash_usd"].iloc[d],
                "covenant_headroom_usd": treasury["covenant_headroom_usd"].iloc[d],
                "covenant_shortfall_usd": tb.covenant_short_usd[d].value,
                # the covenant row is cash >= min_cash: one dollar more cash is worth -d(objective)/d(min_cash)
                "cash_value_usd_per_usd": math.nan if dual is None else 0.0 - dual,
            }
        )
    return pd.DataFrame(rows)


def _shortfalls(model: pyo.ConcreteModel, case: Case, treasury: pd.DataFrame, covenants: pd.DataFrame | None) -> list[dict]:
    """Every elastic limit the plan had to breach, in business words."""
    tb = model.treasury
    spec = case.spec.treasury
    grid = case.grid
    entries = []
    for j, payment in enumerate(case.spec.debt):
        unpaid = tb.unpaid_debt_usd[j].value
        if unpaid > SLACK_USD:
            d = grid.days.index(payment.date)
            entries.append(_entry(payment.date, payment.name, unpaid, f"${_m(unpaid)} short{_after_sales(case, treasury, d)}", _closes(case, treasury, d, unpaid)))
    if covenants is not None:
        for run in _runs(covenants["covenant_shortfall_usd"].to_numpy() > SLACK_USD):
            worst = run[np.argmax(covenants["covenant_shortfall_usd"].to_numpy()[run])]
            amount = covenants["covenant_shortfall_usd"].iloc[worst]
            day = covenants["date"].iloc[worst]
            span = _span(covenants["date"].iloc[run[0]], covenants["date"].iloc[run[-1]])
            d = grid.days.index(day)
            entries.append(
                _entry(day, "minimum cash covenant", amount,
                       f"closing cash ${_m(covenants['closing_cash_usd'].iloc[worst])} is ${_m(amount)} below the ${_m(spec.min_cash_usd)} covenant{span}{_after_sales(case, treasury, d)}",
                       f"the covenant is lowered by ${_m(amount)}, or " + _closes(case, treasury, d, amount)))
    if spec.min_btc > 0:
        short = np.array([tb.btc_short[d].value for d in range(len(grid.days))])
        for run in _runs(short > 1e-8):
            worst = run[np.argmax(short[run])]
            amount_usd = short[worst] * treasury["btc_price_usd"].iloc[worst]
            entries.append(
                _entry(grid.days[worst], "minimum BTC held", amount_usd,
                       f"{treasury['closing_btc'].iloc[worst]:,.2f} BTC held, {short[worst]:,.2f} below the {spec.min_btc:,.2f} BTC floor{_span(grid.days[run[0]], grid.days[run[-1]])}",
                       f"the floor is lowered by {short[worst]:,.2f} BTC"))
    unfunded = treasury["emergency_funding_usd"].to_numpy()
    for run in _runs(unfunded > SLACK_USD):
        amount = float(unfunded[run].sum())
        entries.append(
            _entry(grid.days[run[0]], "operating costs", amount,
                   f"${_m(amount)} of energy, opex and debt could not be paid from cash and the BTC sales allowed{_span(grid.days[run[0]], grid.days[run[-1]])}",
                   f"${_m(amount)} more cash is found by {grid.days[run[0]]}"))
    return sorted(entries, key=lambda e: (e["date"], e["item"]))


def _entry(day, item: str, amount_usd: float, what: str, closes: str) -> dict:
    return {"date": day.isoformat(), "item": item, "amount_usd": float(amount_usd), "message": f"{day} {item}: {what}; closes if {closes}"}


def _after_sales(case: Case, treasury: pd.DataFrame, d: int) -> str:
    """Why more BTC could not be sold by day d: the daily cap, the floor price, or nothing left."""
    spec = case.spec.treasury
    sold = treasury["btc_sold"].iloc[: d + 1].sum()
    if sold < SOLD_NOTHING_BTC:
        if spec.no_sale_below_usd is not None and (treasury["btc_price_usd"].iloc[: d + 1] < spec.no_sale_below_usd).all():
            return f", with no sale allowed below ${spec.no_sale_below_usd:,.0f}"
        return " with no BTC to sell" if spec.min_btc == 0 else f" with no BTC to sell above the {spec.min_btc:,.2f} BTC floor"
    cap = spec.max_sale_btc_per_day
    if cap is not None and np.isclose(treasury["btc_sold"].iloc[: d + 1].max(), cap):
        return f" after selling {sold:,.1f} BTC, at most the {cap:,.0f} BTC/day allowed"
    held = "all the BTC held" if spec.min_btc == 0 else "all that was held above the floor"
    return f" after selling {sold:,.1f} BTC, {held}"


def _closes(case: Case, treasury: pd.DataFrame, d: int, amount: float) -> str:
    """What would have raised ``amount`` more by day d: a higher BTC price on the same sales, or cash."""
    spec = case.spec.treasury
    window = treasury.iloc[: d + 1]
    sold = window["btc_sold"].sum()
    cash = f"${_m(amount)} more cash is found by {treasury['date'].iloc[d]}"
    if sold < SOLD_NOTHING_BTC:
        return cash
    average = (window["btc_sold"] * window["btc_price_usd"]).sum() / sold
    rise = amount / ((1.0 - spec.sale_cost_bps / 1e4) * sold)
    if rise < 1.0:
        # dollars short over thousands of BTC sold: in whole dollars the price needed would read as the price got
        more = f"${rise:.2f}" if rise >= 0.01 else "under $0.01"
        return f"BTC sells at {more} more on average (it sold at ${average:,.0f}), or {cash}"
    return f"BTC sells at ${average + rise:,.0f} or more on average (it sold at ${average:,.0f}), or {cash}"


def _runs(mask: np.ndarray) -> list[np.ndarray]:
    """Runs of consecutive True positions."""
    positions = np.flatnonzero(mask)
    if positions.size == 0:
        return []
    return np.split(positions, np.flatnonzero(np.diff(positions) > 1) + 1)


def _span(first, last) -> str:
    return "" if first == last else f" (short from {first} to {last})"


def _m(usd: float) -> str:
    """Money for messages: $3.2M, or whole dollars below $1M (solver noise under $0.50 is $0)."""
    if abs(usd) < 0.5:
        return "0"
    return f"{usd / 1e6:,.1f}M" if abs(usd) >= 1e6 else f"{usd:,.0f}"


def _treasury_kpis(case: Case, treasury: pd.DataFrame, covenants: pd.DataFrame | None, pnl: pd.DataFrame, btc_mined: float, energy_cost_usd: float) -> dict:
    spec = case.spec.treasury
    # the maintenance of machines the plan buys or retires is the renewal block's, on the
    # machines installed each day; the Treasury table carries it in the other cash flows
    opex = float(treasury["opex_usd"].sum()) - _line(pnl, "renewal.fleet_maintenance_cost_usd")
    debt = float(treasury["debt_service_usd"].sum())
    btc_sold = float(treasury["btc_sold"].sum())
    cash_cost = _ratio(energy_cost_usd + opex, btc_mined)
    ending_cash = float(treasury["closing_cash_usd"].iloc[-1])
    ending_btc = float(treasury["closing_btc"].iloc[-1])
    # machines and halls held at the end are valued in the objective, not in cash
    fleet_value = _line(pnl, "renewal.fleet_terminal_value_revenue_usd")
    halls_value = _line(pnl, "hosting.hpc_terminal_value_revenue_usd")
    terminal = ending_cash + terminal_mark_usd_per_btc(case) * ending_btc + fleet_value + halls_value
    penalty = -pnl.loc[pnl["line"] == "treasury.shortfall_penalty_cost_usd", "usd"].sum()
    # penalties can be 1e10 against a terminal value of a few dollars: tolerance on the terms
    _reconcile("terminal value vs objective + penalties", terminal, pnl["usd"].sum() + penalty, scale=pnl["usd"].abs().max())
    return {
        "terminal_value_usd": terminal,
        "terminal_fleet_value_usd": fleet_value,
        "terminal_hpc_value_usd": halls_value,
        "btc_sold": btc_sold,
        "sale_proceeds_usd": float(treasury["sale_proceeds_usd"].sum()),
        "ending_cash_usd": ending_cash,
        "ending_btc": ending_btc,
        "debt_service_usd": debt,
        "opex_usd": opex,
        "cash_cost_per_btc_usd": cash_cost,
        "all_in_cost_per_btc_usd": _ratio(energy_cost_usd + opex + debt, btc_mined),
        "breakeven_btc_price_usd": None if cash_cost is None else cash_cost / (1.0 - spec.sale_cost_bps / 1e4),
        "liquidation_to_production_ratio": _ratio(btc_sold, btc_mined),
        "min_cash_headroom_usd": None if covenants is None else float(covenants["covenant_headroom_usd"].min()),
    }


def _line(pnl: pd.DataFrame, name: str) -> float:
    """A P&L line's signed amount, 0 when the case has no such block [USD]."""
    return float(pnl.loc[pnl["line"] == name, "usd"].sum())


def _reconcile(what: str, a: float, b: float, scale: float = 0.0) -> None:
    """Raise unless a and b agree relative to the larger of them (or of ``scale``, the size of their terms)."""
    if abs(a - b) > RECONCILE_RELATIVE_TOLERANCE * max(1.0, abs(a), abs(b), scale):
        raise ReconciliationError(f"{what} do not reconcile: {a!r} vs {b!r}")


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator > 0 else None


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None
