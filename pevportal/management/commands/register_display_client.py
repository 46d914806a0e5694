"""`python manage.py register_display_client NAME`: register a display or energy-management product as an
OAuth2 client of the device grant and print its client_id for the vendor (docs/displays.md)."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from oauth2_provider.models import AbstractApplication, get_application_model

from pevportal import audit
from pevportal.models import Channel


class Command(BaseCommand):
    help = (
        "Register a display/EMS product (a public OAuth2 client, device grant only) and print its client_id."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "name", help="The product name customers see when they approve it, e.g. 'Acme Home Display'."
        )

    def handle(self, *args, name: str, **options):
        name = name.strip()
        if not name:
            raise CommandError("NAME must not be empty: customers see it when they approve the display.")
        Application = get_application_model()
        if Application.objects.filter(name=name).exists():
            raise CommandError(f"A client named {name!r} is already registered; choose another name.")
        with transaction.atomic():
            # Public: a display cannot keep a secret, so it has none; it can only use the device grant.
            application = Application.objects.create(
                name=name,
                client_type=AbstractApplication.CLIENT_PUBLIC,
                authorization_grant_type=AbstractApplication.GRANT_DEVICE_CODE,
                client_secret="",
                hash_client_secret=False,
                redirect_uris="",
                skip_authorization=False,
            )
            audit.record(
                action="display_client.registered",
                target=application,
                channel=Channel.ADMIN,
                actor_label="manage.py register_display_client",
                after={"name": name, "client_id": application.client_id},
            )
        self.stdout.write(f"client_id: {application.client_id}")
