"""Scenario generators and pack files: known parameters, hand-computed paths, seeds, errors."""

from pathlib import Path

import numpy as np
import pytest

from optimizer import generators
from optimizer.case import CaseError
from optimizer.scenarios import load_pack

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CFO = EXAMPLES / "cfo_q1_2026" / "case.yaml"
SQUEEZE = EXAMPLES / "squeeze_2026" / "pack.yaml"


def test_gbm_fit_recovers_known_drift_and_volatility():
    # log returns drawn straight from the GBM's definition, not through gbm_path
    mu, sigma, days = 0.3, 0.6, 40_000
    dt = 1 / 365
    rng = np.random.default_rng(1)
    closes = 50_000 * np.exp(np.cumsum((mu - sigma**2 / 2) * dt + sigma * np.sqrt(dt) * rng.standard_normal(days)))
    fit = generators.fit_gbm(closes)
    # standard errors: sigma / sqrt(2n) for sigma, sigma / sqrt(years) for mu
    assert fit.volatility_per_year == pytest.approx(sigma, abs=3 * sigma / np.sqrt(2 * days))
    assert fit.drift_per_year == pytest.approx(mu, abs=3 * sigma / np.sqrt(days / 365))
    assert fit.days == days - 1


def test_gbm_path_reproduces_its_seed_and_has_the_fitted_moments():
    a = generators.gbm_path(68_000, 90, 0.2, 0.5, np.random.default_rng([5, 0]))
    b = generators.gbm_path(68_000, 90, 0.2, 0.5, np.random.default_rng([5, 0]))
    c = generators.gbm_path(68_000, 90, 0.2, 0.5, np.random.default_rng([5, 1]))
    np.testing.assert_array_equal(a, b)
    assert a[0] == 68_000 and len(a) == 90 and not np.array_equal(a, c)
    long = generators.gbm_path(1.0, 200_001, 0.2, 0.5, np.random.default_rng(3))
    assert generators.fit_gbm(long).volatility_per_year == pytest.approx(0.5, rel=0.01)


def test_bootstrap_path_is_made_of_whole_blocks_of_historical_returns():
    history = np.exp(np.cumsum(np.random.default_rng(2).normal(0, 0.03, 400)))
    returns = np.diff(np.log(history))
    path = generators.bootstrap_path(60_000, 36, history, 5, np.random.default_rng(9))
    drawn = np.diff(np.log(path))
    assert path[0] == 60_000 and len(drawn) == 35
    for block in range(7):  # 35 returns = 7 blocks of 5, each a run of consecutive history returns
        chunk = drawn[block * 5 : block * 5 + 5]
        start = int(np.argmin(np.abs(returns - chunk[0])))
        np.testing.assert_allclose(chunk, returns[start : start + 5], rtol=1e-12)


def test_difficulty_follows_hashprice_by_hand_and_within_the_protocol_clamp():
    epoch = np.array([0, 0, 1, 1, 2])
    hours = np.ones(5)
    base_difficulty = np.full(5, 100.0)
    base_price = np.full(5, 50_000.0)
    # price doubles in epoch 0: hashprice x2, elasticity 1 -> difficulty x2 at the retarget;
    # in epoch 1 the price is still x2 but difficulty has caught up: hashprice back to base, no change
    doubled = generators.responsive_difficulty(base_difficulty, base_price, base_price * 2, epoch, hours, 1.0)
    np.testing.assert_allclose(doubled, [100, 100, 200, 200, 200])
    # elasticity 0.5: sqrt(2) at the first retarget, then (2 / sqrt 2)^0.5 = 2^0.25 more
    half = generators.responsive_difficulty(base_difficulty, base_price, base_price * 2, epoch, hours, 0.5)
    np.testing.assert_allclose(half, [100, 100, 100 * 2**0.5, 100 * 2**0.5, 100 * 2**0.75])
    # x10 or /10 is clamped at 4x or 1/4 per retarget
    up = generators.responsive_difficulty(base_difficulty, base_price, base_price * 10, epoch, hours, 1.0)
    down = generators.responsive_difficulty(base_difficulty, base_price, base_price / 10, epoch, hours, 1.0)
    np.testing.assert_allclose(up, [100, 100, 400, 400, 1000])
    np.testing.assert_allclose(down, [100, 100, 25, 25, 10])
    # the base path's own retargets are kept: with the base price the scenario is the base
    stepped = np.array([100.0, 100, 90, 90, 95])
    np.testing.assert_allclose(generators.responsive_difficulty(stepped, base_price, base_price, epoch, hours, 0.7), stepped)


def test_historical_blocks_keep_the_hour_of_the_week():
    rows = generators.historical_blocks(24 * 7 * 52, 37, 24 * 30, 168, np.random.default_rng(4))
    assert len(rows) == 24 * 30
    np.testing.assert_array_equal((rows - 37) % 168, np.arange(24 * 30) % 168)
    assert np.all(np.diff(rows)[np.arange(1, 24 * 30) % 168 != 0] == 1)  # whole weeks, hour after hour
    with pytest.raises(ValueError, match="whole weeks"):
        generators.historical_blocks(1000, 0, 100, 100, np.random.default_rng(0))


@pytest.fixture(scope="module")
def squeeze():
    return load_pack(SQUEEZE)


