"""Rules of the ARS decision on a version."""

from __future__ import annotations

import pytest

from service.domain.errors import Conflict, ValidationFailed
from service.domain.lifecycle import Milestone
from service.domain.review import Decision, check_review, parse_comment


def test_only_the_latest_version_once_and_fin_de_projet_with_every_proof() -> None:
    ok = {"version": 3, "latest_version": 3, "already": None, "milestone": Milestone.VA, "proofs_missing": []}
    check_review(Decision.ACCEPTED, **ok)  # type: ignore[arg-type]
    with pytest.raises(Conflict) as superseded:
        check_review(Decision.ACCEPTED, **{**ok, "version": 2})  # type: ignore[arg-type]
    assert superseded.value.code == "submission_superseded" and "version 3" in superseded.value.message
    with pytest.raises(Conflict) as twice:
        check_review(Decision.REJECTED, **{**ok, "already": Decision.CHANGES_REQUESTED})  # type: ignore[arg-type]
    assert twice.value.code == "submission_already_reviewed"
    fin = {**ok, "milestone": Milestone.FIN_PROJET, "proofs_missing": ["240000372"]}
    with pytest.raises(Conflict) as unproven:
        check_review(Decision.ACCEPTED, **fin)  # type: ignore[arg-type]
    assert unproven.value.code == "proofs_missing" and "240000372" in unproven.value.message
    check_review(Decision.CHANGES_REQUESTED, **fin)  # type: ignore[arg-type]


def test_comment_rules() -> None:
    assert parse_comment("  à   revoir\n ", required=True, what="x") == "à revoir"
    assert parse_comment(None, required=False, what="x") is None
    with pytest.raises(ValidationFailed) as missing:
        parse_comment(" ", required=True, what="un rejet")
    assert missing.value.issues[0].code == "comment_required" and "un rejet" in missing.value.issues[0].message
    with pytest.raises(ValidationFailed):
        parse_comment("x" * 2001, required=False, what="x")
