"""Hostile uploads, generated on demand: each is small on the wire and costly to a careless parser.

Used by the upload tests (tests/progress/test_upload_bounds.py, tests/branch/test_roster_bounds.py) and by
bench/abuse.py, which prints how long each takes to refuse and how much memory that costs.
"""

from __future__ import annotations

import io
import re
import zipfile

import docx
import openpyxl

ZIP_BOMB_XML_BYTES = 50 * 1024 * 1024
HUGE_TEXT_BYTES = 1024 * 1024


def zip_bomb_docx(xml_bytes: int = ZIP_BOMB_XML_BYTES) -> bytes:
    """A real .docx whose word/document.xml is ``xml_bytes`` of paragraphs; deflate packs it about 1000:1."""
    template = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("占位")
    document.save(template)
    paragraph = b"<w:p><w:r><w:t>" + "党员大会".encode() * 8 + b"</w:t></w:r></w:p>"
    source = zipfile.ZipFile(template)
    head, _, tail = source.read("word/document.xml").partition(b"<w:body>")
    body_end = tail.index(b"</w:body>")
    result = io.BytesIO()
    with zipfile.ZipFile(result, "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in source.infolist():
            if item.filename != "word/document.xml":
                bomb.writestr(item, source.read(item.filename))
        with bomb.open("word/document.xml", "w", force_zip64=True) as xml:
            xml.write(head + b"<w:body>")
            written = 0
            chunk = paragraph * 4096
            while written < xml_bytes:
                xml.write(chunk)
                written += len(chunk)
            xml.write(tail[body_end:])
    return result.getvalue()


def dimension_bomb_xlsx(rows: int = 3) -> bytes:
    """A tiny roster .xlsx whose sheet claims ``<dimension ref="A1:XFD1048576"/>``, with one more row at the very
    bottom: a reader that trusts the claim pads each of the million rows in between to 16,384 cells."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["姓名", "状态"])
    for index in range(rows):
        sheet.append([f"党员{index}", "正式党员"])
    sheet.cell(row=1_048_576, column=1, value="末行")
    plain = io.BytesIO()
    workbook.save(plain)
    source = zipfile.ZipFile(plain)
    result = io.BytesIO()
    with zipfile.ZipFile(result, "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                content = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', content)
            bomb.writestr(item, content)
    return result.getvalue()


def zip_bomb_xlsx(padding_bytes: int = ZIP_BOMB_XML_BYTES) -> bytes:
    """A roster .xlsx whose sheet XML carries ``padding_bytes`` of blank space (a comment) that deflate packs
    about 1000:1."""
    workbook = openpyxl.Workbook()
    workbook.active.append(["姓名"])
    workbook.active.append(["王芳"])
    plain = io.BytesIO()
    workbook.save(plain)
    source = zipfile.ZipFile(plain)
    result = io.BytesIO()
    with zipfile.ZipFile(result, "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in source.infolist():
            if not item.filename.startswith("xl/worksheets/sheet"):
                bomb.writestr(item, source.read(item.filename))
                continue
            head, _, tail = source.read(item.filename).partition(b"<sheetData>")
            with bomb.open(item.filename, "w", force_zip64=True) as xml:
                xml.write(head + b"<!--")
                chunk = b" " * (1024 * 1024)
                for _ in range(padding_bytes // len(chunk)):
                    xml.write(chunk)
                xml.write(b"--><sheetData>" + tail)
    return result.getvalue()


def quadratic_heading_md(spaces: int = 20_000) -> bytes:
    """A Markdown heading with a long run of spaces inside: a backtracking heading pattern tries every split."""
    return ("# 标题\n\n# 第" + " " * spaces + "x\n\n正文。\n").encode()


def huge_text_one_line(size: int = HUGE_TEXT_BYTES) -> bytes:
    """``size`` bytes of one line of text with no sentence ends."""
    return b"x" * size


def huge_text_many_items(size: int = HUGE_TEXT_BYTES) -> bytes:
    """``size`` bytes of short numbered items: each becomes a heading with a passage of its own."""
    item = "1. 按时参加\n支部活动\n".encode()
    return item * (size // len(item))
