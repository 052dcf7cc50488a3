"""The ceiling: a bare Flask endpoint returning a constant JSON body.

Served by the same gunicorn.conf.py and worker count as the service, it is what
this web stack can do on this machine at all; every scenario is a ratio to it.
"""
from flask import Flask

app = Flask(__name__)
BODY = {"status": "ok", "service": "calendar", "slots": []}


@app.get("/ceiling")
def ceiling():
    return BODY
