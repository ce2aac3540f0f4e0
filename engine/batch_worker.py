"""One photo, one export: what a batch worker process (local pool or Dask worker) runs.

Kept import-light at module level: a spawned worker imports this module first, and
:func:`init_worker` must set the thread limits before numpy, numba and LibRaw load.
Every failure becomes a :class:`Result` with a readable reason; only a real crash of the
process (a decoder segfault, the timeout watchdog) escapes, and the parent handles that.
"""

from __future__ import annotations

import contextlib
import errno
import faulthandler
import os
import signal
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .formats import DEFAULT_PPI, SIXTEEN_BIT

Status = Literal["done", "skipped", "failed"]
RecipeSource = Literal["sidecar", "auto", "recipe"]

# Test hook: a worker processing a photo of this file name kills itself (like a decoder segfault).
CRASH_ENV = "RETOUCH_BATCH_CRASH_ON"
HANG_ENV = "RETOUCH_BATCH_HANG_ON"  # ... or hangs in C code (time.sleep ignores nothing but the watchdog)
_THREAD_VARS = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class ExportSettings:
    """What every photo of one batch gets. Plain data: pickled to workers and Dask tasks."""

    fmt: str = "jpeg"  # a key of engine.formats.FORMATS
    quality: int = 92
    long_edge: int | None = None
    sharpen: str = "none"  # output sharpening, a key of engine.sharpen.LEVELS
    ppi: int = DEFAULT_PPI  # the print resolution stated in the file (engine.io.write_image)
    source: RecipeSource = "sidecar"  # sidecar (else Auto) | auto | recipe
    recipe: dict | None = None  # the recipe's JSON document when source == "recipe"
    recipe_file: str | None = None  # the file it was read from, if any: a re-run redoes photos when it changed
    overwrite: bool = False
    isolate_decode: bool = False  # decode in a child process (Dask workers, where a crash is costly)
    # Auto (source auto, or sidecar where a photo has none): the style model, its strength and the
    # measured white balance, as ``retouch auto`` takes them (None: the shipped model, Auto's strength)
    model: str | None = None
    strength: float | None = None
    white_balance: str = "learned"  # learned | max-rgb | off


@dataclass(frozen=True)
class Job:
    src: Path
    dst: Path
    settings: ExportSettings = field(default_factory=ExportSettings)
    out_root: Path | None = None  # the folder the batch writes into (it must still be there)


@dataclass(frozen=True)
class Result:
    src: Path
    dst: Path
    status: Status
    reason: str = ""
    seconds: float = 0.0
    recipe_source: str = ""  # which recipe was applied: sidecar, auto or recipe
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage: decode, auto, render, write
    fatal: bool = False  # the output side is unusable (disk full, read-only): no later photo can succeed


class NotAPhotoError(Exception):
    pass


class ForeignFileError(Exception):
    """A photo Retouch did not write appeared at an output's name after the batch was planned."""

    def __init__(self, dst: Path):
        what = "a photo Retouch did not write" if _photo_at(dst) else "something that is not a photo"
        super().__init__(f"{dst.name}: {what} is now there; it is kept")


class OutputGoneError(OSError):
    """The output folder disappeared (deleted, or a drive unplugged): every later photo would go
    to the empty mount point or fail, so the batch stops."""


def someone_elses(dst: Path) -> bool:
    """An existing photo at ``dst`` that Retouch did not write: a camera JPEG beside its RAW, any
    original of the folder. It is never replaced, even with overwrite: the output takes another name
    when planned, and the photo fails if one appears later."""
    return occupant(dst) == "foreign"


def occupant(dst: Path) -> str | None:
    """Who holds ``dst``, in one read of its header: "foreign" (a photo Retouch did not write, or
    anything but a file: a folder, a FIFO, a link to nothing; kept from every output, where a FIFO
    had passed for an earlier export and its photo for done), the photo whose export it is (kept
    from the other photos' outputs: a day's photos named "{date}", one exported on its own after
    another, as Lightroom's "choose a new name"), as :meth:`Identity.owns` reads it, or None:
    nothing, or an export of the forty-second session's Retouch, whose fingerprint names no photo
    (judged as any photo's)."""
    from .io.metadata import output_mark

    if not _photo_at(dst):  # a file not a photo (a style's .onnx) is nobody's; anything else is kept
        return "foreign" if os.path.lexists(dst) and not dst.is_file() else None
    mark = output_mark(dst)
    if mark is None:
        return "foreign"
    version = mark_version(mark)
    if version == 1:  # its photo by name alone: its capture time, carried into it, tells more
        from .io.metadata import capture_time

        taken = capture_time(dst)
        return f"1:{mark[:8]}:{taken.isoformat() if taken else ''}"
    return f"{version}:{mark[:8]}" if version else None


