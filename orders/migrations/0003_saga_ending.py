"""OrderSaga.outcome (free text holding a state value) becomes OrderSaga.ending, an enum of what
a compensation ends in (failed or cancelled). The old column already held exactly those values
or nothing; rows that hold anything else are mapped from their saga state."""

from django.db import migrations, models


def map_endings(apps, schema_editor):
    OrderSaga = apps.get_model("orders", "OrderSaga")
    endings = {"failed", "cancelled"}
    # An ended saga's ending is its state; a reserving or confirmed one never compensated.
    OrderSaga.objects.filter(state__in=endings).exclude(ending__in=endings).update(ending=models.F("state"))
    OrderSaga.objects.filter(state__in=["reserving", "confirmed"]).exclude(ending="").update(ending="")
    # A compensating saga with no known ending was compensated for a failure (the only other one).
    OrderSaga.objects.filter(state="compensating").exclude(ending__in=endings).update(ending="failed")


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0002_saga_step_operator_action"),
    ]

    operations = [
        migrations.RenameField(model_name="ordersaga", old_name="outcome", new_name="ending"),
        migrations.AlterField(
            model_name="ordersaga",
            name="ending",
            field=models.CharField(
                blank=True, choices=[("failed", "Failed"), ("cancelled", "Cancelled")], max_length=20
            ),
        ),
        migrations.RunPython(map_endings, migrations.RunPython.noop),
    ]
