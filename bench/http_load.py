"""HTTP load benchmark: the seeded project served by gunicorn, driven by 50 clients (issue 13).

    python bench/http_load.py [--images N] [--seed S] [--seconds 60] [--clients 50]
                         [--think 1.0] [--port 8860] [--web-workers W] [--no-explain] [--keep]

Set-up (not timed): a fresh copy of the seeded project (:func:`bench.seed.seeded_database`:
N images, default 10,000, x 3 annotators x ~40 instances, real agreement; built once and
cached), migrated, static files collected, a REST token for each annotator; then the
``EXPLAIN`` summary of the hot queries on that copy (:mod:`bench.explain`; ``--no-explain``
leaves it out). Then, on 127.0.0.1:

- **gunicorn** with the repository's ``gunicorn.conf.py`` (``GUNICORN_BIND`` on ``--port``,
  ``WEB_CONCURRENCY`` from ``--web-workers`` when given), ``DEBUG`` off, behind no proxy:
  the clients send ``X-Forwarded-Proto: https`` as nginx would (``USE_X_FORWARDED_PROTO``),
  so the production HTTPS settings stay on;
- **one RQ worker** (``manage.py rqworker``), ``TASKS_BACKEND=rq`` on the local Redis, in
  database 8 (``REDIS_URL=redis://127.0.0.1:6379/8``) so its queue is this benchmark's
  alone: the backend a deployment of many machines runs. The stuck-job watcher is not
  started (nothing is stuck in a run this short).

The **driver** is a separate process (this file with ``--drive``): one thread per client,
each a keep-alive HTTP/1.1 connection of its own (``http.client``), for ``--seconds``
(default 60). Its CPU time is printed beside the figures (a driver near one core would be
the bottleneck). The clients, all distinct users (the default mix of 50; ``--clients``
scales it):

==========  ===  ===========================================================  ==========
who         n    each loop                                                     think
==========  ===  ===========================================================  ==========
reviewers   10   review queue page, then the viewer of an image of their queue   1 s
leads        5   agreement dashboard page                                        1 s
API         8    task list API (a page of the project's tasks), image agreement  0.5 s
                 API (an image at random), token authentication
annotators  25   claim-next (API), then a submission POST (API) of ~40 instances  0.1 s
                 as compressed COCO RLE: the image's masks as its third labeler
                 drew them (the ``wide`` style), token authentication
floor        2   ``/healthz``                                                     0.5 s
==========  ===  ===========================================================  ==========

Think times are drawn uniformly between half and one and a half of the mean, times
``--think``. People reading pages pause about a second between requests here (far less than
in life: this is a load test); API scripts half that; the annotators' "think time" stands for
a tool uploading finished work, short so that the submission rate can reach the goal.

Printed: a table per endpoint -- requests, requests/s, p50, p95, p99 (ms, the client's
wall clock from sending to the last byte), 4xx and 5xx -- then submissions/s; after the load
stops, how long until the agreement queue is drained (RQ's queue and started jobs empty and
every image submitted to in the run has stored agreement at least as new as its latest
submission; polled every 0.5 s), and the agreement update latency per submitted image:
``ImageAgreement.computed_at`` minus the image's latest ``Submission.submitted_at`` (both
server clocks), p50 and p95. Goals beside them: p95 <= 300 ms for pages, <= 150 ms for API
reads, no 5xx, >= 50 submissions/s, drained <= 30 s.

Clean-up: gunicorn and the worker stopped, the copy database dropped (``--keep`` keeps it),
this benchmark's Redis database emptied; the seed's template stays.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

COPY = "bench_http"
REDIS_URL = "redis://127.0.0.1:6379/8"
WORK = ROOT / "var" / "bench" / "http"
PAGE, API_READ, API_WRITE, FLOOR = "page", "API read", "API write", "floor"
GOALS_MS = {PAGE: 300.0, API_READ: 150.0}
GOAL_SUBMISSIONS_PER_S = 50.0
GOAL_DRAINED_S = 30.0
# Endpoint label: its kind (for the goal).
ENDPOINTS = {
    "review queue page": PAGE,
    "review viewer page": PAGE,
    "agreement dashboard page": PAGE,
    "task list API": API_READ,
    "image agreement API": API_READ,
    "claim-next API": API_WRITE,
    "submission POST API": API_WRITE,
    "/healthz": FLOOR,
}
# (role, clients of the default 50, mean think time in seconds)
MIX = (("reviewer", 10, 1.0), ("lead", 5, 1.0), ("api", 8, 0.5), ("annotator", 25, 0.1))
FLOOR_CLIENTS, FLOOR_THINK = 2, 0.5


# ======================================================================== the driver


class Client:
    """One user's keep-alive connection: cookies kept, reconnecting when the server closed
    it between requests."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.headers = {"Host": f"{host}:{port}", "X-Forwarded-Proto": "https", **headers}
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection(host, port, timeout=120)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, bytes, float]:
        """(status, body, milliseconds from sending to the last byte)."""
        sent = {**self.headers, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body=body, headers=sent)
                response = self.conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed the kept-alive connection before reading this request.
                self.conn.close()
                if attempt == 2:
                    raise
                continue
            elapsed = (time.perf_counter() - started) * 1000
            for cookie in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = cookie.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            if response.getheader("Connection", "").lower() == "close":
                self.conn.close()
            return response.status, data, elapsed
        raise AssertionError("unreachable")

    def login(self, username: str, password: str) -> None:
        """Sign in through the login page, as a browser does."""
        status, page, _ = self.request("GET", "/login/")
        found = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or not found:
            raise RuntimeError(f"login page answered {status}")
        form = urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": found[1]}
        )
        origin = f"https://{self.host}:{self.port}"
        status, _, _ = self.request(
            "POST",
            "/login/",
            body=form.encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": origin,
                "Referer": origin + "/login/",
            },
        )
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"login of {username} answered {status}")


