"""The results store of one scenario: per-point records, resume, tidy CSV, manifest.

Layout of ``<results_dir>/<scenario>/``::

    points.jsonl     one JSON record per finished point, appended as each point finishes
    results.csv      tidy table, one row per point, in sweep order
    curves.csv       tidy table of the curve metrics, one row per point and index value
                     (only when the experiment returns curves)
    manifest.json    resolved configuration, versions, seed, git commit, wall time, status
    .lock            held (``fcntl.flock``) by the run writing the folder

Crash safety. Each finished point is appended to ``points.jsonl`` with a single
``write(2)`` on a file opened with ``O_APPEND``, before the next point is taken: once the
call returns, the record is in the operating system's cache and survives the death of the
process (``kill -9``, Ctrl-C, OOM). ``--resume`` reuses the records and computes the rest,
and the final table is identical to an uninterrupted run's. A line that does not parse (the
torn tail an operating-system crash can leave) is skipped and its point recomputed; on
resume the file is first rewritten atomically with only the valid records, so new appends
never continue a torn line. One append replaced an earlier design of one file per record
(temporary file + rename), whose file creation alone cost ~0.2 ms per point on this
machine's file system: more than a cheap point. Durability against an operating-system
crash needs ``fsync``: a background thread calls it every :data:`FSYNC_INTERVAL` seconds
when records were added, and at the end, so such a crash costs at most the last interval's
points, never a wrong table.

A finished run is never overwritten silently: starting a run where records or a manifest
exist needs ``resume=True`` (reuse what matches) or ``force=True`` (delete and restart),
else :class:`RunExistsError`. Records carry a fingerprint of what determines a point's
numbers besides its parameters (experiment, master seed, stopping rule); a resume with a
different fingerprint is refused. Two runs never write one folder at once: the store
holds an exclusive lock on ``.lock`` from :meth:`ResultsStore.open` to
:meth:`ResultsStore.close` (released by the operating system if the process dies), and a
second run gets :class:`RunLockedError` (on systems without ``fcntl`` there is no lock).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._checks import Estimate
from .runner import PointResult
from .sweep import point_value

__all__ = [
    "FSYNC_INTERVAL",
    "RECORD_VERSION",
    "ResultsStore",
    "ResultsDirError",
    "RunExistsError",
    "RunLockedError",
    "atomic_write",
    "curve_table",
    "read_table",
    "tidy_table",
    "write_csv",
]

#: Version 2: metrics as the shared Estimate (with std_err and converged), warnings.
RECORD_VERSION = 2
FSYNC_INTERVAL = 2.0

MANIFEST = "manifest.json"
CSV_NAME = "results.csv"
CURVES_NAME = "curves.csv"
POINTS = "points.jsonl"
LOCK = ".lock"


class RunExistsError(ValueError):
    """The results directory already holds a run and neither resume nor force was given."""


class RunLockedError(ValueError):
    """Another run (a live process) is writing the same results folder."""


class ResultsDirError(ValueError):
    """The results folder cannot be created or written (a file in the way, no permission)."""


def _fsync_path(path: Path | str, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path | str, data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically: temporary file in the same folder, then rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if fsync:
        _fsync_path(path.parent, directory=True)


class _Syncer(threading.Thread):
    """Background ``fsync`` of the records file, in batches (see module docstring)."""

    def __init__(self, fd: int) -> None:
        super().__init__(name="aircomp-agc-fsync", daemon=True)
        self.fd = fd
        self.dirty = False
        self._wake = threading.Event()
        self._closing = False

    def _flush(self) -> None:
        if self.dirty:
            self.dirty = False
            os.fsync(self.fd)

    def run(self) -> None:
        while not self._closing:
            self._wake.wait(FSYNC_INTERVAL)
            self._flush()

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        self.join()
        self._flush()


def _fmt(value: Any) -> str:
    """CSV cell: floats by ``repr`` (round-trips exactly), JSON for lists/dicts."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def tidy_table(
    points: Sequence[Mapping[str, Any]],
    results: Sequence[PointResult],
    columns: Sequence[str],
) -> tuple[list[str], list[list[Any]]]:
    """The tidy results table: parameter ``columns`` then per metric its summary columns.

    A per-trial metric ``m`` gives ``m_mean, m_ci_low, m_ci_high, m_n``; a scalar metric
    gives ``m``. Metric order follows the experiment's output (first point first). Curve
    metrics are left out (they go to :func:`curve_table`).

    Returns
    -------
    header : list[str]
    rows : list[list]
        One per point, in the order of ``points``.
    """
    kinds: dict[str, bool] = {}  # metric -> has CI
    for res in results:
        curves = res.curves()
        for name, m in res.metrics.items():
            if name not in curves:
                kinds.setdefault(name, isinstance(m, Estimate))
    header = list(columns)
    for name, has_ci in kinds.items():
        header += (
            [f"{name}_mean", f"{name}_ci_low", f"{name}_ci_high", f"{name}_n"] if has_ci else [name]
        )
    rows = []
    for point, res in zip(points, results, strict=True):
        row = [point_value(point, c) for c in columns]
        for name, has_ci in kinds.items():
            m = res.metrics.get(name)
            if has_ci:
                row += [m.mean, m.ci_low, m.ci_high, m.n] if m is not None else [None] * 4
            else:
                row.append(m)
        rows.append(row)
    return header, rows


