"""Spanish ships: its catalogue is complete, compiled and faithful to its placeholders, and the pages render
in Spanish when the visitor chooses it (docs/i18n.md)."""

import ast
import gettext
import re
from collections import Counter

import pytest
from django.conf import settings

LOCALE = settings.BASE_DIR / "locale"
PO = LOCALE / "es" / "LC_MESSAGES" / "django.po"
MO = LOCALE / "es" / "LC_MESSAGES" / "django.mo"

# What must survive translation unchanged: %(name)s / %s / %d / %% placeholders, {{ }}-style and {} fields
# and HTML tags (with their attributes; "<premise ID>" is prose, not a tag).
PLACEHOLDER = re.compile(
    r"%\(\w+\)[sdif]|%[sdif%]"  # printf style
    r"|\{\{?\s*\w*\s*\}?\}"  # {name}, {{ name }}
    r'|</?[a-z][a-z0-9]*(?:\s+[a-z-]+="[^"]*")*\s*/?>'  # HTML tags
)


def read_po(path) -> list[dict]:
    """The entries of a .po file: msgctxt, msgid, msgid_plural, msgstr (dict index → text), flags."""
    entries, entry, field = [], None, None
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if entry and "msgid" in entry:
                entries.append(entry)
            entry = None
            continue
        entry = entry or {"msgctxt": None, "msgid_plural": None, "msgstr": {}, "flags": set()}
        if line.startswith("#,"):
            entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif match := re.match(r'(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])? (".*")$', line):
            keyword, index, text = match.group(1), match.group(2), ast.literal_eval(match.group(3))
            field = (keyword, int(index or 0))
            if keyword == "msgstr":
                entry["msgstr"][field[1]] = text
            else:
                entry[keyword] = text
        else:  # a continuation line
            text = ast.literal_eval(line)
            if field[0] == "msgstr":
                entry["msgstr"][field[1]] += text
            else:
                entry[field[0]] += text
    return entries


@pytest.fixture(scope="module")
def entries() -> list[dict]:
    header, *messages = read_po(PO)
    assert header["msgid"] == ""
    return messages


def test_it_ships_a_catalogue_for_every_listed_language():
    for code, _name in settings.LANGUAGES:
        if code != settings.LANGUAGE_CODE:
            assert (LOCALE / code / "LC_MESSAGES" / "django.po").is_file(), code
            assert (LOCALE / code / "LC_MESSAGES" / "django.mo").is_file(), code


def test_it_has_no_untranslated_or_fuzzy_messages(entries):
    assert entries
    untranslated = [e["msgid"] for e in entries if not all(e["msgstr"].values())]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    assert not untranslated, f"{len(untranslated)} untranslated: {untranslated[:20]}"
    assert not fuzzy, f"{len(fuzzy)} fuzzy: {fuzzy[:20]}"


def test_it_translates_plurals_in_every_form_spanish_has(entries):
    header = read_po(PO)[0]["msgstr"][0]
    forms = int(re.search(r"nplurals=(\d+)", header).group(1))
    for entry in entries:
        if entry["msgid_plural"] is not None:
            assert sorted(entry["msgstr"]) == list(range(forms)), entry["msgid"]


def test_it_keeps_every_placeholder_and_tag(entries):
    mismatched = []
    for entry in entries:
        for index, text in entry["msgstr"].items():
            source = entry["msgid_plural"] if index and entry["msgid_plural"] else entry["msgid"]
            if Counter(PLACEHOLDER.findall(source)) != Counter(PLACEHOLDER.findall(text)):
                mismatched.append(f"{source!r} → {text!r}")
    assert not mismatched, "\n".join(mismatched)


def test_it_ships_the_compiled_catalogue_of_the_current_po(entries):
    # Django reads the .mo at run time; a stale one would show old or English text.
    with MO.open("rb") as mo:
        catalog = gettext.GNUTranslations(mo)._catalog
    for entry in entries:
        key = f"{entry['msgctxt']}\x04{entry['msgid']}" if entry["msgctxt"] else entry["msgid"]
        if entry["msgid_plural"] is None:
            assert catalog.get(key) == entry["msgstr"][0], f"{MO} is stale: run compilemessages ({key!r})"
        else:
            for index, text in entry["msgstr"].items():
                assert catalog.get((key, index)) == text, f"{MO} is stale: run compilemessages ({key!r})"


@pytest.mark.django_db
def test_it_renders_the_home_page_in_spanish_for_a_spanish_browser(client, sce_programs):
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="es-US,es;q=0.9").content.decode()

    assert '<html lang="es">' in html
    assert "Programas para vehículos eléctricos" in html
    assert "Saltar al contenido principal" in html


@pytest.mark.django_db
def test_it_stays_in_english_by_default(client, sce_programs):
    html = client.get("/").content.decode()

    assert '<html lang="en">' in html
    assert "Electric vehicle programs" in html


@pytest.mark.django_db
def test_it_switches_to_spanish_and_returns_to_the_same_page(client, sce_programs):
    response = client.post("/i18n/setlang/", {"language": "es", "next": "/programs/ev-home/?x=1"})

    assert response.status_code == 302
    assert response["Location"] == "/programs/ev-home/?x=1"
    html = client.get("/programs/ev-home/").content.decode()
    assert '<html lang="es">' in html
    assert '<th scope="col">Entre semana</th>' in html
    assert '<th scope="row">de 4 p. m. a 9 p. m.</th>' in html
    assert "de junio a septiembre" in html
    assert "$0.794 por día" in html
    assert "$0.59910" in html  # US Spanish keeps the decimal point (pevportal/formats/es/formats.py)


@pytest.mark.django_db
def test_it_offers_an_accessible_language_switcher_on_every_page(client, sce_programs):
    html = client.get("/programs/compare/?month=7").content.decode()

    assert '<label for="language-switcher-select">' in html
    assert '<select id="language-switcher-select" name="language">' in html
    assert '<input type="hidden" name="next" value="/programs/compare/?month=7">' in html
    assert '<option value="es" lang="es">Español</option>' in html


@pytest.mark.django_db
def test_it_never_redirects_off_site_after_switching(client):
    response = client.post("/i18n/setlang/", {"language": "es", "next": "https://evil.example/"})

    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_it_ignores_a_language_it_does_not_ship(client, sce_programs):
    client.post("/i18n/setlang/", {"language": "fr", "next": "/"})

    assert '<html lang="en">' in client.get("/").content.decode()
