"""`import_enrollments`: the wizard's validation for every row, all-or-nothing, set-based, idempotent
(Req 3, 4; BR.1)."""

import datetime as dt
import io
import zoneinfo

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import Tariff
from enrollment.enrolling import (
    COMMISSIONING_WINDOW,
    ENROLLMENT_AUDIT_FIELDS,
    EnrollmentRequest,
    check_enrollment,
    enroll,
)
from enrollment.enrollment_import import parse_enrollment_file
from enrollment.models import (
    CommissioningWindow,
    Enrollment,
    GuestCharging,
    Pev,
    PlanAssignment,
    Premise,
    ServicePlan,
    UtilityAccount,
)
from pevportal.models import AuditRecord, ImportRun
from tests.factories import (
    EnrollmentFactory,
    PevFactory,
    PevProgramFactory,
    PremiseFactory,
    ServicePlanFactory,
    north_american_vin,
)

HEADER = (
    "account_number,premise_id,vin,program_code,plan_code,guest_charging,allow_roaming,guest_vins,"
    "effective_date\n"
)
LOS_ANGELES = zoneinfo.ZoneInfo("America/Los_Angeles")
ALICE_VIN, ALICE_SECOND_VIN, BOB_VIN = (north_american_vin(n) for n in (4352, 4353, 7001))
GUEST_VIN = "1M8GDM9AXKP042788"


def local_today() -> dt.date:
    return timezone.now().astimezone(LOS_ANGELES).date()


A_MONTH_AGO = local_today() - dt.timedelta(days=30)
ROWS = [
    f"7001000001,P1000001,{ALICE_VIN},ev-home,ev-prime,host,yes,{GUEST_VIN.lower()},{A_MONTH_AGO}",
    f"7001000001,P1000002,{ALICE_SECOND_VIN},ev-home,ev-standard,declined,no,,",
    f"7002000001,P2000001,{BOB_VIN},ev-home,ev-standard,guest,1,,",
]


@pytest.fixture
def registry(sce_programs):
    """Alice has two homes on one account, Bob one, Charlie one on a tariff EV Prime is not offered for."""
    four_to_nine = Tariff.objects.get(code="SCE-TOU-D-4-9PM")
    alice_home = PremiseFactory(
        premise_id="P1000001", account__number="7001000001", default_tariff=four_to_nine
    )
    PremiseFactory(premise_id="P1000002", account=alice_home.account, default_tariff=four_to_nine)
    PremiseFactory(premise_id="P2000001", account__number="7002000001", default_tariff=four_to_nine)
    PremiseFactory(
        premise_id="P3000001",
        account__number="7003000001",
        default_tariff=Tariff.objects.get(code="SCE-TOU-D-PRIME"),
    )
    ServicePlanFactory(code="fleet-flat", program=PevProgramFactory(code="ev-fleet"))


def write(tmp_path, body: str, name: str = "enrollments.csv"):
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def file_of(tmp_path, *rows: str, name: str = "enrollments.csv"):
    return write(tmp_path, HEADER + "".join(f"{row}\n" for row in rows), name)


