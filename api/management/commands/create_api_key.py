"""`manage.py create_api_key --clinic <slug> --role <role> --name <label> [--expires 90d]`, or
`manage.py create_api_key --rotate <prefix> [--grace-hours 24] [--expires 90d]`: the key is printed once,
alone on the last line, and never stored in clear."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from api.keys import api_key_create, api_key_rotate, expiry_parse
from api.models import ClinicAPIKey
from pathway.models import Clinic
from pathway.stages import Role


class Command(BaseCommand):
    help = "Create (or rotate) an API key for one clinic and one role; prints the key once, on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--clinic", help="clinic slug")
        parser.add_argument("--role", choices=[r for r in Role.values if r != Role.ADMIN])
        parser.add_argument("--name", help="a label naming the integration (50 characters)")
        parser.add_argument("--expires", help="when the new key stops working: 90d, 2027-03-01 (00:00 UTC) or an "
                                              "ISO date-time; default never")
        parser.add_argument("--rotate", metavar="PREFIX",
                            help="replace the key with this prefix: same clinic, role and name")
        parser.add_argument("--grace-hours", type=int, default=24,
                            help="with --rotate: hours the old key keeps working (0 revokes it now; default 24)")

    def handle(self, *args, clinic, role, name, expires, rotate, grace_hours, **options):
        try:
            expires_at = expiry_parse(expires) if expires else None
        except ValueError as error:
            raise CommandError(str(error)) from None
        if rotate:
            self._rotate(rotate, timedelta(hours=grace_hours), expires_at)
            return
        if not (clinic and role and name is not None):
            raise CommandError("Give --clinic, --role and --name (or --rotate PREFIX).")
        try:
            clinic_obj = Clinic.objects.get(slug=clinic)
        except Clinic.DoesNotExist:
            raise CommandError(f'No clinic with slug "{clinic}".') from None
        if not name.strip() or len(name) > 50:
            raise CommandError("Give a name of 1 to 50 characters.")
        try:
            api_key, key = api_key_create(clinic=clinic_obj, role=role, name=name.strip(), expires_at=expires_at)
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stderr.write(f"Created {role} key {api_key.prefix} for {clinic_obj.name}{self._until(api_key)}. "
                          "Store it now; it is not shown again.")
        self.stdout.write(key)

    def _rotate(self, prefix: str, grace: timedelta, expires_at) -> None:
        try:
            old = ClinicAPIKey.objects.get(prefix=prefix)
        except ClinicAPIKey.DoesNotExist:
            raise CommandError(f'No API key with prefix "{prefix}".') from None
        try:
            new, key = api_key_rotate(api_key=old, grace=grace, expires_at=expires_at)
        except ValueError as error:
            raise CommandError(str(error)) from None
        old.refresh_from_db()
        ending = "is revoked" if old.revoked else f"works until {old.expiry_date:%Y-%m-%d %H:%M} UTC"
        self.stderr.write(f"Created {new.role} key {new.prefix} for {new.clinic.name}{self._until(new)}, replacing "
                          f"{old.prefix}, which {ending}. Store the new key now; it is not shown again.")
        self.stdout.write(key)

    @staticmethod
    def _until(api_key: ClinicAPIKey) -> str:
        return f", valid until {api_key.expiry_date:%Y-%m-%d %H:%M} UTC" if api_key.expiry_date else ""
