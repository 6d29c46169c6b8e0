"""Tests for knowledge.ingest: readers for each format, heading paths, titles and user-facing errors.

Every input file is generated here (python-docx, reportlab, pypdf); no binary fixtures are committed.
"""

from __future__ import annotations

import io
from pathlib import Path

import docx
import pytest
from docx.enum.style import WD_STYLE_TYPE
from pypdf import PdfWriter
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from knowledge.ingest import (
    MAX_FILE_BYTES,
    MAX_PASSAGE_CHARS,
    MAX_PASSAGES,
    IngestError,
    ParsedDocument,
    ParsedPassage,
    parse_bytes,
    parse_file,
)
from knowledge.normalize import has_cjk

REGULATION = """\
《中国共产党支部工作条例（试行）》

第一章　总则
第一条　为了深入贯彻新时代党的建设总要求，加强党支部建设，制定本条例。
第二条　党支部是党的基础组织。
第二章　组织设置
第一节　设立
第五条
党支部设立一般以单位、区域为主。
第二节　换届
第十条　党支部的基本任务是：
（一）宣传和执行党的路线方针政策；
（二）组织党员认真学习。
第三章　附则
第一百零一条　本条例自发布之日起施行。
"""

OUTLINE = """\
关于开展主题党日活动的通知
各党支部：
现将有关事项通知如下。
一、总体要求
（一）指导思想。以习近平新时代中国特色社会主义思想为指导，深入学习。
（二）工作目标
1. 会前要认真准备会议材料，提前通知全体党员，并确保全体党员按时到会参加学习。
（1）提前10分钟到场。
（2）带好笔记本
记录学习心得。
2. 按时参加
3. 做好记录
二、时间安排
每月第一周。
"""


def paths(document: ParsedDocument) -> list[tuple[str, ...]]:
    return [passage.heading_path for passage in document.passages]


def error_of(data: bytes, filename: str) -> str:
    with pytest.raises(IngestError) as info:
        parse_bytes(data, filename)
    message = str(info.value)
    assert has_cjk(message)
    return message


def make_pdf(lines_per_page: list[list[str]]) -> bytes:
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for lines in lines_per_page:
        pdf.setFont("STSong-Light", 12)
        for row, line in enumerate(lines):
            pdf.drawString(72, 760 - 20 * row, line)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


# --- structure -----------------------------------------------------------------------------------------------


def test_regulation_chapters_sections_and_articles() -> None:
    document = parse_bytes(REGULATION.encode(), "tiaoli.txt")

    assert document.title == "中国共产党支部工作条例（试行）"
    assert document.passages == (
        ParsedPassage(("第一章　总则", "第一条"), "为了深入贯彻新时代党的建设总要求，加强党支部建设，制定本条例。"),
        ParsedPassage(("第一章　总则", "第二条"), "党支部是党的基础组织。"),
        ParsedPassage(("第二章　组织设置", "第一节　设立", "第五条"), "党支部设立一般以单位、区域为主。"),
        # Enumerated items belong to their article: the article is what gets quoted.
        ParsedPassage(
            ("第二章　组织设置", "第二节　换届", "第十条"),
            "党支部的基本任务是：\n（一）宣传和执行党的路线方针政策；\n（二）组织党员认真学习。",
        ),
        ParsedPassage(("第三章　附则", "第一百零一条"), "本条例自发布之日起施行。"),
    )


def test_outline_levels_run_in_heads_and_list_items() -> None:
    document = parse_bytes(OUTLINE.encode(), "tongzhi.txt")

    assert document.title == "关于开展主题党日活动的通知"
    assert document.passages == (
        ParsedPassage((), "各党支部：\n现将有关事项通知如下。"),
        ParsedPassage(("一、总体要求", "（一）指导思想"), "以习近平新时代中国特色社会主义思想为指导，深入学习。"),
        ParsedPassage(
            ("一、总体要求", "（二）工作目标", "1."),
            "会前要认真准备会议材料，提前通知全体党员，并确保全体党员按时到会参加学习。",
        ),
        ParsedPassage(("一、总体要求", "（二）工作目标", "1.", "（1）"), "提前10分钟到场。"),
        ParsedPassage(("一、总体要求", "（二）工作目标", "1.", "（2）带好笔记本"), "记录学习心得。"),
        # Short items with nothing under them are list entries of the enclosing section, not headings.
        ParsedPassage(("一、总体要求", "（二）工作目标"), "2. 按时参加\n3. 做好记录"),
        ParsedPassage(("二、时间安排",), "每月第一周。"),
    )


