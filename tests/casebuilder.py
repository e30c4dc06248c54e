"""Small in-memory cases for tests: a valid spec dict, prepared without files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from optimizer.case import Case, parse_spec, prepare_case


def spec_dict(
    sites: list[dict],
    miner_models: list[dict],
    fleet: list[dict],
    hours: int = 24,
    btc_price_usd: float = 68_000.0,
    difficulty: float = 1.249e14,
    fees_btc_per_block: float = 0.03,
    block_height: int = 930_000,
    pool_fee: float = 0.0,
    solver: dict | None = None,
) -> dict:
    """A case mapping with constant network figures and an hourly UTC horizon from 2026-01-01."""
    end_day, end_hour = divmod(hours, 24)
    return {
        "name": "test",
        "horizon": {
            "start": "2026-01-01T00:00",
            "end": f"2026-01-{1 + end_day:02d}T{end_hour:02d}:00",
            "resolution": "1h",
            "timezone": "UTC",
        },
        "network": {
            "btc_price_usd": btc_price_usd,
            "difficulty": difficulty,
            "fees_btc_per_block": fees_btc_per_block,
            "block_height": block_height,
            "pool_fee": pool_fee,
        },
        "miner_models": miner_models,
        "sites": sites,
        "fleet": fleet,
        "solver": solver or {"integer_below_units": 0},
    }


def case_with_spot(data: dict, spot_usd_per_mwh: dict[str, np.ndarray]) -> Case:
    """Prepare a case whose sites' spot prices are the given per-period arrays.

    The sites in ``data`` must give a constant spot price (any value); it is replaced.
    """
    case = prepare_case(parse_spec(data), Path("."))
    return dataclasses.replace(case, spot_usd_per_mwh={k: np.asarray(v, dtype=float) for k, v in spot_usd_per_mwh.items()})
