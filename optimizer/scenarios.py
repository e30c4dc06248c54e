"""Scenarios: named variants of a case, from a pack file or a sensitivity grid.

A pack file names a base case and lists scenarios, each the base with overrides (any schema
field, by dotted path) and market transforms (BTC price, difficulty, hashprice, power prices),
plus seeded generators (GBM and block-bootstrap BTC paths, difficulty that follows hashprice,
power prices from other historical weeks). :func:`load_pack` turns it into validated
:class:`Scenario` objects, each holding the :class:`~optimizer.case.Case` to solve.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pydantic
from pydantic import Field, model_validator

from optimizer import generators
from optimizer.case import Case, CaseError
from optimizer.case import checks
from optimizer.case.errors import SchemaError
from optimizer.case.load import network_path, parse_spec, prepare_case, read_yaml, schema_error
from optimizer.case.schema import _Strict
from optimizer.case.series import period_average, read_csv_table, read_step_series, StepSeries

EPOCH_BLOCKS = 2016
"""Blocks between difficulty retargets [-]."""


@dataclass(frozen=True)
class Scenario:
    """A named variant of a case.

    Attributes
    ----------
    name : str
        Label in the pack, e.g. ``BTC $60k, hashprice $29`` or ``gbm 7``.
    case : Case or None
        The variant, ready to build; None when its inputs are invalid.
    weight : float
        Relative weight; probabilities are the weights normalised over the pack [-].
    inputs : dict
        What sets this scenario apart, for the pack's tables (e.g. multipliers, seed).
    error : str or None
        Why the variant's inputs are invalid (field, problem and fix), when they are.
    """

    name: str
    case: Case | None
    weight: float = 1.0
    inputs: dict = field(default_factory=dict)
    error: str | None = None


# --- the pack file --------------------------------------------------------------------------


class HistoryRef(_Strict):
    """A column of daily BTC closes in a CSV file beside the pack file."""

    file: str = Field(description="CSV file, relative to the pack file's folder")
    column: str = Field(description="column of daily closes [USD/BTC]; the first column is `timestamp`")


class PowerHistoryRef(_Strict):
    """Hourly spot prices of each site in a CSV file beside the pack file."""

    file: str = Field(description="CSV file, relative to the pack file's folder")
    columns: dict[str, str] = Field(description="site name -> column of hourly spot prices [USD/MWh]")


class SpotEvent(_Strict):
    """Spot price set to a level in a window (a stress such as a winter-storm week)."""

    start: dt.datetime = Field(description="window start, local time of the case (inclusive)")
    end: dt.datetime = Field(description="window end, local time of the case (exclusive)")
    usd_per_mwh: float = Field(ge=-1000, le=10_000, description="spot price in the window [USD/MWh]")
    hours: list[int] | None = Field(None, description="local start hours (0-23) the level applies to (default: all)")
    sites: list[str] | None = Field(None, description="sites it applies to (default: all)")


class ScenarioSpec(_Strict):
    """One named scenario: the base case with overrides, then market transforms in the order listed here."""

    name: str = Field(min_length=1, description="scenario name, unique in the pack")
    weight: float = Field(1.0, gt=0, description="relative weight; probabilities are weights / their sum [-]")
    set: dict[str, Any] = Field(
        default_factory=dict,
        description="case fields to override, by dotted path: `network.fees_btc_per_block`, `debt[0].date`, "
        "`sites[west].power.adder_usd_per_mwh` (a list entry by index or by its name)",
    )
    btc_price_multiplier: float = Field(1.0, gt=0, description="BTC price path x this [-]; difficulty unchanged")
    btc_price_ramp_to_usd: float | None = Field(None, gt=0, description="BTC price moves linearly from the path's first value to this at the horizon end [USD/BTC]")
    difficulty_adjustment: float | None = Field(
        None, ge=-0.75, le=3.0, description="one retarget of this relative size at the first retarget in the horizon, e.g. -0.11 [-]"
    )
    hashprice_multiplier: float = Field(1.0, gt=0, description="hashprice x this, by scaling difficulty [-]")
    mean_hashprice_usd_per_ph_day: float | None = Field(None, gt=0, description="difficulty scaled so that the horizon's mean hashprice is this [USD/PH/day]")
    power_price_multiplier: float = Field(1.0, ge=0, description="every site's spot price x this [-]")
    spot_events: list[SpotEvent] = Field(default_factory=list, description="spot price set to a level in a window")


class GeneratorSpec(_Strict):
    """``count`` scenarios drawn from a seeded generator, named ``<name> 1`` .. ``<name> count``."""

    kind: Literal["gbm", "bootstrap", "power_history"] = Field(
        description="gbm: BTC price by geometric Brownian motion; bootstrap: BTC price from blocks of historical daily returns; "
        "power_history: spot prices from other historical weeks"
    )
    name: str = Field(min_length=1, description="prefix of the scenario names")
    count: int = Field(ge=1, le=checks.MAX_SCENARIOS, description="scenarios to draw")
    seed: int = Field(ge=0, description="random seed: the same seed draws the same scenarios")
    weight: float = Field(1.0, gt=0, description="relative weight of each drawn scenario [-]")
    history: HistoryRef | None = Field(None, description="daily BTC closes (gbm: to fit drift and volatility; bootstrap: the returns drawn)")
    fit_days: int | None = Field(None, ge=30, description="use only the last this many days of history [days] (default: all)")
    drift_per_year: float | None = Field(None, ge=-5, le=5, description="gbm: drift mu [1/year], instead of the fit")
    volatility_per_year: float | None = Field(None, gt=0, le=5, description="gbm: volatility sigma [1/sqrt(year)], instead of the fit")
    block_days: int = Field(7, ge=1, description="bootstrap: days per block of returns; power_history: days per block, a multiple of 7")
    difficulty_elasticity: float | None = Field(
        None, ge=0, le=5, description="gbm/bootstrap: network hashrate follows hashprice at each retarget with this elasticity [-] (default: base difficulty)"
    )
    power: PowerHistoryRef | None = Field(None, description="power_history: hourly spot prices per site")

    @model_validator(mode="after")
    def _inputs_for_kind(self) -> "GeneratorSpec":
        if self.kind == "gbm" and self.history is None and (self.drift_per_year is None or self.volatility_per_year is None):
            raise ValueError("gbm needs `history` to fit, or both `drift_per_year` and `volatility_per_year`")
        if self.kind == "bootstrap" and self.history is None:
            raise ValueError("bootstrap needs `history`: a CSV column of daily closes")
        if self.kind == "power_history":
            if self.power is None:
                raise ValueError("power_history needs `power`: {file, columns: {site: column}}")
            if self.block_days % 7:
                raise ValueError(f"power_history blocks must be whole weeks (block_days 7, 14, 28, ...; got {self.block_days})")
        return self


class RiskSpec(_Strict):
    """Risk terms of the two-stage plan."""

    cvar_alpha: float | None = Field(None, gt=0, lt=1, description="CVaR level: the mean of the worst (1 - alpha) share of outcomes counts [-]")
    weight: float = Field(0.0, ge=0, le=1, description="objective = (1 - weight) E[value] + weight CVaR_alpha[value] [-]")
    max_shortfall_probability: float | None = Field(None, ge=0, le=1, description="cap on the probability that any covenant is breached [-]")

    @model_validator(mode="after")
    def _alpha_with_weight(self) -> "RiskSpec":
        if self.weight > 0 and self.cvar_alpha is None:
            raise ValueError("a CVaR weight needs `cvar_alpha`, e.g. 0.95")
        return self


class StochasticSpec(_Strict):
    """What the two-stage plan (``hashplan plan-robust``) shares across scenarios."""

    first_stage_epochs: int = Field(1, ge=1, description="purchases, retirements and HPC conversions of the first this many months are shared [months]")
    first_stage_days: int = Field(7, ge=0, description="BTC sales of the first this many days are shared [days]")
    risk: RiskSpec = Field(default_factory=RiskSpec, description="CVaR and covenant-breach probability terms")


class PackSpec(_Strict):
    """A scenario pack: a base case and the scenarios to solve against it."""

    name: str = Field(min_length=1, description="pack name, shown in the workbook")
    base: str = Field(description="the base case (.yaml), relative to the pack file")
    scenarios: list[ScenarioSpec] = Field(default_factory=list, description="named scenarios (the base itself is one with no changes)")
    generators: list[GeneratorSpec] = Field(default_factory=list, description="seeded generators of further scenarios")
    stochastic: StochasticSpec = Field(default_factory=StochasticSpec, description="settings of the two-stage plan")


@dataclass(frozen=True)
class Pack:
    """A loaded pack: its spec, the base case and every scenario."""

    spec: PackSpec
    base: Case
    scenarios: list[Scenario]

    @property
    def probabilities(self) -> np.ndarray:
        """Each scenario's probability: its weight over the sum of weights [-]."""
        weights = np.array([s.weight for s in self.scenarios])
        return weights / weights.sum()


