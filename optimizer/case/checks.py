"""Validation rules, one ``check_*`` per rule, run before any model is built.

Each check raises a typed :class:`~optimizer.case.errors.CaseError` naming the field, the
row (CSV line or timestamp) where relevant, and the fix.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import yaml

from optimizer.case.errors import PlausibilityError, SchemaError, SeriesError, SeriesFileError, UnknownNameError
from optimizer.case.schema import CaseSpec, resolution_minutes

MIN_PLAUSIBLE_J_PER_TH = 5.0
"""Below this a machine is more efficient than any ASIC made: power was likely given in kW [J/TH]."""

MAX_PLAUSIBLE_J_PER_TH = 200.0
"""Above this a machine is worse than an S9-era miner: hashrate was likely given in PH/s [J/TH]."""


MAX_CASE_FILE_BYTES = 5_000_000
"""Largest case YAML file read [bytes]; series belong in CSV files."""

MAX_YAML_NODES = 100_000
"""Most YAML nodes a case may expand to once aliases are followed [-]."""

MAX_SERIES_FILE_BYTES = 200_000_000
"""Largest time-series CSV read [bytes]: about 4 million rows of a few columns."""

MAX_DISPATCH_PERIODS = 100_000
"""Most dispatch periods in a horizon [-]: 11 years hourly, 2.8 years at 15 minutes."""

MAX_SITES = 50
"""Most sites in a case [-]."""

MAX_MINER_MODELS = 100
"""Most machine models in a case [-]."""

MAX_CLASS_PERIODS = 3_000_000
"""Most machine classes (site x model x mode) times dispatch periods [-]. A year hourly of 3
sites x 12 models (315,360) peaks at about 1 GB, so this is about 10 GB on a 24 GB machine."""

MAX_SCENARIOS = 1_000
"""Most scenarios in one pack [-]."""


def quoted(value, limit: int = 60) -> str:
    """A value for a one-line message: its repr, cut short (an unclosed CSV quote can swallow a file)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "...'"


def csv_line(lines: np.ndarray, position: int) -> str:
    """The file line of the data row at ``position``; ``lines`` holds each row's line number."""
    return f"line {int(lines[position])}"


# --- rules on the case itself -------------------------------------------------------------


def check_unique_names(spec: CaseSpec) -> None:
    """Site names, model names and mode names within a model are unique (`stock` is taken)."""
    groups = [("miner_models", [m.name for m in spec.miner_models]), ("sites", [s.name for s in spec.sites])]
    for i, model in enumerate(spec.miner_models):
        groups.append((f"miner_models[{i}].modes", [mode.name for mode in model.modes]))
    for field, names in groups:
        seen = {"stock"} if field.endswith("modes") else set()
        for j, name in enumerate(names):
            if name in seen:
                taken = " (`stock` is the nameplate mode)" if name == "stock" and field.endswith("modes") else ""
                raise SchemaError(f"{field}[{j}].name", f"name {name!r} is already used{taken}", "give each entry its own name")
            seen.add(name)


def check_difficulty_given_once(spec: CaseSpec) -> None:
    """Exactly one of ``network.difficulty`` and ``network.network_hashrate_ehs`` is given."""
    given = [spec.network.difficulty is not None, spec.network.network_hashrate_ehs is not None]
    if all(given):
        raise SchemaError(
            "network.difficulty", "both difficulty and network_hashrate_ehs are given", "remove one of them"
        )
    if not any(given):
        raise SchemaError(
            "network.difficulty",
            "neither difficulty nor network_hashrate_ehs is given",
            "add `difficulty` (e.g. 1.25e14) or `network_hashrate_ehs` (e.g. 900)",
        )


