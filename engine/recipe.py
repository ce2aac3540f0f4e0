"""Recipes: an ordered list of filter steps, their JSON form, sidecars and migrations.

On disk (``IMG_0001.NEF.retouch.json``)::

    {"format": 1, "app": "retouch",
     "steps": [{"op": "exposure", "version": 1, "enabled": true, "params": {"ev": 0.5},
                "agent": {"probs": {"exposure": 0.71, "gamma": 0.05, ...}}}]}

Parameters are stored in user units, named, with each filter's version, so old sidecars are
migrated one version at a time by the filter's own migrations. Anything malformed raises
:class:`RecipeError` naming the file and the field; a bad sidecar is moved aside, never
overwritten.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write_bytes
from .filters import REGISTRY, FilterSpec

#: Format 2 adds the step source "pasted", format 3 "picked" (a white balance picked on a neutral
#: spot). A document is written in the lowest format that holds it, so a recipe without such steps
#: stays readable by a Retouch that knows only an older format (one that met "pasted" in format 1
#: would set the sidecar aside as damaged).
FORMAT = 3
SIDECAR_SUFFIX = ".retouch.json"
MAX_SIDECAR_BYTES = 1 << 20  # a recipe is a few kB; anything this big is not ours
MAX_STEPS = 256
#: Step.source values a sidecar may carry: Auto's measured steps (the white balance by the learned
#: colour constancy, or by max-RGB without it), steps fitted by Match a look, (format 2) steps
#: pasted from another photo's recipe, whose measurements were that photo's, and (format 3) a white
#: balance picked from a neutral spot of the photo
SOURCES = frozenset({"auto-exposure", "auto-white-balance", "auto-white-balance-max-rgb", "auto-contrast",
                     "match-look", "pasted", "picked"})
_SOURCE_FORMAT = {"pasted": 2, "picked": 3}  # the first format that has each newer source

# format N -> N+1 migrations of the whole document (filter params migrate per filter).
_FORMAT_MIGRATIONS: dict[int, Any] = {1: lambda doc: doc, 2: lambda doc: doc}  # 2 and 3 each only add a source


class RecipeError(ValueError):
    """A recipe or sidecar that cannot be used, with the file and field at fault."""

    def __init__(self, message: str, *, path: str | os.PathLike | None = None, field: str | None = None):
        self.path = None if path is None else Path(path)
        self.field = field
        where = " ".join(x for x in (f"{self.path}:" if self.path else "", f"{field}:" if field else "") if x)
        super().__init__(f"{where} {message}".strip())


class NewerRecipeError(RecipeError):
    """A recipe this Retouch cannot read because a newer one wrote it (a newer format, a filter's
    newer version, or a filter it does not know). Its sidecar is kept where it is: moving it aside
    would hide the newer Retouch's edits from that Retouch."""


@dataclass
class Step:
    """One filter application. ``params`` are in user units; ``probs`` come from the agent."""

    op: str
    params: dict[str, Any]
    enabled: bool = True
    probs: dict[str, float] | None = None
    source: str | None = None  # who made a step without probs: one of SOURCES; None = the user
    edited: bool = False  # a measured or agent step whose values the photographer has changed since


    @property
    def spec(self) -> FilterSpec:
        return REGISTRY[self.op]

    @classmethod
    def default(cls, op: str) -> Step:
        return cls(op, REGISTRY[op].defaults())

    def is_identity(self) -> bool:
        """True when the step is disabled or every parameter equals its default."""
        if not self.enabled:
            return True
        return all(np.allclose(self.params[p.name], p.default, atol=1e-9) for p in self.spec.params)

    def scaled(self, amount: float) -> Step:
        """This step at ``amount`` of its strength (``FilterSpec.toward_default``); the rest is kept."""
        return replace(self, params=self.spec.toward_default(self.params, amount),
                       probs=None if self.probs is None else dict(self.probs))

    def runner_up(self) -> tuple[str, float] | None:
        """The agent's likeliest other filter for this step, for display next to its confidence.
        A variation samples its filters, so it may be likelier than the one taken."""
        others = {k: v for k, v in (self.probs or {}).items() if k != self.op}
        if not others:
            return None
        best = max(others, key=others.__getitem__)
        return best, others[best]

    def to_json(self) -> dict:
        d: dict[str, Any] = {"op": self.op, "version": self.spec.version, "enabled": self.enabled,
                             "params": {k: plain(v) for k, v in self.params.items()}}
        if self.probs is not None:
            d["agent"] = {"probs": {k: round(float(v), 6) for k, v in self.probs.items()}}
        if self.source is not None:
            d["source"] = self.source
        if self.edited:
            d["edited"] = True
        return d


