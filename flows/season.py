"""The `publish-season` flow: a season's archive at once, each recording its own deployment run on a work pool.

Every worker polling the pool takes a share; each conference is its own flow run, retried and watched on its own.
"""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment

from confcast.flows.serve import PUBLISH_DEPLOYMENT
from confcast.tasks.errors import ConfcastError

POLL_S = 2.0


@flow(name="publish-season", validate_parameters=False)
def publish_season(sources: list[str], deployment: str = PUBLISH_DEPLOYMENT, timeout_s: float = 6 * 3600) -> list[str]:
    """Start one publish-conference run per recording (sidecar files carry their metadata), wait for them all."""
    logger = get_run_logger()
    started = [
        run_deployment(deployment, parameters={"source": str(Path(source))}, timeout=0, as_subflow=True)
        for source in sources
    ]
    logger.info("Started %d publish-conference runs on %s", len(started), deployment)
    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while True:
            runs = [client.read_flow_run(run.id) for run in started]
            if all(run.state is not None and run.state.is_final() for run in runs):
                break
            if time.monotonic() > deadline:
                raise ConfcastError(f"publish-season: runs still going after {timeout_s:.0f} s")
            time.sleep(POLL_S)
    failed = [run.name for run in runs if not run.state.is_completed()]
    if failed:
        raise ConfcastError(f"publish-season: {len(failed)} of {len(runs)} runs failed: {', '.join(failed)}")
    return [str(run.id) for run in runs]
