"""Wording shared by the one-line summaries that commands print."""


def counted(count: int, word: str, plural: str | None = None) -> str:
    """``count`` and the noun, singular for exactly one: "1 image", "3 images", "0 classes"
    (with ``plural="classes"``); the plural is ``word + "s"`` unless given."""
    return f"{count} {word if count == 1 else plural or word + 's'}"
