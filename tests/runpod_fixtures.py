"""The loopback RunPod API and the in-process SSH server behind its pods, as fixtures for the
tests that drive the RunPod backend (in-process and through `cockpit supervise`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.fake_runpod import KEY, FakeRunPod
from tests.sshserver import SshTestServer


@pytest.fixture
async def pod_ssh(tmp_path: Path) -> AsyncIterator[SshTestServer]:
    server = SshTestServer(tmp_path / "pod")
    await server.start()
    yield server
    await server.kill()


@pytest.fixture
def fake(pod_ssh: SshTestServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRunPod]:
    fake = FakeRunPod(ssh_port=pod_ssh.port)
    base = fake.start()
    monkeypatch.setenv("RUNPOD_API_BASE_URL", base)
    monkeypatch.setenv("RUNPOD_API_KEY", KEY)
    yield fake
    if fake.create_gate is not None:
        fake.create_gate.set()  # a request held at the gate must not outlive the test
    fake.stop()
