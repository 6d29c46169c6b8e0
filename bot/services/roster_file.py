"""Reading a roster file (CSV or XLSX) into rows of text, within bounds; nothing here touches the database.

The first non-empty row is the header. Every step is bounded, because the file comes from a chat: the file size
(MAX_ROSTER_BYTES); an XLSX's inflated size and ratio (knowledge.zip_bounds, checked before openpyxl opens it);
the header's width (MAX_HEADER_COLUMNS) and, below it, only the header's own width; the sheet's rows
(MAX_SHEET_ROWS, blank ones included: a row further down refuses the file, it is never silently dropped).
openpyxl's read-only reader pads every row to the ``<dimension>`` a file claims, so a 5 KB file claiming
``A1:XFD1048576`` would otherwise ask for 16,384 cells in each of a million rows: ``iter_rows`` is always given
``max_col`` and ``max_row``. bot.services.untrusted_files runs ``roster_rows`` in a child process with a time and
memory limit as well; bot.services.roster checks the rows and stores them.
"""

from __future__ import annotations

import csv
import io
import itertools
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePath

import openpyxl
from charset_normalizer import from_bytes
from openpyxl.utils.exceptions import InvalidFileException

from knowledge.zip_bounds import MAX_UNCOMPRESSED_BYTES, ZipTooLarge, check_zip

SUPPORTED_SUFFIXES = (".csv", ".xlsx")
MAX_ROSTER_BYTES = 1_000_000
MAX_ROSTER_ROWS = 1000  # members in one file
MAX_SHEET_ROWS = 10_000  # rows of an XLSX sheet, blank ones included
MAX_HEADER_COLUMNS = 50
MAX_PROBLEMS_SHOWN = 20
COLUMN_NAME = "姓名"

# --- Messages (Simplified Chinese; a RosterError's text is shown to the 书记 or the operator) ----------------------
MSG_UNSUPPORTED = "只能导入 .csv 或 .xlsx 文件（Excel 旧格式 .xls 请先另存为 .xlsx）。"
MSG_TOO_BIG = "文件太大（超过 1 MB），请拆分后分批导入。"
MSG_TOO_MANY_ROWS = f"名册超过 {MAX_ROSTER_ROWS} 行，请拆分后分批导入。"
MSG_ENCODING = "无法识别文件的文字编码，请用 Excel 另存为「CSV UTF-8」或 .xlsx 后重试。"
MSG_BAD_CSV = "无法读取这个 CSV 文件，请用 Excel 另存为「CSV UTF-8」或 .xlsx 后重试。"
MSG_BAD_XLSX = "无法读取这个 Excel 文件，请确认它是 .xlsx 格式，并且没有加密。"
MSG_XLSX_TOO_LARGE = (
    f"这个 Excel 文件解压后超过 {MAX_UNCOMPRESSED_BYTES // (1024 * 1024)} MB，"
    "请只保留名册这一张表，或用 Excel 另存为「CSV UTF-8」后再导入。"
)
MSG_TOO_COMPLEX = "这个名册文件太复杂，没能在限定的时间和内存内读完。请用 Excel 另存为「CSV UTF-8」后再导入。"
MSG_SHEET_TOO_LONG = (
    f"表格超过 {MAX_SHEET_ROWS} 行（空行也算在内）。请删去名册下方多余的行，或用 Excel 另存为「CSV UTF-8」后再导入。"
)
MSG_NO_HEADER = f"没有找到表头「{COLUMN_NAME}」。第一行应是表头，例如：姓名,状态,职务,党小组"
MSG_LINE = "第 {line} 行：{message}"
MSG_MORE_PROBLEMS = "……另有 {count} 处问题未列出。"

Rows = list[tuple[int, list[str]]]  # (line number, the cells as stripped text) of each non-empty row


