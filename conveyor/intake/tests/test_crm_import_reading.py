"""Opening CRM exports: encodings, delimiters, the size limit and clear refusals."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from pytest_django import Settings

from conveyor.intake.crm_import.reading import (
    ImportFileError,
    looks_like_cyrillic,
    read_table,
    read_table_file,
)

RUSSIAN = "ID;Название сделки;Бюджет\r\n1;Поставка оборудования;150 000\r\n2;Сервис;75 500,50\r\n"


def test_utf8_file_is_read() -> None:
    table = read_table(b"a,b\n1,2\n", name="x.csv")
    assert (table.encoding, table.delimiter, table.header) == ("utf-8", ",", ["a", "b"])
    assert list(table.rows()) == [(2, ["1", "2"])]


def test_utf8_with_bom_is_detected_and_the_bom_is_not_in_the_header() -> None:
    table = read_table(codecs.BOM_UTF8 + "Deal Name,Amount\nÄpfel,1\n".encode(), name="x.csv")
    assert table.encoding == "utf-8-sig"
    assert table.encoding_label == "UTF-8 with BOM"
    assert table.header == ["Deal Name", "Amount"]
    assert list(table.rows()) == [(2, ["Äpfel", "1"])]


def test_windows_1251_file_is_detected() -> None:
    table = read_table(RUSSIAN.encode("cp1251"), name="amo.csv")
    assert table.encoding == "windows-1251"
    assert table.delimiter == ";"
    assert table.header == ["ID", "Название сделки", "Бюджет"]
    assert [cells for _line, cells in table.rows()][1] == ["2", "Сервис", "75 500,50"]


def test_semicolon_delimiter_is_detected_even_with_commas_in_values() -> None:
    table = read_table(b"a;b;c\n1,5;x,y;z\n", name="x.csv")
    assert table.delimiter == ";"
    assert list(table.rows()) == [(2, ["1,5", "x,y", "z"])]


def test_quoted_multiline_cells_keep_the_line_the_record_starts_on() -> None:
    table = read_table(b'a,b\n1,"two\nlines"\n3,4\n', name="x.csv")
    assert list(table.rows()) == [(2, ["1", "two\nlines"]), (4, ["3", "4"])]


def test_short_rows_are_padded_and_blank_lines_skipped() -> None:
    table = read_table(b"a,b,c\n1\n\n2,3,4\n", name="x.csv")
    assert list(table.rows()) == [(2, ["1", "", ""]), (4, ["2", "3", "4"])]


def test_broken_encoding_clear_error() -> None:
    # Latin-1 German: not UTF-8, and as Windows-1251 it reads "Mьller" - not Cyrillic words.
    data = "Name,City\nAnna,Berlin\nJürgen Müller,München\n".encode("latin-1")
    with pytest.raises(ImportFileError) as error:
        read_table(data, name="x.csv")
    message = error.value.message
    assert "Cannot read this file's encoding" in message
    assert "line 3, byte 2 (0xFC)" in message
    assert "CSV UTF-8" in message


def test_koi8_russian_is_not_mistaken_for_windows_1251() -> None:
    with pytest.raises(ImportFileError, match="encoding"):
        read_table(RUSSIAN.encode("koi8_r"), name="x.csv")


def test_invalid_utf8_after_a_bom_names_the_position() -> None:
    data = codecs.BOM_UTF8 + b"a,b\n1,\xff\n"
    with pytest.raises(ImportFileError, match=r"line 2, byte 3 \(0xFF\)"):
        read_table(data, name="x.csv")


def test_cyrillic_words_check() -> None:
    assert looks_like_cyrillic("Сергей Волков, ООО «Строймаш» — №5")  # noqa: RUF001
    assert not looks_like_cyrillic("Mьller, Kцln")  # Latin-1 read as Windows-1251
    assert not looks_like_cyrillic("пРИВЕТ, мИР")  # KOI8-R read as Windows-1251


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04rest of a zip", "Excel workbook"),
        (codecs.BOM_UTF16_LE + "a,b".encode("utf-16-le"), "UTF-16"),
        (b"a,b\n1,\x002\n", "line 2 has a zero byte"),
        (b"", "empty"),
        (b"just one column\nvalue\n", "one column"),
    ],
)
def test_files_that_are_not_csv_are_refused_with_the_reason(data: bytes, message: str) -> None:
    with pytest.raises(ImportFileError, match=message):
        read_table(data, name="x.csv")


def test_oversize_file_refused(tmp_path: Path, settings: Settings) -> None:
    settings.CONVEYOR_IMPORT_MAX_BYTES = 1024 * 1024
    path = tmp_path / "big.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 300_000)
    with pytest.raises(ImportFileError) as error:
        read_table_file(path)
    assert error.value.message.startswith("The file is 1.1 MB; imports are limited to 1.0 MB")
    assert "CONVEYOR_IMPORT_MAX_BYTES" in error.value.message


def test_file_at_the_limit_is_read(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "edge.csv"
    path.write_bytes(b"a,b\n1,2\n")
    settings.CONVEYOR_IMPORT_MAX_BYTES = path.stat().st_size
    assert read_table_file(path).header == ["a", "b"]
