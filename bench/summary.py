"""The latest results as Markdown tables, for BENCHMARKS.md.

python -m bench.summary [bench/results/latest.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.machine import host_speed_note
from bench.run import LATEST, verdicts


def _ratio(figures: dict[str, float], digits: int = 2) -> str:
    return f"{figures['median']:.{digits}f} (±{figures['spread_pct']:.0f} %)"


def machine_line(results: dict[str, Any]) -> str:
    m = results["machine"]
    line = (
        f"{m['cpu_model']}, {m['cores']} cores, {m['implementation']} {m['python']}, "
        f"{m['platform']}; run {m['date']} at commit {m['git_commit']}, load average "
        f"{m['load_average_at_start'][0]:.1f} at the start and "
        f"{m.get('load_average_at_end', [0.0])[0]:.1f} at the end; "
        f"{results['elapsed_s']:.0f} s in all"
    )
    readings = host_speed_readings(m)
    if not readings:  # results of runs made before the probe
        return line
    line += "; raw ES256 verify " + ", ".join(f"{v:.1f} µs {when}" for when, v in readings.items())
    moved = host_speed_note(readings)
    return f"{line}. **Warning**: {moved}." if moved else line


def host_speed_readings(machine: dict[str, Any]) -> dict[str, float]:
    """The run's readings of the host's speed, in order (runs before the per-part readings have
    the start and the end only; runs before the probe, none)."""
    if isinstance(machine.get("host_speed_us"), dict):
        return dict(machine["host_speed_us"])
    start, end = machine.get("host_speed_us_at_start"), machine.get("host_speed_us_at_end")
    if start is None or end is None:
        return {}
    return {"at the start": start, "at the end": end}


def login_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| clients | login/s | verify/s | wall ratio | logins per stack CPU-s | verifies per "
        "CPU-s | **per-core ratio** | latency ms | stack cores busy |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in results["throughput"]["login"]:
        lines.append(
            f"| {p['concurrency']} | {p['rate']['median']:.1f} | {p['floor_rate']['median']:.1f} "
            f"| {p['ratio_wall']['median']:.2f} | {p['per_cpu_s']['median']:.1f} "
            f"| {p['floor_per_cpu_s']['median']:.1f} | **{_ratio(p['ratio_per_core'])}** "
            f"| {p['latency_ms']['median']:.0f} | {p['stack_cores_busy']['median']:.2f} |"
        )
    return lines


def refresh_table(results: dict[str, Any]) -> list[str]:
    peer = results["throughput"]["keycloak_refreshes_per_vcpu"]
    lines = [
        "| clients | refresh/s | refreshes per stack CPU-s | vs Keycloak 120/vCPU | latency ms "
        "| stack cores busy |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for p in results["throughput"]["refresh"]:
        lines.append(
            f"| {p['concurrency']} | {p['rate']['median']:.1f} | {p['per_cpu_s']['median']:.1f} "
            f"| {p['per_cpu_s']['median'] / peer:.3f} | {p['latency_ms']['median']:.0f} "
            f"| {p['stack_cores_busy']['median']:.2f} |"
        )
    return lines


def step_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| handler | invocations | wall ms | CPU ms (its thread) | of which in-process AWS "
        "calls | on-AWS CPU ms | log bytes |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for handler, f in results["step_durations"].items():
        service = f"{f['service_cpu_ms']:.2f}" if "service_cpu_ms" in f else "–"
        on_aws = f"{f['on_aws_cpu_ms']:.2f}" if "on_aws_cpu_ms" in f else "–"
        lines.append(
            f"| `{handler}` | {f['invocations']:.0f} | {f['wall_ms']:.2f} | {f['cpu_ms']:.2f} "
            f"| {service} | {on_aws} | {f['log_bytes']:.0f} |"
        )
    return lines


def cold_start_table(results: dict[str, Any]) -> list[str]:
    cold = results["cold_start"]
    bare, bare_cpu = cold["bare_ms"], cold["bare_cpu_ms"]
    lines = [
        f"Bare interpreter: {bare_cpu['median']:.1f} ms CPU (±{bare_cpu['spread_pct']:.0f} %), "
        f"{bare['median']:.1f} ms wall (±{bare['spread_pct']:.0f} %); medians of "
        f"{cold['runs']} runs. Verdict on CPU time.",
        "",
        "| handler | import CPU ms | above bare (CPU) | × bare | above bare (wall) | target "
        "| met |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for handler, f in cold["handlers"].items():
        lines.append(
            f"| `{handler}` | {f['import_cpu_ms']['median']:.1f} | {f['above_bare_ms']:.1f} "
            f"| {f['ratio_to_bare']:.2f} | {f['above_bare_wall_ms']:.1f} "
            f"| ≤ {f['target_above_bare_ms']:.0f} | {'yes' if f['met'] else '**no**'} |"
        )
    if "authorizer_first_request_extra_ms" in cold:
        lines += [
            "",
            "The authorizer's first request adds "
            f"{cold['authorizer_first_request_extra_ms']:.0f} ms CPU (boto3 import and the "
            "DynamoDB client).",
        ]
    return lines


def authorizer_table(results: dict[str, Any]) -> list[str]:
    a = results["authorizer"]
    lines = [
        "| one thread, warm | per second | µs per call | ratio to raw (wall) |",
        "|---|---:|---:|---:|",
        f"| raw signature verify (`cryptography`) | {a['raw_rate']['median']:.0f} "
        f"| {a['raw_us']['median']:.1f} | 1 |",
        f"| `authorizer.handler.handler`, denylist GetItem on the local table "
        f"| {a['handler_rate']['median']:.0f} | {a['handler_us']['median']:.1f} "
        f"| **{_ratio(a['ratio_wall'], 3)}** |",
        f"| its verification without the denylist read (`verified_claims`) "
        f"| {a['claims_only_rate']['median']:.0f} | {a['claims_only_us']['median']:.1f} "
        f"| {_ratio(a['claims_only_ratio_wall'])} |",
        "",
        f"The denylist read (the DynamoDB client over HTTP to the stack process) costs the caller "
        f"{a.get('denylist_read_cpu_ms', {}).get('median', float('nan')):.2f} ms of CPU per call.",
        "",
        f"Per CPU-second of the calling process (the table server's CPU excluded) the handler's "
        f"ratio is {a['ratio_per_cpu']['median']:.3f}.",
    ]
    if "verification_cpu" in a:
        lines += [
            "",
            "The verification without the denylist read against the raw verify, CPU of one "
            "thread, the two called alternately (ratio of the medians per block, median of the "
            "blocks):",
            "",
            "| algorithm | raw verify µs | verification µs | **ratio** | blocks |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {alg} | {v['raw_us']['median']:.1f} | {v['verify_us']['median']:.1f} "
            f"| **{_ratio(v['ratio'], 3)}** | {v.get('blocks', v.get('rounds'))} |"
            for alg, v in a["verification_cpu"].items()
        ]
    if "denylist_read_in_process_cpu_ms" in a:
        lines += [
            "",
            "The denylist read in-process (the stack's thread, as the authorizer's role): "
            f"{a['denylist_read_in_process_cpu_ms']:.2f} ms of CPU per read, of which moto's "
            "answer (DynamoDB's side on AWS) "
            f"{a['denylist_read_in_process'].get('median_service_cpu_ms', 0.0):.2f} ms.",
        ]
    return lines


def overhead_table(results: dict[str, Any]) -> list[str]:
    o = results["localcloud_overhead"]
    hot = o["hot_spots_ms"]
    rows = [
        ("one API round trip to the local cloud (floor)", o["round_trip_ms"]),
        ("direct `lambda:Invoke` of a no-op (floor)", o["direct_invoke_ms"]),
        ("per execution, fixed", o["per_execution_fixed_ms"]),
        ("per Pass state", o["per_pass_state_ms"]),
        ("per Lambda Task state", o["per_task_state_ms"]),
        ("ASL parse of the Login definition (once per definition)", hot.get("login_definition", 0)),
        ("boto3 client creation (what the per-Task cache saves)", hot["boto3_client_creation"]),
    ]
    rows += [
        (f"ASL parse of `{name}`", ms)
        for name, ms in o.get("asl_parse_ms", {}).items()
        if not name.endswith("-Login")
    ]
    lines = ["| what | ms |", "|---|---:|"]
    lines += [f"| {what} | {ms:.2f} |" for what, ms in rows]
    lines += [
        "",
        f"A Lambda Task costs {o['task_over_direct_invoke']:.1f}× a direct invoke; boto3 clients "
        f"still created per Lambda Task: {o['clients_created_per_task']:.2f} (0 when the cache "
        "covers Tasks).",
    ]
    return lines


def load_table(results: dict[str, Any]) -> list[str]:
    load = results["load"]
    lines = [
        "| clients | seconds | requests | req/s | p50 ms | p99 ms | 5xx | 503 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in load["points"]:
        lines.append(
            f"| {p['clients']} | {p.get('seconds', load['seconds_per_point']):.0f} "
            f"| {p['requests']} | {p['throughput_per_s']:.1f} | {p['p50_ms']:.0f} "
            f"| {p['p99_ms']:.0f} | {p['status_5xx']} | {p['status_503']} |"
        )
    retried = {
        p["clients"]: {k: v for k, v in p["retries"].items() if "NoRetrier" not in k}
        for p in load["points"]
        if "retries" in p
    }
    if retried:
        lines += [
            "",
            "Task errors a Retry acted on, per point: "
            + "; ".join(f"{c} client(s): {r or 'none'}" for c, r in retried.items())
            + ".",
        ]
    return lines


def scaling_table(results: dict[str, Any]) -> list[str]:
    from bench.plot import _median_ms

    size, memory = results["scaling"]["size"], results["scaling"]["memory"]
    return [
        "| figure | small | large | ratio | target |",
        "|---|---:|---:|---:|---|",
        f"| stack CPU per login (median of repeats) "
        f"| {_median_ms(size['cpu_ms_per_login_small']):.1f} ms at {size['items_small']} items "
        f"| {_median_ms(size['cpu_ms_per_login_large']):.1f} ms at "
        f"{size['items_large']} items | **{size['ratio']:.2f}** | <= {size['target']} |",
        f"| stack RSS | {memory['rss_mib_first']:.0f} MiB after {memory['logins_first']} logins "
        f"({memory['items_first']} items) | {memory['rss_mib_second']:.0f} MiB after "
        f"{memory['logins_second']} logins ({memory['items_second']} items) "
        f"| **{memory['ratio']:.2f}** | <= {memory['target']} |",
    ]


def verdict_table(results: dict[str, Any]) -> list[str]:
    lines = ["| what | figure | target | verdict |", "|---|---:|---|---|"]
    for v in verdicts(results):  # recomputed: the current verdict rules on the stored figures
        word = "info" if v["met"] is None else "met" if v["met"] else "**not met**"
        spread = f" (±{v['spread_pct']:.0f} %)" if "spread_pct" in v else ""
        lines.append(f"| {v['what']} | {v['figure']}{spread} | {v['target']} | {word} |")
    return lines


def render(results: dict[str, Any]) -> str:
    sections = [
        ("Machine", [machine_line(results)]),
        ("Verdicts", verdict_table(results)),
        ("Login", login_table(results)),
        ("Refresh", refresh_table(results)),
        ("Authorizer", authorizer_table(results)),
        ("Load", load_table(results) if "load" in results else ["(not run)"]),
        ("Scaling", scaling_table(results) if "scaling" in results else ["(not run)"]),
        ("Local-cloud overhead", overhead_table(results)),
        ("Step durations (warm, one client)", step_table(results)),
        ("Cold start", cold_start_table(results)),
    ]
    return "\n\n".join(f"### {title}\n\n" + "\n".join(lines) for title, lines in sections)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else LATEST
    print(render(json.loads(path.read_text())))


if __name__ == "__main__":
    main()
