"""The clinic lead's review app: live charts, every value with its audio, corrections back to the PMS."""
