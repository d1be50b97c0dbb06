"""Errors voicechart raises, each with a message a user can act on.

VoicechartError
├── ConfigError          settings or command-line values that cannot work
├── AudioError           unreadable, corrupt or unsupported audio input
├── ModelError           the speech model cannot be found or loaded
└── PmsError             the practice-management system
    ├── PatientNotFound
    ├── PmsNotFound      a record the PMS does not have (or no longer has)
    ├── PmsRejected      the PMS refused a write as invalid (400): retrying the same write cannot help
    ├── PmsAuthError     the PMS refused the credentials (401)
    ├── PmsUnavailable   (retryable: the PMS is down or did not answer)
    └── PmsThrottled     (retryable: the PMS asks to slow down)
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


class PmsNotFound(PmsError):
    pass


class PmsRejected(PmsError):
    pass


class PmsAuthError(PmsError):
    pass


class PmsThrottled(PmsUnavailable):
    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
