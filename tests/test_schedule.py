"""A digest's schedule as arithmetic: its period boundaries in its time zone (daylight saving
days too), what admins type to set one, and how it is said."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.models import DAILY, WEEKLY, Schedule
from bot.schedule import (
    ScheduleError,
    closing_key,
    delivery_words,
    is_valid,
    latest_boundary,
    next_boundary,
    period_key,
    read_schedule,
)

BERLIN, CHICAGO = "Europe/Berlin", "America/Chicago"


def at(text: str) -> float:
    """A moment written with its offset, as seconds since the epoch."""
    return datetime.fromisoformat(text).timestamp()


def keys_through(schedule: Schedule, start: str, end: str, step: timedelta) -> list[str]:
    """The distinct latest periods a clock sees, ticking from `start` to `end` by `step`."""
    seen: list[str] = []
    moment = datetime.fromisoformat(start)
    while moment <= datetime.fromisoformat(end):
        key = period_key(latest_boundary(schedule, moment.timestamp()))
        if key not in seen:
            seen.append(key)
        moment += step
    return seen


def test_a_weekly_period_ends_at_its_hour_on_its_day_in_its_time_zone() -> None:
    monday_nine = Schedule(WEEKLY, 9, BERLIN, 0)

    # Wednesday 4 March 2026: the last boundary was Monday 2 March, 09:00 in Berlin (CET)
    assert period_key(latest_boundary(monday_nine, at("2026-03-04T12:00:00+00:00"))) == (
        "2026-03-02T09:00:00+01:00"
    )
    assert period_key(next_boundary(monday_nine, at("2026-03-04T12:00:00+00:00"))) == (
        "2026-03-09T09:00:00+01:00"
    )
    # At the boundary itself, it is the latest; a second before, the week before's
    assert period_key(latest_boundary(monday_nine, at("2026-03-09T09:00:00+01:00"))) == (
        "2026-03-09T09:00:00+01:00"
    )
    assert period_key(latest_boundary(monday_nine, at("2026-03-09T08:59:59+01:00"))) == (
        "2026-03-02T09:00:00+01:00"
    )
    # In summer time the same hour is another UTC time
    assert period_key(latest_boundary(monday_nine, at("2026-07-01T00:00:00+00:00"))) == (
        "2026-06-29T09:00:00+02:00"
    )


def test_an_hour_skipped_when_clocks_go_forward_still_ends_one_period_that_day() -> None:
    # Berlin, 29 March 2026: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
    two = Schedule(DAILY, 2, BERLIN)

    keys = keys_through(
        two, "2026-03-27T12:00:00+01:00", "2026-03-31T12:00:00+02:00", timedelta(minutes=5)
    )

    assert keys == [
        "2026-03-27T02:00:00+01:00",
        "2026-03-28T02:00:00+01:00",
        "2026-03-29T03:00:00+02:00",  # the moment the clocks jump over 02:00
        "2026-03-30T02:00:00+02:00",
        "2026-03-31T02:00:00+02:00",
    ]


@pytest.mark.parametrize(
    ("zone", "hour", "start", "end", "that_day"),
    [
        # Berlin, 25 October 2026: 03:00 CEST goes back to 02:00 CET; 02:xx happens twice.
        (BERLIN, 2, "2026-10-24T12:00:00+02:00", "2026-10-26T12:00:00+01:00",
         "2026-10-25T02:00:00+02:00"),
        # Chicago, 1 November 2026: 02:00 CDT goes back to 01:00 CST; 01:xx happens twice.
        (CHICAGO, 1, "2026-10-31T12:00:00-05:00", "2026-11-02T12:00:00-06:00",
         "2026-11-01T01:00:00-05:00"),
    ],
)  # fmt: skip
def test_an_hour_that_happens_twice_when_clocks_go_back_ends_one_period_that_day(
    zone: str, hour: int, start: str, end: str, that_day: str
) -> None:
    keys = keys_through(Schedule(DAILY, hour, zone), start, end, timedelta(minutes=5))

    assert len(keys) == 3  # the day before, that day (once: its first time), the day after
    assert keys[1] == that_day


def test_a_weekly_schedule_on_a_day_the_clocks_change_has_one_period_that_week() -> None:
    sunday_two = Schedule(WEEKLY, 2, BERLIN, 6)

    keys = keys_through(
        sunday_two, "2026-03-21T00:00:00+01:00", "2026-04-06T00:00:00+02:00", timedelta(minutes=10)
    )

    assert keys == [
        "2026-03-15T02:00:00+01:00",
        "2026-03-22T02:00:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-04-05T02:00:00+02:00",
    ]


def test_the_last_digest_of_a_route_going_back_to_immediate_has_a_key_no_period_has() -> None:
    boundary = latest_boundary(Schedule(DAILY, 9, BERLIN), at("2026-03-02T09:00:00+01:00"))

    assert closing_key(boundary.timestamp(), BERLIN) == "2026-03-02T09:00:00.000000+01:00"
    assert closing_key(boundary.timestamp(), BERLIN) != period_key(boundary)


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("weekly monday 9:00", Schedule(WEEKLY, 9, BERLIN, 0)),
        ("Weekly on Fridays at 5pm", Schedule(WEEKLY, 17, BERLIN, 4)),
        ("weekly 17:00 tue", Schedule(WEEKLY, 17, BERLIN, 1)),
        ("weekly sunday 12 am", Schedule(WEEKLY, 0, BERLIN, 6)),
        ("daily 17:00", Schedule(DAILY, 17, BERLIN)),
        ("daily 9", Schedule(DAILY, 9, BERLIN)),
        ("daily 08h", Schedule(DAILY, 8, BERLIN)),
        ("daily noon", Schedule(DAILY, 12, BERLIN)),
        ("immediate", None),
        ("Immediately", None),
        ("off", None),
    ],
)
def test_what_admins_type_is_read_as_a_schedule_in_their_time_zone(
    typed: str, read: Schedule | None
) -> None:
    assert read_schedule(typed, tz=BERLIN) == read


@pytest.mark.parametrize(
    ("typed", "problem", "example"),
    [
        ("", "Say how the channel should receive news: immediate, daily or weekly.",
         "digest #channel weekly monday 9:00"),
        ("hourly", "“hourly” is not a way to receive news: use immediate, daily or weekly.",
         "digest #channel daily 17:00"),
        ("monday 9:00", "Start with how often: immediate, daily or weekly.",
         "digest #channel weekly monday 9:00"),
        ("weekly 9:00", "A weekly digest needs a day of the week.",
         "digest #channel weekly monday 9:00"),
        ("weekly friday", "A weekly digest needs an hour.", "digest #channel weekly friday 9:00"),
        ("weekly mnday 9:00", "“mnday” is not a day of the week. Did you mean Monday?",
         "digest #channel weekly monday 9:00"),
        ("weekly monday tuesday 9:00", "A weekly digest goes out on one day: name only one.",
         "digest #channel weekly monday 9:00"),
        ("weekly monday 9:30", "Digests go out on the hour: use 9:00 or 10:00 rather than 9:30.",
         "digest #channel weekly monday 9:00"),
        ("daily 25:00", "“25:00” is not an hour of the day: use 0:00 to 23:00.",
         "digest #channel daily 9:00"),
        ("daily", "A daily digest needs an hour.", "digest #channel daily 9:00"),
        ("daily monday 9:00",
         "A daily digest goes out every day: leave out “monday”, or make it weekly.",
         "digest #channel daily 9:00"),
        ("daily 9:00 17:00", "A digest goes out at one hour: name only one.",
         "digest #channel daily 9:00"),
        ("immediate now please", "“immediate” takes nothing after it: leave out “now please”.",
         "digest #channel immediate"),
    ],
)  # fmt: skip
def test_each_mistake_in_a_schedule_is_said_with_what_to_type(
    typed: str, problem: str, example: str
) -> None:
    with pytest.raises(ScheduleError) as refused:
        read_schedule(typed, tz=BERLIN)

    assert (refused.value.problem, refused.value.example) == (problem, example)


def test_a_schedule_is_said_with_its_day_hour_and_time_zone() -> None:
    assert delivery_words(Schedule(WEEKLY, 9, BERLIN, 0)) == (
        "a weekly digest, Mondays at 09:00 (Europe/Berlin)"
    )
    assert delivery_words(Schedule(DAILY, 17, "UTC")) == "a daily digest at 17:00 (UTC)"
    assert delivery_words(None) == "each release as it appears"


@pytest.mark.parametrize(
    "schedule",
    [
        Schedule(DAILY, 24, BERLIN),
        Schedule(WEEKLY, 9, BERLIN, 7),
        Schedule(WEEKLY, 9, BERLIN),
        Schedule(DAILY, 9, "Mars/Olympus_Mons"),
        Schedule(DAILY, 9, "../../etc/passwd"),
        Schedule("hourly", 9, BERLIN),
    ],
)
def test_a_schedule_no_admin_could_set_is_known_unusable(schedule: Schedule) -> None:
    assert not is_valid(schedule)


def test_boundaries_are_the_same_whatever_the_machines_own_time_zone() -> None:
    # A period's key must be the same in every process: no local time enters it.
    noon = at("2026-03-04T12:00:00+00:00")
    daily = Schedule(DAILY, 9, BERLIN)

    assert latest_boundary(daily, noon).astimezone(UTC) == datetime(2026, 3, 4, 8, tzinfo=UTC)


def test_a_schedule_no_admin_could_set_is_said_as_such_rather_than_crashing() -> None:
    for broken in (Schedule(WEEKLY, 9, BERLIN, 9), Schedule(DAILY, None, BERLIN)):  # type: ignore[arg-type]
        assert delivery_words(broken) == (
            "a digest whose schedule cannot be followed (set it again)"
        )
