from celeriac import shared_task

# Importing models needs Django set up: discovery must have done that first.
from .models import Question


@shared_task
def add(x, y):
    return x + y


@shared_task
def question_label():
    return Question._meta.label
