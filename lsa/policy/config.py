"""Configuration of the LSA policy (SPEC §7): model, pretraining, GRPO, SFT, direct and inference.

One dataclass per YAML section (`model:`, `pretrain:`, `grpo:`, `sft:`, `direct:`, `inference:`);
`policy_config(cfg)` validates them all. Every default below is also written in `config/*.yaml`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import build_dataclass
from ..errors import ConfigError

#: where the shipped, GRPO-trained embedded code policy lives (inside the package, so pip installs it)
EMBEDDED_POLICY_DIR = Path(__file__).resolve().parent.parent / "data" / "models" / "embedded-code"


@dataclass(frozen=True)
class ModelConfig:
    """Which causal LM is the policy: an HF id / local path, or the project's embedded model."""

    name_or_path: str | None = None
    """HF hub id or local directory loaded with `from_pretrained`; None = the shipped embedded policy."""
    size: str = "tiny"
    """Architecture of a freshly built embedded model: one of `tiny`, `small` (see models.SIZES)."""
    vocab_size: int = 2048
    """Vocabulary size of the byte-level BPE tokenizer trained on the corpus (embedded model only)."""
    max_position_embeddings: int = 1024
    """Context length of the embedded model (prompt + completion)."""
    dtype: str = "float32"
    """Weights dtype when loading: float32, bfloat16 or float16 (CPU: float32)."""
    lora: bool = False
    """Wrap the model with a peft LoRA adapter (the paper profile)."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: int = 32
    """LoRA scaling alpha."""
    lora_dropout: float = 0.05
    """LoRA dropout."""
    lora_target_modules: list = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    """Module names that receive LoRA adapters."""
    prompt_max_tokens: int | None = 256
    """Token budget of the serialized state in the prompt. The embedded model uses a small budget
    (256) because its context is short and every prompt token costs generation/backprop time on
    CPU; a real LLM (paper profile) uses 1024. None = SPEC default 1024."""
    api_doc_in_prompt: bool | None = None
    """Show the primitives API_DOC in the prompt. None = automatic: only for models with a chat
    template (real instruction-tuned LLMs); the embedded model learned the API from its corpus."""
    trust_remote_code: bool = False
    """Passed to from_pretrained."""

    def validate(self) -> "ModelConfig":
        from .models import SIZES
        if self.size not in SIZES:
            raise ConfigError(f"model.size must be one of {', '.join(SIZES)}, got {self.size!r}")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ConfigError(f"model.dtype must be float32, bfloat16 or float16, got {self.dtype!r}")
        if not 256 <= self.vocab_size <= 65536:
            raise ConfigError("model.vocab_size must be in [256, 65536]")
        if self.prompt_max_tokens is not None and self.prompt_max_tokens < 32:
            raise ConfigError("model.prompt_max_tokens must be >= 32 or null")
        return self


@dataclass(frozen=True)
class PretrainConfig:
    """Causal-LM pretraining of the embedded model on the generated heuristic-program corpus."""

    output_dir: str = "results/models/base-tiny"
    """Where the pretrained base model (config, tokenizer, safetensors) is saved."""
    log_csv: str = "results/pretrain/pretrain_log.csv"
    """Per-logging-step CSV of the pretraining loss."""
    n_programs: int = 12000
    """Number of (prompt, program) pairs in the corpus."""
    n_instances: int = 240
    """Number of random instances whose serializations form the prompts (programs are paired at random)."""
    instance_n: list = field(default_factory=lambda: [10, 20, 30, 50, 100, 200])
    """Sizes N of the corpus instances."""
    instance_k: list = field(default_factory=lambda: [3, 4, 6, 8])
    """Channel counts K of the corpus instances."""
    direct_share: float = 0.0
    """Share of corpus examples in the direct paradigm (0: the base model never saw channel lists,
    which is what shows the cold start)."""
    epochs: float = 2.0
    """Passes over the corpus."""
    batch_size: int = 16
    """Sequences per optimizer step."""
    learning_rate: float = 2.0e-3
    """Peak AdamW learning rate (cosine decay, warmup 3 %)."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    max_steps: int = -1
    """Cap on optimizer steps (-1: from epochs)."""
    seed: int = 0
    """Seed of corpus generation and training."""
    loss_on_prompt: bool = False
    """Train on prompt tokens too (False: loss only on the program, the prompt is context)."""
    logging_steps: int = 10
    """Steps between log rows (loss) in log_csv."""
    torch_threads: int | None = None
    """torch.set_num_threads during pretraining (None: torch default; 1 is faster on a busy 2-core box)."""

    def validate(self) -> "PretrainConfig":
        if self.n_programs < 1 or self.n_instances < 1:
            raise ConfigError("pretrain.n_programs and pretrain.n_instances must be >= 1")
        if not 0.0 <= self.direct_share <= 1.0:
            raise ConfigError("pretrain.direct_share must be in [0, 1]")
        return self


