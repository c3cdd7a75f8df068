from django.db import migrations, models


class Migration(migrations.Migration):
    """The stored response becomes JSON text: jsonb refuses the \\u0000 an error message may echo back.
    Records live a day and arrived with 0003 in the same release, so the old column is simply replaced."""

    dependencies = [
        ("api", "0003_audit_consent_idempotency"),
    ]

    operations = [
        migrations.RemoveField(model_name="idempotencyrecord", name="response_body"),
        migrations.AddField(
            model_name="idempotencyrecord",
            name="response_body",
            field=models.TextField(blank=True, default=""),
            preserve_default=False,
        ),
    ]
