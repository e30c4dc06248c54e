"""The case schema: what a user writes in ``case.yaml``, with units in every name.

The field names are the contract of DESIGN.md; every field carries a description with
its unit, which ``hashplan schema`` prints as JSON Schema.
"""

from __future__ import annotations

import re
import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_RESOLUTION_PATTERN = re.compile(r"^(\d+)\s*(min|h|d)$")
_RESOLUTION_MINUTES = {"min": 1, "h": 60, "d": 1440}


class _Strict(BaseModel):
    """Base: unknown fields are errors (a misspelt field must not be silently ignored), and so
    are booleans (YAML reads yes/no/on/off as booleans, which pydantic would take as 1 and 0)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans(cls, value):
        if isinstance(value, bool):
            raise ValueError("yes/no/true/false/on/off is a boolean, not a value here")
        return value


class SeriesRef(_Strict):
    """A time series in a CSV file next to the case."""

    file: str = Field(description="CSV path relative to the case file's folder; first column `timestamp`")
    column: str = Field(description="Name of the column that holds the values")


MAX_AMOUNT = 1e15
"""Largest magnitude of any number in a case [its unit]: above it sums overflow (no real amount is near)."""

PositiveOrSeries = Annotated[float, Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False)] | SeriesRef
NonNegativeOrSeries = Annotated[float, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)] | SeriesRef
AnyOrSeries = Annotated[float, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT, allow_inf_nan=False)] | SeriesRef


class Horizon(_Strict):
    """The planning window and the dispatch clock."""

    start: dt.datetime = Field(description="First instant planned [local time of `timezone` unless an offset is given]")
    end: dt.datetime = Field(description="End of the horizon, exclusive [local time unless an offset is given]")
    resolution: str = Field(
        default="1h",
        description="Dispatch period length: e.g. 15min, 30min, 1h, 4h, 1d; must divide a day",
    )
    timezone: str = Field(default="UTC", description="IANA time zone for naive timestamps, e.g. America/Chicago")

    @field_validator("resolution")
    @classmethod
    def _resolution_divides_a_day(cls, value: str) -> str:
        resolution_minutes(value)
        return value.strip()

    @property
    def resolution_minutes(self) -> int:
        """Length of one dispatch period [min]."""
        return resolution_minutes(self.resolution)


def resolution_minutes(value: str) -> int:
    """Minutes in a period written like 15min, 1h or 1d [min]; raises ValueError unless it divides a day."""
    match = _RESOLUTION_PATTERN.match(value.strip())
    if not match:
        raise ValueError("resolution must look like 15min, 1h, 4h or 1d")
    minutes = int(match[1]) * _RESOLUTION_MINUTES[match[2]]
    if minutes <= 0 or 1440 % minutes:
        raise ValueError("resolution must divide a day evenly (15min, 30min, 1h, 2h, 4h, 6h, 12h, 1d)")
    return minutes


class Network(_Strict):
    """Bitcoin network and market figures over the horizon."""

    btc_price_usd: PositiveOrSeries = Field(description="BTC price [USD/BTC]: a number or a series")
    difficulty: PositiveOrSeries | None = Field(
        default=None, description="Mining difficulty [-]: a number (projected per epoch) or a series"
    )
    network_hashrate_ehs: PositiveOrSeries | None = Field(
        default=None,
        description="Network hashrate [EH/s], converted to difficulty = hashrate x 600 s / 2^32; "
        "give this or `difficulty`, not both",
    )
    difficulty_change_per_epoch: float = Field(
        default=0.0,
        ge=-0.75,
        le=3.0,
        allow_inf_nan=False,
        description="Projected relative difficulty change per 2016-block epoch [-], used when difficulty "
        "is a number; the protocol clamps one retarget to [1/4, 4]x",
    )
    fees_btc_per_block: NonNegativeOrSeries = Field(
        default=0.0, description="Mean transaction fees per block [BTC/block]: a number or a series"
    )
    block_height: int = Field(
        ge=0, le=100_000_000, description="Block height at the horizon start [-]: sets the subsidy and any halving inside the horizon"
    )
    pool_fee: float = Field(
        default=0.0, ge=0.0, lt=1.0, allow_inf_nan=False, description="Pool fee as a fraction of mining revenue [-]"
    )
    blocks_per_day: float = Field(
        default=144.0,
        gt=0,
        le=10_000,
        allow_inf_nan=False,
        description="Block rate used to project the height (halvings, epochs) [blocks/day]",
    )


class MinerMode(_Strict):
    """An alternative operating point of a machine model (eco, overclock...)."""

    name: str = Field(min_length=1, description="Mode name, unique within the model; `stock` is the nameplate")
    hashrate_th: float = Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Hashrate per machine in this mode [TH/s]")
    power_w: float = Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Power per machine at the wall in this mode [W]")


class MinerModel(_Strict):
    """A machine model: nameplate (the `stock` mode) and optional other modes."""

    name: str = Field(min_length=1, description="Model name, unique in the case")
    hashrate_th: float = Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Nameplate hashrate per machine [TH/s]")
    power_w: float = Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Nameplate power per machine at the wall [W]")
    modes: list[MinerMode] = Field(default_factory=list, description="Extra operating modes besides `stock`")
    price_usd: float | None = Field(
        default=None, gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Price of a new machine [USD/unit]; used by `purchases` that give none"
    )
    resale_usd: float | None = Field(
        default=None, ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="What a retired machine sells for [USD/unit]; none: retired machines are scrapped"
    )
    availability: float = Field(
        default=1.0, gt=0, le=1, allow_inf_nan=False, description="Expected fraction of installed machines able to hash (failures, repairs) [-]"
    )
    degradation_per_month: float = Field(
        default=0.0, ge=0, lt=1, allow_inf_nan=False, description="Hashrate lost at each calendar month start after the horizon's first month, at the same power, compounding; machines bought later degrade alike [-/month]"
    )


HOURS_OF_DAY = Annotated[int, Field(ge=0, le=23)]


class FixedBlock(_Strict):
    """A take-or-pay block of energy at a fixed price; unused energy settles at spot."""

    mw: float = Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Block size, bought in every period it applies to [MW]")
    price_usd_per_mwh: float = Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT, allow_inf_nan=False, description="Block price [USD/MWh]")
    hours: list[HOURS_OF_DAY] | None = Field(
        default=None, description="Local hours of the day (0-23) the block applies to, e.g. 7-22 for on-peak; none: all hours"
    )


class FourCP(_Strict):
    """ERCOT-style 4CP transmission charge: the site's load in the system peak intervals x a rate."""

    rate_usd_per_kw_year: float = Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Transmission rate [USD/kW-year]")
    intervals: list[dt.datetime] = Field(
        default_factory=list, description="Known peak intervals [local time]: each weighs 1/N in the average load"
    )
    candidates: list["FourCPCandidate"] = Field(
        default_factory=list,
        description="Peak intervals not yet known, with probabilities; each month's probabilities sum to at most 1",
    )