def _photo_at(dst: Path) -> bool:
    """An image file at ``dst``, by its suffix or its first bytes."""
    from .io import is_supported

    try:
        return dst.is_file() and (is_supported(dst) or looks_like_a_photo(dst))
    except OSError:  # a name too long, a loop: nothing to replace there
        return False


def mark_version(tag: str) -> int | None:
    """Which :func:`made_from` an output's ImageUniqueID is: 2 (this one: the photo by its name and
    capture time), 1 (the forty-third session's: by its name alone), or None (the forty-second
    session's plain hash, 32 hex digits too, or anything else). The last 4 hex digits check the
    first 28, salted with the version; a plain hash passes 1 time in 65 536. Taken for another
    photo's, every re-export after an update had been numbered beside its own old file (a review's)."""
    if len(tag) != 32:
        return None
    for version in (2, 1):
        if _check(tag[:28], version) == tag[28:]:
            return version
    return None


def marked(tag: str) -> bool:
    """Whether an output's ImageUniqueID is a :func:`made_from` that names its photo."""
    return mark_version(tag) is not None


def _check(body: str, version: int) -> str:
    import hashlib

    return hashlib.blake2b((body if version == 1 else f"{version}:{body}").encode(), digest_size=2).hexdigest()


#: The first bytes of the image files a camera or an editor leaves without their usual suffix
#: (``IMG_0042`` copied off a card by a script): JPEG, PNG, TIFF (and the TIFF-based RAWs: DNG,
#: NEF, CR2, ARW...), CR3 and other ISO media, Fujifilm RAF, Olympus ORF, Panasonic RW2.
PHOTO_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"FUJIFILMCCD-RAW",
               b"IIRO", b"IIRS", b"MMOR", b"IIU\x00")


def looks_like_a_photo(path: Path) -> bool:
    """Whether the file at ``path`` starts as a photo does, whatever its name."""
    from .io.files import open_regular

    try:
        with open_regular(path) as f:
            head = f.read(16)
    except OSError:  # a FIFO named like a photo blocked its reader for good
        return False
    return head.startswith(PHOTO_MAGIC) or head[4:8] == b"ftyp"  # CR3, HEIC: ISO media


def _check_destination(job: Job) -> None:
    if job.out_root is not None and not job.out_root.is_dir():
        raise OutputGoneError(f"the output folder {job.out_root} is gone")
    if someone_elses(job.dst):
        raise ForeignFileError(job.dst)


def init_worker(threads: int = 1, job_timeout: float | None = None, parent: int = 0) -> None:
    """Pool initializer: thread limits (N processes x 1 thread beats oversubscription), Ctrl-C
    left to the parent, which cancels cleanly, and death with the parent (Linux): a killed CLI or
    app left its workers blocked for good, 364 MB each."""
    from .io.safe import die_with_parent

    die_with_parent(parent)
    for var in _THREAD_VARS:
        os.environ[var] = str(max(1, threads))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    global _JOB_TIMEOUT, _THREADS
    _JOB_TIMEOUT = job_timeout
    _THREADS = max(1, threads)
    # Imported here, not in the first job: a fresh worker's imports took 3+ s on a loaded machine,
    # which the per-photo watchdog then counted against that photo.
    from . import io, recipe, render  # noqa: F401


_JOB_TIMEOUT: float | None = None
_THREADS: int | None = None  # set in pool workers; ONNX Runtime would otherwise spin one thread per core
_AGENTS: dict[tuple, Any] = {}  # per worker process: one agent per (model, white balance)


ALREADY = "already exported, and unchanged since"


def output_exists(dst: Path) -> bool:
    return os.path.lexists(dst)


