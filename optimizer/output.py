"""Atomic output: files and whole output folders are written beside their target, then renamed into place."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from optimizer.case.errors import CaseError


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` and move ``tmp`` onto ``path`` only if it succeeded.

    An interrupted or failed write leaves any previous ``path`` untouched and no partial
    file behind (the rename is atomic on one file system).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        # mkstemp creates 0600; give the result the permissions a plain open() would
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, data: dict) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    """Write ``frame`` as CSV without its index, atomically; timestamps as ISO 8601 with offset."""
    stamps = {c: frame[c].map(pd.Timestamp.isoformat) for c in frame.columns if isinstance(frame[c].dtype, pd.DatetimeTZDtype)}
    return atomic_write(path, lambda tmp: frame.assign(**stamps).to_csv(tmp, index=False))


def check_output_free(out: Path, overwrite: bool, option: str = "--out") -> None:
    """Refuse to replace an existing output (a non-empty folder or a file) unless asked to, before any work is done."""
    if out.exists() and (out.is_file() or any(out.iterdir())) and not overwrite:
        raise CaseError(option, f"{out} already holds output", "pass --overwrite to replace it, or choose another output")


@contextmanager
def output_folder(out: Path, overwrite: bool) -> Iterator[Path]:
    """A fresh hidden folder beside ``out`` to write into; on success it replaces ``out`` whole.

    So a run that fails or is killed leaves the previous output untouched: the old folder is
    renamed aside, the new one renamed into place, and the old one deleted. Staging folders
    left by killed runs are removed by the next run into the same output.
    """
    check_output_free(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.new-*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    os.chmod(staging, 0o777 & ~_umask())
    try:
        yield staging
        if out.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, retired / out.name)
            os.rename(staging, out)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.rename(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
