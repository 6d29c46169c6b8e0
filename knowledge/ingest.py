"""Uploaded documents (.md .txt .docx .pdf) → passages that keep their heading path.

Readers turn each format into lines; one splitter then follows Chinese official-document structure
(第X编 > 第X章 > 第X节 > 第X条 > 一、 > （一） > 1. > （1）, with Markdown # / Word "Heading N" above them) and
records, for every passage, the chain of open headings. Text is kept exactly as written (only whitespace
trimmed); normalisation for matching happens elsewhere. Every failure a user can cause is an ``IngestError``
whose message is short, polite Chinese telling them what to do next.

Uploads are untrusted, so every step is bounded: the file size, a zip's inflated size and ratio (checked before
python-docx opens it, knowledge.zip_bounds), the number of lines, the number of passages, and the length of the
title and of each heading; every pattern runs in linear time. The bot runs ``parse_bytes`` in a child process with
a time and memory limit as well (bot.services.untrusted_files): pypdf, for one, has no time bound of its own.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import docx
from charset_normalizer import from_bytes
from docx.table import Table
from docx.text.paragraph import Paragraph
from pypdf import PdfReader

from knowledge.zip_bounds import MAX_UNCOMPRESSED_BYTES, ZipTooLarge, check_zip

MAX_FILE_BYTES = 10 * 1024 * 1024
SUPPORTED_SUFFIXES = (".md", ".txt", ".docx", ".pdf")
# A speech's paragraph often makes several points (一是…二是…): paragraphs and sentences are grouped into passages of
# about 400 characters, so that a question meets the point it asks about rather than a long passage that mentions
# everything (tuning documents: 2 more answered than at 800). Only one sentence longer than that stands alone, cut
# at 800 characters.
PASSAGE_CHARS = 400
MAX_PASSAGE_CHARS = 800
MAX_PASSAGES = 2000
MAX_LINES = 200_000
MAX_TITLE_CHARS = 100
MAX_HEADING_CHARS = 100

_SUPPORTED_LIST = ".docx、.pdf、.txt 或 .md"
_MSG_EMPTY = "文件是空的，没有可读取的文字。请检查文件内容后重新上传。"
_MSG_TOO_BIG = "文件超过 10 MB，请删去图片或拆分成几个文件后再上传。"
_MSG_NO_SUFFIX = f"无法识别文件类型，请上传 {_SUPPORTED_LIST} 文件。"
_MSG_OLD_DOC = "暂不支持旧版 .doc 文件，请用 Word 或 WPS 另存为 .docx 后再上传。"
_MSG_UNDECODABLE = "无法识别文件的文字编码，请另存为 UTF-8 编码的文本后再上传。"
_MSG_NOT_TEXT = f"这个文件看起来不是文本文件，请上传 {_SUPPORTED_LIST} 文件。"
_MSG_BAD_DOCX = "无法打开这个 Word 文件，可能已损坏。请用 Word 或 WPS 打开后另存为 .docx 再上传。"
_MSG_BAD_PDF = "无法打开这个 PDF 文件，可能已损坏。请重新导出 PDF，或上传 Word 版本。"
_MSG_ENCRYPTED_PDF = "这个 PDF 设有密码，无法读取。请取消密码后重新上传。"
_MSG_SCANNED_PDF = "这个 PDF 里没有可提取的文字，看起来是扫描件。请上传文字版（.docx 或 .txt）后再试。"
_MSG_UNREADABLE = "无法读取这个文件，请确认文件存在且可以打开。"
_MSG_DOCX_TOO_LARGE = (
    f"这个 Word 文件解压后超过 {MAX_UNCOMPRESSED_BYTES // (1024 * 1024)} MB，请删去图片或拆分成几个文件后再上传。"
)
_MSG_TOO_LONG = f"文件内容太多（超过 {MAX_PASSAGES} 段），请拆分成几个文件后再上传。"
# Shown by bot.services.untrusted_files when the child process runs out of time or memory.
MSG_TOO_COMPLEX = "这个文件太复杂，没能在限定的时间和内存内读完。请删去图片、拆分成几个文件，或另存为 .txt 后再上传。"


class IngestError(ValueError):
    """str(exc) is a short polite Simplified-Chinese message telling the user what to do next."""


@dataclass(frozen=True, slots=True)
class ParsedPassage:
    heading_path: tuple[str, ...]
    text: str


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    title: str
    passages: tuple[ParsedPassage, ...]


@dataclass(frozen=True, slots=True)
class _Line:
    """One line from a reader.

    ``style_level`` is an explicit heading level (Markdown # count, Word "Heading N"; 0 for Word's "Title"
    style). ``plain`` lines (table rows) are never headings.
    """

    text: str
    style_level: int | None = None
    plain: bool = False


def read_file(path: Path) -> bytes:
    """The bytes of a file to parse, refused before reading when it is over MAX_FILE_BYTES."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise IngestError(_MSG_TOO_BIG)
        return path.read_bytes()
    except OSError as exc:
        raise IngestError(_MSG_UNREADABLE) from exc


