"""Does the local stack stay fast and small as it runs? Login cost against table size, RSS.

Two figures, each a ratio measured in one stack process:

- **Cost independent of size**: the stack's CPU per login (all its threads, read from ``/proc``)
  with ``small`` items in the table, then with ``large`` items (filler items written in batches
  by an outside client, under their own partition keys). Target: large / small <= 1.2.
- **Bounded memory**: the stack's resident set (``VmRSS``) after ``first`` logins and after
  ``second`` logins in all. The issue's figure is 1,000 against 10,000 logins; the default here
  is 200 against 2,000 (the same ratio of counts, a fifth of the time on this shared machine),
  and both are recorded. Each login adds its own items to the table (a token family, a token,
  an audit record), which is data, not a leak; the RSS is reported beside the item count.
  Target: second / first <= 1.5.

    python -m bench.scaling [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from typing import Any

from bench.client import ApiClient
from bench.stack import StackProcess
from bench.throughput import Sessions

SIZE_TARGET = 1.2
MEMORY_TARGET = 1.5


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc status")


def _dynamodb(stack: StackProcess) -> Any:
    import boto3

    return boto3.client(
        "dynamodb",
        endpoint_url=stack.info["aws_endpoint"],
        region_name=stack.info["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - the local cloud's dummy key
    )


def fill(stack: StackProcess, table: str, count: int) -> None:
    """Write ``count`` filler items (about the size of a user item) from outside the stack."""
    client = _dynamodb(stack)
    run = uuid.uuid4().hex[:8]
    for first in range(0, count, 25):
        client.batch_write_item(
            RequestItems={
                table: [
                    {
                        "PutRequest": {
                            "Item": {
                                "pk": {"S": f"BENCHFILL#{run}#{n}"},
                                "sk": {"S": "FILL"},
                                "payload": {"S": "x" * 200},
                            }
                        }
                    }
                    for n in range(first, min(first + 25, count))
                ]
            }
        )


def item_count(stack: StackProcess, table: str) -> int:
    pages = _dynamodb(stack).get_paginator("scan").paginate(TableName=table, Select="COUNT")
    return sum(page["Count"] for page in pages)


def cpu_per_login_ms(stack: StackProcess, sessions: Sessions, logins: int) -> float:
    before = stack.cpu_seconds()
    failures = sum(not sessions.login(0) for _ in range(logins))
    if failures:
        raise RuntimeError(f"{failures} of {logins} bench logins failed")
    return (stack.cpu_seconds() - before) * 1000 / logins


def measure(
    stack: StackProcess,
    *,
    small: int = 100,
    large: int = 10_000,
    logins_per_point: int = 30,
    repeats: int = 3,
    first: int = 200,
    second: int = 2000,
) -> dict[str, Any]:
    table = stack.info["outputs"]["TableName"]
    api = ApiClient.of(stack.info)
    sessions = Sessions(api, 1)
    for _ in range(5):  # warm every handler and connection
        sessions.login(0)

    # Cost against size: fill to `small` items, measure; fill to `large`, measure (interleaving
    # is impossible: items cannot be taken away without a cost of their own).
    present = item_count(stack, table)
    fill(stack, table, max(0, small - present))
    at_small = [cpu_per_login_ms(stack, sessions, logins_per_point) for _ in range(repeats)]
    small_items = item_count(stack, table)
    fill(stack, table, max(0, large - small_items))
    large_items = item_count(stack, table)
    at_large = [cpu_per_login_ms(stack, sessions, logins_per_point) for _ in range(repeats)]
    size_ratio = statistics.median(at_large) / statistics.median(at_small)

    # Memory: RSS after `first` and after `second` logins in all (counting the ones above).
    done = 5 + 2 * repeats * logins_per_point
    began = time.perf_counter()
    for _ in range(max(0, first - done)):
        sessions.login(0)
    rss_first = rss_mib(stack.pid)
    items_first = item_count(stack, table)
    for _ in range(second - max(first, done)):
        sessions.login(0)
    rss_second = rss_mib(stack.pid)
    items_second = item_count(stack, table)
    memory_ratio = rss_second / rss_first
    return {
        "size": {
            "items_small": small_items,
            "items_large": large_items,
            "cpu_ms_per_login_small": at_small,
            "cpu_ms_per_login_large": at_large,
            "ratio": size_ratio,
            "target": SIZE_TARGET,
            "met": size_ratio <= SIZE_TARGET,
        },
        "memory": {
            "logins_first": first,
            "logins_second": second,
            "rss_mib_first": rss_first,
            "rss_mib_second": rss_second,
            "items_first": items_first,
            "items_second": items_second,
            "ratio": memory_ratio,
            "target": MEMORY_TARGET,
            "met": memory_ratio <= MEMORY_TARGET,
            "seconds": time.perf_counter() - began,
        },
    }


def report(result: dict[str, Any]) -> list[str]:
    size, memory = result["size"], result["memory"]
    return [
        "scaling: login CPU against table size, stack RSS against logins",
        f"  login CPU ms (median of {len(size['cpu_ms_per_login_small'])}): "
        f"{statistics.median(size['cpu_ms_per_login_small']):.1f} at {size['items_small']} items, "
        f"{statistics.median(size['cpu_ms_per_login_large']):.1f} at {size['items_large']} items: "
        f"ratio {size['ratio']:.2f} (target <= {size['target']}) "
        f"{'met' if size['met'] else 'NOT met'}",
        f"  RSS {memory['rss_mib_first']:.0f} MiB after {memory['logins_first']} logins "
        f"({memory['items_first']} items), {memory['rss_mib_second']:.0f} MiB after "
        f"{memory['logins_second']} ({memory['items_second']} items): ratio "
        f"{memory['ratio']:.2f} (target <= {memory['target']}) "
        f"{'met' if memory['met'] else 'NOT met'}",
    ]


def main(argv: list[str] | None = None) -> int:
    from bench.assembly import bench_assembly
    from bench.run import RESULTS_DIR

    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (smoke)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    args = parser.parse_args(argv)
    counts: dict[str, int] = (
        {"large": 2000, "logins_per_point": 10, "repeats": 1, "first": 50, "second": 200}
        if args.quick
        else {}
    )
    assembly = bench_assembly(fresh=False)
    with StackProcess(assembly.directory, RESULTS_DIR / "scaling-stack.log") as stack:
        result = measure(stack, **counts)
    print("\n".join(report(result)), flush=True)
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
