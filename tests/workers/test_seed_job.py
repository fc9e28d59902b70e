"""Generating demo data from the admin page runs as a tracked job."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.models import Contact, JobRun, JobState
from tests.conftest import csrf_token_from


def _post_demo_form(client, **data):
    token = csrf_token_from(client.get("/admin").get_data(as_text=True))
    return client.post(
        "/admin/demo-data",
        data={"csrf_token": token, **data},
        headers={"HX-Request": "true"},
    )


def test_admin_generates_demo_data_in_the_background(
    client, auth, make_member, db, run_jobs
):
    """The form starts a job, its partial polls, and the worker creates the contacts."""
    make_member(email="root@northwind.example", role="admin")
    auth.login("root@northwind.example")
    response = _post_demo_form(client, contacts="120", seed="7")
    assert response.status_code == 202
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'hx-trigger="every 1s"' in html
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0

    run_jobs()
    run = db.session.scalar(select(JobRun))
    assert run.kind == "seed_demo_data" and run.state == JobState.SUCCEEDED
    assert run.result["contacts"] == 120
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 120
    status = client.get(f"/jobs/{run.id}", headers={"HX-Request": "true"})
    assert 'data-job-state="succeeded"' in status.get_data(as_text=True)


def test_demo_data_form_rejects_bad_numbers(client, auth, make_member, db):
    """Out-of-range counts re-render the form with a message; no job starts."""
    make_member(email="root@northwind.example", role="admin")
    auth.login("root@northwind.example")
    response = _post_demo_form(client, contacts="0", seed="x")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Choose between 1 and 1,000,000 contacts." in html
    assert db.session.scalar(select(JobRun)) is None


def test_rerunning_the_same_seed_fails_readably(
    client, auth, make_member, db, run_jobs
):
    """The same seed twice: the second job fails with a message an admin understands."""
    make_member(email="root@northwind.example", role="admin")
    auth.login("root@northwind.example")
    _post_demo_form(client, contacts="50", seed="9")
    run_jobs()
    _post_demo_form(client, contacts="50", seed="9")
    run_jobs()
    second = db.session.scalars(select(JobRun).order_by(JobRun.id)).all()[1]
    assert second.state == JobState.FAILED
    assert second.attempts == 1
    assert "already loaded" in second.error
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 50
