"""/admin/jobs: filter by kind and state; what the reconciler did is listed."""

from __future__ import annotations

from portal.audit import record_audit


def test_jobs_filter_by_kind_and_state_and_show_the_reconciler(
    client, auth, db, factories, make_member
):
    admin = make_member(email="root@tessera.example", role="admin")
    auth.login(admin.email)
    seed = factories.make_job_run(kind="seed_demo_data", state="failed")
    mail = factories.make_job_run(kind="deliver_email", state="succeeded")
    lost = factories.make_job_run(kind="deliver_email", state="queued")
    record_audit(
        "job.requeued",
        actor=None,
        target=lost,
        details={"reason": "its job is missing from Redis", "was": "queued"},
    )
    db.session.commit()

    def runs_shown(query: str) -> set[int]:
        html = client.get(f"/admin/jobs?{query}", headers={"HX-Request": "true"})
        text = html.get_data(as_text=True)
        return {run.id for run in (seed, mail, lost) if f'/jobs/{run.id}"' in text}

    assert runs_shown("") == {seed.id, mail.id, lost.id}
    assert runs_shown("kind=deliver_email") == {mail.id, lost.id}
    assert runs_shown("kind=deliver_email&state=queued") == {lost.id}
    assert runs_shown("kind=no_such_kind") == {seed.id, mail.id, lost.id}
    page = client.get("/admin/jobs").get_data(as_text=True)
    assert "queued again" in page and "its job is missing from Redis" in page
