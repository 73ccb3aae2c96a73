"""Shared by the benchmark scripts' summaries: reading a run's JSON reports and writing a
median with its spread. The scripts run their summary as `python3 - RESULTS_DIR`."""

import json
import pathlib
import statistics
import sys


def load(row, mode, out=None):
    """The reports `ROW.MODE.N.json` in the results directory (the first argument), in run
    order."""
    out = pathlib.Path(out or sys.argv[1])
    return [json.loads(p.read_text()) for p in sorted(out.glob(f"{row}.{mode}.*.json"))]


def whole(v):
    """A figure without decimals, thousands separated."""
    return f"{v:,.0f}"


def one_dp(v):
    """A figure with one decimal, thousands separated."""
    return f"{v:,.1f}"


def spread(values, fmt=whole):
    """`median (min-max)` of `values`, each written with `fmt`."""
    values = sorted(values)
    return f"{fmt(statistics.median(values))} ({fmt(values[0])}-{fmt(values[-1])})"
