"""The periodic jobs, on the same scheduler the dialer will use.

With Redis: `manage.py rqcron voiceapp.cron` (one process per deployment; rq's CronScheduler
enqueues each job on its queue for the rq workers). Without Redis (the embedded demo), the web
process runs the same schedule in a thread (voiceapp.jobs.start_schedule_in_process).
"""

from django.conf import settings
from rq import cron

from calls.reaper import reap_calls
from calls.retention import delete_expired_recordings
from campaigns.attempts import reap_attempts
from campaigns.dialer import schedule_pass
from campaigns.morning import plan_mornings
from health.jobs import check_providers
from telephony.texts import sweep_texts
from webhooks.delivery import sweep_deliveries

# Calls whose process died, or whose stream never opened, get a final status.
cron.register(
    reap_calls,
    "default",
    interval=settings.REAPER_INTERVAL_SECONDS,
    job_timeout=120,
    name="reap-calls",
)

# Texts and webhook deliveries due for another attempt are queued again (voiceapp.retries).
# Every 10 s: the first retry is due 10 s after a failure.
cron.register(sweep_texts, "telephony", interval=10, job_timeout=60, name="sweep-texts")
cron.register(sweep_deliveries, "default", interval=10, job_timeout=60, name="sweep-webhooks")

# The campaign dialer: due attempts claimed up to the caps and queued for dialling (a pass is a
# few queries: cheap to run often); attempts a dead worker left behind put right.
cron.register(schedule_pass, "default", interval=2, job_timeout=60, name="campaign-dialer")
cron.register(reap_attempts, "default", interval=30, job_timeout=120, name="campaign-reaper")
# The daily campaigns' mornings (today's and tomorrow's attempt per contact), safe to repeat.
cron.register(plan_mornings, "default", interval=60, job_timeout=120, name="morning-planner")

# Recordings past their tenant's retention policy are deleted (calls.retention), safe to repeat.
cron.register(
    delete_expired_recordings,
    "default",
    interval=settings.RECORDING_RETENTION_INTERVAL_SECONDS,
    job_timeout=1800,
    name="recording-retention",
)
# Provider health: one cheap authenticated request to each configured provider; owners are
# emailed when one starts failing and when it recovers (health/).
cron.register(
    check_providers,
    "default",
    interval=settings.HEALTH_CHECK_SECONDS,
    job_timeout=120,
    name="provider-health",
)
