"""Load a case: YAML (safe) or a workbook -> schema -> validation rules -> series -> :class:`Case`."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydantic
import yaml

from optimizer import market
from optimizer.case import checks, schema
from optimizer.case.errors import SchemaError, SeriesFileError
from optimizer.case.model import Case, NetworkPath, TimeGrid
from optimizer.case.schema import CaseSpec, SeriesRef
from optimizer.case.series import StepSeries, period_average, read_csv_table, read_step_series


APART_TOLERANCE = 1e-6
"""Relative change in a :func:`price_blocked` ``apart`` value that keeps two hours in different blocks [-]."""

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xltx", ".xltm", ".xls", ".xlsb", ".ods")
"""Suffixes read as case workbooks; all but ``.xlsx`` are refused there with a fix."""


def load_case(path: str | Path) -> Case:
    """Read, validate and prepare a case file.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.yaml``/``.yml`` case file, whose CSV series are read from its folder, or an
        ``.xlsx`` case workbook (see :mod:`optimizer.case.excel`).

    Returns
    -------
    Case
        The validated case with per-period arrays.

    Raises
    ------
    CaseError
        With the field, row and fix, for any invalid input. No model has been built.
    """
    path = Path(path)
    if path.suffix.lower() in WORKBOOK_SUFFIXES:
        from optimizer.case.excel import load_workbook_case  # excel builds on this module, so it is imported late

        return load_workbook_case(path)
    return prepare_case(parse_spec(read_yaml(path)), path.parent, source=path)


def read_yaml(path: Path) -> dict[str, Any]:
    """The case file as a mapping (safe loader: no custom tags, no code)."""
    if not path.exists():
        raise SchemaError(str(path), "case file not found", "check the path")
    if path.is_dir():
        raise SchemaError(str(path), "is a folder", "give the path of the case .yaml file inside it")
    checks.check_file_size(path, checks.MAX_CASE_FILE_BYTES, path.name)
    try:
        data = _safe_yaml(path.read_text(encoding="utf-8"), path.name)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        raise SchemaError(path.name, f"a YAML tag the case cannot hold ({' '.join(str(exc.problem).split())})", "remove the !tag: a case holds plain values only", row=where) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise SchemaError(path.name, f"not valid YAML: {problem}", "fix the YAML syntax there", row=where) from None
    except UnicodeDecodeError:
        raise SchemaError(path.name, "not a UTF-8 text file", "save the case as UTF-8 YAML") from None
    except RecursionError:
        raise SchemaError(path.name, "the YAML is nested too deeply to read", "flatten the nesting; a case is a few levels deep") from None
    if not isinstance(data, dict):
        raise SchemaError(path.name, "the case must be a mapping of sections", "start with `name:`, `horizon:`, ...")
    return data


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise SchemaError(
                    str(key), "this key is given twice in the same section", "keep one of them",
                    row=f"line {key_node.start_mark.line + 1}",
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _safe_yaml(text: str, name: str) -> Any:
    """Parse YAML with the safe loader (no custom tags, no code), refusing alias bombs.

    Anchors and aliases are allowed, but a document whose aliases expand to more than
    ``MAX_YAML_NODES`` nodes is refused before any object is built: validating such an
    expansion would take exponential time.
    """
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        checks.check_yaml_expansion(node, name)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def parse_spec(data: dict[str, Any]) -> CaseSpec:
    """Validate a case mapping against the schema, then run every case rule."""
    try:
        spec = CaseSpec.model_validate(data)
    except pydantic.ValidationError as exc:
        raise schema_error(exc) from None
    for check in checks.CASE_CHECKS:
        check(spec)
    return spec


def network_path(
    btc_price_usd: np.ndarray,
    difficulty: np.ndarray,
    fees_btc_per_block: np.ndarray,
    block_height: np.ndarray,
    subsidy_btc: np.ndarray,
    period_hours: np.ndarray,
    pool_fee: float,
) -> NetworkPath:
    """The network path of these prices and difficulties, with the BTC per TH/s [BTC/(TH/s)]
    and hashprice [USD/(PH/s)/day] they give over periods of ``period_hours`` [h], after ``pool_fee`` [-]."""
    return NetworkPath(
        btc_price_usd=btc_price_usd,
        difficulty=difficulty,
        fees_btc_per_block=fees_btc_per_block,
        block_height=block_height,
        subsidy_btc=subsidy_btc,
        btc_per_th=market.btc_per_th(difficulty, period_hours * 3600.0, subsidy_btc, fees_btc_per_block, pool_fee),
        hashprice_usd_per_ph_day=market.hashprice_usd_per_ph_day(btc_price_usd, difficulty, subsidy_btc, fees_btc_per_block, pool_fee),
    )


def prepare_case(
    spec: CaseSpec, case_dir: Path, source: Path | None = None, tables: Mapping[SeriesRef, pd.DataFrame] | None = None
) -> Case:
    """Resolve series and network figures onto the dispatch periods.

    Parameters
    ----------
    spec : CaseSpec
        The parsed case.
    case_dir : pathlib.Path
        Folder that series files are read from (relative to it, never outside it).
    source : pathlib.Path, optional
        The case file, recorded on the Case.
    tables : mapping of SeriesRef to pandas.DataFrame, optional
        Series already read (e.g. from a workbook), each a text table as
        :func:`~optimizer.case.series.read_csv_table` returns; when given, no file is read.
    """
    grid = time_grid(spec)
    reader = _SeriesReader(case_dir, spec.horizon.timezone, grid, tables)
    net = spec.network
    btc_price = reader.values(net.btc_price_usd, "network.btc_price_usd", positive=True)
    checks.check_btc_price_plausible(btc_price, "network.btc_price_usd")
    fees = reader.values(net.fees_btc_per_block, "network.fees_btc_per_block", nonnegative=True)
    heights = market.projected_block_height(net.block_height, grid.hours_since_start, net.blocks_per_day)
    if net.network_hashrate_ehs is not None:
        hashrate = reader.values(net.network_hashrate_ehs, "network.network_hashrate_ehs", positive=True)
        given, difficulty = isinstance(net.network_hashrate_ehs, SeriesRef), market.difficulty_from_hashrate(hashrate)
    else:
        given = isinstance(net.difficulty, SeriesRef)
        difficulty = reader.values(net.difficulty, "network.difficulty", positive=True)
    if not given:
        difficulty = market.projected_difficulty(difficulty[0], net.block_height, heights, net.difficulty_change_per_epoch)
    checks.check_difficulty_at_least_one(difficulty, "network.network_hashrate_ehs" if net.network_hashrate_ehs is not None else "network.difficulty")
    network = network_path(btc_price, difficulty, fees, heights, market.block_subsidy_btc(heights), grid.hours, net.pool_fee)
    spot = {
        site.name: reader.values(site.power.spot_usd_per_mwh, f"sites[{i}].power.spot_usd_per_mwh")
        for i, site in enumerate(spec.sites)
    }
    for i, site in enumerate(spec.sites):
        checks.check_spot_price_in_usd_per_mwh(spot[site.name], f"sites[{i}].power.spot_usd_per_mwh")
    checks.check_covenant_reachable(spec, btc_price, network.btc_per_th)
    demand_response = {
        (site.name, product.name): reader.values(product.price_usd_per_mw_hour, f"sites[{i}].power.demand_response[{j}].price_usd_per_mw_hour", nonnegative=True)
        for i, site in enumerate(spec.sites)
        for j, product in enumerate(site.power.demand_response)
    }
    return Case(spec=spec, grid=grid, network=network, spot_usd_per_mwh=spot, source=source, demand_response_price_usd_per_mw_hour=demand_response)


def time_grid(spec: CaseSpec) -> TimeGrid:
    """Dispatch period boundaries: fixed-length steps, or local calendar days for ``1d``."""
    h = spec.horizon
    start = checks.localize(h.start, h.timezone, "horizon.start")
    end = checks.localize(h.end, h.timezone, "horizon.end")
    if h.resolution_minutes == 1440:
        days = pd.date_range(start.tz_convert(h.timezone).tz_localize(None), end.tz_convert(h.timezone).tz_localize(None), freq="D")
        boundaries = days.tz_localize(h.timezone, nonexistent="shift_forward", ambiguous=True).tz_convert("UTC")
    else:
        boundaries = pd.date_range(start, end, freq=pd.Timedelta(minutes=h.resolution_minutes))
    return TimeGrid(boundaries_utc=pd.DatetimeIndex(boundaries), timezone=h.timezone)


def coarsened(case: Case, resolution: str) -> Case:
    """The case on a coarser dispatch clock, for a screening solve (see :func:`merged`)."""
    spec = case.spec.model_copy(update={"horizon": case.spec.horizon.model_copy(update={"resolution": resolution})})
    grid = time_grid(spec)
    fine = case.grid
    if not np.isin(grid.boundaries_utc.asi8, fine.boundaries_utc.asi8).all():
        raise ValueError(f"the {resolution} periods do not nest the {case.spec.horizon.resolution} ones")
    position = np.searchsorted(grid.boundaries_utc.asi8, fine.start_utc.asi8, side="right") - 1
    return merged(case, spec, grid, position)


def merged(case: Case, spec: CaseSpec, grid: TimeGrid, position: np.ndarray, site_position: Mapping[str, np.ndarray] | None = None) -> Case:
    """The case on ``grid``, whose period ``position[t]`` holds the case's period t.

    Every per-period array is averaged over the periods each merged period holds, weighted
    by their hours: the exact mean of the series, as reading them at that resolution gives.
    The one amount earned over a period, ``btc_per_th``, is summed instead: a day earns what
    its hours earn (averaged, a day's screening model mined one 24th of the BTC). A site in
    ``site_position`` has its spot prices merged by its own map instead of ``position``.
    """
    fine = case.grid

    def mean(values: np.ndarray, where: np.ndarray = position) -> np.ndarray:
        hours = np.bincount(where, weights=fine.hours, minlength=grid.n_periods)
        return np.bincount(where, weights=values * fine.hours, minlength=grid.n_periods) / hours

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(position, weights=values, minlength=grid.n_periods)

    own = site_position or {}
    return Case(
        spec=spec,
        grid=grid,
        network=NetworkPath(**{name: (total if name == "btc_per_th" else mean)(values) for name, values in vars(case.network).items()}),
        spot_usd_per_mwh={site: mean(values, own.get(site, position)) for site, values in case.spot_usd_per_mwh.items()},
        source=case.source,
        demand_response_price_usd_per_mw_hour={key: mean(values) for key, values in case.demand_response_price_usd_per_mw_hour.items()},
    )


def price_blocked(case: Case, blocks_per_day: int, apart: Mapping[str, np.ndarray] | None = None) -> tuple[Case, dict[str, np.ndarray]]:
    """The case with each site-day's hours merged into price blocks, and each site's map to them.

    A day is first cut where the period length, the BTC price or the BTC earned per TH/s
    changes (a price path stepping at UTC midnight cuts a local day in two), so that every
    hour of a block earns and is valued alike. Each part gets ``blocks_per_day`` blocks in
    proportion to its hours (at least one). In a part, each site ranks its hours by its own
    spot price and block j holds the ranks [c_j, c_j+1); the cuts c are common to the sites
    (so block j is as long at every site, and one period of the blocked clock) and chosen to
    minimise the squared deviation of the sites' prices from their block means (an exact
    1-D partition by dynamic programming). With ``apart``, a site's ranks are also cut wherever
    any row of ``apart[site]`` changes from one rank to the next (by more than
    ``APART_TOLERANCE``, relative): hours a plan runs differently are never merged. Each
    block is one period, placed inside its part, so days and months are unchanged.

    Running the same machines in every hour of a site's block is then a restriction of the
    hourly model that loses nothing in the coefficients: a block's spot price is its hours'
    mean, its ``btc_per_th`` their sum, and the BTC price and period length are its hours'.

    Parameters
    ----------
    case : Case
        The hourly (or finer) case.
    blocks_per_day : int
        Price blocks per local day, before any cut ``apart`` adds [-].
    apart : mapping of str to numpy.ndarray, optional
        Per site, values (rows) per period (columns) whose changes must fall between blocks,
        e.g. the machines a relaxation runs in each hour [any unit].

    Returns
    -------
    Case
        The case on the blocked clock.
    dict of str to numpy.ndarray
        Per site: the blocked period of each of the case's periods [-].
    """
    grid = case.grid
    sites = list(case.spot_usd_per_mwh)
    prices = np.column_stack([case.spot_usd_per_mwh[site] for site in sites])
    hours = grid.hours
    alike = np.column_stack([hours, case.network.btc_price_usd, case.network.btc_per_th])
    day = grid.day_of_period
    starts_part = np.ones(grid.n_periods, dtype=bool)
    starts_part[1:] = (day[1:] != day[:-1]) | np.any(alike[1:] != alike[:-1], axis=1)
    starts = np.flatnonzero(starts_part)
    ends = np.append(starts[1:], grid.n_periods)
    periods_of_day = np.bincount(day)
    position = np.empty((len(sites), grid.n_periods), dtype=np.int64)
    every_site = np.arange(len(sites))[None, :]
    boundaries = [grid.boundaries_utc[0]]
    for start, end in zip(starts.tolist(), ends.tolist()):
        part = np.arange(start, end)
        blocks = max(1, round(blocks_per_day * len(part) / periods_of_day[day[start]]))
        ranked = np.argsort(prices[part], axis=0, kind="stable")
        cuts = _rank_cuts(np.take_along_axis(prices[part], ranked, axis=0), blocks)
        if apart is not None:
            extra = [_changes(apart[site][:, part[ranked[:, s]]]) for s, site in enumerate(sites)]
            cuts = sorted(set(cuts).union(*extra))
        for low, high in zip(cuts[:-1], cuts[1:]):
            position[every_site, part[ranked[low:high]]] = len(boundaries) - 1
            boundaries.append(boundaries[-1] + pd.Timedelta(hours=float(hours[part[low:high]].sum())))
    blocked = TimeGrid(boundaries_utc=pd.DatetimeIndex(boundaries), timezone=grid.timezone)
    by_site = {site: position[s] for s, site in enumerate(sites)}
    return merged(case, case.spec, blocked, position[0], by_site), by_site


def _changes(values: np.ndarray) -> list[int]:
    """Columns j of ``values`` (rows x ranks) at which some row differs from column j - 1 by more than the tolerance."""
    step = np.abs(np.diff(values, axis=1)) > APART_TOLERANCE * np.maximum(1.0, np.abs(values[:, 1:]))
    return (np.flatnonzero(step.any(axis=0)) + 1).tolist()


def _rank_cuts(ranked: np.ndarray, blocks: int) -> list[int]:
    """Cuts 0 = c_0 < ... < c_k = n of the rows of ``ranked`` (n ranks x sites) into k groups of least squared deviation."""
    n = len(ranked)
    blocks = min(blocks, n)
    total = np.vstack([np.zeros(ranked.shape[1]), np.cumsum(ranked, axis=0)])
    squares = np.concatenate([[0.0], np.cumsum((ranked**2).sum(axis=1))])
    count = np.arange(n + 1)
    length = (count[None, :] - count[:, None]).astype(float)
    sums = total[None, :, :] - total[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        # deviation[i, j]: squared deviation of ranks i..j-1 from their means (infinite unless i < j)
        deviation = np.where(length > 0, squares[None, :] - squares[:, None] - (sums**2).sum(axis=2) / length, np.inf)
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    starts = []
    for _ in range(blocks):
        candidates = best[:, None] + deviation
        starts.append(np.argmin(candidates, axis=0))
        best = candidates[starts[-1], count]
    cuts = [n]
    for start in reversed(starts):
        cuts.append(int(start[cuts[-1]]))
    return cuts[::-1]


class _SeriesReader:
    """Reads each referenced CSV once (or takes the tables given) and averages its columns onto the dispatch periods."""

    def __init__(self, case_dir: Path, timezone: str, grid: TimeGrid, given: Mapping[SeriesRef, pd.DataFrame] | None = None):
        self.case_dir = case_dir
        self.timezone = timezone
        self.grid = grid
        self._tables: dict[Path, pd.DataFrame] = {}
        self._given = given

    def values(self, value: float | SeriesRef, field: str, positive: bool = False, nonnegative: bool = False) -> np.ndarray:
        """A constant broadcast to every period, or a validated series averaged per period."""
        if not isinstance(value, SeriesRef):
            return np.full(self.grid.n_periods, float(value))
        series = self.step_series(value, field)
        if positive:
            checks.check_values_positive(series.values, series.lines, f"{field} = {value.file}:{value.column}")
        if nonnegative:
            checks.check_values_nonnegative(series.values, series.lines, f"{field} = {value.file}:{value.column}")
        return period_average(series, self.grid.boundaries_utc)

    def step_series(self, ref: SeriesRef, field: str) -> StepSeries:
        where = f"{field} = {ref.file}:{ref.column}"
        table = self._csv_table(ref, where) if self._given is None else self._given_table(ref, where)
        series = read_step_series(table, ref.column, self.timezone, where)
        checks.check_series_covers_horizon(
            series.stamps_utc, series.end_utc, series.lines, self.grid.boundaries_utc[0], self.grid.boundaries_utc[-1], where
        )
        return series

    def _csv_table(self, ref: SeriesRef, where: str) -> pd.DataFrame:
        path = self.case_dir / ref.file
        checks.check_series_path_inside_case(path, self.case_dir, where)
        checks.check_series_file_exists(path, where)
        if path not in self._tables:
            self._tables[path] = read_csv_table(path, where)
        return self._tables[path]

    def _given_table(self, ref: SeriesRef, where: str) -> pd.DataFrame:
        if ref not in self._given:
            known = sorted(f"{r.file}:{r.column}" for r in self._given)
            raise SeriesFileError(where, f"no series {ref.column!r} in {ref.file}", f"refer to one of {known}")
        return self._given[ref]


# --- pydantic errors in the user's words -------------------------------------------------


def schema_error(exc: pydantic.ValidationError, root: type[pydantic.BaseModel] = CaseSpec, prefix: str = "") -> SchemaError:
    """The first schema violation as a :class:`SchemaError` naming field and fix.

    ``root`` is the schema that was validated and ``prefix`` is put before the field's path
    (e.g. the file it came from).
    """
    error = _most_relevant(exc.errors())
    loc = [part for part in error["loc"] if not _is_union_tag(part)]
    field = prefix + _dotted(loc)
    # an error on a whole list entry (debt[0]) is described by its list (debt)
    named = loc[:-1] if loc and isinstance(loc[-1], int) else loc
    name = str(named[-1]) if named else "case"
    described = f"{name}: {_description(named, root)}"
    kind = error["type"]
    ctx = error.get("ctx", {})
    given = f" (got {error['input']!r})" if kind not in ("missing", "extra_forbidden") and not isinstance(error["input"], dict) else ""
    if kind == "missing":
        return SchemaError(field, "required field is missing", f"add it ({described})")
    if kind == "extra_forbidden":
        allowed = _allowed_fields(loc[:-1], root)
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        return SchemaError(field, f"unknown field `{name}`", f"{hint}remove it or correct the spelling; fields allowed here: {', '.join(allowed)}")
    limits = {"greater_than": "> {gt}", "greater_than_equal": ">= {ge}", "less_than": "< {lt}", "less_than_equal": "<= {le}"}
    if kind in limits:
        bound = limits[kind].format(**{k: f"{v:g}" if isinstance(v, (int, float)) else v for k, v in ctx.items()})
        return SchemaError(field, f"must be {bound}{given}", f"give a value {bound} ({described})")
    if kind.startswith(("float", "int", "finite")):
        whole = "a whole number" if kind.startswith("int") else "a finite number"
        return SchemaError(field, f"{error['msg'].lower()}{given}", f"give {whole} ({described})")
    if kind == "value_error":
        problem = error["msg"].removeprefix("Value error, ")
        return SchemaError(field, f"{problem}{given}", f"give a value as the schema describes ({described})")
    if kind == "too_short":
        return SchemaError(field, "must have at least one entry", f"add an entry ({described})")
    return SchemaError(field, f"{error['msg']}{given}", f"see `hashplan schema` ({described})")


def _most_relevant(errors: list[dict]) -> dict:
    """The error to report: a misspelt field first (it explains a "missing" one), and for a
    number-or-series field the branch that matches what was written."""
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    first = unknown[0] if unknown else errors[0]
    if not any(_is_union_tag(part) for part in first["loc"]):
        return first
    wants_series = isinstance(first["input"], dict) or "SeriesRef" in first["loc"]
    for error in errors:
        if ("SeriesRef" in error["loc"]) == wants_series:
            return error
    return first


_SCHEMA_CLASSES = {name for name, obj in vars(schema).items() if isinstance(obj, type) and issubclass(obj, pydantic.BaseModel)}


def _is_union_tag(part) -> bool:
    """pydantic names the branch of a union in an error's location (float, FixedBlock, list[...])."""
    return isinstance(part, str) and (part in ("float", "int") or part in _SCHEMA_CLASSES or "[" in part or part.startswith("constrained-"))


def _dotted(loc: list) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "case"


def _schema_class_at(loc: list, root: type[pydantic.BaseModel]):
    """The pydantic model class that holds the field at ``loc`` (None when not a model)."""
    cls: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        info = getattr(cls, "model_fields", {}).get(part)
        if info is None:
            return None
        cls = _model_in(info.annotation)
    return cls


def _model_in(annotation):
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _description(loc: list, root: type[pydantic.BaseModel]) -> str:
    parent = _schema_class_at(loc[:-1], root)
    info = getattr(parent, "model_fields", {}).get(loc[-1]) if loc else None
    return info.description if info is not None and info.description else "see `hashplan schema`"


def _allowed_fields(loc: list, root: type[pydantic.BaseModel]) -> list[str]:
    cls = _schema_class_at(loc, root)
    return list(getattr(cls, "model_fields", {}))
