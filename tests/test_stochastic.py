"""The two-stage plan on a toy solved by hand: two equally likely BTC prices, one purchase decision.

Per machine over the 2-day horizon, at the base price p0: revenue b p0 (b the BTC it mines),
energy e = 0.8 b p0, price P = 0.275 b p0. At 1.5 p0 a machine earns r_H = 0.7 b p0; at 0.5 p0
it is curtailed (r_L = 0). The mean scenario (p0) earns 0.2 b p0 < P, so its plan buys nothing;
the two-stage plan weighs 0.5 r_H = 0.35 b p0 > P and buys all N = 1000:

    VSS = N (0.35 b p0 - P) = 75 b p0,   EVPI = WS - RP = N P / 2 = 137.5 b p0.

With all weight on CVaR at alpha = 0.5 (the worse scenario alone), buying only loses P a
machine, so the risk-averse plan buys nothing.
"""

from pathlib import Path

import numpy as np
import pytest
import yaml

from optimizer.case import load_case
from optimizer.cli import main
from optimizer.scenarios import load_pack
from optimizer.stochastic import plan_robust

N = 1000
K = 400  # the machines the covenant toy's cash can buy without a breach
CASE = {
    "name": "toy",
    "horizon": {"start": "2026-01-01T00:00", "end": "2026-01-03T00:00", "resolution": "1d", "timezone": "UTC"},
    "network": {"btc_price_usd": 60000, "difficulty": 1.2e14, "block_height": 930000},
    "miner_models": [{"name": "M", "hashrate_th": 100, "power_w": 3000}],
    "sites": [{"name": "s", "interconnect_mw": 100, "power": {"spot_usd_per_mwh": 40.0}}],
    "fleet": [{"site": "s", "model": "M", "count": 100}],
    "purchases": [{"site": "s", "model": "M", "max_units": N, "lead_time_days": 0, "price_usd": 1.0}],
    "solver": {"time_limit_s": 60, "mip_gap": 1e-7},
}


def toy(folder: Path, risk: str = "") -> tuple[Path, float]:
    """The toy's pack file, with spot and purchase price set from b p0; and b p0 [USD]."""
    (folder / "case.yaml").write_text(yaml.safe_dump(CASE))
    probe = load_case(folder / "case.yaml")
    revenue = float(100 * probe.network.btc_per_th @ probe.network.btc_price_usd)  # b p0, by hand from the market arrays
    case = {**CASE, "sites": [{**CASE["sites"][0], "power": {"spot_usd_per_mwh": 0.8 * revenue / (0.003 * 48)}}]}
    case["purchases"] = [{**CASE["purchases"][0], "price_usd": 0.275 * revenue}]
    (folder / "case.yaml").write_text(yaml.safe_dump(case))
    pack = folder / "pack.yaml"
    pack.write_text(
        "name: toy\nbase: case.yaml\nscenarios:\n  - {name: high, btc_price_multiplier: 1.5}\n  - {name: low, btc_price_multiplier: 0.5}\n"
        f"stochastic:\n  first_stage_epochs: 1\n{risk}"
    )
    return pack, revenue


def test_two_stage_toy_by_hand(tmp_path):
    path, bp0 = toy(tmp_path)
    pack = load_pack(path)
    plan = plan_robust(pack, pack.scenarios, pack.probabilities)
    (decision,) = plan.first_stage
    assert decision["decision"].startswith("purchases[0] ordered 2026-01-01")
    assert decision["value"] == pytest.approx(N) and decision["mean_scenario_value"] == pytest.approx(0, abs=1e-9)
    fleet = 0.5 * 100 * 0.7 * bp0  # the 100 machines installed: run at the high price only
    assert plan.report.objective_usd == pytest.approx(fleet + N * (0.35 - 0.275) * bp0, rel=1e-6)
    assert plan.eev_usd == pytest.approx(fleet, rel=1e-6)
    assert plan.vss_usd == pytest.approx(75 * bp0, rel=1e-5)
    assert plan.evpi_usd == pytest.approx(N * 0.275 * bp0 / 2, rel=1e-5)
    high, low = (results for _, _, results in plan.scenarios)
    assert high.kpis["machines_bought"] == N and low.kpis["machines_bought"] == N
    assert low.kpis["uptime_fraction"] == pytest.approx(0, abs=1e-9)
    assert high.kpis["objective_usd"] == pytest.approx(1100 * 0.7 * bp0 - N * 0.275 * bp0, rel=1e-6)


