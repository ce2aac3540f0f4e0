"""The ``retouch`` command on the real fixtures: apply, info, export-lut, routing, clean errors."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.lut import read_cube
from engine.recipe import Recipe, Step, sidecar_path
from retouch.main import build_parser, main

RECIPE = Recipe([Step("exposure", {"ev": 0.8}), Step("saturation", {"amount": 0.3}), Step("contrast", {"amount": 0.2})])


@pytest.fixture
def recipe_file(tmp_path: Path) -> Path:
    path = tmp_path / "look.json"
    RECIPE.save(path)
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def commands() -> list[str]:
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return list(sub.choices)


def test_every_command_has_help(capsys: pytest.CaptureFixture) -> None:
    names = commands()
    assert {"open", "apply", "info", "export-lut", "train-style", "fit"} <= set(names)
    for argv in [["--help"], *([n, "--help"] for n in names)]:
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0
        assert "usage: retouch" in capsys.readouterr().out


def test_apply_dng_to_jpeg(dng_file: Path, recipe_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out.jpg"
    code, stdout, err = run(["apply", str(dng_file), "--recipe", str(recipe_file), "-o", str(out)], capsys)
    assert code == 0, err
    assert "640x400 jpeg" in stdout and "exposure" in stdout
    with Image.open(out) as im:
        assert im.format == "JPEG" and im.size == (640, 400) and im.info.get("icc_profile")
        edited = np.asarray(im, np.float64)
    plain = tmp_path / "plain.jpg"
    Recipe([]).save(tmp_path / "empty.json")
    assert run(["apply", str(dng_file), "-r", str(tmp_path / "empty.json"), "-o", str(plain)], capsys)[0] == 0
    with Image.open(plain) as im:
        assert edited.mean() > np.asarray(im, np.float64).mean() + 10  # +0.8 EV is visibly brighter


@pytest.mark.parametrize(("fmt", "suffix", "mode"),
                         [("png", ".png", "RGB"), ("png16", ".png", None), ("tiff16", ".tif", None)])
def test_apply_formats_and_long_edge(photo_jpeg: Path, recipe_file: Path, tmp_path: Path, fmt: str, suffix: str,
                                     mode: str | None, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / f"out{suffix}"
    code, _, err = run(["apply", str(photo_jpeg), "-r", str(recipe_file), "-o", str(out), "--format", fmt,
                        "--long-edge", "480"], capsys)
    assert code == 0, err
    if fmt == "tiff16":
        import tifffile

        arr = tifffile.imread(out)
        assert arr.dtype == np.uint16 and arr.shape == (300, 480, 3)
    elif fmt == "png16":
        import imagecodecs

        arr = imagecodecs.png_decode(out.read_bytes())
        assert arr.dtype == np.uint16 and arr.shape == (300, 480, 3)
    else:
        with Image.open(out) as im:
            assert im.size == (480, 300) and im.mode == mode


def test_format_is_for_a_name_without_a_suffix(photo_jpeg: Path, recipe_file: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    """``-o x.webp -f jpeg`` wrote a JPEG under a WebP name, which other programs then misread."""
    code, _, err = run(["apply", str(photo_jpeg), "-r", str(recipe_file), "-o", str(tmp_path / "x.webp"), "-f",
                        "jpeg"], capsys)
    assert code == 2 and "x.webp names a format Retouch does not write; use .jpg, .png or .tif" in err
    assert not (tmp_path / "x.webp").exists()
    code, _, err = run(["apply", str(photo_jpeg), "-r", str(recipe_file), "-o", str(tmp_path / "x"), "-f", "png"],
                       capsys)
    assert code == 0 and (tmp_path / "x").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", err


def test_apply_uses_the_photos_sidecar(photo_jpeg: Path, tmp_copy, tmp_path: Path, capsys) -> None:
    photo = tmp_copy(photo_jpeg)
    out = tmp_path / "out.jpg"
    code, _, err = run(["apply", str(photo), "-o", str(out)], capsys)
    assert code == 1 and "no --recipe" in err and "Traceback" not in err
    RECIPE.save(sidecar_path(photo))
    code, stdout, err = run(["apply", str(photo), "-o", str(out)], capsys)
    assert code == 0 and "saturation" in stdout, err
    sidecar_path(photo).write_text('{"format": 1, "steps": [{"op": "exposure", "params": {"ev": "lots"}}]}')
    code, _, err = run(["apply", str(photo), "-o", str(tmp_path / "bad.jpg")], capsys)
    # said, and left where it was: moved aside, the next batch gave the photo Auto without a word
    assert code == 1 and "steps[0].params.ev" in err and err.count("\n") == 1, err
    assert {p.name for p in photo.parent.iterdir()} - {"out.jpg"} == {photo.name, sidecar_path(photo).name}


def test_apply_refuses_to_overwrite_the_input(photo_jpeg: Path, tmp_copy, recipe_file: Path, capsys) -> None:
    photo = tmp_copy(photo_jpeg)
    before = photo.read_bytes()
    code, _, err = run(["apply", str(photo), "-r", str(recipe_file), "-o", str(photo)], capsys)
    assert code == 1 and "refusing to overwrite" in err
    assert photo.read_bytes() == before
    code, _, err = run(["export-lut", str(recipe_file), "-o", str(recipe_file)], capsys)
    assert code == 1 and "refusing to overwrite" in err
    assert Recipe.load(recipe_file).to_json() == RECIPE.to_json()


def test_an_output_never_replaces_a_photo_retouch_did_not_write(dng_file: Path, photo_jpeg: Path, tmp_path: Path,
                                                                 recipe_file: Path, capsys) -> None:
    """``-o IMG_0001.jpg`` beside IMG_0001.dng is the natural name to type, and it was the camera's
    own JPEG: replaced without a word. Retouch's own earlier output is still replaced."""
    raw = tmp_path / "IMG_0001.dng"
    raw.write_bytes(dng_file.read_bytes())
    camera = tmp_path / "IMG_0001.jpg"
    camera.write_bytes(photo_jpeg.read_bytes())
    before = camera.read_bytes()
    for argv in (["apply", str(raw), "-r", str(recipe_file), "-o", str(camera)], ["auto", str(raw), "-o", str(camera)]):
        code, _, err = run(argv, capsys)
        assert code == 1 and "IMG_0001.jpg is a photo Retouch did not write" in err, err
        assert camera.read_bytes() == before
    bare = tmp_path / "IMG_0002"  # a JPEG copied off a card without its suffix: known by its first bytes
    bare.write_bytes(before)
    for argv in (["apply", str(raw), "-r", str(recipe_file), "-o", str(bare), "-f", "jpeg"],
                 ["export-lut", str(recipe_file), "-o", str(bare)], ["auto", str(raw), "--recipe-out", str(bare)]):
        code, _, err = run(argv, capsys)
        assert code == 1 and "IMG_0002 is a photo" in err, (argv, err)
    assert bare.read_bytes() == before
    ours = tmp_path / "edit.jpg"
    for _ in range(2):  # the second run replaces the first run's output
        code, _, err = run(["apply", str(raw), "-r", str(recipe_file), "-o", str(ours)], capsys)
        assert code == 0, err


