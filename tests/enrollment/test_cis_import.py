"""`import_cis`: upsert by account number and premise ID, all-or-nothing, specific errors (Req 4; BR.1)."""

import io

import pytest
from django.core.management import CommandError, call_command

from enrollment.models import Customer, Premise, UtilityAccount
from pevportal.models import AuditRecord, ImportRun
from tests.factories import PremiseFactory, TariffFactory

HEADER = (
    "account_number,customer_name,email,phone,premise_id,service_address,postal_code,meter_id,feeder_id,"
    "default_tariff_code\n"
)
ALICE = "7001000001,Alice Nguyen,alice@example.com,(626) 555-0101"
BOB = '7001000002,"Bob Ortiz, Jr.",bob@example.com,+1 909 555 0102'
ROWS = [
    f"{ALICE},P1000001,12 Orange Grove Ave,91105,M5000001,FDR-1,TOU-D-4-9PM",
    f"{ALICE},P1000002,14 Orange Grove Ave,91105,M5000002,FDR-1,TOU-D-4-9PM",
    f'{BOB},P1000003,"9 Elm St, Apt 2",91711-1234,M5000003,FDR-2,TOU-D-4-9PM',
]


@pytest.fixture
def tariff(db):
    return TariffFactory(code="TOU-D-4-9PM", name="Time-of-Use 4-9 PM")


def write(tmp_path, body: str, name: str = "cis.csv"):
    path = tmp_path / name
    path.write_bytes(body.encode("utf-8") if isinstance(body, str) else body)
    return path


def run(path, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_cis", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(path, *args):
    err = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("import_cis", str(path), *args, stdout=io.StringIO(), stderr=err)
    assert excinfo.value.returncode == 1
    return err.getvalue()


def test_it_imports_customers_accounts_and_premises(tmp_path, tariff):
    out, _ = run(write(tmp_path, HEADER + "\n".join(ROWS) + "\n"))

    assert "customers: 2 created" in out
    assert "accounts: 2 created" in out
    assert "premises: 3 created" in out
    bob_premise = Premise.objects.select_related("account__customer").get(premise_id="P1000003")
    assert bob_premise.account.customer.name == "Bob Ortiz, Jr."
    assert bob_premise.account.customer.phone == "9095550102"
    assert bob_premise.service_address == "9 Elm St, Apt 2"
    assert bob_premise.postal_code == "91711-1234"
    assert bob_premise.default_tariff == tariff
    assert UtilityAccount.objects.get(number="7001000001").premises.count() == 2


def test_it_writes_one_audit_record_per_created_row(tmp_path, tariff):
    run(write(tmp_path, HEADER + "\n".join(ROWS) + "\n"))

    actions = sorted(AuditRecord.objects.values_list("action", flat=True))
    assert actions.count("premise.created") == 3
    assert actions.count("customer.created") == 2
    record = AuditRecord.objects.get(
        action="premise.created", target_id=str(Premise.objects.get(premise_id="P1000001").pk)
    )
    assert record.channel == "import"
    assert record.after["meter_id"] == "M5000001"


def test_it_leaves_the_database_unchanged_on_an_identical_reimport(tmp_path, tariff):
    path = write(tmp_path, HEADER + "\n".join(ROWS) + "\n")
    run(path)
    counts = (AuditRecord.objects.count(), ImportRun.objects.count(), Premise.objects.count())

    out, _ = run(path)

    assert "no changes" in out
    assert (AuditRecord.objects.count(), ImportRun.objects.count(), Premise.objects.count()) == counts


def test_it_updates_changed_rows_and_audits_before_and_after(tmp_path, tariff):
    run(write(tmp_path, HEADER + "\n".join(ROWS) + "\n"))
    moved = ROWS[2].replace("FDR-2", "FDR-9")

    out, _ = run(write(tmp_path, HEADER + moved + "\n", "cis2.csv"))

    assert "premises: 0 created, 1 updated" in out
    assert Premise.objects.get(premise_id="P1000003").feeder_id == "FDR-9"
    record = AuditRecord.objects.get(action="premise.updated")
    assert record.before == {"feeder_id": "FDR-2"}
    assert record.after == {"feeder_id": "FDR-9"}


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            ROWS[0].replace("alice@example.com", "alice-at-example"),
            "line 2: email: Enter a valid email address.",
        ),
        (
            ROWS[0].replace("(626) 555-0101", "555-0101"),
            "line 2: phone: must be a 10-digit North American number",
        ),
        (ROWS[0].replace("91105", "9110"), "line 2: postal_code: Use a 5-digit ZIP code"),
        (ROWS[0].replace("TOU-D-4-9PM", "NOPE"), "line 2: default_tariff_code: no tariff with code 'NOPE'"),
        (ROWS[0].replace("Alice Nguyen", ""), "line 2: customer_name: is required"),
        (ROWS[0].replace("P1000001", "P 1"), "line 2: premise_id: Use letters, digits"),
        (ROWS[0] + ",extra", "line 2: (row): has 11 fields, the header has 10"),
    ],
)
def test_it_reports_a_bad_row_and_imports_nothing(tmp_path, tariff, row, expected):
    err = run_failing(write(tmp_path, HEADER + row + "\n" + ROWS[2] + "\n"))

    assert expected in err
    assert not Premise.objects.exists()
    assert not Customer.objects.exists()
    assert not AuditRecord.objects.exists()
    assert not ImportRun.objects.exists()


