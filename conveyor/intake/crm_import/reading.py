"""Opening a CRM export: size limit, encoding, delimiter, header and rows with line numbers.

Encodings: UTF-8 with a BOM (Excel's "CSV UTF-8"), UTF-8, and Windows-1251 (amoCRM and Excel
on Russian Windows). A file that is not valid UTF-8 is read as Windows-1251 only when the
result looks like Cyrillic words; anything else is refused with the line and byte where UTF-8
reading failed, rather than imported as mojibake. Delimiters: `,` or `;`, whichever splits the
header into more columns.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from conveyor.core.errors import ServiceError
from conveyor.core.uploads import size_text

__all__ = ["ImportFileError", "Table", "check_size", "read_table", "read_table_file"]

UTF8_SIG = "utf-8-sig"
UTF8 = "utf-8"
CP1251 = "windows-1251"
ENCODING_NAMES = {UTF8_SIG: "UTF-8 with BOM", UTF8: "UTF-8", CP1251: "Windows-1251"}


class ImportFileError(ServiceError):
    """The file as a whole cannot be imported (too big, unreadable, not a CSV table)."""


@dataclass(frozen=True)
class Table:
    """A decoded CSV export. `rows()` yields (line where the record starts, cells)."""

    name: str
    size: int
    encoding: str
    delimiter: str
    header: list[str]
    text: str

    @property
    def encoding_label(self) -> str:
        return ENCODING_NAMES.get(self.encoding, self.encoding)

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Data records after the header; blank lines are skipped.

        A record shorter than the header is padded with empty cells (spreadsheets drop trailing
        empty cells); a longer one keeps its extra cells so the planner can refuse it.
        """
        reader = csv.reader(io.StringIO(self.text, newline=""), delimiter=self.delimiter)
        width = len(self.header)
        last_line = 0
        header_seen = False
        try:
            for cells in reader:
                line = last_line + 1
                last_line = reader.line_num
                if not header_seen:
                    header_seen = True
                    continue
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue
                if len(cells) < width:
                    cells.extend([""] * (width - len(cells)))
                yield line, cells
        except csv.Error as exc:
            raise ImportFileError(
                _("Line %(line)s cannot be read as CSV: %(error)s")
                % {"line": last_line + 1, "error": exc}
            ) from exc


def check_size(size: int) -> None:
    """Refuse a file over CONVEYOR_IMPORT_MAX_BYTES before reading it."""
    limit = int(settings.CONVEYOR_IMPORT_MAX_BYTES)
    if size > limit:
        raise ImportFileError(
            _(
                "The file is %(size)s; imports are limited to %(limit)s "
                "(CONVEYOR_IMPORT_MAX_BYTES). Export a shorter period, or several files, "
                "and import them one by one."
            )
            % {"size": size_text(size), "limit": size_text(limit)},
            field="file",
        )


def read_table_file(path: Path, *, name: str | None = None) -> Table:
    """`read_table` of a file on disk; its size is checked before it is read."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImportFileError(
            _("Cannot open %(name)s: %(error)s")
            % {"name": name or path.name, "error": exc.strerror},
            field="file",
        ) from exc
    check_size(size)
    return read_table(path.read_bytes(), name=name or path.name)


def read_table(data: bytes, *, name: str) -> Table:
    check_size(len(data))
    encoding, text = _decode(data)
    if not text.strip():
        raise ImportFileError(_("The file is empty."), field="file")
    delimiter = _delimiter(text)
    try:
        header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except (StopIteration, csv.Error) as exc:
        raise ImportFileError(
            _("The first line of the file is not a CSV header."), field="file"
        ) from exc
    header = [cell.strip() for cell in header]
    if len(header) < 2:
        raise ImportFileError(
            _(
                "The header has one column only: this is not a CSV export with “,” or “;” "
                "between its columns."
            ),
            field="file",
        )
    return Table(
        name=name, size=len(data), encoding=encoding, delimiter=delimiter, header=header, text=text
    )


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """(line, byte within that line), both from 1."""
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    return line, offset - start + 1


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"PK\x03\x04"):
        raise ImportFileError(
            _("This is an Excel workbook or another archive, not CSV: save or export it as CSV."),
            field="file",
        )
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError(
            _("The file is in UTF-16 (Excel's “Unicode text”): save it as “CSV UTF-8”."),
            field="file",
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        line, byte = _position(data, nul)
        raise ImportFileError(
            _(
                "This is not a text file: line %(line)s has a zero byte at position %(byte)s. "
                "Export the data as CSV."
            )
            % {"line": line, "byte": byte},
            field="file",
        )
    bom = data.startswith(codecs.BOM_UTF8)
    try:
        text = data[3:].decode(UTF8) if bom else data.decode(UTF8)
    except UnicodeDecodeError as exc:
        error = exc
        offset = exc.start + (3 if bom else 0)
    else:
        return (UTF8_SIG if bom else UTF8), text
    if not bom:
        try:
            text = data.decode("cp1251")
        except UnicodeDecodeError:
            pass
        else:
            if looks_like_cyrillic(text):
                return CP1251, text
    line, byte = _position(data, offset)
    raise ImportFileError(
        _(
            "Cannot read this file's encoding: on line %(line)s, byte %(byte)s (0x%(value)s) is "
            "not UTF-8, and the file does not read as Windows-1251 text either. Save it as "
            "“CSV UTF-8” and import it again."
        )
        % {"line": line, "byte": byte, "value": f"{data[offset]:02X}"},
        field="file",
    ) from error


SNIFF_CHARS = 256 * 1024
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_LETTERS = re.compile(r"[^\W\d_]+")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[A-Za-z]")
# Characters other than Cyrillic letters that Russian text in Windows-1251 commonly holds.
_CP1251_PUNCTUATION = frozenset("«»—–№’‘“”„…•\xa0€™°±§")  # noqa: RUF001


def looks_like_cyrillic(text: str) -> bool:
    """Does text decoded as Windows-1251 read as Cyrillic words rather than mojibake?

    Another 8-bit encoding decoded as Windows-1251 also gives Cyrillic letters, but in
    impossible places: inside Latin words ("Mьller" from Latin-1 "Müller") or with the case
    flipped inside words ("пРИВЕТ" from KOI8-R). Such words, or non-ASCII characters that are
    neither Cyrillic letters nor usual punctuation, mean the guess is wrong. The first
    `SNIFF_CHARS` characters are evidence enough.
    """
    text = text[:SNIFF_CHARS]
    foreign = _NON_ASCII.findall(text)
    if not foreign:
        return True
    odd_chars = sum(1 for c in foreign if not _CYRILLIC.match(c) and c not in _CP1251_PUNCTUATION)
    if odd_chars > len(foreign) * 0.05:
        return False
    words = odd_words = 0
    for word in _LETTERS.findall(text):
        if not _CYRILLIC.search(word):
            continue
        words += 1
        if _LATIN.search(word) or any(
            a.islower() and b.isupper() for a, b in itertools.pairwise(word)
        ):
            odd_words += 1
    return words > 0 and odd_words <= words * 0.1


def _delimiter(text: str) -> str:
    """`,` or `;`: whichever splits the header line into more cells (`,` on a tie)."""
    first = text[: text.find("\n")] if "\n" in text else text
    best, cells = ",", 0
    for candidate in (",", ";"):
        try:
            width = len(next(csv.reader([first], delimiter=candidate)))
        except (StopIteration, csv.Error):
            continue
        if width > cells:
            best, cells = candidate, width
    return best
