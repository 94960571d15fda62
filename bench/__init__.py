"""Benchmarks: each module measures Tapfleet side by side with its baseline in the same run.

Run one with ``python -m bench.<name> [--quick]`` from the repository root, or all of them
with ``python bench/run_all.py`` (``make bench``). Each prints exactly one line of figures on
stdout (progress goes to stderr); see ``bench/README.md`` for the latest figures.
"""
