"""`python manage.py load_demo`: the demo utility's data and logins (never in production)."""

from django.core.management.base import BaseCommand

from pevportal.demo import load_demo

LOGIN_URL = "http://127.0.0.1:8000/accounts/login/"


class Command(BaseCommand):
    help = "Load demo tariffs, programmes, CIS customers and logins (idempotent; never in production)."

    def handle(self, *args, **options):
        logins = load_demo()
        self.stdout.write(self.style.SUCCESS(f"Demo data loaded. Sign in at {LOGIN_URL} as:"))
        for login in logins:
            self.stdout.write(f"  {login.role}: {login.email} / {login.password}")
        self.stdout.write(
            "Alice's demo PEV 1N4AZ1CP5KC301234 awaits its first plug-in: `make simulate` in another terminal"
            " plugs it in through the demo premise's ESCI and EUMD; CSR → plug-ins shows the binding log."
        )