def load_pack(path: str | Path) -> Pack:
    """Read a pack file and build every scenario's case (nothing is solved).

    A named scenario whose overrides make an invalid case is kept with its error (naming the
    pack field, e.g. ``scenarios[2].set.debt[0].date``, or the case field, and the fix), so
    that a sweep reports it and solves the others.

    Raises
    ------
    CaseError
        For an invalid pack file, base case or generator, with the field and the fix.
    """
    path = Path(path)
    try:
        spec = PackSpec.model_validate(read_yaml(path))
    except pydantic.ValidationError as exc:
        raise schema_error(exc, PackSpec, prefix=f"{path.name}: ") from None
    check_scenario_count(spec)
    check_unique_names(spec)
    base_path = path.parent / spec.base
    if base_path.suffix.lower() not in (".yaml", ".yml"):
        raise SchemaError(f"{path.name}: base", f"{spec.base!r} is not a .yaml case", "give the path of the base case's .yaml file")
    base_raw = read_yaml(base_path)
    base = prepare_case(parse_spec(base_raw), base_path.parent, source=base_path)
    scenarios = []
    for i, named in enumerate(spec.scenarios):
        # a scenario whose inputs are invalid is recorded as failed; the others still run
        try:
            case, error = named_case(base, base_raw, base_path, named, f"{path.name}: scenarios[{i}]"), None
        except CaseError as exc:
            case, error = None, exc.message
        scenarios.append(Scenario(named.name, case, named.weight, _named_inputs(named), error))
    for i, generator in enumerate(spec.generators):
        scenarios += generated(base, generator, path.parent, f"{path.name}: generators[{i}]")
    if not scenarios:
        raise SchemaError(f"{path.name}: scenarios", "the pack has no scenarios", "add `scenarios:` (e.g. `- name: base`) or `generators:`")
    return Pack(spec, base, scenarios)


