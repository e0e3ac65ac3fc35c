"""Bounded access to what readers read: files, JSON, XML, zlib and base64 payloads, and the
files of a folder or a zip archive (:class:`SourceTree`). Pure module: limits come in as a
:class:`qc.formats.base.Limits` value."""

from __future__ import annotations

import binascii
import json
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from xml.parsers import expat

from qc.formats.base import FormatErrorsAt, Invalid, Limits, type_name

# ------------------------------------------------------------------- file access


def read_bounded(path: Path, limits: Limits, display: str) -> bytes:
    """Read a whole file, refusing one larger than ``limits.max_file_bytes``."""
    with FormatErrorsAt(display):
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise Invalid(f"file is {size} bytes, over the limit of {limits.max_file_bytes}")
        with path.open("rb") as handle:
            data = handle.read(limits.max_file_bytes + 1)
        if len(data) > limits.max_file_bytes:
            raise Invalid(f"file is over the limit of {limits.max_file_bytes} bytes")
        return data


def load_json(data: bytes, display: str) -> Any:
    """Parse JSON bytes (UTF-8, optional BOM); errors name the file."""
    with FormatErrorsAt(display):
        text = data.decode("utf-8-sig")
        return json.loads(text)


def parse_xml(data: bytes, display: str) -> ElementTree.Element:
    """Parse XML without DTDs: any DOCTYPE or entity declaration is refused.

    expat is driven directly so that no entity is ever expanded (no "billion laughs", no
    external entities); the tree is built with ElementTree's TreeBuilder.
    """
    with FormatErrorsAt(display):
        builder = ElementTree.TreeBuilder()
        parser = expat.ParserCreate()

        def refuse(*_args: Any) -> None:
            raise Invalid("XML with a DOCTYPE or entity declaration is not accepted")

        parser.StartDoctypeDeclHandler = refuse
        parser.EntityDeclHandler = refuse
        parser.UnparsedEntityDeclHandler = refuse
        parser.ExternalEntityRefHandler = refuse
        parser.StartElementHandler = builder.start
        parser.EndElementHandler = builder.end
        parser.CharacterDataHandler = builder.data
        parser.buffer_text = True
        parser.Parse(data, True)
        return builder.close()


# ---------------------------------------------------------------- safe decoders


def inflate(data: bytes, limit: int) -> bytes:
    """zlib-decompress ``data``, refusing output above ``limit`` bytes before allocating it."""
    decompressor = zlib.decompressobj()
    out = decompressor.decompress(data, limit + 1)
    if len(out) > limit or decompressor.unconsumed_tail:
        raise Invalid(f"compressed data expands beyond the limit of {limit} bytes")
    out += decompressor.flush()
    if len(out) > limit:
        raise Invalid(f"compressed data expands beyond the limit of {limit} bytes")
    if not decompressor.eof:
        raise Invalid("truncated zlib data")
    return out


def b64decode(text: Any, name: str) -> bytes:
    """Strict base64 (whitespace tolerated); a data URL prefix is stripped."""
    if not isinstance(text, str):
        raise Invalid(f"{name} must be a base64 string, got {type_name(text)}")
    if text.startswith("data:"):
        head, sep, text = text.partition(",")
        if not sep or ";base64" not in head:
            raise Invalid(f"{name} is a data URL without base64 payload")
    compact = "".join(text.split())
    return binascii.a2b_base64(compact.encode("ascii"), strict_mode=True)


# ------------------------------------------------------------- folders and zips


# Bytes inflated per step when an archive member is read: what a member can make the process
# hold beyond its own size, whatever its header says.
ZIP_CHUNK = 1 << 20
# zipfile inflates a bzip2 or LZMA chunk whole, however large it turns out: only these are read.
_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})


class SourceTree:
    """The files of a folder or of a zip archive, by relative POSIX path.

    Every file (archive member) is read with the ``max_file_bytes`` limit. A zip is held to
    what it really inflates to, not to what its headers say: a member is inflated
    :data:`ZIP_CHUNK` bytes at a time and counted as it comes, and refused as soon as it
    passes ``max_file_bytes`` or the members read so far pass ``max_archive_bytes``; no
    buffer is sized from a header, so reading holds at most about twice a member's limit
    (its chunks, then their join). A member that is never read is never inflated. A member
    whose header admits to more than ``max_file_bytes`` is refused before it inflates.
    zipfile stops a member at the size its header gives and then checks its CRC, so a header
    that understates the size ends in a refusal as damaged after a chunk, not after the
    whole member. Every refusal names the archive and the member. ``only`` names the files
    of a folder to use (its own listing, made by the caller) instead of listing it again.
    """

    def __init__(self, path: Path, limits: Limits, only: Sequence[str] | None = None) -> None:
        self.path = path
        self.limits = limits
        self.display = path.name or str(path)
        self._zip: zipfile.ZipFile | None = None
        self._inflated = 0
        with FormatErrorsAt(self.display):
            if path.is_dir() and only is not None:
                self._names = sorted(only)
            elif path.is_dir():
                self._names = sorted(
                    p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()
                )
            elif path.is_file():
                size = path.stat().st_size
                if size > limits.max_file_bytes:
                    raise Invalid(
                        f"archive is {size} bytes, over the limit of {limits.max_file_bytes}"
                    )
                self._zip = zipfile.ZipFile(path)
                self._names = sorted(
                    info.filename for info in self._zip.infolist() if not info.is_dir()
                )
            else:
                raise Invalid("no such file or folder")

    def names(self) -> list[str]:
        """All file paths, sorted."""
        return list(self._names)

    def read(self, name: str) -> bytes:
        """The bytes of one file, refused above the file-size limit (and, for an archive
        member, when the archive's members read so far inflate past its limit)."""
        with FormatErrorsAt(f"{self.display}/{name}"):
            if self._zip is None:
                return read_bounded(self.path / name, self.limits, f"{self.display}/{name}")
            return self._inflate(self._zip, self._zip.getinfo(name))

    def _inflate(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
        """One archive member, inflated in chunks and counted as it comes."""
        limit, archive_limit = self.limits.max_file_bytes, self.limits.max_archive_bytes
        if info.file_size > limit:
            raise Invalid(f"archive member is {info.file_size} bytes, over the limit of {limit}")
        if info.compress_type not in _ZIP_METHODS:
            raise Invalid(
                f"archive member is compressed with method {info.compress_type}; only stored "
                "and deflated members are read"
            )
        if info.flag_bits & 0x1:
            raise Invalid("archive member is encrypted")
        chunks: list[bytes] = []
        size = 0
        try:
            with archive.open(info) as handle:
                while chunk := handle.read(ZIP_CHUNK):
                    size += len(chunk)
                    self._inflated += len(chunk)
                    if size > limit:
                        raise Invalid(
                            f"archive member inflates to more than the limit of {limit} bytes"
                        )
                    if self._inflated > archive_limit:
                        raise Invalid(
                            f"archive members inflate to more than the archive limit of "
                            f"{archive_limit} bytes by this one"
                        )
                    chunks.append(chunk)
        except (zipfile.BadZipFile, EOFError, zlib.error) as error:
            raise Invalid(f"archive member is damaged or its header is false: {error}") from None
        return b"".join(chunks)

    def close(self) -> None:
        """Release the archive handle."""
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> SourceTree:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