def made_from(job: Job, version: int = 2) -> str:
    """A fingerprint of what ``job``'s output is made from, known before decoding: the photo (its
    name and capture time, :func:`photo_mark`, the first 8 of the 32 hex digits, and its size; the
    last 4 check the rest, :func:`mark_version`), its steps (the recipe given, the photo's
    sidecar as it is on disk, or Auto with its style, strength and white balance where it has none)
    and the settings that change the file. Written into the output (its EXIF ImageUniqueID), it
    tells a later export whether the file there is still what it would write: a photo reset (its
    sidecar gone), given Auto instead of its steps, or exported at another size, format or quality
    is exported again. ``version`` 1: as the forty-third session wrote it (the photo by its name)."""
    import hashlib
    import json

    from .recipe import Recipe, has_sidecar, sidecar_path

    s = job.settings
    steps: Any = None
    try:  # the steps as the app writes them: Export's photo on screen and Batch's sidecar agree
        if s.source == "recipe":
            steps = Recipe.from_json(s.recipe).to_json() if s.recipe is not None else None
        elif s.source == "sidecar" and has_sidecar(job.src):
            steps = Recipe.load(sidecar_path(job.src)).to_json()
    except (OSError, ValueError, TypeError) as e:  # the export fails and says why; a later one tries again
        steps = {"unreadable": str(e)}
    if steps is None:
        model: Any = None  # the shipped model
        if s.model:
            model = [str(Path(s.model).resolve()), None, None]  # unreadable now: never the shipped model's
            with contextlib.suppress(OSError):
                st = os.stat(s.model)
                model[1:] = [st.st_size, st.st_mtime_ns]
        steps = {"auto": model, "strength": s.strength, "white_balance": s.white_balance}
    try:  # the photo replaced since (edited elsewhere, converted again) is exported again
        size: int | None = os.stat(job.src).st_size
    except OSError:
        size = None
    doc = {"size": size, "steps": steps, "fmt": s.fmt, "quality": s.quality if s.fmt == "jpeg" else None,
           "long_edge": s.long_edge, "sharpen": s.sharpen, "ppi": s.ppi}
    photo = photo_mark(job.src, version)
    body = photo + hashlib.blake2b((photo + json.dumps(doc, sort_keys=True, default=str)).encode(),
                                   digest_size=10).hexdigest()
    return body + _check(body, version)


def photo_mark(src: Path, version: int = 2, taken: Any = ...) -> str:
    """The first 8 hex digits of :func:`made_from`: the photo, by its name and its capture time. An
    ImageUniqueID names one image, so two photos' outputs (a day's photos named "{date}") never pass
    for each other, and a plan can tell another photo's export at a name from this photo's
    (:func:`occupant`). Two cameras' ``IMG_0001.JPG`` of one day differ by their capture times
    (``version`` 1 named the photo alone, and the second replaced the first's export). Not by its
    folder, which a shoot moved or copied changes, nor by its size or file time: a photo edited
    elsewhere since is this photo still, its export replaced (:func:`already_done`), not kept beside
    a new one; but one whose capture time was corrected (a camera clock fixed) is another, its next
    export numbered beside the old one (a review's; the safe side of telling two cameras' photos
    apart). A photo without a date a parser here can read (a screenshot, a CR3) is named alone.
    ``taken``: its capture time, where read already."""
    import hashlib

    from .io.metadata import capture_time

    what = src.name
    if version == 2:
        taken = capture_time(src) if taken is ... else taken
        what += f"\0{taken.isoformat()}" if taken is not None else ""
    return hashlib.blake2b(what.encode("utf-8", "surrogateescape"), digest_size=4).hexdigest()


@dataclass(frozen=True)
class Identity:
    """A photo as export fingerprints name it: :func:`photo_mark` as this Retouch writes it, as the
    forty-third session's did (by its name alone), and its capture time (ISO, "" unknown)."""

    mark: str
    name_mark: str
    taken: str

    def owns(self, who: str) -> bool:
        """Whether the export :func:`occupant` says is ``who``'s is this photo's. One by name alone
        (written before an update) is this photo's unless its carried capture time says otherwise:
        a second camera's IMG_0001.JPG of the day replaced such an export (a QA's)."""
        version, _, rest = who.partition(":")
        if version == "2":
            return rest == self.mark
        if version == "1":
            mark, _, taken = rest.partition(":")
            return mark == self.name_mark and (not taken or not self.taken or taken == self.taken)
        return False


def identity(src: Path) -> Identity:
    """``src``'s :class:`Identity`: one read of its header."""
    from .io.metadata import capture_time

    taken = capture_time(src)
    return Identity(photo_mark(src, 2, taken), photo_mark(src, 1), taken.isoformat() if taken else "")