def check_scenario_count(spec: PackSpec) -> None:
    """At most :data:`~optimizer.case.checks.MAX_SCENARIOS` scenarios in one pack."""
    count = len(spec.scenarios) + sum(g.count for g in spec.generators)
    if count > checks.MAX_SCENARIOS:
        raise SchemaError("generators[].count", f"{count:,} scenarios, above the limit of {checks.MAX_SCENARIOS:,}", "split the pack or draw fewer")


def check_unique_names(spec: PackSpec) -> None:
    """Scenario names are unique (they name the result folders)."""
    names = [s.name for s in spec.scenarios] + [f"{g.name} {j + 1}" for g in spec.generators for j in range(g.count)]
    seen = set()
    for name in names:
        if folder_name(name) in seen:
            raise SchemaError("scenarios[].name", f"two scenarios are named {name!r} (or differ only in punctuation)", "give each scenario its own name")
        seen.add(folder_name(name))


def folder_name(name: str) -> str:
    """A scenario's result folder: its name in lower case, runs of other characters as ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "scenario"


def _named_inputs(spec: ScenarioSpec) -> dict:
    changed = spec.model_dump(exclude={"name", "weight"}, exclude_defaults=True, mode="json")
    return {"kind": "named", "changes": "; ".join(f"{k}: {v}" for k, v in changed.items()) or "none (the base case)"}


# --- overrides and transforms ---------------------------------------------------------------


def named_case(base: Case, base_raw: dict, base_path: Path, spec: ScenarioSpec, where: str) -> Case:
    """The base case with a named scenario's overrides and transforms applied."""
    case = base
    if spec.set:
        raw = copy.deepcopy(base_raw)
        for dotted, value in spec.set.items():
            set_field(raw, dotted, value, f"{where}.set.{dotted}")
        try:
            case = prepare_case(parse_spec(raw), base_path.parent, source=base_path)
        except CaseError as exc:
            raise type(exc)(f"{where} ({spec.name}): {exc.field}", exc.problem, exc.fix, exc.row) from None
    price = case.network.btc_price_usd * spec.btc_price_multiplier
    if spec.btc_price_ramp_to_usd is not None:
        share = case.grid.hours_since_start / case.grid.hours_since_start[-1] if case.grid.n_periods > 1 else np.zeros(1)
        price = price[0] + (spec.btc_price_ramp_to_usd - price[0]) * share
    difficulty = case.network.difficulty.copy()
    if spec.difficulty_adjustment is not None:
        epoch = retarget_epoch(case)
        if epoch[-1] == 0:
            raise SchemaError(f"{where}.difficulty_adjustment", "the horizon holds no difficulty retarget", "remove it, or use `set: {network.difficulty: ...}`")
        difficulty[epoch >= 1] *= 1.0 + spec.difficulty_adjustment
    difficulty /= spec.hashprice_multiplier
    case = with_market(case, price, difficulty)
    if spec.mean_hashprice_usd_per_ph_day is not None:
        mean = case.grid.horizon_mean(case.network.hashprice_usd_per_ph_day)
        case = with_market(case, price, difficulty * mean / spec.mean_hashprice_usd_per_ph_day)
    spot = {site: values * spec.power_price_multiplier for site, values in case.spot_usd_per_mwh.items()}
    for j, event in enumerate(spec.spot_events):
        apply_spot_event(case, spot, event, f"{where}.spot_events[{j}]")
    return dataclasses.replace(case, spot_usd_per_mwh=spot)


