"""Typed settings of the agent side; every field says what it does. Loaded from a config's YAML
sections and overridden by CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from envs.spec import ConfigError, EnvSpec, describe, read_yaml
from resrl import ALGOS, Algo

BackendName = Literal["auto", "hf", "vllm"]  # auto: vLLM where installed, else transformers
BACKENDS: tuple[BackendName, ...] = ("auto", "hf", "vllm")


class VLLMConfig(BaseModel):
    """The vLLM engine (``--backend vllm``, or ``auto`` where vLLM is installed): it runs in the
    trainer's process and takes the trainer's weights after every update."""

    model_config = ConfigDict(extra="forbid")

    dtype: Literal["auto", "bfloat16", "float32"] = Field(
        "auto", description="auto: bfloat16 on CUDA and on CPUs with AVX512-BF16 or AMX, float32 elsewhere.",
    )
    cpu_kv_cache_gib: float = Field(
        2.0, gt=0, description="CPU machines: memory reserved for the KV cache (GiB); 2 GiB holds ~90k tokens of "
        "the default model and leaves a 24 GB machine room for the trainer.",
    )
    gpu_memory_utilization: float = Field(
        0.5, gt=0, le=1, description="CUDA machines: share of GPU memory the engine takes (weights and KV cache).",
    )


class RolloutConfig(BaseModel):
    """How trajectories are collected (the ``rollout:`` section of ``configs/<env>.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    max_turns: int = Field(20, ge=1, description="Agent turns per episode before it is cut (end reason max_turns).")
    max_new_tokens: int = Field(64, ge=1, description="Tokens the model may generate per reply.")
    temperature: float = Field(1.0, ge=0, description="Sampling temperature; 0 decodes greedily.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass.")
    context_tokens: int = Field(
        4096, ge=64, description="Budget for the whole conversation plus one reply; older observations are shortened "
        "to stay under it, and the episode ends (end reason context) when even that is not enough."
    )
    shortened_observation_chars: int = Field(
        120, ge=0, description="Characters an older observation keeps when it is shortened."
    )
    prefix_cache: bool = Field(
        True, description="Keep each conversation's keys and values between turns (transformers backend), so a turn "
        "computes only its new tokens; float rounding then differs slightly from computing everything each turn."
    )
    show_available_actions: bool = Field(True, description="List the env's admissible actions in each user turn.")
    invalid_action_penalty: float = Field(
        0.0, ge=0, description="Subtracted from an episode's reward for each reply with no valid action."
    )
    workers: int = Field(2, ge=1, description="EnvWorker actors; each hosts envs_per_worker envs.")
    envs_per_worker: int = Field(4, ge=1, description="Envs per actor; workers × envs_per_worker episodes run at once.")
    worker_cpus: float = Field(1.0, ge=0, description="CPUs Ray reserves per actor (0 lets actors share cores).")
    call_timeout_s: float = Field(
        300.0, gt=0, description="Longest wait for one actor call; an actor that takes longer is killed and replaced."
    )
    max_attempts: int = Field(
        2, ge=1, description="Times an episode is run when its actor dies; after that it is reported lost."
    )
    object_store_mb: int = Field(512, ge=64, description="Ray object store size when this process starts Ray.")
    vllm: VLLMConfig = Field(default_factory=VLLMConfig)


class LoraConfig(BaseModel):
    """Low-rank adapters (peft) instead of full fine-tuning, for small machines."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="Train LoRA adapters only; the base weights stay frozen.")
    rank: int = Field(16, ge=1, description="Adapter rank r.")
    alpha: int = Field(32, ge=1, description="Adapter scaling alpha (the update is scaled by alpha / r).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the adapter input.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], description="Modules that get adapters."
    )


class DynamicSamplingConfig(BaseModel):
    """Keep only groups whose rewards differ (DAPO's dynamic sampling): a group that ties has zero
    advantage and teaches nothing, so more groups are collected to replace it, within a cap."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Drop tied groups and collect new ones in their place.")
    max_extra_groups: int = Field(
        4, ge=0, description="Groups collected at most per iteration beyond tasks_per_iter to replace tied ones."
    )


class WarmStartSettings(BaseModel):
    """A supervised warm start's recipe: fine-tune on expert demonstrations before RL
    (``agents.warmstart``, a comparison's ``compare.warm_start``)."""

    model_config = ConfigDict(extra="forbid")

    demonstrations: int = Field(48, ge=1, description="Expert episodes on train tasks 0..N-1.")
    epochs: int = Field(1, ge=1, description="Passes over the demonstrations.")
    learning_rate: float = Field(5e-5, gt=0, description="AdamW learning rate of the warm start.")
    batch_size: int = Field(8, ge=1, description="Demonstrations per optimizer step.")
    micro_batch_size: int | None = Field(
        None, ge=1, description="Demonstrations per forward/backward (gradient accumulation); none: the whole "
        "batch (in a comparison: the run config's train.warmstart.micro_batch_size).",
    )


class WarmStartConfig(WarmStartSettings):
    """The warm start run as training's first stage when a short probe finds that the starting model
    cannot act in the env (RL would get no signal)."""

    mode: Literal["auto", "always", "never"] = Field(
        "auto", description="auto: warm start when the probe sees no success and mostly invalid replies."
    )
    probe_tasks: int = Field(4, ge=1, description="Train tasks the probe plays (one sample each).")
    probe_invalid_rate: float = Field(
        0.5, ge=0, le=1, description="The probe calls the model unable to act above this share of invalid replies."
    )


class CurriculumConfig(BaseModel):
    """Difficulty that follows the training success rate, so that groups stay mixed. ``levels`` are
    env arguments laid over ``env.kwargs``, easiest first; none means no curriculum."""

    model_config = ConfigDict(extra="forbid")

    levels: list[dict[str, Any]] = Field(default_factory=list, description="Env kwargs per level, easiest first.")
    start_level: int = Field(0, ge=0, description="Level of the first iteration.")
    window: int = Field(2, ge=1, description="Iterations whose success rate is averaged to decide a move.")
    target_low: float = Field(0.3, ge=0, le=1, description="Rolling success below this: one level easier.")
    target_high: float = Field(0.7, ge=0, le=1, description="Rolling success above this: one level harder.")


class TaskFilterConfig(BaseModel):
    """Where no curriculum shapes the tasks (real game files, other env families): a task whose group
    tied rests for ``cooldown`` iterations, so the iteration's tasks are the ones measured to split
    the policy's samples, or not measured yet (agents/training/task_filter.py)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "on", "off"] = Field(
        "auto", description="auto: on when the run has no curriculum levels and plays its env locally.",
    )
    cooldown: int = Field(4, ge=0, description="Iterations a task rests after its group tied.")


class HeldOutConfig(BaseModel):
    """A small seeded held-out evaluation inside the run: at the start, after a warm start, at the end."""

    model_config = ConfigDict(extra="forbid")

    tasks: int = Field(8, ge=0, description="Held-out tasks 0..N-1 (0 = no held-out evaluation).")
    samples: int = Field(2, ge=1, description="Samples per task.")
    split: str | None = Field(None, description="Held-out split (null: the env's own, envs.eval_split).")
    every: int = Field(0, ge=0, description="Also evaluate every N iterations (0 = start and end only).")


class TrainConfig(BaseModel):
    """How the policy is trained (the ``train:`` section of ``configs/<env>.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    algo: Algo = Field("resrl", description="resrl, or a baseline on the same code path.")
    iterations: int = Field(3, ge=1, description="Rollout + update rounds.")
    tasks_per_iter: int = Field(4, ge=1, description="Tasks (groups) collected per iteration.")
    group_size: int = Field(4, ge=2, description="Samples per task; advantages are normalised within a group.")
    learning_rate: float = Field(1e-5, gt=0, description="AdamW learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping by global norm.")
    epochs: int = Field(1, ge=1, description="Passes over each iteration's trajectories.")
    mini_batch_size: int = Field(8, ge=1, description="Trajectories per optimizer step.")
    micro_batch_size: int = Field(2, ge=1, description="Trajectories per forward/backward (gradient accumulation).")
    clip_low: float = Field(0.2, ge=0, description="PPO clip: ratios below 1 - clip_low are clipped.")
    clip_high: float = Field(0.2, ge=0, description="PPO clip: ratios above 1 + clip_high are clipped.")
    kl_coef: float = Field(0.0, ge=0, description="Weight of a k3 KL penalty to the initial model (0 = off, no copy).")
    lambda_pos: float = Field(0.1, ge=0, description="ResRL/NSR weight on positive samples' advantages.")
    rank: int = Field(16, ge=1, description="ResRL: rank k of the positive-token subspace.")
    num_samples: int = Field(4096, ge=1, description="ResRL: positive agent tokens sampled per group (M).")
    quantile_low: float = Field(0.1, ge=0, le=1, description="ResRL: lower quantile alpha of residual energies.")
    quantile_high: float = Field(0.9, ge=0, le=1, description="ResRL: upper quantile beta of residual energies.")
    floor: float = Field(0.3, ge=0, le=1, description="ResRL: smallest weight xi a negative token can get.")
    positive: Literal["advantage", "reward"] = Field(
        "advantage", description="ResRL/NSR: positive samples are those with A > 0 (the ones the update raises), "
        "or with reward > 0 as in the reference code; the same for 0/1 rewards, not for partial credit.",
    )
    length_scaling: bool = Field(False, description="Scale positive rewards down for long responses.")
    length_start: int = Field(3500, ge=1, description="Length scaling: agent tokens where scaling begins.")
    length_end: int = Field(4096, ge=1, description="Length scaling: agent tokens where it reaches end_scale.")
    length_end_scale: float = Field(0.7, ge=0, le=1, description="Length scaling: factor at and beyond length_end.")
    dtype: Literal["float32", "bfloat16"] = Field("float32", description="Training dtype (bfloat16 on CUDA).")
    bf16_autocast: bool = Field(
        False, description="Updates' and the warm start's forward and backward under bfloat16 autocast: 1.8x "
        "faster on CPUs with AVX512-BF16, but log-probs move 0.03 nats from float32 on average "
        "(docs/generation.md), so off by default.",
    )
    rollout_correction: Literal["auto", "on", "off"] = Field(
        "auto", description="Truncated importance sampling: weight each agent token by min(π_trainer / π_rollout, "
        "tis_cap). auto: on when the rollout backend's numerics differ from the trainer's (vLLM).",
    )
    tis_cap: float = Field(2.0, gt=0, description="The cap C of the truncated importance weights.")
    agent_logits_only: bool = Field(
        True, description="Run the output head only on agent tokens (warm start and updates): the same log-probs, "
        "faster updates; false reproduces runs made before it (gradients round differently).",
    )
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in the backward pass (warm start and updates): the same "
        "gradients in far less memory, for long contexts such as BFCL multi-turn's.",
    )
    checkpoint_every: int = Field(1, ge=1, description="Save a checkpoint every N iterations (and at the end).")
    keep_checkpoints: int = Field(2, ge=1, description="Checkpoints kept on disk (oldest removed first).")
    lora: LoraConfig = Field(default_factory=LoraConfig)
    dynamic_sampling: DynamicSamplingConfig = Field(default_factory=DynamicSamplingConfig)
    warmstart: WarmStartConfig = Field(default_factory=WarmStartConfig)
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    task_filter: TaskFilterConfig = Field(default_factory=TaskFilterConfig)
    heldout: HeldOutConfig = Field(default_factory=HeldOutConfig)


class RunConfig(BaseModel):
    """A whole ``configs/<env>.yaml``."""

    model_config = ConfigDict(extra="forbid")

    env: EnvSpec
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)


