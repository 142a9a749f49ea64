"""Formula-injection-safe CSV writing (conveyor.core.csvsafe)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from conveyor.core import csvsafe


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1-2", "'+1-2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("-3.5", "'-3.5"),  # text that looks like a number is still text: neutralised
        ("Left a request", "Left a request"),
        ("a=b", "a=b"),  # only the first character matters
        ("Оставил заявку", "Оставил заявку"),
        ("", ""),
        (None, ""),
        (-3.5, -3.5),  # numbers stay numbers
        (-7, -7),
        (Decimal("-12.50"), Decimal("-12.50")),
        (0.8, 0.8),
        (True, True),
    ],
)
def test_safe_cell(value: object, cell: object) -> None:
    assert csvsafe.safe_cell(value) == cell


def test_writer_round_trip() -> None:
    buffer = io.StringIO()
    writer = csvsafe.writer(buffer)
    writer.writerow(["stage", "amount", "note"])
    writer.writerows([["=cmd|' /C calc'!A0", -3.5, None], ["Offer, sent", Decimal("-1.25"), "ok"]])
    assert buffer.getvalue() == (
        "stage,amount,note\r\n'=cmd|' /C calc'!A0,-3.5,\r\n\"Offer, sent\",-1.25,ok\r\n"
    )
    assert list(csv.reader(io.StringIO(buffer.getvalue()))) == [
        ["stage", "amount", "note"],
        ["'=cmd|' /C calc'!A0", "-3.5", ""],
        ["Offer, sent", "-1.25", "ok"],
    ]


def test_writer_passes_csv_options() -> None:
    buffer = io.StringIO()
    csvsafe.writer(buffer, delimiter=";", lineterminator="\n").writerow(["-x", 1])
    assert buffer.getvalue() == "'-x;1\n"
