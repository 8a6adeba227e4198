"""Measuring livetrans: text normalisation, error rates, streaming replay and latency."""
