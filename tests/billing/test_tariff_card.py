"""The public tariff card: an accessible week grid and price table per season, charges, holidays, source."""

import datetime as dt
import re

import pytest
from django.template.loader import render_to_string

from billing.models import Tariff
from billing.presentation import month_range_label, tariff_card, tariff_cards
from billing.tariffs import import_tariff_file


@pytest.fixture
def card_html(prime):
    return render_to_string("billing/_tariff_card.html", {"card": tariff_card(prime, on=dt.date(2026, 7, 1))})


def test_it_builds_a_week_grid_per_season(prime):
    card = tariff_card(prime, on=dt.date(2026, 7, 1))

    summer = next(season for season in card["seasons"] if season.name == "Summer")
    assert summer.months_label == "June to September"
    assert [row.hours_label for row in summer.rows] == [
        "midnight to 4 p.m.",
        "4 p.m. to 9 p.m.",
        "9 p.m. to midnight",
    ]
    evening = summer.rows[1]
    assert (evening.weekday.period_label, evening.weekday.css_class) == ("Summer On-Peak", "period-on-peak")
    assert (evening.weekend.period_label, evening.weekend.css_class) == ("Summer Mid-Peak", "period-mid-peak")
    assert [price.period_label for price in summer.prices] == [
        "Summer On-Peak",
        "Summer Mid-Peak",
        "Summer Off-Peak",
    ]


def test_it_renders_accessible_tables_with_labels_in_every_cell(card_html):
    assert (
        "<caption>Summer: time-of-use periods by local time of day, weekdays and weekends/holidays</caption>"
        in card_html
    )
    assert '<th scope="row">4 p.m. to 9 p.m.</th>' in card_html
    assert '<td class="period period-on-peak" lang="en">Summer On-Peak</td>' in card_html
    assert '<td class="period period-super-off-peak" lang="en">Winter Super Off-Peak</td>' in card_html
    assert "$0.59910" in card_html  # July 2026: sheet 91200-E summer on-peak 0.59291 + FRC 0.00619
    assert "style=" not in card_html
    assert "<script" not in card_html


def test_it_shows_charges_holidays_and_the_source(card_html):
    assert "$0.794 per day" in card_html
    assert "Saturday, July 4" in card_html
    assert "Martin Luther King" not in card_html
    assert "Holidays in 2026" in card_html
    assert (
        'href="https://www.sce.com/regulatory/regulatory-information/tariff-books/rates-pricing-choices"'
        in (card_html)
    )
    assert "SCE Schedule TOU-D, Option PRIME (Cal. PUC Sheet 91200-E, Advice 5829-E)" in card_html


def test_it_shows_the_version_in_force_on_the_date(prime):
    html = render_to_string(
        "billing/_tariff_card.html", {"card": tariff_card(prime, on=dt.date(2026, 3, 15))}
    )

    assert "Rates in force from January 1, 2026 until June 1, 2026" in html
    assert "$0.59844" in html  # sheet 90941-E summer on-peak 0.59225 + FRC 0.00619
    assert "$0.59910" not in html
    assert "Cal. PUC Sheet 90941-E, Advice 5725-E" in html
    assert "historical-rate-schedules-for-2026" in html


def charge_row(html: str, name: str) -> str:
    # A credit's name is English tariff data (lang="en"); the fixed rows are translated.
    match = re.search(rf'<th scope="row"(?: lang="en")?>{name}</th>\s*<td>(.*?)</td>', html)
    assert match, name
    return match.group(1)


def test_it_shows_the_baseline_credit_and_no_minimum_charge_of_the_default_rate(default_rate):
    html = render_to_string(
        "billing/_tariff_card.html", {"card": tariff_card(default_rate, on=dt.date(2026, 7, 1))}
    )
    assert charge_row(html, "Baseline credit") == "$0.10099 per kWh up to your baseline allocation"
    assert charge_row(html, "Minimum charge") == "None"
    assert charge_row(html, "Fixed charge") == "$0.794 per day"


@pytest.mark.django_db
def test_it_shows_a_minimum_charge(write_json, record):
    record.update(mincharge=0.35, minchargeunits="$/day")
    import_tariff_file(write_json(record))
    tariff = Tariff.objects.get(code="TEST-TOU")

    html = render_to_string(
        "billing/_tariff_card.html", {"card": tariff_card(tariff, on=dt.date(2025, 7, 1))}
    )

    assert charge_row(html, "Minimum charge") == "$0.35 per day"


def test_it_has_no_card_before_the_first_version(prime):
    assert tariff_card(prime, on=dt.date(2020, 1, 1)) is None
    assert "not available" in render_to_string("billing/_tariff_card.html", {"card": None})


def test_it_builds_a_card_in_six_queries_and_renders_it_without_more(prime, django_assert_num_queries):
    tariff = Tariff.objects.get(pk=prime.pk)  # nothing cached on the instance
    with django_assert_num_queries(6):
        card = tariff_card(tariff, on=dt.date(2026, 7, 1))
    with django_assert_num_queries(0):
        render_to_string("billing/_tariff_card.html", {"card": card})


def test_it_builds_the_cards_of_several_tariffs_in_the_same_six_queries(
    prime, default_rate, django_assert_num_queries
):
    cis_only = Tariff.objects.create(code="CIS-ONLY", name="Named by the CIS, no rate sheet yet")
    tariffs = [*Tariff.objects.exclude(pk=cis_only.pk).order_by("code"), cis_only]

    with django_assert_num_queries(6):
        cards = tariff_cards(tariffs, on=dt.date(2026, 7, 1))
    with django_assert_num_queries(0):
        html = [render_to_string("billing/_tariff_card.html", {"card": card}) for card in cards]

    assert [card["tariff"].code if card else None for card in cards] == [
        "SCE-TOU-D-4-9PM",
        "SCE-TOU-D-PRIME",
        None,
    ]
    assert "Southern California Edison Co" in html[0]
    assert "$0.59910" in html[1]
    assert "not available" in html[2]


def test_it_shows_the_ev_submeter_credit_only_as_a_submetered_charging_credit(card_html, default_rate):
    assert charge_row(card_html, "EV Submeter Credit") == (
        "$0.152 per day when your vehicle's charging is measured by a submeter"
    )
    default_html = render_to_string(
        "billing/_tariff_card.html", {"card": tariff_card(default_rate, on=dt.date(2026, 7, 1))}
    )
    assert "EV Submeter Credit" not in default_html


def test_it_shows_holidays_by_the_names_on_the_rate_sheet(prime):
    html = render_to_string(
        "billing/_tariff_card.html", {"card": tariff_card(prime, on=dt.date(2026, 3, 15))}
    )

    assert '<th scope="row">Monday, February 16</th><td lang="en">Presidents&#x27; Day</td>' in html
    assert "Washington" not in html


def test_it_names_a_season_whose_months_wrap_around_the_year():
    assert month_range_label([11, 12, 1, 2, 3]) == "January to March, November to December"
    assert month_range_label([7]) == "July"