class FourCPCandidate(_Strict):
    """A possible 4CP interval with the probability that it is the month's peak."""

    interval: dt.datetime = Field(description="Interval start [local time]")
    probability: float = Field(gt=0, le=1, allow_inf_nan=False, description="Probability that this is the month's peak [-]")


class DemandResponse(_Strict):
    """A demand-response or ancillary-service product the site's mining load can be offered into."""

    name: str = Field(min_length=1, description="Product name, e.g. ERS-30, RRS, ECRS, NSRS")
    kind: Literal["contract", "hourly"] = Field(
        description="`contract`: one MW figure committed for every obligation hour of the term (ERS); "
        "`hourly`: MW chosen period by period (RRS, ECRS, Non-Spin)"
    )
    max_mw: float = Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Most MW that may be committed [MW]")
    price_usd_per_mw_hour: NonNegativeOrSeries = Field(
        description="Capacity payment per MW committed per hour [USD/MW-h]: a number or a series"
    )
    start: dt.datetime | None = Field(default=None, description="Start of the term [local time]; none: the horizon start")
    end: dt.datetime | None = Field(default=None, description="End of the term, exclusive [local time]; none: the horizon end")
    hours: list[HOURS_OF_DAY] | None = Field(default=None, description="Local hours of the day under obligation; none: all")
    deployments: list[dt.datetime] = Field(
        default_factory=list, description="Deployment events [local time]: the committed MW are off in the period containing each"
    )


