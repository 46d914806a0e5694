"""A real Celery worker for tests/billing/test_billing_worker.py, started as a process of its own:

    python -m tests.billing.billing_worker QUEUE [--pool solo|prefork] [--concurrency N]
        [--pause billing|committed] [--calls FILE] [--restore-after SECONDS]

Tasks it sends (the run's chunks) go to QUEUE too, so no other worker on the machine takes them. The test
slows the chunks down here rather than in the code under test: `--pause billing` sleeps after billing a
chunk, before its transaction commits; `--pause committed` after it committed, before the task is
acknowledged — the two moments a worker may die. `--calls` appends each chunk's premise ids to a file.
`--restore-after` makes this worker take back, after that many seconds, a message that a dead worker
took and never acknowledged (Redis' visibility timeout; an hour in production).
"""

import argparse
import json
import os
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pevportal.settings")
django.setup()

from billing import bills, runs  # noqa: E402 — Django is set up first
from pevportal.celery import app  # noqa: E402

PAUSE_SECONDS = 2.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("queue")
    parser.add_argument("--pool", default="solo")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--pause", choices=["billing", "committed"])
    parser.add_argument("--calls")
    parser.add_argument("--restore-after", type=int)
    options = parser.parse_args()

    app.conf.task_default_queue = options.queue
    if options.restore_after:
        app.conf.broker_transport_options = {
            **app.conf.broker_transport_options,
            "visibility_timeout": options.restore_after,
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        }
    _instrument(options.pause, options.calls)
    app.worker_main(
        [
            "worker",
            "--pool",
            options.pool,
            "--concurrency",
            str(options.concurrency),
            "-Q",
            options.queue,
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )


def _instrument(pause: str | None, calls: str | None) -> None:
    bill_chunk, bill_premises = runs.bill_chunk, bills.bill_premises

    def logged_bill_chunk(run_id, premise_ids, period, **kwargs):
        if calls:
            with open(calls, "a") as log:
                log.write(json.dumps(premise_ids) + "\n")
        outcome = bill_chunk(run_id, premise_ids, period, **kwargs)
        if pause == "committed":
            time.sleep(PAUSE_SECONDS)
        return outcome

    def slow_bill_premises(*args, **kwargs):
        outcome = bill_premises(*args, **kwargs)
        if pause == "billing":
            time.sleep(PAUSE_SECONDS)
        return outcome

    runs.bill_chunk, bills.bill_premises = logged_bill_chunk, slow_bill_premises


if __name__ == "__main__":
    main()
