"""任务清单 pages: upload a plan as a draft, correct and review its flagged tasks, publish it once;
hostile uploads are refused on the form and store nothing; other roles and regions are kept out."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import func, select

from db.engine import read_only, transaction
from db.models import PlanTask, TaskPlan
from services.audit import records
from services.organisations.shanxi import load_shanxi
from tests.app.web.conftest import csrf_of
from tests.conftest import START

LVLIANG = Path(__file__).parents[3] / "app" / "demo" / "plans" / "lvliang-2022-task-list.txt"
FORM = {"title": "吕梁市2022年安全生产工作任务清单", "year": "2022", "issued_by": "吕梁市安委办"}


def _upload(client, data: bytes, name: str = LVLIANG.name, **over):
    token = csrf_of(client.get("/plans/import").text)
    return client.post("/plans/import", data={"csrf_token": token, **FORM, **over},
                       files={"file": (name, data, "text/plain")})


def _plans(factory) -> int:
    with read_only(factory) as s:
        return s.scalar(select(func.count()).select_from(TaskPlan))


def test_upload_review_publish(factory, world, browser):
    with transaction(factory) as s:
        load_shanxi(s, now=START)
    city = browser("city_committee")
    form = city.get("/plans/import")
    assert form.status_code == 200 and 'value="吕梁市安全生产委员会办公室"' in form.text  # the region's 安委办
    done = _upload(city, LVLIANG.read_bytes())
    assert done.status_code == 303, done.text
    plan_id = int(done.headers["location"].rsplit("/", 1)[1])
    again = _upload(city, LVLIANG.read_bytes())
    assert again.headers["location"] == f"/plans/{plan_id}" and _plans(factory) == 1
    with read_only(factory) as s:
        tasks = s.scalars(select(PlanTask).where(PlanTask.plan_id == plan_id).order_by(PlanTask.seq)).all()
        count = len(tasks)
    assert count > 10
    listing = city.get("/plans").text
    assert f'href="/plans/{plan_id}"' in listing and "草稿" in listing
    page = city.get(f"/plans/{plan_id}")
    assert page.status_code == 200 and f"{count} 项任务" in page.text
    waiting = sorted(set(int(t) for t in re.findall(r'/plans/\d+/tasks/(\d+)/reviewed"', page.text)))
    assert waiting and "待核对" in page.text
    token = csrf_of(page.text)
    refused = city.post(f"/plans/{plan_id}/publish", data={"csrf_token": token, "version": "1"})
    assert refused.status_code == 409 and "还有任务需要核对" in refused.text
    first = waiting[0]
    bad = city.post(f"/plans/{plan_id}/tasks/{first}/correct", data={"csrf_token": token, "units": "",
                                                                      "deadline": "2022-06-30"})
    assert bad.status_code == 422 and "请填写责任单位" in bad.text
    fixed = city.post(f"/plans/{plan_id}/tasks/{first}/correct",
                      data={"csrf_token": token, "units": "市应急局牵头，市公安局配合", "deadline": "2022-06-30"})
    assert fixed.status_code == 303, fixed.text
    shown = city.get(f"/plans/{plan_id}").text
    row = shown.split(f'id="task-{first}"')[1].split("</tr>")[0]
    assert "市应急局（牵头）：" in row and "未识别" not in row and "2022-06-30" in row and "已核对" in row
    for task_id in waiting[1:]:
        assert city.post(f"/plans/{plan_id}/tasks/{task_id}/reviewed", data={"csrf_token": token}).status_code == 303
    page = city.get(f"/plans/{plan_id}").text
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    assert "待核对" not in page
    assert city.post(f"/plans/{plan_id}/publish", data={"csrf_token": token, "version": version}).status_code == 303
    twice = city.post(f"/plans/{plan_id}/publish", data={"csrf_token": token, "version": version})
    assert twice.status_code == 409
    final = city.get(f"/plans/{plan_id}").text
    assert "已发布" in final and 'action="/plans/' + str(plan_id) + '/publish"' not in final
    with read_only(factory) as s:
        assert s.get(TaskPlan, plan_id).state == "published"
        actions = [e.action for e in records.trail(s, f"plan:{plan_id}")]
        assert actions.count("publish") == 1 and actions.count("import") == 1 and "correct" in actions
        assert records.verify(s)[2] == []


def test_hostile_uploads_store_nothing(factory, world, browser):
    with transaction(factory) as s:
        load_shanxi(s, now=START)
    city = browser("city_committee")
    cases = [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "plan.png", {}, "file"),
        (b"PK\x03\x04 not really a docx", "plan.docx", {}, "file"),
        (b"x" * (10 * 1024 * 1024 + 1), "big.txt", {}, "文件不能超过 10 MB"),
        (LVLIANG.read_bytes(), LVLIANG.name, {"year": "20x2"}, "四位数字年份"),
        (LVLIANG.read_bytes(), LVLIANG.name, {"year": "1800"}, "year"),
        (LVLIANG.read_bytes(), LVLIANG.name, {"title": ""}, "title"),
        (LVLIANG.read_bytes(), LVLIANG.name, {"issued_by": "不存在的单位\x01"}, "issued_by"),
        (LVLIANG.read_bytes(), LVLIANG.name, {"issued_by": "忻州市安委办"}, "印发单位所在地的安委办"),
    ]
    for data, name, over, expect in cases:
        resp = _upload(city, data, name, **over)
        assert resp.status_code in (403, 422), (name, over, resp.status_code)
        assert 'class="error"' in resp.text and (expect in resp.text or f'id="{expect}-error"' in resp.text), (name, over)
    assert _plans(factory) == 0
    token = csrf_of(city.get("/plans/import").text)
    missing = city.post("/plans/import", data={"csrf_token": token, **FORM})
    assert missing.status_code == 422 and "请选择计划文件" in missing.text


def test_roles_and_scope(factory, world, browser):
    with transaction(factory) as s:
        load_shanxi(s, now=START)
    city = browser("city_committee")
    plan_id = int(_upload(city, LVLIANG.read_bytes()).headers["location"].rsplit("/", 1)[1])
    inspector = browser("inspector")
    assert inspector.get("/plans").status_code == 403 and inspector.get(f"/plans/{plan_id}").status_code == 403
    assert "任务清单" not in inspector.get("/").text.split("</nav>")[0]
    assert "任务清单" in city.get("/").text.split("</nav>")[0]
    county = browser("county_committee")  # 离石 is below 吕梁: a county office does not read the city's plan
    assert county.get(f"/plans/{plan_id}").status_code == 404
    province = browser("province_committee")
    page = province.get(f"/plans/{plan_id}")
    assert page.status_code == 200 and "/publish" not in page.text  # reads, but only the issuer publishes
    token = csrf_of(province.get("/plans").text)
    assert province.post(f"/plans/{plan_id}/publish", data={"csrf_token": token, "version": "1"}).status_code == 403
    for ident in ("x1", "99999999999999999999", "0"):
        assert city.get(f"/plans/{ident}").status_code == 404
    assert city.post(f"/plans/{plan_id}/publish", data={"version": "1"}).status_code in (400, 403)


def test_hostile_corrections_are_refused(factory, world, browser):
    with transaction(factory) as s:
        load_shanxi(s, now=START)
    city = browser("city_committee")
    plan_id = int(_upload(city, LVLIANG.read_bytes()).headers["location"].rsplit("/", 1)[1])
    with read_only(factory) as s:
        task_id = s.scalars(select(PlanTask.id).where(PlanTask.plan_id == plan_id).order_by(PlanTask.seq)).first()
    token = csrf_of(city.get(f"/plans/{plan_id}").text)
    url = f"/plans/{plan_id}/tasks/{task_id}/correct"
    for data, expect in [({"units": "市应急局\x01", "deadline": "2022-06-30"}, "units"),
                         ({"units": "市应急局" * 300, "deadline": "2022-06-30"}, "units"),
                         ({"units": "市应急局", "deadline": "2022-13-45"}, "deadline"),
                         ({"units": "市应急局", "deadline": "1900-01-01"}, "deadline"),
                         ({"units": "市应急局", "deadline": "明年再说"}, "deadline")]:
        resp = city.post(url, data={"csrf_token": token, **data})
        assert resp.status_code == 422 and f'id="{expect}-error-{task_id}"' in resp.text, (data, resp.status_code)
    assert city.post(f"/plans/{plan_id}/tasks/99999999/correct",
                     data={"csrf_token": token, "units": "市应急局", "deadline": ""}).status_code == 404
    with read_only(factory) as s:
        assert not s.get(PlanTask, task_id).reviewed
        assert [e.action for e in records.trail(s, f"plan:{plan_id}")] == ["import"]
