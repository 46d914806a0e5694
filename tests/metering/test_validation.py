"""metering/validation.py: the whole-column fast path and the read-by-read path agree on every batch, so a
single bad read never changes how the good ones are stored."""

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binding.models import Device
from metering import validation
from metering.models import Flag

NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
VINS = ["1HGCM82633A004352", "1M8GDM9AXKP042788"]


def eumd(**fields) -> Device:
    return Device(kind="eumd", max_power_w=19_200, **fields)


def stamp(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


read = st.fixed_dictionaries(
    {
        "pev_id": st.sampled_from(VINS),
        "interval_start": st.integers(0, 400).map(lambda k: stamp(int(NOW.timestamp()) - 86400 + 300 * k)),
        "interval_seconds": st.sampled_from([300, 900]),
        "wh": st.integers(-50, 6000),
    },
    optional={"quality": st.sampled_from(["actual", "estimated"])},
)


def as_tuples(checked: validation.Checked) -> list[tuple]:
    return list(
        zip(
            checked.index.tolist(),
            checked.epoch.tolist(),
            checked.seconds.tolist(),
            checked.wh.tolist(),
            checked.flags.tolist(),
            checked.vins,
            checked.starts,
            strict=True,
        )
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(read, min_size=1, max_size=40))
def test_the_fast_and_the_slow_path_agree(reads):
    rules = validation._Rules.of(eumd(), NOW - dt.timedelta(seconds=30), NOW)
    slow = validation._slow(reads, rules)
    fast = validation._fast(reads, rules)

    if fast is not None:  # the fast path declines any batch it cannot take whole
        assert not slow.rejected
        assert slow.duplicates == 0
        assert as_tuples(fast) == as_tuples(slow)
    assert validation.check_reads(reads, eumd=eumd(), signed_at=NOW, now=NOW) is not None


def test_a_good_batch_takes_the_fast_path_with_its_flags():
    start = int(NOW.timestamp()) - 3600
    reads = [
        {"pev_id": VINS[0], "interval_start": stamp(start), "interval_seconds": 900, "wh": -1},
        {"pev_id": VINS[0], "interval_start": stamp(start + 900), "interval_seconds": 900, "wh": 4801},
        {
            "pev_id": VINS[0],
            "interval_start": stamp(start + 1800),
            "interval_seconds": 900,
            "wh": 10,
            "quality": "estimated",
        },
    ]
    rules = validation._Rules.of(eumd(), NOW, NOW)
    fast = validation._fast(reads, rules)

    assert fast is not None
    assert fast.flags.tolist() == [Flag.NEGATIVE, Flag.ABOVE_MAXIMUM, Flag.ESTIMATED]
    assert np.array_equal(fast.epoch, [start, start + 900, start + 1800])


@pytest.mark.parametrize(
    "bad",
    [
        {"interval_start": "2026-11-20T10:00:00+00"},
        {"interval_start": "2026-11-20T10:05:00Z"},
        {"interval_seconds": 700},
        {"interval_seconds": True},
        {"wh": 2**40},
        {"pev_id": "1HGCM82633A004353"},
        {"quality": None},
        {"extra": 1},
        {"interval_start": "+026-11-20T10:00:00Z"},
        {"interval_start": "1970-01-01T00:00:00Z"},
    ],
)
def test_one_bad_read_sends_the_batch_to_the_slow_path(bad):
    good = {"pev_id": VINS[0], "interval_start": "2026-11-20T09:00:00Z", "interval_seconds": 900, "wh": 5}
    reads = [good, {**good, "interval_start": "2026-11-20T10:00:00Z", **bad}]
    rules = validation._Rules.of(eumd(), NOW, NOW)

    assert validation._fast(reads, rules) is None
    checked = validation.check_reads(reads, eumd=eumd(), signed_at=NOW, now=NOW)
    assert [r["index"] for r in checked.rejected] == [1]
    assert checked.index.tolist() == [0]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 90), min_size=1, max_size=60, unique=True),
    st.lists(st.integers(-50, 6000), min_size=60, max_size=60),
)
def test_a_well_formed_batch_is_taken_whole_and_matches_the_slow_path(slots, amounts):
    base = int(NOW.timestamp()) - 86400 - int(NOW.timestamp()) % 900
    reads = [
        {
            "pev_id": VINS[n % 2],
            "interval_start": stamp(base + 900 * k),
            "interval_seconds": 900,
            "wh": amounts[n],
        }
        for n, k in enumerate(slots)
    ]
    rules = validation._Rules.of(
        eumd(interval_seconds=900, interval_since=NOW - dt.timedelta(hours=30)), NOW, NOW
    )

    fast = validation._fast(reads, rules)
    assert fast is not None
    assert as_tuples(fast) == as_tuples(validation._slow(reads, rules))