@dataclass
class Recipe:
    steps: list[Step] = field(default_factory=list)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def active(self) -> list[Step]:
        return [s for s in self.steps if not s.is_identity()]

    def with_strength(self, amount: float) -> Recipe:
        """The agent's steps (those with ``probs``) at ``amount`` of their strength; measured and
        user steps unchanged. Auto's "Strength": 1 is what the policy predicted."""
        if amount == 1.0:
            return self.copy()
        return Recipe([s.scaled(amount) if s.probs is not None else self.copy_step(s) for s in self.steps])

    @staticmethod
    def copy_step(s: Step) -> Step:
        return replace(s, params={k: plain(v) for k, v in s.params.items()},
                       probs=None if s.probs is None else dict(s.probs))

    def copy(self) -> Recipe:
        return Recipe([self.copy_step(s) for s in self.steps])

    # -- JSON ----------------------------------------------------------------------------
    def to_json(self) -> dict:
        fmt = max((_SOURCE_FORMAT.get(s.source or "", 1) for s in self.steps), default=1)
        return {"format": fmt, "app": "retouch", "steps": [s.to_json() for s in self.steps]}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, doc: Any, *, path: str | os.PathLike | None = None) -> Recipe:
        return _parse(doc, path)

    @classmethod
    def loads(cls, text: str | bytes, *, path: str | os.PathLike | None = None) -> Recipe:
        if isinstance(text, str):
            text = text.removeprefix("\ufeff")  # as pasted from an editor that writes a BOM; bytes: json sees it
        try:
            doc = json.loads(text, parse_constant=_reject_constant)
        except RecursionError:
            raise RecipeError("nesting too deep", path=path) from None
        except (ValueError, UnicodeDecodeError) as e:
            raise RecipeError(f"not valid JSON ({e})", path=path) from None
        try:
            return _parse(doc, path)
        except RecipeError:
            raise
        except (TypeError, ValueError, OverflowError, RecursionError) as e:  # a shape validation did not foresee
            raise RecipeError(f"not a recipe ({type(e).__name__}: {str(e)[:80]})", path=path) from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> Recipe:
        p = Path(path)
        try:
            st = p.stat()
            if not stat.S_ISREG(st.st_mode):  # a FIFO would block the read for ever
                raise RecipeError("not a regular file", path=p)
            size = st.st_size
            if size > MAX_SIDECAR_BYTES:
                raise RecipeError(f"file is {size} bytes, larger than any recipe", path=p)
            data = p.read_bytes()
        except OSError as e:
            raise RecipeError(f"cannot read ({e.strerror})", path=p) from None
        return cls.loads(data, path=p)

    def save(self, path: str | os.PathLike) -> None:
        """Written atomically, and only if it reads back: a sidecar this Retouch would refuse on the
        next open (and set aside) is never written."""
        text = self.dumps()
        Recipe.loads(text, path=path)
        atomic_write_bytes(Path(path), text.encode())


# ---------------------------------------------------------------------------------------------
# Sidecars


def sidecar_path(photo: str | os.PathLike) -> Path:
    p = Path(photo)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def has_sidecar(photo: str | os.PathLike) -> bool:
    """Whether ``photo`` has a sidecar (edits); False where there cannot be one (a photo whose name
    is too long to take the sidecar's suffix)."""
    return os.path.exists(sidecar_path(photo))  # unlike Path.exists, False on ENAMETOOLONG


def read_sidecar(photo: str | os.PathLike) -> Recipe | None:
    """The photo's recipe, ``None`` if it has no sidecar.

    A sidecar that cannot be read is renamed to ``….retouch.json.bad-<time>`` (so the next save
    never overwrites what the user had) and the :class:`RecipeError` is raised for the caller
    to show. One that a newer Retouch wrote stays where it is (:class:`NewerRecipeError`): the
    caller must not save over it.
    """
    sc = sidecar_path(photo)
    if not has_sidecar(photo):
        return None
    try:
        return Recipe.load(sc)
    except NewerRecipeError as e:
        raise NewerRecipeError(f"{e} (left as it is: a newer Retouch wrote it)", path=None) from None
    except RecipeError as e:
        kept = _set_aside(sc)
        where = f"set aside as {kept.name}" if kept is not None else "left as it is: its folder cannot be written"
        raise RecipeError(f"{e} ({where})", path=None) from None


