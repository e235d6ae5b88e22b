"""Crash-survival tests on the real Temporal dev server."""
