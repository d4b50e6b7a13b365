"""What Prefect recorded of a flow run, read back through its client: the task runs with their start and end.

`confcast bench pipeline` measures the publish flow from outside with it (its child, `confcast bench publish-one`,
calls it once the flow has run). Prefect's server records task runs from the events the run sends, a moment after
each ends, so the reading waits until every task run found has ended and two reads in a row agree.
"""

from __future__ import annotations

import time
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

SETTLE_S = 0.2
WAIT_S = 30.0


def task_run_times(flow_run_id: UUID | str, wait_s: float = WAIT_S) -> list[tuple[str, float, float]]:
    """(task run name, start, end in epoch seconds) of each ended task run of a flow run, by start time; what was
    recorded after `wait_s` when the server has not settled by then."""
    flow_runs = FlowRunFilter(id=FlowRunFilterId(any_=[UUID(str(flow_run_id))]))
    deadline = time.monotonic() + wait_s
    previous: set[UUID] | None = None
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(flow_run_filter=flow_runs)
            found = {run.id for run in runs}
            settled = bool(runs) and found == previous and all(run.end_time is not None for run in runs)
            if settled or time.monotonic() > deadline:
                break
            previous = found
            time.sleep(SETTLE_S)
    ended = [run for run in runs if run.start_time is not None and run.end_time is not None]
    return sorted(
        ((run.name, run.start_time.timestamp(), run.end_time.timestamp()) for run in ended), key=lambda row: row[1]
    )
