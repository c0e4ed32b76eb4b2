"""Reading and writing config sections: atomic JSON, validation that names the field."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from pydantic import BaseModel, ValidationError


def atomic_write_json(path: str | Path, obj: dict) -> Path:
    """Write JSON through a temporary file and ``os.replace``: never half a config."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(json.dumps(obj, indent=2), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_section(path: str | Path, key: str, section: BaseModel) -> Path:
    """Re-validate ``section`` and write it as ``{key: section}``."""
    section = type(section).model_validate(section.model_dump())
    return atomic_write_json(path, {key: section.model_dump(mode="json")})


def load_section(path: str | Path, key: str, model: type[BaseModel]):
    """Load ``{key: ...}`` from ``path`` and validate it; errors name the file and field."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    try:
        return model.model_validate(data[key])
    except KeyError as exc:
        raise ValueError(f"{path}: no {key!r} section") from exc
    except ValidationError as exc:
        raise ValueError(f"{path}: invalid {key} config:\n{exc}") from exc