_PATH_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[[^\]]+\])*)$")


def set_field(raw: dict, dotted: str, value: Any, where: str) -> None:
    """Set one field of a case mapping by dotted path, in place.

    Parts are field names; a list entry is taken by ``[index]`` or by ``[name]`` (the entry
    whose ``name``, or for fleet-like lists ``site``, equals it). Missing sections are created;
    the schema then validates the result.
    """
    parts = dotted.split(".")
    node: Any = raw
    for n, part in enumerate(parts):
        match = _PATH_PART.match(part)
        if match is None:
            raise SchemaError(where, f"{part!r} is not a field name", "write the path as section.field, with [index] or [name] for a list entry")
        key, selectors = match.group(1), re.findall(r"\[([^\]]+)\]", match.group(2))
        last = n == len(parts) - 1 and not selectors
        if not isinstance(node, dict):
            raise SchemaError(where, f"{'.'.join(parts[:n])} is not a section", "check the path against `hashplan schema`")
        if last:
            node[key] = value
            return
        node = node.setdefault(key, {} if not selectors else [])
        for k, selector in enumerate(selectors):
            node = _list_entry(node, selector, where)
            if n == len(parts) - 1 and k == len(selectors) - 1:
                raise SchemaError(where, "the path ends at a list entry", "name the field of the entry to set, e.g. debt[0].date")


def _list_entry(node: Any, selector: str, where: str) -> dict:
    if not isinstance(node, list):
        raise SchemaError(where, f"[{selector}] applied to something that is not a list", "check the path against `hashplan schema`")
    if selector.lstrip("-").isdigit():
        index = int(selector)
        if not -len(node) <= index < len(node):
            raise SchemaError(where, f"index {index} is outside the list of {len(node)}", f"use an index from 0 to {len(node) - 1}")
        return node[index]
    matches = [entry for entry in node if isinstance(entry, dict) and selector in (entry.get("name"), entry.get("site"))]
    if len(matches) != 1:
        names = sorted({str(e.get("name", e.get("site"))) for e in node if isinstance(e, dict)})
        problem = "no entry" if not matches else f"{len(matches)} entries"
        raise SchemaError(where, f"{problem} named {selector!r}", f"use an index, or one of {names}")
    return matches[0]


