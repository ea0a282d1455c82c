from celeriac import Celery

# The seed's project with `celery` changed to `celeriac`. With no broker URL the
# embedded SQLite broker is used; results go to a SQLite file next to it. Set
# CELERIAC_BROKER_URL / CELERIAC_RESULT_BACKEND to point the same project at Redis.
app = Celery(
    "proj",
    backend="sqlite:///celeriac-results.sqlite3",
    include=["proj.tasks"],
)

app.conf.update(
    result_expires=3600,
)


if __name__ == "__main__":
    app.start()
