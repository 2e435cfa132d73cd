"""Real files for proof tests, made here: good proofs and every kind of bad one."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pypdf
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas


def pdf(text: str = "Rapport d'usage du DUI — EHPAD Les Œillets — 95 DUI actifs", pages: int = 1) -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4)
    for n in range(pages):
        page.drawString(72, 760, text)
        page.drawString(72, 740, f"Page {n + 1} — signé : Marie Dupont, directrice")
        page.showPage()
    page.save()
    return buffer.getvalue()


def png(width: int = 320, height: int = 200) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (width, height), (240, 240, 250))
    for x in range(0, width, 7):  # some content, so that the file is not trivially compressible
        image.putpixel((x, (x * 13) % height), (x % 256, 20, 90))
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(width: int = 320, height: int = 200) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def encrypted_pdf() -> bytes:
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(pdf()))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def zip_archive(members: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in (members or {"rapport.pdf": pdf()}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def xlsx() -> bytes:
    """A minimal spreadsheet package, as Excel writes one (a ZIP of XML parts)."""
    return zip_archive({
        "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                               b'content-types"><Override PartName="/xl/workbook.xml" ContentType="application/'
                               b'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>',
        "xl/workbook.xml": b"<workbook/>",
        "xl/worksheets/sheet1.xml": b"<worksheet><sheetData/></worksheet>",
    })


def docx() -> bytes:
    return zip_archive({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<document/>"})


def legacy_xls() -> bytes:
    """The first bytes of an OLE2 compound file (xls, doc), padded."""
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)


def csv() -> bytes:
    return "finess;dui_actifs\n240000372;95\n".encode("utf-8-sig")


def gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("P", (10, 10)).save(buffer, format="GIF")
    return buffer.getvalue()


def polyglot_pdf_zip() -> bytes:
    """A PDF that is also a ZIP archive (the archive appended after the PDF trailer)."""
    return pdf() + zip_archive({"macro.txt": b"payload"})


def truncated_jpeg() -> bytes:
    data = jpeg(800, 600)
    return data[: len(data) // 2]


def truncated_pdf() -> bytes:
    data = pdf(pages=3)
    return data[: len(data) * 2 // 3]


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG declaring a huge image (a decompression bomb: 10 G pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    row = b"\x00" + bytes(width)
    compressor = zlib.compressobj(9)
    idat = compressor.compress(row * 64) + compressor.flush()  # a few rows only: the header is what counts
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def garbage_pdf() -> bytes:
    """Starts and ends like a PDF, with nothing readable in between."""
    return b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
