"""Dispatch against an independent merit order, hand-solved cases and the integer strategies.

The merit order (DESIGN.md): with no treasury, investment or 4CP coupling, each period and
site is a fractional knapsack. Each machine chooses a point on the upper concave hull of
{off} U {its modes} in (site MW, value) space; hull segments of every model are filled in
decreasing value per MW until the interconnect is full. It is written here from scratch and
shares no code with the model.
"""

import numpy as np
import pyomo.environ as pyo
import pytest

from casebuilder import case_with_spot, spec_dict
from optimizer.case import parse_spec, prepare_case
from optimizer.case.load import coarsened
from models.build import build_model
from optimizer.solve import solve


def _upper_hull_segments(points):
    """Increasing part of the upper concave hull from (0, 0): list of (d_mw, d_value)."""
    best = {}
    for w, v in points:
        best[w] = max(v, best.get(w, -np.inf))
    hull = [(0.0, 0.0)]
    for w, v in sorted(best.items()):
        while len(hull) >= 2:
            (w1, v1), (w2, v2) = hull[-2], hull[-1]
            if (v2 - v1) * (w - w1) <= (v - v1) * (w2 - w1):  # middle point not above the chord
                hull.pop()
            else:
                break
        hull.append((w, v))
    segments = []
    for (w1, v1), (w2, v2) in zip(hull, hull[1:]):
        if v2 - v1 <= 0:
            break
        segments.append((w2 - w1, v2 - v1))
    return segments


def merit_order_profit(data, case):
    """Optimal profit of the dispatch [USD] by the merit order, period by period."""
    models = {m["name"]: m for m in data["miner_models"]}
    net = case.network
    hours = case.grid.hours
    total = 0.0
    for site in data["sites"]:
        aux = site.get("aux_load_fraction", 0.0)
        adder = site["power"].get("adder_usd_per_mwh", 0.0)
        block = site["power"].get("fixed_block")
        spot = case.spot_usd_per_mwh[site["name"]]
        fleet = [f for f in data["fleet"] if f["site"] == site["name"]]
        for t in range(case.grid.n_periods):
            usd_per_th = net.btc_per_th[t] * net.btc_price_usd[t]
            price = spot[t] + adder
            pieces = []
            for entry in fleet:
                m = models[entry["model"]]
                modes = [(m["hashrate_th"], m["power_w"])] + [(k["hashrate_th"], k["power_w"]) for k in m.get("modes", [])]
                points = []
                for th, w in modes:
                    site_mw = w / 1e6 * (1 + aux)
                    points.append((site_mw, th * usd_per_th - site_mw * hours[t] * price))
                for d_mw, d_value in _upper_hull_segments(points):
                    pieces.append((d_value / d_mw, d_mw * entry["count"]))
            room = site["interconnect_mw"]
            for value_per_mw, mw in sorted(pieces, reverse=True):
                take = min(mw, room)
                total += take * value_per_mw
                room -= take
                if room <= 0:
                    break
            if block:
                total += block["mw"] * hours[t] * (spot[t] - block["price_usd_per_mwh"])
    return total


def random_case(seed):
    rng = np.random.default_rng(seed)
    n_sites, n_models, hours = rng.integers(1, 4), rng.integers(1, 5), int(rng.integers(12, 49))
    models = []
    for i in range(n_models):
        th = float(rng.uniform(80, 300))
        w = float(th * rng.uniform(12, 35))
        modes = [
            {"name": f"mode{j}", "hashrate_th": th * float(rng.uniform(0.5, 1.25)), "power_w": w * float(rng.uniform(0.5, 1.35))}
            for j in range(rng.integers(0, 3))
        ]
        models.append({"name": f"model{i}", "hashrate_th": th, "power_w": w, "modes": modes})
    sites, fleet, spot = [], [], {}
    for s in range(n_sites):
        counts = {m["name"]: int(rng.integers(100, 20_000)) for m in models if rng.random() < 0.8} or {models[0]["name"]: 500}
        nameplate_mw = sum(c * next(m for m in models if m["name"] == k)["power_w"] / 1e6 for k, c in counts.items())
        site = {
            "name": f"site{s}",
            "interconnect_mw": float(nameplate_mw * rng.uniform(0.3, 1.3)),
            "aux_load_fraction": float(rng.uniform(0, 0.1)),
            "power": {"spot_usd_per_mwh": 0.0, "adder_usd_per_mwh": float(rng.uniform(-2, 8))},
        }
        if rng.random() < 0.5:
            site["power"]["fixed_block"] = {"mw": float(rng.uniform(1, 30)), "price_usd_per_mwh": float(rng.uniform(20, 60))}
        sites.append(site)
        fleet += [{"site": site["name"], "model": k, "count": c} for k, c in counts.items()]
        prices = rng.normal(45, 25, hours)
        prices[rng.random(hours) < 0.1] = -rng.uniform(0, 100)  # negative-price hours
        prices[rng.random(hours) < 0.1] = rng.uniform(200, 5000)  # scarcity spikes
        spot[site["name"]] = prices
    data = spec_dict(sites, models, fleet, hours=hours, btc_price_usd=float(rng.uniform(40_000, 110_000)), pool_fee=0.02)
    return data, case_with_spot(data, spot)


