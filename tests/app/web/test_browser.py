"""The web UI in a real headless Chromium against a real uvicorn server.

One walkthrough takes a MAJOR hazard from the public report form to 销号 through the pages only:
public 举报 and 查询, then the inspector registers it, the city 安委办 lists it (挂牌督办), the
enterprise files its 五落实 plan and asks for acceptance with evidence photo and assessment report
uploaded through the file inputs, the inspector accepts, the county 安委办 is shown why it may not
close a city-listed hazard, and the city 安委办 closes it. Documents are issued between steps by
calling the document engine directly (the Prefect flow does it in service); the 挂牌督办通知书 PDF
and the 台账 Excel are fetched through the page's own links and read back. The four-eyes rule is
shown on a second hazard the inspector writes up on 上报隐患: the page explains why 不予立案 is
not offered, and a forged submission of it is refused on the page. A colleague then dismisses it
with the keyboard alone, from the skip link through 待办 to the form's submit button, and every
stop on the way shows its focus ring.

Every page visited is screenshotted at 1280×800 and 390×844 under test-artifacts/screenshots/,
and at phone width the page must not scroll sideways and every visible control must be labelled.
SQLite only: the browser adds nothing backend-specific that the other web tests do not cover.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta

import openpyxl
import pytest
from playwright.sync_api import expect
from pypdf import PdfReader
from sqlalchemy import select

from db.engine import UnitOfWork, read_only
from db.models import Document, Hazard
from services import documents
from services.kernel.clock import local_date
from tests.helpers import report_body
from tests.app.web.browser_support import Session, browsers, chromium, db_url, live_server  # noqa: F401 (fixtures)

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND"
       b"\xaeB`\x82")
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
TITLE = "化工园区储罐区可燃气体报警器失效"


def _issue(factory, clock) -> None:
    documents.issue_pending(UnitOfWork(factory), now=clock(), limit=50)


def _act(s: Session, hid: int, action: str, *, fill: dict[str, str] = {}, select_: dict[str, str] = {},  # noqa: B006
         check: tuple[str, ...] = (), files: dict[str, tuple[str, str, bytes]] = {}, label: str) -> None:  # noqa: B006
    """Open the action's form on the hazard page, fill it like a person would, submit, and expect
    the page to confirm it."""
    page = s.go(f"/hazards/{hid}")
    fid = f"#act-{action}"
    page.click(f"{fid} > summary")
    for name, value in fill.items():
        page.fill(f"{fid}-{name}", value)
    for name, value in select_.items():
        page.select_option(f"{fid}-{name}", value)
    for name in check:
        page.check(f"{fid}-{name}")
    for name, (filename, mime, data) in files.items():
        page.set_input_files(f"{fid}-{name}-upload", {"name": filename, "mimeType": mime, "buffer": data})
    page.click(f"{fid} button[type=submit]")
    expect(page.locator(".flash")).to_have_text(f"已完成：{label}")


def _state(factory, hid: int) -> str:
    with read_only(factory) as s:
        return s.get(Hazard, hid).state


def test_major_hazard_from_public_report_to_closure(browsers, factory, world, clock):
    today = local_date(clock())
    day = lambda n: (today + timedelta(days=n)).isoformat()  # noqa: E731

    # --- 群众举报 and 查询, no login ---
    public = browsers.anonymous()
    page = public.go("/report")
    public.shot("report")
    page.fill("#r-title", TITLE)
    page.fill("#r-description", "罐区 3 台可燃气体报警器显示故障，已持续一周无人处理。")
    page.fill("#r-location", "离石区化工园区东区罐区")
    page.select_option("#r-region_code", "141102")
    page.select_option("#r-industry", "危险化学品")
    page.click("button:has-text('提交举报')")
    tracking = page.locator("#tracking-code").inner_text()
    assert re.fullmatch(r"[A-Z0-9]{6,}", tracking)
    public.shot("report-done")
    public.go("/track")
    page.fill("#code", tracking.lower())
    page.keyboard.press("Enter")
    expect(page.locator("#track-state")).to_have_text("待核查")
    public.shot("track")

    # --- the inspector finds it in 待办 and registers it as MAJOR ---
    inspector = browsers.login("inspector")
    page = inspector.go("/")
    row = page.locator("tr", has_text=TITLE)
    expect(row).to_contain_text("登记（限期整改）")
    inspector.shot("todo")
    row.locator("a").click()
    hid = int(re.search(r"/hazards/(\d+)$", page.url).group(1))
    with read_only(factory) as s:
        code = s.get(Hazard, hid).code
    expect(page.locator("h1")).to_have_text(TITLE)
    inspector.shot("hazard-reported")
    _act(inspector, hid, "register", select_={"level": "major"},
         fill={"enterprise_uscc": world.enterprises["coal"], "deadline": day(60), "category": "可燃气体检测报警"},
         label="登记（限期整改）")
    assert _state(factory, hid) == "registered"
    _issue(factory, clock)

    # --- the city 安委办 lists it for supervision; the 挂牌督办通知书 is issued ---
    city = browsers.login("city_committee")
    _act(city, hid, "supervise", select_={"listing_level": "city"},
         fill={"deadline": day(60), "plan_due": day(10)}, check=("suspend_production",), label="挂牌督办")
    _issue(factory, clock)
    with read_only(factory) as s:
        listing = s.execute(select(Document).where(Document.hazard_id == hid,
                                                   Document.kind == "listing_notice")).scalar_one()
        number = listing.number
    page = city.go(f"/hazards/{hid}")
    expect(page.locator(".badge", has_text="停产整顿中")).to_be_visible()
    doc_item = page.locator("section[aria-labelledby=docs-heading] li", has_text=number)
    expect(doc_item).to_contain_text("挂牌督办")
    city.shot("hazard-supervised")
    href = doc_item.locator("a", has_text="PDF").get_attribute("href")
    pdf = city.context.request.get(city.base + href)
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages)
    assert "挂牌督办" in text and number in text.replace(" ", "")
    elsewhere = href.replace(f"/hazards/{hid}/", f"/hazards/{hid + 1}/")  # not this hazard's document
    assert city.context.request.get(city.base + elsewhere).status == 404
    assert browsers.login("ent_chem").context.request.get(city.base + href).status == 404  # out of scope

    # --- the enterprise files its plan, then asks for acceptance with files uploaded ---
    ent = browsers.login("ent_coal")
    page = ent.go("/")
    expect(page.locator("tr", has_text=code)).to_contain_text("报送整改方案")
    _act(ent, hid, "file_plan", fill={"responsible_person": "王建军", "measures": "更换全部报警器并联网监控",
                                      "funds_wan": "12.5", "time_limit": day(50), "contingency_plan": "罐区泄漏应急预案"},
         label="报送整改方案")
    _act(ent, hid, "request_acceptance",
         fill={"work_done": "已更换 3 台报警器并完成联调", "completed_on": day(0), "funds_spent_wan": "11.8"},
         select_={"assessment": "expert"},
         files={"evidence": ("现场照片.png", "image/png", PNG), "assessment_report": ("评估报告.pdf", "application/pdf", PDF)},
         label="申请验收")
    page = ent.page
    expect(page.locator("#files-heading")).to_have_text("证据与附件（2）")
    expect(page.locator(".thumbs img[alt='现场照片.png']")).to_be_visible()
    ent.shot("hazard-acceptance-requested")

    # --- the inspector accepts; the county 安委办 may not close a city-listed hazard ---
    _act(inspector, hid, "accept", fill={"reviewed_on": day(0), "opinion": "整改到位，同意验收"}, label="验收通过")
    assert _state(factory, hid) == "accepted"
    county = browsers.login("county_committee")
    page = county.go(f"/hazards/{hid}")
    expect(page.locator("#why-close")).to_contain_text("须由挂牌督办层级的安委办办理")
    expect(page.locator("#act-close")).to_have_count(0)
    county.shot("hazard-accepted-county")

    # --- the city 安委办 closes it (销号) ---
    _act(city, hid, "close", fill={"opinion": "同意销号摘牌"}, label="销号（摘牌）")
    assert _state(factory, hid) == "closed"
    _issue(factory, clock)
    page = city.go(f"/hazards/{hid}")
    expect(page.locator(".badge").first).to_have_text("已销号")
    expect(page.locator(".timeline")).to_contain_text("销号（摘牌）")
    city.shot("hazard-closed")
    public.go(f"/track?code={tracking}")
    expect(public.page.locator("#track-state")).to_have_text("已销号")

    # --- 台账, its Excel, 看板, 审计 ---
    supervisor = browsers.login("supervisor")
    page = supervisor.go("/ledger")
    expect(page.locator("table")).to_contain_text(code)
    supervisor.shot("ledger")
    with page.expect_download() as download:
        page.click("a:has-text('导出 Excel')")
    assert download.value.suggested_filename.endswith(".xlsx")
    with open(download.value.path(), "rb") as fh:
        book = openpyxl.load_workbook(io.BytesIO(fh.read()))
    cells = [str(c) for ws in book.worksheets for r in ws.iter_rows(values_only=True) for c in r if c is not None]
    assert code in cells
    supervisor.go("/dashboard")
    expect(page.locator("h1")).to_contain_text("看板")
    supervisor.shot("dashboard")
    auditor = browsers.login("auditor")
    page = auditor.go(f"/audit?code={code}")
    expect(page.locator("main")).to_contain_text("销号（摘牌）")
    auditor.shot("audit")


def _report_on_the_page(s: Session, title: str) -> int:
    """Write a hazard up on 上报隐患 as an official would; returns its id."""
    page = s.go("/hazards/new")
    body = report_body(title=title)
    page.fill("#n-title", body["title"])
    page.fill("#n-description", body["description"])
    page.fill("#n-location", body["location"])
    page.select_option("#n-industry", body["industry"])
    expect(page.locator("#n-region_code")).to_have_value("141102")  # the only county in scope
    s.shot("new-hazard")
    page.click("button:has-text('提交上报')")
    expect(page.locator(".flash")).to_contain_text("已上报隐患，编号 141102-")
    return int(page.url.rsplit("/", 1)[1])


def test_four_eyes_refusal_is_shown_on_the_page(browsers, factory, world, clock):
    inspector = browsers.login("inspector")
    hid = _report_on_the_page(inspector, "主运输巷道顶板离层")
    page = inspector.go(f"/hazards/{hid}")
    expect(page.locator("#why-dismiss")).to_contain_text("四眼原则")
    expect(page.locator("#act-dismiss")).to_have_count(0)
    inspector.shot("hazard-four-eyes")
    # a forged 不予立案 (e.g. from a page left open in another tab) is refused, and said so
    page.evaluate("""() => {
      const f = document.createElement('form');
      f.method = 'post'; f.action = location.pathname + '/actions/dismiss';
      const src = document.querySelector('#act-register form');
      for (const [k, v] of [['csrf_token', src.csrf_token.value], ['version', src.version.value],
                            ['reason', '经核查不构成隐患']]) {
        const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
      }
      document.body.appendChild(f); f.submit();
    }""")
    page.wait_for_load_state()
    expect(page.locator("#page-error")).to_contain_text("四眼原则")
    assert _state(factory, hid) == "reported"
    inspector.shot("hazard-four-eyes-refused", phone=False)


def test_login_by_keyboard(browsers):
    s = browsers.anonymous("keyboard")
    page = s.go("/login?next=/ledger")
    s.shot("login")
    focused = "() => document.activeElement && (document.activeElement.id || document.activeElement.tagName)"
    assert page.evaluate(focused) == "username"  # autofocus
    page.keyboard.type("supervisor")
    page.keyboard.press("Tab")
    assert page.evaluate(focused) == "password"
    page.keyboard.type("correct-horse-1")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.type") == "submit"
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "登录"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/ledger")
    expect(page.locator(".who")).to_contain_text("supervisor")


_FOCUS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const st = getComputedStyle(e), r = e.getBoundingClientRect();
  return {tag: e.tagName, id: e.id, text: (e.textContent || '').trim().slice(0, 40), href: e.getAttribute('href') || '',
          ring: st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) >= 2, visible: r.width > 0 && r.height > 0};
}"""


