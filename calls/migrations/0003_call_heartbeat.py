from django.db import migrations, models


def backfill_heartbeats(apps, schema_editor):
    # Calls left "in progress" before heartbeats existed are taken as last seen when last
    # changed, so the reaper finalizes them as lost (not as never opened).
    Call = apps.get_model("calls", "Call")
    Call.objects.filter(status="in-progress").update(heartbeat_at=models.F("updated_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0002_agent_labels"),
        ("voiceapp", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="call",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="call",
            index=models.Index(
                condition=models.Q(("status__in", ["queued", "initiated", "ringing", "in-progress"])),
                fields=["status", "status_changed_at"],
                name="call_open_status",
            ),
        ),
        migrations.RunPython(backfill_heartbeats, migrations.RunPython.noop),
    ]
