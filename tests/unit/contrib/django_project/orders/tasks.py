from celeriac import shared_task


@shared_task
def total(prices):
    return sum(prices)
