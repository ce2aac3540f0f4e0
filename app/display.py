"""The screen's colour profile: photos render in sRGB and are converted for the screen as they are shown.

A wide-gamut screen (Display P3, Adobe RGB) shows sRGB bytes as they are far too saturated, so,
as darktable and Lightroom do, every photo image is converted from sRGB to the screen's profile
before it is drawn: the preview, crops and before view (on the render thread), the embedded
preview, thumbnails and variations. What is measured (histogram, exports, sidecars, the picked
white balance) stays in sRGB: the profile only changes what reaches the screen.

The profile comes from, in order: a file the photographer chose (View ▸ Display Profile), else the
system's, which on X11 is the ``_ICC_PROFILE`` property of the root window that colord, DisplayCAL
and other calibration tools set (``_ICC_PROFILE_<n>`` for the n-th screen, per the "ICC Profiles in
X" convention); else none, and the screen is taken as sRGB. Qt's own colour management
(``QColorSpace``) does the conversion: matrix/TRC and LUT-based display profiles, v2 or v4.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtGui import QColorSpace, QImage

log = logging.getLogger(__name__)

#: the settings values of View ▸ Display Profile besides a file's path
SYSTEM, SRGB = "system", "srgb"
#: an ICC profile larger than this is not a display profile (a device link, a stray file)
MAX_PROFILE_BYTES = 8 << 20

_SRGB = QColorSpace(QColorSpace.NamedColorSpace.SRgb)


class ProfileError(ValueError):
    """A display profile that cannot be used, with the reason in words."""


@dataclass(frozen=True)
class Profile:
    """A usable display profile: ``space`` is None where it is sRGB itself (nothing to convert)."""

    space: QColorSpace | None
    description: str
    source: str  # "file", "system" or "none"


_current: QColorSpace | None = None  # what to_screen converts to; set on the GUI thread, read by workers


def current() -> QColorSpace | None:
    return _current


def set_current(space: QColorSpace | None) -> None:
    global _current
    _current = space


def tag() -> str:
    """Which profile images are converted to for the screen, in short: "srgb", or a hash of the
    profile (what a kept screen image was made for)."""
    if _current is None:
        return "srgb"
    import hashlib

    return hashlib.blake2b(bytes(_current.iccProfile()), digest_size=6).hexdigest()


def to_screen(img: QImage) -> QImage:
    """``img`` converted in place to the screen's profile, and returned. An image with no colour
    space is sRGB (every render is); one already in the screen's is left alone, so a thumbnail made
    from the shown preview is not converted twice, and one shown through an earlier profile is
    converted from that. Safe on any thread (one image per thread)."""
    target = _current
    if img.isNull():
        return img
    if not img.colorSpace().isValid():
        if target is None:
            return img  # sRGB on an sRGB screen: the common case costs nothing
        img.setColorSpace(_SRGB)
    target = target or _SRGB
    if img.colorSpace() != target:
        img.convertToColorSpace(target)
    return img


def from_icc(data: bytes, source: str) -> Profile:
    """A display profile from ICC bytes; ProfileError saying why it cannot drive the screen."""
    if len(data) > MAX_PROFILE_BYTES:
        raise ProfileError(f"too large for a display profile ({len(data) >> 20} MB)")
    space = QColorSpace.fromIccProfile(data)
    if not space.isValid():
        raise ProfileError(_unreadable(data))
    if space.colorModel() != QColorSpace.ColorModel.Rgb:
        raise ProfileError("not an RGB profile (a screen's profile is RGB)")
    if not space.isValidTarget():
        raise ProfileError("an input-only profile: it cannot convert colours to the screen")
    description = space.description() or "unnamed profile"
    # a profile describing sRGB itself changes nothing: skip the per-image conversion
    return Profile(None if _is_srgb(space) else space, description, source)


_CLASSES = {b"abst": "an abstract profile", b"link": "a device link", b"nmcl": "a named-colour profile",
            b"spac": "a colour-space conversion profile"}


def _unreadable(data: bytes) -> str:
    """Why Qt could not read ``data`` as a profile, from the ICC header where there is one."""
    if len(data) < 128 or data[36:40] != b"acsp":
        return "not an ICC colour profile"
    kind, colours = data[12:16], data[16:20].decode("latin-1").strip()
    if kind in _CLASSES:
        return f"{_CLASSES[kind]}, not a screen's profile"
    if colours != "RGB":
        return f"a profile of {colours or 'unknown'} colours, not a screen's (RGB) profile"
    return "an RGB profile Qt cannot read (damaged, or of a kind it does not support)"


def _is_srgb(space: QColorSpace) -> bool:
    if space == _SRGB:
        return True
    probe = QImage(8, 1, QImage.Format.Format_RGB32)
    colours = [0xFFFF0000, 0xFF00FF00, 0xFF0000FF, 0xFF808080, 0xFFFFFFFF, 0xFF202020, 0xFFFFC040, 0xFF4080C0]
    for x, c in enumerate(colours):
        probe.setPixel(x, 0, c)
    probe.setColorSpace(_SRGB)
    probe.convertToColorSpace(space)
    return all(_close(probe.pixel(x, 0), c) for x, c in enumerate(colours))


def _close(a: int, b: int) -> bool:
    return all(abs((a >> s & 255) - (b >> s & 255)) <= 1 for s in (0, 8, 16))


def read_file(path: Path) -> Profile:
    try:
        if path.stat().st_size > MAX_PROFILE_BYTES:
            raise ProfileError(f"too large for a display profile ({path.stat().st_size >> 20} MB)")
        data = path.read_bytes()
    except OSError as e:
        raise ProfileError(f"cannot be read ({e.strerror or e})") from None
    return from_icc(data, "file")


def resolve(choice: str, screen: int = 0) -> tuple[Profile, str | None]:
    """The profile for a View ▸ Display Profile ``choice`` (SYSTEM, SRGB or a file's path) on the
    ``screen``-th screen, and a warning where the choice could not be honoured (a file gone or
    unreadable, a broken system profile): the screen is then taken as sRGB, never left blank."""
    srgb = Profile(None, "sRGB", "none")
    if choice == SRGB:
        return srgb, None
    if choice not in ("", SYSTEM):
        try:
            return read_file(Path(choice)), None
        except ProfileError as e:
            return srgb, f"The display profile {Path(choice).name} {e}; showing sRGB."
    data = system_icc(screen)
    if data is None:
        return srgb, None
    try:
        return from_icc(data, "system"), None
    except ProfileError as e:
        return srgb, f"The system's display profile is {e}; showing sRGB."


def system_icc(screen: int = 0) -> bytes | None:
    """The screen's ICC profile as the desktop published it, or None (not X11, none set)."""
    from PySide6.QtGui import QGuiApplication

    if QGuiApplication.platformName() != "xcb":
        return None  # Wayland gives clients no profile; offscreen and others have none
    return read_x11_profile(screen)


def read_x11_profile(screen: int = 0, display: str | None = None) -> bytes | None:
    """The root window's ``_ICC_PROFILE`` (``_ICC_PROFILE_<screen>`` past the first) read through
    libX11 on its own connection, or None where there is no X server, no libX11 or no profile."""
    lib = _libx11()
    if lib is None:
        return None
    dpy = lib.XOpenDisplay(display.encode() if display else None)
    if not dpy:
        return None
    try:
        name = b"_ICC_PROFILE" if screen == 0 else f"_ICC_PROFILE_{screen}".encode()
        atom = lib.XInternAtom(dpy, name, True)  # only_if_exists: no atom, no profile
        if not atom:
            return None
        kind, fmt = ctypes.c_ulong(), ctypes.c_int()
        count, left = ctypes.c_ulong(), ctypes.c_ulong()
        data = ctypes.c_void_p()
        status = lib.XGetWindowProperty(
            dpy, lib.XDefaultRootWindow(dpy), atom, 0, MAX_PROFILE_BYTES // 4, False, 0,  # AnyPropertyType
            ctypes.byref(kind), ctypes.byref(fmt), ctypes.byref(count), ctypes.byref(left), ctypes.byref(data))
        try:
            if status != 0 or fmt.value != 8 or not data.value or not count.value:
                return None
            if left.value:  # past MAX_PROFILE_BYTES: from_icc says "too large", not "damaged"
                return b"\0" * (MAX_PROFILE_BYTES + 1)
            return ctypes.string_at(data.value, count.value)
        finally:
            if data.value:
                lib.XFree(data)
    finally:
        lib.XCloseDisplay(dpy)


_lib: ctypes.CDLL | bool | None = False


def _libx11() -> ctypes.CDLL | None:
    global _lib
    if _lib is False:
        _lib = None
        name = ctypes.util.find_library("X11")
        if name and os.name == "posix":
            try:
                lib = ctypes.CDLL(name)
            except OSError:
                lib = None
            if lib is not None:
                lib.XOpenDisplay.restype = ctypes.c_void_p
                lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
                lib.XCloseDisplay.argtypes = [ctypes.c_void_p]
                lib.XDefaultRootWindow.restype = ctypes.c_ulong
                lib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
                lib.XInternAtom.restype = ctypes.c_ulong
                lib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
                lib.XFree.argtypes = [ctypes.c_void_p]
                lib.XGetWindowProperty.argtypes = [
                    ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_long, ctypes.c_long, ctypes.c_int,
                    ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_int),
                    ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_void_p)]
                _lib = lib
    return _lib if isinstance(_lib, ctypes.CDLL) else None
