"""stepauth benchmarks: each one measured side by side with its floor in the same run.

``python -m bench`` (or ``make bench``) runs the suite and writes ``bench/results/latest.json``;
each module also runs alone (``python -m bench.cold_start`` …). See BENCHMARKS.md.
"""
