"""Step outputs kept in the memory of the run that made them: never on disk, never read by another run.

A sync's steps hand each other frames and merge plans. Dagster's default IO manager would pickle them to
``$DAGSTER_HOME/storage/<sync>/<step>``, one path per asset for every run, so two runs of a sync read
each other's outputs (one run's loads writing the merge plan another run made). Every job here runs in
one process (``dg.in_process_executor``), so the outputs can stay in this resource's memory: they belong
to one run, and are gone when it ends.

The price is that a step cannot run without its upstream steps in the same run: re-executing a single
load from the UI would mean writing an old plan over newer data, so it is refused, with what to do.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import PrivateAttr


class RunMemoryIOManager(dg.ConfigurableIOManager):
    """Outputs by (run id, step, output name), in memory, for the run's lifetime."""

    _outputs: dict[tuple[str, str, str], Any] = PrivateAttr(default_factory=dict)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        self._outputs[(context.run_id, context.step_key, context.name)] = obj

    def load_input(self, context: dg.InputContext) -> Any:
        upstream = context.upstream_output
        key = (upstream.run_id, upstream.step_key, upstream.name)
        if key not in self._outputs:
            asset = "/".join(context.asset_key.path) if context.has_asset_key else upstream.step_key
            raise dg.Failure(
                f"{asset} was not computed in this run: a sync's steps run together in one run, on data read in "
                "that run. Launch the whole sync instead (its first_sync job, or Materialize its whole group).",
                allow_retries=False,
            )
        return self._outputs[key]