def retarget_epoch(case: Case) -> np.ndarray:
    """Difficulty epoch of each period, counted from the horizon's first (0) [-]."""
    epoch = np.floor_divide(case.network.block_height, EPOCH_BLOCKS)
    return (epoch - epoch[0]).astype(int)


def with_market(case: Case, btc_price_usd: np.ndarray, difficulty: np.ndarray) -> Case:
    """The case with a new BTC price and difficulty path, and the figures derived from them."""
    net = case.network
    network = network_path(
        np.asarray(btc_price_usd, dtype=float), np.asarray(difficulty, dtype=float),
        net.fees_btc_per_block, net.block_height, net.subsidy_btc, case.grid.hours, case.spec.network.pool_fee,
    )
    return dataclasses.replace(case, network=network)


def apply_spot_event(case: Case, spot: dict[str, np.ndarray], event: SpotEvent, where: str) -> None:
    """Set spot to the event's level in its window, in place."""
    timezone = case.grid.timezone
    start = checks.localize(event.start, timezone, f"{where}.start")
    end = checks.localize(event.end, timezone, f"{where}.end")
    if not start < end:
        raise SchemaError(f"{where}.end", f"{event.end} is not after start {event.start}", "give an end after the start")
    starts = case.grid.start_utc
    inside = np.asarray((starts >= start) & (starts < end))
    if event.hours is not None:
        inside &= np.isin(case.grid.start_local.hour, event.hours)
    if not inside.any():
        raise SchemaError(where, "the window holds no period of the horizon", f"give a window inside {case.spec.horizon.start} .. {case.spec.horizon.end}")
    for site in event.sites or list(spot):
        if site not in spot:
            raise SchemaError(f"{where}.sites", f"no site {site!r}", f"use one of {sorted(spot)}")
        spot[site] = np.where(inside, event.usd_per_mwh, spot[site])


# --- generators -----------------------------------------------------------------------------


def generated(base: Case, spec: GeneratorSpec, folder: Path, where: str) -> list[Scenario]:
    """The generator's ``count`` scenarios; scenario j is drawn from seed (``seed``, j) alone."""
    if spec.kind == "power_history":
        return _power_history(base, spec, folder, where)
    closes = daily_history(folder, spec.history, spec.fit_days, f"{where}.history") if spec.history is not None else None
    fit = generators.fit_gbm(closes) if closes is not None else None
    drift = float(spec.drift_per_year if spec.drift_per_year is not None else fit.drift_per_year)
    volatility = float(spec.volatility_per_year if spec.volatility_per_year is not None else fit.volatility_per_year)
    day = base.grid.day_of_period
    days = int(day[-1]) + 1
    start = float(base.network.btc_price_usd[0])
    epoch = retarget_epoch(base)
    scenarios = []
    for j in range(spec.count):
        rng = np.random.default_rng([spec.seed, j])
        if spec.kind == "gbm":
            path = generators.gbm_path(start, days, drift, volatility, rng)
            inputs = {"kind": "gbm", "seed": spec.seed, "draw": j + 1, "drift_per_year": drift, "volatility_per_year": volatility}
        else:
            path = generators.bootstrap_path(start, days, closes, spec.block_days, rng)
            inputs = {"kind": "bootstrap", "seed": spec.seed, "draw": j + 1, "block_days": spec.block_days}
        price = path[day]
        difficulty = base.network.difficulty
        if spec.difficulty_elasticity is not None:
            difficulty = generators.responsive_difficulty(difficulty, base.network.btc_price_usd, price, epoch, base.grid.hours, spec.difficulty_elasticity)
            inputs["difficulty_elasticity"] = spec.difficulty_elasticity
        scenarios.append(Scenario(f"{spec.name} {j + 1}", with_market(base, price, difficulty), spec.weight, inputs))
    return scenarios