class AntiCycling(_Strict):
    """Limits on switching machines on and off, so the plan does not flap around break-even."""

    switching_cost_usd_per_mw: float = Field(
        default=0.0, ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Cost of each MW of machine load switched on or off [USD/MW]"
    )
    min_run_periods: int = Field(default=1, ge=1, description="A machine switched on stays on this many periods [periods]")
    min_off_periods: int = Field(default=1, ge=1, description="A machine switched off stays off this many periods [periods]")


class SitePower(_Strict):
    """How a site buys its power."""

    spot_usd_per_mwh: AnyOrSeries = Field(
        description="Spot (real-time) price at the site's node [USD/MWh]; a constant number is a flat retail rate"
    )
    settlement_point: str | None = Field(default=None, description="Name of the price node, e.g. LZ_WEST, shown in reports")
    adder_usd_per_mwh: float = Field(default=0.0, le=MAX_AMOUNT, ge=-MAX_AMOUNT, allow_inf_nan=False, description="Adders on every MWh consumed [USD/MWh]")
    delivery_usd_per_mwh: float = Field(
        default=0.0, le=MAX_AMOUNT, ge=-MAX_AMOUNT, allow_inf_nan=False, description="Transmission and distribution charges on every MWh consumed [USD/MWh]"
    )
    fixed_block: FixedBlock | list[FixedBlock] | None = Field(
        default=None, description="Take-or-pay fixed-price block(s): one mapping or a list"
    )
    four_cp: FourCP | None = Field(default=None, description="4CP transmission charge")
    demand_response: list[DemandResponse] = Field(default_factory=list, description="Demand-response and ancillary products")
    anti_cycling: AntiCycling | None = Field(default=None, description="Switching cost and minimum run/off times")

    @property
    def fixed_blocks(self) -> list[FixedBlock]:
        """The fixed-price blocks as a list."""
        if self.fixed_block is None:
            return []
        return self.fixed_block if isinstance(self.fixed_block, list) else [self.fixed_block]

    @property
    def per_mwh_charges_usd(self) -> float:
        """Adders plus delivery charges on every MWh consumed [USD/MWh]."""
        return self.adder_usd_per_mwh + self.delivery_usd_per_mwh


FourCP.model_rebuild()


class Site(_Strict):
    """A mining site behind one interconnect."""

    name: str = Field(min_length=1, description="Site name, unique in the case")
    interconnect_mw: float = Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Maximum site load incl. auxiliaries [MW]")
    aux_load_fraction: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        allow_inf_nan=False,
        description="Cooling and auxiliaries per MW of machine (IT) load [MW/MW]",
    )
    power: SitePower = Field(description="Power purchase terms")


class FleetEntry(_Strict):
    """Machines installed at a site."""

    site: str = Field(description="Site name (from `sites`)")
    model: str = Field(description="Machine model name (from `miner_models`)")
    count: int = Field(gt=0, description="Machines installed [units]")


class Purchase(_Strict):
    """An option to buy machines, ordered at the start of any month of the horizon."""

    site: str = Field(description="Site the machines are installed at (from `sites`)")
    model: str = Field(description="Machine model bought (from `miner_models`)")
    max_units: int = Field(gt=0, le=10_000_000, description="Most machines bought over the horizon [units]")
    min_units: int = Field(default=0, ge=0, le=10_000_000, description="Machines already committed to: bought over the horizon whatever the plan [units]")
    lead_time_days: int = Field(default=0, ge=0, le=3650, description="Days from order to hashing [d]")
    price_usd: float | None = Field(
        default=None, gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Price per machine [USD/unit]; none: `price_usd_per_th` or the model's `price_usd`"
    )
    price_usd_per_th: float | None = Field(
        default=None, gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Price per TH/s of nameplate hashrate [USD/(TH/s)]"
    )
    capex_paid: Literal["order", "delivery"] = Field(default="order", description="When the machines are paid for: on the order day or on delivery")