def run(path, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_enrollments", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(path, *args):
    """What the operator reads on stderr: one line per error, then the command's verdict."""
    err = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("import_enrollments", str(path), *args, stdout=io.StringIO(), stderr=err)
    assert excinfo.value.returncode == 1
    return f"{err.getvalue()}{excinfo.value}\n"


def assert_nothing_imported():
    assert not Enrollment.objects.filter(channel="import").exists()
    assert not Pev.objects.filter(vin__in=[ALICE_VIN, ALICE_SECOND_VIN, BOB_VIN]).exists()
    assert not PlanAssignment.objects.exists()
    assert not CommissioningWindow.objects.exists()
    assert not AuditRecord.objects.filter(action="enrollment.created", channel="import").exists()
    assert not ImportRun.objects.filter(kind="enrollments").exists()


def test_it_enrolls_every_row_of_a_good_file(tmp_path, registry):
    out, _ = run(file_of(tmp_path, *ROWS))

    assert "enrollments: 3 created; vehicles: 3 new in the registry" in out
    alice = Enrollment.objects.select_related("pev", "premise", "plan", "account").get(pev__vin=ALICE_VIN)
    assert (alice.account.number, alice.premise.premise_id, alice.plan.code) == (
        "7001000001",
        "P1000001",
        "ev-prime",
    )
    assert (alice.status, alice.channel) == (Enrollment.Status.PENDING_COMMISSIONING, "import")
    assert (alice.guest_charging, alice.guest_vins, alice.allow_roaming) == ("host", [GUEST_VIN], True)
    assert (alice.pev.make, alice.pev.year) == ("Honda", 2003)
    bob = Enrollment.objects.get(pev__vin=BOB_VIN)
    assert (bob.guest_charging, bob.allow_roaming, bob.plan.code) == ("guest", True, "ev-standard")
    assert Enrollment.objects.get(pev__vin=ALICE_SECOND_VIN).allow_roaming is False


def test_it_starts_an_enrollment_at_local_midnight_of_its_effective_date(tmp_path, registry):
    run(file_of(tmp_path, *ROWS))

    alice = Enrollment.objects.get(pev__vin=ALICE_VIN)
    midnight = dt.datetime.combine(A_MONTH_AGO, dt.time(), tzinfo=LOS_ANGELES)
    assert alice.effective_from == midnight
    assert alice.effective_from.utcoffset() == dt.timedelta(0)
    assert timezone.now() - Enrollment.objects.get(pev__vin=BOB_VIN).effective_from < dt.timedelta(minutes=1)


def test_it_gives_each_enrollment_its_plan_assignment_and_commissioning_window(tmp_path, registry):
    delivery = local_today() + dt.timedelta(days=10)
    later = ROWS[2] + f"{delivery}"

    run(file_of(tmp_path, ROWS[0], ROWS[1], later))

    now = timezone.now()
    alice = Enrollment.objects.get(pev__vin=ALICE_VIN)
    assert alice.plan_on(now).code == "ev-prime"
    assert alice.plan_assignments.get().effective_from == alice.effective_from
    # A past start still leaves a whole window from today to plug in at home.
    window = alice.commissioning_window(now)
    assert window.closes_at - window.opens_at == COMMISSIONING_WINDOW
    assert now - window.opens_at < dt.timedelta(minutes=1)
    # A car delivered later gets its window from its start.
    bob = Enrollment.objects.get(pev__vin=BOB_VIN)
    assert bob.commissioning_window(now) is None
    assert bob.commissioning_windows.get().opens_at == bob.effective_from
    assert CommissioningWindow.objects.count() == PlanAssignment.objects.count() == 3


def test_it_writes_one_audit_record_per_enrollment(tmp_path, registry):
    run(file_of(tmp_path, *ROWS))

    records = AuditRecord.objects.filter(action="enrollment.created")
    assert records.count() == 3
    alice = Enrollment.objects.get(pev__vin=ALICE_VIN)
    record = records.get(target_id=str(alice.pk))
    assert (record.channel, record.actor, record.actor_label) == ("import", None, "import_enrollments")
    assert set(record.after) == set(ENROLLMENT_AUDIT_FIELDS)
    assert record.after["pev"] == alice.pev_id
    assert record.after["guest_vins"] == [GUEST_VIN]
    assert record.context["line"] == 2


def test_it_sends_no_confirmation_email(tmp_path, registry, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run(file_of(tmp_path, *ROWS))

    assert mail.outbox == []


def test_it_leaves_the_database_unchanged_on_an_identical_reimport(tmp_path, registry):
    path = file_of(tmp_path, *ROWS)
    run(path)
    counts = (Enrollment.objects.count(), AuditRecord.objects.count(), ImportRun.objects.count())

    out, err = run(path)

    assert "no changes" in out
    assert err == ""
    assert (Enrollment.objects.count(), AuditRecord.objects.count(), ImportRun.objects.count()) == counts


def test_it_counts_a_vin_enrolled_with_the_same_choices_as_unchanged(tmp_path, registry, alice):
    home = Premise.objects.get(premise_id="P1000001")
    enroll(
        EnrollmentRequest(
            account=home.account,
            premise=home,
            vin=ALICE_VIN,
            plan=ServicePlan.objects.get(code="ev-prime"),
            guest_charging=GuestCharging.HOST,
            guest_vins=[GUEST_VIN],
            allow_roaming=True,
        ),
        channel="web",
        actor=alice,
    )

    out, _ = run(file_of(tmp_path, *ROWS))

    assert "enrollments: 2 created" in out
    assert "rows unchanged: 1" in out
    assert Enrollment.objects.get(pev__vin=ALICE_VIN).channel == "web"


def test_it_enrolls_a_vin_again_once_its_enrollment_ended(tmp_path, registry):
    EnrollmentFactory(pev=PevFactory(vin=ALICE_VIN), status=Enrollment.Status.ENDED)

    out, _ = run(file_of(tmp_path, *ROWS))

    assert "vehicles: 2 new in the registry" in out
    assert Enrollment.objects.current().get(pev__vin=ALICE_VIN).premise.premise_id == "P1000001"


def _bad(replace: str, by: str, row: int = 0) -> str:
    assert replace in ROWS[row]
    return ROWS[row].replace(replace, by, 1)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (_bad(ALICE_VIN, ALICE_VIN[:16]), "line 2: vin: A VIN has 17 characters; this one has 16."),
        (
            _bad(ALICE_VIN, ALICE_VIN[:5] + "O" + ALICE_VIN[6:]),
            "line 2: vin: A VIN never contains the letters I, O",
        ),
        (_bad(ALICE_VIN, ALICE_VIN[:8] + "X" + ALICE_VIN[9:]), "line 2: vin: This VIN's check digit"),
        (_bad(",P1000001,", ",,"), "line 2: premise_id: is required"),
        (_bad("7001000001", "7009999999"), "line 2: account_number: no account with number '7009999999'"),
        (_bad("P1000001", "P9999999"), "line 2: premise_id: no premise with ID 'P9999999'"),
        (_bad("P1000001", "P2000001"), "line 2: premise_id: This premise is not on the account."),
        (_bad("ev-home", "ev-away"), "line 2: program_code: no programme with code 'ev-away'"),
        (_bad("ev-prime", "ev-gold"), "line 2: plan_code: no plan with code 'ev-gold'"),
        (_bad("ev-prime", "fleet-flat"), "line 2: plan_code: plan fleet-flat belongs to programme ev-fleet"),
        (
            _bad("7002000001,P2000001", "7003000001,P3000001", row=2).replace("ev-standard", "ev-prime"),
            "line 2: plan_code: This plan is not offered at this premise.",
        ),
        (_bad("host", "everyone"), "line 2: guest_charging: Choose how guests are treated."),
        (_bad(",yes,", ",maybe,"), "line 2: allow_roaming: must be true or false"),
        (_bad(str(A_MONTH_AGO), "03/01/2026"), "line 2: effective_date: must be a date as YYYY-MM-DD"),
        (_bad(str(A_MONTH_AGO), "2026-02-30"), "line 2: effective_date: must be a date as YYYY-MM-DD"),
        (
            _bad(str(A_MONTH_AGO), str(local_today() - dt.timedelta(days=366))),
            "line 2: effective_date: is more than 365 days ago",
        ),
        (
            _bad(str(A_MONTH_AGO), str(local_today() + dt.timedelta(days=91))),
            "line 2: effective_date: is more than 90 days ahead",
        ),
        (
            _bad(",host,", ",declined,"),
            "line 2: guest_vins: A guest list applies only when guests may charge",
        ),
        (_bad(GUEST_VIN.lower(), "NOTAVIN"), "line 2: guest_vins: NOTAVIN: A VIN has 17 characters"),
        (
            _bad(GUEST_VIN.lower(), ALICE_VIN),
            f"line 2: guest_vins: {ALICE_VIN} is the vehicle being enrolled",
        ),
        (ROWS[0] + ",extra", "line 2: (row): has 10 fields, the header has 9"),
    ],
)
def test_it_reports_a_bad_row_and_imports_nothing(tmp_path, registry, row, expected):
    err = run_failing(file_of(tmp_path, row, ROWS[1]))

    assert expected in err
    assert "1 bad row(s); nothing imported" in err
    assert_nothing_imported()


