"""The demo command: seeds a project that makes every page meaningful, keeps it (and what the
user made in it) on a second run with the same logins, and starts over with --reset."""

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from projects.models import Image, Project, Task
from projects.selectors import project_overview, review_queue
from qc.demo import demo_seed
from qc.models import (
    ImageAgreement,
    ImageLabel,
    InstanceFlag,
    Review,
    SendBack,
    Submission,
)
from qc.selectors.feedback import style_feedback
from qc.services import review_decide

USERS = ["lead", "rita", "rui", "anna", "ben", "cleo"]


@pytest.fixture(autouse=True)
def logins_file(settings, tmp_path):
    settings.MASKQC_DEMO_LOGINS_FILE = tmp_path / "var" / "demo-logins.json"
    return settings.MASKQC_DEMO_LOGINS_FILE


def _demo(capsys, *args: str) -> list[str]:
    call_command("demo", *args)
    return capsys.readouterr().out.splitlines()


def _passwords(lines: list[str]) -> dict[str, str]:
    """username -> password, from the lines that show one (as CI's smoke run reads them)."""
    return {
        line.split()[0]: line.split()[-1]
        for line in lines
        if line.startswith("  ") and "password: " in line
    }


@pytest.mark.django_db
def test_a_second_run_keeps_the_project_and_what_was_made_in_it(capsys):
    first = _demo(capsys, "--images", "9")
    project = Project.objects.get()
    rita = get_user_model().objects.get(username="rita")
    waiting = review_queue(user=rita, project=project).first()
    submission = Submission.objects.filter(task__image=waiting).order_by("pk").first()
    review_decide(submission=submission, reviewer=rita, decision="accept")
    reviews = Review.objects.count()

    second = _demo(capsys)

    assert Project.objects.get().pk == project.pk
    assert Review.objects.count() == reviews
    assert Review.objects.filter(submission=submission, decision="accept").exists()
    assert first[0] == second[0] == "Demo users (log in at /login/):"
    assert _passwords(second) == _passwords(first)
    assert sorted(_passwords(first)) == sorted(USERS)
    assert second[-1] == (
        f"Kept demo project pool-boiling as it was: 9 images, {Submission.objects.count()} "
        f"submissions, {reviews} reviews. `manage.py demo --reset` (`make demo RESET=1`) "
        "starts over."
    )


@pytest.mark.django_db
def test_the_kept_passwords_log_in(client, capsys):
    _demo(capsys, "--images", "3")

    kept = _passwords(_demo(capsys))

    logged_in = {name: client.login(username=name, password=pw) for name, pw in kept.items()}
    assert logged_in == dict.fromkeys(USERS, True)


@pytest.mark.django_db
def test_a_password_changed_since_the_seeding_is_not_printed(capsys):
    _demo(capsys, "--images", "3")
    ben = get_user_model().objects.get(username="ben")
    ben.set_password("bens-own-secret")
    ben.save()
    get_user_model().objects.filter(username="cleo").update(username="cleo-renamed")

    second = _demo(capsys)

    assert "  ben      annotator  (password changed since the seeding)" in second
    assert "  cleo     annotator  (no longer exists)" in second
    assert not any("bens-own-secret" in line for line in second)
    assert sorted(_passwords(second)) == ["anna", "lead", "rita", "rui"]


@pytest.mark.django_db
def test_without_the_logins_file_a_second_run_says_how_to_get_in(capsys, logins_file):
    _demo(capsys, "--images", "3")
    logins_file.unlink()

    second = _demo(capsys, "--images", "5")

    assert second[0].startswith("Demo users: their passwords are not known here (no readable ")
    assert "manage.py changepassword USERNAME" in second[0]
    assert "(--images applies to a new seeding: add --reset)" in second[-1]
    assert Image.objects.count() == 3


@pytest.mark.django_db
def test_the_logins_file_is_readable_by_its_owner_only(capsys, logins_file):
    lines = _demo(capsys, "--images", "3")

    stored = json.loads(logins_file.read_text())

    assert stat.S_IMODE(os.stat(logins_file).st_mode) == 0o600
    assert {name: entry["password"] for name, entry in stored["users"].items()} == _passwords(lines)
    assert stored["users"]["rita"]["role"] == "reviewer"
    assert f"The passwords are kept in {logins_file} (only you can read it)" in "\n".join(lines)


@pytest.mark.django_db
def test_an_existing_logins_file_is_made_private_again(capsys, logins_file):
    logins_file.parent.mkdir(parents=True)
    logins_file.write_text("{}")
    logins_file.chmod(0o644)

    _demo(capsys, "--images", "3")

    assert stat.S_IMODE(os.stat(logins_file).st_mode) == 0o600


