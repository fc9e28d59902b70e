"""``portal scheduler``: exactly one, and a killed one does not block the next."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import click
import pytest
from rq import cron_scheduler_registry

from workers.cli import SCHEDULER_NAME, claim_scheduler_name, scheduler_command


def _register_scheduler(redis, pid: int, hostname: str) -> None:
    """Leave a registration as a scheduler that was running would have."""
    redis.zadd(cron_scheduler_registry.get_registry_key(), {SCHEDULER_NAME: 1e12})
    redis.hset(
        f"rq:cron_scheduler:{SCHEDULER_NAME}",
        mapping={"hostname": hostname, "pid": str(pid), "name": SCHEDULER_NAME},
    )


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=120)
    return process.pid


def test_a_second_scheduler_refuses_to_start(app, redis):
    """While a live scheduler is registered, another one exits with a message."""
    _register_scheduler(redis, os.getpid(), socket.gethostname())
    result = app.test_cli_runner().invoke(scheduler_command)
    assert result.exit_code != 0
    assert "Another portal scheduler (tessera) is running" in result.output


def test_a_dead_scheduler_on_this_host_is_forgotten(app, redis):
    """A registration left by a scheduler whose process is gone on this host is
    removed; one from another host with a fresh heartbeat still blocks."""
    from rq.cron import CronScheduler

    cron = CronScheduler(connection=redis, name=SCHEDULER_NAME)
    _register_scheduler(redis, _dead_pid(), "elsewhere.example")
    with pytest.raises(click.ClickException, match="elsewhere.example"):
        claim_scheduler_name(cron)
    _register_scheduler(redis, _dead_pid(), socket.gethostname())
    claim_scheduler_name(cron)
    assert cron_scheduler_registry.get_keys(redis) == []
