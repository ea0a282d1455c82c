import os

from celeriac import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")

app = Celery("proj")

# All celeriac settings in Django's settings.py, prefixed with CELERY_.
app.config_from_object("django.conf:settings", namespace="CELERY")

# Find tasks.py in every installed Django app.
app.autodiscover_tasks()
