"""`hazard accountability body set|list|sweep` and `hazard bulletins collect` as an operator runs them."""

from __future__ import annotations


from tests.services.bulletins.support import escalated


def test_bodies_sweep_and_collect(run, factory, world, clock):
    code, out, _ = run("accountability", "body", "list")
    assert code == 0 and "尚未配置" in out
    code, out, _ = run("accountability", "body", "set", "141100", "吕梁市纪委监委")
    assert code == 0 and "141100" in out
    code, _, err = run("accountability", "body", "set", "999999", "某纪委")
    assert code == 2 and "行政区划代码" in err
    assert run("accountability", "body", "list")[1].strip() == "141100\t吕梁市纪委监委"
    escalated(factory, world, clock, 60, sweep_after=20)  # publicize, then refer
    assert run("accountability", "sweep")[1].strip() == "约谈记录 0 条，问责移交 1 条"
    assert run("accountability", "sweep")[1].strip() == "约谈记录 0 条，问责移交 0 条"
    assert "新增 1 条" in run("bulletins", "collect")[1]  # publicize fired once: the refer skipped only elevate
    assert "新增 0 条" in run("bulletins", "collect")[1]
