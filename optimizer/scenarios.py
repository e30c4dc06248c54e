"""Scenario variants of a case and solving them one after another into a pack.

Issue 7 extends this with generators, parallel and distributed sweeps; here a pack is a
sensitivity grid of BTC price x hashprice multipliers, solved sequentially.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from models.build import build_model, build_screening_model
from optimizer import market
from optimizer.case import Case, CaseError
from optimizer.results import extract_results
from optimizer.solve import NoPlanError, solve


@dataclass(frozen=True)
class Scenario:
    """A named variant of a case.

    Attributes
    ----------
    name : str
        Label in the pack, e.g. ``btc x1.2, hashprice x0.8``.
    btc_price_multiplier, hashprice_multiplier : float
        Factors applied to the base case's BTC price and hashprice paths [-].
    case : Case
        The variant, ready to build.
    """

    name: str
    btc_price_multiplier: float
    hashprice_multiplier: float
    case: Case


def scale_market(case: Case, btc_price_multiplier: float, hashprice_multiplier: float) -> Case:
    """The case with BTC price x ``btc_price_multiplier`` and hashprice x ``hashprice_multiplier``.

    Hashprice is proportional to BTC price / difficulty, so difficulty is scaled by
    btc / hashprice multiplier: a higher BTC price at unchanged hashprice means the network
    added hashrate, as it does.
    """
    net = case.network
    difficulty = net.difficulty * btc_price_multiplier / hashprice_multiplier
    btc_price = net.btc_price_usd * btc_price_multiplier
    pool_fee = case.spec.network.pool_fee
    network = dataclasses.replace(
        net,
        btc_price_usd=btc_price,
        difficulty=difficulty,
        btc_per_th=market.btc_per_th(difficulty, case.grid.hours * 3600.0, net.subsidy_btc, net.fees_btc_per_block, pool_fee),
        hashprice_usd_per_ph_day=market.hashprice_usd_per_ph_day(btc_price, difficulty, net.subsidy_btc, net.fees_btc_per_block, pool_fee),
    )
    return dataclasses.replace(case, network=network)


def sensitivity_grid(case: Case, btc_price_multipliers: Sequence[float], hashprice_multipliers: Sequence[float]) -> list[Scenario]:
    """Every combination of the multipliers, BTC price first."""
    return [
        Scenario(f"btc x{b:g}, hashprice x{h:g}", b, h, scale_market(case, b, h))
        for b, h in itertools.product(btc_price_multipliers, hashprice_multipliers)
    ]


def solve_pack(scenarios: Sequence[Scenario], progress: Callable[[str], None] | None = None) -> list[dict]:
    """Solve each scenario; a scenario that fails is recorded with its error and the rest go on.

    Returns
    -------
    list of dict
        Per scenario: its name, multipliers, mean BTC price [USD/BTC] and hashprice
        [USD/PH/day], and its ``summary.json`` KPIs, or ``status`` and ``error`` if it failed.
    """
    rows = []
    began = time.perf_counter()
    for i, scenario in enumerate(scenarios):
        case = scenario.case
        hours = case.grid.hours
        row = {
            "scenario": scenario.name,
            "btc_price_multiplier": scenario.btc_price_multiplier,
            "hashprice_multiplier": scenario.hashprice_multiplier,
            "mean_btc_price_usd": float(case.network.btc_price_usd @ hours / hours.sum()),
            "mean_hashprice_usd_per_ph_day": float(case.network.hashprice_usd_per_ph_day @ hours / hours.sum()),
        }
        try:
            model = build_model(case)
            row.update(extract_results(model, case, solve(model, case.spec.solver, screen=build_screening_model(case))).kpis)
        except (CaseError, NoPlanError) as exc:
            row.update(status="failed", error=str(exc))
        rows.append(row)
        if progress:
            elapsed = time.perf_counter() - began
            eta = elapsed / (i + 1) * (len(scenarios) - i - 1)
            progress(f"[{i + 1}/{len(scenarios)}] {scenario.name}: {row['status']} ({elapsed:.0f} s elapsed, about {eta:.0f} s to go)")
    return rows


def shortfall_usd(row: dict) -> float:
    """Total of a scenario's shortfalls [USD] (0 without a treasury or when all limits are met)."""
    return float(np.sum([s["amount_usd"] for s in row.get("shortfalls", [])]))