def _tab_to(page, wanted, limit: int = 80) -> list[dict]:
    """Press Tab until `wanted(focused)`; every element passed on the way must be visible and show
    a focus ring (Playwright's key presses count as keyboard use, so :focus-visible applies)."""
    passed = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(_FOCUS)
        assert focused is not None, f"focus left the page after {passed[-3:]}"
        assert focused["visible"] and focused["ring"], f"no visible focus on {focused}"
        passed.append(focused)
        if wanted(focused):
            return passed
    raise AssertionError(f"not reached by Tab within {limit} stops: {passed[-5:]}")


def test_an_action_by_keyboard_alone(browsers, factory, world, clock):
    """From the skip link through 待办 to a submitted 不予立案, with Tab, Enter and typing only."""
    hid = _report_on_the_page(browsers.login("inspector"), "配电室挡鼠板缺失")
    with read_only(factory) as s:
        code = s.get(Hazard, hid).code
    colleague = browsers.login("inspector2")
    page = colleague.go("/")
    page.keyboard.press("Tab")
    assert page.evaluate(_FOCUS)["text"] == "跳到正文"
    page.keyboard.press("Enter")  # into <main>: the next Tab skips the header and the menu
    passed = _tab_to(page, lambda f: f["text"] == code)
    assert not any(f["text"] in ("台账", "看板", "退出登录") for f in passed)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/hazards/{hid}")
    _tab_to(page, lambda f: f["tag"] == "SUMMARY" and f["text"] == "不予立案")
    page.keyboard.press("Enter")  # opens the form
    expect(page.locator("#act-dismiss")).to_have_attribute("open", "")
    _tab_to(page, lambda f: f["id"] == "act-dismiss-reason")
    page.keyboard.type("经现场核实，挡鼠板已安装到位，不构成隐患。")
    _tab_to(page, lambda f: f["tag"] == "BUTTON" and f["text"] == "提交：不予立案")
    page.keyboard.press("Enter")
    expect(page.locator(".flash")).to_have_text("已完成：不予立案")
    assert _state(factory, hid) == "dismissed"
