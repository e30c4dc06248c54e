"""Bitcoin protocol and market maths: subsidy, difficulty, expected BTC, hashprice, break-even.

Pure functions on floats or NumPy arrays; every quantity carries its unit in its name and
in brackets in the docstring.
"""

from __future__ import annotations

import numpy as np

HASHES_PER_DIFFICULTY = 2.0**32
"""Expected hashes to find a block at difficulty 1 [H]."""

HALVING_INTERVAL_BLOCKS = 210_000
"""Blocks between subsidy halvings [blocks]."""

EPOCH_BLOCKS = 2016
"""Blocks between difficulty retargets [blocks]."""

TARGET_BLOCK_SECONDS = 600.0
"""Protocol target time between blocks [s]."""

INITIAL_SUBSIDY_SATOSHI = 50 * 100_000_000
"""Block subsidy at height 0 [satoshi]."""


def block_subsidy_btc(block_height):
    """Block subsidy at a block height, exactly as the protocol computes it.

    The subsidy is 50 BTC right-shifted (in satoshi) once every 210,000 blocks.

    Parameters
    ----------
    block_height : int or array_like of int
        Block height [-].

    Returns
    -------
    float or numpy.ndarray
        Subsidy [BTC/block]: 6.25 for heights 630,000-839,999, 3.125 for 840,000-1,049,999,
        1.5625 from 1,050,000.
    """
    halvings = np.asarray(block_height, dtype=np.int64) // HALVING_INTERVAL_BLOCKS
    satoshi = np.where(halvings < 64, INITIAL_SUBSIDY_SATOSHI >> np.minimum(halvings, 63), 0)
    subsidy = satoshi / 1e8
    return float(subsidy) if subsidy.ndim == 0 else subsidy


def projected_block_height(start_height: int, hours_elapsed, blocks_per_day: float = 144.0):
    """Block height projected at a constant block rate.

    Parameters
    ----------
    start_height : int
        Height at the reference instant [-].
    hours_elapsed : float or array_like
        Time since the reference instant [h].
    blocks_per_day : float, default 144
        Block rate [blocks/day]; 144 is the protocol target.

    Returns
    -------
    numpy.ndarray
        Projected height, floored to whole blocks [-].
    """
    return start_height + np.floor(np.asarray(hours_elapsed, dtype=float) * blocks_per_day / 24.0).astype(np.int64)


def projected_difficulty(difficulty_at_start: float, start_height: int, block_height, change_per_epoch: float):
    """Difficulty projected by a constant relative change at each 2016-block retarget.

    Parameters
    ----------
    difficulty_at_start : float
        Difficulty in force at ``start_height`` [-].
    start_height : int
        Height at which ``difficulty_at_start`` applies [-].
    block_height : array_like of int
        Heights at which to evaluate [-].
    change_per_epoch : float
        Relative change at each retarget, e.g. -0.11 for an 11% drop [-].

    Returns
    -------
    numpy.ndarray
        Difficulty [-].
    """
    retargets = np.asarray(block_height, dtype=np.int64) // EPOCH_BLOCKS - start_height // EPOCH_BLOCKS
    return difficulty_at_start * (1.0 + change_per_epoch) ** retargets


def difficulty_from_hashrate(network_hashrate_ehs):
    """Difficulty at which a network hashrate finds one block per 600 s.

    Parameters
    ----------
    network_hashrate_ehs : float or array_like
        Network hashrate [EH/s].

    Returns
    -------
    float or numpy.ndarray
        Difficulty [-] = hashrate [H/s] x 600 s / 2^32.
    """
    return np.asarray(network_hashrate_ehs, dtype=float) * 1e18 * TARGET_BLOCK_SECONDS / HASHES_PER_DIFFICULTY


def expected_blocks_per_th(difficulty, seconds):
    """Expected blocks found by 1 TH/s over a duration.

    Parameters
    ----------
    difficulty : float or array_like
        Difficulty [-].
    seconds : float or array_like
        Duration [s].

    Returns
    -------
    float or numpy.ndarray
        Expected blocks [blocks/(TH/s)].
    """
    return 1e12 * np.asarray(seconds, dtype=float) / (np.asarray(difficulty, dtype=float) * HASHES_PER_DIFFICULTY)


