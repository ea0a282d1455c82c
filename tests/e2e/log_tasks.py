"""An app with Celery's logging settings set (copied in as proj/logtasks.py).

With $OWN_ROOT_HANDLER set, the app's module gives the root logger a handler of its own
(as a program with its own logging would), writing "OWN" lines to stderr; $KEEP_ROOT
then turns worker_hijack_root_logger off.
"""

import logging
import os

from celeriac.utils.log import get_task_logger

from .celeriac import app

app.conf.worker_log_format = "LOGFMT %(levelname)s %(processName)s: %(message)s"
app.conf.worker_task_log_format = "TASKFMT %(processName)s %(task_name)s[%(task_id)s]: %(message)s"
app.conf.worker_redirect_stdouts_level = "ERROR"
if os.environ.get("OWN_ROOT_HANDLER"):
    own = logging.StreamHandler()
    own.setFormatter(logging.Formatter("OWN %(name)s: %(message)s"))
    logging.getLogger().addHandler(own)
    app.conf.worker_hijack_root_logger = not os.environ.get("KEEP_ROOT")

logger = get_task_logger(__name__)


@app.task
def chatty(word):
    logger.warning("said %s", word)
    print("printed", word)
    return word


__all__ = ["app"]
