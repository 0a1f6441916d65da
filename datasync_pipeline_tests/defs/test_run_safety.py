"""Runs launched any way are as safe as the command line's: one dry-run switch, one run per sync, named failures.

"UI-style" runs here are `dg.materialize` of a sync's assets with nothing but run config, as the UI's
Materialize button and Launchpad launch them: no tags, no per-step config.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from datasync_pipeline.definitions import build_definitions, build_resources
from datasync_pipeline.defs.launch import REPOSITORY_LABEL, REPOSITORY_LABEL_TAG, run_first_sync
from datasync_pipeline.state import StateStore
from datasync_pipeline.state.leases import Lease, LeaseLost, leases
from datasync_pipeline_tests.defs.scenario import contacts_scenario

DRY_RUN = {"resources": {"datasync_run": {"config": {"dry_run": True}}}}


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def fingerprint(scenario) -> dict[str, str]:
    """The bytes of every database a sync could write: the sandbox, the app, the state store."""
    return {name: hashlib.sha256((scenario.home / name).read_bytes()).hexdigest()
            for name in ("sandbox.sqlite", "app.sqlite", "state.sqlite") if (scenario.home / name).exists()}


def materialize(scenario, instance, run_config=None):
    defs = build_definitions(scenario.config)
    return dg.materialize(list(defs.assets), resources=build_resources(scenario.config), instance=instance,
                          run_config=run_config or {}, raise_on_error=False)


@pytest.fixture
def synced(tmp_path, instance):
    scenario = contacts_scenario(tmp_path)
    scenario.seed_hubspot([{"email": "ann@example.com", "firstname": "Ann"}, {"email": "solo@example.com", "firstname": "Solo"}])
    scenario.seed_app([{"email": "ann@example.com", "first_name": "Ann"}, {"email": "new@example.com", "first_name": "Neu"}])
    assert run_first_sync(scenario.config, instance=instance).success
    return scenario


def test_one_switch_makes_a_ui_launched_run_write_nothing_anywhere(synced, instance):
    engine = sa.create_engine(synced.config.state.url)
    before_marks = StateStore(engine).watermarks("contacts")
    with sa.create_engine(f"sqlite:///{synced.home}/app.sqlite").begin() as connection:
        connection.execute(sa.text("UPDATE customers SET city = 'Graz', updated_at = CURRENT_TIMESTAMP WHERE email = 'ann@example.com'"))
    synced.seed_app([{"email": "late@example.com", "first_name": "Late"}])
    before = fingerprint(synced)

    result = materialize(synced, instance, DRY_RUN)
    assert result.success
    assert fingerprint(synced) == before  # sandbox, app and state store: byte for byte
    assert StateStore(engine).watermarks("contacts") == before_marks
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags["datasync/dry_run"] == "true" and tags["datasync/sync"] == "contacts" and tags["datasync/mode"] == "first"
    planned = result.asset_materializations_for_node("contacts__merge_plan")[0].metadata["datasync/planned_writes"].value
    assert "late@example.com" in planned and "Graz" in planned
    # The real run after it does what the preview said.
    real = materialize(synced, instance)
    assert real.success
    assert any(properties.get("city") == "Graz" for properties in synced.hubspot_contacts().values())


def test_a_dry_run_from_the_command_line_exports_its_plan(synced, tmp_path, instance):
    from datasync_pipeline.engine.preview import plan_preview

    synced.seed_app([{"email": "late@example.com", "first_name": "Late"}])
    report = run_first_sync(synced.config, dry_run=True, instance=instance, sync_name="contacts")
    assert report.success
    preview = plan_preview(report.syncs[0].plan, "contacts")
    created = preview[preview["action"] == "create"]
    assert list(created["target"]) == ["hubspot"] and "email=late@example.com" in created["value"].iloc[0]


def test_every_launch_carries_the_same_tags_and_the_code_locations_label(synced, instance):
    cli = instance.get_run_by_id(run_first_sync(synced.config, instance=instance, sync_name="contacts").run_id)
    ui = instance.get_run_by_id(materialize(synced, instance).run_id)
    for key in ("datasync/sync", "datasync/mode", "datasync/dry_run"):
        assert cli.tags[key] == ui.tags[key], key
    assert cli.tags[REPOSITORY_LABEL_TAG] == REPOSITORY_LABEL  # listed in the job's Runs tab of the UI
    assert cli.job_name == "first_sync_contacts"


def test_a_second_run_of_a_sync_is_refused_while_another_holds_its_lease(synced, instance):
    engine = sa.create_engine(synced.config.state.url)
    other = Lease.acquire(engine, ["contacts"], "run-of-someone-else")
    synced.seed_app([{"email": "late@example.com", "first_name": "Late"}])
    before = fingerprint(synced)

    result = materialize(synced, instance)
    assert not result.success
    failure = next(event for event in result.all_events if event.event_type_value == "RUN_FAILURE" or event.is_failure)
    assert "run-of-someone-else" in str(failure.event_specific_data)
    assert fingerprint(synced) == before  # refused before reading or writing anything
    other.release()
    assert materialize(synced, instance).success  # released: the next run proceeds


def test_a_killed_runs_lease_expires_and_a_run_that_lost_its_lease_cannot_write(synced, instance):
    engine = sa.create_engine(synced.config.state.url)
    dead = Lease.acquire(engine, ["contacts"], "killed-run")  # its process died: no heartbeat, never released
    with engine.begin() as connection:
        connection.execute(leases.update().values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert materialize(synced, instance).success  # the expired lease does not hold the sync back
    with pytest.raises(LeaseLost, match="lost the lease"):
        dead.check("contacts")  # and the dead run, were it to wake up, can no longer write


def test_a_sync_deleted_during_a_run_is_not_written_again(synced):
    engine = sa.create_engine(synced.config.state.url)
    lease = Lease.acquire(engine, ["contacts"], "running")
    StateStore(engine).forget_sync("contacts")
    with pytest.raises(LeaseLost, match="deleted"):
        lease.check("contacts")


def test_step_outputs_are_never_read_by_another_run(synced, instance):
    """A step launched without its upstream steps is refused instead of reading an older run's plan."""
    defs = build_definitions(synced.config)
    result = dg.materialize(list(defs.assets), selection=[dg.AssetKey(["contacts", "app_load"])],
                            resources=build_resources(synced.config), instance=instance, raise_on_error=False)
    assert not result.success
    assert not list((synced.home).glob("**/storage/contacts"))
    messages = " ".join(str(event.event_specific_data) for event in result.all_events if event.is_failure)
    assert "not computed in this run" in messages