def check_timezone_known(spec: CaseSpec) -> None:
    """The horizon's time zone is an IANA name."""
    try:
        ZoneInfo(spec.horizon.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise SchemaError(
            "horizon.timezone",
            f"unknown time zone {spec.horizon.timezone!r}",
            "use an IANA name such as America/Chicago or UTC",
        ) from None


def localize(instant, timezone: str, field: str) -> pd.Timestamp:
    """An instant from the case as a UTC timestamp; naive instants are local to ``timezone``."""
    stamp = pd.Timestamp(instant)
    if stamp.tzinfo is not None:
        return stamp.tz_convert("UTC")
    try:
        return stamp.tz_localize(timezone, nonexistent="raise", ambiguous="raise").tz_convert("UTC")
    except Exception:  # pytz/zoneinfo raise different classes for the two DST cases
        raise SchemaError(
            field,
            f"{stamp} does not exist or is ambiguous in {timezone} (daylight-saving change)",
            "give the instant with its UTC offset, e.g. 2026-03-08T03:00-05:00",
        ) from None


def check_horizon_order(spec: CaseSpec) -> None:
    """The horizon ends after it starts."""
    start = localize(spec.horizon.start, spec.horizon.timezone, "horizon.start")
    end = localize(spec.horizon.end, spec.horizon.timezone, "horizon.end")
    if end <= start:
        raise SchemaError("horizon.end", f"{spec.horizon.end} is not after start {spec.horizon.start}", "set end after start")


def check_horizon_whole_periods(spec: CaseSpec) -> None:
    """The horizon is a whole number of dispatch periods (sub-daily) or of local days (1d)."""
    h = spec.horizon
    if h.resolution_minutes == 1440:
        for field, instant in (("horizon.start", h.start), ("horizon.end", h.end)):
            local = localize(instant, h.timezone, field).tz_convert(h.timezone)
            if local != local.normalize():
                raise SchemaError(field, f"{instant} is not a local midnight", "start and end daily horizons at 00:00")
        return
    length = localize(h.end, h.timezone, "horizon.end") - localize(h.start, h.timezone, "horizon.start")
    if length % pd.Timedelta(minutes=h.resolution_minutes):
        raise SchemaError(
            "horizon.end",
            f"the horizon ({length}) is not a whole number of {h.resolution} periods",
            "move end so that end - start is a multiple of the resolution",
        )


def check_fleet_references(spec: CaseSpec) -> None:
    """Every fleet entry names a defined site and machine model."""
    sites = {s.name for s in spec.sites}
    models = {m.name for m in spec.miner_models}
    for i, entry in enumerate(spec.fleet):
        if entry.site not in sites:
            raise UnknownNameError(
                f"fleet[{i}].site", f"unknown site {entry.site!r}", f"use one of {sorted(sites)} or add the site to `sites`"
            )
        if entry.model not in models:
            raise UnknownNameError(
                f"fleet[{i}].model",
                f"unknown machine model {entry.model!r}",
                f"use one of {sorted(models)} or add it to `miner_models`",
            )


def check_fleet_unique(spec: CaseSpec) -> None:
    """Each (site, model) pair appears once in the fleet."""
    seen: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(spec.fleet):
        key = (entry.site, entry.model)
        if key in seen:
            raise SchemaError(
                f"fleet[{i}]",
                f"{entry.model} at {entry.site} is already listed as fleet[{seen[key]}]",
                "merge the two entries into one count",
            )
        seen[key] = i


def check_renewal_references(spec: CaseSpec) -> None:
    """Every purchase, retirement and HPC offer names a defined site (and machine model)."""
    sites = {s.name for s in spec.sites}
    models = {m.name for m in spec.miner_models}
    entries = [(f"purchases[{i}]", p.site, p.model) for i, p in enumerate(spec.purchases)]
    entries += [(f"retirements[{i}]", r.site, r.model) for i, r in enumerate(spec.retirements)]
    entries += [(f"hpc[{i}]", h.site, None) for i, h in enumerate(spec.hpc)]
    for field, site, model in entries:
        if site not in sites:
            raise UnknownNameError(f"{field}.site", f"unknown site {site!r}", f"use one of {sorted(sites)} or add the site to `sites`")
        if model is not None and model not in models:
            raise UnknownNameError(f"{field}.model", f"unknown machine model {model!r}", f"use one of {sorted(models)} or add it to `miner_models`")


def check_purchase_terms(spec: CaseSpec) -> None:
    """Each purchase has one price (its own or the model's) and commits to no more than it may buy."""
    models = {m.name: m for m in spec.miner_models}
    for i, purchase in enumerate(spec.purchases):
        if purchase.price_usd is not None and purchase.price_usd_per_th is not None:
            raise SchemaError(f"purchases[{i}]", "both price_usd and price_usd_per_th are given", "give one price")
        if purchase.price_usd is None and purchase.price_usd_per_th is None and models[purchase.model].price_usd is None:
            raise SchemaError(
                f"purchases[{i}].price_usd",
                f"no price for {purchase.model}: the purchase and the machine model give none",
                f"add price_usd or price_usd_per_th to the purchase, or price_usd to miner model {purchase.model}",
            )
        if purchase.min_units > purchase.max_units:
            raise SchemaError(f"purchases[{i}].min_units", f"{purchase.min_units} committed is above max_units {purchase.max_units}", "lower min_units or raise max_units")


def check_retirements_of_installed_machines(spec: CaseSpec) -> None:
    """A retirement names machines the site has or may buy, once per site and model."""
    present = {(e.site, e.model) for e in spec.fleet} | {(p.site, p.model) for p in spec.purchases}
    seen: dict[tuple[str, str], int] = {}
    for i, retirement in enumerate(spec.retirements):
        key = (retirement.site, retirement.model)
        if key not in present:
            raise SchemaError(
                f"retirements[{i}]",
                f"there are no {retirement.model} machines at {retirement.site} to retire",
                "add them to `fleet` or `purchases`, or remove the retirement",
            )
        if key in seen:
            raise SchemaError(f"retirements[{i}]", f"{retirement.model} at {retirement.site} is already listed as retirements[{seen[key]}]", "merge the two entries")
        seen[key] = i


def check_orders_arrive_in_horizon(spec: CaseSpec) -> None:
    """An order or conversion placed on the first day arrives before the horizon ends."""
    first, last = _horizon_days(spec)
    days = (last - first).days + 1
    leads = [(f"purchases[{i}].lead_time_days", p.lead_time_days) for i, p in enumerate(spec.purchases)]
    leads += [(f"hpc[{i}].lead_time_days", h.lead_time_days) for i, h in enumerate(spec.hpc)]
    for field, lead in leads:
        if lead >= days:
            raise SchemaError(field, f"{lead} days is not shorter than the {days}-day horizon, so nothing ordered would arrive in it", "shorten the lead time or extend the horizon")


def check_hpc_offers(spec: CaseSpec) -> None:
    """One HPC offer per site; a hall fits the offer and the offer fits the interconnect."""
    interconnect = {s.name: s.interconnect_mw for s in spec.sites}
    seen: dict[str, int] = {}
    for i, offer in enumerate(spec.hpc):
        if offer.site in seen:
            raise SchemaError(f"hpc[{i}].site", f"site {offer.site!r} already has hpc[{seen[offer.site]}]", "merge the offers into one")
        seen[offer.site] = i
        if offer.block_mw > offer.max_mw:
            raise SchemaError(f"hpc[{i}].block_mw", f"a {offer.block_mw:g} MW hall is larger than max_mw {offer.max_mw:g}", "lower block_mw or raise max_mw")
        if offer.max_mw > interconnect[offer.site]:
            raise SchemaError(
                f"hpc[{i}].max_mw", f"{offer.max_mw:g} MW is more than the site's {interconnect[offer.site]:g} MW interconnect", "lower max_mw to at most the interconnect"
            )


def check_renewal_without_demand_response(spec: CaseSpec) -> None:
    """Demand response is not offered at a site whose fleet or hosting the plan changes.

    Its deployment limit is the starting fleet's nameplate, and tenant load cannot be curtailed.
    """
    changing = {p.site for p in spec.purchases} | {r.site for r in spec.retirements} | {h.site for h in spec.hpc}
    for i, site in enumerate(spec.sites):
        if site.power.demand_response and site.name in changing:
            raise SchemaError(
                f"sites[{i}].power.demand_response",
                f"site {site.name!r} has purchases, retirements or hpc, which demand response does not yet support",
                "plan the demand response in a case without them, or move them to another site",
            )


def check_screening_resolution(spec: CaseSpec) -> None:
    """A screening solve runs on whole multiples of the dispatch period."""
    screening = spec.solver.screening_resolution
    if screening is None:
        return
    minutes = resolution_minutes(screening)
    if minutes <= spec.horizon.resolution_minutes or minutes % spec.horizon.resolution_minutes:
        raise SchemaError(
            "solver.screening_resolution",
            f"{screening} is not a whole multiple, above one, of the horizon's {spec.horizon.resolution}",
            "use a coarser resolution that the dispatch period divides, e.g. 1d, or remove it",
        )


def check_price_blocks_interchangeable(spec: CaseSpec) -> None:
    """Price blocks merge a site-day's hours, so no input may tell those hours apart but their prices.

    4CP intervals, demand-response windows, switching limits and fixed blocks bound to hours of
    the day are exactly where hours stop being interchangeable (DESIGN.md).
    """
    if spec.solver.price_blocks_per_day is None:
        return
    if spec.horizon.resolution_minutes >= 1440:
        raise SchemaError(
            "solver.price_blocks_per_day",
            f"price blocks merge the hours of a day, but the horizon's periods are {spec.horizon.resolution} long",
            "remove solver.price_blocks_per_day, or use an hourly (or finer) horizon.resolution",
        )
    fix = "remove solver.price_blocks_per_day to solve hour by hour"
    for i, site in enumerate(spec.sites):
        power = site.power
        found = [
            ("four_cp", "a 4CP charge on given intervals", power.four_cp is not None),
            ("demand_response", "demand-response windows", bool(power.demand_response)),
            ("anti_cycling", "switching limits between consecutive periods", power.anti_cycling is not None),
            ("fixed_block", "a fixed block bound to hours of the day", any(b.hours is not None for b in power.fixed_blocks)),
        ]
        for field, what, present in found:
            if present:
                raise SchemaError(
                    f"sites[{i}].power.{field}",
                    f"site {site.name!r} has {what}, which tells hours apart by more than their price, so they cannot be merged into price blocks",
                    f"{fix}, or remove {field} from the site",
                )


def check_machine_efficiency_plausible(spec: CaseSpec) -> None:
    """Every model and mode has an efficiency between 5 and 200 J/TH (catches kW for W, PH for TH)."""
    for i, model in enumerate(spec.miner_models):
        points = [(f"miner_models[{i}]", model.power_w, model.hashrate_th)]
        points += [(f"miner_models[{i}].modes[{j}]", m.power_w, m.hashrate_th) for j, m in enumerate(model.modes)]
        for field, power_w, hashrate_th in points:
            j_per_th = power_w / hashrate_th
            if j_per_th < MIN_PLAUSIBLE_J_PER_TH:
                raise PlausibilityError(
                    f"{field}.power_w",
                    f"{power_w:g} W for {hashrate_th:g} TH/s is {j_per_th:.3g} J/TH, below any real ASIC",
                    f"give power in watts, not kW (e.g. {power_w * 1000:g})",
                )
            if j_per_th > MAX_PLAUSIBLE_J_PER_TH:
                raise PlausibilityError(
                    f"{field}.hashrate_th",
                    f"{hashrate_th:g} TH/s at {power_w:g} W is {j_per_th:.3g} J/TH, worse than any ASIC in use",
                    f"give hashrate in TH/s, not PH/s (e.g. {hashrate_th * 1000:g})",
                )


def check_treasury_sections(spec: CaseSpec) -> None:
    """Debt, opex and objective options are part of the treasury plan, which needs `treasury`."""
    if spec.treasury is not None:
        return
    for field, given in (("debt", bool(spec.debt)), ("opex", spec.opex is not None), ("objective", spec.objective is not None)):
        if given:
            raise SchemaError(
                field,
                f"`{field}` is given but there is no `treasury` section, so nothing would pay or value it",
                "add `treasury: {btc: ..., cash_usd: ...}` or remove this section",
            )


def _horizon_days(spec: CaseSpec) -> tuple:
    """First and last local calendar day that a dispatch period starts on."""
    h = spec.horizon
    start = localize(h.start, h.timezone, "horizon.start").tz_convert(h.timezone)
    last = (localize(h.end, h.timezone, "horizon.end") - pd.Timedelta(microseconds=1)).tz_convert(h.timezone)
    return start.date(), last.date()


def check_debt_dates_in_horizon(spec: CaseSpec) -> None:
    """Every debt payment falls on a day of the horizon."""
    first, last = _horizon_days(spec)
    for i, payment in enumerate(spec.debt):
        if not first <= payment.date <= last:
            raise SchemaError(
                f"debt[{i}].date",
                f"{payment.name} is due on {payment.date}, outside the horizon {first} to {last}",
                "move the date inside the horizon, extend the horizon, or remove the payment",
            )


def check_covenant_dates_in_horizon(spec: CaseSpec) -> None:
    """Every covenant test date is a day of the horizon."""
    if spec.treasury is None or spec.treasury.covenant_dates is None:
        return
    first, last = _horizon_days(spec)
    for i, day in enumerate(spec.treasury.covenant_dates):
        if not first <= day <= last:
            raise SchemaError(
                f"treasury.covenant_dates[{i}]",
                f"{day} is outside the horizon {first} to {last}",
                "give test dates inside the horizon",
            )


def _inside(spec: CaseSpec, instant, field: str) -> pd.Timestamp:
    """An instant of the case as UTC, raising if it lies outside the horizon."""
    h = spec.horizon
    stamp = localize(instant, h.timezone, field)
    if not localize(h.start, h.timezone, "horizon.start") <= stamp < localize(h.end, h.timezone, "horizon.end"):
        raise SchemaError(field, f"{instant} is outside the horizon {h.start} to {h.end}", "give an instant inside the horizon")
    return stamp


def check_four_cp_intervals(spec: CaseSpec) -> None:
    """4CP intervals lie in the horizon, some are given, and each month's probabilities sum to at most 1."""
    for i, site in enumerate(spec.sites):
        four_cp = site.power.four_cp
        if four_cp is None:
            continue
        field = f"sites[{i}].power.four_cp"
        if not four_cp.intervals and not four_cp.candidates:
            raise SchemaError(field, "no intervals or candidates given", "list the peak `intervals`, or `candidates` with probabilities")
        for j, instant in enumerate(four_cp.intervals):
            _inside(spec, instant, f"{field}.intervals[{j}]")
        by_month: dict[tuple[int, int], float] = {}
        for j, candidate in enumerate(four_cp.candidates):
            _inside(spec, candidate.interval, f"{field}.candidates[{j}].interval")
            month = (candidate.interval.year, candidate.interval.month)
            by_month[month] = by_month.get(month, 0.0) + candidate.probability
            if by_month[month] > 1.0 + 1e-9:
                raise SchemaError(
                    f"{field}.candidates[{j}].probability",
                    f"the probabilities for {month[0]}-{month[1]:02d} add up to {by_month[month]:g}, more than 1",
                    "make each month's candidate probabilities sum to 1 or less",
                )


def check_demand_response_terms(spec: CaseSpec) -> None:
    """Demand-response products have unique names per site, terms inside the horizon, deployments inside their terms."""
    for i, site in enumerate(spec.sites):
        seen = set()
        for j, product in enumerate(site.power.demand_response):
            field = f"sites[{i}].power.demand_response[{j}]"
            if product.name in seen:
                raise SchemaError(f"{field}.name", f"product {product.name!r} is already listed for this site", "give each product its own name")
            seen.add(product.name)
            start = _inside(spec, product.start, f"{field}.start") if product.start else localize(spec.horizon.start, spec.horizon.timezone, "horizon.start")
            end = localize(product.end, spec.horizon.timezone, f"{field}.end") if product.end else localize(spec.horizon.end, spec.horizon.timezone, "horizon.end")
            if end <= start:
                raise SchemaError(f"{field}.end", f"the term ends at {product.end}, not after it starts", "set end after start")
            for k, instant in enumerate(product.deployments):
                stamp = _inside(spec, instant, f"{field}.deployments[{k}]")
                if not start <= stamp < end:
                    raise SchemaError(f"{field}.deployments[{k}]", f"{instant} is outside the product's term", "give deployments inside the term")
                if product.hours is not None and stamp.tz_convert(spec.horizon.timezone).hour not in product.hours:
                    raise SchemaError(
                        f"{field}.deployments[{k}]",
                        f"{instant} is outside the product's obligation hours {product.hours}",
                        "a product is deployed only in hours it is committed: fix the time or the hours",
                    )


def check_model_size(spec: CaseSpec) -> None:
    """The case stays within the documented limits, so it fails here and not by running out of memory."""
    h = spec.horizon
    hours = (localize(h.end, h.timezone, "horizon.end") - localize(h.start, h.timezone, "horizon.start")) / pd.Timedelta(hours=1)
    periods = int(round(hours * 60 / h.resolution_minutes))
    modes = {m.name: 1 + len(m.modes) for m in spec.miner_models}
    groups = dict.fromkeys([(e.site, e.model) for e in spec.fleet] + [(p.site, p.model) for p in spec.purchases])
    classes = sum(modes.get(model, 1) for _, model in groups)
    for field, value, limit, fix in (
        ("horizon", periods, MAX_DISPATCH_PERIODS, "shorten the horizon or use a coarser resolution"),
        ("sites", len(spec.sites), MAX_SITES, "split the case by region"),
        ("miner_models", len(spec.miner_models), MAX_MINER_MODELS, "merge models with the same hashrate and power"),
        ("fleet", classes * periods, MAX_CLASS_PERIODS, "shorten the horizon, use a coarser resolution, or merge machine models"),
    ):
        if value > limit:
            what = "machine classes x dispatch periods" if field == "fleet" else ("dispatch periods" if field == "horizon" else "entries")
            raise SchemaError(field, f"{value:,} {what}, above the limit of {limit:,}", fix)


def check_file_size(path: Path, limit: int, field: str) -> None:
    """An input file is no larger than its documented limit (checked before it is read)."""
    size = path.stat().st_size
    if size > limit:
        raise SeriesFileError(field, f"{path.name} is {size / 1e6:,.1f} MB, above the limit of {limit / 1e6:,.0f} MB", "split the file or shorten the series to the horizon")


def check_yaml_expansion(node: yaml.Node, name: str) -> None:
    """A YAML document does not expand, through its aliases, to more than MAX_YAML_NODES nodes."""
    sizes: dict[int, int] = {}

    def size(item: yaml.Node) -> int:
        if id(item) in sizes:  # an alias: the subtree counts again each time it is used
            return sizes[id(item)]
        sizes[id(item)] = 1  # a recursive alias counts once while its subtree is being sized
        if isinstance(item, yaml.MappingNode):
            children = [child for pair in item.value for child in pair]
        elif isinstance(item, yaml.SequenceNode):
            children = item.value
        else:
            children = []
        total = 1 + sum(size(child) for child in children)
        if total > MAX_YAML_NODES:
            raise SchemaError(
                name,
                f"the YAML expands to more than {MAX_YAML_NODES:,} values through its anchors and aliases",
                "write the case out without chains of aliases",
            )
        sizes[id(item)] = total
        return total

    size(node)


def check_btc_floor_within_holdings(spec: CaseSpec) -> None:
    """The board's BTC floor is not above the BTC held at the start (it would be breached from day one)."""
    treasury = spec.treasury
    if treasury is not None and treasury.min_btc > treasury.btc:
        raise SchemaError(
            "treasury.min_btc",
            f"the floor of {treasury.min_btc:,.2f} BTC is above the {treasury.btc:,.2f} BTC held at the start",
            "lower min_btc to at most treasury.btc, or correct the holdings",
        )


CASE_CHECKS = (
    check_timezone_known,
    check_model_size,
    check_unique_names,
    check_difficulty_given_once,
    check_horizon_order,
    check_horizon_whole_periods,
    check_fleet_references,
    check_fleet_unique,
    check_renewal_references,
    check_purchase_terms,
    check_retirements_of_installed_machines,
    check_orders_arrive_in_horizon,
    check_hpc_offers,
    check_renewal_without_demand_response,
    check_screening_resolution,
    check_price_blocks_interchangeable,
    check_machine_efficiency_plausible,
    check_treasury_sections,
    check_debt_dates_in_horizon,
    check_covenant_dates_in_horizon,
    check_four_cp_intervals,
    check_demand_response_terms,
    check_btc_floor_within_holdings,
)
"""Rules on the parsed case, in the order they run."""


# --- rules on time-series files -----------------------------------------------------------


def check_series_path_inside_case(path: Path, case_dir: Path, field: str) -> None:
    """A series file lies inside the case's folder (a case never reads files elsewhere)."""
    try:
        inside = path.resolve().is_relative_to(case_dir.resolve())
    except (OSError, ValueError) as exc:
        raise SeriesFileError(field, f"the file name cannot be used ({exc})", "give a plain file name relative to the case folder") from None
    if not inside:
        raise SeriesFileError(
            field, f"{path} is outside the case folder {case_dir}", "copy the CSV into the case folder and refer to it by a relative path"
        )


def check_series_file_exists(path: Path, field: str) -> None:
    """A series file exists and is a regular file."""
    try:
        exists = path.exists()
    except (OSError, ValueError) as exc:
        raise SeriesFileError(field, f"the file name cannot be used ({exc})", "give a plain file name relative to the case folder") from None
    if not exists:
        raise SeriesFileError(field, f"file {path} not found", "check the file name, relative to the case file's folder")
    if not path.is_file():
        raise SeriesFileError(field, f"{path} is a directory, not a CSV file", "point `file` at a CSV file")


def check_series_header(frame: pd.DataFrame, column: str, field: str) -> None:
    """The CSV's first column is ``timestamp`` and the referenced column exists."""
    if frame.columns[0].strip().lower() != "timestamp":
        raise SeriesFileError(
            field, f"first column is {frame.columns[0]!r}, not 'timestamp'", "name the first column `timestamp`"
        )
    repeated = [name for name, n in Counter(frame.columns).items() if n > 1]
    if repeated:
        raise SeriesFileError(field, f"column {repeated[0]!r} appears more than once in the header", "give each column its own name")
    if column not in frame.columns[1:]:
        raise SeriesFileError(
            field, f"no column {column!r}", f"use one of {list(frame.columns[1:])} or correct `column`"
        )


def has_utc_offset(text: str) -> bool:
    """Whether an ISO 8601 timestamp carries a UTC offset (``Z``, ``-05:00``, ``T05Z``, ``T0500-0500``)."""
    return pd.Timestamp(text).tzinfo is not None


def check_series_has_rows(table: pd.DataFrame, field: str) -> None:
    """The file has data rows (blank lines between them are ignored)."""
    if table.empty:
        raise SeriesFileError(field, "the file has a header but no rows", "add the time series rows")


def check_timestamps_parse(raw: pd.Series, field: str) -> None:
    """Every timestamp is an ISO 8601 date or date-time."""
    parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601", utc=True)
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        raise SeriesError(
            field,
            f"timestamp {quoted(raw.iloc[bad[0]])} is missing or not ISO 8601",
            "write timestamps like 2023-07-01T00:00 or 2023-07-01T00:00-05:00",
            row=csv_line(raw.index, bad[0]),
        )


def check_offsets_consistent(raw: pd.Series, offsets: np.ndarray, field: str) -> None:
    """Timestamps either all carry a UTC offset or none does."""
    if offsets.any() and not offsets.all():
        first = int(np.flatnonzero(offsets != offsets[0])[0])
        raise SeriesError(
            field,
            f"timestamp {raw.iloc[first]!r} {'has' if offsets[first] else 'lacks'} a UTC offset, unlike {raw.iloc[0]!r} on the first row",
            "give every timestamp an offset, or none (then they are read in the horizon's time zone)",
            row=csv_line(raw.index, first),
        )


def check_local_times_exist(naive: pd.DatetimeIndex, raw: pd.Series, timezone: str, field: str) -> None:
    """No naive timestamp falls in the hour skipped when clocks spring forward."""
    localized = naive.tz_localize(timezone, nonexistent="NaT", ambiguous=np.ones(len(naive), dtype=bool))
    missing = np.flatnonzero(localized.isna())
    if missing.size:
        raise SeriesError(
            field,
            f"{raw.iloc[missing[0]]} does not exist in {timezone} (clocks spring forward)",
            "drop that row, or write timestamps with UTC offsets",
            row=csv_line(raw.index, missing[0]),
        )


def check_no_repeated_local_times(naive: pd.DatetimeIndex, raw: pd.Series, timezone: str, field: str) -> None:
    """A naive timestamp that is ambiguous (the fall-back hour) appears at most once."""
    ambiguous = naive.tz_localize(timezone, nonexistent="NaT", ambiguous="NaT").isna()
    counts = Counter(naive[ambiguous])
    repeated = [stamp for stamp, n in counts.items() if n > 1]
    if repeated:
        position = int(np.flatnonzero(naive == repeated[0])[1])
        raise SeriesError(
            field,
            f"{raw.iloc[position]} appears twice: in {timezone} that hour repeats when clocks fall back, so the rows are ambiguous",
            "write these timestamps with UTC offsets (e.g. 01:00-05:00 and 01:00-06:00)",
            row=csv_line(raw.index, position),
        )


def check_timestamps_unique(stamps: pd.DatetimeIndex, raw: pd.Series, field: str) -> None:
    """No instant appears twice."""
    duplicated = np.flatnonzero(stamps.duplicated())
    if duplicated.size:
        row = duplicated[0]
        raise SeriesError(field, f"timestamp {raw.iloc[row]} is the same instant as an earlier row", "remove the duplicate row", row=csv_line(raw.index, row))


def check_timestamps_sorted(stamps: pd.DatetimeIndex, raw: pd.Series, field: str) -> None:
    """Timestamps increase row by row."""
    backwards = np.flatnonzero(np.diff(stamps.asi8) < 0)
    if backwards.size:
        row = backwards[0] + 1
        raise SeriesError(
            field, f"timestamp {raw.iloc[row]} comes before the row above it", "sort the file by timestamp", row=csv_line(raw.index, row)
        )


GAP_FACTOR = 1.5
"""A step this many times the series's usual (median) step or longer is a gap of missing rows [-].

Months (28-31 days) and daylight-saving days (23-25 hours) stay well within it.
"""


def check_no_gaps(stamps: pd.DatetimeIndex, raw: pd.Series, timezone: str, field: str) -> None:
    """Rows are evenly spaced: a missing row would otherwise hold the value before it silently.

    A step counts as a gap only if it is long both in UTC and on the local wall clock: the
    spring-forward hour is 2 h on the wall clock but 1 h in UTC, and a fall-back hour listed
    once (read as held through both hours) is 2 h in UTC but 1 h on the wall clock.
    """
    if len(stamps) < 3:
        return
    wall = stamps.tz_convert(timezone).tz_localize(None)
    steps, wall_steps = stamps[1:] - stamps[:-1], wall[1:] - wall[:-1]
    usual = steps.median()
    long = np.flatnonzero((steps >= GAP_FACTOR * usual) & (wall_steps >= GAP_FACTOR * wall_steps.median()))
    if long.size:
        row = long[0] + 1
        raise SeriesError(
            field,
            f"rows are missing between {raw.iloc[row - 1]} and {raw.iloc[row]} "
            f"({steps[row - 1] / usual:g} times the usual step of {usual / pd.Timedelta(hours=1):g} h)",
            "add the missing rows; each value holds only until the next timestamp",
            row=csv_line(raw.index, row),
        )


MAX_SERIES_MAGNITUDE = 1e15
"""Largest magnitude of a series value [its unit]: above it averaging overflows (no real price is near)."""


def check_values_finite(values: pd.Series, field: str) -> None:
    """Every value is a finite number (no blanks, text, NaN or inf) of a sane magnitude."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~(np.abs(numbers) <= MAX_SERIES_MAGNITUDE))
    if bad.size:
        raise SeriesError(
            field, f"value {quoted(values.iloc[bad[0]])} is missing or not a finite number", "fill in a number", row=csv_line(values.index, bad[0])
        )


def check_at_least_two_rows(raw: pd.Series, field: str) -> None:
    """A series has two rows or more: the last value holds for one more step of the same length."""
    if len(raw) < 2:
        raise SeriesError(field, "a series needs at least two rows", "add rows, or give the field a number instead of a series", row=csv_line(raw.index, 0))


def check_series_covers_horizon(stamps: pd.DatetimeIndex, series_end: pd.Timestamp, lines: np.ndarray, start: pd.Timestamp, end: pd.Timestamp, field: str) -> None:
    """The series starts at or before the horizon start and lasts until its end."""
    if stamps[0] > start:
        raise SeriesError(
            field,
            f"series starts at {stamps[0]}, after the horizon start {start}",
            "add rows from the horizon start, or start the horizon later",
            row=csv_line(lines, 0),
        )
    if series_end < end:
        raise SeriesError(
            field,
            f"series ends at {series_end} (last row plus one step), before the horizon end {end}",
            "add rows up to the horizon end, or end the horizon earlier",
            row=csv_line(lines, len(stamps) - 1),
        )


def check_values_nonnegative(values: np.ndarray, lines: np.ndarray, field: str) -> None:
    """Values that cannot be negative (fees) are not."""
    negative = np.flatnonzero(values < 0)
    if negative.size:
        raise SeriesError(field, f"value {values[negative[0]]:g} is negative", "fix the value", row=csv_line(lines, negative[0]))


def check_values_positive(values: np.ndarray, lines: np.ndarray, field: str) -> None:
    """Values that must be strictly positive (BTC price, difficulty, hashrate) are."""
    bad = np.flatnonzero(values <= 0)
    if bad.size:
        raise SeriesError(field, f"value {values[bad[0]]:g} is not positive", "fix the value", row=csv_line(lines, bad[0]))


# --- rules on the prepared case (values in the wrong unit, impossible policies) ------------

MIN_PLAUSIBLE_BTC_PRICE_USD = 100.0
"""Below this a BTC price was likely given in thousands of USD [USD/BTC]."""

MAX_PLAUSIBLE_BTC_PRICE_USD = 10_000_000.0
"""Above this a BTC price was likely given in cents [USD/BTC]."""


def check_btc_price_plausible(prices: np.ndarray, field: str) -> None:
    """BTC prices are in USD, not thousands of USD or cents."""
    low, high = float(prices.min()), float(prices.max())
    if low < MIN_PLAUSIBLE_BTC_PRICE_USD:
        raise PlausibilityError(field, f"a BTC price of {low:,.4g} USD is implausible", f"give USD per BTC, not thousands (e.g. {low * 1000:,.0f})")
    if high > MAX_PLAUSIBLE_BTC_PRICE_USD:
        raise PlausibilityError(field, f"a BTC price of {high:,.0f} USD is implausible", f"give USD per BTC, not cents (e.g. {high / 100:,.0f})")


def check_difficulty_at_least_one(difficulty: np.ndarray, field: str) -> None:
    """Difficulty is at least 1, the protocol's minimum."""
    if float(difficulty.min()) < 1.0:
        raise PlausibilityError(field, f"difficulty {float(difficulty.min()):.3g} is below the protocol's minimum of 1", "give the network difficulty, e.g. 1.25e14")


def check_spot_price_in_usd_per_mwh(prices: np.ndarray, field: str) -> None:
    """Power prices are in USD/MWh: a median above 0 but below $1/MWh means USD/kWh was given (0 is free power)."""
    median = float(np.median(np.abs(prices)))
    if 0.0 < median < 1.0:
        raise PlausibilityError(
            field,
            f"the median power price is {median:,.4g} USD/MWh, below any real market",
            f"give USD per MWh, not per kWh (e.g. {median * 1000:,.2f})",
        )


def check_covenant_reachable(spec: CaseSpec, btc_price: np.ndarray, btc_per_th: np.ndarray) -> None:
    """The minimum cash is not above all the cash the plan could ever have.

    The most is the opening cash, plus every BTC held and mined (the whole fleet at nameplate,
    every period) sold at the horizon's highest BTC price, with no costs at all.
    """
    treasury = spec.treasury
    if treasury is None or treasury.min_cash_usd == 0:
        return
    models = {m.name: m for m in spec.miner_models}
    fleet_th = sum(entry.count * max([models[entry.model].hashrate_th] + [m.hashrate_th for m in models[entry.model].modes]) for entry in spec.fleet)
    most = treasury.cash_usd + (treasury.btc + fleet_th * float(btc_per_th.sum())) * float(btc_price.max())
    if treasury.min_cash_usd > most:
        raise SchemaError(
            "treasury.min_cash_usd",
            f"the covenant of ${treasury.min_cash_usd:,.2f} is above the ${most:,.2f} the plan could ever hold "
            "(all cash, and every BTC held and mined sold at the highest price)",
            "check the covenant's unit and amount, or the treasury's balances",
        )
