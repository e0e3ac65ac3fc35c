"""Zips that lie about their size: an archive is held to what it really inflates to.

Each archive is built here with zipfile, from highly compressible members, with limits small
enough that a refusal takes a fraction of a second; where headers lie, their bytes are
patched after writing. Every refusal goes through the import service, names the archive and
the member, changes no row, and holds memory bounded by the limits (measured with
tracemalloc).
"""

from __future__ import annotations

import json
import struct
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile

from qc.formats.base import FormatError, Limits
from qc.formats.sources import ZIP_CHUNK
from qc.formats.supervisely import read_supervisely
from qc.models import ImportJob, JobStatus
from qc.services.import_jobs import import_job_create
from qc.services.imports import ImportRefused, import_annotations

MB = 1_000_000
META = json.dumps({"classes": [{"title": "bubble", "shape": "bitmap"}], "tags": []})


def annotation(padding: int = 0) -> bytes:
    """A Supervisely annotation of an 8 x 8 image with no objects, followed by ``padding``
    spaces: valid JSON that deflates a thousandfold."""
    document = json.dumps({"size": {"width": 8, "height": 8}, "tags": [], "objects": []})
    return document.encode() + b" " * padding


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def write_zeros(archive: zipfile.ZipFile, name: str, size: int) -> None:
    """A member of ``size`` zero bytes, written a chunk at a time."""
    with archive.open(name, "w") as out:
        for start in range(0, size, 1 << 20):
            out.write(bytes(min(1 << 20, size - start)))


