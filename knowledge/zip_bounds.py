"""Bounds on a zip container (.docx, .xlsx), checked from its directory before any parser inflates a byte.

python-docx and openpyxl inflate whatever a zip holds: a 240 KB .docx can hold 50 MB of XML (a "zip bomb").
``check_zip`` reads only the central directory and refuses an archive whose members declare more than
``MAX_UNCOMPRESSED_BYTES`` in total, or any sizeable member that inflates more than ``MAX_COMPRESSION_RATIO``
times. The declared sizes can be trusted as bounds: Python's zipfile never returns more than a member declares.
"""

from __future__ import annotations

import io
import zipfile

MAX_UNCOMPRESSED_BYTES = 20 * 1024 * 1024
MAX_COMPRESSION_RATIO = 100
MAX_MEMBERS = 10_000
# A member smaller than this cannot hurt, whatever its ratio (deflate packs a page of spaces 500:1).
_RATIO_FLOOR_BYTES = 256 * 1024


class ZipTooLarge(ValueError):
    """The archive would inflate beyond the bounds; ``str(exc)`` says which (for the log, in English)."""


def check_zip(data: bytes) -> None:
    """ZipTooLarge if ``data`` would inflate too far; zipfile.BadZipFile if it is not a zip at all."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise ZipTooLarge(f"{len(members)} members (at most {MAX_MEMBERS})")
    total = 0
    for member in members:
        total += member.file_size
        if total > MAX_UNCOMPRESSED_BYTES:
            raise ZipTooLarge(f"more than {MAX_UNCOMPRESSED_BYTES} bytes uncompressed")
        ratio_limit = MAX_COMPRESSION_RATIO * max(member.compress_size, 1)
        if member.file_size > _RATIO_FLOOR_BYTES and member.file_size > ratio_limit:
            raise ZipTooLarge(f"{member.filename} inflates {member.file_size // max(member.compress_size, 1)}:1")