def test_all_weight_on_cvar_buys_nothing(tmp_path):
    path, bp0 = toy(tmp_path, "  risk: {cvar_alpha: 0.5, weight: 1.0}\n")
    pack = load_pack(path)
    plan = plan_robust(pack, pack.scenarios, pack.probabilities)
    assert plan.first_stage[0]["value"] == pytest.approx(0, abs=1e-6)
    assert plan.cvar_usd == pytest.approx(0, abs=1e-6 * bp0)  # the low scenario: nothing runs, nothing bought


def test_plan_robust_verb_writes_the_plan(tmp_path, capsys):
    path, bp0 = toy(tmp_path)
    out = tmp_path / "robust"
    assert main(["plan-robust", str(path), "--out", str(out), "-q"]) == 0
    assert "covenant breach" not in capsys.readouterr().out  # the toy has no treasury
    import json

    robust = json.loads((out / "robust.json").read_text())
    assert robust["vss_usd"] == pytest.approx(75 * bp0, rel=1e-5)
    assert robust["first_stage"][0]["value"] == pytest.approx(N)
    assert sorted(p.name for p in (out / "scenarios").iterdir()) == ["high", "low"]
    import pandas as pd

    sheets = pd.read_excel(out / "robust.xlsx", sheet_name=None, header=None)
    assert list(sheets) == ["Summary", "First stage", "Scenarios"]
    assert np.isclose(sheets["First stage"].iloc[2, 1], N)


def covenant_toy(folder: Path, cap: float) -> tuple[Path, float]:
    """The toy with a treasury whose minimum-cash covenant the purchases can breach.

    Purchase price P = 0.005 b p0 paid on the order day, cash C0 = M + K P with covenant
    M = N P, tested on the last day only. At the low price nothing runs or is sold, so buying
    n > K machines leaves the covenant short by (n - K) P there; at the high price each machine
    bought returns 0.7 b p0 in cash first. Per machine beyond K the expected gain 0.35 b p0 - P =
    0.345 b p0 beats the expected penalty 0.5 x 100 P = 0.25 b p0, so without a cap the plan buys
    all N and breaches with probability 0.5; a cap below 0.5 holds it to K. BTC sales are not
    shared (``first_stage_days: 0``): the high scenario sells what it mines to pay for power.
    """
    path, bp0 = toy(folder, f"  first_stage_days: 0\n  risk: {{max_shortfall_probability: {cap}}}\n")
    case = yaml.safe_load((folder / "case.yaml").read_text())
    price = 0.005 * bp0
    case["purchases"][0]["price_usd"] = price
    case["treasury"] = {"btc": 0.0, "cash_usd": (N + K) * price, "min_cash_usd": N * price, "covenant_dates": ["2026-01-02"]}
    (folder / "case.yaml").write_text(yaml.safe_dump(case))
    return path, bp0


@pytest.mark.parametrize(("cap", "bought", "breach"), [(0.5, N, 0.5), (0.25, K, 0.0)])
def test_covenant_breach_cap_by_hand(tmp_path, cap, bought, breach):
    path, bp0 = covenant_toy(tmp_path, cap)
    pack = load_pack(path)
    plan = plan_robust(pack, pack.scenarios, pack.probabilities)
    price, cash = 0.005 * bp0, (N + K) * 0.005 * bp0
    assert plan.first_stage[0]["value"] == pytest.approx(bought, abs=1e-6)
    assert plan.breach_probability == pytest.approx(breach)
    penalty = 0.5 * 100 * max(bought - K, 0) * price  # the low scenario's shortfall, at 100 USD per USD (COVENANT_PENALTY_USD_PER_USD)
    expected = cash + 0.5 * 100 * 0.7 * bp0 + bought * (0.35 * bp0 - price) - penalty
    assert plan.report.objective_usd == pytest.approx(expected, rel=1e-6)
    low = plan.scenarios[1][2]
    assert low.kpis["machines_bought"] == pytest.approx(bought)


def test_plan_robust_verb_prints_the_breach_probability(tmp_path, capsys):
    path, _ = covenant_toy(tmp_path, 0.5)
    assert main(["plan-robust", str(path), "--out", str(tmp_path / "robust"), "-q"]) == 0
    assert "probability of a covenant breach 50.0%" in capsys.readouterr().out