def daily_history(folder: Path, ref: HistoryRef, last_days: int | None, where: str) -> np.ndarray:
    """Daily closes from a CSV beside the pack file, oldest first [USD/BTC]."""
    table = _table(folder, ref.file, where)
    series = read_step_series(table, ref.column, "UTC", f"{where} = {ref.file}:{ref.column}")
    checks.check_values_positive(series.values, series.lines, f"{where} = {ref.file}:{ref.column}")
    closes = series.values[-last_days:] if last_days else series.values
    if len(closes) < 30:
        raise SchemaError(where, f"{len(closes)} daily closes", "give at least 30 days of history")
    return closes


def _table(folder: Path, file: str, where: str) -> pd.DataFrame:
    path = folder / file
    checks.check_series_path_inside_case(path, folder, where)
    checks.check_series_file_exists(path, where)
    return read_csv_table(path, where)


def _power_history(base: Case, spec: GeneratorSpec, folder: Path, where: str) -> list[Scenario]:
    """Spot prices of every site from the same randomly drawn historical weeks (sites stay correlated)."""
    ref = spec.power
    table = _table(folder, ref.file, f"{where}.power")
    missing = sorted(set(base.spot_usd_per_mwh) - set(ref.columns))
    if missing:
        raise SchemaError(f"{where}.power.columns", f"no column given for site(s) {missing}", "map every site of the base case to a column")
    grid = base.grid
    history = {site: read_step_series(table, column, grid.timezone, f"{where}.power = {ref.file}:{column}") for site, column in ref.columns.items() if site in base.spot_usd_per_mwh}
    first = next(iter(history.values()))
    hourly = pd.date_range(first.stamps_utc[0], first.end_utc, freq="h")
    values = {site: period_average(series, hourly) for site, series in history.items()}
    start = grid.boundaries_utc[0]
    horizon_hours = int(np.ceil((grid.boundaries_utc[-1] - start) / pd.Timedelta(hours=1)))
    # aligned on the UTC hour of the week: a week drawn from across a DST change is an hour off locally
    phase = (_hour_of_week(start) - _hour_of_week(hourly[0])) % 168
    path_stamps = pd.date_range(start, periods=horizon_hours, freq="h")
    scenarios = []
    for j in range(spec.count):
        rng = np.random.default_rng([spec.seed, j])
        try:
            rows = generators.historical_blocks(len(hourly) - 1, phase, horizon_hours, spec.block_days * 24, rng)
        except ValueError as exc:
            raise SchemaError(f"{where}.power", str(exc), "give a longer history or shorter blocks") from None
        spot = {
            site: period_average(StepSeries(path_stamps, series[rows], path_stamps[-1] + pd.Timedelta(hours=1), rows), grid.boundaries_utc)
            for site, series in values.items()
        }
        weeks = [str(hourly[r].date()) for r in rows[:: spec.block_days * 24]]
        inputs = {"kind": "power_history", "seed": spec.seed, "draw": j + 1, "weeks_from": ", ".join(weeks)}
        scenarios.append(Scenario(f"{spec.name} {j + 1}", dataclasses.replace(base, spot_usd_per_mwh=spot), spec.weight, inputs))
    return scenarios


def _hour_of_week(stamp: pd.Timestamp) -> int:
    return stamp.day_of_week * 24 + stamp.hour


# --- the sensitivity grid of `hashplan pack` ------------------------------------------------


def scale_market(case: Case, btc_price_multiplier: float, hashprice_multiplier: float) -> Case:
    """The case with BTC price x ``btc_price_multiplier`` and hashprice x ``hashprice_multiplier``.

    Hashprice is proportional to BTC price / difficulty, so difficulty is scaled by
    btc / hashprice multiplier: a higher BTC price at unchanged hashprice means the network
    added hashrate, as it does.
    """
    net = case.network
    return with_market(case, net.btc_price_usd * btc_price_multiplier, net.difficulty * btc_price_multiplier / hashprice_multiplier)


def sensitivity_grid(case: Case, btc_price_multipliers: Sequence[float], hashprice_multipliers: Sequence[float]) -> list[Scenario]:
    """Every combination of the multipliers, BTC price first."""
    return [
        Scenario(f"btc x{b:g}, hashprice x{h:g}", scale_market(case, b, h), inputs={"btc_price_multiplier": b, "hashprice_multiplier": h})
        for b, h in itertools.product(btc_price_multipliers, hashprice_multipliers)
    ]
