"""The validated case handed to the model builders: the schema plus resolved per-period arrays."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.case.schema import CaseSpec, MinerModel


@dataclass(frozen=True)
class TimeGrid:
    """The dispatch clock.

    Attributes
    ----------
    boundaries_utc : pandas.DatetimeIndex
        n + 1 period boundaries [UTC].
    timezone : str
        IANA zone in which periods are labelled for users.
    """

    boundaries_utc: pd.DatetimeIndex
    timezone: str

    @property
    def n_periods(self) -> int:
        """Number of dispatch periods [-]."""
        return len(self.boundaries_utc) - 1

    @property
    def start_utc(self) -> pd.DatetimeIndex:
        """Period start instants [UTC]."""
        return self.boundaries_utc[:-1]

    @property
    def start_local(self) -> pd.DatetimeIndex:
        """Period start instants in the horizon's time zone."""
        return self.start_utc.tz_convert(self.timezone)

    @property
    def hours(self) -> np.ndarray:
        """Length of each period [h]."""
        return np.diff(self._seconds_since_start()) / 3600.0

    def horizon_mean(self, per_period: np.ndarray) -> float:
        """The hours-weighted mean of a per-period series over the horizon [its unit]."""
        hours = self.hours
        return float(per_period @ hours / hours.sum())

    @property
    def hours_since_start(self) -> np.ndarray:
        """Time from the horizon start to each period start [h]."""
        return self._seconds_since_start()[:-1] / 3600.0

    @cached_property
    def _local_days(self) -> tuple[np.ndarray, np.ndarray]:
        midnights = self.start_local.tz_localize(None).normalize()
        days, index = np.unique(midnights.to_numpy(), return_inverse=True)
        return days, index

    @property
    def days(self) -> list[dt.date]:
        """Treasury days: the local calendar days the periods start on, in order."""
        return [pd.Timestamp(day).date() for day in self._local_days[0]]

    @property
    def day_of_period(self) -> np.ndarray:
        """Index into :attr:`days` of each period [-]."""
        return self._local_days[1]

    @property
    def epoch_first_day(self) -> np.ndarray:
        """Index into :attr:`days` of the first day of each epoch [-]."""
        days = self.days
        return np.array([i for i, day in enumerate(days) if i == 0 or (day.year, day.month) != (days[i - 1].year, days[i - 1].month)])

    @property
    def epoch_of_day(self) -> np.ndarray:
        """Index into :attr:`epochs` of each day [-]."""
        starts = np.zeros(len(self.days), dtype=int)
        starts[self.epoch_first_day[1:]] = 1
        return np.cumsum(starts)

    def period_containing(self, instant: dt.datetime) -> int:
        """Index of the period containing ``instant`` (naive: local; the fall-back hour's first occurrence)."""
        stamp = pd.Timestamp(instant)
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize(self.timezone, ambiguous=True, nonexistent="shift_forward")
        position = int(np.searchsorted(self.boundaries_utc, stamp.tz_convert("UTC"), side="right")) - 1
        if not 0 <= position < self.n_periods:
            raise ValueError(f"{instant} is outside the horizon")
        return position

    def _seconds_since_start(self) -> np.ndarray:
        return (self.boundaries_utc - self.boundaries_utc[0]).total_seconds().to_numpy()


@dataclass(frozen=True)
class NetworkPath:
    """Network and price figures per dispatch period.

    Attributes
    ----------
    btc_price_usd : numpy.ndarray
        BTC price [USD/BTC].
    difficulty : numpy.ndarray
        Difficulty [-].
    fees_btc_per_block : numpy.ndarray
        Mean fees [BTC/block].
    block_height : numpy.ndarray
        Projected height at period start [-].
    subsidy_btc : numpy.ndarray
        Block subsidy at period start [BTC/block].
    btc_per_th : numpy.ndarray
        Expected BTC per TH/s over the period, after pool fee [BTC/(TH/s)].
    hashprice_usd_per_ph_day : numpy.ndarray
        Hashprice after pool fee [USD/(PH/s)/day].
    """

    btc_price_usd: np.ndarray
    difficulty: np.ndarray
    fees_btc_per_block: np.ndarray
    block_height: np.ndarray
    subsidy_btc: np.ndarray
    btc_per_th: np.ndarray
    hashprice_usd_per_ph_day: np.ndarray


