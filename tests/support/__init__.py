"""Helpers the test packages share: real processes started and stopped the same way everywhere."""
