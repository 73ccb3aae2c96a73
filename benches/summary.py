"""Shared by the benchmark scripts' summaries: reading a run's JSON reports and writing a
median with its spread."""

import json
import pathlib
import statistics


def load(out, row, mode):
    """The reports `ROW.MODE.N.json` in the directory `out`, in run order."""
    return [json.loads(p.read_text()) for p in sorted(pathlib.Path(out).glob(f"{row}.{mode}.*.json"))]


def spread(values, fmt="{:,.0f}".format):
    """`median (min-max)` of `values`, each written with `fmt`."""
    values = sorted(values)
    return f"{fmt(statistics.median(values))} ({fmt(values[0])}-{fmt(values[-1])})"
