"""Benchmark harness for API Router: ``python3 tasks.py bench`` (see ``bench/run.py``)."""