def curve_table(
    points: Sequence[Mapping[str, Any]],
    results: Sequence[PointResult],
    columns: Sequence[str],
    index: str,
) -> tuple[list[str], list[list[Any]]]:
    """The tidy table of the curve metrics: ``columns``, the ``index`` column, then per curve
    metric ``m`` its ``m_mean, m_ci_low, m_ci_high, m_n``.

    One row per point and index value (the point's :attr:`PointResult.index_values`), points
    in the order of ``points``; a point without curves gives no row, a metric a point lacks
    empty cells.

    Returns
    -------
    header : list[str]
    rows : list[list]
    """
    names: dict[str, None] = {}
    for res in results:
        names.update(dict.fromkeys(res.curves()))
    header = [*columns, index]
    for name in names:
        header += [f"{name}_mean", f"{name}_ci_low", f"{name}_ci_high", f"{name}_n"]
    rows = []
    for point, res in zip(points, results, strict=True):
        curves = res.curves()
        if not curves or res.index_values is None:
            continue
        params = [point_value(point, c) for c in columns]
        stats = []
        for name in names:
            m = curves.get(name)
            if m is None:
                stats.append(None)
                continue
            stats.append((m.mean.tolist(), m.ci_low.tolist(), m.ci_high.tolist(), m.n))
        for j, x in enumerate(res.index_values):
            row = [*params, x]
            for st in stats:
                row += [None] * 4 if st is None else [st[0][j], st[1][j], st[2][j], st[3]]
            rows.append(row)
    return header, rows


def write_csv(path: Path | str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write the table atomically as CSV (floats exact)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_fmt(v) for v in row])
    atomic_write(path, buf.getvalue().encode())