def _set_aside(sc: Path, label: str = "bad", *, keep: bool = False) -> Path | None:
    """``sc`` renamed to ``….{label}-<time>`` (``-2``, ``-3``… after an earlier one of the same second,
    never over it); None when it cannot be renamed. ``keep``: ``sc`` stays too where a hard link can
    be made (its replacement is yet to be written)."""
    stem = f"{sc.name}.{label}-{time.strftime('%Y%m%d-%H%M%S')}"
    for n in range(1, 1000):
        kept = sc.with_name(stem if n == 1 else f"{stem}-{n}")
        try:
            os.link(sc, kept)  # fails if kept exists: an earlier copy is never replaced
        except FileExistsError:
            continue
        except OSError:  # no hard links here (some mounts), or a read-only folder
            if kept.exists():
                continue
            try:
                os.rename(sc, kept)
                return kept
            except OSError:
                return None
        if keep:
            return kept
        try:
            os.unlink(sc)
        except OSError:
            os.unlink(kept)
            return None
        return kept
    return None


Stamp = tuple[int, int, int]


def sidecar_stamp(photo: str | os.PathLike) -> Stamp | None:
    """What tells one version of the photo's sidecar from another (inode, size, mtime); None: none."""
    try:
        st = os.stat(sidecar_path(photo))
    except (OSError, ValueError):
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def save_sidecar(photo: str | os.PathLike, recipe: Recipe, known: Stamp | None) -> tuple[Stamp | None, Path | None]:
    """Write ``recipe`` as the photo's sidecar (none for an empty recipe), unless another program or
    another Retouch changed it since this one last read or wrote it (``known``): that version is
    then kept as ``….changed-<time>`` first, never lost, and left in place if this write fails (a full
    disk had left the photo with no sidecar). Returns (the new stamp, where theirs went)."""
    sc, kept = sidecar_path(photo), None
    now = sidecar_stamp(photo)
    if now is not None and now != known:
        try:
            Recipe.load(sc)
        except NewerRecipeError as e:  # a newer Retouch's edits keep their name, where it looks for them
            raise NewerRecipeError(f"{e}; edits made here are not saved over it", path=None) from None
        except RecipeError:
            pass  # unreadable anyway: kept aside like any other
        kept = _set_aside(sc, "changed", keep=True)
        if kept is None:
            raise OSError(f"{sc.name} was changed by another program and cannot be kept aside")
    try:
        if len(recipe):
            recipe.save(sc)
        else:
            sc.unlink(missing_ok=True)
    except BaseException:
        if kept is not None:  # theirs stays the photo's sidecar: the copy goes, or what was moved comes back
            with contextlib.suppress(OSError):
                if not sc.exists():
                    os.rename(kept, sc)
                elif os.path.samefile(sc, kept):  # still theirs, linked: only then is the copy spare
                    kept.unlink()
                # else ours went in (a stop after the rename) or another program wrote it anew: kept stays
        raise
    return sidecar_stamp(photo), kept


def write_sidecar(photo: str | os.PathLike, recipe: Recipe) -> Path:
    sc = sidecar_path(photo)
    recipe.save(sc)
    return sc


# ---------------------------------------------------------------------------------------------
# Parsing and validation


def _reject_constant(name: str) -> float:
    # NaN/Infinity literals parse to floats here so that validation rejects them naming the field.
    return float(name)


def plain(v: Any) -> Any:
    """A parameter value as JSON holds it: a float, or (nested) lists of floats."""
    if isinstance(v, np.ndarray):
        return v.astype(float).tolist()
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return float(v)


def _parse(doc: Any, path: str | os.PathLike | None) -> Recipe:
    def err(msg: str, fld: str | None = None, newer: bool = False) -> RecipeError:
        return (NewerRecipeError if newer else RecipeError)(msg, path=path, field=fld)

    if not isinstance(doc, Mapping):
        raise err("expected a JSON object")
    fmt = doc.get("format")
    if not isinstance(fmt, int) or isinstance(fmt, bool):
        raise err("missing or non-integer format version", "format")
    if fmt > FORMAT:
        raise err(f"format {fmt} is newer than this Retouch understands ({FORMAT})", "format", newer=True)
    if fmt < 1:
        raise err(f"unknown format {fmt}", "format")
    while fmt < FORMAT:
        doc = _FORMAT_MIGRATIONS[fmt](dict(doc))
        fmt += 1
    steps_doc = doc.get("steps")
    if not isinstance(steps_doc, list):
        raise err("expected a list", "steps")
    if len(steps_doc) > MAX_STEPS:
        raise err(f"{len(steps_doc)} steps, more than {MAX_STEPS}", "steps")
    return Recipe([_parse_step(s, f"steps[{i}]", err) for i, s in enumerate(steps_doc)])


