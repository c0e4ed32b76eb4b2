"""The store's record: what each run predicted, and which campaign configs applied when.

A :class:`PredictionLog` is a folder of Parquet files, one per ``workbench run``: every
row a prediction with the run's id, the instant its forecast starts (``as_of``: the
data's end for what it predicts), what is predicted (``kind``, ``key``: a customer, an
experiment arm, a campaign × channel), over how many days (``horizon_days``), the
predicted value with its interval (``low``, ``high``: at ``level``) and the size of the
sample it rests on (``n``).  A run never rewrites an earlier run's file (each is written
atomically under its own name), so a failed run leaves the log as it was.  A later run on
newer data reads the log and scores what has come due
(:mod:`workbench.analyses.accuracy`).  A :class:`ConfigHistory` keeps every campaign config
exported or deployed with its time, which the report's "what changed" reads
(:mod:`workbench.analyses.deployments`).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from .files import atomic_path

#: the columns of every prediction row, in order
COLUMNS = ("run_id", "made_at", "dataset_hash", "as_of", "kind", "key", "horizon_days",
           "predicted", "low", "high", "level", "n")


class PredictionLogError(ValueError):
    """A prediction frame or log file that does not have the log's columns."""


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts by time: ``20261130T230512Z-1a2b3c``."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def prediction_rows(kind: str, key, as_of, horizon_days: float, predicted, low=None,
                    high=None, level: float = float("nan"), n=None) -> pd.DataFrame:
    """Rows of one kind of prediction, in the log's columns (``run_id`` is added on append).

    ``key``, ``predicted``, ``low``, ``high`` and ``n`` are per row (scalars broadcast);
    ``as_of`` is when the forecast starts; ``level`` the intervals' coverage.
    """
    df = pd.DataFrame({"key": pd.Series(key).astype(str).to_numpy(),
                       "predicted": pd.Series(predicted, dtype=float).to_numpy()})
    df["low"] = float("nan") if low is None else pd.Series(low, dtype=float).to_numpy()
    df["high"] = float("nan") if high is None else pd.Series(high, dtype=float).to_numpy()
    df["n"] = float("nan") if n is None else pd.Series(n, dtype=float).to_numpy() \
        if not isinstance(n, int | float) else float(n)
    as_of = pd.Timestamp(as_of)
    df.insert(0, "kind", kind)
    df.insert(0, "as_of", as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of)
    df["horizon_days"] = float(horizon_days)
    df["level"] = float(level)
    return df


class PredictionLog:
    """The prediction log under ``root`` (created on the first append)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def append(self, run_id: str, frame: pd.DataFrame) -> Path | None:
        """Write one run's predictions as ``<root>/<run_id>.parquet`` (atomically)."""
        if frame is None or frame.empty:
            return None
        if not re.fullmatch(r"[\w.-]+", run_id):
            raise PredictionLogError(f"run id {run_id!r}: letters, digits, '.', '-', '_' only")
        missing = [c for c in COLUMNS if c not in frame.columns and c != "run_id"]
        if missing:
            raise PredictionLogError(f"predictions lack column(s) {missing}")
        df = frame.assign(run_id=run_id)[list(COLUMNS)].copy()
        df["as_of"] = pd.to_datetime(df.as_of, utc=True)
        df["made_at"] = pd.to_datetime(df.made_at, utc=True)
        df["key"] = df.key.astype(str)
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{run_id}.parquet"
        with atomic_path(path) as tmp:
            df.to_parquet(tmp, index=False)
        return path

    def read(self, kinds=None) -> pd.DataFrame:
        """Every logged prediction (of ``kinds``), oldest run first; empty without a log."""
        files = sorted(f for f in self.root.glob("*.parquet")
                       if not f.name.startswith(".")) if self.root.is_dir() else []
        frames = []
        for f in files:
            try:
                df = pd.read_parquet(f)
            except Exception as exc:  # a damaged file is named, not skipped silently
                raise PredictionLogError(f"{f}: not a readable prediction file ({exc})") from exc
            missing = [c for c in COLUMNS if c not in df.columns]
            if missing:
                raise PredictionLogError(f"{f}: lacks column(s) {missing}")
            frames.append(df if kinds is None else df[df.kind.isin(list(kinds))])
        if not frames:
            return pd.DataFrame(columns=list(COLUMNS))
        return pd.concat(frames, ignore_index=True)

    def runs(self) -> pd.DataFrame:
        """One row per logged run: ``run_id, made_at, as_of`` (latest), predictions."""
        df = self.read()
        if df.empty:
            return pd.DataFrame(columns=["run_id", "made_at", "as_of", "predictions"])
        return df.groupby("run_id", as_index=False).agg(
            made_at=("made_at", "first"), as_of=("as_of", "max"),
            predictions=("kind", "size")).sort_values("made_at", ignore_index=True)


class ConfigHistory:
    """The campaign configs exported and deployed, each with its time, under ``root/configs``.

    One JSON file per entry (written atomically, never rewritten): ``effective_from``
    (when a deployed config started to apply, or the data's end an exported one was
    computed on), ``recorded_at``, ``source`` (``"deployed"`` or ``"exported"``),
    ``note``, ``dataset_hash`` and the ``config`` itself.
    """

    SOURCES = ("deployed", "exported")

    def __init__(self, root: str | Path):
        self.root = Path(root) / "configs"

    def record(self, config: dict, effective_from, source: str = "deployed", note: str = "",
               dataset_hash: str | None = None) -> Path:
        """Add one entry; the same config recorded twice at the same time is one entry."""
        import hashlib
        import json

        from .files import atomic_write_text

        if source not in self.SOURCES:
            raise ValueError(f"source must be one of {self.SOURCES}, not {source!r}")
        when = pd.Timestamp(effective_from)
        when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
        body = json.dumps(config, sort_keys=True, default=str)
        digest = hashlib.sha256(body.encode()).hexdigest()[:8]
        entry = {"effective_from": when.isoformat(), "recorded_at":
                 datetime.now(UTC).isoformat(timespec="seconds"), "source": source,
                 "note": note, "dataset_hash": dataset_hash, "config": config}
        path = self.root / f"{when:%Y%m%dT%H%M%SZ}-{source}-{digest}.json"
        return atomic_write_text(path, json.dumps(entry, indent=2, default=str))

    def entries(self, source: str | None = None) -> list[dict]:
        """Every entry (of ``source``), by ``effective_from``; a damaged file is named."""
        import json

        if not self.root.is_dir():
            return []
        out = []
        for f in sorted(self.root.glob("*.json")):
            if f.name.startswith("."):
                continue
            try:
                e = json.loads(f.read_text(encoding="utf-8"))
                e["effective_from"] = pd.Timestamp(e["effective_from"])
            except (ValueError, KeyError) as exc:
                raise PredictionLogError(f"{f}: not a config history entry ({exc})") from exc
            if source is None or e.get("source") == source:
                out.append({**e, "file": f})
        return sorted(out, key=lambda e: (e["effective_from"], e["recorded_at"]))


__all__ = ["COLUMNS", "ConfigHistory", "PredictionLog", "PredictionLogError", "new_run_id",
           "prediction_rows"]