@pytest.mark.parametrize("seed", range(25))
def test_relaxed_dispatch_equals_merit_order(seed):
    data, case = random_case(seed)
    report = solve(build_model(case), case.spec.solver)
    expected = merit_order_profit(data, case)
    # the relaxation's bound is the continuous optimum: it must equal the merit order
    assert report.bound_usd == pytest.approx(expected, rel=1e-7, abs=1e-3)
    # the floored plan is feasible, no better than the bound, and its certified gap is honest
    assert report.objective_usd <= report.bound_usd + 1e-6
    assert report.mip_gap == pytest.approx((report.bound_usd - report.objective_usd) / abs(report.objective_usd), abs=1e-12)


def test_floored_plan_respects_every_limit():
    data, case = random_case(3)
    model = build_model(case)
    solve(model, case.spec.solver)
    for var in model.fleet.running.values():
        assert var.value == int(var.value) and 0 <= var.value <= var.ub
    for con in model.component_data_objects(pyo.Constraint, active=True):
        assert pyo.value(con.body) <= pyo.value(con.upper) + 1e-9


def one_model_case(spot, count=1000, interconnect_mw=100.0, solver=None):
    data = spec_dict(
        sites=[{"name": "a", "interconnect_mw": interconnect_mw, "power": {"spot_usd_per_mwh": 0.0}}],
        miner_models=[{"name": "S19 XP", "hashrate_th": 140, "power_w": 3010}],
        fleet=[{"site": "a", "model": "S19 XP", "count": count}],
        hours=len(spot),
        solver=solver,
    )
    return case_with_spot(data, {"a": spot})


def test_hand_solved_run_below_breakeven_and_curtail_above():
    # hashprice $34.55/PH/day -> S19 XP break-even 34.55 / (0.024 * 21.5) = $66.96/MWh
    case = one_model_case([40.0, 90.0])
    model = build_model(case)
    report = solve(model, case.spec.solver)
    assert [model.fleet.running[0, t].value for t in range(2)] == [1000, 0]
    usd_per_machine_hour = 140 * case.network.btc_per_th[0] * 68_000
    assert report.objective_usd == pytest.approx(1000 * (usd_per_machine_hour - 3.010e-3 * 40.0))
    assert report.status == "optimal"


def test_interconnect_caps_the_fleet():
    # 1000 machines of 3.01 kW want 3.01 MW; a 2 MW interconnect fits 664.45 of them
    case = one_model_case([10.0], interconnect_mw=2.0)
    model = build_model(case)
    report = solve(model, case.spec.solver)
    assert model.fleet.running[0, 0].value == 664
    assert report.bound_usd == pytest.approx(2.0 / 3.01e-3 * (140 * case.network.btc_per_th[0] * 68_000 - 3.01e-3 * 10.0))


@pytest.mark.parametrize("solver", [{"integer_strategy": "integer"}, {"integer_below_units": 50}])
def test_small_classes_solve_with_integer_counts(solver):
    # 5 machines, room for 3.32: the integer plan runs 3, the bound is that plan itself
    case = one_model_case([10.0], count=5, interconnect_mw=0.01, solver=solver)
    model = build_model(case)
    report = solve(model, case.spec.solver)
    assert model.fleet.running[0, 0].value == 3
    assert report.floored_counts == 0
    assert report.mip_gap <= 1e-3