def test_no_text_output_lands_on_a_photo_or_the_sidecar_read(photo_jpeg: Path, tmp_copy, recipe_file: Path,
                                                             capsys) -> None:
    """apply without -r reads the photo's sidecar: an input, never its output; a LUT or an Auto
    recipe is never written over an existing photo."""
    photo = tmp_copy(photo_jpeg)
    sc = sidecar_path(photo)
    RECIPE.save(sc)
    code, _, err = run(["apply", str(photo), "-o", str(sc), "-f", "png"], capsys)
    assert code == 1 and "refusing to overwrite the input" in err
    assert Recipe.load(sc).to_json() == RECIPE.to_json()
    other = tmp_copy(photo_jpeg, "other.jpg")
    before = other.read_bytes()
    code, _, err = run(["export-lut", str(recipe_file), "-o", str(other)], capsys)
    assert code == 1 and "is a photo" in err and ".cube" in err
    code, _, err = run(["auto", str(photo), "--recipe-out", str(other)], capsys)
    assert code == 1 and "is a photo" in err and ".json" in err
    assert other.read_bytes() == before
    # nor a photo over a recipe or LUT that is not the input (a format given, so the suffix is no guide)
    look = tmp_copy(recipe_file, "mine.json")
    kept = look.read_bytes()
    code, _, err = run(["apply", str(photo), "-r", str(recipe_file), "-o", str(look), "-f", "jpeg"], capsys)
    assert code == 1 and "mine.json is named as a recipe, not a photo" in err, err
    code, _, err = run(["auto", str(photo), "-o", str(look)], capsys)
    assert code == 1 and "mine.json" in err, err
    assert look.read_bytes() == kept


