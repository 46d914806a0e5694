"""Shared fixtures: named people (Alice and Bob are customers, Carol is a CSR), the registry factories, and
Playwright pointed at Debian's Chromium — the suite never downloads a browser."""

import os
import shutil
import uuid

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connections

from binding.charging import forget_cached_prices
from binding.parameters import forget_cached_versions
from pevportal.models import AuditRecord
from pevportal.roles import CSR_GROUP, CSR_PERMISSION

# pytest-playwright's sync API keeps an event loop running in the test thread, which makes Django refuse ORM
# calls from browser tests; they are plain synchronous tests, so allow it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session", autouse=True)
def _close_connection_pools(django_db_setup, django_db_blocker):
    """Close psycopg's pools before the test database is dropped: pooled sessions block DROP DATABASE."""
    yield
    with django_db_blocker.unblock():
        for connection in connections.all():
            if getattr(connection, "pool", None) is not None:
                connection.close_pool()


@pytest.fixture(autouse=True)
def _fresh_cache_namespace(settings):
    """Each test gets its own cache key prefix, so rate limits and heartbeats never leak between tests or
    between runs (the cache is Redis in CI and keeps keys across runs)."""
    settings.CACHES = {
        name: {**config, "KEY_PREFIX": f"test-{uuid.uuid4().hex}"} for name, config in settings.CACHES.items()
    }


@pytest.fixture(autouse=True)
def _fresh_parameters_versions():
    """Plans and tariffs are rebuilt in every test: no cached parameters version or live-panel price may
    outlive its plan (SQLite reuses ids)."""
    forget_cached_versions()
    forget_cached_prices()


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(
        "alice", email="alice@example.com", password="alice-pass-1234"
    )


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", email="bob@example.com", password="bob-pass-1234")


@pytest.fixture
def carol_csr(django_user_model):
    carol = django_user_model.objects.create_user(
        "carol", email="carol@utility.example", password="carol-pass-1234"
    )
    carol.groups.add(csr_group())
    return carol


def csr_group() -> Group:
    """The CSR group its migration creates — again after a browser test's flush emptied the tables."""
    group, created = Group.objects.get_or_create(name=CSR_GROUP)
    if created:
        codename = CSR_PERMISSION.split(".")[1]
        permission, _ = Permission.objects.get_or_create(
            content_type=ContentType.objects.get_for_model(AuditRecord),
            codename=codename,
            defaults={"name": "Can use the customer service (CSR) screens"},
        )
        group.permissions.add(permission)
    return group


@pytest.fixture
def sce_programs(db, settings):
    """The real SCE tariffs from data/tariffs and the demo programmes that bill under them."""
    from billing.tariffs import import_tariff_file
    from enrollment.programs import import_programs_file

    data = settings.BASE_DIR / "data"
    for path in sorted((data / "tariffs").glob("*.json")):
        import_tariff_file(path)
    import_programs_file(data / "programs.json")


def pytest_collection_modifyitems(config, items):
    """Browser tests run last. Playwright's sync API keeps an asyncio loop running in the main thread from the
    first browser test to the end of the session (its browser fixtures are session-scoped), and code that
    asks whether it runs on an event loop — the live panel's publish, `async_to_sync` — would find it."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
