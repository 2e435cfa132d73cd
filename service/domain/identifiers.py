"""Identifiers of the programme as value objects: FINESS, SIRET, GALIS reference.

They are strings (leading zeros matter: FINESS ``010…`` is the Ain), validate on
construction, and say in French which rule refused a value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum import luhn
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.fr import siret as stdnum_siret

from service.domain.errors import InvalidIdentifier

# Région code (INSEE) -> name, for the 18 ARS.
REGIONS: dict[str, str] = {
    "84": "Auvergne-Rhône-Alpes",
    "27": "Bourgogne-Franche-Comté",
    "53": "Bretagne",
    "24": "Centre-Val de Loire",
    "94": "Corse",
    "44": "Grand Est",
    "32": "Hauts-de-France",
    "11": "Île-de-France",
    "28": "Normandie",
    "75": "Nouvelle-Aquitaine",
    "76": "Occitanie",
    "52": "Pays de la Loire",
    "93": "Provence-Alpes-Côte d'Azur",
    "01": "Guadeloupe",
    "02": "Martinique",
    "03": "Guyane",
    "04": "La Réunion",
    "06": "Mayotte",
}

_METROPOLITAN: dict[str, tuple[str, ...]] = {
    "84": ("01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74"),
    "27": ("21", "25", "39", "58", "70", "71", "89", "90"),
    "53": ("22", "29", "35", "56"),
    "24": ("18", "28", "36", "37", "41", "45"),
    "94": ("2A", "2B"),
    "44": ("08", "10", "51", "52", "54", "55", "57", "67", "68", "88"),
    "32": ("02", "59", "60", "62", "80"),
    "11": ("75", "77", "78", "91", "92", "93", "94", "95"),
    "28": ("14", "27", "50", "61", "76"),
    "75": ("16", "17", "19", "23", "24", "33", "40", "47", "64", "79", "86", "87"),
    "76": ("09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"),
    "52": ("44", "49", "53", "72", "85"),
    "93": ("04", "05", "06", "13", "83", "84"),
}

#: Département (as written in a FINESS number) -> région code.
DEPARTMENT_REGION: dict[str, str] = {
    dept: region for region, depts in _METROPOLITAN.items() for dept in depts
}

#: Overseas FINESS numbers start with four characters.
OVERSEAS_PREFIX_REGION: dict[str, str | None] = {
    "9701": "01",  # Guadeloupe
    "9702": "02",  # Martinique
    "9703": "03",  # Guyane
    "9704": "04",  # La Réunion
    "9805": "06",  # Mayotte
    "9806": None,  # Wallis-et-Futuna: no ARS
}

#: The shape of a FINESS number (9 characters; the second is A or B in Corsica). The key and the
#: département are checked by ``Finess.parse``; ``FINESS_ALL_ZERO`` is refused though its key holds.
FINESS_PATTERN = r"[0-9][0-9AB][0-9]{7}"
FINESS_ALL_ZERO = "000000000"
_FINESS_SHAPE = re.compile(FINESS_PATTERN)


def _strip(value: object, label: str) -> str:
    if not isinstance(value, str):
        raise InvalidIdentifier(
            f"{label} doit être transmis comme une chaîne de caractères (les zéros initiaux comptent).",
            code="identifier_not_text",
        )
    return value.strip().upper()


@dataclass(frozen=True, slots=True)
class Finess:
    """A FINESS number (juridique or géographique: same format).

    9 characters; the first two are the département (``2A``/``2B`` for Corsica), four for
    overseas (``9701``…); the last is a Luhn key over all nine with 2A→21, 2B→22.
    """

    value: str

    @classmethod
    def parse(cls, raw: object) -> Finess:
        value = _strip(raw, "Le numéro FINESS")
        if len(value) != 9:
            raise InvalidIdentifier(
                f"Le numéro FINESS doit comporter 9 caractères (lu {len(value)} : « {value} »).",
                code="finess_length",
            )
        if value[0].isdigit() and value[2:].isdigit() and value[1].isalpha() and value[1].isascii():
            if not value.startswith(("2A", "2B")):
                raise InvalidIdentifier(
                    f"Le numéro FINESS « {value} » ne commence pas par un code de département "
                    f"connu (« {value[:2]} » ; seule la Corse utilise une lettre : 2A ou 2B).",
                    code="finess_department",
                )
        if not _FINESS_SHAPE.fullmatch(value):
            raise InvalidIdentifier(
                f"Le numéro FINESS « {value} » contient des caractères non autorisés "
                "(chiffres, et 2A ou 2B pour la Corse).",
                code="finess_characters",
            )
        if value == FINESS_ALL_ZERO:
            raise InvalidIdentifier("Le numéro FINESS ne peut pas être composé uniquement de zéros.",
                                    code="finess_all_zero")
        if _finess_region(value) is _UNKNOWN:
            raise InvalidIdentifier(
                f"Le numéro FINESS « {value} » ne commence pas par un code de département connu "
                f"(« {_department_label(value)} »).",
                code="finess_department",
            )
        digits = value.replace("2A", "21", 1) if value.startswith("2A") else value
        digits = digits.replace("2B", "22", 1) if digits.startswith("2B") else digits
        expected = luhn.calc_check_digit(digits[:-1])
        if expected != digits[-1]:
            raise InvalidIdentifier(
                f"Clé FINESS invalide pour « {value} » (attendu {expected}, lu {digits[-1]}).",
                code="finess_checksum",
            )
        return cls(value)

    @property
    def region_code(self) -> str:
        """The région of the ARS responsible for this establishment."""
        region = _finess_region(self.value)
        if region is None or region is _UNKNOWN:
            raise InvalidIdentifier(
                f"Le numéro FINESS « {self.value} » relève d'un territoire sans ARS dans le "
                "programme (Wallis-et-Futuna, Saint-Pierre-et-Miquelon).",
                code="finess_region_unmapped",
            )
        return str(region)

    def __str__(self) -> str:
        return self.value


_UNKNOWN = object()


def _department_label(value: str) -> str:
    return value[:4] if value[:2] in ("97", "98") else value[:2]


def _finess_region(value: str) -> object:
    if value[:2] in ("97", "98"):
        return OVERSEAS_PREFIX_REGION.get(value[:4], _UNKNOWN)
    return DEPARTMENT_REGION.get(value[:2], _UNKNOWN)


@dataclass(frozen=True, slots=True)
class Siret:
    """SIRET of the porteur: 14 digits, Luhn (and La Poste's digit-sum rule under SIREN 356000000)."""

    value: str

    @classmethod
    def parse(cls, raw: object) -> Siret:
        value = _strip(raw, "Le SIRET").replace(" ", "")
        if not value.isdigit() or not value.isascii():
            raise InvalidIdentifier(f"Le SIRET « {value} » ne doit contenir que des chiffres.",
                                    code="siret_characters")
        if len(value) != 14:
            raise InvalidIdentifier(f"Le SIRET doit comporter 14 chiffres (lu {len(value)}).",
                                    code="siret_length")
        if set(value) == {"0"}:
            raise InvalidIdentifier("Le SIRET ne peut pas être composé uniquement de zéros.",
                                    code="siret_all_zero")
        try:
            stdnum_siret.validate(value)
        except StdnumValidationError:
            raise InvalidIdentifier(
                f"Clé de contrôle du SIRET « {value} » invalide : vérifiez le numéro.",
                code="siret_checksum",
            ) from None
        return cls(value)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class GalisRef:
    """Reference of a funding request in GALIS: exactly 8 digits, no known check key."""

    value: str

    @classmethod
    def parse(cls, raw: object) -> GalisRef:
        value = _strip(raw, "La référence GALIS")
        if len(value) != 8 or not value.isdigit() or not value.isascii():
            raise InvalidIdentifier(
                f"La référence de la demande GALIS doit comporter exactement 8 chiffres (lu « {value} »).",
                code="galis_format",
            )
        return cls(value)

    def __str__(self) -> str:
        return self.value


def region_name(region_code: str) -> str:
    return REGIONS[region_code]
