"""Read files out of a compiled Qt resource bundle (``.rcc``), without Qt.

Some Debian packages ship their photos inside ``.rcc`` files (GCompris: one bundle per
activity). The format is Qt's ``rcc`` binary output (``qtbase/src/corelib/io/qresource.cpp``):

* header: ``b"qres"``, then big-endian u32 version, tree offset, data offset, names offset
  (and, from version 3, a u32 of global flags);
* tree: fixed-size nodes (14 bytes in version 1, 22 with a u64 modification time from version 2).
  A node is a u32 name offset and a u16 flags word, then either a directory's u32 child count and
  u32 first-child index, or a file's u16 country, u16 language and u32 data offset;
* names: u16 length, u32 hash, then UTF-16BE characters;
* data: u32 size, then the bytes; zlib-compressed files (flag 1) carry Qt's ``qCompress`` 4-byte
  length prefix, and zstd (flag 4) is refused.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

_COMPRESSED, _DIRECTORY, _ZSTD = 0x01, 0x02, 0x04


class RccError(ValueError):
    pass


class Rcc:
    """A parsed bundle: ``names()`` lists its files, ``read(path)`` returns one file's bytes."""

    def __init__(self, blob: bytes, source: str = "<bytes>"):
        if blob[:4] != b"qres":
            raise RccError(f"{source}: not a Qt resource file")
        self._b, self._src = blob, source
        version, self._tree, self._data, self._names = struct.unpack_from(">4I", blob, 4)
        if version not in (1, 2, 3):
            raise RccError(f"{source}: unsupported rcc version {version}")
        self._node = 14 if version == 1 else 22
        self._files: dict[str, tuple[int, int]] = {}
        self._walk(0, "", depth=0)

    @classmethod
    def open(cls, path: Path) -> Rcc:
        return cls(Path(path).read_bytes(), str(path))

    def _name(self, offset: int) -> str:
        at = self._names + offset
        (n,) = struct.unpack_from(">H", self._b, at)
        return self._b[at + 6: at + 6 + 2 * n].decode("utf-16-be")

    def _walk(self, index: int, prefix: str, depth: int) -> None:
        if depth > 64:
            raise RccError(f"{self._src}: resource tree nested too deeply")
        at = self._tree + index * self._node
        name_off, flags = struct.unpack_from(">IH", self._b, at)
        name = "" if index == 0 else self._name(name_off)
        path = f"{prefix}/{name}" if index else ""
        if flags & _DIRECTORY:
            count, first = struct.unpack_from(">II", self._b, at + 6)
            for child in range(first, first + count):
                self._walk(child, path, depth + 1)
        else:
            (data_off,) = struct.unpack_from(">I", self._b, at + 10)
            self._files[path] = (data_off, flags)

    def names(self) -> list[str]:
        return sorted(self._files)

    def read(self, path: str) -> bytes:
        """The bytes of ``path`` (e.g. ``/gcompris/src/activities/erase/resource/bee.webp``)."""
        try:
            offset, flags = self._files["/" + path.lstrip("/")]
        except KeyError:
            raise RccError(f"{self._src}: no file {path!r}") from None
        at = self._data + offset
        (size,) = struct.unpack_from(">I", self._b, at)
        raw = self._b[at + 4: at + 4 + size]
        if flags & _ZSTD:
            raise RccError(f"{self._src}: {path} is zstd-compressed (not supported)")
        if flags & _COMPRESSED:
            return zlib.decompress(raw[4:])
        return raw
