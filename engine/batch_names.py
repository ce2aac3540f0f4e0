"""Output names for batch export: a small, closed template language that cannot escape OUT_DIR.

A template is literal text plus the fields ``{stem}``, ``{ext}``, ``{date}`` and ``{camera}``.
``/`` may make sub-folders *inside* OUT_DIR (``{date}/{stem}``); everything that could leave it
(absolute paths, ``..``, backslashes, drive letters), hidden names, unknown fields, format specs
and conversions (``{stem!r}``, ``{stem:>9}``, ``{stem.__class__}``) are refused up front, and the
values put into the fields are sanitised so that they can never add a separator either.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

FIELDS: dict[str, str] = {
    "stem": "file name without its extension (IMG_0001)",
    "ext": "original extension without the dot (NEF)",
    "date": "capture date from EXIF, YYYY-MM-DD (undated if unknown)",
    "camera": "camera make and model from EXIF (unknown-camera if unknown)",
}
MAX_COMPONENT_BYTES = 240  # below the usual 255-byte limit, leaving room for "-12" and the suffix

_FORBIDDEN_LITERAL = re.compile(r"[\\:\x00-\x1f\x7f]")
_UNSAFE_VALUE = re.compile(r"[/\\:\x00-\x1f\x7f*?\"<>|]")


class TemplateError(ValueError):
    """A ``--name`` template that is refused, with the reason."""


def check_template(template: str) -> list[str]:
    """Validate ``template``; return the field names it uses. Raises :class:`TemplateError`."""
    if not template or not template.strip():
        raise TemplateError("the name template is empty")
    if template.startswith("/") or template.endswith("/"):
        raise TemplateError(f"{template!r}: the name must be relative to OUT_DIR and end in a file name")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as e:
        raise TemplateError(f"{template!r}: {e}") from None
    used: list[str] = []
    literal = []
    for text, name, spec, conv in parts:
        literal.append(text)
        if name is None:
            continue
        if name not in FIELDS:
            known = ", ".join("{" + f + "}" for f in FIELDS)
            raise TemplateError(f"{template!r}: unknown field {{{name}}} (known: {known})")
        if conv or spec:
            raise TemplateError(f"{template!r}: conversions and format specs are not allowed in {{{name}}}")
        used.append(name)
        literal.append("x")  # a field is one safe, non-empty run of characters
    if not used:
        raise TemplateError(f"{template!r}: use at least one field, e.g. {{stem}}, or every photo gets one name")
    bad = _FORBIDDEN_LITERAL.search("".join(literal))
    if bad:
        raise TemplateError(f"{template!r}: character {bad.group()!r} is not allowed")
    for comp in "".join(literal).split("/"):
        if comp in ("", ".", ".."):
            raise TemplateError(f"{template!r}: empty, '.' or '..' path components would escape OUT_DIR")
        if comp.startswith("."):
            raise TemplateError(f"{template!r}: names starting with '.' are hidden and reserved for temp files")
    return used


def sanitize(value: str, fallback: str) -> str:
    """Make a field value one safe path component: no separators, no leading dots, not empty."""
    v = _UNSAFE_VALUE.sub("_", value).strip().lstrip(".")
    while len(os.fsencode(v)) > MAX_COMPONENT_BYTES // 2:  # by characters: never half of one; a
        v = v[:-1]  # name that is not UTF-8 keeps its bytes (surrogate escapes), as the file system has them
    return v.strip() or fallback


def field_values(src: Path, captured: datetime | None = None, camera: str | None = None) -> dict[str, str]:
    return {
        "stem": sanitize(src.stem, "photo"),
        "ext": sanitize(src.suffix.lstrip("."), "noext"),
        "date": captured.strftime("%Y-%m-%d") if captured else "undated",
        "camera": sanitize(camera or "", "unknown-camera"),
    }


def render_name(template: str, values: Mapping[str, str]) -> Path:
    """The relative output path (without the format's suffix) for one photo."""
    rel = Path(template.format_map(dict(values)))
    for comp in rel.parts:
        if comp in (".", "..") or comp.startswith(".") or len(os.fsencode(comp)) > MAX_COMPONENT_BYTES:
            raise TemplateError(f"{template!r} gives an unsafe or too long name component {comp[:40]!r}")
    if rel.is_absolute():
        raise TemplateError(f"{template!r} gives an absolute path")
    return rel


def inside(path: Path, root: Path) -> bool:
    """True when ``path`` (resolved, following links that exist) stays under ``root``."""
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
    except ValueError:
        return False
    return True