@pytest.mark.django_db
def test_reset_starts_over_with_new_passwords(capsys):
    first = _demo(capsys, "--images", "3")
    project = Project.objects.get()

    again = _demo(capsys, "--reset", "--images", "3")

    assert Project.objects.get().pk != project.pk
    assert again[-1].startswith("Seeded demo project pool-boiling: 3 images,")
    assert set(_passwords(again)) == set(USERS)
    assert all(_passwords(again)[name] != _passwords(first)[name] for name in USERS)
    assert set(get_user_model().objects.values_list("username", flat=True)) == set(USERS)
    assert _passwords(_demo(capsys)) == _passwords(again)


@pytest.mark.django_db
def test_demo_has_guideline_versions_agreement_and_reviews(capsys):
    _demo(capsys, "--images", "9")
    project = Project.objects.get()

    versions = project.guidelines.get().versions.order_by("number")
    overview = project_overview(project=project)

    assert [(v.number, bool(v.rules)) for v in versions] == [(1, False), (2, True), (3, True)]
    assert [v.acknowledgements.count() for v in versions] == [3, 3, 1]
    # The three overlapped images have agreement (the demo is seeded: exact counts)
    assert ImageAgreement.objects.filter(image__project=project).count() == 3
    assert Task.objects.filter(image__project=project).count() == 15  # 3 images × 3 + 6 × 1
    assert {status: n for status, _, n in overview["tasks"]} == {
        "assigned": 2,
        "in_progress": 0,
        "submitted": 8,
        "accepted": 2,
        "rejected": 3,
        "cancelled": 0,
    }
    assert {state: n for state, _, n in overview["images"]} == {
        "unassigned": 0,
        "annotating": 2,
        "in_review": 4,
        "needs_rework": 2,
        "accepted": 1,
    }
    assert Counter(Review.objects.values_list("decision", flat=True)) == {"accept": 2, "reject": 3}
    assert ImageLabel.objects.filter(image__project=project).count() == 1
    assert Submission.objects.filter(task__image__project=project).count() == 13
    assert Submission.objects.filter(guideline_versions=versions[1]).count() == 8


@pytest.mark.django_db
def test_demo_makes_every_page_meaningful():
    result = demo_seed(images=12)
    project = result.project
    users = {u.username: u for u in get_user_model().objects.all()}

    rejections = Review.objects.filter(decision="reject")
    flagged = rejections.filter(flags__isnull=False).distinct()
    assert rejections.exclude(reasons=[]).count() == rejections.count() > 0
    assert all(review.comment for review in rejections)
    assert flagged.exists() and rejections.exclude(pk__in=flagged).exists()
    assert set(InstanceFlag.objects.values_list("reason", flat=True)) == {"boundary_too_loose"}
    assert SendBack.objects.filter(image__project=project, comment__gt="").count() == 1
    assert ImageLabel.objects.filter(from_consensus=True).exists()
    assert ImageLabel.objects.filter(is_gold=True).exists()
    for reviewer in ("rita", "rui"):
        waiting = review_queue(user=users[reviewer], project=project)
        assert waiting.filter(agreement__isnull=False).exists(), reviewer
        assert waiting.count() >= 2, reviewer
    for annotator in ("anna", "ben", "cleo"):
        weeks = style_feedback(user=users[annotator], project=project)["weeks"]
        assert len(weeks) >= 2, annotator
    assert (
        Task.objects.filter(status__in=["assigned", "rejected"], due_date__isnull=True).count() == 0
    )


@pytest.mark.django_db
def test_the_demo_s_history_runs_in_order():
    result = demo_seed(images=12)
    project = result.project

    versions = list(project.guidelines.get().versions.order_by("number"))
    first_submission = Submission.objects.order_by("submitted_at").first()
    reviews = Review.objects.select_related("submission")

    assert versions[0].published_at < first_submission.submitted_at
    assert all(review.created_at > review.submission.submitted_at for review in reviews)
    assert versions[1].published_at < versions[2].published_at
    span = Submission.objects.latest("submitted_at").submitted_at - first_submission.submitted_at
    assert span.days >= 21


# ------------------------------------------------------------ bin/demo: server and worker

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 240  # a loaded CI machine migrates, seeds and starts slowly