def test_modes_share_the_installed_machines():
    # eco mode is worth running at a high price where stock is not: 1000 machines in total
    data = spec_dict(
        sites=[{"name": "a", "interconnect_mw": 100, "power": {"spot_usd_per_mwh": 0.0}}],
        miner_models=[{"name": "S21", "hashrate_th": 200, "power_w": 3500, "modes": [{"name": "eco", "hashrate_th": 150, "power_w": 2200}]}],
        fleet=[{"site": "a", "model": "S21", "count": 1000}],
        hours=2,
    )
    case = case_with_spot(data, {"a": [10.0, 70.0]})
    model = build_model(case)
    report = solve(model, case.spec.solver)
    stock, eco = (model.fleet.running[k, t].value for k, t in ((0, 0), (1, 0)))
    assert (stock, eco) == (1000, 0)
    # at $70: stock earns 200 r - 3.5 * 70 / 1000 per hour, eco 150 r - 2.2 * 70 / 1000; eco wins
    assert (model.fleet.running[0, 1].value, model.fleet.running[1, 1].value) == (0, 1000)
    assert report.bound_usd == pytest.approx(merit_order_profit(data, case), rel=1e-9)


def test_finer_periods_never_lose_and_equal_ones_change_nothing(tmp_path):
    # a coarse plan is a feasible plan of the finer model with the same value (prices averaged,
    # machines held), so optimal profit can only rise with resolution; 15 min on an hourly
    # series holds each price for four periods and must give the hourly optimum exactly
    rng = np.random.default_rng(11)
    stamps = [f"2026-01-01T{h:02d}:00Z" for h in range(24)] + [f"2026-01-02T{h:02d}:00Z" for h in range(24)]
    prices = np.where(rng.random(48) < 0.15, rng.uniform(150, 900, 48), rng.normal(40, 20, 48))
    (tmp_path / "spot.csv").write_text("timestamp,price\n" + "".join(f"{t},{p:.4f}\n" for t, p in zip(stamps, prices)))
    profits = {}
    for resolution in ("15min", "1h", "4h", "1d"):
        data = spec_dict(
            sites=[{"name": "a", "interconnect_mw": 50, "aux_load_fraction": 0.05, "power": {"spot_usd_per_mwh": {"file": "spot.csv", "column": "price"}}}],
            miner_models=[{"name": "S19j Pro", "hashrate_th": 100, "power_w": 3050}, {"name": "S21", "hashrate_th": 200, "power_w": 3500}],
            fleet=[{"site": "a", "model": "S19j Pro", "count": 9000}, {"site": "a", "model": "S21", "count": 8000}],
            hours=48,
        )
        data["horizon"]["resolution"] = resolution
        case = prepare_case(parse_spec(data), tmp_path)
        profits[resolution] = solve(build_model(case), case.spec.solver).bound_usd
    assert profits["15min"] == pytest.approx(profits["1h"], rel=1e-9)
    assert profits["1d"] <= profits["4h"] + 1e-6 <= profits["1h"] + 2e-6
    assert profits["1d"] < profits["1h"]  # the price spikes make hourly curtailment worth something


def test_screening_clock_earns_what_its_hours_earn():
    # every machine runs in every hour (power far below break-even, interconnect ample), so a
    # day's period must earn and pay exactly what its 24 hours do: the hourly merit order
    rng = np.random.default_rng(7)
    models = [{"name": "a", "hashrate_th": 200.0, "power_w": 3500.0}, {"name": "b", "hashrate_th": 100.0, "power_w": 3000.0}]
    site = {"name": "s", "interconnect_mw": 50.0, "aux_load_fraction": 0.05, "power": {"spot_usd_per_mwh": 0.0}}
    fleet = [{"site": "s", "model": "a", "count": 4000}, {"site": "s", "model": "b", "count": 3000}]
    data = spec_dict([site], models, fleet, hours=72)
    case = case_with_spot(data, {"s": rng.uniform(5.0, 20.0, 72)})
    day_clock = coarsened(case, "1d")
    assert day_clock.grid.n_periods == 3
    report = solve(build_model(day_clock), day_clock.spec.solver)
    assert report.bound_usd == pytest.approx(merit_order_profit(data, case), rel=1e-9)
