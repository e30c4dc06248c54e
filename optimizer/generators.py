"""Scenario generators: pure functions from history and a seeded generator to paths.

Every function takes a ``numpy.random.Generator`` (the caller seeds it), so the same seed
gives the same path on any machine. Prices are daily: BTC trades every day, so a year is
365 daily steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAYS_PER_YEAR = 365.0
"""BTC trades every day of the year [days/year]."""

RETARGET_CLAMP = (0.25, 4.0)
"""The protocol limits one retarget to a quarter or four times the previous difficulty [-]."""


@dataclass(frozen=True)
class GbmFit:
    """Geometric Brownian motion parameters fitted to daily closes.

    Attributes
    ----------
    drift_per_year : float
        Expected return mu of dS/S = mu dt + sigma dW [1/year].
    volatility_per_year : float
        sigma [1/sqrt(year)].
    days : int
        Daily returns the fit used [-].
    """

    drift_per_year: float
    volatility_per_year: float
    days: int


def fit_gbm(closes_usd: np.ndarray) -> GbmFit:
    """Maximum-likelihood GBM fit to daily closes.

    With daily log returns r (mean m, sample standard deviation s):
    sigma = s sqrt(365) and mu = (m + s^2 / 2) 365.

    Parameters
    ----------
    closes_usd : numpy.ndarray
        Daily closing prices, oldest first [USD/BTC].
    """
    returns = np.diff(np.log(np.asarray(closes_usd, dtype=float)))
    if len(returns) < 2:
        raise ValueError("a GBM fit needs at least three daily closes")
    mean, std = float(returns.mean()), float(returns.std(ddof=1))
    return GbmFit((mean + std**2 / 2) * DAYS_PER_YEAR, std * np.sqrt(DAYS_PER_YEAR), len(returns))


def gbm_path(start_usd: float, days: int, drift_per_year: float, volatility_per_year: float, rng: np.random.Generator) -> np.ndarray:
    """Daily prices of one GBM path: ``days`` values, the first ``start_usd`` [USD/BTC].

    log S_{k+1} = log S_k + (mu - sigma^2 / 2) dt + sigma sqrt(dt) Z_k, dt = 1/365, Z_k ~ N(0, 1).
    """
    dt = 1.0 / DAYS_PER_YEAR
    steps = (drift_per_year - volatility_per_year**2 / 2) * dt + volatility_per_year * np.sqrt(dt) * rng.standard_normal(days - 1)
    return start_usd * np.exp(np.concatenate([[0.0], np.cumsum(steps)]))


def bootstrap_path(start_usd: float, days: int, closes_usd: np.ndarray, block_days: int, rng: np.random.Generator) -> np.ndarray:
    """Daily prices from a block bootstrap of historical daily log returns [USD/BTC].

    Blocks of ``block_days`` consecutive returns, each starting at a uniformly drawn day of
    the history, are laid end to end until the path has ``days`` values. Blocks keep the
    short-range clustering of volatility that independent draws would lose.
    """
    returns = np.diff(np.log(np.asarray(closes_usd, dtype=float)))
    block_days = min(block_days, len(returns))
    needed = days - 1
    starts = rng.integers(0, len(returns) - block_days + 1, size=-(-needed // block_days) if needed else 0)
    drawn = np.concatenate([returns[s : s + block_days] for s in starts])[:needed] if needed else np.empty(0)
    return start_usd * np.exp(np.concatenate([[0.0], np.cumsum(drawn)]))


def responsive_difficulty(
    base_difficulty: np.ndarray,
    base_price_usd: np.ndarray,
    price_usd: np.ndarray,
    epoch: np.ndarray,
    hours: np.ndarray,
    elasticity: float,
) -> np.ndarray:
    """Difficulty per period when the network's hashrate follows hashprice, epoch by epoch.

    The scenario's difficulty is the base path's times a factor f_e per 2016-block epoch e
    (f_0 = 1). At each retarget the network has grown or shrunk with the hashprice it saw in
    the epoch just ended, relative to the base case's:

        f_e = f_{e-1} (HP_{e-1} / HPbase_{e-1})^elasticity,  HP / HPbase = (P / Pbase) / f_{e-1}

    with P the hours-weighted mean BTC price over the epoch. Each retarget's total step
    D_e / D_{e-1} is clamped to the protocol's [1/4, 4].

    Parameters
    ----------
    base_difficulty, base_price_usd, price_usd : numpy.ndarray
        Per period: the base case's difficulty [-] and BTC price, and the scenario's price [USD/BTC].
    epoch : numpy.ndarray
        Retarget epoch of each period, 0 for the first, non-decreasing [-].
    hours : numpy.ndarray
        Period lengths [h].
    elasticity : float
        Relative change of network hashrate per relative change of hashprice [-].
    """
    n_epochs = int(epoch[-1]) + 1
    weights = np.bincount(epoch, weights=hours, minlength=n_epochs)
    ratio = np.bincount(epoch, weights=hours * price_usd / base_price_usd, minlength=n_epochs) / weights
    first = np.searchsorted(epoch, np.arange(n_epochs))
    factor = np.ones(n_epochs)
    low, high = RETARGET_CLAMP
    for e in range(1, n_epochs):
        wanted = factor[e - 1] * (ratio[e - 1] / factor[e - 1]) ** elasticity
        base_step = base_difficulty[first[e]] / base_difficulty[first[e] - 1]
        step = np.clip(base_step * wanted / factor[e - 1], low, high)
        factor[e] = factor[e - 1] * step / base_step
    return base_difficulty * factor[epoch]


def historical_blocks(history_hours: int, phase: int, length: int, block: int, rng: np.random.Generator) -> np.ndarray:
    """Row positions in an hourly history for a path of ``length`` hours built from whole weeks.

    Each block of ``block`` hours (a whole number of weeks) is copied from a uniformly drawn
    block of the history that starts at the same hour of the week as the path (``phase`` is
    the first history row at the path start's weekday and hour), so weekday and evening
    peaks stay where they fall.

    Parameters
    ----------
    history_hours : int
        Rows of the hourly history [h].
    phase : int
        First row of the history at the path start's hour of the week, in [0, 168) [-].
    length, block : int
        Hours of the path and of each block; ``block`` a multiple of 168 [h].
    """
    week = 168
    if block % week:
        raise ValueError(f"blocks of {block} hours are not whole weeks")
    starts = np.arange(phase, history_hours - block + 1, week)
    if len(starts) == 0:
        raise ValueError(f"the history holds no block of {block} hours")
    chosen = rng.choice(starts, size=-(-length // block))
    return np.concatenate([np.arange(s, s + block) for s in chosen])[:length]