def parse_file(path: Path, title: str | None = None) -> ParsedDocument:
    return parse_bytes(read_file(path), path.name, title)


def parse_bytes(data: bytes, filename: str, title: str | None = None) -> ParsedDocument:
    # Uploaded names may carry a Windows or POSIX directory part.
    name = PurePosixPath(filename.replace("\\", "/").rsplit("/", 1)[-1])
    suffix = name.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        if not suffix:
            raise IngestError(_MSG_NO_SUFFIX)
        if suffix == ".doc":
            raise IngestError(_MSG_OLD_DOC)
        raise IngestError(f"暂不支持 {suffix} 文件，请上传 {_SUPPORTED_LIST} 文件。")
    if len(data) > MAX_FILE_BYTES:
        raise IngestError(_MSG_TOO_BIG)
    if not data.strip():
        raise IngestError(_MSG_EMPTY)

    if suffix == ".docx":
        lines = _read_docx(data)
    elif suffix == ".pdf":
        lines = _read_pdf(data)
    else:
        lines = _read_text(data, markdown=suffix == ".md")
    if not any(line.text.strip() for line in lines):
        raise IngestError(_MSG_EMPTY)

    title_index = _title_line_index(lines)
    body = [line for i, line in enumerate(lines) if i != title_index]
    passages = tuple(itertools.islice(_split_passages(body), MAX_PASSAGES + 1))
    if len(passages) > MAX_PASSAGES:
        raise IngestError(_MSG_TOO_LONG)
    chosen = (title or "").strip()
    if not chosen and title_index is not None:
        chosen = lines[title_index].text.strip()
    return ParsedDocument(title=(_clean_title(chosen) or name.stem)[:MAX_TITLE_CHARS], passages=passages)


# --- readers -------------------------------------------------------------------------------------------------

_GBK_FAMILY = frozenset({"gb2312", "gbk", "gb18030", "hz"})
# Short Chinese text often scores equally well as Big5, CP949 or UTF-16; among near-equal candidates the
# GBK family is what Chinese Windows software writes, so it wins the tie.
_GBK_TIE_MARGIN = 0.1
# Only the prefix is matched: a pattern for the whole line, such as (#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*, tries
# every split of a long run of spaces and takes quadratic time (20,000 spaces: 20 s).
_MD_HEADING_PREFIX = re.compile(r"(#{1,6})[ \t]+(?=\S)")
_MD_FENCE = re.compile(r"(```|~~~)")


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    # NUL bytes are valid UTF-8 but mean UTF-16 without a byte-order mark, or not text at all.
    if not text or "\x00" in text:
        text = _decode_detected(data)
    if "\x00" in text:
        raise IngestError(_MSG_NOT_TEXT)
    return text


