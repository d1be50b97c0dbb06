"""Errors voicechart raises, each with a message a user can act on.

VoicechartError
├── ConfigError          settings or command-line values that cannot work
├── AudioError           unreadable, corrupt or unsupported audio input
├── ModelError           the speech model cannot be found or loaded
└── PmsError             the practice-management system
    ├── PatientNotFound
    └── PmsUnavailable   (retryable: the PMS is down or did not answer)
"""

from __future__ import annotations


class VoicechartError(Exception):
    """Base class: the message is meant for the person at the keyboard."""


class ConfigError(VoicechartError):
    pass


class AudioError(VoicechartError):
    pass


class ModelError(VoicechartError):
    pass


class PmsError(VoicechartError):
    retryable = False


class PatientNotFound(PmsError):
    pass


class PmsUnavailable(PmsError):
    retryable = True
