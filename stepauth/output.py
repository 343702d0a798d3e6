"""How the operator commands print: aligned tables for people, JSON for scripts.

Conventions of every command: ``--output table|json`` (``--json`` is an alias); JSON is one
document per command (a list under a plural key, e.g. ``{"users": [...]}``), except ``audit
export``, which streams JSON lines for a SIEM; times are ISO 8601 in UTC with milliseconds
(``2026-01-02T03:04:05.678Z``) in tables and JSON alike.

Every value that came from outside (user agents, causes, names) goes through :func:`clean`
before it reaches a terminal, so a client cannot smuggle terminal escapes or line breaks into an
operator's screen. JSON output is left exact (``json.dumps`` escapes control characters).
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
OUTPUT_FORMATS = ("table", "json")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def parse_since(text: str) -> datetime.timedelta:
    """``90s``, ``30m``, ``1h``, ``7d``, ``2w`` (or combined: ``1d12h``) as a time span."""
    spec = text.strip().lower()
    parts = _DURATION.findall(spec)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != spec.replace(" ", ""):
        raise ValueError(f"'{text}' is not a duration like 30m, 1h, 7d or 2w")
    return datetime.timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in parts))


def clean(value: Any, limit: int | None = None) -> str:
    """Printable one-line text: control characters become '?', long text is cut with '…'."""
    text = "-" if value is None or value == "" else _CONTROL.sub("?", str(value))
    if limit is not None and len(text) > limit:
        return text[: max(limit - 1, 0)] + "…"
    return text


def utc(moment: datetime.datetime | None) -> str:
    """``2026-01-02T03:04:05.678Z``: ISO 8601 in UTC with milliseconds (``-`` for none).

    The one time format of the command line, in tables and JSON alike.
    """
    iso_text = iso(moment)
    return "-" if iso_text is None else iso_text


def iso(moment: datetime.datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and ``Z`` (None for none), for JSON."""
    if moment is None:
        return None
    moment = moment.astimezone(datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def from_epoch(seconds: float | None) -> datetime.datetime | None:
    if seconds is None:
        return None
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


def millis(duration_ms: int | None) -> str:
    """``212 ms`` / ``3.4 s`` (``-`` for none)."""
    if duration_ms is None:
        return "-"
    if duration_ms < 10_000:
        return f"{duration_ms} ms"
    return f"{duration_ms / 1000:.1f} s"


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    right: Iterable[int] = (),
    out: TextIO | None = None,
) -> int:
    """Print aligned columns (cells already cleaned by the caller); returns the row count."""
    stream = out or sys.stdout
    body = [[str(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    aligned = set(right)

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if index in aligned else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    print(line(list(headers)), file=stream)
    for row in body:
        print(line(row), file=stream)
    return len(body)


def json_lines(documents: Iterable[dict[str, Any]], out: TextIO | None = None) -> int:
    """One compact JSON document per line (a SIEM's usual input: ``audit export`` only);
    returns the count."""
    stream = out or sys.stdout
    count = 0
    for document in documents:
        print(json.dumps(document, separators=(",", ":"), ensure_ascii=False), file=stream)
        count += 1
    return count


def json_document(document: dict[str, Any], out: TextIO | None = None) -> None:
    """The JSON output of every command: one document (lists under a plural key)."""
    print(json.dumps(document, indent=2, ensure_ascii=False), file=out or sys.stdout)


def add_output_option(parser: argparse.ArgumentParser) -> None:
    """``--output table|json`` (``--json`` is the same as ``--output json``)."""
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument(
        "--output",
        choices=OUTPUT_FORMATS,
        default=None,  # not "table": argparse lets a default-valued option past the exclusion
        help="table for people (default) or json: one JSON document for scripts",
    )
    choice.add_argument(
        "--json", dest="output", action="store_const", const="json", help="--output json"
    )


def output_format(args: argparse.Namespace) -> str:
    """ "table" or "json", as the command line asked."""
    return getattr(args, "output", None) or "table"


def wants_json(args: argparse.Namespace) -> bool:
    return output_format(args) == "json"


def positive_int(text: str) -> int:
    """An argparse type: a whole number above zero (a usage error otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not above zero")
    return value


def fields(pairs: Sequence[tuple[str, Any]], out: TextIO | None = None) -> None:
    """``label   value`` lines (values cleaned)."""
    stream = out or sys.stdout
    width = max(len(label) for label, _ in pairs)
    for label, value in pairs:
        print(f"{label.ljust(width)}  {clean(value)}", file=stream)
