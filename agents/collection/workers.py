"""Ray actors that host environments, and the pool that keeps them alive.

An ``EnvWorker`` holds a few envs (slots). Each turn the pool sends every worker one call with
all its slots' commands, so the workers step their envs in parallel; a call that fails because
the actor died or went silent past the timeout gets the actor killed and replaced, and the
caller learns which slots were lost. Nothing here waits without a timeout.
"""

from __future__ import annotations

import contextlib
import logging
import os
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import ray
from ray.exceptions import GetTimeoutError, RayActorError

from agents.config import RolloutConfig
from envs.core import EpisodeLostError
from envs.spec import EnvSpec
from sandbox.auth import TOKEN_VAR, read_token

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Command:
    """``reset`` (with seed and options) or ``step`` (with an action) for one slot."""

    kind: Literal["reset", "step"]
    slot: int
    seed: int | None = None
    options: dict[str, Any] | None = None
    action: str = ""


@dataclass(frozen=True)
class Outcome:
    """What a slot's env returned; ``error`` is set (and the rest empty) when the env raised, and
    ``lost`` too when the episode was lost for a reason outside the env (its server went away)."""

    observation: str = ""
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    info: dict[str, Any] | None = None
    error: str | None = None
    lost: bool = False


class EnvWorker:
    """Hosts ``num_slots`` envs made from one spec (``{"id", "kwargs"}`` for ``envs.make_env``).

    An env that raises is closed and rebuilt on its next reset; the error goes back to the caller,
    the worker stays up."""

    def __init__(self, env_spec: Mapping[str, Any], num_slots: int) -> None:
        self.env_spec = dict(env_spec)
        self.envs: list[Any] = [None] * num_slots

    def ready(self) -> str:
        """The id of the Ray node this worker runs on (once its process is up)."""
        return str(ray.get_runtime_context().get_node_id())

    def configure(self, env_spec: Mapping[str, Any]) -> None:
        """Host envs of another spec from the next reset on (a curriculum level, a held-out split)."""
        self.close()
        self.env_spec = dict(env_spec)

    def run(self, commands: Sequence[Command]) -> list[Outcome]:
        return [self._run(command) for command in commands]

    def _run(self, command: Command) -> Outcome:
        try:
            if command.kind == "reset":
                if self.envs[command.slot] is None:
                    import envs

                    self.envs[command.slot] = envs.make_env(self.env_spec)
                observation, info = self.envs[command.slot].reset(seed=command.seed, options=command.options)
                return Outcome(observation=observation, info=info)
            env = self.envs[command.slot]
            if env is None:
                raise RuntimeError(f"slot {command.slot} was stepped before it was reset")
            observation, reward, terminated, truncated, info = env.step(command.action)
            return Outcome(observation, float(reward), bool(terminated), bool(truncated), info)
        except Exception as error:  # the env's fault (or its server's): report it, rebuild the env, keep serving
            self._discard(command.slot)
            detail = traceback.format_exception_only(error)[-1].strip()
            return Outcome(error=f"env raised on {command.kind}: {detail}", lost=isinstance(error, EpisodeLostError))

    def _discard(self, slot: int) -> None:
        env, self.envs[slot] = self.envs[slot], None
        if env is not None:
            try:
                env.close()
            except Exception:  # closing a broken env must not hide the original error
                logger.exception("closing a failed env")

    def close(self) -> None:
        for slot in range(len(self.envs)):
            self._discard(slot)


def start_ray(*, address: str | None = None, num_cpus: int | None = None, object_store_mb: int = 512) -> None:
    """Join the cluster at ``address``, or start a local Ray with bounded CPUs and object store."""
    if ray.is_initialized():
        return
    if address:  # the nodes' env workers may play through env servers: they need the shared token too
        token = read_token()
        ray.init(address=address, log_to_driver=False,
                 runtime_env={"env_vars": {TOKEN_VAR: token}} if token else None)
        return
    ray.init(
        num_cpus=num_cpus or os.cpu_count() or 1,
        object_store_memory=object_store_mb * 1024 * 1024,
        include_dashboard=False,
        log_to_driver=False,
    )