class Retirement(_Strict):
    """Machines of one model at one site that the plan may retire (sell at `resale_usd`, or scrap) at month starts."""

    site: str = Field(description="Site name (from `sites`)")
    model: str = Field(description="Machine model name (from `miner_models`)")
    max_units: int | None = Field(default=None, gt=0, le=10_000_000, description="Most machines retired over the horizon [units]; none: all")


class Hpc(_Strict):
    """An AI/HPC tenant's offer to lease converted halls at a site."""

    site: str = Field(description="Site whose interconnect the halls take (from `sites`)")
    max_mw: float = Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Most MW of interconnect converted [MW]")
    block_mw: float = Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Size of one hall: MW are converted in whole blocks [MW]")
    capex_usd_per_mw: float = Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Conversion capex, paid when the hall is ordered [USD/MW]")
    lead_time_days: int = Field(default=0, ge=0, le=3650, description="Days from the decision to the tenant's load starting [d]")
    rate_usd_per_kw_month: float = Field(
        ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Lease rate on the MW leased, take-or-pay [USD/kW-month]"
    )
    utilisation: float = Field(
        default=1.0, ge=0, le=1, allow_inf_nan=False, description="Contracted share of leased MW the tenant draws; the site pays that energy [-]"
    )
    terminal_value_usd_per_mw: float = Field(
        default=0.0,
        ge=0,
        le=MAX_AMOUNT,
        allow_inf_nan=False,
        description="Value put on a MW commissioned by the horizon's end, e.g. the discounted lease left to run; counted in the terminal value, not in cash [USD/MW]",
    )
    ramp: list[Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]] = Field(
        default_factory=list,
        description="Share of a hall leased in each month after commissioning, before it is fully leased, e.g. [0.25, 0.5, 0.75] [-]",
    )


class Solver(_Strict):
    """Solver options (HiGHS)."""

    time_limit_s: float = Field(default=120.0, gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Wall-clock limit [s]")
    mip_gap: float = Field(default=1e-3, ge=0, lt=1, allow_inf_nan=False, description="Relative optimality gap [-]")
    threads: int = Field(default=0, ge=0, le=256, description="Solver threads [-]; 0 lets HiGHS choose")
    integer_strategy: Literal["floor_and_repair", "integer"] = Field(
        default="floor_and_repair",
        description="Machine counts: `floor_and_repair` solves with continuous counts, floors them and "
        "re-solves with the counts fixed (gap certified by the first bound); `integer` solves a MIP",
    )
    integer_below_units: int = Field(
        default=50,
        ge=0,
        description="Machine classes with at most this many units installed keep integer counts [units]",
    )
    screening_resolution: str | None = Field(
        default=None,
        description="Dispatch period of a first, coarser solve whose choice of HPC halls is the first node the branch and "
        "bound on halls tries (e.g. 1d). none: the search starts from the LP relaxation",
    )

    price_blocks_per_day: int | None = Field(
        default=None,
        ge=1,
        le=24,
        description="Solve on each site-day's hours merged into this many price blocks, then write the plan out hour by "
        "hour and certify it against a bound on the hourly model (README: price blocks). none: solve the hours [-]",
    )

    @field_validator("screening_resolution")
    @classmethod
    def _screening_divides_a_day(cls, value: str | None) -> str | None:
        if value is None:
            return None
        resolution_minutes(value)
        return value.strip()


class Treasury(_Strict):
    """BTC and cash held, and the policy limits on them, rolled forward day by day."""

    btc: float = Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="BTC held at the horizon start [BTC]")
    cash_usd: float = Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Cash at the horizon start [USD]")
    min_cash_usd: float = Field(
        default=0.0, ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Minimum-cash covenant, tested on closing cash [USD]"
    )
    min_btc: float = Field(default=0.0, ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="BTC the board wants kept at every day's close [BTC]")
    max_sale_btc_per_day: float | None = Field(
        default=None, gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Most BTC the market can absorb in a day [BTC/day]; none: no limit"
    )
    sale_cost_bps: float = Field(
        default=0.0, ge=0, lt=10_000, allow_inf_nan=False, description="Cost of selling, fees and slippage [basis points of proceeds]"
    )
    no_sale_below_usd: float | None = Field(
        default=None, gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="No BTC is sold on a day whose BTC price is below this [USD/BTC]"
    )
    covenant_dates: list[dt.date] | None = Field(
        default=None, description="Days on which the minimum-cash covenant is tested [local dates]; none: every day"
    )