def already_done(job: Job) -> bool:
    """Whether ``job``'s output exists, was made from what this job would make it from
    (:func:`made_from`), and nothing it was made from changed since: a photo edited (its sidecar
    saved), reset, or replaced after its export, the batch's recipe file changed, or the settings
    changed, is exported again, as darktable's "overwrite if changed" does. Not a photo Retouch did
    not write, which is never done nor replaced."""
    from .io.metadata import output_mark
    from .recipe import sidecar_path

    if not output_exists(job.dst):
        return False
    tag = output_mark(job.dst) if _photo_at(job.dst) else None  # its header read once
    if tag is None:  # a photo Retouch did not write, or no photo at all: never done, nor replaced (export_one)
        return False
    if tag and tag != made_from(job) and (mark_version(tag) != 1 or tag != made_from(job, 1)):
        return False  # none: an export of an older Retouch (or a TIFF written without exiv2), judged by the times alone
    try:
        made = os.stat(job.dst).st_mtime_ns
        s = job.settings
        inputs = [job.src] + ([] if s.source == "auto" else [sidecar_path(job.src)])
        inputs += [Path(s.recipe_file)] if s.source == "recipe" and s.recipe_file else []
        return all(made >= os.stat(p).st_mtime_ns for p in inputs if os.path.exists(p))
    except (OSError, ValueError):  # a dangling link, a name too long: leave it as it is
        return True


def export_one(job: Job) -> Result:
    """Decode, pick the recipe, resize, render and write one photo atomically.

    Idempotent: with ``overwrite=False`` an existing output means the work is done (outputs only
    ever appear complete, by atomic rename), so a retried task neither redoes nor duplicates it.
    """
    t0 = time.perf_counter()
    s = job.settings
    if someone_elses(job.dst):  # appeared since planning: not an earlier export of ours
        return Result(job.src, job.dst, "failed", str(ForeignFileError(job.dst)), 0.0)
    if not s.overwrite and already_done(job):
        return Result(job.src, job.dst, "skipped", ALREADY, 0.0)
    # A hang inside C code (LibRaw) ignores Python signals; faulthandler's watchdog thread ends the
    # process anyway, and the parent reports the file as failed.
    if _JOB_TIMEOUT:
        faulthandler.dump_traceback_later(_JOB_TIMEOUT, exit=True, file=_devnull())
    if os.environ.get(CRASH_ENV) == job.src.name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get(HANG_ENV) == job.src.name:
        time.sleep(3600)
    source = ""
    stages: dict[str, float] = {}
    lap = time.perf_counter()

    def mark(stage: str) -> None:
        nonlocal lap
        now = time.perf_counter()
        stages[stage] = now - lap
        lap = now

    try:
        made = made_from(job)  # before the recipe is read: a sidecar saved meanwhile makes it redone next time
        recipe, source = _fixed_recipe(job)
        linear, meta = _decode(job.src, s)
        mark("decode")
        if recipe is None:
            recipe, source = auto_recipe(linear, s, raw=meta.is_raw), "auto"
            mark("auto")
        from .io import ALPHA_FORMATS, alpha_for, write_image
        from .render import fit_long_edge_cutout, render_bits

        alpha = alpha_for(job.src, *linear.shape[:2]) if s.fmt in ALPHA_FORMATS else None  # a cut-out stays one
        linear, alpha = fit_long_edge_cutout(linear, alpha, s.long_edge or None)
        srgb = render_bits(recipe, linear, 16 if s.fmt in SIXTEEN_BIT else 8,  # in bands: no full float copy
                           sharpen=s.sharpen)
        del linear
        mark("render")
        _check_destination(job)  # checked again here: the folder changes while a batch runs
        job.dst.parent.mkdir(parents=True, exist_ok=True)  # a sub-folder (never the root: checked)
        write_image(job.dst, srgb, fmt=s.fmt, quality=s.quality, meta=meta, alpha=alpha, ppi=s.ppi, made_from=made)
        if not job.dst.is_file() or job.dst.stat().st_size == 0:  # never report success unchecked
            raise OSError(f"{job.dst.name} is missing or empty after writing")
        mark("write")
        return Result(job.src, job.dst, "done", "", time.perf_counter() - t0, source, stages)
    except MemoryError:
        return Result(job.src, job.dst, "failed", "out of memory", time.perf_counter() - t0, source)
    except Exception as e:  # one bad file never stops the batch
        return Result(job.src, job.dst, "failed", describe_error(e, job.src), time.perf_counter() - t0, source,
                      fatal=is_fatal(e))
    finally:
        if _JOB_TIMEOUT:
            faulthandler.cancel_dump_traceback_later()


_FATAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}


def is_fatal(e: BaseException) -> bool:
    """A write error that every later photo would hit too (engine.io wraps the OSError)."""
    return isinstance(e, OutputGoneError) or any(
        isinstance(x, OSError) and x.errno in _FATAL_ERRNOS for x in (e, e.__cause__))


def describe_error(e: BaseException, src: Path | None = None) -> str:
    """``e`` in words for a photo's line of the batch's report, which names ``src`` already: a
    reason of its own does not start with the photo's name again ("day2/IMG_1.jpg: IMG_1.jpg: ...")."""
    from .io import ImageError
    from .recipe import RecipeError

    if isinstance(e, ImageError) and e.path is not None and src is not None and e.path.name == src.name:
        return str(e).removeprefix(f"{src.name}: ")
    if isinstance(e, RecipeError) and e.path is not None:  # the sidecar's name: the summary is per photo,
        return str(e).replace(str(e.path), e.path.name, 1)  # and a folder's path pushed the reason off the table
    if isinstance(e, (ImageError, RecipeError, NotAPhotoError, ForeignFileError, OutputGoneError)):
        return str(e)
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}" + (f": {Path(e.filename).name}" if e.filename else "")
    return f"{type(e).__name__}: {e}"


def _devnull() -> Any:
    global _DEVNULL
    if _DEVNULL is None:
        _DEVNULL = open(os.devnull, "w")  # kept open: the watchdog may fire any time
    return _DEVNULL


_DEVNULL: Any = None


def _fixed_recipe(job: Job) -> tuple[Any, str]:
    """The recipe known before decoding: the given one, the photo's sidecar, or None for Auto.

    The sidecar is read with :meth:`Recipe.load`, not ``read_sidecar``: batch export never
    modifies sidecars, not even to move a bad one aside; a bad sidecar fails that photo instead
    of silently exporting it with Auto.
    """
    from .recipe import Recipe, has_sidecar, sidecar_path

    s = job.settings
    if s.source == "recipe":
        if s.recipe is None:
            raise ValueError("source 'recipe' needs a recipe")
        return Recipe.from_json(s.recipe), "recipe"
    if s.source == "sidecar":
        if has_sidecar(job.src):
            return Recipe.load(sidecar_path(job.src)), "sidecar"
    return None, "auto"


def _decode(src: Path, s: ExportSettings) -> tuple[Any, Any]:
    try:
        st = os.stat(src)
    except OSError as e:  # a link said as what it is, not as "No such file or directory"
        if e.errno == errno.ENOENT and src.is_symlink():
            raise NotAPhotoError(f"a link to a file that is no longer there ({os.readlink(src)})") from None
        if e.errno == errno.ELOOP:
            raise NotAPhotoError("a link that leads back to itself") from None
        raise NotAPhotoError(f"cannot read: {e.strerror}") from None
    from .io import load_photo

    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the read forever, a folder cannot be decoded
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise NotAPhotoError(f"cannot read: {kind}")
    if st.st_size == 0:
        raise NotAPhotoError("empty file")

    # Always the full demosaic, even for a small output: LibRaw's half-size decode bins each 2x2
    # quad without demosaicing, which shifted red and blue a quarter pixel apart and put false
    # colour on edges (28 % of a test chart's pixels against 5 %; 34.6 dB against 39.8 for `apply`).
    photo = load_photo(src, safe=s.isolate_decode)
    return photo.linear, photo.meta


def auto_recipe(linear: Any, s: ExportSettings | None = None, *, raw: bool = False) -> Any:
    """Auto: the agent's recipe with the batch's model, strength and white balance (deterministic,
    seed None: the same on every machine), for a photo that is a RAW decode or not (``raw``, see
    :func:`engine.runners.agent.agent_view`). Without a model it raises the agent's ModelError, as
    the app says it: there is no stand-in."""
    from .runners.agent import Agent, white_balance_options

    s = s or ExportSettings()
    key = (s.model, s.white_balance)
    if key not in _AGENTS:
        _AGENTS[key] = Agent(s.model, threads=_THREADS, **white_balance_options(s.white_balance))
    return _AGENTS[key].predict(linear, strength=s.strength, raw=raw)
