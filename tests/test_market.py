"""Market maths against published figures and hand calculations."""

import numpy as np
import pandas as pd
import pytest

from casebuilder import spec_dict
from optimizer import market
from optimizer.case import parse_spec, prepare_case
from optimizer.case.series import StepSeries, period_average


@pytest.mark.parametrize(
    "height, subsidy",
    [(0, 50.0), (209_999, 50.0), (210_000, 25.0), (839_999, 6.25), (840_000, 3.125), (1_049_999, 3.125), (1_050_000, 1.5625), (64 * 210_000, 0.0)],
)
def test_subsidy_halves_every_210000_blocks(height, subsidy):
    assert market.block_subsidy_btc(height) == subsidy


def test_hashprice_matches_published_figure():
    # shared/data/README.md: difficulty 124.9 T, 0.03 BTC fees, $68,000, 3.125 subsidy -> about $34.5
    hashprice = market.hashprice_usd_per_ph_day(68_000, 124.9e12, 3.125, 0.03)
    assert hashprice == pytest.approx(34.5, abs=0.1)


def test_hashprice_by_hand():
    # 1 PH/s finds 1e15 * 86400 / (D * 2^32) blocks a day; with D * 2^32 = 1e19 that is 8.64 blocks
    difficulty = 1e19 / 2.0**32
    assert market.hashprice_usd_per_ph_day(1000.0, difficulty, 3.0, 1.0, pool_fee=0.25) == pytest.approx(8.64 * 4.0 * 1000.0 * 0.75)


@pytest.mark.parametrize("name, j_per_th, published", [("S19j Pro", 30.5, 44), ("S19 XP", 21.5, 62), ("S21", 17.5, 76), ("S21 XP", 13.5, 99)])
def test_breakeven_matches_published_figures(name, j_per_th, published):
    # shared/data/README.md: at $32/PH/day, S19j Pro ~ $44, S19 XP ~ $62, S21 ~ $76, S21 XP ~ $99 per MWh
    assert market.breakeven_power_price_usd_per_mwh(32.0, j_per_th) == pytest.approx(published, abs=0.6)


def test_breakeven_at_site_accounts_for_aux_and_adder():
    # 20 J/TH at $48/PH/day: 48 / (0.024 * 20) = $100/MWh at the machine; 4% aux -> 96.15; minus $3 adder
    assert market.breakeven_site_price_usd_per_mwh(48.0, 20.0, 0.04, 3.0) == pytest.approx(100 / 1.04 - 3)


def test_hashrate_difficulty_conversion():
    # network hashrate ~ difficulty * 2^32 / 600 H/s: 124.9 T -> 894.1 EH/s
    assert market.difficulty_from_hashrate(894.07) == pytest.approx(124.9e12, rel=1e-4)


def test_difficulty_changes_at_each_retarget_only():
    heights = np.array([2015, 2016, 4031, 4032])
    np.testing.assert_allclose(market.projected_difficulty(100.0, 2015, heights, 0.1), [100.0, 110.0, 110.0, 121.0])


def test_block_height_projection():
    np.testing.assert_array_equal(market.projected_block_height(100, [0.0, 24.0, 36.0]), [100, 244, 316])


def test_expected_btc_per_th_hour_by_hand():
    # D = 1e9: 1 TH/s finds 1e12 * 3600 / (1e9 * 2^32) = 8.382e-4 blocks an hour
    blocks = 1e12 * 3600 / (1e9 * 4294967296)
    assert market.btc_per_th(1e9, 3600.0, 3.125, 0.125, pool_fee=0.02) == pytest.approx(blocks * 3.25 * 0.98)


def _one_site(hours, block_height):
    return spec_dict(
        sites=[{"name": "a", "interconnect_mw": 1, "power": {"spot_usd_per_mwh": 30}}],
        miner_models=[{"name": "m", "hashrate_th": 100, "power_w": 3000}],
        fleet=[{"site": "a", "model": "m", "count": 10}],
        hours=hours,
        block_height=block_height,
    )


def test_halving_inside_the_horizon():
    # 100 blocks before the halving at 6 blocks/hour: periods 0-16 end below 1,050,000, 17 on are past it
    case = prepare_case(parse_spec(_one_site(hours=24, block_height=1_049_900)), ".")
    assert case.network.subsidy_btc[16] == 3.125
    assert case.network.subsidy_btc[17] == 1.5625
    # and the expected BTC halves with it (difficulty and fees constant)
    assert case.network.btc_per_th[17] / case.network.btc_per_th[0] == pytest.approx((1.5625 + 0.03) / (3.125 + 0.03))


def test_difficulty_projected_per_epoch_when_a_number():
    data = _one_site(hours=48, block_height=2016 * 500 - 10)
    data["network"]["difficulty_change_per_epoch"] = -0.11
    case = prepare_case(parse_spec(data), ".")
    # 10 blocks to the retarget at 6 blocks/hour: period 1 (height +6) before, period 2 (+12) after
    assert case.network.difficulty[1] == pytest.approx(1.249e14)
    assert case.network.difficulty[2] == pytest.approx(1.249e14 * 0.89)


def _utc(*stamps):
    return pd.DatetimeIndex([pd.Timestamp(s, tz="UTC") for s in stamps])


def test_period_average_holds_a_coarser_series_constant():
    daily = StepSeries(_utc("2026-01-01", "2026-01-02"), np.array([10.0, 20.0]), pd.Timestamp("2026-01-03", tz="UTC"), np.array([2, 3]))
    hours = pd.date_range("2026-01-01 22:00", "2026-01-02 02:00", freq="h", tz="UTC")
    np.testing.assert_allclose(period_average(daily, hours), [10.0, 10.0, 20.0, 20.0])


def test_period_average_integrates_a_finer_uneven_series_exactly():
    # 0:00-0:15 at 4, 0:15-1:00 at 8, 1:00-2:00 at -2: hourly means 7 and -2; the 2 h mean 2.5
    series = StepSeries(_utc("2026-01-01 00:00", "2026-01-01 00:15", "2026-01-01 01:00"), np.array([4.0, 8.0, -2.0]), pd.Timestamp("2026-01-01 02:00", tz="UTC"), np.array([2, 3, 4]))
    np.testing.assert_allclose(period_average(series, _utc("2026-01-01 00:00", "2026-01-01 01:00", "2026-01-01 02:00")), [7.0, -2.0])
    np.testing.assert_allclose(period_average(series, _utc("2026-01-01 00:00", "2026-01-01 02:00")), [2.5])