def test_it_rejects_a_vin_that_appears_twice_in_the_file(tmp_path, registry):
    twice = ROWS[2].replace(BOB_VIN, ALICE_VIN.lower())

    err = run_failing(file_of(tmp_path, ROWS[0], twice))

    assert f"line 3: vin: {ALICE_VIN} already appears on line 2" in err
    assert_nothing_imported()


def test_it_rejects_a_vin_enrolled_elsewhere(tmp_path, registry):
    EnrollmentFactory(pev=PevFactory(vin=ALICE_VIN))

    err = run_failing(file_of(tmp_path, *ROWS))

    assert "line 2: vin: This vehicle is already enrolled." in err
    assert not Enrollment.objects.filter(channel="import").exists()


def test_it_rejects_a_vin_enrolled_at_the_same_premise_with_other_choices(tmp_path, registry):
    home = Premise.objects.get(premise_id="P1000001")
    EnrollmentFactory(
        pev=PevFactory(vin=ALICE_VIN), premise=home, plan=ServicePlan.objects.get(code="ev-standard")
    )

    err = run_failing(file_of(tmp_path, *ROWS))

    assert "line 2: vin: This vehicle is already enrolled." in err


def test_it_reports_every_problem_of_a_row_at_once(tmp_path, registry):
    row = _bad("P1000001", "P2000001").replace(",host,", ",everyone,").replace(",yes,", ",sometimes,")

    err = run_failing(file_of(tmp_path, row))

    assert "line 2: premise_id: This premise is not on the account." in err
    assert "line 2: guest_charging:" in err
    assert "line 2: allow_roaming:" in err