class EvalSettings(BaseModel):
    """How a comparison evaluates each model on held-out tasks (``agents.eval``'s settings)."""

    model_config = ConfigDict(extra="forbid")

    split: str | None = Field(None, description="Held-out split (null: the env's own, envs.eval_split).")
    tasks: int = Field(40, ge=1, description="Tasks 0..N-1 of the split.")
    samples: int = Field(8, ge=1, description="Samples per task (the k of Avg@k; pass@j for j <= k).")
    temperature: float | None = Field(None, ge=0, description="Sampling temperature (null: the rollout's).")


class CompareSettings(BaseModel):
    """What a comparison runs (the ``compare:`` section of ``configs/experiments/*.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    algorithms: list[Algo] = Field(
        list(ALGOS), min_length=1, description="Trained with equal budgets."
    )
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, description="One run per algorithm and seed.")
    model: str | None = Field(None, description="Starting model (null: the built-in default).")
    backend: BackendName = Field(
        "auto", description="Generation backend of every training and evaluation run (agents.train --backend).",
    )
    warm_start: WarmStartSettings | None = Field(None, description="Fine-tune the model on demonstrations first.")
    eval: EvalSettings = Field(default_factory=EvalSettings)


class ExperimentConfig(RunConfig):
    """A ``configs/experiments/*.yaml``: a run config shared by every algorithm, and the comparison."""

    compare: CompareSettings = Field(default_factory=CompareSettings)

    def run_config(self) -> RunConfig:
        """The part ``agents.train`` and ``agents.eval`` read. The comparison warm-starts and evaluates
        every model itself, so its training runs do neither."""
        config = RunConfig.model_validate(self.model_dump(exclude={"compare"}))
        config.train.warmstart.mode = "never"
        config.train.heldout.tasks = 0
        return config


Schema = TypeVar("Schema", bound=BaseModel)


def load_config(path: Path) -> RunConfig:
    """Read and validate a YAML run config."""
    return _load(path, RunConfig)


def load_experiment(path: Path) -> ExperimentConfig:
    """Read and validate a comparison's YAML (``configs/experiments/``)."""
    return _load(path, ExperimentConfig)


def _load(path: Path, schema: type[Schema]) -> Schema:
    try:
        return schema.model_validate(read_yaml(path))
    except ValidationError as error:
        raise ConfigError(describe(str(path), error)) from error


def with_overrides(config: RunConfig, *, env_kwargs: dict[str, Any], **sections: dict[str, Any]) -> RunConfig:
    """``config`` with CLI values laid over it (None means "not given"), validated again."""
    data = config.model_dump()
    data["env"]["kwargs"].update({k: v for k, v in env_kwargs.items() if v is not None})
    for section, values in sections.items():
        data[section].update({k: v for k, v in values.items() if v is not None})
    try:
        return RunConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(describe("command line", error)) from error


def served_by(config: RunConfig, urls: str | None) -> RunConfig:
    """``config`` playing its env through the servers at ``urls`` (comma-separated; the servers own
    the env's arguments); every server must be up and serve the env."""
    if not urls:
        return config
    from envs.remote import RemoteEnv, RemoteEnvError, server_urls

    try:
        RemoteEnv.check_server(urls, config.env.id)
        return config.model_copy(update={"env": EnvSpec(id=config.env.id, server=server_urls(urls))})
    except (RemoteEnvError, ValueError) as error:
        raise ConfigError(str(error)) from error