def bad_cases(tmp: Path, photo: Path, recipe: Path) -> dict[str, tuple[list[str], str]]:
    nan = tmp / "nan.json"
    nan.write_text('{"format": 1, "steps": [{"op": "exposure", "params": {"ev": NaN}}]}')
    text = tmp / "notes.txt"
    text.write_text("not a photo")
    fake = tmp / "fake.jpg"
    fake.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = str(tmp / "o.jpg")
    (tmp / "kept").mkdir(exist_ok=True)
    (tmp / "kept" / "t.jpg").write_bytes(b"the file a link names")
    (tmp / "link.jpg").symlink_to(tmp / "kept" / "t.jpg")  # replaced by a file, as /dev/stdout was, as root
    os.mkfifo(tmp / "pipe.jpg")  # a device or a pipe: replaced by a file, as /dev/null was
    return {
        "missing photo": (["apply", str(tmp / "nope.jpg"), "-r", str(recipe), "-o", out], "not found"),
        "missing recipe": (["apply", str(photo), "-r", str(tmp / "nope.json"), "-o", out], "not found"),
        "bad recipe": (["apply", str(photo), "-r", str(nan), "-o", out], "steps[0].params.ev"),
        "unsupported input": (["apply", str(text), "-r", str(recipe), "-o", out], "unsupported"),
        "corrupt photo": (["apply", str(fake), "-r", str(recipe), "-o", out], "fake.jpg"),
        "unknown output format": (["apply", str(photo), "-r", str(recipe), "-o", str(tmp / "o.bmp")], ".jpg, .png or"),
        "missing output folder": (["apply", str(photo), "-r", str(recipe), "-o", str(tmp / "no" / "o.jpg")], "folder"),
        "info missing": (["info", str(tmp / "nope.dng")], "not found"),
        "info unsupported": (["info", str(text)], "unsupported"),
        "lut bad recipe": (["export-lut", str(nan), "-o", str(tmp / "x.cube")], "steps[0].params.ev"),
        "output a link": (["apply", str(photo), "-r", str(recipe), "-o", str(tmp / "link.jpg")], "is a link"),
        "output a pipe": (["apply", str(photo), "-r", str(recipe), "-o", str(tmp / "pipe.jpg")], "not a regular file"),
        "output stdout": (["apply", str(photo), "-r", str(recipe), "-o", "-", "-f", "jpeg"], "standard output"),
        "lut over a link": (["export-lut", str(recipe), "-o", str(tmp / "link.jpg")], "is a link"),
        "recipe a pipe": (["apply", str(photo), "-r", str(tmp / "pipe.jpg"), "-o", out], "is not a regular file"),
        "lut of a folder": (["export-lut", str(tmp / "kept"), "-o", str(tmp / "x.cube")], "is not a regular file"),
    }


