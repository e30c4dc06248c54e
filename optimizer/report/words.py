"""The plan in plain words, for the Summary sheet: sentences built from the results' figures."""

from __future__ import annotations

from optimizer.results import Results


def describe_plan(results: Results, first_day, last_day) -> list[str]:
    """A few sentences a board can read: what runs, what it earns and costs, what it sells, what fails.

    Parameters
    ----------
    results : Results
        The solved plan.
    first_day, last_day : datetime.date
        The horizon's first and last local day.
    """
    k = results.kpis
    lines = [
        f"From {first_day} to {last_day} the plan runs the fleet {k['uptime_fraction']:.1%} of the installed machine-hours "
        f"and mines {k['btc_mined']:,.2f} BTC, worth ${k['mining_revenue_usd']:,.0f} at each hour's price.",
        f"Energy costs ${k['energy_cost_usd']:,.0f}, an average of ${k['average_power_price_paid_usd_per_mwh'] or 0:,.2f}/MWh; "
        f"{k['curtailed_mwh']:,.0f} MWh are curtailed when power costs more than the machines earn.",
    ]
    cheapest_off = results.thresholds.sort_values("curtail_above_spot_usd_per_mwh").iloc[0]
    lines.append(
        f"The first machines to switch off are the {cheapest_off['model']} ({cheapest_off['mode']}) at {cheapest_off['site']}, "
        f"above ${cheapest_off['curtail_above_spot_usd_per_mwh']:,.2f}/MWh spot (Breakeven sheet, thresholds.csv)."
    )
    if k["four_cp_avoided_usd"] or k["four_cp_charge_usd"]:
        lines.append(f"Curtailing in the 4CP intervals avoids ${k['four_cp_avoided_usd']:,.0f} of transmission charges (charged: ${k['four_cp_charge_usd']:,.0f}).")
    if k["demand_response_revenue_usd"]:
        lines.append(f"Demand-response commitments earn ${k['demand_response_revenue_usd']:,.0f}.")
    if k["machines_bought"] or k["machines_retired"] or k["hpc_mw_converted"]:
        lines.append(
            f"It buys {k['machines_bought']:,} machines, retires {k['machines_retired']:,} for ${k['resale_proceeds_usd']:,.0f} "
            f"and converts {k['hpc_mw_converted']:,.1f} MW to AI/HPC hosting earning ${k['hosting_revenue_usd']:,.0f}; "
            f"capex ${k['capex_usd']:,.0f} (Fleet plan sheet)."
        )
    if "terminal_value_usd" in k:
        lines.append(
            f"It sells {k['btc_sold']:,.2f} BTC for ${k['sale_proceeds_usd']:,.0f} and ends with ${k['ending_cash_usd']:,.0f} cash "
            f"and {k['ending_btc']:,.2f} BTC, a terminal value of ${k['terminal_value_usd']:,.0f}."
        )
        if k["cash_cost_per_btc_usd"] is not None:
            lines.append(
                f"Each BTC mined costs ${k['cash_cost_per_btc_usd']:,.0f} in energy and opex, "
                f"${k['all_in_cost_per_btc_usd']:,.0f} with debt service."
            )
    shortfalls = k["shortfalls"]
    if shortfalls:
        lines.append(f"{len(shortfalls)} limit(s) cannot be met; see the shortfalls below.")
    elif "terminal_value_usd" in k:
        lines.append("Every debt payment, covenant and BTC floor is met.")
    return lines
