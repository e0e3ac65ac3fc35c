"""Text an import cannot store (DESIGN §8): every format's parsed result is checked here,
right after its reading (:func:`qc.services.import_reading.read_and_build`) and before any
query uses its names, so a file holding such text is refused naming its file, image and
object instead of failing in the database.

What no database here stores: NUL (PostgreSQL refuses it in text and in jsonb; SQLite
keeps it but cuts names short where C strings are used) and a lone surrogate (what JSON's
``"\\ud800"`` decodes to; it has no UTF-8 encoding). Other control characters are stored
and exported as they are, so they are left alone.
"""

from __future__ import annotations

import re
from typing import Any

from projects.errors import ImportRefused
from qc.formats import ParseResult

__all__ = ["refusal", "refuse_unstorable_text", "shown"]

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def shown(text: str) -> str:
    """``text`` with each character no database stores written as its escape (``\\u0000``),
    so that a refusal naming it can itself be stored and shown."""
    return _UNSTORABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def refusal(message: str, *, file: str, image: str | None, obj: str | None) -> ImportRefused:
    """The refusal of a reader's error (its message, file, image and object, as
    :class:`qc.formats.FormatError` has them), each escaped by :func:`shown`: a reader
    that refuses an image of an unstorable name names it in its message."""
    return ImportRefused(
        shown(message),
        file=shown(file),
        image=None if image is None else shown(image),
        obj=None if obj is None else shown(obj),
    )


def _why(text: str) -> str | None:
    """What is wrong with ``text``, None when it can be stored."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    character = found.group()
    escape = f"\\u{ord(character):04x}"
    if character == "\x00":
        return f"holds a NUL character ({escape}), which no database stores"
    return f"holds a lone surrogate ({escape}), which is not a character of any text"


def _why_in(value: Any) -> tuple[str, str] | None:
    """(the string, what is wrong) for the first unstorable string of a JSON value, keys
    included; None when every string can be stored."""
    if isinstance(value, str):
        why = _why(value)
        return None if why is None else (value, why)
    if isinstance(value, dict):
        items = [item for pair in value.items() for item in pair]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return None
    for item in items:
        found = _why_in(item)
        if found is not None:
            return found
    return None


def refuse_unstorable_text(result: ParseResult, *, display: str) -> None:
    """Refuse (:class:`ImportRefused`, naming file, image and object, those names escaped
    by :func:`shown`) the first image name, class name, annotator name or attribute of
    ``result`` that holds text no database stores."""
    for image in result.images:
        why = _why(image.name)
        if why is not None:
            raise ImportRefused(
                f"the image name {why}; rename the image in the file",
                file=display,
                image=shown(image.name),
            )
    for obj in result.objects:
        place = {"file": display, "image": shown(obj.image), "obj": shown(obj.source)}
        why = _why(obj.label)
        if why is not None:
            raise ImportRefused(f"the class name '{shown(obj.label)}' {why}", **place)
        why = None if obj.annotator is None else _why(obj.annotator)
        if why is not None:
            raise ImportRefused(f"the annotator name '{shown(obj.annotator)}' {why}", **place)
        found = _why_in(obj.attributes)
        if found is not None:
            raise ImportRefused(f"the attribute text '{shown(found[0])}' {found[1]}", **place)
    for image_name, annotator in result.submissions or ():
        why = None if annotator is None else _why(annotator)
        if why is not None:
            raise ImportRefused(
                f"the annotator name '{shown(annotator)}' {why}",
                file=display,
                image=shown(image_name),
            )
