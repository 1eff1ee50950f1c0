"""Launching runs: the guards that refuse a launch, pre-flight, and the backend launch.

A launch request is answered as soon as the run row exists; pre-flight and the backend launch
then go on beside the poll loop, so a long smoke test never delays the health rules of other
runs. A failing pre-flight step ends the run (class `preflight`) before anything is billed.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from backends.base import Backend, RunSpec
from cockpit import facts, preflight
from cockpit.gitinfo import head_commit
from cockpit.launcher import RequestRefused, build_run, find_hypothesis, new_run_id
from cockpit.plan import Hypothesis, Plan
from cockpit.records import RunRecord
from cockpit.supervisor_base import SupervisorBase, log


class LaunchMixin(SupervisorBase):
    async def launch(
        self,
        hypothesis: str,
        plan: str | None = None,
        backend: str | None = None,
        request_id: str | None = None,
        allow_dirty: bool = False,
        parent: RunRecord | None = None,
    ) -> RunRecord:
        """Check the guards, create the run, and start pre-flight + launch in the background."""
        plan_obj, plan_rel, hyp = find_hypothesis(self.project, self.config.plans, hypothesis, plan)
        backend_name = backend or self.config.default_backend
        if backend_name not in self.backends:
            raise RequestRefused(
                f"no backend {backend_name!r} (configured: {', '.join(sorted(self.backends))})"
            )
        self.check_launch_guards(plan_obj, plan_rel, hyp)
        backend_obj = self.backends[backend_name]
        commit = head_commit(self.project)
        run_id = new_run_id(hyp.id, lambda candidate: self.store.run(candidate) is not None)
        spec, record = build_run(
            self.config, self.project, hyp, plan_rel, backend_name,
            backend_obj.run_dir(run_id), commit, run_id, request_id, self.clock(),
        )  # fmt: skip
        if self.artifact_store is not None:
            from dataclasses import replace

            uri = {"COCKPIT_ARTIFACTS_URI": self.artifact_store.uri(run_id)}
            spec = replace(spec, env={**spec.env, **uri})
        record = _with(
            record,
            spec=spec.to_json(),
            parent=parent.id if parent else None,
            detail="pre-flight",
            cap=facts.run_cap(self.store, self.config, plan_rel, hyp),
        )
        self._create(record, f"launch {hyp.id} ({plan_rel}) on {backend_name} at {commit[:12]}")
        self.launching.add(run_id)
        self.spawn(
            self._preflight_and_start(record, spec, backend_obj, plan_obj, allow_dirty),
            name=f"launch:{run_id}",
        )
        return record

    def check_launch_guards(self, plan: Plan, plan_rel: str, hyp: Hypothesis) -> None:
        """Refuse, with the reason, a launch that must not happen."""
        active = [run for run in self.store.active_runs() if run.plan == plan_rel]
        for run in active:
            if run.hypothesis == hyp.id:
                raise RequestRefused(f"{hyp.id} is already running as {run.id}")
        if len(active) >= self.config.max_parallel:
            names = ", ".join(run.id for run in active)
            raise RequestRefused(
                f"{plan_rel} already has {len(active)} active run(s) ({names}); max_parallel is "
                f"{self.config.max_parallel} (concurrent runs multiply GPU spend)"
            )
        cap = facts.plan_cap(self.store, self.config, plan_rel)
        spent = self.store.plan_cost(plan_rel)
        if cap is not None and spent >= cap:
            raise RequestRefused(
                f"{plan_rel} has cost ${spent:.2f}, its plan cap is ${cap:.2f}: raise the cap first"
            )
        last = next(iter(self.store.runs_of(plan_rel, hyp.id)), None)
        if last is not None and last.state == "cap-exceeded":
            run_cap = facts.run_cap(self.store, self.config, plan_rel, hyp)
            if run_cap is None or (last.cap is not None and run_cap <= last.cap):
                raise RequestRefused(
                    f"{hyp.id}'s last run {last.id} reached its cost cap "
                    f"(${last.cap or 0:.2f}): raise the cap first"
                )

    def _create(self, record: RunRecord, message: str) -> None:
        with self.store.transaction():
            self.store.create_run(record)
            self.store.add_event(record.id, "launch", message)
        self.paths.mirror(record.id).mkdir(parents=True, exist_ok=True)

    async def relaunch_same_spec(self, old: RunRecord, request_id: str | None) -> RunRecord:
        """Auto-recover: the same spec and commit as the next attempt, no pre-flight (it
        passed for this commit already)."""
        plan = self.plan(old.plan)
        if plan is not None and plan.state in ("paused", "stopped"):
            raise RequestRefused(f"plan state is {plan.state}: {old.id} is not relaunched")
        if old.state == "cap-exceeded":
            raise RequestRefused(f"{old.id} reached its cost cap: never relaunched automatically")
        backend = self.backends[old.backend]
        run_id = new_run_id(old.hypothesis, lambda candidate: self.store.run(candidate) is not None)
        spec = RunSpec.from_json({**old.spec, "run_id": run_id})
        spec = RunSpec.from_json(
            {**spec.to_json(), "command": spec.command.replace(old.id, run_id)}
        )
        record = _with(
            old, id=run_id, spec=spec.to_json(), handle=None, state="starting",
            request_id=request_id, created_at=self.clock(), started_at=None, ended_at=None,
            exit_code=None, cost_so_far=0.0, uptime_s=0.0, detail="relaunching",
            failure_class=None, failure_source=None, failure_line_no=None, failure_line=None,
            attempt=old.attempt + 1, parent=old.id, warnings=(), guard="",
        )  # fmt: skip
        self._create(record, f"attempt {record.attempt}: relaunch of {old.id} at {old.commit[:12]}")
        self.launching.add(run_id)
        self.spawn(self._start_guarded(record, spec, backend), name=f"relaunch:{run_id}")
        return record

    async def _preflight_and_start(
        self, record: RunRecord, spec: RunSpec, backend: Backend, plan: Plan, allow_dirty: bool
    ) -> None:
        mirror = self.paths.mirror_log(record.id, "onstart")
        try:
            with open(mirror, "a", encoding="utf-8") as out:

                def write(text: str) -> None:
                    out.write(text)
                    out.flush()

                steps: list[preflight.Step] = []
                try:
                    steps = await preflight.run_preflight(
                        self.project, self.config.preflight, plan.flags, record.commit,
                        backend.is_remote, allow_dirty,
                        {"hypothesis": record.hypothesis, "run_id": record.id,
                         "commit": record.commit, "run_dir": backend.run_dir(record.id)},
                        {"COCKPIT_RUN_ID": record.id, "COCKPIT_PREFLIGHT": "1",
                         "COCKPIT_RUN_DIR": str(self._preflight_dir(record.id))}, write,
                        self.config.plans,
                    )  # fmt: skip
                except preflight.PreflightFailed as failed:
                    self._preflight_failed(record, failed.step, mirror)
                    return
                self.store.update_run(record.id, detail=preflight.summary(steps))
            self.store.set_prefix_bytes(record.id, "onstart", mirror.stat().st_size)
            if record.id in self.stop_during_launch:  # stopped during pre-flight
                request_id = self.stop_during_launch.pop(record.id)
                self.finish(
                    record.id, "stopped", "stopped before launch", None, None,
                    guard="stopped on request",
                )  # fmt: skip
                if request_id:
                    self.store.finish_request(request_id, "done", f"stopped {record.id}")
                return
            await self._start_guarded(record, spec, backend)
        finally:
            self.launching.discard(record.id)

    def _preflight_dir(self, run_id: str) -> Path:
        """Where smoke and test commands may write (never the project itself)."""
        folder = self.paths.mirror(run_id) / "preflight"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _preflight_failed(self, record: RunRecord, step: preflight.Step, mirror: Path) -> None:
        from cockpit import health

        line_no = mirror.read_bytes().count(b"\n")
        detail = f"pre-flight {step.name} failed: {step.detail}"
        failure = health.Failure("preflight", detail, "onstart", line_no)
        self.finish(record.id, "failed", detail, failure, None, guard="pre-flight failed")

    async def _start_guarded(self, record: RunRecord, spec: RunSpec, backend: Backend) -> None:
        try:
            await self.start(record, spec, backend)
        except Exception:
            log.exception("launch of %s failed", record.id)
            if record.id in self.stop_during_launch:  # the launch failed: nothing to stop
                request_id = self.stop_during_launch.pop(record.id)
                if request_id:
                    self.store.finish_request(request_id, "done", f"{record.id} never started")
        finally:
            self.launching.discard(record.id)

    async def start(self, record: RunRecord, spec: RunSpec, backend: Backend) -> None:
        """Ask the backend to launch (idempotent on the run id) and start mirroring."""
        try:
            handle = await backend.launch(spec)
        except Exception as exc:
            from cockpit import health

            detail = f"launch failed: {type(exc).__name__}: {exc}"
            failure = health.Failure("infra", detail)
            self.finish(record.id, "failed", detail, failure, None)
            raise
        with self.store.transaction():
            self.store.update_run(record.id, handle=handle.to_json(), started_at=self.clock())
        stop = self.stop_during_launch.pop(record.id, None)
        if stop is not None:
            # Stopped while it was being launched: end what the launch created, right away.
            fresh = self.store.run(record.id)
            if fresh is not None:
                self.begin_stop_and_terminate(fresh, stop, guard="stopped on request")
            return
        self.track(record.id, handle)
        self._wake.set()

    async def resume_launch(self, run: RunRecord) -> None:
        """A run created by a supervisor that died before its backend launch finished: the
        launch is idempotent on the run id, so ask again (pre-flight had passed or not begun)."""
        backend = self.backends.get(run.backend)
        if backend is None or run.id in self.launching:
            return
        if run.detail == "pre-flight":  # it died during pre-flight: nothing was launched
            from cockpit import health

            detail = "the supervisor stopped during pre-flight; launch again"
            self.finish(run.id, "failed", detail, health.Failure("infra", detail), None)
            return
        self.launching.add(run.id)
        with contextlib.suppress(Exception):
            await self._start_guarded(run, RunSpec.from_json(run.spec), backend)


def _with(record: RunRecord, **changes: object) -> RunRecord:
    from dataclasses import replace

    return replace(record, **changes)  # type: ignore[arg-type]