def _script_env(var_dir: Path, port: int) -> dict[str, str]:
    """bin/demo's environment: the deployment settings (not the tests'), DEBUG on, SQLite
    and the database task backend in ``var_dir``, nothing from a developer's .env."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "TASKS_BACKEND"}
        and not key.startswith("PYTEST")
    }
    env.update(
        MASKQC_ENV_FILE=os.devnull,
        MASKQC_VAR_DIR=str(var_dir),
        DEBUG="true",
        TASKS_BACKEND="database",
        PYTHON=sys.executable,
        HOST="127.0.0.1",
        PORT=str(port),
        DEMO_IMAGES="3",
    )
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(what: str, check, *, process: subprocess.Popen, log: Path) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if process.poll() is not None:
            break
        time.sleep(0.25)
    raise AssertionError(f"no {what} (exit {process.poll()}):\n{log.read_text()}")


def _worker_pid(output: str) -> int | None:
    """The worker's pid, as bin/demo reports it."""
    found = re.search(r"Worker started \(TASKS_BACKEND=database, pid (\d+)\)", output)
    return int(found.group(1)) if found else None


def _group_alive(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group ``pgid``."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry.name))
    return alive


def _http(url: str, *, data: bytes | None = None, headers: dict | None = None) -> dict:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _coco_upload(image_name: str) -> tuple[bytes, str]:
    coco = {
        "images": [{"id": 1, "file_name": image_name, "width": 640, "height": 480}],
        "categories": [{"id": 1, "name": "bubble"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [[100, 100, 160, 100, 160, 150, 100, 150]],
                "iscrowd": 0,
            }
        ],
    }
    boundary = "maskqc-demo-test"
    parts = [
        ("format", None, b"coco"),
        ("options", None, json.dumps({"annotator": "dora", "create_users": True}).encode()),
        ("file", "fix.json", json.dumps(coco).encode()),
    ]
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _import_through_the_api(base: str, var_dir: Path) -> dict:
    """Queue an import as the lead through the API; the job as the API shows it once it has
    left ``pending`` and ``running``."""
    logins = json.loads((var_dir / "demo-logins.json").read_text())["users"]
    credentials = json.dumps({"username": "lead", "password": logins["lead"]["password"]})
    token = _http(
        f"{base}/api/v1/auth/token/",
        data=credentials.encode(),
        headers={"Content-Type": "application/json"},
    )["token"]
    auth = {"Authorization": f"Token {token}"}
    body, content_type = _coco_upload("run07_frame00000.png")
    imports = f"{base}/api/v1/projects/pool-boiling/imports/"
    job = _http(imports, data=body, headers={**auth, "Content-Type": content_type})
    deadline = time.monotonic() + WAIT_SECONDS
    while job["status"] in ("pending", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        job = _http(f"{imports}{job['id']}/", headers=auth)
    return job


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(not shutil.which("setsid"), reason="bin/demo needs setsid (util-linux)")
def test_bin_demo_serves_with_a_worker_that_finishes_imports_and_stops_with_the_server(
    tmp_path,
):
    var_dir = tmp_path / "var"
    port = _free_port()
    env = _script_env(var_dir, port)
    migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v0"]
    subprocess.run(migrate, cwd=ROOT, env=env, check=True, timeout=WAIT_SECONDS)
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        # A session of its own, as a terminal's foreground job: Ctrl-C reaches the group.
        # SIGINT as a terminal leaves it, whatever this process inherited (a job started in
        # the background of a script ignores SIGINT, and so would everything it starts).
        demo = subprocess.Popen(
            ["bin/demo"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_interruptible,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        worker = _wait_for("worker", lambda: _worker_pid(log.read_text()), process=demo, log=log)
        _wait_for("server", lambda: _answers(f"{base}/login/"), process=demo, log=log)

        job = _import_through_the_api(base, var_dir)

        assert (job["status"], job["progress"]) == ("done", 1.0), job
        assert job["summary"]["instances"] == 1
        assert _group_alive(worker)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C
        demo.wait(timeout=60)
    assert _group_alive(worker) == []
    assert "Worker stopped." in log.read_text()

    # The server exiting by itself (its port is taken) stops the worker too; the second run
    # keeps the demo and prints the same logins.
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the TIME_WAIT
        taken.bind(("127.0.0.1", port))
        taken.listen()
        again = subprocess.run(
            ["bin/demo"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT_SECONDS,
            start_new_session=True,
        )
    output = again.stdout + again.stderr
    second_worker = _worker_pid(output)
    assert again.returncode != 0
    assert "That port is already in use" in output
    assert "Kept demo project pool-boiling as it was: 3 images" in output
    assert _group_alive(second_worker) == []
