from celeriac import shared_task


@shared_task
def add(x, y):
    return x + y


@shared_task
def mul(x, y):
    return x * y


@shared_task
def xsum(numbers):
    return sum(numbers)


@shared_task(bind=True, max_retries=3)
def flaky(self, failures):
    """Fail ``failures`` times, retrying at once, then return how many retries it took."""
    if self.request.retries < failures:
        raise self.retry(countdown=0)
    return self.request.retries