@dataclass(frozen=True)
class GRPOSection:
    """GRPO with TRL's GRPOTrainer (SPEC §7). Reward R = λ1·R_struct + λ2·R_perf + λ3·R_depth."""

    paradigm: str = "code"
    """`code` (the model writes assign(net, rng)) or `direct` (the model writes the channel list)."""
    base_model: str | None = "results/models/base-tiny"
    """Model GRPO starts from (local path or HF id); null = model.name_or_path."""
    output_dir: str = "results/grpo/code"
    """Checkpoints (checkpoint-*/) and the final model (final/)."""
    log_csv: str = "results/grpo/code/train_log.csv"
    """Tidy per-step CSV: step, r_struct, r_perf, r_depth, reward, valid_share, completion_length, time_s."""
    num_generations: int = 8
    """Group size G (completions per prompt)."""
    prompts_per_step: int = 1
    """Distinct prompts (instances) per optimizer step; the batch is prompts_per_step * G completions."""
    max_steps: int = 300
    """Optimizer steps."""
    learning_rate: float = 1.0e-4
    """AdamW learning rate."""
    beta: float = 0.0
    """KL coefficient to the reference model (0: no reference model is loaded)."""
    temperature: float = 0.7
    """Sampling temperature of rollouts (0.7: at 1.0 the tiny model's junk-token tail breaks most
    ~150-token programs; TRL scales the log-probs by the same temperature)."""
    max_completion_length: int = 224
    """Max new tokens per completion (programs are ~60-200 tokens)."""
    lambda_struct: float = 1.0
    """λ1, weight of R_struct."""
    lambda_perf: float = 1.0
    """λ2, weight of R_perf."""
    lambda_depth: float = 1.0
    """λ3, weight of R_depth."""
    depth_free_nodes: int = 120
    """R_depth: AST nodes allowed free of penalty."""
    depth_scale_nodes: int = 240
    """R_depth: nodes beyond the free allowance that cost the full 0.5 node penalty."""
    perf_clip: list = field(default_factory=lambda: [-1.0, 2.0])
    """R_perf is clipped to this range (0 = random level, 1 = the greedy reference)."""
    loss_type: str = "dapo"
    """TRL loss aggregation (grpo, dr_grpo, dapo, bnpo...)."""
    scale_rewards: str = "group"
    """TRL advantage scaling: group, batch or none."""
    n_train_instances: int = 64
    """Training instances (prompts); the dataset cycles over them."""
    train_n: list = field(default_factory=lambda: [20, 30, 50])
    """Sizes N of training instances."""
    train_k: list = field(default_factory=lambda: [3, 4, 6])
    """Channel counts K of training instances."""
    train_regimes: list = field(default_factory=lambda: ["sparse", "dense", "ultra-dense"])
    """Density regimes of training instances."""
    seed: int = 0
    """Seed of training instances (held-out evaluation uses seeds >= 10_000) and of the trainer."""
    exec_timeout_s: float = 2.0
    """Sandbox timeout per program during training."""
    exec_workers: int | None = 2
    """Parallel sandbox workers for the reward (None: all cores)."""
    save_steps: int = 50
    """Checkpoint interval (resume after a kill restarts from the last one)."""
    save_total_limit: int = 2
    """Checkpoints kept."""
    resume: bool = True
    """Resume from the last checkpoint in output_dir when there is one."""
    bf16: bool = False
    """bfloat16 mixed precision (GPU)."""
    use_vllm: bool = False
    """Generate with vLLM (GPU, paper profile; not installed here)."""
    gradient_checkpointing: bool = False
    """Trade compute for memory (large models)."""
    torch_threads: int | None = None
    """torch.set_num_threads during training (None: torch default)."""

    def validate(self) -> "GRPOSection":
        if self.paradigm not in ("code", "direct"):
            raise ConfigError(f"grpo.paradigm must be 'code' or 'direct', got {self.paradigm!r}")
        if self.num_generations < 2:
            raise ConfigError("grpo.num_generations (G) must be >= 2")
        if self.prompts_per_step < 1 or self.max_steps < 1:
            raise ConfigError("grpo.prompts_per_step and grpo.max_steps must be >= 1")
        for name in ("lambda_struct", "lambda_perf", "lambda_depth"):
            if getattr(self, name) < 0:
                raise ConfigError(f"grpo.{name} must be >= 0")
        if self.exec_timeout_s <= 0:
            raise ConfigError("grpo.exec_timeout_s must be > 0")
        return self


