import sqlalchemy as sa
import pytest
from tests import factories

@pytest.mark.parametrize("n", [1])
def test_count(api, n):
    req = api.create_request()
    ref = req["galis_ref"]
    vendor = api.key("vendor", galis_refs=[ref]) if False else api.admin
    body = {"milestone": "va", "rows": [factories.row(finess=req["establishments"][0]["finess"])]}
    assert api.push(ref, body).status_code == 201
    assert api.push(ref, body).status_code == 201
    stmts = []
    for eng in {id(e): e for e in [api.database.engine, getattr(api.database, "write_engine", api.database.engine)]}.values():
        sa.event.listen(eng, "before_cursor_execute", lambda c, cur, s, p, ctx, many: stmts.append(s))
    assert api.push(ref, body).status_code == 201
    print("\nSTATEMENTS", len(stmts))
    for s in stmts: print("  ", " ".join(s.split())[:150])
