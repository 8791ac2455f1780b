"""Print the synthetic month of hourly spend as CSV (hour start, nanos): the backtest's data.

.venv/bin/python scripts/synthetic_ledger.py [--seed 19] > month.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import replace

from gateway.forecast.backtest import BACKTEST_SCENARIO
from gateway.forecast.synthetic import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=BACKTEST_SCENARIO.seed)
    args = parser.parse_args()
    month = generate(replace(BACKTEST_SCENARIO, seed=args.seed))
    writer = csv.writer(sys.stdout)
    writer.writerow(["hour_start", "nanos", "incident"])
    for hour, nanos in sorted(month.hourly.items()):
        incident = "runaway" if hour in month.runaway else "launch" if hour in month.launch else ""
        writer.writerow([hour.isoformat(), nanos, incident])


if __name__ == "__main__":
    main()
