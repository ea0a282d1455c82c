"""Load the project as ``celeriac -A proj worker`` would, and report what happened.

With ``--django-first``, Django is set up before the project is imported, as when
``manage.py`` or a WSGI server starts (Django's settings then import the app).
"""

import json
import os
import sys

if "--django-first" in sys.argv:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
    django.setup()

from proj import celery_app as app

report = {
    "broker_url": app.conf.broker_url,
    "result_backend": app.conf.result_backend,
    "task_default_queue": app.conf.task_default_queue,
    "timezone": app.conf.timezone,
    "task_track_started": app.conf.task_track_started,
    "discovered_before_worker": "polls.tasks" in sys.modules,
}

app.import_default_modules()  # what the worker does when it starts
report["tasks"] = sorted(name for name in app.tasks if not name.startswith("celery."))

from orders.tasks import total  # noqa: E402
from polls.tasks import add, question_label  # noqa: E402

from celeriac.contrib.testing.worker import start_worker  # noqa: E402

with start_worker(app, perform_ping_check=False):
    report["results"] = [
        add.delay(2, 3).get(timeout=10),
        total.delay([1, 2, 3]).get(timeout=10),
        question_label.delay().get(timeout=10),
    ]
print(json.dumps(report))
