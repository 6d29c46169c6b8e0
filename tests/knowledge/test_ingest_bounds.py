"""knowledge.ingest on hostile files: every one is refused or bounded in well under a second or two.

The files come from tests/hostile_files.py. ``parse_bytes`` runs in this process here; the bot runs it in a child
process with a time and memory limit (tests/bot/test_untrusted_files.py).
"""

from __future__ import annotations

import io
import random
import time
import zipfile

import pytest

from knowledge.ingest import MAX_HEADING_CHARS, MAX_PASSAGES, MAX_TITLE_CHARS, IngestError, parse_bytes
from knowledge.normalize import has_cjk
from knowledge.zip_bounds import MAX_COMPRESSION_RATIO, MAX_UNCOMPRESSED_BYTES, ZipTooLarge, check_zip
from tests.hostile_files import huge_text_many_items, huge_text_one_line, quadratic_heading_md, zip_bomb_docx

QUICKLY = 2.0  # seconds: the bound for refusing any hostile file


def refusal(data: bytes, filename: str) -> tuple[str, float]:
    started = time.perf_counter()
    with pytest.raises(IngestError) as info:
        parse_bytes(data, filename)
    message = str(info.value)
    assert has_cjk(message)
    return message, time.perf_counter() - started


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_zip_bomb_docx_is_refused_before_it_is_inflated() -> None:
    bomb = zip_bomb_docx()
    assert len(bomb) < 300_000
    message, seconds = refusal(bomb, "通知.docx")
    assert "解压后超过 20 MB" in message
    assert seconds < QUICKLY


def test_zip_bounds_total_and_ratio() -> None:
    check_zip(zipped({"a.xml": b"<a/>" * 1000, "b.png": bytes(range(256)) * 100}))
    with pytest.raises(ZipTooLarge):  # one member inflating 1000:1
        check_zip(zipped({"a.xml": b" " * (5 * 1024 * 1024)}))
    varied = random.Random(9).randbytes(MAX_UNCOMPRESSED_BYTES // 4)  # incompressible: ratio 1
    check_zip(zipped({"a.bin": varied}))
    with pytest.raises(ZipTooLarge):  # the total, though no member is suspicious on its own
        check_zip(zipped({f"part{i}.bin": varied for i in range(5)}))
    assert MAX_COMPRESSION_RATIO == 100
    with pytest.raises(zipfile.BadZipFile):
        check_zip(b"PK\x03\x04 not a zip")


def test_markdown_heading_pattern_is_linear() -> None:
    started = time.perf_counter()
    parsed = parse_bytes(quadratic_heading_md(20_000), "a.md")
    assert time.perf_counter() - started < 0.5
    assert parsed.passages[-1].text == "正文。"
    assert parsed.passages[-1].heading_path[0].startswith("第")


@pytest.mark.parametrize(
    ("line", "level", "heading"),
    [
        ("# 总则", 1, "总则"),
        ("### 第三节 ###", 3, "第三节"),
        ("## 标题 ##   ", 2, "标题"),
        ("# 标题#后缀", 1, "标题#后缀"),
        ("# #", 1, "#"),
        ("#  标题  \t", 1, "标题"),
    ],
)
def test_markdown_headings_still_read_as_before(line: str, level: int, heading: str) -> None:
    parsed = parse_bytes(f"文档\n\n{line}\n\n正文内容。\n".encode(), "a.md")
    assert parsed.passages[-1].heading_path == (heading,)
    # under a level-1 heading, the line nests only if its level is deeper
    nested = parse_bytes(f"文档\n\n# 上级\n\n{line}\n\n正文内容。\n".encode(), "a.md")
    assert nested.passages[-1].heading_path == (("上级", heading) if level > 1 else (heading,))


def test_not_headings() -> None:
    parsed = parse_bytes("文档\n\n####### 七个井号\n\n#没有空格\n".encode(), "a.md")
    assert parsed.passages[0].heading_path == ()


def test_a_megabyte_of_short_items_is_refused_not_turned_into_tens_of_thousands_of_passages() -> None:
    message, seconds = refusal(huge_text_many_items(), "名单.txt")
    assert f"超过 {MAX_PASSAGES} 段" in message
    assert seconds < QUICKLY


def test_a_megabyte_in_one_line_is_bounded() -> None:
    started = time.perf_counter()
    parsed = parse_bytes(huge_text_one_line(), "一行.txt")
    assert time.perf_counter() - started < QUICKLY
    assert 0 < len(parsed.passages) <= MAX_PASSAGES


def test_millions_of_lines_are_refused_before_they_are_split() -> None:
    message, seconds = refusal(b"x\n" * 3_000_000, "lines.txt")
    assert "请拆分" in message
    assert seconds < QUICKLY


def test_titles_and_headings_are_cut_to_a_hundred_characters() -> None:
    assert MAX_TITLE_CHARS == MAX_HEADING_CHARS == 100
    long = "长" * 5000
    parsed = parse_bytes(f"# {long}\n\n正文。\n\n# 第二部分\n\n正文。\n".encode(), "a.md", title="题" * 300)
    assert parsed.title == "题" * 100
    assert parsed.passages[0].heading_path == ("长" * 100,)
    untitled = parse_bytes(f"# {long}\n\n正文。\n".encode(), "b.md")
    assert untitled.title == "长" * 100