class Recorder:
    """Every request's endpoint, status and milliseconds, from every thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.samples: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self.failures: dict[str, int] = defaultdict(int)

    def add(self, endpoint: str, status: int, ms: float) -> None:
        with self.lock:
            self.samples[endpoint].append((status, ms))

    def failed(self, endpoint: str) -> None:
        with self.lock:
            self.failures[endpoint] += 1


def _think(rng: random.Random, mean: float, scale: float, until: float) -> None:
    pause = rng.uniform(0.5 * mean, 1.5 * mean) * scale
    time.sleep(max(0.0, min(pause, until - time.monotonic())))


def _timed(client: Client, recorder: Recorder, endpoint: str, *args: Any, **kw: Any) -> Any:
    try:
        status, body, ms = client.request(*args, **kw)
    except (OSError, http.client.HTTPException):
        recorder.failed(endpoint)
        client.conn.close()
        return None, b""
    recorder.add(endpoint, status, ms)
    return status, body


def _reviewer(client: Client, user: dict, config: dict, rec: Recorder, rng: random.Random) -> Any:
    slug, images = config["slug"], user["images"]

    def step() -> None:
        _timed(client, rec, "review queue page", "GET", f"/p/{slug}/review/")
        image = rng.choice(images)
        _timed(client, rec, "review viewer page", "GET", f"/p/{slug}/review/{image}/")

    return step


def _lead(client: Client, user: dict, config: dict, rec: Recorder, rng: random.Random) -> Any:
    slug = config["slug"]
    return lambda: _timed(client, rec, "agreement dashboard page", "GET", f"/p/{slug}/dashboard/")


def _api(client: Client, user: dict, config: dict, rec: Recorder, rng: random.Random) -> Any:
    slug, images, pages = config["slug"], config["agreement_images"], config["task_pages"]

    def step() -> None:
        page = rng.randint(1, pages)
        _timed(client, rec, "task list API", "GET", f"/api/v1/projects/{slug}/tasks/?page={page}")
        image = rng.choice(images)
        url = f"/api/v1/projects/{slug}/images/{image}/agreement/"
        _timed(client, rec, "image agreement API", "GET", url)

    return step


def _annotator(client: Client, user: dict, config: dict, rec: Recorder, rng: random.Random) -> Any:
    slug, payloads = config["slug"], config["payloads"]
    json_headers = {"Content-Type": "application/json"}

    def step() -> None:
        status, body = _timed(
            client, rec, "claim-next API", "POST", f"/api/v1/projects/{slug}/tasks/claim-next/"
        )
        if status != 200:
            return
        task = json.loads(body)
        # The instances are kept serialised: the driver only splices the task id in.
        payload = f'{{"task": {task["id"]}, "instances": {payloads[str(task["image"])]}}}'
        url = f"/api/v1/projects/{slug}/submissions/"
        _timed(client, rec, "submission POST API", "POST", url, payload.encode(), json_headers)

    return step


def _floor(client: Client, user: dict, config: dict, rec: Recorder, rng: random.Random) -> Any:
    return lambda: _timed(client, rec, "/healthz", "GET", "/healthz")


LOOPS = {
    "reviewer": _reviewer,
    "lead": _lead,
    "api": _api,
    "annotator": _annotator,
    "floor": _floor,
}


def drive(config: dict, *, seconds: float, think: float) -> dict:
    """Log every client in, run them all for ``seconds``; the samples and this process's
    CPU time."""
    host, port = "127.0.0.1", config["port"]
    recorder = Recorder()
    workers = []
    for k, user in enumerate(config["clients"]):
        headers = {"Authorization": f"Token {user['token']}"} if user.get("token") else {}
        client = Client(host, port, headers)
        if user.get("password"):
            client.login(user["username"], user["password"])
        rng = random.Random(k)
        step = LOOPS[user["role"]](client, user, config, recorder, rng)
        workers.append((step, rng, user["think"]))
    barrier = threading.Barrier(len(workers) + 1)
    box: dict[str, float] = {}

    def run(step: Any, rng: random.Random, mean: float) -> None:
        barrier.wait()
        until = box["until"]
        rng_pause = rng.uniform(0, mean * think)
        time.sleep(rng_pause)  # the clients start spread over one think time
        while time.monotonic() < until:
            step()
            _think(rng, mean, think, until)

    threads = [threading.Thread(target=run, args=w, daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    box["until"] = time.monotonic() + seconds
    started_wall = time.time()
    started = time.monotonic()
    barrier.wait()
    for thread in threads:
        thread.join(timeout=seconds + 180)
    wall = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {
        "samples": recorder.samples,
        "failures": recorder.failures,
        "wall_s": wall,
        "started_at": started_wall,
        "driver_cpu_s": cpu,
    }


# ================================================================ set-up and serving


def _django_on(info: Any) -> None:
    os.environ.update(_server_env(info, port=0))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()


def _server_env(info: Any, *, port: int) -> dict[str, str]:
    """The environment gunicorn, the worker and this process run MaskQC with."""
    env = {
        **info.environ(),
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "maskqc-benchmark-only"),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "USE_X_FORWARDED_PROTO": "true",
        "TASKS_BACKEND": "rq",
        "REDIS_URL": REDIS_URL,
        "STATIC_ROOT": str(WORK / "static"),
        "MASKQC_VAR_DIR": str(WORK / "var"),
        "MASKQC_ENV_FILE": str(WORK / "no.env"),  # the developer's .env (DEBUG=true) not read
    }
    if port:
        env["GUNICORN_BIND"] = f"127.0.0.1:{port}"
    return env


def prepare(info: Any, *, port: int, clients: int) -> dict:
    """Migrate the copy, collect static files, give each annotator a token; the driver's
    configuration (who, with what, where)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from projects.models import Image, Project, Task, TaskStatus
    from qc.models import ImageAgreement, Instance, ReviewAssignment

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    project = Project.objects.get(slug=info.slug)
    tokens = dict(info.tokens)
    for user in get_user_model().objects.filter(username__in=info.annotators):
        tokens[user.username] = Token.objects.get_or_create(user=user)[0].key
    scale = clients / sum(n for _, n, _ in MIX)
    people = {
        "reviewer": info.reviewers,
        "lead": info.leads,
        "api": info.api_clients,
        "annotator": info.annotators,
    }
    queue = defaultdict(list)
    for username, image_id in ReviewAssignment.objects.filter(
        image__project=project, status="open"
    ).values_list("reviewer__username", "image_id"):
        queue[username].append(image_id)
    config_clients = []
    for role, count, think in MIX:
        for username in people[role][: max(1, round(count * scale))]:
            entry = {"role": role, "username": username, "think": think}
            if role in ("reviewer", "lead"):
                entry["password"] = info.password
            else:
                entry["token"] = tokens[username]
            if role == "reviewer":
                entry["images"] = queue[username]
            config_clients.append(entry)
    for _ in range(FLOOR_CLIENTS):
        config_clients.append({"role": "floor", "username": "", "think": FLOOR_THINK})
    claimable = Task.objects.filter(image__project=project, status=TaskStatus.ASSIGNED).values_list(
        "image_id", flat=True
    )
    payloads: dict[str, list] = defaultdict(list)
    rows = Instance.objects.filter(
        submission__task__image_id__in=claimable, submission__task__annotator__username="wide"
    ).values_list("submission__task__image_id", "rle")
    for image_id, rle in rows.iterator(chunk_size=5000):
        payloads[str(image_id)].append(
            {"label_class": "bubble", "rle": {"size": None, "counts": rle}}
        )
    sizes = dict(Image.objects.filter(project=project).values_list("pk", "height").order_by())
    widths = dict(Image.objects.filter(project=project).values_list("pk", "width").order_by())
    serialised = {}
    for image_id, items in payloads.items():
        for item in items:
            item["rle"]["size"] = [sizes[int(image_id)], widths[int(image_id)]]
        serialised[image_id] = json.dumps(items)
    tasks = Task.objects.filter(image__project=project).count()
    with_agreement = list(
        ImageAgreement.objects.filter(image__project=project).values_list("image_id", flat=True)
    )
    return {
        "port": port,
        "slug": info.slug,
        "clients": config_clients,
        "payloads": serialised,
        "agreement_images": with_agreement,
        "task_pages": max(1, tasks // 50),
    }


def start_server(info: Any, *, port: int, web_workers: int | None, log: Path) -> Any:
    env = {**os.environ, **_server_env(info, port=port)}
    if web_workers:
        env["WEB_CONCURRENCY"] = str(web_workers)
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    if (ROOT / "gunicorn.conf.py").is_file():
        command = [gunicorn, "-c", "gunicorn.conf.py", "config.wsgi"]
    else:
        # Until the repository has its configuration: the same shape by flags.
        workers = web_workers or 2 * (os.cpu_count() or 1) + 1
        command = [gunicorn, "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
        command += ["--worker-class", "gthread", "--threads", "4", "config.wsgi"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def start_worker(info: Any, *, log: Path) -> Any:
    env = {**os.environ, **_server_env(info, port=0)}
    # As bin/worker runs it: the scheduler runs the deferred rebuilds of the project report.
    command = [sys.executable, "manage.py", "rqworker", "--with-scheduler", "default"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def wait_until_serving(port: int, server: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}; see its log")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/login/", headers={"X-Forwarded-Proto": "https"})
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer on port {port} within {timeout:.0f} s")


def stop(process: Any, name: str) -> None:
    """SIGTERM (a worker finishes its current job), then SIGKILL after 30 s."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop in 30 s: killed")
        process.kill()
        process.wait()


# =========================================================== after the load: agreement


def _run_submissions(project: Any, since: float) -> Any:
    from datetime import UTC, datetime

    from qc.models import Submission

    return Submission.objects.filter(
        task__image__project=project,
        submitted_at__gte=datetime.fromtimestamp(since, tz=UTC),
    )


def _stale_images(project: Any, since: float) -> int:
    """Images submitted to in the run whose stored agreement is missing or older than their
    latest submission."""
    from django.db.models import F, Max, Q

    latest = (
        _run_submissions(project, since)
        .values("task__image_id")
        .annotate(last=Max("submitted_at"), computed=Max("task__image__agreement__computed_at"))
    )
    return latest.filter(Q(computed__isnull=True) | Q(computed__lt=F("last"))).count()


def wait_drained(project: Any, since: float, timeout: float) -> float | None:
    """Seconds until the queue is empty and every image of the run has its agreement."""
    import django_rq
    from rq.registry import StartedJobRegistry

    queue = django_rq.get_queue("default")
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        running = StartedJobRegistry(queue=queue).count
        if queue.count == 0 and running == 0 and _stale_images(project, since) == 0:
            return time.monotonic() - started
        time.sleep(0.5)
    return None


def agreement_latency(project: Any, since: float) -> list[float]:
    """Per image submitted to in the run: seconds from its latest submission to its stored
    agreement."""
    from django.db.models import Max

    rows = (
        _run_submissions(project, since)
        .values("task__image_id")
        .annotate(last=Max("submitted_at"), computed=Max("task__image__agreement__computed_at"))
    )
    return [
        (r["computed"] - r["last"]).total_seconds()
        for r in rows
        if r["computed"] is not None and r["computed"] >= r["last"]
    ]


# ============================================================================ report


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def report(result: dict, *, drained: float | None, latency: list[float], args: Any) -> bool:
    """Print the table and the goals; True when every goal is met."""
    wall = result["wall_s"]
    ok = True
    header = (
        f"{'endpoint':26} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'4xx':>5} {'5xx':>5} {'conn':>5}  goal"
    )
    print(header)
    print("-" * len(header))
    for endpoint, kind in ENDPOINTS.items():
        samples = result["samples"].get(endpoint, [])
        times = [ms for _, ms in samples]
        c4 = sum(1 for status, _ in samples if 400 <= status < 500)
        c5 = sum(1 for status, _ in samples if status >= 500)
        conn = result["failures"].get(endpoint, 0)
        p95 = _percentile(times, 95)
        goal = GOALS_MS.get(kind)
        verdict = ""
        if goal is not None:
            met = p95 <= goal
            verdict = f"p95 <= {goal:.0f} ms: {'ok' if met else 'MISSED'}"
            ok &= met
        if c5:
            verdict += " (5xx: MISSED)"
            ok = False
        print(
            f"{endpoint:26} {len(samples):8d} {len(samples) / wall:7.1f} "
            f"{_percentile(times, 50):8.1f} {p95:8.1f} {_percentile(times, 99):8.1f} "
            f"{c4:5d} {c5:5d} {conn:5d}  {verdict}"
        )
    submitted = sum(1 for s, _ in result["samples"].get("submission POST API", []) if s == 201)
    rate = submitted / wall
    ok &= rate >= GOAL_SUBMISSIONS_PER_S
    print(
        f"submissions: {submitted} stored, {rate:.1f}/s "
        f"[goal >= {GOAL_SUBMISSIONS_PER_S:.0f}/s: "
        f"{'ok' if rate >= GOAL_SUBMISSIONS_PER_S else 'MISSED'}]"
    )
    if drained is None:
        ok = False
        print(f"agreement queue drained: not within {args.drain_timeout:.0f} s [MISSED]")
    else:
        met = drained <= GOAL_DRAINED_S
        ok &= met
        print(
            f"agreement queue drained {drained:.1f} s after the load stopped "
            f"[goal <= {GOAL_DRAINED_S:.0f} s: {'ok' if met else 'MISSED'}]"
        )
    if latency:
        print(
            f"agreement update latency (submission to stored agreement), {len(latency)} "
            f"images: p50 {_percentile(latency, 50):.2f} s, p95 {_percentile(latency, 95):.2f} s"
        )
    cpu_share = result["driver_cpu_s"] / wall
    requests = sum(map(len, result["samples"].values()))
    print(
        f"driver: one process, {requests} requests in {wall:.1f} s, CPU "
        f"{result['driver_cpu_s']:.1f} s ({cpu_share:.0%} of one core)"
    )
    return ok


# ============================================================================== main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--think", type=float, default=1.0, help="Scales every think time.")
    parser.add_argument("--port", type=int, default=8860)
    parser.add_argument("--web-workers", type=int, help="gunicorn workers (WEB_CONCURRENCY).")
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--no-explain", action="store_true")
    parser.add_argument("--keep", action="store_true", help="Keep the copy database.")
    parser.add_argument("--drive", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.drive:
        config = json.loads(args.drive.read_text())
        result = drive(config, seconds=args.seconds, think=args.think)
        args.out.write_text(json.dumps(result))
        return

    from seed import database_drop, seeded_database

    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    info = seeded_database(images=args.images, seed=args.seed, name=COPY)
    print(
        f"seed: {info.images} images in {info.template}"
        + (f", built in {info.build_seconds:.0f} s" if info.built_now else " (cached)")
        + f"; copy {info.database} in {info.copy_seconds:.1f} s"
    )
    server = worker = None
    try:
        _django_on(info)
        config = prepare(info, port=args.port, clients=args.clients)
        if not args.no_explain:
            from explain import explain_all, print_explained

            print_explained(explain_all())
        from django.db import connections

        from projects.models import Project

        project = Project.objects.get(slug=info.slug)
        connections.close_all()
        import django_rq

        django_rq.get_connection("default").flushdb()  # this benchmark's Redis database
        config_path = WORK / "driver.json"
        config_path.write_text(json.dumps(config))
        server = start_server(
            info, port=args.port, web_workers=args.web_workers, log=WORK / "gunicorn.log"
        )
        worker = start_worker(info, log=WORK / "worker.log")
        wait_until_serving(args.port, server)
        print(
            f"serving on 127.0.0.1:{args.port} (gunicorn, DEBUG off), one RQ worker; "
            f"set-up {time.perf_counter() - started:.0f} s; {len(config['clients'])} clients "
            f"for {args.seconds:.0f} s, think x{args.think}"
        )
        out = WORK / "driver-result.json"
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--drive",
                str(config_path),
                "--out",
                str(out),
                "--seconds",
                str(args.seconds),
                "--think",
                str(args.think),
            ],
            check=True,
        )
        result = json.loads(out.read_text())
        drained = wait_drained(project, result["started_at"], args.drain_timeout)
        latency = agreement_latency(project, result["started_at"])
        print(f"load average {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
        report(result, drained=drained, latency=latency, args=args)
    finally:
        stop(server, "gunicorn")
        stop(worker, "worker")
        from django.db import connections

        connections.close_all()
        try:
            import django_rq

            django_rq.get_connection("default").flushdb()
        except Exception as error:  # Redis gone: nothing of ours to empty
            print(f"Redis not emptied: {error}")
        if not args.keep:
            database_drop(name=COPY)


if __name__ == "__main__":
    main()
