from celeriac import Celery

app = Celery("proj", include=["proj.tasks"])
app.conf.update(result_expires=3600)

if __name__ == "__main__":
    app.start()
