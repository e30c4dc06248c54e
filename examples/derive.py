"""Derive the bundled examples' CSV files from the published data in ``../shared/data``.

Run from the repository root: ``python examples/derive.py [--shared ../shared/data]``.
The derived files are committed, so users never need ``shared/``; this script is their
provenance and regenerates them byte for byte.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def ercot_zone_hourly(shared: Path, zone: str, start: str, end: str) -> pd.DataFrame:
    """Hourly real-time prices of one ERCOT load zone, timestamps with their UTC offset.

    ERCOT publishes hour-beginning US Central prevailing time; the spring-forward hour is
    absent and the fall-back hour appears once, so every local label is unique and the
    offset is recovered by reading each label as its first occurrence.
    """
    raw = pd.read_csv(shared / "ercot" / "ercot_rtm_lz_hourly_2023.csv")
    raw = raw[raw["Zone"] == zone]
    local = pd.to_datetime(raw["Date"], format="%m/%d/%Y %I:%M:%S %p")
    stamps = pd.DatetimeIndex(local).tz_localize("America/Chicago", ambiguous=True)
    frame = pd.DataFrame({"timestamp": stamps, "price_usd_per_mwh": raw["Price"].to_numpy()})
    frame = frame[(frame.timestamp >= pd.Timestamp(start, tz="America/Chicago")) & (frame.timestamp < pd.Timestamp(end, tz="America/Chicago"))]
    frame["timestamp"] = frame["timestamp"].map(lambda t: t.isoformat(timespec="minutes"))
    return frame


def network_daily(shared: Path, start: str, end: str) -> pd.DataFrame:
    """Daily BTC close, difficulty and mean fees per block (UTC days).

    Price: Yahoo Finance daily close. Difficulty: Blockchain.com. Fees per block: Blockchain.com
    transaction fees per day divided by the protocol's 144 blocks per day.
    """
    daily = pd.read_csv(shared / "btc" / "btc_daily_2020-04_2025-04.csv", parse_dates=["Date"]).set_index("Date")

    def chart(name: str) -> pd.Series:
        frame = pd.read_csv(shared / "btc" / f"blockchaincom_{name}_2023-04_2024-04.csv", encoding="utf-8-sig")
        return pd.Series(frame["y"].to_numpy(), index=pd.to_datetime(frame["x"], unit="ms"))

    days = pd.date_range(start, end, freq="D")
    frame = pd.DataFrame(
        {
            "timestamp": [d.strftime("%Y-%m-%dT00:00Z") for d in days],
            "btc_price_usd": daily["Close"].reindex(days).round(2).to_numpy(),
            "difficulty": chart("difficulty").reindex(days).to_numpy(),
            "fees_btc_per_block": (chart("transaction-fees").reindex(days) / 144.0).round(6).to_numpy(),
        }
    )
    if frame.isna().any().any():
        raise SystemExit(f"shared data does not cover {start} to {end}")
    return frame


def shifted_hourly_prices(shared: Path, zone: str, start_2023: str, end_2023: str, years: int) -> pd.DataFrame:
    """Real 2023 hourly prices moved forward by whole days to stand in for a later year.

    The shift is applied in UTC (``years`` x 365 days plus the leap days between); local
    hours near the DST dates move by an hour because the change falls on a different date in
    the later year. ERCOT lists the fall-back hour once, so its price is written again for
    the second of the two hours (what the step series held through both), keeping every UTC
    hour in the file.
    """
    frame = ercot_zone_hourly(shared, zone, start_2023, end_2023)
    stamps = pd.to_datetime(frame["timestamp"], format="ISO8601", utc=True)
    shift = pd.Timestamp(start_2023).replace(year=pd.Timestamp(start_2023).year + years) - pd.Timestamp(start_2023)
    prices = pd.Series(frame["price_usd_per_mwh"].to_numpy(), index=pd.DatetimeIndex(stamps + shift))
    hours = pd.date_range(prices.index[0], prices.index[-1], freq="h")
    return pd.DataFrame({"timestamp": hours.strftime("%Y-%m-%dT%H:%MZ"), "price_usd_per_mwh": prices.reindex(hours, method="ffill").to_numpy()})


def rescaled_btc_path(shared: Path, window_start: str, days: int, start_usd: float, first_day: str) -> pd.DataFrame:
    """A real daily BTC close path, rescaled to start at ``start_usd`` and moved to ``first_day``."""
    daily = pd.read_csv(shared / "btc" / "btc_daily_2020-04_2025-04.csv", parse_dates=["Date"]).set_index("Date")["Close"]
    window = daily.loc[window_start:].iloc[:days]
    stamps = pd.date_range(first_day, periods=days, freq="D")
    return pd.DataFrame(
        {"timestamp": stamps.strftime("%Y-%m-%dT00:00Z"), "btc_price_usd": (window.to_numpy() / window.iloc[0] * start_usd).round(2)}
    )


# Difficulty for Q1 2026 [T]: no published series reaches 2026 in the shared data, so these are
# illustrative retargets around DESIGN.md's figures, with the -11% adjustment of February 2026.
DIFFICULTY_Q1_2026_T = {"2026-01-01": 146.0, "2026-01-15": 148.2, "2026-02-07": 131.9, "2026-02-21": 133.8, "2026-03-07": 137.1, "2026-03-21": 139.4}


def ercot_system_load(shared: Path) -> pd.DataFrame:
    """ERCOT's hourly system load for 2023, hour beginning, timestamps with their UTC offset.

    ERCOT publishes hour ending (HE01..HE24) in US Central prevailing time and marks the
    repeated fall-back hour with ``DST``: the unmarked one is the first (daylight) occurrence.
    """
    raw = pd.read_csv(shared / "ercot" / "ercot_native_load_2023.csv")
    ending = raw["Hour Ending"].str.replace(" DST", "", regex=False)
    day = pd.to_datetime(ending.str[:10], format="%m/%d/%Y")
    beginning = day + pd.to_timedelta(ending.str[11:13].astype(int) - 1, unit="h")
    repeated = raw["Hour Ending"].str.endswith("DST").to_numpy()
    stamps = pd.DatetimeIndex(beginning).tz_localize("America/Chicago", ambiguous=~repeated)
    return pd.DataFrame({"timestamp": stamps.map(lambda t: t.isoformat(timespec="minutes")), "ERCOT": raw["ERCOT"].round(1).to_numpy()})


def network_daily_2023(shared: Path) -> pd.DataFrame:
    """Daily BTC close and difficulty for 2023 (Yahoo Finance, Blockchain.com), UTC days, to 2024-01-01."""
    daily = pd.read_csv(shared / "btc" / "btc_daily_2020-04_2025-04.csv", parse_dates=["Date"]).set_index("Date")
    days = pd.date_range("2023-01-01", "2024-01-01", freq="D")
    return pd.DataFrame(
        {
            "timestamp": [d.strftime("%Y-%m-%dT00:00Z") for d in days],
            "btc_price_usd": daily["Close"].reindex(days).round(2).to_numpy(),
            "difficulty": daily["difficulty"].reindex(days).to_numpy(),
        }
    )


def asic_catalogue(shared: Path) -> pd.DataFrame:
    """Nameplate hashrate and power of the models in the published catalogue."""
    frame = pd.read_csv(shared / "asic" / "asic_nameplate_2019-2025.csv")
    return frame[["model", "manufacturer", "hashrate_th", "power_w", "cooling", "release"]]


def btc_daily_closes(shared: Path) -> pd.DataFrame:
    """Every daily BTC close of the shared history (Yahoo Finance), for fitting and bootstrapping price paths."""
    daily = pd.read_csv(shared / "btc" / "btc_daily_2020-04_2025-04.csv", parse_dates=["Date"])
    return pd.DataFrame({"timestamp": daily["Date"].dt.strftime("%Y-%m-%dT00:00Z"), "close_usd": daily["Close"].round(2)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared" / "data")
    shared = parser.parse_args().shared
    folder = HERE / "west_texas_q3_2023"
    ercot_zone_hourly(shared, "LZ_WEST", "2023-07-01", "2023-10-01").to_csv(folder / "ercot_lz_west_2023q3.csv", index=False)
    network_daily(shared, "2023-07-01", "2023-10-01").to_csv(folder / "network_2023q3.csv", index=False)
    asic_catalogue(shared).to_csv(HERE.parent / "optimizer" / "data" / "asic_catalogue.csv", index=False)

    folder = HERE / "cfo_q1_2026"
    shifted_hourly_prices(shared, "LZ_WEST", "2023-01-01", "2023-04-01", years=3).to_csv(folder / "ercot_lz_west_2023q1_as_2026.csv", index=False)
    network = rescaled_btc_path(shared, "2024-07-24", 91, 68_000.0, "2026-01-01")
    retargets = pd.Series(DIFFICULTY_Q1_2026_T).rename(lambda day: f"{day}T00:00Z") * 1e12
    network["difficulty"] = retargets.reindex(network["timestamp"]).ffill().to_numpy()
    network.to_csv(folder / "network_2026q1.csv", index=False)

    folder = HERE / "pivot_2026"
    folder.mkdir(exist_ok=True)
    zones = {"west": "LZ_WEST", "north": "LZ_NORTH", "south": "LZ_SOUTH"}
    prices = None
    for site, zone in zones.items():
        frame = shifted_hourly_prices(shared, zone, "2023-01-01", "2024-01-01", years=3).rename(columns={"price_usd_per_mwh": site})
        prices = frame if prices is None else prices.merge(frame, on="timestamp", how="outer", validate="one_to_one")
    prices.to_csv(folder / "ercot_zones_2023_as_2026.csv", index=False)
    rescaled_btc_path(shared, "2024-04-07", 366, 68_000.0, "2026-01-01").to_csv(folder / "btc_2026.csv", index=False)

    folder = HERE / "squeeze_2026"
    folder.mkdir(exist_ok=True)
    btc_daily_closes(shared).to_csv(folder / "btc_daily_closes.csv", index=False)
    ercot_zone_hourly(shared, "LZ_WEST", "2023-01-01", "2024-01-01").to_csv(folder / "ercot_lz_west_2023.csv", index=False)

    folder = HERE / "ercot_west_2023"
    folder.mkdir(exist_ok=True)
    ercot_zone_hourly(shared, "LZ_WEST", "2023-01-01", "2024-01-01").to_csv(folder / "ercot_lz_west_2023.csv", index=False)
    ercot_system_load(shared).to_csv(folder / "ercot_system_load_2023.csv", index=False)
    network_daily_2023(shared).to_csv(folder / "network_2023.csv", index=False)


if __name__ == "__main__":
    main()
