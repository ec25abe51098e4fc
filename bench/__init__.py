"""Benchmarks of agent-runtime-core against baselines measured in the same run (`make bench`).

Benchmarks are not tests: nothing here asserts a speed. Results and how to reproduce them:
docs/performance.md.
"""
