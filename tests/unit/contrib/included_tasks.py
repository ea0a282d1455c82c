"""A task module named by ``celery_includes`` in the plugin's tests."""

from celeriac import shared_task


@shared_task(name="tests.unit.contrib.included_tasks.triple")
def triple(x: int) -> int:
    return 3 * x
