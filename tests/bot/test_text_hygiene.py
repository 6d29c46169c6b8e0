"""bot/services/text_hygiene.py: what typed text may keep, names in NFKC, export-safe cells, and strict ids."""

from __future__ import annotations

import io

import openpyxl
import pytest

from bot.services import text_hygiene as hygiene

# Control (Cc), format (Cf, including every bidi embedding, override and isolate) and lone surrogates (Cs).
HOSTILE = (
    "\x00\x07\x1b\x7f\x85\u00ad\u061c\u200b\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff\ud800"
)


def test_one_line_fields_lose_control_format_and_bidi_characters() -> None:
    assert hygiene.clean_line(f"三楼{HOSTILE}会议室") == "三楼会议室"
    assert hygiene.clean_line("  学习\n党章\t精神\u3000 ") == "学习 党章 精神"
    assert hygiene.clean_line("\u202egnp.exe") == "gnp.exe"
    assert hygiene.clean_line("") == ""
    assert hygiene.clean_line("普通的文字，不变。") == "普通的文字，不变。"


def test_names_are_nfkc_and_clean() -> None:
    assert hygiene.clean_name("王\u200b芳") == "王芳"
    assert hygiene.clean_name("ＬＩ　Ｍｉｎｇ") == "LI Ming"
    assert hygiene.clean_name("张三\u202e") == "张三"
    assert hygiene.clean_name("\u2f08\u2f24") == "人大"  # Kangxi radicals look like 人大 and are folded to it


def test_multiline_text_keeps_its_lines() -> None:
    assert hygiene.clean_multiline(f"第一项：{HOSTILE}通过\r\n第二项：讨论\r三\u2028四") == (
        "第一项：通过\n第二项：讨论\n三\n四"
    )
    assert hygiene.clean_multiline("\n\n  纪要\t正文  \n\n") == "纪要\t正文"


def test_export_cells_are_always_accepted_by_openpyxl() -> None:
    workbook = openpyxl.Workbook()
    dirty = "".join(chr(code) for code in range(0x20)) + "\u202e文字\ud800"
    cell = hygiene.export_cell(dirty)
    workbook.active.append([cell])
    workbook.save(io.BytesIO())
    assert cell == "\t\n\r文字"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7", 7),
        ("007", 7),
        ("123456789", 123456789),
        ("1234567890", None),
        ("12345678901234567890", None),
        ("²", None),
        ("١٢", None),  # Arabic-Indic digits: int() would take them
        ("１２", None),
        ("-3", None),
        ("+3", None),
        (" 3", None),
        ("3\n", None),
        ("", None),
        ("1_000", None),
    ],
)
def test_ids_are_one_to_nine_ascii_digits(text: str, expected: int | None) -> None:
    assert hygiene.parse_id(text) == expected