def test_full_width_and_half_width_markers() -> None:
    text = (
        "说明\n第1章 总则\n１．按时参加组织生活，遵守纪律，服从组织的安排和决定。\n"
        "(1) 不迟到。\n（２）不早退。\n(三)其他事项。\n"
    )
    document = parse_bytes(text.encode(), "a.txt")

    assert paths(document) == [
        ("第1章 总则", "１．"),
        ("第1章 总则", "１．", "(1)"),
        ("第1章 总则", "１．", "（２）"),
        ("第1章 总则", "(三)"),
    ]
    assert document.passages[0].text == "按时参加组织生活，遵守纪律，服从组织的安排和决定。"


def test_article_heading_is_its_marker_even_when_the_line_is_short() -> None:
    # A PDF wraps lines: "第十八条　党支部应当注重分析党员思想" continues on the next line.
    text = "第十八条　党支部应当注重分析党员思想\n状况和心理状态。\n"
    document = parse_bytes(text.encode(), "a.txt")

    assert document.passages == (ParsedPassage(("第十八条",), "党支部应当注重分析党员思想\n状况和心理状态。"),)


def test_sibling_closes_previous_and_higher_level_closes_deeper() -> None:
    text = "第一章　甲\n一、子甲\n正文一。\n二、子乙\n正文二。\n第二章　乙\n正文三。\n"
    document = parse_bytes(text.encode(), "a.txt")

    assert paths(document) == [("第一章　甲", "一、子甲"), ("第一章　甲", "二、子乙"), ("第二章　乙",)]


@pytest.mark.parametrize(
    "line",
    [
        "1.5%的党员参加了培训。",
        "2018年完成换届。",
        "2026年1月1日",
        "一、二季度各召开一次。",
        "1、2月份集中学习。",
        "12.5万元用于党员教育。",
        "第三条规定的情形除外。",
        "第一章至第三章适用于全体党员。",
    ],
)
def test_false_positive_heading_lines_stay_body_text(line: str) -> None:
    document = parse_bytes(f"一、总体要求\n正文。\n{line}\n".encode(), "a.txt")

    assert document.passages == (ParsedPassage(("一、总体要求",), f"正文。\n{line}"),)


def test_markdown_headings_sit_above_chinese_markers() -> None:
    text = (
        "# 支部工作手册\n\n引言。\n\n## 三会一课\n\n### 支部委员会\n\n一、召开频次\n每月一次。\n\n"
        "```\n# 不是标题\n1. 也不是\n```\n\n## 主题党日\n每月固定一天。\n"
    )
    document = parse_bytes(text.encode(), "shouce.md")

    assert document.title == "支部工作手册"
    assert document.passages == (
        ParsedPassage((), "引言。"),
        ParsedPassage(("三会一课", "支部委员会", "一、召开频次"), "每月一次。\n```\n# 不是标题\n1. 也不是\n```"),
        ParsedPassage(("主题党日",), "每月固定一天。"),
    )


def test_markdown_with_several_top_headings_has_no_title_line() -> None:
    document = parse_bytes("# 第一部分\n内容一。\n# 第二部分\n内容二。\n".encode(), "notes.md")

    assert document.title == "notes"
    assert paths(document) == [("第一部分",), ("第二部分",)]


def test_long_passage_is_split_at_boundaries_keeping_its_path() -> None:
    paragraph = "党支部应当严格落实“三会一课”制度。" * 50
    text = "第一章　总则\n" + "\n".join([paragraph, paragraph, "最后一段。"]) + "\n"
    document = parse_bytes(text.encode(), "a.txt")

    assert len(document.passages) > 2
    assert all(p.heading_path == ("第一章　总则",) for p in document.passages)
    assert all(len(p.text) <= MAX_PASSAGE_CHARS for p in document.passages)
    assert "".join(p.text.replace("\n", "") for p in document.passages) == "".join(text.splitlines()[1:])
    assert all(p.text.endswith("。") for p in document.passages)