def _parse_cell(text: str) -> Any:
    if text == "":
        return None
    if text in ("true", "false"):
        return text == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def read_table(path: Path | str) -> tuple[list[str], list[list[Any]]]:
    """Read a results CSV back: header and rows with numbers parsed (``""`` -> ``None``)."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, [[_parse_cell(c) for c in row] for row in reader]


def fingerprint(config: Mapping[str, Any]) -> str:
    """SHA-256 (hex, 16 chars) of a JSON-able configuration, keys sorted."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ResultsStore:
    """Records, table and manifest of one scenario's results folder.

    Parameters
    ----------
    directory : path
        ``<results_dir>/<scenario name>``; created on :meth:`open`.
    fingerprint : str
        Identifies experiment, seed and stopping rule (see module docstring).
    """

    def __init__(self, directory: Path | str, *, fingerprint: str) -> None:
        self.directory = Path(directory)
        self.points_path = self.directory / POINTS
        self.csv_path = self.directory / CSV_NAME
        self.curves_path = self.directory / CURVES_NAME
        self.manifest_path = self.directory / MANIFEST
        self.fingerprint = fingerprint
        self._fd: int | None = None
        self._syncer: _Syncer | None = None
        self._lock_fd: int | None = None

    def read_manifest(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.manifest_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def _has_records(self) -> bool:
        try:
            return self.points_path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def open(self, *, resume: bool = False, force: bool = False) -> dict[str, PointResult]:
        """Prepare the folder and return the reusable finished points by key.

        Raises
        ------
        RunExistsError
            A run is there and neither ``resume`` nor ``force`` is set, or ``resume`` is set
            but the run was made with another experiment, seed or stopping rule.
        RunLockedError
            Another live run holds the folder's lock.
        ResultsDirError
            The folder cannot be created or written.
        """
        if resume and force:
            raise ValueError("Pass at most one of resume and force (--resume, --force).")
        self._make_directory()
        self._lock()
        try:
            self._protect(resume=resume, force=force)
            found = self.load_points() if resume else {}
            # Start from exactly the valid records: a torn tail must not prefix the next
            # append.
            lines = [json.dumps(r.record, default=str) + "\n" for r in found.values()]
            atomic_write(self.points_path, "".join(lines).encode())
            self._fd = os.open(self.points_path, os.O_WRONLY | os.O_APPEND)
        except BaseException:
            self._unlock()
            raise
        self._syncer = _Syncer(self._fd)
        self._syncer.start()
        return {key: r.result for key, r in found.items()}

    def _protect(self, *, resume: bool, force: bool) -> None:
        """Refuse to lose an earlier run's points; delete them when ``force``."""
        manifest = self.read_manifest()
        status = (manifest or {}).get("status", "unfinished")
        # Protect what would be lost: finished points, or a complete run's table.
        if (self._has_records() or status == "complete") and not (resume or force):
            what = "a finished run" if status == "complete" else f"a run (status {status!r})"
            raise RunExistsError(
                f"{self.directory} already holds {what}; pass --resume to reuse its points or "
                "--force to overwrite it."
            )
        if force:
            for path in (self.points_path, self.csv_path, self.curves_path, self.manifest_path):
                path.unlink(missing_ok=True)
        elif resume and manifest is not None and manifest.get("fingerprint") != self.fingerprint:
            raise RunExistsError(
                f"Cannot resume {self.directory}: its experiment, seed or trials spec differs "
                f"from this scenario's (fingerprint {manifest.get('fingerprint')} != "
                f"{self.fingerprint}); pass --force to start over."
            )

    def _make_directory(self) -> None:
        """Create the folder, or say exactly why it cannot be (one line)."""
        what = f"The results folder '{self.directory}'"
        for parent in (self.directory, *self.directory.parents):
            if parent.exists():
                if not parent.is_dir():
                    raise ResultsDirError(
                        f"{what} cannot be created: '{parent}' is a file, not a folder "
                        "(choose another results directory)."
                    )
                break
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except PermissionError:
            raise ResultsDirError(
                f"{what} cannot be created: permission denied (choose another results "
                "directory)."
            ) from None
        except OSError as exc:
            raise ResultsDirError(f"{what} cannot be created: {exc.strerror or exc}.") from None
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise ResultsDirError(
                f"{what} is not writable (permission denied); choose another results directory."
            )

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # no fcntl (Windows): no lock
            return
        path = self.directory / LOCK
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ResultsDirError(
                f"Cannot write to the results folder '{self.directory}': "
                f"{exc.strerror or exc}."
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunLockedError(
                f"{self.directory} is being written by another run (process {holder}); wait "
                "for it to finish or use another results directory."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def load_points(self) -> dict[str, _Loaded]:
        """Finished points on disk with this store's fingerprint, by key (first record wins).

        Lines that do not parse, other record versions and other fingerprints are skipped.
        """
        try:
            data = self.points_path.read_bytes()
        except FileNotFoundError:
            return {}
        found: dict[str, _Loaded] = {}
        for line in data.split(b"\n"):
            try:
                record = json.loads(line)
                if record.get("version") != RECORD_VERSION:
                    continue
                if record.get("fingerprint") != self.fingerprint:
                    continue
                result = PointResult.from_record(record)
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # torn by an OS crash before fsync: recompute the point
            found.setdefault(result.key, _Loaded(result, record))
        return found

    def write_point(self, result: PointResult, params: Mapping[str, Any]) -> None:
        """Append one finished point's record (one ``write(2)``; fsync in the background)."""
        if self._fd is None:
            raise RuntimeError("ResultsStore.write_point before open().")
        record = {"version": RECORD_VERSION, "fingerprint": self.fingerprint, "params": params}
        record.update(result.to_record())
        data = (json.dumps(record, default=str) + "\n").encode()
        written = os.write(self._fd, data)
        if written != len(data):  # short write (disk full): fail loudly, never half a record
            raise OSError(f"short write to {self.points_path}: {written} of {len(data)} bytes")
        if self._syncer is not None:
            self._syncer.dirty = True

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        data = dict(manifest, fingerprint=self.fingerprint)
        text = json.dumps(data, indent=2, sort_keys=False, default=_json_default)
        atomic_write(self.manifest_path, (text + "\n").encode())

    def close(self) -> None:
        """Flush pending fsyncs, stop the background thread and close the records file."""
        if self._syncer is not None:
            self._syncer.close()
            self._syncer = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._unlock()


@dataclass(frozen=True)
class _Loaded:
    """A record read back from disk: the result, and the record to rewrite on resume."""

    result: PointResult
    record: dict[str, Any]


def _json_default(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)
