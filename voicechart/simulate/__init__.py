"""Simulated exams and dictation: ground truth for tests and benchmarks."""
