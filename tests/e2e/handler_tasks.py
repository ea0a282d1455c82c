"""Tasks with a custom base class overriding every handler (copied in as proj/handlertasks.py).

Each handler appends one JSON line to $HANDLER_LOG, from whichever process runs it (a
prefork child), with its arguments and the state stored for the task at that moment.
"""

import json
import multiprocessing
import os

from celeriac import Task

from .celeriac import app


def note(handler, task_id, **values):
    line = {
        "handler": handler,
        "task_id": task_id,
        "process": multiprocessing.current_process().name,
        **{
            key: value if isinstance(value, str | int | list | dict) else type(value).__name__
            for key, value in values.items()
        },
    }
    with open(os.environ["HANDLER_LOG"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


class Recording(Task):
    def before_start(self, task_id, args, kwargs):
        note("before_start", task_id, args=args, kwargs=kwargs)

    def on_success(self, retval, task_id, args, kwargs):
        note("on_success", task_id, retval=retval, stored=self.AsyncResult(task_id).state)

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        note("on_failure", task_id, exc=exc, einfo=einfo, stored=self.AsyncResult(task_id).state)

    def on_retry(self, exc, task_id, args, kwargs, einfo):
        note("on_retry", task_id, exc=exc, einfo=einfo)

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        note("after_return", task_id, status=status, retval=retval, einfo=einfo)


@app.task(base=Recording)
def hooked_mul(x, y):
    return x * y


@app.task(base=Recording)
def hooked_fail(word):
    raise KeyError(word)


@app.task(base=Recording, bind=True, max_retries=1, default_retry_delay=0)
def hooked_retry(self):
    if self.request.retries == 0:
        raise self.retry(exc=ValueError("once"))
    return "done"


__all__ = ["app"]