def test_it_counts_lines_from_the_header_across_multiline_fields(tmp_path, tariff):
    multiline = ROWS[0].replace("12 Orange Grove Ave", '"12 Orange Grove Ave\nUnit B"')
    bad = ROWS[2].replace("91711-1234", "ABCDE")

    err = run_failing(write(tmp_path, HEADER + multiline + "\n" + bad + "\n"))

    assert "line 4: postal_code:" in err


def test_it_rejects_rows_that_contradict_each_other(tmp_path, tariff):
    duplicate_premise = ROWS[1].replace("P1000002", "P1000001").replace("M5000002", "M5000009")
    other_name = ROWS[1].replace("Alice Nguyen", "Alicia Nguyen")

    err = run_failing(write(tmp_path, HEADER + "\n".join([ROWS[0], duplicate_premise, other_name]) + "\n"))

    assert "line 3: premise_id: P1000001 already appears on line 2" in err
    assert "line 4: customer_id: A-7001000001 has a different name, email or phone than on line 2" in err


def test_it_refuses_a_meter_installed_at_another_premise(tmp_path, tariff):
    PremiseFactory(premise_id="P9999999", meter_id="M5000001", default_tariff=tariff)

    err = run_failing(write(tmp_path, HEADER + ROWS[0] + "\n"))

    assert "line 2: meter_id: M5000001 is installed at premise P9999999" in err


def test_it_imports_the_good_rows_with_skip_bad(tmp_path, tariff):
    bad = ROWS[1].replace("91105", "ZIP")

    out, err = run(write(tmp_path, HEADER + "\n".join([ROWS[0], bad, ROWS[2]]) + "\n"), "--skip-bad")

    assert "line 3: postal_code:" in err
    assert "rows rejected: 1" in out
    assert set(Premise.objects.values_list("premise_id", flat=True)) == {"P1000001", "P1000003"}
    assert ImportRun.objects.get().rows_rejected == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "line 1: (header): the file is empty"),
        (b"account_number,customer_name\n1,x\n", "line 1: (header): missing required columns: email, phone"),
        (
            HEADER.encode() + ROWS[0].encode().replace(b"Nguyen", b"Nguy\xe9n") + b"\n",
            "line 2: (file): not valid UTF-8",
        ),
    ],
)
def test_it_rejects_an_unreadable_file(tmp_path, tariff, body, expected):
    err = run_failing(write(tmp_path, body))

    assert expected in err
    assert not Premise.objects.exists()


def test_it_accepts_a_byte_order_mark_and_crlf_line_ends(tmp_path, tariff):
    body = "\ufeff" + HEADER.replace("\n", "\r\n") + "\r\n".join(ROWS) + "\r\n"

    run(write(tmp_path, body))

    assert Premise.objects.count() == 3


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (HEADER.replace("email", "phone") + ROWS[0] + "\n", "line 1: (header): duplicate columns: phone"),
        (HEADER + ROWS[0] + '\n7001000002,"Bob "Ortiz,x\n', "line 3: (row): malformed CSV"),
    ],
)
def test_it_rejects_a_malformed_file(tmp_path, tariff, body, expected):
    err = run_failing(write(tmp_path, body))

    assert expected in err
    assert not Premise.objects.exists()


def test_it_counts_rows_by_what_changed_in_the_run(tmp_path, tariff):
    run(write(tmp_path, HEADER + "\n".join(ROWS) + "\n"))
    renamed = [row.replace("alice@example.com", "alice@new.example") for row in ROWS[:2]]

    run(write(tmp_path, HEADER + "\n".join([*renamed, ROWS[2]]) + "\n", "cis2.csv"))

    second = ImportRun.objects.get(filename="cis2.csv")
    assert (second.rows_created, second.rows_updated, second.rows_unchanged) == (0, 2, 1)
