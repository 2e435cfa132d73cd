"""Open a staged proof with a real parser: the bytes must not only look like a PDF, PNG or
JPEG, they must be one that an auditor can open and read.

pypdf reads PDFs (page tree, encryption); Pillow decodes images (dimensions before any
decoding, so a decompression bomb is refused from its header; then every pixel, so a
truncated file is caught).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pypdf
from PIL import Image

from service.domain.proofs import ProofKind, ProofRefused

#: A PDF's trailer ends the file; a file cut short (interrupted download or scan) lacks it.
_PDF_EOF_WINDOW = 2048

# pypdf reports recoverable oddities through logging; the service judges them itself.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def _corrupt(kind: ProofKind, detail: str) -> ProofRefused:
    return ProofRefused("proof_corrupt", f"Le fichier {kind.name} est illisible ou incomplet ({detail}) : "
                                         "déposez à nouveau le document d'origine.", status=422)


def inspect(path: Path, kind: ProofKind, *, max_pixels: int) -> None:
    """Raise ``ProofRefused`` unless ``path`` opens cleanly as ``kind``."""
    if kind is ProofKind.PDF:
        _inspect_pdf(path)
    else:
        _inspect_image(path, kind, max_pixels=max_pixels)


def _inspect_pdf(path: Path) -> None:
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - _PDF_EOF_WINDOW))
        if b"%%EOF" not in handle.read():
            raise _corrupt(ProofKind.PDF, "fin de fichier absente, le fichier semble tronqué")
    try:
        reader = pypdf.PdfReader(path)
        if reader.is_encrypted:
            raise ProofRefused(
                "proof_encrypted",
                "Le PDF est chiffré ou protégé par mot de passe : un contrôleur ne pourrait pas le lire. "
                "Déposez une version sans protection.", status=422)
        pages = len(reader.pages)
        for page in reader.pages:
            page.mediabox  # noqa: B018 - reading each page's box walks the whole page tree
    except ProofRefused:
        raise
    except Exception as exc:  # pypdf raises many kinds of errors on broken files
        raise _corrupt(ProofKind.PDF, type(exc).__name__) from None
    if pages == 0:
        raise _corrupt(ProofKind.PDF, "aucune page")


def _inspect_image(path: Path, kind: ProofKind, *, max_pixels: int) -> None:
    too_large = ProofRefused(
        "proof_image_too_large",
        f"L'image dépasse la taille admise ({max_pixels:,} pixels) : une capture d'écran ordinaire "
        "est bien plus petite ; réduisez-la ou déposez un PDF.".replace(",", " "), status=422)
    try:
        with Image.open(path) as image:
            if image.format != kind.name:
                raise _corrupt(kind, f"contenu {image.format}")
            width, height = image.size
            if width * height > max_pixels:
                raise too_large
            if kind is ProofKind.JPEG:
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))  # decode every block, at 1/8 size
            image.load()
    except ProofRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_large from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError… on broken files
        raise _corrupt(kind, str(exc) or type(exc).__name__) from None