def test_text_is_kept_as_written_including_traditional_characters() -> None:
    text = "黨支部工作條例\n第一章　總則\n第一條　黨支部是黨的基礎組織，擔負直接教育黨員、管理黨員的職責。\n"
    document = parse_bytes(text.encode(), "fanti.txt")

    assert document.title == "黨支部工作條例"
    assert document.passages == (
        ParsedPassage(("第一章　總則", "第一條"), "黨支部是黨的基礎組織，擔負直接教育黨員、管理黨員的職責。"),
    )


# --- titles --------------------------------------------------------------------------------------------------


def test_given_title_wins() -> None:
    assert parse_bytes(REGULATION.encode(), "x.txt", title=" 支部条例 ").title == "支部条例"


def test_title_falls_back_to_file_stem_when_first_line_is_a_sentence_or_heading() -> None:
    assert parse_bytes("党费按月交纳。\n党员应当主动交纳。\n".encode(), "dir/党费说明.txt").title == "党费说明"
    assert parse_bytes("第一条　党支部是基础组织。\n".encode(), "C:\\docs\\条例.txt").title == "条例"


def test_single_line_document_keeps_its_line_as_text() -> None:
    document = parse_bytes("党员应当按时交纳党费".encode(), "dangfei.txt")

    assert document.passages == (ParsedPassage((), "党员应当按时交纳党费"),)


# --- encodings -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16", "utf-16-le"])
def test_text_encodings(encoding: str) -> None:
    document = parse_bytes(REGULATION.encode(encoding), "a.txt")

    assert document == parse_bytes(REGULATION.encode(), "a.txt")


@pytest.mark.parametrize("text", ["三会一课制度\n每月召开一次。", "党费\n按月交纳。", "谈心谈话", "主题党日"])
def test_short_gbk_text_is_not_mistaken_for_another_encoding(text: str) -> None:
    document = parse_bytes(text.encode("gbk"), "a.txt")

    assert [document.title, *(p.text for p in document.passages)] in (
        text.split("\n"),
        ["a", text],
    )


def test_gb18030_characters_outside_gbk() -> None:
    text = "第一条　少数民族党员姓名用字如“㐀䶮”应当准确录入，不得随意更改或者简化处理。\n"
    with pytest.raises(UnicodeEncodeError):
        text.encode("gbk")

    document = parse_bytes(text.encode("gb18030"), "a.txt")

    assert document.passages[0].text == text.strip().removeprefix("第一条　")


def test_big5_traditional_text() -> None:
    text = "黨支部工作條例\n第一條　黨支部是黨的基礎組織，擔負直接教育黨員、管理黨員、監督黨員和組織群眾的職責。\n"

    document = parse_bytes(text.encode("big5"), "a.txt")

    assert document == parse_bytes(text.encode(), "a.txt")


def test_binary_data_named_txt_is_rejected() -> None:
    assert "文本" in error_of(bytes(range(256)) * 8, "a.txt")


# --- docx ----------------------------------------------------------------------------------------------------


def test_docx_headings_body_and_table(tmp_path: Path) -> None:
    document = docx.Document()
    document.styles.add_style("toc 1", WD_STYLE_TYPE.PARAGRAPH)
    document.add_heading("党支部工作规范", level=0)
    document.add_paragraph("组织生活\t1", style="toc 1")
    document.add_paragraph("本规范适用于全体党支部。")
    document.add_heading("组织生活", level=1)
    document.add_heading("三会一课", level=2)
    document.add_paragraph("一、支部党员大会")
    document.add_paragraph("一般每季度召开1次。")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "会议"
    table.cell(0, 1).text = "频次"
    table.cell(1, 0).text = "党小组会"
    table.cell(1, 1).text = "每月1次"
    merged = table.add_row().cells
    merged[0].merge(merged[1]).text = "另行通知"
    document.add_heading("党费", level=1)
    document.add_paragraph("第十条　党员应当按月交纳党费。")
    path = tmp_path / "规范.docx"
    document.save(str(path))

    parsed = parse_file(path)

    assert parsed.title == "党支部工作规范"
    assert parsed.passages == (
        ParsedPassage((), "本规范适用于全体党支部。"),
        ParsedPassage(
            ("组织生活", "三会一课", "一、支部党员大会"),
            "一般每季度召开1次。\n会议 | 频次\n党小组会 | 每月1次\n另行通知",
        ),
        ParsedPassage(("党费", "第十条"), "党员应当按月交纳党费。"),
    )