def _decode_detected(data: bytes) -> str:
    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise IngestError(_MSG_UNDECODABLE)
    if best.encoding in _GBK_FAMILY or (
        not best.bom and any(m.encoding in _GBK_FAMILY and m.chaos <= best.chaos + _GBK_TIE_MARGIN for m in matches)
    ):
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            text = ""
        if text and "\x00" not in text:
            return text
    return str(best)


def _read_text(data: bytes, *, markdown: bool) -> list[_Line]:
    text = _decode(data)
    if text.count("\n") > MAX_LINES:
        raise IngestError(_MSG_TOO_LONG)
    lines: list[_Line] = []
    in_fence = False
    for raw in text.splitlines():
        stripped = raw.strip()
        if not markdown:
            lines.append(_Line(raw))
        elif _MD_FENCE.match(stripped):
            in_fence = not in_fence
            lines.append(_Line(raw, plain=True))
        elif not in_fence and (heading := _markdown_heading(stripped)):
            lines.append(heading)
        else:
            lines.append(_Line(raw, plain=in_fence))
    return lines


def _markdown_heading(stripped: str) -> _Line | None:
    """``## 标题 ##`` → a level-2 heading "标题": the # prefix, then the text without a closing run of #."""
    prefix = _MD_HEADING_PREFIX.match(stripped)
    if prefix is None:
        return None
    text = stripped[prefix.end() :]
    unclosed = text.rstrip("#")
    if unclosed != text and unclosed[-1:] in (" ", "\t"):  # "标题#后缀" keeps its #; "# #" is the heading "#"
        text = unclosed.rstrip(" \t")
    return _Line(text, style_level=len(prefix.group(1)))


_WORD_HEADING_STYLE = re.compile(r"(?:heading|标题)\s*([1-9])", re.IGNORECASE)
_WORD_TITLE_STYLES = frozenset({"title", "标题"})


def _read_docx(data: bytes) -> list[_Line]:
    try:
        check_zip(data)
    except ZipTooLarge as exc:
        raise IngestError(_MSG_DOCX_TOO_LARGE) from exc
    except Exception as exc:  # not a zip at all
        raise IngestError(_MSG_BAD_DOCX) from exc
    # python-docx surfaces corrupt or non-Word files as several unrelated exception types.
    try:
        document = docx.Document(io.BytesIO(data))
        lines = list(itertools.islice(_docx_lines(document.iter_inner_content()), MAX_LINES + 1))
    except Exception as exc:
        raise IngestError(_MSG_BAD_DOCX) from exc
    if len(lines) > MAX_LINES:
        raise IngestError(_MSG_TOO_LONG)
    return lines


def _docx_lines(blocks: Iterator[Paragraph | Table]) -> Iterator[_Line]:
    for block in blocks:
        if isinstance(block, Table):
            yield from _table_lines(block)
            continue
        style = (block.style.name or "").strip() if block.style is not None else ""
        text = block.text
        if style.lower().startswith("toc"):
            continue  # table-of-contents entries would repeat every heading
        if m := _WORD_HEADING_STYLE.fullmatch(style):
            yield _Line(text.replace("\n", " "), style_level=int(m.group(1)))
        elif style.lower() in _WORD_TITLE_STYLES:
            yield _Line(text.replace("\n", " "), style_level=0)
        else:
            yield from (_Line(part) for part in text.split("\n"))


def _table_lines(table: Table) -> Iterator[_Line]:
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = cell.text.strip()
            # A merged cell is returned once per grid column it spans.
            if text and (not cells or cells[-1] != text):
                cells.append(text)
        if cells:
            yield _Line(" | ".join(cells), plain=True)


# Running page numbers such as "- 3 -", "— 12 —", "3", "第 3 页 共 10 页".
_PDF_PAGE_NUMBER = re.compile(r"[-—–－\s]*\d+[-—–－\s]*|第\s*\d+\s*页(?:\s*[，,/]?\s*共\s*\d+\s*页)?")


