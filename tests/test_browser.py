"""The browser harness itself (tests/browser.py): it must see what a page
does wrong, or the page tests built on it prove nothing."""

import struct
import zlib

import pytest

from browser import decode_png, ink


def _png(width, height, pixel, filter_type=0):
    """A tiny RGB PNG, every pixel the same, written by hand."""
    raw = b"".join(bytes([filter_type]) + bytes(pixel) * width for _ in range(height))

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_decode_png_and_ink_by_hand():
    w, h, rows = decode_png(_png(3, 2, (255, 255, 255)))
    assert (w, h) == (3, 2) and rows[1][2] == (255, 255, 255)
    assert ink(_png(3, 2, (255, 255, 255))) == 0.0
    assert ink(_png(3, 2, (0, 0, 0))) == 1.0
    with pytest.raises(ValueError):
        decode_png(b"GIF89a")


def test_the_harness_sees_console_errors_and_requests(browser, tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><body><p>x</p>"
        "<img src='http://127.0.0.1:9/pixel.png'>"
        "<script>console.error('boom'); undefined_function();</script>"
        "</body></html>"
    )
    page = browser.load(bad)
    texts = " | ".join(m["text"] for m in page.console if m["level"] == "error")
    assert "boom" in texts and "undefined_function" in texts
    assert page.requests[0] == page.url
    assert "http://127.0.0.1:9/pixel.png" in page.requests
    assert "<p>x</p>" in page.dom


def test_a_blank_page_has_no_ink_and_a_drawn_one_has(browser, tmp_path):
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    page = browser.load(blank)
    assert page.console == [] and page.requests == [page.url]
    assert ink(page.png) == 0.0
    drawn = tmp_path / "drawn.html"
    drawn.write_text(
        "<!DOCTYPE html><html><body style='margin:0'>"
        "<div style='width:50px;height:50px;background:#000'></div></body></html>"
    )
    page = browser.load(drawn, width=200, height=100)
    assert ink(page.png, (0, 0, 50, 50)) == 1.0
    assert ink(page.png, (60, 60, 100, 30)) == 0.0
    assert page.evaluate("1 + 1") == 2
