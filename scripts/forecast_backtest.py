"""Run the forecast backtest on the synthetic month and write docs/forecast-backtest.md.

.venv/bin/python scripts/forecast_backtest.py [--out docs/forecast-backtest.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway.forecast.backtest import BACKTEST_SCENARIO, run
from gateway.forecast.model import DEFAULT_PARAMS
from gateway.forecast.report import render


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/forecast-backtest.md"))
    args = parser.parse_args()
    args.out.write_text(render(run(BACKTEST_SCENARIO), DEFAULT_PARAMS))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
