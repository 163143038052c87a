"""The deployments `hazard serve` serves (flows/deployments.py) and the ones a worker pool gets
(deploy/prefect.yaml) are the same: names, entrypoints, schedules, tags, pool."""

from __future__ import annotations

from pathlib import Path

import yaml

from flows.deployments import DEPLOYMENTS, TIMEZONE, WORK_POOL, load, runner_deployments

REPO = Path(__file__).resolve().parents[2]


def test_prefect_yaml_declares_the_served_deployments():
    doc = yaml.safe_load((REPO / "deploy" / "prefect.yaml").read_text(encoding="utf-8"))
    declared = {d["name"]: d for d in doc["deployments"]}
    assert set(declared) == {d.name for d in DEPLOYMENTS}
    for d in DEPLOYMENTS:
        y = declared[d.name]
        module, _, func = d.entrypoint.partition(":")
        assert y["entrypoint"] == f"{module.replace('.', '/')}.py:{func}"
        assert tuple(y["tags"]) == d.tags
        assert y["work_pool"]["name"] == WORK_POOL
        (schedule,) = y["schedules"]
        if d.cron:
            assert schedule == {"cron": d.cron, "timezone": TIMEZONE}
        else:
            assert schedule == {"interval": d.interval_seconds}


def test_schedules_are_the_issue_s():
    by_name = {d.name: d for d in DEPLOYMENTS}
    assert by_name["escalation-sweep"].cron == "*/15 * * * *"
    assert by_name["outbox"].interval_seconds == 60
    assert by_name["audit-verify"].cron.endswith("* * *")  # nightly


def test_every_entrypoint_is_a_flow_and_builds_a_runner_deployment():
    from prefect import Flow

    for d in DEPLOYMENTS:
        assert isinstance(load(d.entrypoint), Flow)
    built = runner_deployments()
    assert [b.name for b in built] == [d.name for d in DEPLOYMENTS]
    assert all(b.schedules for b in built)