def _parse_step(d: Any, where: str, err: Any) -> Step:
    if not isinstance(d, Mapping):
        raise err("expected an object", where)
    op = d.get("op")
    if not isinstance(op, str) or op not in REGISTRY:
        if not isinstance(op, str):
            raise err("missing filter name", f"{where}.op")
        raise err(f"unknown filter {op[:40]!r} (a newer Retouch's?)", f"{where}.op", newer=True)
    spec = REGISTRY[op]
    version = d.get("version", spec.version)
    if not isinstance(version, int) or isinstance(version, bool):
        raise err("version must be an integer", f"{where}.version")
    if version > spec.version:
        raise err(f"{op} v{version} is newer than this Retouch (v{spec.version})", f"{where}.version", newer=True)
    enabled = d.get("enabled", True)
    if not isinstance(enabled, bool):
        raise err("enabled must be true or false", f"{where}.enabled")
    raw = d.get("params", {})
    if not isinstance(raw, Mapping):
        raise err("expected an object", f"{where}.params")
    try:
        raw = spec.migrate(dict(raw), version)
    except (ValueError, KeyError, TypeError) as e:
        raise err(str(e), f"{where}.version") from None
    params: dict[str, Any] = {}
    for p in spec.params:
        fld = f"{where}.params.{p.name}"
        value = raw.get(p.name, p.default_value())
        params[p.name] = _check_value(value, p, fld, err)
    unknown = set(raw) - {p.name for p in spec.params}
    if unknown:
        raise err(f"unknown parameter(s) {sorted(unknown)}", f"{where}.params")
    probs = None
    agent = d.get("agent")
    if agent is not None:
        if not isinstance(agent, Mapping) or not isinstance(agent.get("probs"), Mapping):
            raise err("expected {'probs': {...}}", f"{where}.agent")
        probs = {}
        for k, v in agent["probs"].items():
            if k not in REGISTRY or not _is_number(v) or not 0.0 <= v <= 1.0:
                raise err(f"bad probability {k!r}: {v!r}"[:120], f"{where}.agent.probs")
            probs[k] = float(v)
    source = d.get("source")
    if source is not None and (not isinstance(source, str) or source not in SOURCES):
        raise err(f"unknown source {str(source)[:40]!r}", f"{where}.source")
    edited = d.get("edited", False)
    if not isinstance(edited, bool):
        raise err("edited must be true or false", f"{where}.edited")
    return Step(op, params, enabled, probs, source, edited)


def _is_number(v: Any) -> bool:
    if isinstance(v, int) and not isinstance(v, bool):
        return abs(v) <= 2**1023  # a 400-digit literal would overflow math.isfinite
    return isinstance(v, float) and math.isfinite(v)


def _check_value(value: Any, p: Any, fld: str, err: Any) -> Any:
    if p.shape:
        try:
            arr = np.asarray(value, dtype=object)
        except ValueError:
            raise err("ragged array", fld) from None
        if arr.shape != p.shape:
            raise err(f"expected shape {list(p.shape)}, got {list(arr.shape)}", fld)
        flat = arr.reshape(-1).tolist()
        for i, x in enumerate(flat):
            _check_scalar(x, p, f"{fld}[{i}]", err)
        return np.asarray(flat, dtype=float).reshape(p.shape).tolist()
    return _check_scalar(value, p, fld, err)


def _check_scalar(x: Any, p: Any, fld: str, err: Any) -> float:
    if not _is_number(x):
        raise err(f"expected a finite number, got {x!r}"[:120], fld)
    tol = 1e-6 * max(1.0, abs(p.max - p.min))
    if not p.min - tol <= x <= p.max + tol:
        raise err(f"{x!r} is outside [{p.min:g}, {p.max:g}] {p.unit}".rstrip(), fld)
    return float(min(max(x, p.min), p.max))
