"""The `hazard` command line as an operator uses it: organisations, users and tokens."""

from __future__ import annotations

from fastapi.testclient import TestClient

from services.kernel.settings import Settings


def test_operator_sets_up_a_county_and_the_token_works(run, db_url, tmp_path):
    assert run("db", "upgrade")[0] == 0
    assert run("regions", "add", "--code", "140000", "--name", "山西省")[0] == 0
    assert run("regions", "add", "--code", "141100", "--name", "吕梁市", "--parent", "140000")[0] == 0
    assert run("regions", "add", "--code", "141102", "--name", "离石区", "--parent", "141100")[0] == 0
    code, _, err = run("regions", "add", "--code", "141199", "--name", "无上级", "--parent", "149900")
    assert code == 2 and "上级行政区划" in err

    code, _, err = run("enterprises", "add", "--uscc", "91141102MA0GRD4X34", "--name", "某煤矿",
                       "--region", "141102", "--industry", "煤矿")
    assert code == 2 and "校验位" in err
    assert run("enterprises", "add", "--uscc", "91141102MA0GRD4X33", "--name", "某煤矿",
               "--region", "141102", "--industry", "煤矿")[0] == 0

    code, out, _ = run("users", "add", "--username", "li", "--role", "inspector", "--region", "141102",
                       "--password", "a-long-password")
    assert code == 0
    token = out.strip().splitlines()[-1]
    assert token.startswith("hz_") and " " not in token

    code, _, err = run("users", "add", "--username", "ent", "--role", "enterprise", "--region", "141102")
    assert code == 2 and "所属企业" in err

    from app.api.app import create_app

    app = create_app(Settings(database_url=db_url, data_dir=tmp_path, token_cache_seconds=0))
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/v1/hazards", headers=headers).status_code == 200
        assert run("tokens", "revoke", "--username", "li")[0] == 0
        denied = client.get("/api/v1/hazards", headers=headers)
        assert denied.status_code == 401
        assert denied.json()["error"]["code"] == "unauthorized"
        code, out, _ = run("tokens", "issue", "--username", "li")
        fresh = out.strip().splitlines()[-1]
        assert client.get("/api/v1/hazards", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
        assert run("users", "disable", "--username", "li")[0] == 0
        assert client.get("/api/v1/hazards", headers={"Authorization": f"Bearer {fresh}"}).status_code == 401
    app.state.engine.dispose()
