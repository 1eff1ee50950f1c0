"""A loopback fake of RunPod's GraphQL API for tests: the real request and response shapes
(FACTS.md), pod state that moves (starting with `runtime: null`, then SSH ports), a request
counter per operation, and scripted faults. Its pods' port 22 is an in-process SSH server."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEY = "rp_test_key_0123456789abcdef"


@dataclass
class Fault:
    op: str
    """pods, pod (one by id), create, stop or terminate."""
    kind: str
    """401, 429, 500-errors, html-502, graphql-error, capacity, timeout, went-wrong, ignored
    (answers OK and does nothing); any of them with `-after-success` acts first and then
    answers with the fault."""
    times: int = 1
    """How many requests it answers."""
    seconds: float = 0.0
    """Or: every request for this long from the first it answers."""
    retry_after: str = "0"
    """The 429's Retry-After header."""
    then: list[Fault] = field(default_factory=list)
    """Faults that start once this one answered."""
    _until: float | None = None


@dataclass
class FakeRunPod:
    ssh_port: int
    starting_polls: int = 1
    """How many pod listings show a new pod with `runtime: null` before its ports appear."""
    cost_per_hr: float = 2.99
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    faults: list[Fault] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    slow_s: float = 2.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    create_gate: threading.Event | None = None
    """When set to an Event, a create request is held until it is set (then carried out, even
    if the client is gone by then)."""
    create_held: threading.Event = field(default_factory=threading.Event)
    """Set when a create request reached the closed gate."""
    hidden: dict[str, int] = field(default_factory=dict)
    """Pod name: how many more `myself` listings leave it out (it still exists)."""
    uptime_offset_s: float = 0.0
    """Added to every pod's uptime (a test reaching a cost cap without waiting an hour)."""
    on_gone: Callable[[dict[str, Any]], None] | None = None
    """Called (in the server's thread) when a pod is stopped or terminated: the pod's machine
    goes away (a test kills the SSH server standing in for it)."""

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length).decode()
                gate = fake.create_gate
                if gate is not None and "podFindAndDeployOnDemand" in raw:
                    fake.create_held.set()
                    gate.wait(60)
                status, body, headers = fake.answer(self.headers.get("Authorization", ""), raw)
                if status == 0:  # a timeout: answer too late
                    time.sleep(fake.slow_s)
                    status = 200
                payload = body.encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- the API ------------------------------------------------------------------------

    def answer(self, auth: str, raw: str) -> tuple[int, str, dict[str, str]]:
        with self.lock:
            self.bodies.append(raw)
            request = json.loads(raw)
            query: str = request["query"]
            variables = request.get("variables") or {}
            op = (
                "create" if "podFindAndDeployOnDemand" in query
                else "stop" if "podStop" in query
                else "terminate" if "podTerminate" in query
                else "pods" if "myself" in query
                else "pod" if "pod(" in query
                else "other"
            )  # fmt: skip
            self.counts[op] += 1
            fault = next((f for f in self.faults if f.op == op), None)
            if fault is not None:
                now = time.monotonic()
                if fault.seconds:
                    fault._until = fault._until or now + fault.seconds
                    if now >= fault._until:
                        self.faults.remove(fault)
                        fault = None
                else:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
            if fault is not None:
                self.faults += fault.then
                fault.then = []
                kind = fault.kind.removesuffix("-after-success")
                if kind == "ignored":
                    empty = {"terminate": {"podTerminate": None}, "stop": {"podStop": None}}
                    return 200, json.dumps({"data": empty.get(op, {})}), {}
                if kind != fault.kind:
                    self._do(op, variables)
                return self._fault(kind, fault.retry_after)
            if auth != f"Bearer {KEY}":
                return 401, "Unauthorized", {}
            return 200, json.dumps({"data": self._do(op, variables)}), {}

    def _fault(self, kind: str, retry_after: str = "0") -> tuple[int, str, dict[str, str]]:
        errors = lambda message: json.dumps({"errors": [{"message": message}]})  # noqa: E731
        return {
            "401": (401, "Unauthorized", {}),
            "429": (429, errors("rate limited"), {"Retry-After": retry_after}),
            "500-errors": (500, errors("internal error"), {}),
            "html-502": (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", {}),
            "graphql-error": (200, errors("podId is invalid"), {}),
            "capacity": (
                200,
                errors(
                    "There are no longer any instances available with the requested "
                    "specifications. Please refresh and try again."
                ),
                {},
            ),
            "went-wrong": (200, errors("Something went wrong. Please try again later"), {}),
            "timeout": (0, json.dumps({"data": {}}), {}),
        }[kind]  # fmt: skip

    def _do(self, op: str, variables: dict[str, Any]) -> dict[str, Any]:
        if op == "pods":
            for pod in self.pods.values():
                pod["_polls"] += 1
                if pod["desiredStatus"] == "RUNNING" and pod["_polls"] > self.starting_polls:
                    pod["runtime"] = {
                        "uptimeInSeconds": int(
                            time.time() - pod["_created"] + self.uptime_offset_s
                        ),
                        "ports": [
                            {
                                "ip": "127.0.0.1",
                                "isIpPublic": True,
                                "privatePort": 22,
                                "publicPort": self.ssh_port,
                                "type": "tcp",
                            },
                            {
                                "ip": "10.0.0.7",
                                "isIpPublic": False,
                                "privatePort": 22,
                                "publicPort": 22,
                                "type": "tcp",
                            },
                        ],
                        "gpus": [{"id": "GPU-1", "gpuUtilPercent": 97, "memoryUtilPercent": 88}],
                    }
            gone = [pid for pid, pod in self.pods.items() if pod.get("_terminated")]
            listing = []
            for pod in self.pods.values():
                if self.hidden.get(pod["name"], 0) > 0:  # the list is eventually consistent
                    self.hidden[pod["name"]] -= 1
                    continue
                listing.append(self._public(pod))
            for pid in gone:  # shown once as "Terminated by user", then gone
                del self.pods[pid]
            return {"myself": {"pods": listing}}
        if op == "pod":
            found = self.pods.get(variables["input"]["podId"])
            return {"pod": self._public(found) if found is not None else None}
        if op == "create":
            pod_input = variables["input"]
            self.inputs.append(pod_input)
            pod_id = uuid.uuid4().hex[:14]
            self.pods[pod_id] = {
                "id": pod_id, "name": pod_input["name"], "desiredStatus": "RUNNING",
                "costPerHr": self.cost_per_hr, "lastStatusChange": "Rented by User",
                "imageName": pod_input.get("imageName"), "volumeInGb": pod_input.get("volumeInGb"),
                "machine": {"podHostId": f"{pod_id}-host", "gpuDisplayName": "H100 80GB HBM3"},
                "runtime": None, "_polls": 0, "_created": time.time(),
            }  # fmt: skip
            return {"podFindAndDeployOnDemand": self._public(self.pods[pod_id])}
        pod_id = variables["input"]["podId"]
        pod = self.pods.get(pod_id)
        if op in ("stop", "terminate") and pod is not None and self.on_gone is not None:
            self.on_gone(pod)
        if op == "stop" and pod is not None:
            pod["desiredStatus"] = "EXITED"
            pod["runtime"] = None
            return {"podStop": {"id": pod_id, "desiredStatus": "EXITED"}}
        if op == "terminate" and pod is not None:
            pod["desiredStatus"] = "EXITED"
            pod["runtime"] = None
            pod["lastStatusChange"] = "Terminated by user: cockpit"
            pod["_terminated"] = True
            return {"podTerminate": None}
        return {}

    @staticmethod
    def _public(pod: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in pod.items() if not key.startswith("_")}

    def preempt(self, name: str) -> None:
        with self.lock:
            for pod in self.pods.values():
                if pod["name"] == name:
                    pod["desiredStatus"] = "EXITED"
                    pod["runtime"] = None
                    pod["lastStatusChange"] = "Outbid: spot instance interrupted"

    def add_orphan(self, name: str) -> str:
        with self.lock:
            self._do("create", {"input": {"name": name, "imageName": "x"}})
            return next(pid for pid, pod in self.pods.items() if pod["name"] == name)