def test_docx_without_text_is_empty(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_paragraph("   ")
    buffer = io.BytesIO()
    document.save(buffer)

    assert "空" in error_of(buffer.getvalue(), "a.docx")


def test_corrupt_docx() -> None:
    assert "Word" in error_of(b"PK\x03\x04 this is not really a zip archive", "a.docx")
    assert "Word" in error_of(REGULATION.encode(), "renamed.docx")


# --- pdf -----------------------------------------------------------------------------------------------------


def test_pdf_with_chinese_cid_font() -> None:
    data = make_pdf(
        [
            ["党支部工作条例", "第一章　总则", "第一条　党支部是党的基础组织。", "- 1 -"],
            ["第二章　组织设置", "第五条　党支部设立一般以单位为主。", "- 2 -"],
        ]
    )

    document = parse_bytes(data, "tiaoli.pdf")

    assert document.title == "党支部工作条例"
    assert document.passages == (
        ParsedPassage(("第一章　总则", "第一条"), "党支部是党的基础组织。"),
        ParsedPassage(("第二章　组织设置", "第五条"), "党支部设立一般以单位为主。"),
    )


def test_pdf_without_text_looks_scanned() -> None:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.rect(72, 72, 300, 500, fill=1)
    pdf.showPage()
    pdf.save()

    assert "扫描件" in error_of(buffer.getvalue(), "scan.pdf")


def test_corrupt_pdf() -> None:
    assert "PDF" in error_of(b"%PDF-1.7\n this is broken", "a.pdf")
    assert "PDF" in error_of(make_pdf([["第一条　内容。"]])[:300], "truncated.pdf")


def test_password_protected_pdf() -> None:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)

    assert "密码" in error_of(buffer.getvalue(), "locked.pdf")


# --- rejected uploads ----------------------------------------------------------------------------------------


def test_unsupported_suffix() -> None:
    assert error_of(b"data", "table.xls") == "暂不支持 .xls 文件，请上传 .docx、.pdf、.txt 或 .md 文件。"
    assert ".docx" in error_of(b"data", "old.DOC")
    assert ".docx" in error_of(b"data", "README")


@pytest.mark.parametrize("data", [b"", b"  \n\t\r\n", "　　\n".encode(), b"\xef\xbb\xbf\n"])
def test_empty_and_whitespace_only_files(data: bytes) -> None:
    assert "空" in error_of(data, "a.txt")


def test_oversized_bytes() -> None:
    assert "10 MB" in error_of(b"a" * (MAX_FILE_BYTES + 1), "big.txt")


def test_oversized_file_is_rejected_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)

    with pytest.raises(IngestError, match="10 MB"):
        parse_file(path)


def test_file_exactly_at_the_limit_is_accepted(tmp_path: Path) -> None:
    line = "党员应当按时交纳党费。\n".encode()
    data = line * 1000  # the rest is blank: a file of real text this size would have too many passages
    path = tmp_path / "limit.txt"
    path.write_bytes(data + b" " * (MAX_FILE_BYTES - len(data)))

    assert parse_file(path).passages


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="无法读取"):
        parse_file(tmp_path / "nope.txt")


# --- scale ---------------------------------------------------------------------------------------------------


def regulation_with(articles: int) -> bytes:
    article = (
        "第{n}条　党支部党员大会一般每季度召开1次，遇有重要情况可以随时召开。\n（一）听取工作报告；\n（二）开展选举。\n"
    )
    parts = []
    for n in range(1, articles + 1):
        if n % 50 == 1:
            parts.append(f"第{n // 50 + 1}章　分则\n")
        parts.append(article.format(n=n))
    return "".join(parts).encode()


def test_large_document_completes() -> None:
    data = regulation_with(MAX_PASSAGES)
    assert len(data) > 250_000

    document = parse_bytes(data, "big.txt")

    assert len(document.passages) == MAX_PASSAGES
    assert document.passages[-1].heading_path == ("第40章　分则", f"第{MAX_PASSAGES}条")


def test_a_document_of_more_passages_than_the_cap_is_refused() -> None:
    assert "超过 2000 段" in error_of(regulation_with(MAX_PASSAGES + 1), "big.txt")
