"""`manage.py create_api_key --clinic <slug> --role <role> --name <label>`: the key is printed once, alone
on the last line, and never stored in clear."""

from django.core.management.base import BaseCommand, CommandError

from api.models import ClinicAPIKey
from pathway.models import Clinic
from pathway.stages import Role


class Command(BaseCommand):
    help = "Create an API key for one clinic and one role; prints the key once, on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--clinic", required=True, help="clinic slug")
        parser.add_argument("--role", required=True, choices=[r for r in Role.values if r != Role.ADMIN])
        parser.add_argument("--name", required=True, help="a label naming the integration (50 characters)")

    def handle(self, *args, clinic, role, name, **options):
        try:
            clinic_obj = Clinic.objects.get(slug=clinic)
        except Clinic.DoesNotExist:
            raise CommandError(f'No clinic with slug "{clinic}".') from None
        if not name.strip() or len(name) > 50:
            raise CommandError("Give a name of 1 to 50 characters.")
        api_key, key = ClinicAPIKey.objects.create_key(clinic=clinic_obj, role=role, name=name.strip())
        self.stderr.write(f"Created {role} key {api_key.prefix} for {clinic_obj.name}. Store it now; "
                          "it is not shown again.")
        self.stdout.write(key)