def btc_per_th(difficulty, seconds, subsidy_btc, fees_btc_per_block, pool_fee: float = 0.0):
    """Expected BTC earned by 1 TH/s over a duration, after the pool fee.

    Parameters
    ----------
    difficulty : float or array_like
        Difficulty [-].
    seconds : float or array_like
        Duration [s].
    subsidy_btc : float or array_like
        Block subsidy [BTC/block].
    fees_btc_per_block : float or array_like
        Mean transaction fees [BTC/block].
    pool_fee : float, default 0
        Pool fee [fraction of revenue].

    Returns
    -------
    float or numpy.ndarray
        Expected BTC [BTC/(TH/s)].
    """
    reward_btc = np.asarray(subsidy_btc, dtype=float) + np.asarray(fees_btc_per_block, dtype=float)
    return expected_blocks_per_th(difficulty, seconds) * reward_btc * (1.0 - pool_fee)


def hashprice_usd_per_ph_day(btc_price_usd, difficulty, subsidy_btc, fees_btc_per_block, pool_fee: float = 0.0):
    """Hashprice: expected revenue of 1 PH/s for one day.

    Parameters
    ----------
    btc_price_usd : float or array_like
        BTC price [USD/BTC].
    difficulty : float or array_like
        Difficulty [-].
    subsidy_btc : float or array_like
        Block subsidy [BTC/block].
    fees_btc_per_block : float or array_like
        Mean transaction fees [BTC/block].
    pool_fee : float, default 0
        Pool fee [fraction of revenue]; published hashprice indices use 0.

    Returns
    -------
    float or numpy.ndarray
        Hashprice [USD/(PH/s)/day]. About 34.5 at difficulty 124.9 T, 3.125 + 0.03 BTC and $68,000.
    """
    btc_per_ph_day = 1000.0 * btc_per_th(difficulty, 86_400.0, subsidy_btc, fees_btc_per_block, pool_fee)
    return btc_per_ph_day * np.asarray(btc_price_usd, dtype=float)


def efficiency_j_per_th(power_w, hashrate_th):
    """Energy efficiency of a machine.

    Parameters
    ----------
    power_w : float or array_like
        Power at the wall [W].
    hashrate_th : float or array_like
        Hashrate [TH/s].

    Returns
    -------
    float or numpy.ndarray
        Efficiency [J/TH] (= W per TH/s).
    """
    return np.asarray(power_w, dtype=float) / np.asarray(hashrate_th, dtype=float)


def breakeven_power_price_usd_per_mwh(hashprice, efficiency):
    """Power price at which a machine's revenue equals its energy cost.

    A machine at ``efficiency`` J/TH draws efficiency kW per PH/s, i.e. 0.024 x efficiency MWh
    per PH/s per day, so the break-even price is hashprice / (0.024 x efficiency).

    Parameters
    ----------
    hashprice : float or array_like
        Hashprice [USD/(PH/s)/day], net of any pool fee the caller wants reflected.
    efficiency : float or array_like
        Efficiency [J/TH].

    Returns
    -------
    float or numpy.ndarray
        Break-even price of the energy the machine draws [USD/MWh]. About 62 for an S19 XP
        (21.5 J/TH) at $32/PH/day.
    """
    return np.asarray(hashprice, dtype=float) / (0.024 * np.asarray(efficiency, dtype=float))


def breakeven_site_price_usd_per_mwh(hashprice, efficiency, aux_load_fraction: float = 0.0, adder_usd_per_mwh: float = 0.0):
    """Spot price above which a machine at a site loses money.

    Each MWh the machine draws makes the site draw (1 + aux) MWh, each costing spot + adder.

    Parameters
    ----------
    hashprice : float or array_like
        Hashprice [USD/(PH/s)/day], net of pool fee.
    efficiency : float or array_like
        Efficiency [J/TH].
    aux_load_fraction : float, default 0
        Site auxiliaries per MW of machine load [MW/MW].
    adder_usd_per_mwh : float, default 0
        Charges on every MWh consumed [USD/MWh].

    Returns
    -------
    float or numpy.ndarray
        Break-even spot price [USD/MWh].
    """
    return breakeven_power_price_usd_per_mwh(hashprice, efficiency) / (1.0 + aux_load_fraction) - adder_usd_per_mwh


def monthly_peak_intervals(load_mw, months=(6, 7, 8, 9)) -> list:
    """The interval of highest load in each of the given months: ERCOT's 4CP intervals.

    Parameters
    ----------
    load_mw : pandas.Series
        System load [MW] indexed by interval start (time-zone aware, in the market's time).
    months : sequence of int, default June to September
        Calendar months in which the coincident peaks are taken.

    Returns
    -------
    list of pandas.Timestamp
        One interval start per month that has data, in time order.
    """
    local = load_mw[load_mw.index.month.isin(months)]
    return [local[local.index.month == month].idxmax() for month in sorted(set(local.index.month))]
