"""Benchmarks run against PostgreSQL on generated data: ``python bench/NAME.py`` (not tests)."""