def test_bad_input_gives_one_line_and_nonzero_exit(photo_jpeg: Path, recipe_file: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    for name, (argv, needle) in bad_cases(tmp_path, photo_jpeg, recipe_file).items():
        code, _, err = run(argv, capsys)
        assert code == 1, name
        assert needle in err and err.count("\n") == 1 and err.startswith("retouch "), (name, err)
    assert not (tmp_path / "o.jpg").exists()
    assert (tmp_path / "link.jpg").is_symlink()
    assert (tmp_path / "kept" / "t.jpg").read_bytes() == b"the file a link names"
    assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe.jpg").st_mode)


def test_a_photo_too_large_for_memory_is_one_line(photo_jpeg: Path, recipe_file: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture, monkeypatch) -> None:
    """A decompression bomb under a memory limit printed numpy's _ArrayMemoryError traceback."""
    import engine.io

    def bomb(*_a, **_k):
        raise MemoryError("Unable to allocate 10.9 GiB")

    monkeypatch.setattr(engine.io, "load_photo", bomb)
    code, _, err = run(["apply", str(photo_jpeg), "-r", str(recipe_file), "-o", str(tmp_path / "o.jpg")], capsys)
    assert code == 1 and err == "retouch apply: error: not enough memory for this photo\n"


def test_errors_in_a_real_process_have_no_traceback(tmp_path: Path, recipe_file: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "retouch", "apply", str(tmp_path / "missing.nef"), "-r",
                           str(recipe_file), "-o", str(tmp_path / "o.jpg")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "retouch apply: error: missing.nef: file not found"
    bad_size = subprocess.run([sys.executable, "-m", "retouch", "export-lut", str(recipe_file), "-o",
                               str(tmp_path / "x.cube"), "--size", "1000"], capture_output=True, text=True, timeout=120)
    assert bad_size.returncode == 2 and "size must be" in bad_size.stderr and "Traceback" not in bad_size.stderr


def test_a_report_no_one_reads_loses_no_file(photo_jpeg: Path, tmp_path: Path) -> None:
    """``retouch auto ... | head -1``: the report's reader gone, the command stopped at its next line
    ("Broken pipe", exit 1) before writing the files it was asked for."""
    read, write = os.pipe()
    os.close(read)  # as ``head`` does once it has its line
    try:
        proc = subprocess.run([sys.executable, "-m", "retouch", "auto", str(photo_jpeg), "--variations", "2",
                               "-o", str(tmp_path / "v.jpg"), "--recipe-out", str(tmp_path / "v.json")],
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=180)
    finally:
        os.close(write)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v-1.jpg", "v-1.json", "v-2.jpg", "v-2.json"]


def _apply_in_a_child(photo: Path, recipe: Path, out: Path, save_body: str,
                      prelude: str = "") -> subprocess.CompletedProcess[str]:
    """``retouch apply`` in a child process whose encoder call (PIL's ``Image.save``) runs
    ``save_body`` (lines of the hook, ``real(self, fp, *a, **k)`` saving): a signal lands there."""
    body = "".join(f"    {line}\n" for line in save_body.splitlines())
    script = ("import os, signal, sys, time\n" + prelude + "from PIL import Image\n"
              "real = Image.Image.save\n"
              "def save(self, fp, *a, **k):\n" + body +
              "Image.Image.save = save\n"
              "from retouch.main import main\n"
              "sys.exit(main(sys.argv[1:]))\n")
    return subprocess.run([sys.executable, "-c", script, "apply", str(photo), "-r", str(recipe), "-o", str(out)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_a_kill_mid_write_leaves_no_partial_file(photo_jpeg: Path, recipe_file: Path, tmp_path: Path, sig: str) -> None:
    """``timeout``, systemd and ``docker stop`` send SIGTERM; it ended ``apply`` at once and left its
    ``.part`` file beside the output. The signal arrives here while the encoder writes."""
    out = tmp_path / "out" / "o.jpg"
    out.parent.mkdir()
    proc = _apply_in_a_child(photo_jpeg, recipe_file, out, "real(self, fp, *a, **k)\n"
                             f"os.kill(os.getpid(), signal.{sig}); time.sleep(30)")
    # a closed terminal takes the message with it: written to /dev/null, not failing on the dead tty
    said = "" if sig == "SIGHUP" else "retouch apply: error: cancelled"
    assert proc.returncode == 130 and proc.stderr.strip() == said, proc.stderr
    assert list(out.parent.iterdir()) == []


def test_under_nohup_a_closed_terminal_does_not_stop_a_command(photo_jpeg: Path, recipe_file: Path,
                                                                  tmp_path: Path) -> None:
    """``nohup`` ignores SIGHUP so that a command outlives its terminal: catching it anyway (as
    the kill handling first did) stopped ``nohup retouch batch …`` when the terminal closed."""
    out = tmp_path / "o.jpg"
    proc = _apply_in_a_child(photo_jpeg, recipe_file, out, "os.kill(os.getpid(), signal.SIGHUP)\n"
                             "real(self, fp, *a, **k)",
                             prelude="signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup starts it\n")
    assert proc.returncode == 0 and out.is_file(), proc.stderr


def test_an_interrupted_command_leaves_nothing_stopped_behind(monkeypatch: pytest.MonkeyPatch, photo_jpeg: Path,
                                                              recipe_file: Path, tmp_path: Path, capsys) -> None:
    """The stop flag outlived its command: in a process that goes on (the tests, a script calling
    main()), every later output was refused; and the handlers stayed installed."""
    import signal

    from engine import cli as engine_cli
    from engine.atomic import STOP_REQUESTED

    def interrupted(_args):
        STOP_REQUESTED.set()
        raise KeyboardInterrupt

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(engine_cli, "cmd_info", interrupted)
    assert main(["info", str(photo_jpeg)]) == 130
    assert not STOP_REQUESTED.is_set() and signal.getsignal(signal.SIGTERM) is before
    out = tmp_path / "o.jpg"
    assert main(["apply", str(photo_jpeg), "-r", str(recipe_file), "-o", str(out)]) == 0 and out.is_file()


def test_a_ctrl_c_that_a_library_swallowed_still_writes_nothing(photo_jpeg: Path, recipe_file: Path,
                                                                 tmp_path: Path) -> None:
    """Ctrl-C raised inside llvmlite's ctypes callback (numba loading its cache) was printed as
    "Exception ignored" and lost: the command wrote its output and exited 0 (2 runs in 170)."""
    out = tmp_path / "out" / "o.jpg"
    out.parent.mkdir()
    proc = _apply_in_a_child(photo_jpeg, recipe_file, out, "try:\n"
                             "    os.kill(os.getpid(), signal.SIGINT)\n"
                             "except KeyboardInterrupt:\n"
                             "    pass  # swallowed, as a ctypes callback swallows it\n"
                             "real(self, fp, *a, **k)")
    assert proc.returncode == 130 and proc.stderr.strip() == "retouch apply: error: cancelled", proc.stderr
    assert list(out.parent.iterdir()) == []


def test_a_truncated_raw_is_one_line_without_libraws_own(tmp_path: Path, dng_file: Path, recipe_file: Path) -> None:
    """LibRaw prints "...: Unexpected end of file" on the C stderr; only Retouch's line may show."""
    cut = tmp_path / "cut.dng"
    cut.write_bytes(dng_file.read_bytes()[: dng_file.stat().st_size // 2])
    proc = subprocess.run([sys.executable, "-m", "retouch", "apply", str(cut), "-r", str(recipe_file), "-o",
                           str(tmp_path / "o.jpg")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "retouch apply: error: cut.dng: the RAW data is truncated or corrupt"
    ok = subprocess.run([sys.executable, "-c", "import sys; from engine.io import load_photo; "
                         f"load_photo({str(dng_file)!r}); print('after', file=sys.stderr)"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and ok.stderr == "after\n"  # stderr is back once the decode is done


def test_info(photo_jpeg: Path, dng_file: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(["info", str(photo_jpeg)], capsys)
    assert code == 0 and "Canon EOS DIGITAL REBEL" in out and "960x600" in out and "2007-08-06" in out
    code, out, _ = run(["info", str(dng_file), "--json"], capsys)
    fields = json.loads(out)
    assert code == 0 and fields["type"] == "RAW" and fields["size"] == "640x400"


def test_export_lut(recipe_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "look.cube"
    code, stdout, err = run(["export-lut", str(recipe_file), "-o", str(out), "--size", "17"], capsys)
    assert "17³ LUT of 3 step(s)" in stdout
    assert code == 0, err
    table = read_cube(out)
    assert table.shape == (17, 17, 17, 3)
    assert table[8, 8, 8].mean() > 0.5  # mid grey brightened by +0.8 EV
    assert "sRGB-encoded" in out.read_text()


def test_a_lut_takes_any_name_and_never_replaces_a_sidecar_or_a_style(recipe_file: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    """The QA's: a name with "Été" or a snowman failed with a traceback (the file is ASCII), a quote
    and a newline in one wrote a second LUT_3D_SIZE line, and a LUT replaced a photo's sidecar and a
    trained style without a word."""
    for name in ("Été ☃ look.cube", 'x"\nLUT_3D_SIZE 2\n.cube'):
        out = tmp_path / name
        code, _, err = run(["export-lut", str(recipe_file), "-o", str(out), "--size", "5"], capsys)
        assert code == 0, err
        assert read_cube(out).shape == (5, 5, 5, 3)
        text = out.read_text(encoding="ascii")
        heads = [line.split()[0] for line in text.splitlines() if line[:1].isalpha()]
        assert heads.count("LUT_3D_SIZE") == 1 and heads.count("TITLE") == 1
    sidecar, style = tmp_path / "IMG_1.NEF.retouch.json", tmp_path / "mine.onnx"
    sidecar.write_text(recipe_file.read_text())
    style.write_bytes(b"\x08\x07onnx weights")
    for kept in (sidecar, style):
        before = kept.read_bytes()
        code, _, err = run(["export-lut", str(recipe_file), "-o", str(kept)], capsys)
        assert code != 0 and "is not a LUT file" in err
        assert kept.read_bytes() == before
    code, _, err = run(["export-lut", str(recipe_file), "-o", str(tmp_path / "look.cube")], capsys)
    assert code == 0 and run(["export-lut", str(recipe_file), "-o", str(tmp_path / "look.cube")], capsys)[0] == 0


def test_no_command_or_a_path_opens_the_gui(monkeypatch: pytest.MonkeyPatch, photo_jpeg: Path) -> None:
    calls: list = []
    fake = types.ModuleType("app.main")
    fake.main = lambda argv=None: calls.append(argv) or 0
    monkeypatch.setitem(sys.modules, "app.main", fake)
    assert main([]) == 0 and main([str(photo_jpeg)]) == 0 and main(["open", str(photo_jpeg)]) == 0
    assert calls == [[], [str(photo_jpeg)], [str(photo_jpeg)]]


def test_without_a_display_the_app_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """Qt aborted (exit 134) after five lines of its plugin messages: over SSH without -X, say."""
    calls: list = []
    fake = types.ModuleType("app.main")
    fake.main = lambda argv=None: calls.append(argv) or 0
    monkeypatch.setitem(sys.modules, "app.main", fake)
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    assert main([]) == 1 and calls == []
    assert capsys.readouterr().err.startswith("retouch: error: no display to open the app on")
    monkeypatch.setenv("DISPLAY", ":9173")  # set, but no X server there (stale, or stopped): Qt aborted too
    assert main([]) == 1 and calls == []
    assert "no X server answers on DISPLAY :9173" in capsys.readouterr().err
    monkeypatch.setenv("DISPLAY", "localhost:10.0")  # an SSH forward: taken as answering
    assert main([]) == 0 and calls == [[]]


def test_a_mistyped_command_is_an_error_not_the_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "app.main", None)  # the app must not be opened
    code, _, err = run(["fti", "a.jpg", "b.jpg"], capsys)
    assert code == 2 and "'fti' is neither a command nor a file or folder; did you mean 'fit'?" in err
    code, _, err = run([str(tmp_path / "missing.dng")], capsys)
    assert code == 2 and "missing.dng" in err and "commands: " in err
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("retouch ")


def test_usage_and_output_mistakes_are_said_by_the_command(photo_jpeg: Path, recipe_file: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """An unknown option shows the command's usage (argparse's root parser showed its own); 'open'
    on a missing path does not open the app; a --format that contradicts the name, an output that
    is a folder, a batch output that is a file and a truncated PNG are each one line."""
    monkeypatch.setitem(sys.modules, "app.main", None)
    out = tmp_path / "o.jpg"
    with pytest.raises(SystemExit) as e:
        main(["apply", str(photo_jpeg), "-r", str(recipe_file), "-o", str(out), "--bogus"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "usage: retouch apply" in err and "unrecognized arguments: --bogus" in err
    with pytest.raises(SystemExit) as e:
        main(["open", str(tmp_path / "missing.jpg")])
    assert e.value.code == 2 and "does not exist" in capsys.readouterr().err
    code, _, err = run(["apply", str(photo_jpeg), "-r", str(recipe_file), "-o", str(tmp_path / "o.png"), "-f", "jpeg"],
                       capsys)
    assert code == 2 and "--format jpeg but o.png names png" in err
    code, _, err = run(["apply", str(photo_jpeg), "-r", str(recipe_file), "-o", str(tmp_path)], capsys)
    assert code == 1 and "is a folder" in err
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jpg").write_bytes(photo_jpeg.read_bytes())
    (tmp_path / "afile").write_text("")
    code, _, err = run(["batch", str(tmp_path / "in"), str(tmp_path / "afile")], capsys)
    assert code == 1 and "is a file, not a folder" in err
    half = tmp_path / "half.png"
    Image.open(photo_jpeg).save(tmp_path / "whole.png")
    half.write_bytes((tmp_path / "whole.png").read_bytes()[:20000])
    code, _, err = run(["info", str(half)], capsys)
    assert code == 1 and "half.png" in err and "truncated" in err
    assert not out.exists()


def test_gui_missing_is_a_clear_message(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "app.main", None)  # import raises ImportError
    code, _, err = run([], capsys)
    assert code == 1 and "desktop app is not available" in err


@pytest.mark.parametrize("cmd", ["apply", "auto"])
@pytest.mark.parametrize("q", ["0", "101", "500", "high"])
def test_quality_out_of_range_is_refused(cmd: str, q: str, photo_jpeg: Path, recipe_file: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    extra = ["--recipe", str(recipe_file)] if cmd == "apply" else []
    out = tmp_path / "out.jpg"
    with pytest.raises(SystemExit) as exc:
        main([cmd, str(photo_jpeg), *extra, "-o", str(out), "-q", q])
    assert exc.value.code == 2
    assert "--quality" in capsys.readouterr().err
    assert not out.exists()


def test_exit_status_2_is_an_option_1_a_file(photo_jpeg: Path, recipe_file: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    """Every command: an option value that cannot work exits 2, a photo that cannot be read 1;
    one ``retouch <cmd>: error:`` line each, and nothing is written."""
    out = str(tmp_path / "o.jpg")
    missing = str(tmp_path / "missing.jpg")
    cases = [
        (["apply", str(photo_jpeg), "-r", str(recipe_file), "-o", out, "--long-edge", "0"], 2, "--long-edge"),
        (["auto", str(photo_jpeg), "-o", out, "--variations", "-1"], 2, "--variations"),
        (["fit", str(photo_jpeg), missing, "-o", str(tmp_path / "r.json"), "--iterations", "0"], 2, "--iterations"),
        (["apply", missing, "-r", str(recipe_file), "-o", out], 1, "missing.jpg: file not found"),
        (["auto", missing, "-o", out], 1, "missing.jpg: file not found"),
        (["fit", str(photo_jpeg), missing, "-o", str(tmp_path / "r.json")], 1, "missing.jpg: file not found"),
    ]
    for argv, status, message in cases:
        code, _, err = run(argv, capsys)
        assert (code, err.count("\n")) == (status, 1), (argv, err)
        assert err.startswith(f"retouch {argv[0]}: error: ") and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["look.json"]
