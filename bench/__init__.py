"""Benchmarks and soak tests that run the product end to end."""
