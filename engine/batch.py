"""Batch export, shared by the GUI dialog and ``retouch batch``: plan, then a progress generator.

``plan_jobs`` turns a folder into a deterministic list of (source, output) pairs;
``export_all`` runs them across processes and yields one :class:`Progress` per photo:

* **parallel**: a spawn ``ProcessPoolExecutor`` sized to the cores and the free memory;
* **one bad file never stops the batch**: errors become failed results, and a worker that dies
  (decoder segfault, hang past the timeout) is caught as ``BrokenProcessPool``: the photos that
  were in flight are retried one at a time in a fresh pool, so only the culprit is reported;
* **resumable**: outputs appear only complete (atomic rename), so an existing output is done;
* **cancellable**: set the ``cancel`` event; queued photos are dropped, running ones finish
  (complete files only), the pool is shut down and stray temp files are removed;
* **clusters**: with ``scheduler=`` the same jobs run as Dask tasks (:mod:`engine.batch_dask`).
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path

from .atomic import in_use, temp_stem, unwritable
from .batch_names import FIELDS, TemplateError, check_template, field_values, inside, render_name
from .batch_worker import (
    ALREADY,
    ExportSettings,
    Identity,
    Job,
    Result,
    already_done,
    export_one,
    identity,
    init_worker,
)
from .batch_worker import occupant as _occupant
from .folders import scan_folder
from .formats import FORMATS, SIXTEEN_BIT, SUFFIX_FORMAT

__all__ = [
    "FIELDS", "MIN_PAIRS", "ExportSettings", "Job", "Progress", "Result", "TemplateError", "check_template",
    "cleanup_partials", "default_workers", "export_all", "pair_by_name", "plan_jobs", "scan_folder",
    "sidecar_steps", "steps_now",
]

# A worker holds the decoded float image (~300 MB at 24 MP), LibRaw's buffers while decoding,
# the rendered copy and the encoder's 8/16-bit copy; measured peak RSS 815 MB for a 24 MP DNG with
# Auto. Four images' worth leaves room for ~30 MP cameras.
IMAGE_COST_24MP = 300 * 2**20
WORKER_COST = 4 * IMAGE_COST_24MP
JOB_TIMEOUT_S = 600.0
#: After a cancel, how long running photos may take to finish before their workers are killed.
CANCEL_GRACE_S = 60.0


@dataclass(frozen=True)
class Progress:
    """One finished photo. ``done``/``total`` count every photo, skipped ones included."""

    done: int
    total: int
    result: Result
    elapsed: float  # seconds since the batch started
    processed: int  # photos actually worked on (not skipped) so far

    @property
    def rate(self) -> float:
        """Photos per second over the photos actually worked on."""
        return self.processed / self.elapsed if self.elapsed > 0 and self.processed else 0.0

    @property
    def eta(self) -> float | None:
        r = self.rate
        return (self.total - self.done) / r if r else None


# ---------------------------------------------------------------------------------------------
# Planning


MIN_PAIRS = 4  # fewer photos paired by name: a style's folders are taken as unpaired


def pair_by_name(inputs: list[Path], targets: list[Path]) -> list[tuple[Path, Path]]:
    """The (input, target) pairs of two folders' photos: the same file name, its extension and
    case aside (``IMG_0042.CR2`` and ``img_0042.jpg``: a RAW and its export), each name at most
    once on either side, and never a file with itself (the same folder twice pairs nothing). A
    camera's RAW + JPEG of one shot among the inputs pairs by its RAW (the unedited one), a RAW and
    an export among the targets by the export. ``retouch train-style`` learns from each pair when
    there are at least ``MIN_PAIRS``."""
    from .io import is_raw

    def by_stem(paths: list[Path], raw: bool) -> dict[str, Path]:
        stems: dict[str, list[Path]] = {}
        for q in paths:
            stems.setdefault(q.stem.casefold(), []).append(q)
        out = {}
        for k, v in stems.items():
            if len(v) > 1:  # IMG_1.CR2 + IMG_1.jpg: the side's own kind, if that leaves one
                v = [q for q in v if is_raw(q) == raw]
            if len(v) == 1:
                out[k] = v[0]
        return out

    if {q.resolve() for q in inputs} == {q.resolve() for q in targets}:
        return []  # one folder given twice: its camera JPEGs are not edits of its RAWs
    ins, outs = by_stem(inputs, raw=True), by_stem(targets, raw=False)
    return [(ins[k], outs[k]) for k in sorted(ins.keys() & outs.keys()) if ins[k].resolve() != outs[k].resolve()]


def plan_jobs(
    in_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    settings: ExportSettings | None = None,
    *,
    template: str = "{stem}",
    recursive: bool = False,
    sources: Iterable[Path] | None = None,
) -> Plan:
    """Deterministic jobs for the photos of ``in_dir`` (or the given ``sources`` in it).

    Outputs mirror sub-folders when ``recursive``. Names that collide between photos of different
    kinds (``IMG_1.NEF`` and ``IMG_1.JPG``; case-insensitively, for SMB/macOS shares) or that would
    land on a source get ``_EXT`` appended, then ``-2``, ``-3`` in sorted source order (photos of one
    kind asking for one name, as ``{date}`` alone gives a day's JPEGs, only the numbers). A
    template ending in the format's suffix (``{stem}.jpg``) is not given it twice. ``sources`` are named together with
    their folder's other photos of the same name (the RAW and the camera's JPEG of one shot), so
    that a photo's output name does not depend on which of them are exported (one exported alone
    took the name its sibling's export already had). Retouch's own exports found in IN_DIR are left
    out of a whole-folder plan (:class:`Plan`). Raises :class:`TemplateError`.
    """
    settings = settings or ExportSettings()
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    fields = check_template(template)
    if settings.fmt not in FORMATS:
        raise ValueError(f"unknown format {settings.fmt!r} (choose from {', '.join(FORMATS)})")
    if not in_dir.is_dir():
        raise FileNotFoundError(f"{in_dir} is no longer there (moved, renamed or unplugged?)" if not in_dir.exists()
                                else f"{in_dir} is not a folder")
    if sources is None and os.path.realpath(out_dir) == os.path.realpath(in_dir):
        # The next run would take the exports for photos; a sub-folder is fine (never scanned).
        raise ValueError("OUT_DIR must not be IN_DIR itself; use a sub-folder such as IN_DIR/export")
    left_out: list[Path] = []
    unreadable: list[Path] = []
    if sources is None:
        srcs, left_out = _without_ours(scan_folder(in_dir, recursive=recursive, exclude=out_dir,
                                                   unreadable=unreadable))
        wanted = None
    else:  # chosen photos: Retouch's own exports among them are left out as from a folder
        kept, left_out = _without_ours(sorted(sources))
        wanted = {_real(s) for s in kept}
        srcs = _with_namesakes(kept) if kept else []
    suffix = FORMATS[settings.fmt]
    tail = Path(template).suffix.lower()  # "{stem}.jpg" meant the name, not IMG_1.jpg.jpg
    if tail in SUFFIX_FORMAT and FORMATS[SUFFIX_FORMAT[tail]] == suffix:
        template = template[: -len(tail)]
    needs_meta = "date" in fields or "camera" in fields

    names: list[Path] = []
    for src in srcs:
        captured = camera = None
        if needs_meta:
            captured, camera = _date_camera(src)
        rel = render_name(template, field_values(src, captured, camera))
        sub = src.parent.relative_to(in_dir) if recursive else Path()
        names.append(sub / rel)

    originals = {_real(s) for s in srcs}
    taken = set(originals)  # and each output named so far

    occupants: dict[str, str | None] = {}  # each name's _occupant, its header read once in a plan

    def occupant(dst: Path, real: str) -> str | None:
        if real not in occupants:
            occupants[real] = _occupant(dst)
        return occupants[real]

    def blocked(dst: Path, photo: _Photo) -> str | None:
        """Why the output of ``photo`` cannot be ``dst``: "all" (a namesake's output, a photo
        Retouch did not write: for every photo), the id of the photo whose export it is, or None."""
        real = _real(dst)
        if real in taken:
            return "all"
        who = occupant(dst, real)
        return "all" if who == "foreign" else None if who is None or photo.ident.owns(who) else who

    counts: dict[str, int] = {}
    kinds: dict[str, set[str]] = {}  # the extensions of the photos asking for each name
    for src, n in zip(srcs, names):
        counts[str(n).casefold()] = counts.get(str(n).casefold(), 0) + 1
        kinds.setdefault(str(n).casefold(), set()).add(src.suffix.casefold())
    jobs: list[Job] = []
    renamed: dict[Path, Path] = {}
    # each name's first number not known to be blocked for every photo: the next photo asking for
    # it searches on from there. Searching again from 1 made "{date}" alone for a day's 800 photos
    # take 3.8 s on the GUI thread (a QA's), growing as n². Another photo's export passed on the way
    # is remembered under that photo's mark (``held``), where the photo finds it if it comes later
    numbered: dict[str, int] = {}
    held: dict[str, dict[str, int]] = {}
    for src, rel in zip(srcs, names):
        key = str(rel).casefold()
        dst = asked = out_dir / (str(rel) + suffix)
        # a RAW and the camera's JPEG of one shot: each its _EXT; photos of one kind ({date} alone): -2, -3
        real = _real(dst)
        if (counts[key] > 1 and len(kinds[key]) > 1) or real in originals or occupant(dst, real) == "foreign":
            ext = src.suffix.lstrip(".") or "noext"
            rel = rel.with_name(f"{rel.name}_{ext}")
            dst = out_dir / (str(rel) + suffix)
        base, mark, photo = rel, str(rel).casefold(), _Photo(src)
        mine = [who for who in held.get(mark, ()) if photo.ident.owns(who)]
        own = held[mark].pop(mine[0]) if mine else None
        n = own if own is not None else numbered.get(mark, 1)
        if n > 1:
            dst = out_dir / (f"{base}-{n}" + suffix)
        while own is None and (why := blocked(dst, photo)):
            if why != "all":
                held.setdefault(mark, {}).setdefault(why, n)
            if numbered.get(mark, 1) == n:
                numbered[mark] = n + 1
            n += 1
            dst = out_dir / (f"{base}-{n}" + suffix)
        if numbered.get(mark, 1) == n:  # taken now, by this photo
            numbered[mark] = n + 1
        if not inside(dst.parent if dst.parent.exists() else out_dir, out_dir):
            raise TemplateError(f"{template!r}: output for {src.name} would leave {out_dir} (through a link)")
        taken.add(_real(dst))
        jobs.append(Job(src, dst, settings, out_dir))
        if dst != asked:
            renamed[src] = asked
    if wanted is not None:
        jobs = [j for j in jobs if _real(j.src) in wanted]
    return Plan(jobs, left_out, {j.src: renamed[j.src] for j in jobs if j.src in renamed}, unreadable)


class Plan(list):
    """:func:`plan_jobs`'s jobs, and ``left_out``: the images of IN_DIR (or of the photos given)
    that are Retouch's own exports (an earlier ``export/`` sub-folder, exports saved beside the
    originals), which a batch would otherwise take for photos and export again, Auto on top of the
    edit; ``renamed``: source -> the output the template named, for the jobs whose output got
    another name because that one was taken (by a namesake's output, a source, another program's
    photo); ``unreadable``: the sub-folders a recursive plan could not read (their photos are not
    in it, and the batch reports them as failed)."""

    def __init__(self, jobs: Iterable[Job] = (), left_out: Iterable[Path] = (), renamed: dict | None = None,
                 unreadable: Iterable[Path] = ()):
        super().__init__(jobs)
        self.left_out = list(left_out)
        self.renamed: dict[Path, Path] = dict(renamed or {})
        self.unreadable = list(unreadable)


def sidecar_steps(photo: Path) -> dict | None:
    """The steps of ``photo``'s sidecar as it is now, or None where it has none or it cannot be
    read (left to the export's worker, which says why the photo fails)."""
    from .recipe import Recipe, has_sidecar, sidecar_path

    if not has_sidecar(photo):
        return None
    try:
        return Recipe.load(sidecar_path(photo)).to_json()
    except (OSError, ValueError, TypeError):
        return None


def steps_now(jobs: Plan, held: dict[Path, dict] | None = None) -> Plan:
    """``jobs`` with each photo's sidecar read now, at planning, and its steps given as the job's
    recipe (a photo without one: Auto). Read by the worker at the photo's turn, a photo edited
    meanwhile (in the app, while a batch ran) was exported with the later edit.

    ``held``: steps that stand for a photo's sidecar (resolved path -> ``Recipe.to_json()``), the
    app's edits its sidecar could not take (a read-only folder, a full disk, a newer Retouch's
    sidecar); no steps in them: Auto. The batch had exported the stale sidecar, or Auto, in silence."""
    from .recipe import has_sidecar

    held = held or {}
    for i, job in enumerate(jobs):
        s = job.settings
        if s.source != "sidecar":
            continue
        steps = held.get(job.src.resolve()) if held else None
        if steps is not None:
            jobs[i] = replace(job, settings=replace(s, source="recipe", recipe=steps) if steps.get("steps") else
                              replace(s, source="auto"))
            continue
        steps = sidecar_steps(job.src)
        if steps is not None:
            jobs[i] = replace(job, settings=replace(s, source="recipe", recipe=steps))
        elif not has_sidecar(job.src):
            jobs[i] = replace(job, settings=replace(s, source="auto"))
    return jobs


def renamed_text(plan: Plan, done: dict[Path, Path], arrow: str = "->") -> str:
    """The line naming the outputs saved under another name, as the template's was taken, or ""
    (``done``: source -> output of the photos exported). A photographer looks for the template's
    name; where two photos asked for the same one (a RAW and the camera's JPEG of one shot), each
    says which photo it is."""
    renamed = [(src, asked, done[src]) for src, asked in plan.renamed.items() if src in done]
    if not renamed:
        return ""
    twice = {a for _, a, _ in renamed if sum(a == b for _, b, _ in renamed) > 1}
    more = f" and {len(renamed) - 3} more" if len(renamed) > 3 else ""
    why = "the template's was taken" if not twice else "the template gave two photos one name, or it was taken"
    return f"Saved under another name, as {why}: " + "; ".join(
        f"{a.name} {arrow} {d.name}" + (f" (from {s.name})" if a in twice else "") for s, a, d in renamed[:3]) + more


def _without_ours(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """``paths`` split into the photos and Retouch's own exports (by their Software tag)."""
    from .io import is_raw
    from .io.metadata import written_by_retouch

    ours = [p for p in paths if not is_raw(p) and written_by_retouch(p)]
    mine = set(ours)
    return [p for p in paths if p not in mine], ours


def _with_namesakes(sources: list[Path]) -> list[Path]:
    """``sources`` and the photos beside them that share a name with one of them, its extension and
    case aside, sorted; each file once."""
    stems = {(os.path.realpath(s.parent), s.stem.casefold()) for s in sources}
    found = {_real(s): s for s in sources}
    for folder in {s.parent for s in sources}:
        try:
            beside = [p for p in scan_folder(folder) if (os.path.realpath(p.parent), p.stem.casefold()) in stems]
        except OSError:  # gone or unreadable: the sources' own jobs report it
            continue
        # an export of ours is replaced, not a namesake; only namesakes are opened to tell (the
        # app plans on its GUI thread, and a folder holds thousands of photos)
        for p in _without_ours(beside)[0]:
            found.setdefault(_real(p), p)
    return sorted(found.values())


class _Photo:
    """A photo being planned; its :class:`Identity` (a read of its header) only read when an
    export of Retouch's holds a name it asks for."""

    def __init__(self, src: Path):
        self.src = src

    @functools.cached_property
    def ident(self) -> Identity:
        return identity(self.src)


def _real(p: Path) -> str:
    """``p`` with its links followed, case-folded (SMB/macOS shares); a link loop is left as it is
    (``Path.resolve`` raises on one, and a folder holding one must still export)."""
    return os.path.realpath(p).casefold()


def _date_camera(src: Path) -> tuple[object, str | None]:
    from .io import read_metadata

    try:
        meta = read_metadata(src)
    except Exception:  # named "undated"/"unknown-camera"; the export itself reports the error
        return None, None
    return meta.captured, meta.camera


# ---------------------------------------------------------------------------------------------
# Running


def available_memory() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 8 * 2**30


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def prepare_output(out_dir: Path) -> bool:
    """Create ``out_dir`` if needed and check that a file can be written in it: found now, not once
    per photo after each has been decoded and rendered. Returns whether it was created; an
    ``OSError`` says why it cannot be used."""
    created = not out_dir.exists()
    if out_dir.exists() and not out_dir.is_dir():
        raise OSError(f"{out_dir} is a file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(f"cannot write to {out_dir} ({e.strerror or e})") from None
    why = unwritable(out_dir)
    if why:
        raise OSError(f"cannot write to {out_dir} ({why})")
    return created


def default_workers(n_jobs: int | None = None, jobs: Sequence[Job] | None = None) -> int:
    """min(cores, free memory / cost of one worker, photos to do), at least 1; the cost is that of
    ``jobs``' largest photos when given (:func:`worker_cost`), else a 24 MP camera's."""
    cost = worker_cost(jobs) if jobs else WORKER_COST
    n = min(cpu_count(), max(1, available_memory() // cost))
    if n_jobs is not None:
        n = min(n, max(1, n_jobs))
    return max(1, n)


# Peak memory of one worker: a base plus bytes per pixel of the largest photo (measured: 24 MP 1.03 GB
# for JPEG and 1.40 GB for 16-bit TIFF, 45 MP 2.38 GB for 16-bit TIFF; the fixed 1.2 GB undercounted
# cameras over 24 MP twice over).
BASE_COST = 250 * 2**20
BYTES_PER_PIXEL = dict.fromkeys(SIXTEEN_BIT, 55)
RAW_BYTES_PER_PIXEL = 1.0  # RAW files hold ~1-2 bytes per pixel: their size overstates, never under


def worker_cost(jobs: Sequence[Job]) -> int:
    """Memory one worker needs for the largest of ``jobs``' photos: every raster's header (a
    fraction of a millisecond each: a 571 KB PNG of 196 MP beside larger files had been left out,
    and two workers started where it alone needed 7 GB), the 3 largest RAWs on disk (their size,
    or a TIFF-based one's header; LibRaw never parses them in this process)."""
    from .io import declared_pixels, is_raw
    from .io.errors import MAX_PIXELS
    from .io.image import JPEG_MAX_PIXELS_PER_BYTE

    raws = [job for job in jobs if is_raw(job.src)]
    pixels = 0
    for job in sorted(raws, key=_file_size, reverse=True)[:3]:
        with contextlib.suppress(Exception):  # unreadable: its own job will say so
            pixels = max(pixels, _raw_pixels(job.src) or int(_file_size(job) / RAW_BYTES_PER_PIXEL))
    for job in jobs:
        if not is_raw(job.src):  # at most what a photo can hold and be opened: a refused bomb does not size the rest
            declared = min(declared_pixels(job.src), MAX_PIXELS)
            if job.src.suffix.lower() in (".jpg", ".jpeg"):
                declared = min(declared, JPEG_MAX_PIXELS_PER_BYTE * _file_size(job))
            pixels = max(pixels, declared)
    if not pixels:
        return WORKER_COST
    return BASE_COST + BYTES_PER_PIXEL.get(jobs[0].settings.fmt, 45) * pixels


def _raw_pixels(path: Path) -> int:
    """The sensor's pixel count from a TIFF-based RAW's header (DNG, NEF, CR2, ARW...: tifffile,
    pure Python, so no LibRaw parse in this process); 0 where it cannot be read (CR3, RAF...).
    An uncompressed 61 MP DNG's size on disk said 120 M pixels: one worker where two fitted."""
    import tifffile

    from .io.metadata import tiff_pages

    try:
        with tifffile.TiffFile(path) as tf:
            return max((int(p.imagewidth) * int(p.imagelength) for p in tiff_pages(tf)), default=0)
    except Exception:  # tifffile raises many kinds on files it cannot parse: the file size then
        return 0


def _file_size(job: Job) -> int:
    try:
        return job.src.stat().st_size
    except OSError:
        return 0


def partial_target(name: str) -> str | None:
    """The output a temp file of :func:`engine.atomic.atomic_path` was for: ``.{target}.{random}.part{suffix}``
    (its :func:`~engine.atomic.temp_stem`, for a long name)."""
    if not name.startswith(".") or ".part" not in name:
        return None
    head = name[1:name.rfind(".part")]
    return head.rsplit(".", 1)[0] if "." in head else None


def cleanup_partials(jobs: Iterable[Job]) -> int:
    """Remove temp files left by writers that died (SIGKILL, power loss): one listing per folder.
    Complete outputs are never touched: temp files are hidden names only the atomic writer makes."""
    by_dir: dict[Path, set[str]] = {}
    for job in jobs:
        by_dir.setdefault(job.dst.parent, set()).add(temp_stem(job.dst.name))
    n = 0
    for folder, names in by_dir.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            if partial_target(e.name) in names and e.is_file(follow_symlinks=False) and not in_use(e.path):
                with contextlib.suppress(OSError):
                    os.unlink(e.path)
                    n += 1
    return n


def export_all(
    jobs: Sequence[Job],
    *,
    workers: int | None = None,
    cancel: threading.Event | None = None,
    scheduler: str | None = None,
    job_timeout: float | None = JOB_TIMEOUT_S,
    grace: float | None = None,
) -> Iterator[Progress]:
    """Export every job, yielding a :class:`Progress` per photo in completion order. Cancelled,
    the photos running finish for up to ``grace`` seconds (default :data:`CANCEL_GRACE_S`, on this
    machine's workers); 0 stops them at once, unreported (the app's Cancel: a 54 MP export went on
    for 9 s and was written)."""
    cancel = cancel or threading.Event()
    t0 = time.perf_counter()
    total = len(jobs)
    done = processed = 0
    cleanup_partials(jobs)
    todo: list[Job] = []
    try:
        for job in jobs:
            if not job.settings.overwrite and already_done(job):
                done += 1
                yield Progress(done, total, Result(job.src, job.dst, "skipped", ALREADY),
                               time.perf_counter() - t0, processed)
            else:
                todo.append(job)
        if not todo or cancel.is_set():
            return
        # the output folders are made here, once: a worker that finds one gone later stops the
        # batch instead of making it again (on the empty mount point of an unplugged drive)
        for root in {job.out_root for job in todo if job.out_root is not None}:
            with contextlib.suppress(OSError):  # then each photo reports why
                root.mkdir(parents=True, exist_ok=True)
        if scheduler:
            from .batch_dask import run_on_cluster

            results: Iterator[Result] = run_on_cluster(todo, scheduler, cancel)
        else:
            results = run_local(todo, workers or default_workers(len(todo), todo), cancel, job_timeout, grace)
        for r in results:
            if r.status == "skipped":  # absent when planned: a retried task found its own output
                r = replace(r, status="done", reason="finished by an earlier attempt")
            if r.fatal:  # disk full / read-only: stop instead of failing every remaining photo
                cancel.set()
            done += 1
            processed += 1
            yield Progress(done, total, r, time.perf_counter() - t0, processed)
    finally:
        cleanup_partials(jobs)


def _pool(workers: int, job_timeout: float | None) -> ProcessPoolExecutor:
    threads = max(1, cpu_count() // workers)
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=init_worker, initargs=(threads, job_timeout, os.getpid()))


@contextlib.contextmanager
def _workers_start_deaf() -> Iterator[None]:
    """SIGINT blocked while the pool may start workers (it starts them on submit). A spawned worker
    keeps the blocked mask, so the Ctrl-C a terminal sends to the whole process group cannot reach
    it while it imports, before its initializer ignores SIGINT (it printed a KeyboardInterrupt
    traceback). The parent gets a Ctrl-C of that moment as soon as the block ends: nothing is lost."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def run_local(jobs: Sequence[Job], workers: int, cancel: threading.Event,
              job_timeout: float | None = JOB_TIMEOUT_S, grace: float | None = None) -> Iterator[Result]:
    """Results in completion order from a process pool; see the module docstring for crashes, and
    :func:`export_all` for ``grace``."""
    pending = deque(jobs)
    inflight: dict[Future, Job] = {}
    submitted: dict[Future, int] = {}  # when each went to a worker (ns): what it wrote is newer
    pool = _pool(workers, job_timeout)
    try:
        while (pending or inflight) and not cancel.is_set():
            # one photo per worker: the pool hands a queued photo to its workers' queue at once, where
            # it can no longer be cancelled (a cancel then still exported those, after the running ones)
            try:
                with _workers_start_deaf():
                    while pending and len(inflight) < workers:
                        job, sent = pending.popleft(), time.time_ns()
                        fut = pool.submit(export_one, job)
                        inflight[fut], submitted[fut] = job, sent
                finished, _ = wait(inflight, timeout=0.2, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:  # Ctrl-C: a clean cancel that still reports the running photos
                cancel.set()
                break
            broken = False
            for fut in finished:
                try:
                    r = fut.result()
                except BrokenProcessPool:
                    broken = True
                    continue
                except Exception as e:  # e.g. a result that cannot be sent back: still one photo
                    job = inflight[fut]
                    r = Result(job.src, job.dst, "failed", f"{type(e).__name__}: {e}")
                del inflight[fut]
                yield r
            if broken:
                suspects = list(inflight.values())
                inflight.clear()
                pool.shutdown(wait=True, cancel_futures=True)
                for job in suspects:
                    if cancel.is_set():
                        break
                    yield _run_alone(job, job_timeout) if len(suspects) > 1 else _crashed(job)
                pool = _pool(workers, job_timeout)
        # Cancelled: queued work is dropped, running photos finish as complete files, for as long as
        # the grace lasts (a hung photo held a cancel for the watchdog's 10 minutes); then their
        # workers are killed and their temp files swept by export_all. One whose file was renamed
        # into place as it was killed counts as done.
        for fut in list(inflight):
            fut.cancel()
        grace = CANCEL_GRACE_S if grace is None else grace
        deadline = time.monotonic() + grace
        for fut, job in inflight.items():
            if fut.cancelled():
                continue
            try:
                yield fut.result(timeout=max(0.0, deadline - time.monotonic()))
            except (FutureTimeout, BrokenProcessPool) as e:  # past the grace, or its worker killed by the stop
                if isinstance(e, FutureTimeout):
                    _kill_workers(pool)
                if grace > 0:  # a pool broken before the deadline: its decoder crashed
                    yield (Result(job.src, job.dst, "failed", "stopped: still running when the batch was cancelled")
                           if time.monotonic() >= deadline else _crashed(job))
                elif _written_since(job.dst, submitted[fut]):  # its file was in place as it was stopped
                    yield Result(job.src, job.dst, "done", "written as the export was cancelled", 0.0)
                # else stopped as asked: not exported, as those not started
    except KeyboardInterrupt:  # a second Ctrl-C: stop now, whatever is running
        _kill_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _written_since(dst: Path, ns: int) -> bool:
    try:
        return os.stat(dst).st_mtime_ns >= ns
    except OSError:
        return False


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, ValueError):
            proc.kill()


def _crashed(job: Job) -> Result:
    return Result(job.src, job.dst, "failed", "the decoder crashed or hung (worker process died)")


def _run_alone(job: Job, job_timeout: float | None) -> Result:
    """Re-run a photo that was in flight when a worker died, by itself, to find the culprit."""
    with _pool(1, job_timeout) as solo:
        try:
            return solo.submit(export_one, job).result()
        except BrokenProcessPool:
            return _crashed(job)
