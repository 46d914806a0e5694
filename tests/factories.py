"""factory_boy factories for the registry. Tariffs with real prices come from data/tariffs (importer)."""

import datetime as dt

import factory

from billing.models import Tariff
from enrollment.models import Customer, Enrollment, Pev, PevProgram, Premise, ServicePlan, UtilityAccount
from enrollment.vin import check_digit


def north_american_vin(serial: int) -> str:
    """A valid VIN with the given serial number (positions 12–17) and a correct check digit."""
    vin = f"1HGCM826?3A{serial % 1_000_000:06d}"
    return vin.replace("?", check_digit(vin.replace("?", "0")))


class TariffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tariff
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"TEST-{n}")
    name = factory.LazyAttribute(lambda o: f"Test tariff {o.code}")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    cis_id = factory.Sequence(lambda n: f"C{n:07d}")
    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    phone = factory.Sequence(lambda n: f"626555{n % 10000:04d}")


class UtilityAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UtilityAccount

    number = factory.Sequence(lambda n: f"7000{n:06d}")
    customer = factory.SubFactory(CustomerFactory)


class PremiseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Premise

    premise_id = factory.Sequence(lambda n: f"P{n:08d}")
    account = factory.SubFactory(UtilityAccountFactory)
    service_address = factory.Sequence(lambda n: f"{100 + n} Orange Grove Ave, Pasadena CA")
    postal_code = "91105"
    meter_id = factory.Sequence(lambda n: f"M{n:08d}")
    feeder_id = "FDR-101"
    default_tariff = factory.SubFactory(TariffFactory, code="DEFAULT")


class PevProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PevProgram

    code = factory.Sequence(lambda n: f"program-{n}")
    name = factory.Sequence(lambda n: f"EV Program {n}")
    summary = "Lower prices for charging overnight."


class ServicePlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ServicePlan

    program = factory.SubFactory(PevProgramFactory)
    code = factory.Sequence(lambda n: f"plan-{n}")
    name = factory.Sequence(lambda n: f"Plan {n}")
    summary = "Charge overnight."
    tariff = factory.SubFactory(TariffFactory, code="EV-TOU")


class PevFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pev

    vin = factory.Sequence(lambda n: north_american_vin(n))


class EnrollmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enrollment

    pev = factory.SubFactory(PevFactory)
    premise = factory.SubFactory(PremiseFactory)
    account = factory.LazyAttribute(lambda o: o.premise.account)
    plan = factory.SubFactory(ServicePlanFactory)
    channel = "web"
    effective_from = factory.LazyFunction(lambda: dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
