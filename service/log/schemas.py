"""API models of log: what clients send and receive."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LogKeyOut(BaseModel):
    origin: str = Field(description="Origine du journal : première ligne de ses points de contrôle.")
    key_name: str
    key_id: str = Field(description="Identifiant de la clé (4 octets, hexadécimal).")
    public_key: str = Field(description="Clé publique Ed25519 (32 octets, base64).")
    vkey: str = Field(description="Clé de vérification C2SP : `<nom>+<identifiant>+<base64(0x01 ‖ clé)>`.")


class InclusionProofOut(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str = Field(description="SHA-256(0x00 ‖ feuille), hexadécimal.")
    root_hash: str = Field(description="Racine de l'arbre de `tree_size` feuilles, hexadécimal.")
    hashes: list[str] = Field(description="Le chemin d'audit, du nœud voisin de la feuille à celui de la racine.")


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    first_root: str
    second_root: str
    hashes: list[str]
