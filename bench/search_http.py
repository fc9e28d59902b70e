"""The htmx search partial over HTTP: gunicorn, PostgreSQL, a million contacts.

    python bench/search_http.py [--clients 4] [--duration 30] [--workers 2]
        [--client wrk|python] [--queries 300] [--seed 1]

Uses the pool ``bench/search.py`` loads into ``tessera_bench_search`` (run that
first). Starts ``gunicorn -w 2 wsgi:app`` on loopback with ``DATABASE_URL``
pointing at the pool and ``REDIS_URL`` at redis://127.0.0.1:6379/11, logs a
bench member in through the real form, and sends ``GET /search?q=...`` with
``HX-Request: true`` (the partial the page swaps in as the member types) and
that member's session cookie, from ``--clients`` connections at once, each
sending its next request when the last one is answered. Queries are
``bench/search.py``'s: known people with one typo, some with company words.

``--client wrk`` (the default when ``wrk`` is installed) drives the load with
wrk and a Lua script; ``--client python`` with threads and ``http.client``.
Prints requests/s and the latency percentiles the clients measured.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import sqlalchemy as sa

from portal import create_app
from portal.auth.services import hash_password
from portal.config import PROJECT_ROOT
from portal.extensions import db
from portal.models import Member

sys.path.insert(0, str(Path(__file__).resolve().parent))
import search as search_bench  # noqa: E402  (bench/search.py, beside this file)

DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/tessera_bench_search"
REDIS_URL = "redis://127.0.0.1:6379/11"
MEMBER_EMAIL = "search-bench@tessera.example"
MEMBER_PASSWORD = "search bench password"  # noqa: S105 (a bench-only account)
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

WRK_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("SEARCH_PATHS")) do paths[#paths + 1] = line end
local cookie = os.getenv("SEARCH_COOKIE")
local counter = 0
local threads = {}

function setup(thread)
  thread:set("offset", #threads * 997)
  table.insert(threads, thread)
end

function init(args)
  counter = offset
  not_ok = 0
end

function response(status, headers, body)
  -- Anything but the partial (a redirect to the log-in page, say) counts.
  if status ~= 200 or not string.find(body, "search-results", 1, true) then
    not_ok = not_ok + 1
  end
end

function request()
  counter = counter + 1
  local path = paths[(counter % #paths) + 1]
  return wrk.format("GET", path, {["HX-Request"] = "true", ["Cookie"] = cookie})
end

function done(summary, latency, requests)
  local errors = summary.errors
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("not_ok") end
  io.write(string.format(
    "RESULT {\\"requests\\": %d, \\"seconds\\": %.3f, \\"p50\\": %.2f, "
    .. "\\"p95\\": %.2f, \\"p99\\": %.2f, \\"max\\": %.2f, \\"status_errors\\": %d, "
    .. "\\"socket_errors\\": %d}\\n",
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout))
end
"""


