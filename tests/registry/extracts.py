"""FINESS extracts as data.gouv.fr publishes them (the etalab stock CSV), built for the tests."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from tests import factories


@dataclass
class Et:
    finess: str
    name: str
    department: str
    category: str = "500"
    category_label: str = "Etablissement d'hébergement pour personnes âgées dépendantes"
    long_name: str = ""
    siret: str = ""


def record(et: Et) -> list[str]:
    fields = ["structureet", et.finess, factories.finess(et.department if len(et.department) == 2
                                                         and not et.department.startswith("9") else "33"),
              et.name, et.long_name or et.name.upper(), "", "", "12", "RUE", "DES LILAS", "", "", "001", et.department,
              "Département", "33000 BORDEAUX", "0556000000", "", et.category, et.category_label, "4401",
              "Etablissements et Services pour Personnes Agées", et.siret, "8710A", "45", "ARS/PCD mixte", "99",
              "Non concerné", "2001-05-01", "2001-04-01", "2023-06-10", ""]
    assert len(fields) == 32
    return fields


def extract(ets: list[Et], *, day: str = "2026-11-30", version: int = 95, encoding: str = "cp1252",
            bom: bool = False, extra_lines: list[str] | None = None) -> bytes:
    out = io.StringIO()
    out.write(f"finess;etalab;{version};{day}\n")
    writer = csv.writer(out, delimiter=";", quotechar='"', lineterminator="", quoting=csv.QUOTE_MINIMAL)
    for et in ets:
        writer.writerow(record(et))
        out.write(";\n")  # every record ends with a ';'
        out.write(f"geolocalisation;{et.finess};417242.3;6420848.2;1,ATLASANTE,100,IGN,BD_ADRESSE,V2.2,LAMBERT_93;"
                  "2023-06-11;\n")
    for line in extra_lines or []:
        out.write(line + "\n")
    data = out.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data
