import pytest
from proj.tasks import add, flaky, mul, xsum

from celeriac import chain, chord, group, states


def test_add(celery_worker):
    assert add.delay(2, 2).get(timeout=10) == 4


def test_config_reaches_app_and_worker(celery_app, celery_worker):
    assert celery_app.conf.task_default_queue == "proj"
    assert sorted(queue.name for queue in celery_worker.queues) == ["proj", "totals"]
    result = xsum.delay([1, 2, 3])
    assert result.get(timeout=10) == 6
    assert (result.name, result.queue) == ("proj.tasks.xsum", "totals")  # result_extended


def test_errors_propagate(celery_worker):
    result = add.delay(2, "2")
    with pytest.raises(TypeError):
        result.get(timeout=10)
    assert result.state == states.FAILURE


def test_retries_go_through_the_broker(celery_worker):
    assert flaky.delay(2).get(timeout=10) == 2


def test_canvas(celery_worker):
    assert chain(add.s(4, 4) | mul.s(8))().get(timeout=10) == 64
    assert group(add.s(i, i) for i in range(5))().get(timeout=10) == [0, 2, 4, 6, 8]
    assert chord((add.s(i, i) for i in range(10)), xsum.s())().get(timeout=10) == 90


def test_task_defined_in_the_test(celery_app, celery_worker):
    @celery_app.task
    def shout(word):
        return word.upper()

    assert shout.delay("hi").get(timeout=10) == "HI"


@pytest.mark.celery(task_default_queue="marked")
def test_marker_overrides_one_setting(celery_app):
    assert celery_app.conf.task_default_queue == "marked"
    assert celery_app.conf.result_extended  # the rest of celery_config still applies
