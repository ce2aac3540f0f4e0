"""The default photo set split and the inverse rendering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.color import srgb_decode
from models.data import degrade
from models.data.assemble import plan, read_list, split_of


def test_split_is_disjoint_deterministic_and_covers_the_list():
    entries = read_list()
    assert len(entries) >= 20
    split = split_of(entries)
    assert split == split_of(list(reversed(entries)))  # order of the list does not matter
    assert set(split) == {e.name for e in entries}
    counts = {s: sum(v == s for v in split.values()) for s in ("targets", "inputs", "heldout")}
    assert counts["heldout"] == 5 and abs(counts["targets"] - counts["inputs"]) <= 1


def test_extra_photos_add_inputs_validation_and_held_out_photos():
    base = split_of(read_list())
    entries, split = plan()
    extra = {e.name for e in entries} - set(base)
    assert len(extra) >= 250 and len({e.name for e in entries}) == len(entries)  # names stay unique
    assert {split[n] for n in extra} == {"inputs", "val", "heldout"}
    assert 20 <= sum(split[n] == "val" for n in extra) <= 50
    assert sum(split[n] == "heldout" for n in extra) == 6  # the everyday photos of the 22nd session
    assert {n: split[n] for n in base} == base  # the hashed split is unmoved
    assert "targets" not in {split[n] for n in extra}  # the critic's set is the hashed split's alone


def test_extra_photos_with_a_bad_set_are_refused(tmp_path):
    bad = tmp_path / "extra.tsv"
    bad.write_text("package\tversion\tpath\tlicence\tname\tset\npkg\t1\t/a.jpg\tCC0\tx\ttargets\n")
    with pytest.raises(ValueError, match="set must be one of inputs, val, heldout"):
        plan(extra=bad)


def test_degrade_identity_and_direction(heldout_srgb):
    srgb = heldout_srgb[0]
    ident = degrade.degrade(srgb, degrade.Degradation())
    np.testing.assert_allclose(ident, np.clip(srgb_decode(srgb), 0, 1), atol=1e-5)
    dark = degrade.degrade(srgb, degrade.Degradation(ev=-1.0))
    np.testing.assert_allclose(dark, ident * 0.5, atol=1e-5)
    warm = degrade.degrade(srgb, degrade.Degradation(wb_r=0.3, wb_b=-0.3))
    assert warm[..., 0].mean() > ident[..., 0].mean() and warm[..., 2].mean() < ident[..., 2].mean()
    grey = degrade.degrade(srgb, degrade.Degradation(saturation=0.0))
    chroma = lambda x: np.abs(x - x.mean(-1, keepdims=True)).mean()  # noqa: E731
    assert chroma(grey) < 0.2 * chroma(ident)


def test_degrade_batch_matches_single_and_is_seeded(heldout_srgb):
    rng = np.random.default_rng(1)
    imgs = np.stack([p[:64, :64] for p in heldout_srgb[:3]])
    d = degrade.sample(rng, 3)
    batch = degrade.degrade(imgs, d)
    for i in range(3):
        one = degrade.Degradation(**{k: float(v[i]) for k, v in d.as_dict().items()})
        np.testing.assert_allclose(batch[i], degrade.degrade(imgs[i], one), atol=1e-5)
    assert degrade.sample(np.random.default_rng(5)) == degrade.sample(np.random.default_rng(5))
    assert 0 <= batch.min() and batch.max() <= 1


def test_scaled_ranges_shrink_the_degradation_about_the_identity(heldout_srgb):
    """``evaluate --degradation-scale``: 1 is the training ranges, 0 no degradation at all, 0.5
    each shift half as far from the identity (the same draw, halved)."""
    for k, r in degrade.scaled_ranges(1.0).items():
        assert r == pytest.approx(degrade.RANGES[k])
    none = degrade.sample(np.random.default_rng(3), ranges=degrade.scaled_ranges(0.0))
    assert none == degrade.Degradation()
    img = heldout_srgb[0][:64, :64]
    np.testing.assert_allclose(degrade.degrade(img, none), srgb_decode(img), atol=1e-5)
    full = degrade.sample(np.random.default_rng(3)).as_dict()
    half = degrade.sample(np.random.default_rng(3), ranges=degrade.scaled_ranges(0.5)).as_dict()
    ident = degrade.Degradation().as_dict()
    for k in full:
        assert half[k] - ident[k] == pytest.approx(0.5 * (full[k] - ident[k]))


def _deb(tmp_path, name: str = "retouch-test-photos"):
    """A real (tiny) Debian package holding one photo, built with dpkg-deb as Debian builds them."""
    import shutil
    import subprocess

    from PIL import Image

    tree = tmp_path / "pkg"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(f"Package: {name}\nVersion: 1.0\nArchitecture: all\n"
                                             "Maintainer: tests <t@example.org>\nDescription: test\n")
    (tree / "usr/share/pics").mkdir(parents=True)
    Image.new("RGB", (8, 6), (200, 100, 50)).save(tree / "usr/share/pics/a.png")
    deb = tmp_path / f"{name}_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(tree), str(deb)], check=True,
                   capture_output=True)
    shutil.rmtree(tree)
    return deb


@pytest.mark.skipif(__import__("shutil").which("dpkg-deb") is None, reason="needs dpkg-deb (Debian)")
def test_fetch_package_shares_a_cache_and_says_what_went_wrong(tmp_path, monkeypatch):
    """Two runs unpacking into one cache at once both get the package (one crashed on the other's
    folders); a damaged .deb is removed with a one-line reason; offline, apt-get's own reason is
    said; no temporary folder is ever left behind."""
    import shutil
    from concurrent.futures import ThreadPoolExecutor

    from models.data.assemble import AssembleError, fetch_package

    monkeypatch.chdir(tmp_path)
    cache = Path("cache")  # relative, as make data's data/apt-cache
    (cache / "debs").mkdir(parents=True)
    deb = _deb(tmp_path)
    shutil.copy(deb, cache / "debs")
    with ThreadPoolExecutor(4) as ex:
        roots = list(ex.map(lambda _: fetch_package("retouch-test-photos", cache), range(4)))
    assert len(set(roots)) == 1 and (roots[0] / "usr/share/pics/a.png").is_file()
    cache = cache.resolve()
    leftovers = sorted(p.name for p in cache.iterdir())
    assert leftovers == [".lock", "debs", "unpacked"], leftovers

    (roots[0] / ".complete").unlink()  # half unpacked (or by an older version): unpacked again
    (roots[0] / "usr/share/pics/a.png").unlink()
    (cache / "debs" / deb.name).write_bytes(deb.read_bytes()[:700])  # damaged in the cache
    with pytest.raises(AssembleError, match=f"{deb.name} is damaged .*removed: run again"):
        fetch_package("retouch-test-photos", cache)
    assert not (cache / "debs" / deb.name).exists()
    assert sorted(p.name for p in cache.iterdir()) == [".lock", "debs", "unpacked"]

    bin_dir = tmp_path / "bin"  # offline: apt-get fails and says why
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text("#!/bin/sh\necho 'E: Temporary failure resolving deb.debian.org' >&2\nexit 100\n")
    (bin_dir / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    with pytest.raises(AssembleError, match=r"Temporary failure resolving deb\.debian\.org.*put retouch-test-photos"):
        fetch_package("retouch-test-photos", cache)
    shutil.copy(deb, cache / "debs")  # the way out it names
    root = fetch_package("retouch-test-photos", cache)
    assert (root / "usr/share/pics/a.png").is_file() and (root / ".complete").exists()


@pytest.mark.skipif(__import__("shutil").which("dpkg-deb") is None, reason="needs dpkg-deb (Debian)")
def test_a_run_waiting_on_another_says_so(tmp_path, capsys):
    """A second make data (or an evaluate fetching the targets) waits for the first: said, not silent."""
    import shutil
    import subprocess
    import sys
    import threading

    from models.data.assemble import fetch_package

    cache = tmp_path / "cache"
    (cache / "debs").mkdir(parents=True)
    shutil.copy(_deb(tmp_path), cache / "debs")
    holder = subprocess.Popen(  # another run, holding the cache
        [sys.executable, "-c", "import sys; from filelock import FileLock; lock = FileLock(sys.argv[1]); "
         "lock.acquire(); print('held', flush=True); sys.stdin.readline()", str(cache / ".lock")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        got: list[Path] = []
        waiting = threading.Thread(target=lambda: got.append(fetch_package("retouch-test-photos", cache)))
        waiting.start()
        waiting.join(1.0)
        assert waiting.is_alive() and not got  # it waits ...
        assert f"another run is using {cache}: waiting for it to finish" in capsys.readouterr().err  # ... and says so
        holder.communicate("done\n", timeout=10)
        waiting.join(30)
        assert got and (got[0] / "usr/share/pics/a.png").is_file()
    finally:
        holder.kill()
        holder.wait()
    fetch_package("retouch-test-photos", cache)  # unhindered: silent
    assert "waiting" not in capsys.readouterr().err


def test_fetch_package_takes_the_listed_version_and_says_when_it_cannot(tmp_path, monkeypatch, capsys):
    """photos.tsv names each package's version: that one is downloaded and used where the archive
    has it (another release has its own, which is taken and said), and among cached versions the
    listed one is used, not the last by name (5.27.10 sorts before 5.27.5)."""
    import os
    import shutil

    from models.data.assemble import _debs, fetch_package

    deb = _deb(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    # an archive that has the package only at its current version, 1.0
    (bin_dir / "apt-get").write_text(f'#!/bin/sh\necho "$@" >> {log}\ncase "$2" in *=*) '
                                     "echo \"E: Version '0.9' was not found\" >&2; exit 100;; esac\n"
                                     f"cp {deb} .\n")
    (bin_dir / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    cache = tmp_path / "cache"
    root = fetch_package("retouch-test-photos", cache, "0.9")
    assert (root / "usr/share/pics/a.png").is_file()
    assert log.read_text().splitlines() == ["download retouch-test-photos=0.9", "download retouch-test-photos"]
    said = capsys.readouterr().err
    assert "retouch-test-photos 0.9 is not in this system's archive; using its current version" in said

    debs = tmp_path / "debs"
    debs.mkdir()
    for v in ("4%3a5.27.10-1", "4%3a5.27.5-2"):
        shutil.copy(deb, debs / f"retouch-test-photos_{v}_all.deb")
    for listed in ("4:5.27.10-1", "4:5.27.5-2"):  # by name alone, 5.27.5 would always win
        used = _debs(debs, "retouch-test-photos", listed)[-1]
        assert used.name == f"retouch-test-photos_{listed.replace(':', '%3a')}_all.deb"


@pytest.mark.skipif(__import__("shutil").which("dpkg-deb") is None, reason="needs dpkg-deb (Debian)")
@pytest.mark.parametrize("online", [True, False, None])
def test_a_cache_holding_another_version_first_tries_the_listed_one(tmp_path, monkeypatch, capsys, online):
    """Only version 1.0 cached, 2.0 listed: 2.0 is downloaded where the archive has it; offline,
    the cached 1.0 is used and said (it was used without a try or a word)."""
    import os
    import shutil

    from models.data.assemble import _debs, fetch_package

    deb = _deb(tmp_path)
    cache = tmp_path / "cache"
    (cache / "debs").mkdir(parents=True)
    shutil.copy(deb, cache / "debs")
    newer = tmp_path / "retouch-test-photos_2.0_all.deb"
    shutil.copy(deb, newer)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    serve = f"cp {newer} .\n" if online else "echo 'E: Temporary failure resolving deb.debian.org' >&2\nexit 100\n"
    if online is None:  # no apt-get at all (another distribution; the .deb put there by hand)
        import models.data.assemble as assemble_mod

        tool = assemble_mod._tool
        monkeypatch.setattr(assemble_mod, "_tool", lambda cmd, cwd: tool(
            ["retouch-no-such-tool-apt-get", *cmd[1:]] if cmd[0] == "apt-get" else cmd, cwd))
    else:
        (bin_dir / "apt-get").write_text(f'#!/bin/sh\necho "$@" >> {log}\n{serve}')
        (bin_dir / "apt-get").chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    root = fetch_package("retouch-test-photos", cache, "2.0")
    assert (root / "usr/share/pics/a.png").is_file()
    said = capsys.readouterr().err
    if online:
        assert log.read_text().splitlines() == ["download retouch-test-photos=2.0"]
        assert _debs(cache / "debs", "retouch-test-photos", "2.0")[-1].name == newer.name and not said
    else:
        why = "retouch-no-such-tool-apt-get not found" if online is None else \
            "E: Temporary failure resolving deb.debian.org"
        assert (f"retouch-test-photos 2.0 could not be had ({why}); "
                "using the cached retouch-test-photos_1.0_all.deb") in said


@pytest.mark.skipif(__import__("shutil").which("dpkg-deb") is None, reason="needs dpkg-deb (Debian)")
def test_assemble_offline_makes_what_it_can_and_names_every_package_missing(tmp_path, monkeypatch):
    """Offline with part of the cache: the cached package's photo is made, and the error names each
    package that could not be had (it stopped at the first, making nothing after it)."""
    import os
    import shutil

    from models.data.assemble import AssembleError, assemble

    deb = _deb(tmp_path)
    cache = tmp_path / "apt-cache"
    (cache / "debs").mkdir(parents=True)
    shutil.copy(deb, cache / "debs")
    tsv = tmp_path / "photos.tsv"
    tsv.write_text("package\tversion\tpath\tlicence\n"
                   "gone-a\t1\t/usr/share/x/a1.jpg\tCC0\n"
                   "retouch-test-photos\t1.0\t/usr/share/pics/a.png\tCC0\n"
                   "gone-b\t1\t/usr/share/y/b1.jpg\tCC0\n"
                   "gone-a\t1\t/usr/share/x/a2.jpg\tCC0\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text("#!/bin/sh\necho 'E: Temporary failure resolving deb.debian.org' >&2\nexit 100\n")
    (bin_dir / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    with pytest.raises(AssembleError) as e:
        assemble(tmp_path / "photos", cache, tsv=tsv, extra=None)
    said = str(e.value)
    assert said.startswith("2 package(s) could not be had") and "gone-a" in said and "gone-b" in said
    assert said.count("apt-get download gone-a") == 1  # asked once, not once per photo
    made = list((tmp_path / "photos").rglob("*.png"))
    assert [p.name for p in made] == ["a.png"]


@pytest.mark.skipif(__import__("shutil").which("dpkg-deb") is None, reason="needs dpkg-deb (Debian)")
def test_a_package_that_could_not_be_unpacked_here_is_kept(tmp_path, monkeypatch):
    """A full disk is not a damaged download: the .deb stays (offline, it could not be had again)."""
    import os
    import shutil

    from models.data.assemble import AssembleError, fetch_package

    deb = _deb(tmp_path)
    cache = tmp_path / "cache"
    (cache / "debs").mkdir(parents=True)
    shutil.copy(deb, cache / "debs")
    real = shutil.which("dpkg-deb")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dpkg-deb").write_text(f'#!/bin/sh\nif [ "$1" = "-x" ]; then echo "tar: No space left on device" >&2; '
                                      f'exit 2; fi\nexec {real} "$@"\n')
    (bin_dir / "dpkg-deb").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    with pytest.raises(AssembleError, match=f"could not unpack {deb.name} .*No space left on device"):
        fetch_package("retouch-test-photos", cache)
    assert (cache / "debs" / deb.name).exists()