def claim_size(path: Path, member: str, claimed: int) -> None:
    """Make both of ``member``'s headers (local and central directory) say it inflates to
    ``claimed`` bytes; its data and CRC stay as written."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        local = archive.getinfo(member).header_offset
    assert data[local : local + 4] == b"PK\x03\x04"
    struct.pack_into("<I", data, local + 22, claimed)
    end = data.rindex(b"PK\x05\x06")
    (entries,) = struct.unpack_from("<H", data, end + 10)
    (position,) = struct.unpack_from("<I", data, end + 16)
    for _ in range(entries):
        assert data[position : position + 4] == b"PK\x01\x02"
        name_length, extra_length, comment_length = struct.unpack_from("<3H", data, position + 28)
        if data[position + 46 : position + 46 + name_length] == member.encode():
            struct.pack_into("<I", data, position + 24, claimed)
        position += 46 + name_length + extra_length + comment_length
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo(member).file_size == claimed


def row_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def refusal_and_peak(call: Callable[[], object]) -> tuple[ImportRefused, int]:
    """The ImportRefused ``call`` raises and the most memory it held at once, in bytes."""
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        with pytest.raises(ImportRefused) as caught:
            call()
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    return caught.value, peak


@pytest.fixture
def small_limits(settings):
    settings.MASKQC_MAX_UPLOAD_BYTES = 16 * MB
    settings.MASKQC_MAX_ARCHIVE_BYTES = 24 * MB
    return settings


# --------------------------------------------------------------------------- service


def test_members_inflating_past_the_archive_limit_together_are_refused(
    tmp_path, project, bubble, small_limits
):
    # Four members of 10 MB each deflate to 40 KB in all; each is under the 16 MB member
    # limit, and they pass the 24 MB archive limit at the third.
    members = {"project/meta.json": META.encode()}
    members |= {f"project/ds/ann/{k}.png.json": annotation(10 * MB) for k in "abcd"}
    path = write_zip(tmp_path / "bomb.zip", members)
    assert path.stat().st_size < 100_000
    before = row_counts()

    error, peak = refusal_and_peak(
        lambda: import_annotations(project=project, path=path, format="supervisely", actor=None)
    )

    assert (error.file, error.image, error.object) == (
        "bomb.zip/project/ds/ann/c.png.json",
        None,
        None,
    )
    assert error.reason == (
        "archive members inflate to more than the archive limit of 24000000 bytes by this one"
    )
    assert row_counts() == before
    # A member is read whole (its chunks, then their join) before it is parsed.
    assert peak < 2 * small_limits.MASKQC_MAX_UPLOAD_BYTES + 2 * ZIP_CHUNK


def test_member_whose_headers_understate_its_size_is_refused_without_inflating_it(
    tmp_path, project, bubble, small_limits
):
    # Both headers say 1000 bytes; the data inflates to 64 MB, four times the member limit.
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project/meta.json", META)
        write_zeros(archive, "project/ds/ann/a.png.json", 64 * MB)
    claim_size(path, "project/ds/ann/a.png.json", 1000)
    before = row_counts()

    error, peak = refusal_and_peak(
        lambda: import_annotations(project=project, path=path, format="supervisely", actor=None)
    )

    assert (error.file, error.image, error.object) == (
        "liar.zip/project/ds/ann/a.png.json",
        None,
        None,
    )
    assert error.reason == (
        "archive member is damaged or its header is false: Bad CRC-32 for file "
        "'project/ds/ann/a.png.json'"
    )
    assert row_counts() == before
    # The header's 1000 bytes are all that is kept; a chunk or two is inflated on the way,
    # never the 16 MB member limit.
    assert peak < 3 * ZIP_CHUNK


def test_member_declaring_more_than_the_member_limit_is_refused_before_it_inflates(
    tmp_path, project, bubble, small_limits
):
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project/meta.json", META)
        write_zeros(archive, "project/ds/ann/a.png.json", 20 * MB)
    before = row_counts()

    error, peak = refusal_and_peak(
        lambda: import_annotations(project=project, path=path, format="supervisely", actor=None)
    )

    assert (error.file, error.reason) == (
        "big.zip/project/ds/ann/a.png.json",
        "archive member is 20000000 bytes, over the limit of 16000000",
    )
    assert row_counts() == before
    assert peak < 3 * ZIP_CHUNK


def test_import_job_of_an_uploaded_bomb_fails_and_writes_nothing(
    tmp_path, project, bubble, lead, small_limits, django_capture_on_commit_callbacks
):
    members = {"project/meta.json": META.encode()}
    members |= {f"project/ds/ann/{k}.png.json": annotation(10 * MB) for k in "abcd"}
    path = write_zip(tmp_path / "bomb.zip", members)
    before = row_counts()

    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_create(
            project=project,
            actor=lead,
            upload=SimpleUploadedFile("bomb.zip", path.read_bytes()),
            format="supervisely",
        )

    job.refresh_from_db()
    assert (job.status, job.error) == (
        JobStatus.FAILED,
        "bomb.zip/project/ds/ann/c.png.json: image (none): object (none): archive members "
        "inflate to more than the archive limit of 24000000 bytes by this one",
    )
    after = row_counts()
    # Only the job itself and the audit event of its creation were added.
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == {
        "qc.ImportJob": 1,
        "projects.AuditEvent": 1,
    }
    assert ImportJob.objects.get().summary == {}


# ---------------------------------------------------------------------------- reader


def test_archive_members_read_within_the_limits_are_read_whole(tmp_path):
    members = {"project/meta.json": META.encode()}
    members |= {f"project/ds/ann/{k}.png.json": annotation(3 * MB) for k in "abc"}
    path = write_zip(tmp_path / "fine.zip", members)

    result = read_supervisely(path, limits=Limits(max_file_bytes=4 * MB, max_archive_bytes=10 * MB))

    assert [image.name for image in result.images] == ["a.png", "b.png", "c.png"]


def test_archive_member_compressed_with_bzip2_is_refused(tmp_path):
    # zipfile inflates a bzip2 chunk whole, however far it expands.
    path = tmp_path / "bz.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project/meta.json", META)
        archive.writestr("project/ds/ann/a.png.json", annotation(), compress_type=zipfile.ZIP_BZIP2)

    with pytest.raises(FormatError) as caught:
        read_supervisely(path, limits=Limits())

    assert (caught.value.file, caught.value.message) == (
        "bz.zip/project/ds/ann/a.png.json",
        "archive member is compressed with method 12; only stored and deflated members are read",
    )
