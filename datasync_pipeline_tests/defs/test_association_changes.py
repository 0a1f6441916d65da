"""Associations changed after the first sync follow the three-way rule of fields (issue 9).

A change on one side flows to the other; a change on both sides is a conflict the default app wins,
logged like a field conflict. Run through Dagster with the helpers of ``test_associations_run``.
"""

from __future__ import annotations

import sqlalchemy as sa

from datasync_pipeline.defs.launch import run_incremental
from datasync_pipeline.state import StateStore
from datasync_pipeline_tests.defs.test_associations_run import World, instance, make_world, run_sync  # noqa: F401 (fixtures)


def linked_world(make_world, instance, *, default_app: str = "hubspot"):
    """Alpha, Beta and Gamma on both sides, Ann linked with Alpha as her company on both sides."""
    world = make_world(default_app=default_app)
    alpha, beta, gamma = world.hubspot("companies", [{"name": "Alpha"}, {"name": "Beta"}, {"name": "Gamma"}])
    [ann] = world.hubspot("contacts", [{"email": "ann@example.com", "firstname": "Ann"}])
    world.sandbox.associate("contacts", ann, "companies", alpha, primary=True)
    assert run_sync(world, instance).success
    companies = {"alpha": alpha, "beta": beta, "gamma": gamma}
    assert str(world.rows("customers")[world.app_id_of("contacts", ann)]["company_id"]) == world.app_id_of("companies", alpha)
    return world, ann, companies


def point_app_company(world: World, app_id: str, company_app_id: str) -> None:
    """The app's user points the contact at another company; the app bumps updated_at."""
    engine = sa.create_engine(f"sqlite:///{world.home}/app.sqlite")
    with engine.begin() as connection:
        table = sa.Table("customers", sa.MetaData(), autoload_with=connection)
        connection.execute(table.update().where(table.c.id == int(app_id)).values(
            company_id=int(company_app_id), updated_at=sa.func.strftime("%Y-%m-%d %H:%M:%f000", "now", "+1 second")))
    engine.dispose()


def app_company(world: World, ann: str) -> str:
    return str(world.rows("customers")[world.app_id_of("contacts", ann)]["company_id"])


def test_issue9_a_company_changed_in_the_app_flows_to_hubspot_instead_of_being_reverted(make_world, instance):
    world, ann, companies = linked_world(make_world, instance)  # HubSpot is the default app
    beta_row = world.app_id_of("companies", companies["beta"])
    point_app_company(world, world.app_id_of("contacts", ann), beta_row)

    report = run_incremental(world.config, ["contacts"], instance=instance)

    assert report.success
    assert app_company(world, ann) == beta_row
    assert world.associated("contacts", "companies", [ann]) == {ann: [companies["beta"]]}
    assert report.syncs[0].value("associations", "datasync/conflicts") == 0
    assert StateStore(world.config.state.url).conflicts("contacts").empty


def test_a_company_changed_in_hubspot_only_flows_to_the_app_even_when_the_app_is_the_default(make_world, instance):
    world, ann, companies = linked_world(make_world, instance, default_app="app")
    world.sandbox.associate("contacts", ann, "companies", companies["beta"], primary=True)  # replaces Alpha as primary

    # HubSpot does not date association changes: the reconciling run reads every association.
    report = run_incremental(world.config, ["contacts"], instance=instance, reason="reconcile")

    assert report.success
    assert app_company(world, ann) == world.app_id_of("companies", companies["beta"])
    assert world.associated("contacts", "companies", [ann]) == {ann: [companies["beta"]]}
    assert report.syncs[0].value("associations", "datasync/conflicts") == 0


def test_a_company_changed_on_both_sides_goes_to_the_default_app_and_is_logged(make_world, instance):
    world, ann, companies = linked_world(make_world, instance)  # HubSpot is the default app
    world.sandbox.associate("contacts", ann, "companies", companies["beta"], primary=True)
    gamma_row = world.app_id_of("companies", companies["gamma"])
    point_app_company(world, world.app_id_of("contacts", ann), gamma_row)

    report = run_incremental(world.config, ["contacts"], instance=instance)

    assert report.success
    assert app_company(world, ann) == world.app_id_of("companies", companies["beta"])
    assert world.associated("contacts", "companies", [ann]) == {ann: [companies["beta"]]}
    conflicts = StateStore(world.config.state.url).conflicts("contacts")
    assert conflicts[["hubspot_id", "app_id", "field", "hubspot_value", "app_value", "winner"]].values.tolist() == [
        [ann, world.app_id_of("contacts", ann), "association:companies", companies["beta"], gamma_row, "hubspot"]]

    # Once resolved, the pair is in sync: a later run (an unrelated app change) keeps Beta and logs nothing new.
    point_app_company(world, world.app_id_of("contacts", ann), world.app_id_of("companies", companies["beta"]))
    again = run_incremental(world.config, ["contacts"], instance=instance)
    assert again.success and again.syncs[0].value("associations", "datasync/conflicts") == 0
    assert world.associated("contacts", "companies", [ann]) == {ann: [companies["beta"]]}
    assert len(StateStore(world.config.state.url).conflicts("contacts")) == 1


def test_a_company_cleared_in_the_app_is_removed_in_hubspot(make_world, instance):
    world, ann, companies = linked_world(make_world, instance)
    engine = sa.create_engine(f"sqlite:///{world.home}/app.sqlite")
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE customers SET company_id = NULL, updated_at = strftime('%Y-%m-%d %H:%M:%f000', 'now', '+1 second')"))
    engine.dispose()

    assert run_incremental(world.config, ["contacts"], instance=instance).success

    assert world.rows("customers")[world.app_id_of("contacts", ann)]["company_id"] is None
    assert world.associated("contacts", "companies", [ann]) == {ann: []}


def test_the_association_writes_are_not_taken_for_changes_by_the_probe(make_world, instance):
    from datasync_pipeline_tests.sync.test_probe import client_for, make_probe

    # The first sync created Ann's row in the app, then its associations step set her company there.
    world, ann, companies = linked_world(make_world, instance)

    probe = make_probe(world, StateStore(world.config.state.url), client_for(world))
    result = probe.probe([sync for sync in world.config.syncs if sync.name == "contacts"])["contacts"]
    # The associations step moved the app watermark past its own write (nothing else had changed).
    assert not result.changed and result.app.count == 0, result.message
