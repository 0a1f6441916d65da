"""An emulator of HubSpot's CRM API, persistent in SQLite, for tests, the demo and offline development.

HubSpot cannot be reached from tests, CI or a laptop on a plane; the sandbox answers the same paths
with the same shapes, limits and errors (see HUBSPOT_API.md), so connectors and users' own scripts
run unchanged against it.
"""

from datasync_pipeline.sandbox.faults import Fault
from datasync_pipeline.sandbox.sandbox import Sandbox
from datasync_pipeline.sandbox.server import ServedSandbox, serve_in_thread
from datasync_pipeline.sandbox.settings import SandboxSettings

__all__ = ["Fault", "Sandbox", "SandboxSettings", "ServedSandbox", "serve_in_thread"]
