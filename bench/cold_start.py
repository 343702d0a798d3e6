"""Cold-start cost of the Lambda authorizer's import, measured in fresh interpreters.

Runs ``python -c "import authorizer.handler"`` and a bare ``python -c pass`` several times
each (interleaved, in new processes), and prints the medians and their difference in ms. A
second figure adds what the first real request pays on top: importing boto3 and creating the
DynamoDB client.

    .venv/bin/python bench/cold_start.py [runs]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "pass"
AUTHORIZER = "import authorizer.handler"
FIRST_REQUEST = (
    "import os; os.environ.setdefault('AWS_DEFAULT_REGION', 'us-east-1'); "
    "import authorizer.handler; from steps.core.aws import client; client('dynamodb')"
)


def run_once(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)  # noqa: S603
    return (time.perf_counter() - start) * 1000


def medians(codes: list[str], runs: int) -> list[float]:
    for code in codes:  # warm the OS file cache and the .pyc files
        run_once(code)
    samples: list[list[float]] = [[] for _ in codes]
    for _ in range(runs):
        for i, code in enumerate(codes):
            samples[i].append(run_once(code))
    return [statistics.median(s) for s in samples]


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    bare, authorizer, first = medians([BASELINE, AUTHORIZER, FIRST_REQUEST], runs)
    print(f"runs per command: {runs} (medians)")
    print(f"python -c pass:                    {bare:7.1f} ms")
    print(f"import authorizer.handler:         {authorizer:7.1f} ms")
    print(f"authorizer import cost:            {authorizer - bare:7.1f} ms")
    print(f"+ boto3 DynamoDB client (1st req): {first - authorizer:7.1f} ms")


if __name__ == "__main__":
    main()
