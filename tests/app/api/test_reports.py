"""`GET /api/v1/reports/monthly`: the report as JSON for a government reader, refused to others."""

from __future__ import annotations

from tests.app.api.support import API, assert_error
from tests.helpers import drive


def test_monthly_report_over_http(client, world, factory, clock):
    drive(factory, world, clock(), "closed", level="general")
    drive(factory, world, clock(), "supervised", level="major")
    resp = client.get(f"{API}/reports/monthly", params={"month": "2026-11", "region": "141100"},
                      headers=world.auth("city_committee"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["region_code"] == "141100" and body["region_name"] == "吕梁市"
    month = body["month_figures"]
    # The month is still running (the clock says 24 November): it counts up to today.
    assert (month["first"], month["last"]) == ("2026-11-01", "2026-11-24")
    assert body["year_to_date"]["last"] == "2026-11-24"
    coal = next(r for r in month["rows"] if r["industry"] == "煤矿")
    assert (coal["general_found"], coal["general_fixed"], coal["major_found"], coal["listed_city"]) == (1, 1, 1, 1)
    assert month["clearing"] == {"stock_start": 0, "found": 1, "closed": 0, "stock_end": 1, "year_start_stock": 0,
                                 "year_start_cleared": 0, "year_target_pct": None}
    # The county's own report by default; a county cannot read the city's.
    own = client.get(f"{API}/reports/monthly", params={"month": "2026-11"}, headers=world.auth("county_committee"))
    assert own.status_code == 200 and own.json()["region_code"] == "141102"
    assert_error(client.get(f"{API}/reports/monthly", params={"month": "2026-11", "region": "141100"},
                            headers=world.auth("county_committee")), 403, "scope")


def test_monthly_report_refusals(client, world):
    assert_error(client.get(f"{API}/reports/monthly", params={"month": "2026-11"}), 401)
    assert_error(client.get(f"{API}/reports/monthly", params={"month": "2026-11"}, headers=world.auth("ent_coal")),
                 403, "role")
    err = assert_error(client.get(f"{API}/reports/monthly", params={"month": "2026-1"},
                                  headers=world.auth("city_committee")), 422)
    assert [d["field"] for d in err["details"]] == ["month"]
    err = assert_error(client.get(f"{API}/reports/monthly", params={"month": "2026-11", "region": "14110x"},
                                  headers=world.auth("city_committee")), 422)
    assert [d["field"] for d in err["details"]] == ["region"]


def test_monthly_report_as_the_official_form(client, world, factory, clock):
    """The .xlsx has the form's title, 填报单位 and signature line, and the same figures as the JSON;
    the PDF is a PDF of that form."""
    from io import BytesIO

    from openpyxl import load_workbook

    drive(factory, world, clock(), "closed", level="general")
    drive(factory, world, clock(), "supervised", level="major")
    params = {"month": "2026-11", "region": "141100"}
    data = client.get(f"{API}/reports/monthly", params=params, headers=world.auth("city_committee")).json()
    resp = client.get(f"{API}/reports/monthly", params={**params, "format": "xlsx"},
                      headers=world.auth("city_committee"))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "filename*=UTF-8''" in resp.headers["content-disposition"]
    book = load_workbook(BytesIO(resp.content))
    assert book.sheetnames == ["本月", "年初至今"]
    ws = book["本月"]
    assert ws["A1"].value == "吕梁市安全生产事故隐患排查治理情况统计表"
    assert ws["A2"].value == "填报单位（盖章）：吕梁市安全生产委员会办公室"
    cells = [[c.value for c in row] for row in ws.iter_rows()]
    total = next(r for r in cells if r[0] == "合计")
    expected = data["month_figures"]["total"]
    assert total[1:4] == [expected["units_due"], expected["units_checked"], expected["coverage_pct"] or "—"]
    assert total[4:8] == [expected["general_found"], expected["general_fixed"], expected["general_fixed_pct"],
                          expected["major_found"]]
    clearing = next(r for r in cells if r[0] == "重大隐患动态清零")
    assert clearing[2] == data["month_figures"]["clearing"]["stock_start"]
    assert clearing[8] == data["month_figures"]["clearing"]["stock_end"]
    assert any(str(r[0]).startswith("单位负责人") for r in cells if r[0])
    pdf = client.get(f"{API}/reports/monthly", params={**params, "format": "pdf"}, headers=world.auth("city_committee"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and len(pdf.content) > 5000
