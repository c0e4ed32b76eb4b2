"""The parts of the campaign config the analyses export.

One version, one provenance, atomic JSON, and validation that names the file
and the field.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .. import __version__
from ..files import atomic_write_json

#: the version of every exported part's own format (the campaign config has CONFIG_VERSION)
SECTION_VERSION = "0.1"


class Provenance(BaseModel):
    # where an exported part came from: the dataset, the analysis and its settings (no
    # docstring: it would become the description in the parts' published JSON Schemas)
    model_config = ConfigDict(extra="forbid")

    dataset_hash: str | None
    analysis: str
    settings: dict
    package_version: str = __version__
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(
        timespec="seconds"))


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
