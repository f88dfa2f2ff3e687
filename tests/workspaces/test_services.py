"""Workspace admins and operators, password rules, and the login rate limit's counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import translation

from terminflow.workspaces import services
from terminflow.workspaces.models import LoginThrottle, Membership, User, Workspace

GOOD = "Seefeld-Praxis-2026"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def now(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


# -- admins and operators ----------------------------------------------------------------------


def test_create_admin_refuses_an_existing_email_and_changes_nothing(db):
    # given
    user, _ = services.create_admin(email="anna@example.ch", password=GOOD, workspace_name="Spa")
    before = user.password
    # when
    with pytest.raises(services.UserExists) as refused, translation.override("en"):
        services.create_admin(
            email="Anna@Example.ch", password="Another-Pass-77", workspace_name="Other"
        )
    # then
    assert refused.value.status == 409
    assert refused.value.code == "user_exists"
    assert User.objects.get().password == before
    assert list(Workspace.objects.values_list("name", flat=True)) == ["Spa"]
    assert Membership.objects.count() == 1


def test_create_admin_with_reset_password_adds_the_workspace_keeps_operator_flags(db):
    # given an operator who also runs a workspace of their own
    operator = services.create_operator(email="ops@example.ch", password=GOOD)
    # when
    user, workspace = services.create_admin(
        email="ops@example.ch",
        password="Another-Pass-77",
        workspace_name="Spa",
        reset_password=True,
    )
    # then
    assert user.pk == operator.pk
    assert (user.is_staff, user.is_superuser) == (True, True)
    assert user.check_password("Another-Pass-77")
    assert Membership.objects.get().workspace == workspace


def test_create_admin_refuses_an_invalid_email(db):
    # when
    with pytest.raises(services.Unprocessable), translation.override("en"):
        services.create_admin(email="not-an-email", password=GOOD, workspace_name="Spa")
    # then
    assert (User.objects.count(), Workspace.objects.count()) == (0, 0)


def test_validate_new_password_refuses_with_translated_reasons(db):
    # given
    user = User(username="anna@example.ch", email="anna@example.ch")
    # when
    with pytest.raises(services.PasswordRejected) as german, translation.override("de"):
        services.validate_new_password("1234", user)
    with pytest.raises(services.PasswordRejected) as english, translation.override("en"):
        services.validate_new_password("1234", user)
    # then
    assert german.value.code == "password_rejected"
    assert german.value.detail == (
        "Dieses Passwort ist zu kurz. Es muss mindestens 10 Zeichen enthalten. "
        "Dieses Passwort ist zu üblich. Dieses Passwort ist komplett numerisch."
    )
    assert english.value.detail == (
        "This password is too short. It must contain at least 10 characters. "
        "This password is too common. This password is entirely numeric."
    )


def test_is_operator_needs_staff_superuser_and_active(db):
    # given
    plain = User(is_staff=False, is_superuser=False, is_active=True)
    staff = User(is_staff=True, is_superuser=False, is_active=True)
    operator = User(is_staff=True, is_superuser=True, is_active=True)
    inactive = User(is_staff=True, is_superuser=True, is_active=False)
    # then
    assert [services.is_operator(u) for u in (plain, staff, operator, inactive)] == [
        False,
        False,
        True,
        False,
    ]


def test_operators_in_workspaces_lists_only_members_with_admin_access(db):
    # given
    services.create_admin(email="anna@example.ch", password=GOOD, workspace_name="Spa")
    services.create_admin(email="old@example.ch", password=GOOD, workspace_name="Spa")
    User.objects.filter(email="old@example.ch").update(is_staff=True, is_superuser=True)
    services.create_operator(email="ops@example.ch", password=GOOD)
    # then
    assert [u.email for u in services.operators_in_workspaces()] == ["old@example.ch"]


# -- the login rate limit -----------------------------------------------------------------------


def test_failures_lock_the_pair_but_not_the_same_email_elsewhere(db, now):
    # given
    for _ in range(services.MAX_LOGIN_FAILURES_PER_PAIR - 1):
        services.record_login_failure("anna@example.ch", "203.0.113.7")
    # then
    assert services.login_locked("anna@example.ch", "203.0.113.7") is False
    # when
    services.record_login_failure("Anna@Example.ch ", "203.0.113.7")
    # then
    assert services.login_locked("anna@example.ch", "203.0.113.7") is True
    assert services.login_locked("anna@example.ch", "198.51.100.4") is False
    assert services.login_locked("ben@example.ch", "203.0.113.7") is False


def test_one_address_trying_many_emails_is_locked_for_every_email(db, now):
    # given
    for n in range(services.MAX_LOGIN_FAILURES_PER_ADDRESS):
        services.record_login_failure(f"user{n}@example.ch", "203.0.113.7")
    # then
    assert services.login_locked("fresh@example.ch", "203.0.113.7") is True
    assert services.login_locked("fresh@example.ch", "198.51.100.4") is False
    assert services.login_locked("user1@example.ch", "203.0.113.7") is True


def test_the_lock_ends_with_the_window_and_counting_starts_again(db, now):
    # given
    for _ in range(services.MAX_LOGIN_FAILURES_PER_PAIR):
        services.record_login_failure("anna@example.ch", "203.0.113.7")
    # when
    now.move_to(T0 + services.LOGIN_WINDOW - timedelta(seconds=1), tick=False)
    still = services.login_locked("anna@example.ch", "203.0.113.7")
    now.move_to(T0 + services.LOGIN_WINDOW + timedelta(seconds=1), tick=False)
    after = services.login_locked("anna@example.ch", "203.0.113.7")
    services.record_login_failure("anna@example.ch", "203.0.113.7")
    # then
    assert (still, after) == (True, False)
    assert sorted(LoginThrottle.objects.values_list("failures", flat=True)) == [1, 1]
    assert set(LoginThrottle.objects.values_list("window_started_at", flat=True)) == {
        T0 + services.LOGIN_WINDOW + timedelta(seconds=1)
    }


def test_a_good_login_clears_the_pair_but_not_the_address(db, now):
    # given
    for n in range(3):
        services.record_login_failure("anna@example.ch", "203.0.113.7")
        services.record_login_failure(f"other{n}@example.ch", "203.0.113.7")
    # when
    services.clear_login_failures("anna@example.ch", "203.0.113.7")
    # then
    counts = dict(LoginThrottle.objects.values_list("key", "failures"))
    assert sorted(counts.values()) == [1, 1, 1, 6]
    assert not any(key.startswith("pair:") and value == 3 for key, value in counts.items())


def test_counters_keep_no_email_or_address_in_clear(db, now):
    # when
    services.record_login_failure("anna@example.ch", "203.0.113.7")
    # then
    keys = list(LoginThrottle.objects.values_list("key", flat=True))
    assert len(keys) == 2
    for key in keys:
        assert "anna" not in key
        assert "203.0.113.7" not in key
        assert key.split(":")[0] in {"pair", "addr"}
        assert len(key.split(":")[1]) == 64


# -- sign-up retention -------------------------------------------------------------------------


def test_the_sign_up_retention_is_0_to_3650_whole_days_and_a_refusal_changes_nothing(workspace):
    from terminflow.kit.errors import Unprocessable

    assert services.set_submission_retention(workspace, days=3650).submission_retention_days == (
        3650
    )
    for wrong in (-1, 3651, 1.5, "30", True, None):
        with pytest.raises(Unprocessable) as refused:
            services.set_submission_retention(workspace, days=wrong)
        assert refused.value.code == "invalid_retention"
        assert refused.value.english == "The retention is a whole number of days from 0 to 3650."
    workspace.refresh_from_db()
    assert workspace.submission_retention_days == 3650
