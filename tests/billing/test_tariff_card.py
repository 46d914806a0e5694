"""The public tariff card: an accessible week grid and price table per season, charges, holidays, source."""

import datetime as dt

import pytest
from django.template.loader import render_to_string

from billing.presentation import tariff_card


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
    assert '<td class="period period-on-peak">Summer On-Peak</td>' in card_html
    assert '<td class="period period-super-off-peak">Winter Super Off-Peak</td>' in card_html
    assert "$0.59225" in card_html
    assert "style=" not in card_html
    assert "<script" not in card_html


def test_it_shows_charges_holidays_and_the_source(card_html):
    assert "$0.794 per day" in card_html
    assert "Saturday, July 4" in card_html
    assert "Martin Luther King" not in card_html
    assert "Holidays in 2026" in card_html
    assert (
        'href="https://www.sce.com/save-money/rates-financing/residential-rate-plans/time-of-use-plans"'
        in card_html
    )


def test_it_shows_the_baseline_credit_and_minimum_charge_of_the_default_rate(default_rate):
    html = render_to_string(
        "billing/_tariff_card.html", {"card": tariff_card(default_rate, on=dt.date(2026, 7, 1))}
    )
    assert "$0.10108 per kWh up to your baseline allocation" in html
    assert "$0.35 per day" in html


def test_it_has_no_card_before_the_first_version(prime):
    assert tariff_card(prime, on=dt.date(2020, 1, 1)) is None
    assert "not available" in render_to_string("billing/_tariff_card.html", {"card": None})


def test_it_builds_the_card_with_a_fixed_number_of_queries(prime, django_assert_max_num_queries):
    with django_assert_max_num_queries(10):
        render_to_string("billing/_tariff_card.html", {"card": tariff_card(prime, on=dt.date(2026, 7, 1))})