@dataclass(frozen=True)
class SFTSection:
    """SFT warm start of the direct paradigm (TRL SFTTrainer) on exact optima of small instances."""

    base_model: str | None = "results/models/base-tiny"
    """Model the warm start begins from."""
    output_dir: str = "results/sft/direct"
    """Where the SFT model is saved."""
    log_csv: str = "results/sft/direct/sft_log.csv"
    """Per-logging-step CSV of the SFT loss."""
    n_instances: int = 400
    """Small instances solved exactly (targets)."""
    instance_n: list = field(default_factory=lambda: [6, 8, 10])
    """Sizes N of SFT instances (exact optimum must be tractable)."""
    instance_k: list = field(default_factory=lambda: [3])
    """Channel counts K of SFT instances."""
    epochs: float = 3.0
    """Passes over the SFT set."""
    batch_size: int = 16
    """Sequences per step."""
    learning_rate: float = 1.0e-3
    """AdamW learning rate."""
    exact_budget_s: float = 2.0
    """Time budget of the exact solver per instance."""
    seed: int = 0
    """Seed of SFT instances."""
    max_steps: int = -1
    """Cap on steps (-1: from epochs)."""

    def validate(self) -> "SFTSection":
        if self.n_instances < 1:
            raise ConfigError("sft.n_instances must be >= 1")
        return self


@dataclass(frozen=True)
class DirectSection:
    """The direct paradigm's GRPO runs (cold start vs SFT warm start); same logs as the code run."""

    train_n: list = field(default_factory=lambda: [6, 8, 10])
    """Sizes N of direct-paradigm GRPO instances (the model writes N integers)."""
    train_k: list = field(default_factory=lambda: [3])
    """Channel counts K."""
    max_steps: int = 100
    """GRPO steps of each direct run."""
    max_completion_length: int = 64
    """Max new tokens of a channel list."""
    cold_output_dir: str = "results/grpo/direct-cold"
    """GRPO from the base model (no SFT)."""
    warm_output_dir: str = "results/grpo/direct-sft"
    """GRPO from the SFT model."""

    def validate(self) -> "DirectSection":
        if self.max_steps < 1:
            raise ConfigError("direct.max_steps must be >= 1")
        return self


@dataclass(frozen=True)
class InferenceConfig:
    """`lsa-code` / `lsa-direct` under the time-bounded protocol (SPEC §5)."""

    batch_size: int = 4
    """Programs sampled per generate() call (best-of-n proceeds in batches while time remains)."""
    max_new_tokens: int = 224
    """Max new tokens per program."""
    temperature: float = 0.7
    """Sampling temperature."""
    top_p: float = 1.0
    """Nucleus sampling."""
    exec_timeout_s: float = 5.0
    """Upper bound on a program's sandbox timeout (also capped by the remaining budget)."""
    exec_workers: int | None = 1
    """Parallel sandbox workers (1 = matched compute on one thread)."""
    max_programs: int = 64
    """Stop after this many programs even if time remains."""
    reuse_cache: bool = True
    """Run programs that were valid on earlier instances (kept in the loaded state) before sampling new ones."""
    cache_size: int = 16
    """Programs kept in that cache."""
    torch_threads: int = 1
    """torch threads during generation (matched compute: the harness's thread count)."""

    def validate(self) -> "InferenceConfig":
        if self.batch_size < 1 or self.max_new_tokens < 1 or self.max_programs < 1:
            raise ConfigError("inference.batch_size, max_new_tokens and max_programs must be >= 1")
        return self


@dataclass(frozen=True)
class PolicyConfig:
    model: ModelConfig
    pretrain: PretrainConfig
    grpo: GRPOSection
    sft: SFTSection
    direct: DirectSection
    inference: InferenceConfig


def policy_config(cfg: dict | None) -> PolicyConfig:
    """Validate every policy section of a loaded YAML profile (missing sections take defaults)."""
    cfg = cfg or {}
    return PolicyConfig(
        model=build_dataclass(ModelConfig, cfg.get("model"), "model"),
        pretrain=build_dataclass(PretrainConfig, cfg.get("pretrain"), "pretrain"),
        grpo=build_dataclass(GRPOSection, cfg.get("grpo"), "grpo"),
        sft=build_dataclass(SFTSection, cfg.get("sft"), "sft"),
        direct=build_dataclass(DirectSection, cfg.get("direct"), "direct"),
        inference=build_dataclass(InferenceConfig, cfg.get("inference"), "inference"),
    )
