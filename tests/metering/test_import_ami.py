"""`import_ami FILE.csv`: revenue-meter reads stored once, with the same duplicate and conflict rules as
EUMD batches; bad files change nothing (issue 5; BR.8, Req 15)."""

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from metering.models import CorrelationDue, Meter, PremiseRead, ReadRevision, UsageRollup
from pevportal.models import ImportRun
from tests.metering.homes import MeteredHome, stamp

pytestmark = pytest.mark.django_db
HEADER = "meter_id,interval_start,interval_seconds,wh\n"


@pytest.fixture
def home(sce_programs, make_device):
    return MeteredHome(make_device)


def yesterday() -> dt.datetime:
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)


def ami_file(tmp_path, rows, name="ami.csv") -> str:
    path = tmp_path / name
    path.write_text(HEADER + "".join(f"{m},{s},{n},{w}\n" for m, s, n, w in rows))
    return str(path)


def quarter_hours(meter_id, start, count, wh=400):
    return [(meter_id, stamp(start + dt.timedelta(minutes=15 * k)), 900, wh) for k in range(count)]


def run(path, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_ami", path, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_stores_the_file_and_reports_counts(tmp_path, home):
    out, _ = run(ami_file(tmp_path, quarter_hours(home.premise.meter_id, yesterday(), 96)))

    assert "accepted: 96; duplicates: 0; conflicting: 0 (kept for review); rejected: 0" in out
    meter = Meter.objects.get(premise=home.premise)
    assert PremiseRead.objects.filter(meter=meter).count() == 96
    assert sum(UsageRollup.objects.filter(source="premise").values_list("wh", flat=True)) == 96 * 400


def test_an_identical_file_again_changes_nothing(tmp_path, home):
    path = ami_file(tmp_path, quarter_hours(home.premise.meter_id, yesterday(), 8))
    run(path)
    out, _ = run(path)

    assert "accepted: 0; duplicates: 8" in out
    assert PremiseRead.objects.count() == 8
    assert ImportRun.objects.filter(kind="ami").count() == 1
    assert sum(UsageRollup.objects.values_list("wh", flat=True)) == 8 * 400


def test_a_different_value_is_kept_as_a_revision(tmp_path, home):
    run(ami_file(tmp_path, quarter_hours(home.premise.meter_id, yesterday(), 4), "a.csv"))
    out, _ = run(ami_file(tmp_path, quarter_hours(home.premise.meter_id, yesterday(), 4, wh=450), "b.csv"))

    assert "conflicting: 4" in out
    assert set(PremiseRead.objects.values_list("wh", flat=True)) == {400}
    assert ReadRevision.objects.filter(reason="conflict", stored_wh=400, wh=450).count() == 4


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("M-NOPE,{start},900,400", "line 2: meter_id: no premise has revenue meter 'M-NOPE'"),
        ("{meter},2026-11-01 00:00,900,400", "line 2: interval_start: must be UTC to the second"),
        ("{meter},{misaligned},900,400", "line 2: interval_start: is not aligned to 900 s intervals"),
        ("{meter},{start},700,400", "line 2: interval_seconds: must divide an hour"),
        ("{meter},{start},900,4.5", "line 2: wh: must be an integer number of watt-hours"),
        ("{meter},{future},900,400", "line 2: interval_start: the interval has not ended yet"),
    ],
)
def test_it_reports_a_bad_row_and_stores_nothing(tmp_path, home, row, expected):
    start = yesterday()
    future = (timezone.now() + dt.timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    line = row.format(
        meter=home.premise.meter_id,
        start=stamp(start),
        misaligned=stamp(start + dt.timedelta(minutes=5)),
        future=stamp(future),
    )
    path = tmp_path / "bad.csv"
    path.write_text(
        HEADER + line + "\n" + ",".join(map(str, quarter_hours(home.premise.meter_id, start, 2)[1])) + "\n"
    )
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("import_ami", str(path), stdout=io.StringIO(), stderr=err)

    assert expected in err.getvalue()
    assert not PremiseRead.objects.exists()
    assert not ImportRun.objects.filter(kind="ami").exists()


def test_it_stores_the_good_rows_with_skip_bad(tmp_path, home):
    rows = quarter_hours(home.premise.meter_id, yesterday(), 3)
    rows[1] = (home.premise.meter_id, rows[1][1], 900, "lots")
    out, err = run(ami_file(tmp_path, rows), "--skip-bad")

    assert "accepted: 2; duplicates: 0; conflicting: 0 (kept for review); rejected: 1" in out
    assert "line 3: wh" in err


def test_conflicting_rows_within_a_file_are_an_error(tmp_path, home):
    rows = quarter_hours(home.premise.meter_id, yesterday(), 2)
    rows.append((rows[0][0], rows[0][1], 900, 999))
    with pytest.raises(CommandError):
        call_command("import_ami", ami_file(tmp_path, rows), stdout=io.StringIO(), stderr=io.StringIO())

    assert not PremiseRead.objects.exists()


def test_it_queues_the_sessions_it_covers_for_correlation(tmp_path, home, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # keep the queue row visible: no worker drains it here
    start = yesterday()
    inside = home.session(start + dt.timedelta(hours=1), start + dt.timedelta(hours=2))
    home.session(start + dt.timedelta(hours=20), start + dt.timedelta(hours=21))  # after the file's span
    run(ami_file(tmp_path, quarter_hours(home.premise.meter_id, start, 16)))

    assert set(CorrelationDue.objects.values_list("binding_id", flat=True)) == {inside.pk}


def test_new_intervals_among_stored_ones_are_stored(tmp_path, home):
    """A file that fills the gaps of an earlier one: its new intervals are new reads, not revisions."""
    every_other = quarter_hours(home.premise.meter_id, yesterday(), 8)[::2]
    run(ami_file(tmp_path, every_other, "first.csv"))
    out, _ = run(ami_file(tmp_path, quarter_hours(home.premise.meter_id, yesterday(), 8), "all.csv"))

    assert "accepted: 4; duplicates: 4; conflicting: 0" in out
    assert PremiseRead.objects.count() == 8
    assert not ReadRevision.objects.exists()


def test_rows_of_another_length_over_the_same_time_are_an_error(tmp_path, home):
    start = yesterday()
    rows = [
        (home.premise.meter_id, stamp(start), 900, 400),
        (home.premise.meter_id, stamp(start + dt.timedelta(minutes=5)), 300, 100),
    ]
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_ami", ami_file(tmp_path, rows), stdout=io.StringIO(), stderr=err)

    assert "line 3: interval_start: overlaps line 2" in err.getvalue()
    assert not PremiseRead.objects.exists()