def test_records_that_never_synced_are_named_by_their_identity(tmp_path, instance):
    from datasync_pipeline.state.tables import record_status

    scenario = contacts_scenario(tmp_path)
    scenario.seed_app([{"email": "bad@@x.io", "first_name": "Nox"}, {"email": "ok@example.com", "first_name": "Ok"}])
    assert run_first_sync(scenario.config, instance=instance).success
    with sa.create_engine(scenario.config.state.url).connect() as connection:
        rows = connection.execute(sa.select(record_status.c.category, record_status.c.identity)).all()
    assert [(category, identity) for category, identity in rows] == [("no unique identity", {"email": "bad@@x.io"})]


def test_two_first_syncs_launched_at_once_on_a_fresh_dagster_home_leave_no_duplicate(tmp_path):
    """Two processes, each a `datasync first-sync`: Dagster's storage is created once (no second schema head),
    one run is refused by the lease or they run one after the other, and no record exists twice."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from datasync_pipeline_tests.defs.scenario import CONFIG

    scenario = contacts_scenario(tmp_path)
    scenario.seed_hubspot([{"email": f"hub{i}@example.com", "firstname": f"Hub {i}"} for i in range(30)])
    scenario.seed_app([{"email": f"app{i}@example.com", "first_name": f"App {i}"} for i in range(30)])
    scenario.sandbox.close()
    config_file = tmp_path / "datasync.yaml"
    config_file.write_text(CONFIG.format(home=tmp_path, extra=""))
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "fresh_dagster_home")}
    datasync = str(Path(sys.executable).parent / "datasync")
    launches = [subprocess.Popen([datasync, "first-sync", "--config", str(config_file)], env=env, cwd=tmp_path,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [launch.communicate(timeout=300)[0] for launch in launches]

    assert not any("more than one head" in output for output in outputs), outputs
    succeeded = [launch.returncode == 0 for launch in launches]
    assert any(succeeded), outputs
    for ok, output in zip(succeeded, outputs):
        assert ok or "is being run by run" in output, output  # the loser is refused, naming the winner
    emails = [c["email"] for c in scenario.customers()]
    assert sorted(emails) == sorted({*emails}) and len(emails) == 60
    hubspot = [p["email"] for p in contacts_scenario_reopened(tmp_path).values()]
    assert sorted(hubspot) == sorted({*hubspot}) and len(hubspot) == 60


def contacts_scenario_reopened(home):
    from datasync_pipeline.sandbox import Sandbox, SandboxSettings
    from datasync_pipeline_tests.defs.scenario import ContactsScenario

    sandbox = Sandbox(SandboxSettings(db_path=str(home / "sandbox.sqlite"), tier="unlimited"))
    try:
        return ContactsScenario(home, None, sandbox).hubspot_contacts()
    finally:
        sandbox.close()
