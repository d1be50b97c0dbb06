"""Settings: config/default.toml, then an optional local TOML file, then environment variables.

Built once at the entry point (the CLI) and passed down; nothing here is read at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent


def _find_bundled(name: str) -> Path:
    """A file shipped inside the wheel (force-included) or, in a source checkout, at the top level."""
    inside = PACKAGE_DIR / "_bundled" / name
    return inside if inside.exists() else PROJECT_DIR / name


DEFAULT_CONFIG = _find_bundled("config/default.toml")
SAMPLES_DIR = _find_bundled("samples")


class AsrSettings(BaseModel):
    model: str = "tiny.en"
    model_path: str = ""
    compute_type: str = "int8"
    cpu_threads: int = Field(default=2, ge=1)
    beam_size: int = Field(default=5, ge=1)
    n_best: int = Field(default=5, ge=1)  # hypotheses the grammar chooses from (voicechart.dictation.choose)
    initial_prompt: str = ""
    charting_vocabulary: bool = False  # while charting, only the language's words (dictation.vocabulary)
    second_ear: bool = True  # where Whisper doubts values, PocketSphinx reads them too (dictation.opinion)
    max_new_tokens: int = Field(default=64, ge=8)
    note_model: str = "base"  # clinical notes: accurate rather than instant (falls back to `model`)
    min_avg_logprob: float = -0.45
    min_avg_logprob_findings: float = -0.45
    min_avg_logprob_commands: float = -1.5
    min_avg_logprob_undo_pause_end: float | None = None  # None: as other commands
    min_word_prob: float = Field(default=0.0, ge=0.0, le=1.0)  # a value's word below it: marked; 0: off
    min_margin: float = Field(default=0.0, ge=0.0)
    min_margin_findings: float = Field(default=0.0, ge=0.0)
    max_no_speech_prob: float = Field(default=0.6, ge=0.0, le=1.0)


class VadSettings(BaseModel):
    detector: Literal["webrtc", "silero", "webrtc+silero"] = "silero"
    webrtc_mode: int = Field(default=2, ge=0, le=3)
    silero_threshold: float = 0.5
    silero_neg_threshold: float = 0.35
    frame_ms: Literal[10, 20, 30] = 30
    pre_roll_ms: int = Field(default=400, ge=0)
    hangover_ms: int = Field(default=400, ge=30)
    above_floor_db: float = Field(default=6.0, ge=0)  # talk in the background: see voicechart.audio.segmenter
    probe_ms: int = Field(default=240, ge=0)  # 0 = never end early (see voicechart.audio.segmenter)
    probe_start_ms: int = Field(default=120, ge=0)
    min_speech_ms: int = Field(default=90, ge=0)
    max_utterance_s: float = Field(default=12.0, gt=1.0)


class AudioSettings(BaseModel):
    """The operatory's sound devices (by name or index; `voicechart devices` lists them; "" = default)."""

    input_device: str = ""
    output_device: str = ""


class FeedbackSettings(BaseModel):
    earcons: bool = True  # accepted / deep pocket / flagged tones after every charted utterance
    readback: bool = False  # speak charted values back at the start of an exam ("readback on/off" by voice)
    gate_tail_ms: int = Field(default=150, ge=0)  # the microphone stays closed this long after playback
    voice: str = "en-us"  # espeak-ng voice for readback


class OperatorySettings(BaseModel):
    """One operatory served by `voicechart serve`."""

    number: int
    input_device: str = ""
    output_device: str = ""


class ExamSettings(BaseModel):
    path_order: Literal["maxillary_first", "facials_first"] = "maxillary_first"
    numbering: Literal["universal", "fdi"] = "universal"


class PmsSettings(BaseModel):
    """How voicechart talks to the PMS. The Open Dental API keys are secrets: only from the environment
    (VOICECHART_OD_DEVELOPER_KEY, VOICECHART_OD_CUSTOMER_KEY), never from a settings file."""

    clinical_note_code: str = "Zclin"
    read_url: str = (
        ""  # optional: read Open Dental's database directly (read-only SQL); writes stay on the API
    )
    api_timeout_s: float = Field(default=10.0, gt=0)
    wait_ms: int = Field(default=1000, ge=0)
    flush_timeout_s: float = Field(default=120.0, ge=0)


class WebSettings(BaseModel):
    """The review app (`voicechart web`). It binds to the loopback address unless told otherwise: serving a
    clinic's LAN needs TLS in front of it (docs/review-app.md)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=1, le=65535)
    session_hours: float = Field(default=8.0, gt=0)  # a sign-in lasts one working day at most
    sign_in_max_failures: int = Field(default=5, ge=1)  # per name and per address, in the window below
    sign_in_window_s: float = Field(default=300.0, gt=0)
    secure_cookies: bool = True  # browsers accept Secure cookies on http://127.0.0.1 and localhost
    live_poll_ms: int = Field(default=25, ge=10)  # how often the live view looks for new journal rows
    tls_certfile: str = ""  # serve HTTPS directly (PEM certificate chain) …
    tls_keyfile: str = ""  # … and its private key (keep it outside the repository)


class RetentionSettings(BaseModel):
    """How long the journal keeps utterance audio (`voicechart retention apply` applies it; run it daily)."""

    audio_days: int = Field(default=90, ge=0)  # days after a session ended; 0 = keep forever


def _default_data_dir() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "voicechart"


class Settings(BaseSettings):
    """All of voicechart's settings. Environment: VOICECHART_DATA_DIR, VOICECHART_PMS_URL,
    VOICECHART_ASR__MODEL, … (nested keys with a double underscore)."""

    model_config = SettingsConfigDict(
        env_prefix="VOICECHART_", env_nested_delimiter="__", env_ignore_empty=True, extra="ignore"
    )

    data_dir: str = ""
    pms_url: str = ""
    environment: Literal["development", "production"] = "production"  # see voicechart.secrets
    journal_database_url: str = ""  # default: an SQLite file in the data directory (see journal_url)
    asr: AsrSettings = AsrSettings()
    vad: VadSettings = VadSettings()
    exam: ExamSettings = ExamSettings()
    pms: PmsSettings = PmsSettings()
    audio: AudioSettings = AudioSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    web: WebSettings = WebSettings()
    retention: RetentionSettings = RetentionSettings()
    operatories: list[OperatorySettings] = []

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        files = [DEFAULT_CONFIG]
        extra = os.environ.get("VOICECHART_CONFIG")
        if extra:
            files.append(Path(extra))
        toml = TomlConfigSettingsSource(settings_cls, toml_file=files)
        return (init_settings, env_settings, toml)

    @property
    def development(self) -> bool:
        return self.environment == "development"

    @property
    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir).expanduser() if self.data_dir else _default_data_dir()

    @property
    def resolved_pms_url(self) -> str:
        """The PMS: an explicit URL, else the embedded sandbox file in the data directory."""
        if self.pms_url:
            return self.pms_url
        return f"sqlite:///{self.resolved_data_dir / 'sandbox-pms.sqlite3'}"

    @property
    def journal_url(self) -> str:
        """The journal: VOICECHART_JOURNAL_DATABASE_URL (e.g. PostgreSQL for a clinic group's server), else
        an SQLite file in the data directory."""
        if self.journal_database_url:
            return self.journal_database_url
        return f"sqlite:///{self.resolved_data_dir / 'journal.sqlite3'}"

    @property
    def clips_dir(self) -> Path:
        return self.resolved_data_dir / "clips"


def load_settings(**overrides: object) -> Settings:
    """Build the settings once, at the entry point."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
    return settings
