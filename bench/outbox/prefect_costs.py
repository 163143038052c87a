"""What each kind of call the lifecycle mirror makes costs the Prefect server, in its own CPU time
(every process of it: the API's, and its services' when they run apart): a run created with its
first state, a forced state change, a log line, an event (stored by the event persister). These
figures bound the mirror (bench/RESULTS.md, issue 15): the server does this work whatever the
client does.

`uv run python -m bench.outbox.prefect_costs [--prefect-workers 2 --redis-url redis://…/3]`
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

SETTLE_SECONDS = 6.0  # the event persister flushes at least every 5 s


async def _measure(server_cpu: Callable[[], float], label: str, n: int, per: int,
                   call: Callable[[int], Awaitable[None]]) -> str:
    gate = asyncio.Semaphore(2)

    async def one(k: int) -> None:
        async with gate:
            await call(k)

    cpu, started = server_cpu(), time.perf_counter()
    await asyncio.gather(*(one(k) for k in range(n)))
    seconds = time.perf_counter() - started
    await asyncio.sleep(SETTLE_SECONDS)
    spent = server_cpu() - cpu
    return (f"  {label:<44} {n * per:>6} in {seconds:6.2f} s: {n * per / seconds:7.1f}/s; "
            f"server CPU {1000 * spent / (n * per):6.2f} ms each")


async def measure(api_url: str, server_cpu: Callable[[], float], runs: int = 300, states: int = 1200) -> list[str]:
    """`server_cpu`: the CPU seconds the server's processes have used so far."""
    from prefect.client.orchestration import PrefectClient

    out: list[str] = []
    async with PrefectClient(api_url) as client:
        flow_id = str(await client.create_flow_from_name("prefect-costs"))
        ids: list[str] = []
        tags = ["hazard-lifecycle", "level:一般隐患", "industry:化工", "listing:区级"]

        async def create(k: int) -> None:
            r = await client.request("POST", "/flow_runs/", json={
                "flow_id": flow_id, "name": f"C{k} 某企业 隐患", "tags": tags, "idempotency_key": f"cost-{k}",
                "state": {"type": "PAUSED", "name": "待核查", "message": "第1步 · 2026-12-06 10:00 · 检查员 张三：报告"}})
            ids.append(r.json()["id"])

        async def state(k: int) -> None:
            await client.request("POST", f"/flow_runs/{ids[k % len(ids)]}/set_state", json={"force": True, "state": {
                "type": "PAUSED", "name": "整改中", "message": f"第{k + 2}步 · 2026-12-06 10:00 · 企业 李四：报告整改进展"}})

        async def logs(k: int) -> None:
            now = datetime.now(UTC).isoformat()
            await client.request("POST", "/logs/", json=[{
                "name": "hazard.lifecycle", "level": 20, "timestamp": now, "flow_run_id": ids[j % len(ids)],
                "message": f"第{j}步 · 2026-12-06 10:00 · 企业 李四：报告整改进展（整改中 → 整改中）"} for j in range(500)])

        async def events(k: int) -> None:
            now = datetime.now(UTC).isoformat()
            await client.request("POST", "/events", json=[{
                "id": str(uuid.uuid4()), "occurred": now, "event": "hazard.comment",
                "resource": {"prefect.resource.id": f"hazard.C{j}", "prefect.resource.name": "隐患"},
                "payload": {"seq": j, "actor": "张三", "line": "第1步 · 记录"},
                "related": [{"prefect.resource.id": f"prefect.flow-run.{ids[j % len(ids)]}",
                             "prefect.resource.role": "flow-run", "prefect.resource.name": f"C{j}"},
                            {"prefect.resource.id": f"prefect.flow.{flow_id}", "prefect.resource.role": "flow",
                             "prefect.resource.name": "hazard-lifecycle"}]} for j in range(200)])

        out.append(await _measure(server_cpu, "run created with its first state", runs, 1, create))
        out.append(await _measure(server_cpu, "forced state change", states, 1, state))
        out.append(await _measure(server_cpu, "log line (bulk calls of 500)", 10, 500, logs))
        out.append(await _measure(server_cpu, "event (bulk calls of 200, stored)", 15, 200, events))
    return out


def main(argv: list[str] | None = None) -> int:
    from bench.outbox.prefect_server import prefect_server

    p = argparse.ArgumentParser(prog="python -m bench.outbox.prefect_costs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prefect-db", choices=("postgresql", "sqlite"), default="postgresql")
    p.add_argument("--prefect-workers", type=int, default=1)
    p.add_argument("--redis-url")
    p.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = p.parse_args(argv)
    with prefect_server(args.server_url, args.prefect_db, args.prefect_workers, args.redis_url) as server:
        lines = asyncio.run(measure(server.api, server.cpu))
    print(f"Prefect server on {args.prefect_db}, API on {args.prefect_workers} process(es); 2 calls side by side:")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
