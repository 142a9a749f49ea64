"""What a file really is, from its first bytes rather than the name or type it came with.

Used on files from outside (e-mail attachments): a `.pdf` that starts with `MZ` is a Windows
program. `sniff_type` knows the formats a sales inbox sees and the executable ones; anything
else is text (valid UTF-8 without zero bytes) or `application/octet-stream`.
"""

from __future__ import annotations

from pathlib import PurePosixPath

OCTET_STREAM = "application/octet-stream"

_MAGIC: list[tuple[bytes, str]] = [
    (b"%PDF", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", "application/zip"),  # also .docx, .xlsx, .odt
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),  # .doc, .xls
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"\x1f\x8b", "application/gzip"),
    (b"MZ", "application/x-msdownload"),
    (b"\x7fELF", "application/x-executable"),
    (b"\xcf\xfa\xed\xfe", "application/x-mach-binary"),
    (b"\xce\xfa\xed\xfe", "application/x-mach-binary"),
    (b"\xca\xfe\xba\xbe", "application/x-mach-binary"),  # also Java classes
    (b"#!", "text/x-shellscript"),
]
_MARKUP: list[tuple[bytes, str]] = [
    (b"<!doctype html", "text/html"),
    (b"<html", "text/html"),
    (b"<script", "text/html"),
    (b"<svg", "image/svg+xml"),
    (b"<?xml", "application/xml"),
]

EXECUTABLE_TYPES = frozenset(
    {
        "application/x-msdownload",
        "application/x-executable",
        "application/x-mach-binary",
        "text/x-shellscript",
    }
)
# Names Windows, macOS or a desktop would run when opened, whatever their content.
EXECUTABLE_SUFFIXES = frozenset(
    {
        ".exe", ".com", ".scr", ".pif", ".bat", ".cmd", ".msi", ".msp", ".dll", ".cpl", ".ps1",
        ".vbs", ".vbe", ".js", ".jse", ".wsf", ".wsh", ".hta", ".jar", ".lnk", ".reg", ".sh",
        ".app", ".command", ".desktop", ".appimage", ".iso", ".img",
    }
)  # fmt: skip


def sniff_type(content: bytes) -> str:
    """The media type `content` starts like."""
    for magic, media_type in _MAGIC:
        if content.startswith(magic):
            return media_type
    head = content[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    for magic, media_type in _MARKUP:
        if head.startswith(magic):
            return media_type
    if b"\x00" in content[:8192]:
        return OCTET_STREAM
    try:
        content[:8192].decode("utf-8")
    except UnicodeDecodeError as exc:
        # A cut through a multi-byte character at the end is still text.
        if exc.start < len(content[:8192]) - 3:
            return OCTET_STREAM
    return "text/plain"


def is_executable(content: bytes, name: str) -> bool:
    """Would opening this file run a program: an executable's bytes, or a runnable name?"""
    suffix = PurePosixPath(name.replace("\\", "/").lower().rstrip(". ")).suffix
    return sniff_type(content) in EXECUTABLE_TYPES or suffix in EXECUTABLE_SUFFIXES
