"""Confirmation without looking: earcons for every charted utterance and, if enabled, spoken readback."""