def prepare(database_url: str, queries: int, seed: int) -> list[str]:
    """The member to log in as, and the request paths (from the bench queries)."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REDIS_URL": REDIS_URL,
            "INSTANCE_PATH": str(search_bench.SQLITE_FOLDER / "instance"),
        }
    )
    with app.app_context():
        try:
            if not sa.inspect(db.engine).has_table("search_terms"):
                raise SystemExit("no search pool here: run bench/search.py first")
            if (
                db.session.scalar(
                    sa.select(Member.id).where(Member.email == MEMBER_EMAIL)
                )
                is None
            ):
                db.session.add(
                    Member(
                        email=MEMBER_EMAIL,
                        display_name="Search bench",
                        password_hash=hash_password(MEMBER_PASSWORD),
                    )
                )
                db.session.commit()
            built = search_bench.build_queries(seed, queries)
            return ["/search?" + urlencode({"q": q.text}) for q in built]
        finally:
            db.session.remove()
            db.engine.dispose()


def start_gunicorn(port: int, workers: int, database_url: str, folder: Path):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": "search-bench-secret-key",
        "TESSERA_INSTANCE_PATH": str(folder),
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [
            str(gunicorn),
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, _, _ = get(port, "/healthz")
            if status == 200:
                return process
        except OSError:
            pass
        if process.poll() is not None:
            raise SystemExit("gunicorn exited during start-up")
        time.sleep(0.25)
    stop(process)
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def get(port: int, path: str, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def log_in(port: int) -> str:
    """The Cookie header of a logged-in session, through the real form."""
    status, headers, body = get(port, "/auth/login")
    cookie = _cookie(headers)
    token = CSRF.search(body.decode()).group(1)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST",
            "/auth/login",
            body=urlencode(
                {
                    "email": MEMBER_EMAIL,
                    "password": MEMBER_PASSWORD,
                    "csrf_token": token,
                }
            ),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": cookie,
            },
        )
        response = conn.getresponse()
        response.read()
        if response.status not in (302, 303):
            raise SystemExit(f"log-in failed: {response.status}")
        return _cookie(response.getheaders()) or cookie
    finally:
        conn.close()


def _cookie(headers) -> str:
    return "; ".join(
        value.split(";", 1)[0]
        for name, value in headers
        if name.lower() == "set-cookie"
    )


def check(port: int, paths: list[str], cookie: str) -> None:
    """The partial answers 200 with results, and no page around it."""
    status, _, body = get(port, paths[0], {"HX-Request": "true", "Cookie": cookie})
    html = body.decode()
    if status != 200 or 'id="search-results"' not in html or "<html" in html:
        raise SystemExit(f"unexpected answer to {paths[0]}: {status}\n{html[:500]}")


def run_wrk(port, paths, cookie, clients, seconds, folder: Path) -> dict:
    script = folder / "search.lua"
    script.write_text(WRK_SCRIPT)
    paths_file = folder / "paths.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    threads = min(clients, 2)
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{clients}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    print("$ " + " ".join(command), flush=True)
    output = subprocess.run(
        command,
        env={**os.environ, "SEARCH_PATHS": str(paths_file), "SEARCH_COOKIE": cookie},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in output.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def run_python(port, paths, cookie, clients, seconds) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine, bad = [], 0
        n = offset
        while time.monotonic() < stop_at:
            path = paths[n % len(paths)]
            n += 1
            started = time.perf_counter()
            conn.request("GET", path, headers={"HX-Request": "true", "Cookie": cookie})
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            bad += response.status != 200
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    started = time.perf_counter()
    workers = [threading.Thread(target=client, args=(i * 997,)) for i in range(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(sorted(latencies), n=100, method="inclusive")
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "p50": cuts[49],
        "p95": cuts[94],
        "p99": cuts[98],
        "max": max(latencies),
        "status_errors": errors[0],
        "socket_errors": 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--duration", type=int, default=30, help="seconds")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=DATABASE_URL)
    parser.add_argument(
        "--client",
        choices=("wrk", "python"),
        default="wrk" if shutil.which("wrk") else "python",
    )
    args = parser.parse_args(argv)

    paths = prepare(args.database_url, args.queries, args.seed)
    with tempfile.TemporaryDirectory(prefix="tessera-search-http-") as tmp:
        folder = Path(tmp)
        server = start_gunicorn(args.port, args.workers, args.database_url, folder)
        try:
            cookie = log_in(args.port)
            check(args.port, paths, cookie)
            # Warm-up: every worker connects, loads templates and the indexes.
            run_python(args.port, paths[::-1], cookie, args.clients, 5)
            if args.client == "wrk":
                figures = run_wrk(
                    args.port, paths, cookie, args.clients, args.duration, folder
                )
            else:
                figures = run_python(
                    args.port, paths, cookie, args.clients, args.duration
                )
        finally:
            stop(server)

    rate = figures["requests"] / figures["seconds"]
    print()
    print("$ " + " ".join(["python", *sys.argv]))
    print(
        f"gunicorn -w {args.workers} wsgi:app, {args.database_url.rsplit('/', 1)[1]}, "
        f"{args.clients} clients for {figures['seconds']:.0f} s ({args.client}), "
        f"GET /search?q=... with HX-Request, logged in"
    )
    print(
        f"requests {figures['requests']:,}  req/s {rate:.1f}  "
        f"p50 {figures['p50']:.1f} ms  p95 {figures['p95']:.1f} ms  "
        f"p99 {figures['p99']:.1f} ms  max {figures['max']:.1f} ms  "
        f"bad answers {figures['status_errors']}  "
        f"socket errors {figures['socket_errors']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