@dataclass(frozen=True)
class MachineClass:
    """Machines of one model, in one mode, at one site: a dispatch column.

    Attributes
    ----------
    site, model, mode : str
        Names from the case.
    installed : int
        Machines of this model installed at the site at the horizon start [units] (shared by its modes).
    hashrate_th : float
        Per machine in this mode [TH/s].
    power_w : float
        Per machine in this mode [W].
    capacity : int
        Most machines of this model the site can have at any time: installed plus every
        purchase option's ``max_units`` [units].
    """

    site: str
    model: str
    mode: str
    installed: int
    hashrate_th: float
    power_w: float
    capacity: int

    @property
    def efficiency_j_per_th(self) -> float:
        """Energy per hash [J/TH]."""
        return self.power_w / self.hashrate_th


@dataclass(frozen=True)
class Case:
    """A validated case, ready to build: schema, time grid and per-period arrays.

    Attributes
    ----------
    spec : CaseSpec
        The case as written.
    grid : TimeGrid
        Dispatch periods.
    network : NetworkPath
        Network figures per period.
    spot_usd_per_mwh : dict of str to numpy.ndarray
        Spot price per site and period [USD/MWh].
    source : pathlib.Path or None
        The case file, if read from disk.
    demand_response_price_usd_per_mw_hour : dict of (site, product) to numpy.ndarray
        Capacity payment per period of each demand-response product [USD/MW-h].
    """

    spec: CaseSpec
    grid: TimeGrid
    network: NetworkPath
    spot_usd_per_mwh: dict[str, np.ndarray]
    source: Path | None = None
    demand_response_price_usd_per_mw_hour: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    machine_classes: tuple[MachineClass, ...] = field(init=False)

    def __post_init__(self) -> None:
        models = {m.name: m for m in self.spec.miner_models}
        installed = {(e.site, e.model): e.count for e in self.spec.fleet}
        bought = {}
        for purchase in self.spec.purchases:
            key = (purchase.site, purchase.model)
            bought[key] = bought.get(key, 0) + purchase.max_units
        classes = []
        for site, model in list(installed) + [key for key in bought if key not in installed]:
            count = installed.get((site, model), 0)
            for mode, hashrate_th, power_w in _modes(models[model]):
                classes.append(MachineClass(site, model, mode, count, hashrate_th, power_w, count + bought.get((site, model), 0)))
        object.__setattr__(self, "machine_classes", tuple(classes))

    @property
    def name(self) -> str:
        """Case name."""
        return self.spec.name

    @cached_property
    def classes_by_group(self) -> dict[tuple[str, str], list[int]]:
        """(site, model) -> its classes k, one per mode, in class order; the modes share the machines."""
        groups: dict[tuple[str, str], list[int]] = {}
        for k, c in enumerate(self.machine_classes):
            groups.setdefault((c.site, c.model), []).append(k)
        return groups

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 of everything the plan depends on: the schema values and every per-period array."""
        digest = hashlib.sha256(self.spec.model_dump_json().encode())
        arrays = [self.grid.boundaries_utc.asi8, *vars(self.network).values()]
        arrays += [self.spot_usd_per_mwh[k] for k in sorted(self.spot_usd_per_mwh)]
        arrays += [self.demand_response_price_usd_per_mw_hour[k] for k in sorted(self.demand_response_price_usd_per_mw_hour)]
        for array in arrays:
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()


def _modes(model: MinerModel) -> list[tuple[str, float, float]]:
    """(mode, TH/s, W) for the nameplate `stock` mode and each listed mode."""
    return [("stock", model.hashrate_th, model.power_w)] + [(m.name, m.hashrate_th, m.power_w) for m in model.modes]
