"""The error catalogue: every category and exclusion reason has a title, an explanation and steps."""

from __future__ import annotations

import pytest

from datasync_pipeline.engine.match import DUPLICATE_IDENTITY, NO_UNIQUE_IDENTITY, OUTSIDE_FILTERS
from datasync_pipeline.errors import ErrorCategory
from datasync_pipeline.health.catalogue import CATEGORY_GUIDES, EXCLUSION_GUIDES, guide_for


@pytest.mark.parametrize("category", list(ErrorCategory))
def test_every_error_category_has_a_guide_with_steps(category):
    guide = CATEGORY_GUIDES[category]
    assert guide.title and guide.explanation and guide.steps
    assert guide_for(str(category)) is guide


@pytest.mark.parametrize("reason", [NO_UNIQUE_IDENTITY, OUTSIDE_FILTERS, DUPLICATE_IDENTITY])
def test_every_exclusion_reason_has_a_guide(reason):
    assert guide_for(reason) is EXCLUSION_GUIDES[reason]
    assert EXCLUSION_GUIDES[reason].steps


def test_deleted_records_point_to_the_restore_command_of_their_sync_and_target():
    assert "`datasync restore --sync contacts_berlin --target hubspot --preview`" in guide_for("deleted_in_hubspot").steps_for("contacts_berlin")[0]
    assert "--target app --preview" in guide_for("deleted_in_app").steps_for("contacts_berlin")[0]


def test_the_guides_name_the_fix_a_user_makes():
    assert "fix the email address" in " ".join(guide_for("invalid_email").steps)
    assert "max_concurrency" in " ".join(guide_for("rate_limited_after_retries").steps)
    assert "scopes" in " ".join(guide_for("missing_permission").steps)
    assert "existing record" in " ".join(guide_for("duplicate_on_other_side").steps)
    assert "Create the property" in " ".join(guide_for("unknown_property").steps)


def test_a_category_not_in_the_catalogue_still_gets_a_title_and_the_generic_steps():
    guide = guide_for("quota_exceeded")
    assert guide.title == "Quota exceeded"
    assert guide.steps == CATEGORY_GUIDES[ErrorCategory.UNKNOWN].steps