class WorkerPool:
    """``num_workers`` EnvWorker actors with ``slots_per_worker`` envs each; global slot ``s`` lives
    on worker ``s // slots_per_worker``."""

    def __init__(
        self,
        env_spec: Mapping[str, Any],
        *,
        num_workers: int,
        slots_per_worker: int,
        worker_cpus: float = 1.0,
        timeout_s: float = 300.0,
    ) -> None:
        self.env_spec = dict(env_spec)
        self.num_workers = num_workers
        self.slots_per_worker = slots_per_worker
        self.timeout_s = timeout_s
        self._actor_class = ray.remote(num_cpus=worker_cpus, max_restarts=0)(EnvWorker)
        self.restarts = 0
        self.actors = [self._spawn() for _ in range(num_workers)]
        self.nodes = self._wait_ready(self.actors, worker_cpus)  # the Ray nodes the workers run on

    @property
    def num_slots(self) -> int:
        return self.num_workers * self.slots_per_worker

    def run(self, commands: Sequence[Command]) -> tuple[dict[int, Outcome], dict[int, str]]:
        """Run commands (global slots) on every worker in parallel. Returns the outcome per slot,
        and for slots whose worker died or timed out (that worker has been replaced) or whose episode
        was lost (its env server went away), why."""
        by_worker: dict[int, list[Command]] = {}
        for command in commands:
            worker, local = divmod(command.slot, self.slots_per_worker)
            by_worker.setdefault(worker, []).append(Command(command.kind, local, command.seed, command.options,
                                                            command.action))
        refs = {worker: self.actors[worker].run.remote(batch) for worker, batch in by_worker.items()}
        outcomes: dict[int, Outcome] = {}
        lost: dict[int, str] = {}
        _, pending = ray.wait(list(refs.values()), num_returns=len(refs), timeout=self.timeout_s)
        for worker, ref in refs.items():
            base = worker * self.slots_per_worker
            slots = [base + command.slot for command in by_worker[worker]]
            if ref in pending:
                reason = f"worker {worker} gave no answer within {self.timeout_s:.0f} s"
            else:
                try:
                    results = ray.get(ref, timeout=self.timeout_s)
                    for slot, outcome in zip(slots, results, strict=True):
                        if outcome.lost:
                            lost[slot] = outcome.error or "episode lost"
                        else:
                            outcomes[slot] = outcome
                    continue
                except RayActorError as error:
                    reason = f"worker {worker} died ({type(error).__name__})"
            logger.warning("%s; replacing it and re-running its episodes", reason)
            self._replace(worker)
            lost.update(dict.fromkeys(slots, reason))
        return outcomes, lost

    def configure(self, env_spec: Mapping[str, Any]) -> None:
        """Every worker (and every replacement) hosts envs of ``env_spec`` from the next reset on."""
        if dict(env_spec) == self.env_spec:
            return
        self.env_spec = dict(env_spec)
        ray.get([actor.configure.remote(self.env_spec) for actor in self.actors], timeout=self.timeout_s)

    def close(self) -> None:
        for actor in self.actors:
            with contextlib.suppress(RayActorError, GetTimeoutError):
                ray.get(actor.close.remote(), timeout=30)
            ray.kill(actor)

    def _spawn(self) -> Any:
        return self._actor_class.remote(self.env_spec, self.slots_per_worker)

    def _replace(self, worker: int) -> None:
        ray.kill(self.actors[worker], no_restart=True)
        self.actors[worker] = self._spawn()
        self.restarts += 1

    def _wait_ready(self, actors: list[Any], worker_cpus: float) -> set[str]:
        try:
            return set(ray.get([actor.ready.remote() for actor in actors], timeout=self.timeout_s))
        except GetTimeoutError as error:
            total = ray.cluster_resources().get("CPU", 0)  # type: ignore[no-untyped-call]
            for actor in actors:
                ray.kill(actor)
            raise RuntimeError(
                f"{len(actors)} env workers needing {worker_cpus} CPU each did not start within {self.timeout_s:.0f} s "
                f"(the cluster has {total:g} CPUs): use fewer workers or lower worker_cpus"
            ) from error


def start_pool(env: EnvSpec, rollout: RolloutConfig, *, ray_address: str | None = None) -> WorkerPool:
    """Start (or join) Ray and the env workers a run config asks for."""
    start_ray(address=ray_address, object_store_mb=rollout.object_store_mb)
    return WorkerPool(env.model_dump(), num_workers=rollout.workers, slots_per_worker=rollout.envs_per_worker,
                      worker_cpus=rollout.worker_cpus, timeout_s=rollout.call_timeout_s)
