"""Treasury and debt service: hand-solved cases, shortfalls, shadow prices by finite differences."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from casebuilder import case_with_spot, spec_dict
from models.build import build_model
from optimizer.results import _closes, extract_results
from optimizer.solve import solve

IDLE_SPOT = 10_000.0  # no machine earns this: the fleet stays off and only the treasury moves


def treasury_case(days, treasury, debt=(), btc_prices=None, spot=None, haircut=0.0, opex=None, count=1000):
    """A one-site case over ``days`` UTC days; BTC price per day given by ``btc_prices``."""
    data = spec_dict(
        sites=[{"name": "a", "interconnect_mw": 10, "power": {"spot_usd_per_mwh": 0.0}}],
        miner_models=[{"name": "S19 XP", "hashrate_th": 140, "power_w": 3010}],
        fleet=[{"site": "a", "model": "S19 XP", "count": count}],
        hours=24 * days,
        btc_price_usd=50_000.0,
    )
    data["treasury"] = treasury
    data["debt"] = list(debt)
    data["objective"] = {"terminal_btc_haircut": haircut}
    if opex:
        data["opex"] = opex
    case = case_with_spot(data, {"a": np.full(24 * days, IDLE_SPOT) if spot is None else spot})
    if btc_prices is not None:
        case = dataclasses.replace(case, network=dataclasses.replace(case.network, btc_price_usd=np.repeat(np.asarray(btc_prices, float), 24)))
    return case


def plan(case):
    model = build_model(case)
    report = solve(model, case.spec.solver)
    return model, extract_results(model, case, report)


def test_a_payment_larger_than_cash_sells_exactly_the_shortfall_grossed_up_for_sale_cost():
    # $1M cash, $0.5M covenant, $3M due: $2.5M must be raised at $50,000 less 100 bps
    case = treasury_case(4, {"btc": 100, "cash_usd": 1e6, "min_cash_usd": 5e5, "sale_cost_bps": 100},
                         debt=[{"name": "coupon", "date": "2026-01-03", "amount_usd": 3e6}])
    _, results = plan(case)
    assert results.kpis["btc_sold"] == pytest.approx(2.5e6 / (50_000 * 0.99), rel=1e-9)
    assert results.treasury["closing_cash_usd"].iloc[-1] == pytest.approx(5e5, abs=0.01)
    assert results.kpis["shortfalls"] == [] and results.kpis["status"] == "optimal"
    assert results.kpis["debt_service_usd"] == 3e6


def test_rising_prices_sell_as_late_as_the_covenant_allows():
    # the payment on day 4 needs $1M more; prices rise every day, so all of it is sold on day 4,
    # net of a 10 bps sale cost. The cost also makes a sale on the last day (at the terminal
    # mark) a strict loss rather than a tie the solver could break either way.
    prices = [40_000, 41_000, 42_000, 43_000, 44_000, 45_000]
    case = treasury_case(6, {"btc": 100, "cash_usd": 2e6, "min_cash_usd": 1e6, "sale_cost_bps": 10},
                         debt=[{"name": "coupon", "date": "2026-01-05", "amount_usd": 2e6}], btc_prices=prices)
    _, results = plan(case)
    sold = results.treasury["btc_sold"].to_numpy()
    np.testing.assert_allclose(sold, [0, 0, 0, 0, 1e6 / (44_000 * 0.999), 0], atol=1e-9)


def test_rising_prices_with_a_daily_drain_sell_each_day_only_what_that_day_needs():
    # opex of $310,000 a month in January is $10,000 a day; cash starts at the covenant. The
    # 10 bps sale cost makes selling more on the last day (at the terminal mark) a strict loss.
    prices = [40_000, 41_000, 42_000, 43_000]
    case = treasury_case(4, {"btc": 100, "cash_usd": 1e6, "min_cash_usd": 1e6, "sale_cost_bps": 10}, btc_prices=prices,
                         opex={"fixed_usd_per_month": 310_000})
    _, results = plan(case)
    np.testing.assert_allclose(results.treasury["btc_sold"], 10_000 / (np.array(prices) * 0.999), rtol=1e-9)


def test_falling_prices_sell_as_early_as_the_daily_cap_allows():
    # holding is worth the last price; every earlier day is better, so sell 30 BTC/day from day 0
    prices = [60_000, 58_000, 56_000, 54_000, 52_000, 50_000]
    case = treasury_case(6, {"btc": 100, "cash_usd": 1e6, "max_sale_btc_per_day": 30}, btc_prices=prices)
    _, results = plan(case)
    np.testing.assert_allclose(results.treasury["btc_sold"], [30, 30, 30, 10, 0, 0], atol=1e-9)


def test_no_sale_below_the_price_floor():
    # same falling path with a $55,000 floor: only days 0-2 may sell, and the coupon still gets paid
    prices = [60_000, 58_000, 56_000, 54_000, 52_000, 50_000]
    case = treasury_case(6, {"btc": 100, "cash_usd": 1e6, "max_sale_btc_per_day": 30, "no_sale_below_usd": 55_000},
                         debt=[{"name": "coupon", "date": "2026-01-06", "amount_usd": 2e6}], btc_prices=prices)
    _, results = plan(case)
    sold = results.treasury["btc_sold"].to_numpy()
    assert np.all(sold[3:] == 0)
    np.testing.assert_allclose(sold[:3], [30, 30, 30], atol=1e-9)


def test_an_unpayable_payment_is_a_shortfall_on_its_date_with_its_amount():
    # $1M cash and 10 BTC at $50,000 raise $1.5M against $5M due on 2026-01-03: $3.5M short
    case = treasury_case(4, {"btc": 10, "cash_usd": 1e6}, debt=[{"name": "converts coupon", "date": "2026-01-03", "amount_usd": 5e6}])
    _, results = plan(case)
    (shortfall,) = results.kpis["shortfalls"]
    assert shortfall["date"] == "2026-01-03" and shortfall["item"] == "converts coupon"
    assert shortfall["amount_usd"] == pytest.approx(3.5e6, abs=0.01)
    assert shortfall["message"].startswith("2026-01-03 converts coupon: $3.5M short after selling 10.0 BTC")
    assert "$400,000 or more" in shortfall["message"]  # 10 BTC would have had to fetch $5M - $1M
    assert results.kpis["status"] == "optimal_with_shortfalls"
    assert results.kpis["debt_service_usd"] == pytest.approx(1.5e6, abs=0.01)


def test_a_covenant_breach_is_reported_with_what_closes_it():
    # $3M due with $2M cash and nothing to sell: paying leaves $0 against a $1.5M covenant,
    # and defaulting costs more than a breach, so the plan pays and breaches by $1.5M
    case = treasury_case(3, {"btc": 0, "cash_usd": 2e6, "min_cash_usd": 1.5e6},
                         debt=[{"name": "coupon", "date": "2026-01-02", "amount_usd": 2e6}])
    _, results = plan(case)
    (shortfall,) = results.kpis["shortfalls"]
    assert shortfall["item"] == "minimum cash covenant" and shortfall["date"] == "2026-01-02"
    assert shortfall["amount_usd"] == pytest.approx(1.5e6, abs=0.01)
    assert shortfall["message"].startswith("2026-01-02 minimum cash covenant: closing cash $0 is $1.5M below the $1.5M covenant")
    assert "short from 2026-01-02 to 2026-01-03" in shortfall["message"]
    assert "the covenant is lowered by $1.5M" in shortfall["message"]


def test_treasury_and_dispatch_are_solved_together():
    # BTC ends at twice today's price: hours that do not pay at today's price pay at the mark,
    # so the treasury plan runs machines that the dispatch-only plan curtails
    spot = np.full(48, 80.0)  # S19 XP break-even ~ $67/MWh at today's hashprice, ~ $134 at the mark
    dispatch_only = case_with_spot(
        spec_dict(sites=[{"name": "a", "interconnect_mw": 10, "power": {"spot_usd_per_mwh": 0.0}}],
                  miner_models=[{"name": "S19 XP", "hashrate_th": 140, "power_w": 3010}],
                  fleet=[{"site": "a", "model": "S19 XP", "count": 1000}], hours=48), {"a": spot})
    joint = treasury_case(2, {"btc": 0, "cash_usd": 1e6}, spot=spot)
    last_hour_doubles = np.r_[np.full(47, 68_000.0), 136_000.0]
    joint = dataclasses.replace(joint, network=dataclasses.replace(joint.network, btc_price_usd=last_hour_doubles))
    _, alone = plan(dispatch_only)
    _, together = plan(joint)
    assert alone.kpis["btc_mined"] == 0
    assert together.kpis["btc_mined"] > 0 and together.kpis["uptime_fraction"] == 1.0


def test_covenant_shadow_price_matches_a_finite_difference():
    # opex drains cash below the covenant unless BTC is sold at a loss against the rising mark
    prices = [40_000, 40_000, 40_000, 60_000]
    base = {"btc": 100, "cash_usd": 1e6, "min_cash_usd": 9e5, "sale_cost_bps": 50}
    opex = {"fixed_usd_per_month": 3.1e6}
    _, results = plan(treasury_case(4, base, btc_prices=prices, opex=opex))
    value = results.covenants["cash_value_usd_per_usd"].to_numpy()
    assert value.max() > 0
    _, loose = plan(treasury_case(4, dict(base, min_cash_usd=9e5 - 1000), btc_prices=prices, opex=opex))
    # lowering the covenant by $1,000 on every day is worth the sum of the daily values
    gain = loose.kpis["objective_usd"] - results.kpis["objective_usd"]
    assert gain == pytest.approx(1000 * value.sum(), rel=1e-6)


def test_interconnect_value_matches_a_finite_difference():
    spot = np.r_[np.full(24, 20.0), np.full(24, 40.0)]
    case = treasury_case(2, {"btc": 0, "cash_usd": 1e6}, spot=spot, count=5000)
    _, results = plan(case)
    value = results.sites["interconnect_value_usd_per_mw"].iloc[0]
    bigger = treasury_case(2, {"btc": 0, "cash_usd": 1e6}, spot=spot, count=5000)
    spec = bigger.spec.model_copy(update={"sites": [bigger.spec.sites[0].model_copy(update={"interconnect_mw": 10.5})]})
    _, more = plan(dataclasses.replace(bigger, spec=spec))
    assert value > 0
    assert more.solve.bound_usd - results.solve.bound_usd == pytest.approx(0.5 * value, rel=1e-6)


def test_cli_prints_each_shortfall_in_business_words(tmp_path, capsys):
    import yaml

    from optimizer.cli import main

    (tmp_path / "spot.csv").write_text("timestamp,price\n2026-01-01T00:00Z,10000\n2026-01-02T00:00Z,10000\n2026-01-03T00:00Z,10000\n")
    data = spec_dict(
        sites=[{"name": "a", "interconnect_mw": 10, "power": {"spot_usd_per_mwh": {"file": "spot.csv", "column": "price"}}}],
        miner_models=[{"name": "S19 XP", "hashrate_th": 140, "power_w": 3010}],
        fleet=[{"site": "a", "model": "S19 XP", "count": 1000}],
        hours=72,
        btc_price_usd=50_000.0,
    )
    data["treasury"] = {"btc": 10, "cash_usd": 1e6}
    data["debt"] = [{"name": "converts coupon", "date": "2026-01-03", "amount_usd": 5e6}]
    (tmp_path / "case.yaml").write_text(yaml.safe_dump(data))
    assert main(["run", str(tmp_path / "case.yaml"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("test: optimal_with_shortfalls")
    assert [line for line in lines if "SHORTFALL" in line] == [
        "  SHORTFALL 2026-01-03 converts coupon: $3.5M short after selling 10.0 BTC, all the BTC held; "
        "closes if BTC sells at $400,000 or more on average (it sold at $50,000), or $3.5M more cash is found by 2026-01-03"
    ]


@pytest.mark.parametrize(("short_usd", "closes"), [
    # 1,000 BTC sold for $66,000,000 at 100 bps: each $1 more a BTC raises $990
    (79.2, "BTC sells at $0.08 more on average (it sold at $66,000)"),
    (4.95, "BTC sells at under $0.01 more on average (it sold at $66,000)"),
    (990_000.0, "BTC sells at $67,000 or more on average (it sold at $66,000)"),
])
def test_a_shortfall_of_cents_a_btc_reads_as_cents(short_usd, closes):
    case = SimpleNamespace(spec=SimpleNamespace(treasury=SimpleNamespace(sale_cost_bps=100.0)))
    treasury = pd.DataFrame({"date": ["2026-01-01", "2026-01-02"], "btc_sold": [400.0, 600.0], "btc_price_usd": [65_000.0, 66_666.666666666667]})
    assert _closes(case, treasury, 1, short_usd).startswith(closes + ", or $")