def _read_pdf(data: bytes) -> list[_Line]:
    # pypdf raises a wide variety of exception types on damaged files.
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(_MSG_ENCRYPTED_PDF)
        pages = [page.extract_text() or "" for page in reader.pages]
    except IngestError:
        raise
    except Exception as exc:
        raise IngestError(_MSG_BAD_PDF) from exc
    lines = [
        _Line(raw)
        for page in pages
        for raw in page.splitlines()
        if raw.strip() and not _PDF_PAGE_NUMBER.fullmatch(raw.strip())
    ]
    if not lines:
        raise IngestError(_MSG_SCANNED_PDF)
    return lines


# --- structure -----------------------------------------------------------------------------------------------

_NUM = "[〇零一二三四五六七八九十百千两兩]"
_DIGIT = "[0-9０-９]"
_PART, _CHAPTER, _SECTION, _ARTICLE = 20, 21, 22, 23
_CN_ITEM, _CN_PAREN_ITEM, _AR_ITEM, _AR_PAREN_ITEM = 24, 25, 26, 27
# Traditional forms too: text is kept as written, so a traditional-character document keeps 編/節/條.
_DI_LEVELS = {"编": _PART, "編": _PART, "章": _CHAPTER, "节": _SECTION, "節": _SECTION, "条": _ARTICLE, "條": _ARTICLE}
# "第三条规定……" or "第一章至第三章" at the start of a line are references in running text, not headings.
_NOT_A_REFERENCE = "(?!的|规定|規定|所|中|之|至|、|，|和|或|第)"
_MARKERS: tuple[tuple[int | None, re.Pattern[str]], ...] = (
    (None, re.compile(rf"第\s*(?:{_NUM}{{1,7}}|{_DIGIT}{{1,4}})\s*([编編章节節条條]){_NOT_A_REFERENCE}")),
    # 一、 but not "一、二季度".
    (_CN_ITEM, re.compile(rf"{_NUM}{{1,3}}\s*[、．.](?!\s*(?:{_NUM}|{_DIGIT}))")),
    (_CN_PAREN_ITEM, re.compile(rf"[（(]\s*{_NUM}{{1,3}}\s*[）)]")),
    # 1. / 1、 but not "1.5%", "1、2月" or a year.
    (_AR_ITEM, re.compile(rf"{_DIGIT}{{1,2}}\s*[.．、](?!\s*{_DIGIT})")),
    (_AR_PAREN_ITEM, re.compile(rf"[（(]\s*{_DIGIT}{{1,2}}\s*[）)]")),
)
_SENTENCE_PUNCT = "。！？；：，、…!?;:,"
_TITLE_MAX_CHARS = 40
_HEADING_TITLE_MAX_CHARS = 30
# A run-in head: "（一）总体要求。本方案……" → heading "（一）总体要求", text "本方案……".
_RUN_IN_LEAD = re.compile(r"([^。！？；：，、…!?;:,]{1,20})[。：:]\s*(\S.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Heading:
    level: int
    heading: str
    body: str


# Stands for the end of the document, which closes every heading.
_END = _Heading(-1, "", "")


def _classify(line: _Line) -> _Heading | None:
    text = line.text.strip()
    if line.plain or not text:
        return None
    if line.style_level is not None:
        return _Heading(line.style_level, text[:MAX_HEADING_CHARS], "")
    for level, pattern in _MARKERS:
        if m := pattern.match(text):
            return _split_heading(level if level is not None else _DI_LEVELS[m.group(1)], text, m.end())
    return None


def _split_heading(level: int, text: str, marker_end: int) -> _Heading:
    """A marker line is a heading on its own, a short title, or a marker (plus run-in lead) with body text.

    Articles (第X条) carry rules, not titles: a PDF line wrapped before its first punctuation mark would
    otherwise look like one.
    """
    rest = text[marker_end:].strip()
    if not rest or (level != _ARTICLE and _looks_like_title(rest, _HEADING_TITLE_MAX_CHARS)):
        return _Heading(level, text, "")
    rest_start = len(text) - len(rest)
    if level > _ARTICLE and (m := _RUN_IN_LEAD.fullmatch(rest)):
        return _Heading(level, text[: rest_start + m.end(1)], m.group(2).strip())
    return _Heading(level, text[:marker_end].strip(), rest)


def _looks_like_title(text: str, max_chars: int) -> bool:
    return len(text) <= max_chars and not any(ch in _SENTENCE_PUNCT for ch in text)


def _title_line_index(lines: Sequence[_Line]) -> int | None:
    """The document's title line: the first non-empty line when it reads like a title rather than a heading."""
    non_empty = [i for i, line in enumerate(lines) if line.text.strip()]
    # A lone line is the document's only content, not just its title.
    if len(non_empty) < 2 or lines[non_empty[0]].plain:
        return None
    index = non_empty[0]
    line = lines[index]
    if line.style_level == 0:
        return index
    if line.style_level == 1:
        others = sum(1 for other in lines if other.style_level == 1)
        return index if others == 1 else None
    if line.style_level is not None or _classify(line) is not None:
        return None
    return index if _looks_like_title(line.text.strip(), _TITLE_MAX_CHARS) else None


def _clean_title(title: str) -> str:
    if title.startswith("《") and title.endswith("》") and title.count("《") == 1:
        return title[1:-1].strip()
    return title


def _split_passages(lines: Sequence[_Line]) -> Iterator[ParsedPassage]:
    """Walk the lines keeping a stack of open headings; each run of body text becomes passages under it."""
    kept = [line for line in lines if line.text.strip()]
    kinds = [_classify(line) for line in kept]
    stack: list[tuple[int, str]] = []
    body: list[str] = []

    def flush() -> Iterator[ParsedPassage]:
        text = "\n".join(body).strip()
        body.clear()
        path = tuple(heading for _, heading in stack)
        for piece in _split_long(text):
            yield ParsedPassage(path, piece)

    def close_to(level: int) -> None:
        while stack and stack[-1][0] >= level:
            stack.pop()

    for i, (line, kind) in enumerate(zip(kept, kinds, strict=True)):
        # Items such as （一） inside an article are part of that article: the article is the unit of citation.
        if kind is None or (kind.level > _ARTICLE and stack and stack[-1][0] == _ARTICLE):
            body.append(line.text.strip())
            continue
        following = kinds[i + 1] if i + 1 < len(kinds) else _END
        # Nothing under it: a list item such as "1. 按时参加", kept as text of its parent section.
        is_item = not kind.body and following is not None and following.level <= kind.level
        if not is_item or (stack and stack[-1][0] >= kind.level):
            yield from flush()
            close_to(kind.level)
        if is_item:
            body.append(line.text.strip())
            continue
        stack.append((kind.level, kind.heading))
        if kind.body:
            body.append(kind.body)
    yield from flush()


_SENTENCE = re.compile(r".+?(?:[。！？!?；;][”’」』）)]*|$)", re.DOTALL)


def _split_long(text: str) -> list[str]:
    """Cut text longer than PASSAGE_CHARS at paragraph, else sentence, else hard boundaries."""
    if len(text) <= PASSAGE_CHARS:
        return [text] if text else []
    units: list[str] = []
    for paragraph in text.splitlines(keepends=True):
        if len(paragraph) <= PASSAGE_CHARS:
            units.append(paragraph)
            continue
        for sentence in _SENTENCE.findall(paragraph):
            units.extend(
                sentence[start : start + MAX_PASSAGE_CHARS] for start in range(0, len(sentence), MAX_PASSAGE_CHARS)
            )
    pieces: list[str] = []
    current = ""
    for unit in units:
        if current and len(current) + len(unit) > PASSAGE_CHARS:
            pieces.append(current)
            current = ""
        current += unit
    pieces.append(current)
    return [piece.strip() for piece in pieces if piece.strip()]
