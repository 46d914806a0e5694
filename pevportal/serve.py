"""`make serve`: the development server (daphne: HTTP and WebSockets), plus a Celery worker and beat when
REDIS_URL is set — in the embedded default Celery runs tasks eagerly inside the web process — and the demo
driver (pevportal/demo_live.py), which charges the demo premise's PEV in a loop so the live panel and the
operations view move (docs/demo.md; `DEMO_LIVE=0` turns it off).

Production runs the web, worker and beat roles as separate processes (see docs/operations.md) and no demo.
"""

import os
import subprocess
import sys

from pevportal.env import env_bool, env_str


def main() -> int:
    host, port = env_str("HOST", "127.0.0.1"), env_str("PORT", "8000")
    python = sys.executable
    helpers: list[subprocess.Popen] = []
    if env_str("REDIS_URL"):
        celery = [python, "-m", "celery", "-A", "pevportal"]
        helpers.append(subprocess.Popen([*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"]))
        beat = [*celery, "beat", "--loglevel", "INFO", "--schedule", "var/celerybeat"]
        helpers.append(subprocess.Popen(beat))
    if env_bool("DEMO_LIVE", default=True):
        # It waits for /healthz itself; a server listening on every interface is reached on loopback.
        local = "127.0.0.1" if host == "0.0.0.0" else host  # noqa: S104 — compared, not bound
        driver = [python, "-m", "pevportal.demo_live", f"--base-url=http://{local}:{port}"]
        driver.append(f"--parent-pid={os.getpid()}")
        helpers.append(subprocess.Popen(driver))
    print(f"PEV Portal: http://{host}:{port}/  (Ctrl-C stops)", flush=True)
    try:
        return subprocess.call([python, "manage.py", "runserver", f"{host}:{port}"], env=os.environ.copy())
    except KeyboardInterrupt:
        return 0
    finally:
        for process in helpers:
            process.terminate()
        for process in helpers:
            process.wait(timeout=15)


if __name__ == "__main__":
    sys.exit(main())