@pytest.mark.parametrize(
    ("change", "field", "column"),
    [
        ({"premise": "P2000001"}, "premise", "premise_id"),
        ({"premise": "P3000001", "account": "7003000001"}, "plan", "plan_code"),
        ({"vin": ALICE_VIN[:8] + "X" + ALICE_VIN[9:]}, "vin", "vin"),
        ({"guest_charging": "everyone"}, "guest_charging", "guest_charging"),
        ({"guest_charging": "declined"}, "guest_vins", "guest_vins"),
        ({"enrolled": True}, "vin", "vin"),
    ],
)
def test_its_messages_are_the_wizards(tmp_path, registry, change, field, column):
    if change.pop("enrolled", False):
        EnrollmentFactory(pev=PevFactory(vin=ALICE_VIN))
    values = {
        "account": "7001000001",
        "premise": "P1000001",
        "vin": ALICE_VIN,
        "plan": "ev-prime",
        "guest_charging": "host",
        **change,
    }
    premise = Premise.objects.get(premise_id=values["premise"])
    with pytest.raises(ValidationError) as excinfo:
        check_enrollment(
            EnrollmentRequest(
                account=UtilityAccount.objects.get(number=values["account"]),
                premise=premise,
                vin=values["vin"],
                plan=ServicePlan.objects.get(code=values["plan"]),
                guest_charging=values["guest_charging"],
                guest_vins=[GUEST_VIN],
            )
        )
    wizard = " ".join(excinfo.value.message_dict[field])
    row = (
        f"{values['account']},{values['premise']},{values['vin']},ev-home,{values['plan']},"
        f"{values['guest_charging']},no,{GUEST_VIN},"
    )

    err = run_failing(file_of(tmp_path, row))

    assert f"line 2: {column}: {wizard}" in err


def test_it_imports_the_good_rows_with_skip_bad(tmp_path, registry):
    bad = _bad(",yes,", ",perhaps,")

    out, err = run(file_of(tmp_path, bad, ROWS[1], ROWS[2]), "--skip-bad")

    assert "line 2: allow_roaming:" in err
    assert "enrollments: 2 created" in out
    assert "rows rejected: 1" in out
    assert set(Enrollment.objects.values_list("pev__vin", flat=True)) == {ALICE_SECOND_VIN, BOB_VIN}
    run_ = ImportRun.objects.get(kind="enrollments")
    assert (run_.kind, run_.rows_total, run_.rows_created, run_.rows_rejected) == ("enrollments", 3, 2, 1)


def test_it_imports_nothing_when_a_csr_enrolls_a_vin_of_the_file_meanwhile(
    tmp_path, registry, carol_csr, monkeypatch
):
    from enrollment.management.commands import import_enrollments

    def parse_then_csr_enrolls(path, progress):
        parsed = parse_enrollment_file(path, progress)
        bobs_home = Premise.objects.get(premise_id="P2000001")
        enroll(
            EnrollmentRequest(
                account=bobs_home.account,
                premise=bobs_home,
                vin=BOB_VIN,
                plan=ServicePlan.objects.get(code="ev-standard"),
            ),
            channel="phone",
            actor=carol_csr,
        )
        return parsed

    monkeypatch.setattr(import_enrollments, "parse_enrollment_file", parse_then_csr_enrolls)

    err = run_failing(file_of(tmp_path, *ROWS))

    assert f"line 4: vin: {BOB_VIN} was enrolled by someone else while this import ran" in err
    assert "nothing imported (run it again)" in err
    assert Enrollment.objects.get().channel == "phone"
    assert not Pev.objects.filter(vin=ALICE_VIN).exists()
    assert not AuditRecord.objects.filter(actor_label="import_enrollments").exists()
    assert not ImportRun.objects.filter(kind="enrollments").exists()


def test_it_reads_and_writes_in_the_same_number_of_queries_for_any_number_of_rows(tmp_path, registry):
    def queries_for(serials: range, name: str) -> int:
        rows = [
            f"7002000001,P2000001,{north_american_vin(n)},ev-home,ev-standard,host,no,{GUEST_VIN},"
            for n in serials
        ]
        ContentType.objects.clear_cache()
        with CaptureQueriesContext(connection) as queries:
            run(file_of(tmp_path, *rows, name=name))
        return len(queries)

    assert queries_for(range(10, 13), "three.csv") == queries_for(range(100, 160), "sixty.csv")
    assert Enrollment.objects.count() == 63


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", "line 1: (header): the file is empty"),
        (
            "account_number,premise_id,vin\n1,2,3\n",
            "line 1: (header): missing required columns: program_code",
        ),
    ],
)
def test_it_rejects_an_unreadable_file(tmp_path, registry, body, expected):
    err = run_failing(write(tmp_path, body))

    assert expected in err
    assert_nothing_imported()
