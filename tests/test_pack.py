"""Scenario packs: market scaling, the sensitivity grid, failures that do not stop the pack."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optimizer import scenarios, sweep
from optimizer.case import load_case
from optimizer.cli import main
from optimizer.report.pack import write_pack
from optimizer.solve import NoPlanError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def cfo_case():
    return load_case(EXAMPLES / "cfo_q1_2026" / "case.yaml")


def test_scale_market_scales_btc_price_and_hashprice_exactly(cfo_case):
    scaled = scenarios.scale_market(cfo_case, 1.2, 0.8)
    np.testing.assert_allclose(scaled.network.btc_price_usd, 1.2 * cfo_case.network.btc_price_usd, rtol=1e-14)
    np.testing.assert_allclose(scaled.network.hashprice_usd_per_ph_day, 0.8 * cfo_case.network.hashprice_usd_per_ph_day, rtol=1e-12)
    # BTC per TH falls as difficulty rises by 1.2 / 0.8
    np.testing.assert_allclose(scaled.network.btc_per_th, cfo_case.network.btc_per_th * 0.8 / 1.2, rtol=1e-12)


def test_the_base_scenario_is_the_case_itself(cfo_case, tmp_path):
    rows = sweep.run_sweep(scenarios.sensitivity_grid(cfo_case, [1.0], [1.0]), [1.0])
    reference = json.loads((EXAMPLES / "cfo_q1_2026" / "reference.json").read_text())
    assert rows[0]["terminal_value_usd"] == pytest.approx(reference["terminal_value_usd"], rel=1e-6)


def test_a_failing_scenario_is_recorded_and_the_others_solve(cfo_case, tmp_path, monkeypatch):
    real_solve = sweep.solve

    def solve(model, options, log=None, screen=None):
        if model.fleet.btc_per_machine.max() > 1.1 * real_max:  # the hashprice x1.2 scenarios
            raise NoPlanError("time_limit", "no feasible plan found within solver.time_limit_s = 1 s; raise the time limit")
        return real_solve(model, options, log, screen)

    real_max = float((np.array([c.hashrate_th for c in cfo_case.machine_classes])[:, None] * cfo_case.network.btc_per_th).max())
    monkeypatch.setattr(sweep, "solve", solve)
    rows = sweep.run_sweep(scenarios.sensitivity_grid(cfo_case, [1.0], [1.0, 1.2]), [0.5, 0.5])
    assert [row["status"] for row in rows] == ["optimal", "failed"]
    assert "no feasible plan found" in rows[1]["error"]
    pack = write_pack(tmp_path / "pack.xlsx", rows, cfo_case.name)
    table = pd.read_excel(pack, sheet_name="Scenarios", header=1)
    assert table["Status"].tolist() == ["optimal", "failed"]
    assert table["Error"].iloc[1].startswith("no plan (time_limit): no feasible plan found")


def test_pack_verb_writes_a_grid_that_matches_pack_json(tmp_path):
    assert main(["pack", str(EXAMPLES / "west_texas_q3_2023" / "case.yaml"), "--out", str(tmp_path), "--btc-price", "0.9,1.1", "--hashprice", "0.9,1.1", "--workers", "2", "-q"]) == 0
    pack = json.loads((tmp_path / "pack.json").read_text())
    assert len(pack["scenarios"]) == 4 and all(row["status"] == "optimal" for row in pack["scenarios"])
    with zipfile.ZipFile(tmp_path / "pack.xlsx") as archive:
        assert len([n for n in archive.namelist() if n.startswith("xl/charts/chart")]) == 2
    sheets = pd.read_excel(tmp_path / "pack.xlsx", sheet_name=None, header=None)
    assert list(sheets) == ["Scenarios", "Comparison", "Statistics", "Sensitivity"]
    grid = sheets["Sensitivity"].iloc[2:4, 1:3].to_numpy(dtype=float)  # the first grid: value, BTC x0.9/1.1 by hashprice x0.9/1.1
    expected = np.array([[row["objective_usd"] for row in pack["scenarios"][i * 2 : i * 2 + 2]] for i in range(2)])
    np.testing.assert_allclose(grid, expected, rtol=1e-12)
    # more hashprice, more profit; more BTC price at the same hashprice, the same BTC value per hash
    assert expected[0, 1] > expected[0, 0] and expected[1, 1] > expected[1, 0]
