"""Benchmark adapter: observe the harness's servers with our transport and probe.

    python benchmarks/observe_bench.py TARGETS_JSON

reads the observe harness's `targets.json` (servers, SSH user, identity, known_hosts), observes
every server with the reconciler's own SSH transport and probe (one connection and one probe per
server, all in parallel), and prints the harness's inventory JSON on stdout: one entry per site
with server, platform, core_version, domain, db_name, settings_mode and files_bytes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from reconciler.observe.models import ObservedServer
from reconciler.observe.probe import ProbeRequest, parse_probe, probe_command
from reconciler.transport.ssh import SshTransport


async def _observe(target: dict[str, Any], user: str, key: str, known: str) -> ObservedServer:
    transport = SshTransport(
        target["name"],
        target["host"],
        int(target["port"]),
        user,
        client_key=key,
        known_hosts=known,
    )
    root = target["root"]
    request = ProbeRequest(platforms_root=f"{root}/platforms", backups_root=f"{root}/backups")
    argv, script = probe_command(request)
    try:
        result = await transport.run(argv, input=script, timeout=600)
    finally:
        await transport.close()
    if not result.ok:
        raise SystemExit(f"{target['name']}: probe exited {result.exit_status}: {result.err}")
    return parse_probe(target["name"], request, result.stdout)


async def _main(targets: dict[str, Any]) -> list[ObservedServer]:
    return list(
        await asyncio.gather(
            *(
                _observe(t, targets["user"], targets["identity_file"], targets["known_hosts"])
                for t in targets["servers"]
            )
        )
    )


def main() -> None:
    started = time.perf_counter()
    targets = json.loads(Path(sys.argv[1]).read_text())
    servers = asyncio.run(_main(targets))
    sites = []
    for server in servers:
        for platform in server.platforms:
            for site in platform.sites:
                sites.append(
                    {
                        "server": server.name,
                        "platform": platform.path,
                        "core_version": platform.core_version,
                        "domain": site.name,
                        "db_name": site.database.name if site.database else None,
                        "settings_mode": site.modes.settings,
                        "files_bytes": site.files_bytes,
                    }
                )
    meta = {"seconds": round(time.perf_counter() - started, 3), "servers": len(servers)}
    sys.stdout.write(json.dumps({"sites": sites, "meta": meta}) + "\n")


if __name__ == "__main__":
    main()
