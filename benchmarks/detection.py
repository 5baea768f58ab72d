"""Detection quality on the labelled real curves (tests/data/curves), replayed every N steps.

Prints the detection rate, the median detection latency in steps, and the number of
`unsure` verdicts on healthy runs (each would cost one LLM review), then every miss.

Run: `.venv/bin/python benchmarks/detection.py [--every 100] [--folder DIR]`
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.scoring import CURVES, score_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--folder", type=Path, default=CURVES)
    parser.add_argument("--verbose", action="store_true", help="one line per run")
    args = parser.parse_args()
    start = time.perf_counter()
    score = score_corpus(args.folder, args.every)
    print(score.summary())
    print(f"({time.perf_counter() - start:.1f} s)")
    for problem in score.problems:
        print("  MISS", problem)
    if args.verbose:
        for run in score.runs:
            where = f"onset={run.onset} latency={run.latency} unsure={run.unsure}"
            print(f"  {run.label:<9} {run.file:<48} {where}")


if __name__ == "__main__":
    main()
