"""API models of target sets: what clients send and receive."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from service.domain.declaration import SAYS_SOMETHING, readable


class TargetSetOut(BaseModel):
    id: str
    label: str
    binding: bool = Field(description="Faux quand le solde n'est pas conditionné aux cibles (amorçage 2021).")
    values: dict[str, float]


def _readable_label(value: str) -> str:
    if not value.strip() or not readable(value):
        raise ValueError("text_unreadable: libellé vide ou avec des caractères de contrôle")
    return value


class TargetValues(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active_files: StrictFloat = Field(ge=0, le=100, description="DUI actifs / personnes accompagnées (%).")
    personal_plan: StrictFloat = Field(ge=0, le=100, description="Projets personnalisés / DUI actifs (%).")
    agenda: StrictFloat = Field(ge=0, le=100, description="Agendas renseignés / DUI actifs (%).")
    mssante: StrictFloat = Field(ge=0, le=100, description="Messagerie sécurisée (%).")
    dmp: StrictFloat = Field(ge=0, le=100, description="Alimentation du DMP (%).")


class TargetSetIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "campagne-2025-ehpad", "label": "Campagne 2025, EHPAD", "campaign_year": 2025, "category": "500",
        "values": {"active_files": 90, "personal_plan": 90, "agenda": 90, "mssante": 70, "dmp": 70},
        "binding": True}]})

    id: StrictStr = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$", description="Identifiant (minuscules, chiffres, -).")
    label: Annotated[StrictStr, AfterValidator(_readable_label)] = Field(
        min_length=1, max_length=300, description="Texte qui fixe ces cibles.",
        json_schema_extra={"pattern": SAYS_SOMETHING})
    campaign_year: StrictInt | None = Field(default=None, ge=2021, le=2100,
                                            description="Campagne ; null pour toutes les campagnes.")
    category: StrictStr | None = Field(default=None, pattern=r"^[0-9]{3}$",
                                       description="Catégorie FINESS ; null pour toutes les catégories.")
    values: TargetValues
    binding: StrictBool = Field(description="Le solde dépend-il de l'atteinte des cibles ?")


class TargetSetView(BaseModel):
    id: str
    label: str
    campaign_year: int | None
    category: str | None
    values: TargetValues
    binding: bool
    used: bool = Field(description="Au moins une version a été évaluée avec ce jeu : il ne peut plus changer.")


class TargetSetList(BaseModel):
    items: list[TargetSetView]
