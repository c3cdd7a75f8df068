from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from pathway.management.staff_access import staff_access_sync, staff_groups_sync


class Command(BaseCommand):
    help = "Give coordinators, physicians and clinic administrators admin access from their roles (and no one else)."

    def handle(self, *args, **options):
        groups = staff_groups_sync()
        users = get_user_model().objects.filter(is_active=True)
        for user in users:
            staff_access_sync(user=user, groups=groups)
        self.stdout.write(f"Staff groups in step; {users.count()} users checked.")