def _mean(case, values):
    return float(values @ case.grid.hours / case.grid.hours.sum())


def test_named_stress_scenarios_of_the_example_pack(squeeze):
    by_name = {s.name: s.case for s in squeeze.scenarios}
    base = squeeze.base
    assert _mean(base, base.network.btc_price_usd) == pytest.approx(_mean(by_name["base"], by_name["base"].network.btc_price_usd), rel=1e-15)
    low = by_name["BTC $60k, hashprice $29"]
    assert np.all(low.network.btc_price_usd == 60_000)
    assert _mean(low, low.network.hashprice_usd_per_ph_day) == pytest.approx(29.0, rel=1e-12)
    ramp = by_name["recovery to $87k"].network.btc_price_usd
    assert ramp[0] == base.network.btc_price_usd[0] and ramp[-1] == pytest.approx(87_000, rel=1e-12)
    assert np.all(np.diff(ramp) > 0)
    cut = by_name["difficulty -11%"].network.difficulty / base.network.difficulty
    retarget = np.flatnonzero(np.diff(base.network.block_height // 2016))[0] + 1
    np.testing.assert_allclose(cut[:retarget], 1.0)
    np.testing.assert_allclose(cut[retarget:], 0.89)
    storm = by_name["Texas winter-storm week"].spot_usd_per_mwh["west"]
    local = base.grid.start_local
    window = (local >= "2026-01-24") & (local < "2026-01-27")
    peak = window & np.isin(local.hour, [6, 7, 8, 9, 17, 18, 19, 20, 21])
    assert np.all(storm[peak] == 5000) and np.all(storm[window & ~peak] == 800)
    np.testing.assert_array_equal(storm[~window], base.spot_usd_per_mwh["west"][~window])


def test_generated_scenarios_reproduce_their_seed(squeeze):
    again = load_pack(SQUEEZE)
    for a, b in zip(squeeze.scenarios, again.scenarios):
        np.testing.assert_array_equal(a.case.network.btc_price_usd, b.case.network.btc_price_usd)
        np.testing.assert_array_equal(a.case.network.difficulty, b.case.network.difficulty)
        np.testing.assert_array_equal(a.case.spot_usd_per_mwh["west"], b.case.spot_usd_per_mwh["west"])
    gbm = [s for s in squeeze.scenarios if s.inputs.get("kind") == "gbm"]
    assert len(gbm) == 20 and len({s.case.content_hash for s in gbm}) == 20
    assert squeeze.probabilities.sum() == pytest.approx(1.0) and len(squeeze.scenarios) == 55


def test_power_history_weeks_are_real_2023_prices(squeeze):
    import pandas as pd

    history = pd.read_csv(SQUEEZE.parent / "ercot_lz_west_2023.csv")["price_usd_per_mwh"].to_numpy()
    drawn = next(s for s in squeeze.scenarios if s.inputs.get("kind") == "power_history").case.spot_usd_per_mwh["west"]
    assert np.isin(np.round(drawn[:168], 6), np.round(history, 6)).all()
    # one drawn week is a contiguous week of history
    start = np.flatnonzero(np.isclose(history, drawn[0]))
    assert any(np.allclose(history[s : s + 168], drawn[:168]) for s in start if s + 168 <= len(history))


def _pack(tmp_path, text):
    path = tmp_path / "pack.yaml"
    path.write_text(f"name: t\nbase: {CFO}\n" + text)
    return path


def test_overrides_by_dotted_path_and_list_entry_name(tmp_path):
    pack = load_pack(_pack(tmp_path, "scenarios:\n  - name: later coupon\n    set:\n      debt[converts coupon].date: 2026-03-15\n      network.fees_btc_per_block: 0.05\n"))
    case = pack.scenarios[0].case
    assert str(case.spec.debt[0].date) == "2026-03-15" and case.spec.network.fees_btc_per_block == 0.05


def test_a_scenario_with_invalid_inputs_is_kept_with_its_error(tmp_path):
    pack = load_pack(_pack(tmp_path, "scenarios:\n  - name: ok\n  - name: bad\n    set:\n      sites[east].interconnect_mw: 5\n"))
    assert pack.scenarios[0].case is not None and pack.scenarios[1].case is None
    assert "scenarios[1].set.sites[east].interconnect_mw" in pack.scenarios[1].error and "['west']" in pack.scenarios[1].error


@pytest.mark.parametrize(
    "text, message",
    [
        ("scenarios:\n  - name: a\n    btc_price_multipler: 2\n", "did you mean `btc_price_multiplier`"),
        ("scenarios:\n  - name: a\n  - name: A\n", "two scenarios are named"),
        ("generators:\n  - {kind: bootstrap, name: b, count: 2, seed: 1}\n", "bootstrap needs `history`"),
        ("generators:\n  - {kind: gbm, name: g, count: 2, seed: 1, history: {file: ../x.csv, column: c}}\n", "outside"),
        ("generators:\n  - {kind: gbm, name: g, count: 1001, seed: 1, drift_per_year: 0, volatility_per_year: 0.5}\n", "1000"),
        ("scenarios: []\n", "no scenarios"),
    ],
)
def test_pack_file_errors_name_the_field_and_the_fix(tmp_path, text, message):
    with pytest.raises(CaseError, match="Fix:") as error:
        load_pack(_pack(tmp_path, text))
    assert message in error.value.message