class DebtPayment(_Strict):
    """A scheduled debt payment, due on its date whatever the day of the week."""

    name: str = Field(min_length=1, description="What the payment is, e.g. `converts coupon`")
    date: dt.date = Field(description="Due date [local date], inside the horizon")
    amount_usd: float | None = Field(
        default=None, gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Amount due [USD]; or give interest_usd and principal_usd"
    )
    interest_usd: float | None = Field(default=None, ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Interest part [USD]")
    principal_usd: float | None = Field(default=None, ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Principal part [USD]")

    @model_validator(mode="after")
    def _amount_given_once(self) -> "DebtPayment":
        parts = [self.interest_usd, self.principal_usd]
        if self.amount_usd is None and None in parts:
            raise ValueError("give amount_usd, or both interest_usd and principal_usd")
        if self.amount_usd is not None and None not in parts and abs(sum(parts) - self.amount_usd) > 0.005:
            raise ValueError(f"interest_usd + principal_usd = {sum(parts):,.2f} differs from amount_usd = {self.amount_usd:,.2f}")
        return self

    @property
    def total_usd(self) -> float:
        """Amount due [USD]."""
        return self.amount_usd if self.amount_usd is not None else self.interest_usd + self.principal_usd


class Opex(_Strict):
    """Operating costs other than energy, paid from cash pro rata day by day."""

    fixed_usd_per_month: float = Field(default=0.0, ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Fixed costs: staff, rent, G&A [USD/month]")
    maintenance_usd_per_machine_month: float = Field(
        default=0.0, ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Maintenance per installed machine [USD/machine/month]"
    )


class ObjectiveOptions(_Strict):
    """How the plan is valued."""

    terminal_btc_haircut: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        allow_inf_nan=False,
        description="Discount on BTC still held at the end, valued at the last BTC price [-]",
    )


class CaseSpec(_Strict):
    """A hashplan case: horizon, network, machines, sites, fleet and solver options."""

    name: str = Field(min_length=1, description="Case name, shown in reports")
    horizon: Horizon = Field(description="Planning window and dispatch resolution")
    network: Network = Field(description="Bitcoin network and price figures")
    miner_models: list[MinerModel] = Field(min_length=1, description="Machine models used by the fleet")
    sites: list[Site] = Field(min_length=1, description="Sites and their power terms")
    fleet: list[FleetEntry] = Field(min_length=1, description="Installed machines per site and model")
    purchases: list[Purchase] = Field(default_factory=list, description="Options to buy machines, decided monthly")
    retirements: list[Retirement] = Field(default_factory=list, description="Installed machines the plan may retire, decided monthly")
    hpc: list[Hpc] = Field(default_factory=list, description="AI/HPC hosting offers: halls converted from mining, decided monthly")
    treasury: Treasury | None = Field(
        default=None, description="BTC and cash held and their limits; with it the plan maximises terminal value"
    )
    debt: list[DebtPayment] = Field(default_factory=list, description="Scheduled debt payments (needs `treasury`)")
    opex: Opex | None = Field(default=None, description="Operating costs other than energy (needs `treasury`)")
    objective: ObjectiveOptions | None = Field(default=None, description="Valuation options (need `treasury`)")
    solver: Solver = Field(default_factory=Solver, description="Solver options")