@dataclass(frozen=True, slots=True)
class RosterProblem:
    """One thing wrong with the file; ``line`` None when it concerns the whole file."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return self.message if self.line is None else MSG_LINE.format(line=self.line, message=self.message)


class RosterError(Exception):
    """The file was rejected and nothing was stored; ``str(exc)`` lists the problems, one per line."""

    def __init__(self, problems: Iterable[RosterProblem]) -> None:
        self.problems = sorted(problems, key=lambda problem: problem.line or 0)
        shown = [str(problem) for problem in self.problems[:MAX_PROBLEMS_SHOWN]]
        if len(self.problems) > MAX_PROBLEMS_SHOWN:
            shown.append(MSG_MORE_PROBLEMS.format(count=len(self.problems) - MAX_PROBLEMS_SHOWN))
        super().__init__("\n".join(shown))


def refuse(message: str) -> RosterError:
    """A RosterError about the whole file."""
    return RosterError([RosterProblem(None, message)])


def check_file(filename: str, size: int) -> None:
    """RosterError unless a file of this name and size could be a roster (checked before downloading it)."""
    if PurePath(filename).suffix.lower() not in SUPPORTED_SUFFIXES:
        raise refuse(MSG_UNSUPPORTED)
    if size > MAX_ROSTER_BYTES:
        raise refuse(MSG_TOO_BIG)


def roster_rows(filename: str, content: bytes) -> Rows:
    """The header and the rows below it, each cut to the header's width (RosterError if unreadable).

    Reading stops once more than MAX_ROSTER_ROWS rows below the header have text (the caller then refuses the file).
    """
    check_file(filename, len(content))
    if PurePath(filename).suffix.lower() == ".xlsx":
        return _xlsx_rows(content)
    return _csv_rows(content)


def _csv_rows(content: bytes) -> Rows:
    reader = csv.reader(io.StringIO(_decode(content), newline=""))
    try:
        return _within_header((reader.line_num, row) for row in reader)
    except csv.Error as error:
        raise refuse(MSG_BAD_CSV) from error


def _decode(content: bytes) -> str:
    """UTF-8 (with or without BOM) first; otherwise the first of charset-normalizer's guesses that reads a header.

    Its best guess alone is unreliable on a few GBK characters (a two-line roster may come out as Big5), but a
    wrong guess does not produce the header word 姓名.
    """
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    for guess in from_bytes(content):
        text = str(guess)
        if COLUMN_NAME in text:
            return text
    raise refuse(MSG_ENCODING)


def _xlsx_rows(content: bytes) -> Rows:
    try:
        check_zip(content)
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except ZipTooLarge as error:
        raise refuse(MSG_XLSX_TOO_LARGE) from error
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as error:
        raise refuse(MSG_BAD_XLSX) from error
    try:
        sheet = workbook.worksheets[0]
        # Never the sheet's own max_column/max_row: they come from the <dimension> the file claims.
        search = sheet.iter_rows(max_row=MAX_SHEET_ROWS, max_col=MAX_HEADER_COLUMNS, values_only=True)
        first = next(((line, row) for line, row in enumerate(search, start=1) if any(map(_text, row))), None)
        if first is None:
            return []
        header_line, header = first
        # One row past the limit: openpyxl yields it (filled in blank) when anything lies further down.
        rows = sheet.iter_rows(
            min_row=header_line,
            max_row=MAX_SHEET_ROWS + 1,
            max_col=max(_width(list(map(_text, header))), 1),
            values_only=True,
        )
        return _within_header(_numbered_sheet_rows(rows, header_line))
    except (ValueError, KeyError, TypeError, OSError, SyntaxError, zipfile.BadZipFile) as error:
        raise refuse(MSG_BAD_XLSX) from error  # a sheet that is not what its workbook says
    finally:
        workbook.close()


def _numbered_sheet_rows(rows: Iterable[Sequence[object]], first: int) -> Iterator[tuple[int, Sequence[object]]]:
    for line, row in enumerate(rows, start=first):
        if line > MAX_SHEET_ROWS:
            raise refuse(MSG_SHEET_TOO_LONG)
        yield line, row


def _within_header(rows: Iterable[tuple[int, Sequence[object]]]) -> Rows:
    """Non-empty rows as stripped text, the header first; cells past the header's last title dropped.

    Reading stops past MAX_ROSTER_ROWS non-empty rows below the header (the caller then refuses the file).
    """
    kept: Rows = []
    width = MAX_HEADER_COLUMNS
    for line, row in rows:
        cells = [_text(value) for value in itertools.islice(row, width)]
        if not any(cells):
            continue
        if not kept:
            width = _width(cells)
            cells = cells[:width]
        kept.append((line, cells))
        if len(kept) > MAX_ROSTER_ROWS + 1:
            break
    return kept


def _width(header: list[str]) -> int:
    """Columns up to the header's last titled cell (at most MAX_HEADER_COLUMNS)."""
    titled = [index for index, title in enumerate(header[:MAX_HEADER_COLUMNS]) if title]
    return titled[-1] + 1 if titled else 0


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():  # Excel stores 1 as 1.0
        return str(int(value))
    return str(value).strip()
