"""API models of reports: what clients send and receive."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class SignatureStatus(BaseModel):
    """Each flag answers one question; only ``ReportVerification.valid`` says the document can be trusted."""

    present: bool = Field(description="Le fichier porte une signature du service (champ « SignatureService »).")
    intact: bool = Field(description="Aucun octet couvert par la signature n'a changé depuis la signature.")
    valid: bool = Field(description="La signature est mathématiquement correcte pour le document tel qu'il est : "
                                    "faux dès qu'un octet signé a changé (elle n'est alors plus intacte).")
    trusted: bool = Field(description="La signature a été faite avec le certificat du service (actuel ou retiré) ; "
                                      "ne dit rien de l'intégrité du document.")
    covers_whole_file: bool = Field(description="Rien n'a été ajouté au document après la signature.")
    signer: str | None = Field(description="Le titulaire du certificat signataire, tel qu'il s'y nomme.")
    signed_at: datetime | None = Field(description="L'heure de signature déclarée par le signataire.")


class ReportVerification(BaseModel):
    valid: bool = Field(description="Vrai seulement quand la signature est présente, intacte, valide, du service, "
                                    "et couvre tout le fichier : le document est celui que le service a émis.")
    message: str
    signature: SignatureStatus
    certifies: dict[str, Any] | None = Field(
        description="La version certifiée : submission_id, data_digest et, si l'appelant la voit, galis_ref, "
                    "milestone, version, latest_version, is_latest, same_data_as_today.")
