"""Configuration of the LSA policy (docs/policy.md): one self-validating section per YAML key —
`model:`, `pretrain:`, `grpo:`, `sft:`, `direct:`, `inference:`. No section holds a path where a
stage writes: callers pass output directories (the workflow takes them from `lsa.workflow.paths`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from lsa.config import Section, option, section
from lsa.methods.registry import all_methods

#: where the shipped, GRPO-trained embedded policies live (inside the package, so pip installs them)
SHIPPED_MODELS_DIR = Path(__file__).resolve().parent.parent / "data" / "models"
EMBEDDED_POLICY_DIR = SHIPPED_MODELS_DIR / "embedded-code"
EMBEDDED_DIRECT_DIR = SHIPPED_MODELS_DIR / "embedded-direct"
PARADIGMS = ("code", "direct")
#: GRPO instances are generated with seeds TRAIN_INSTANCE_SEED + grpo.seed * INSTANCE_SEED_STRIDE + i, far from
#: the evaluation seeds (0, 1, ...): i < n_train_instances are the training instances, the next
#: validation_instances the held-out validation instances
TRAIN_INSTANCE_SEED = 10_000_000
INSTANCE_SEED_STRIDE = 100_003

#: embedded architectures (Qwen2 decoder); the model-size study uses several
SIZES: dict[str, dict] = {
    "nano": dict(hidden_size=64, intermediate_size=192, num_hidden_layers=1, num_attention_heads=2,
                 num_key_value_heads=1),
    "micro": dict(hidden_size=96, intermediate_size=288, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2),
    "tiny": dict(hidden_size=128, intermediate_size=384, num_hidden_layers=4, num_attention_heads=4,
                 num_key_value_heads=2),
    "small": dict(hidden_size=256, intermediate_size=768, num_hidden_layers=6, num_attention_heads=8,
                  num_key_value_heads=4),
}


@dataclass(frozen=True)
class ModelConfig(Section):
    """Which causal LM is the policy: an HF id / local path, or the project's embedded model."""

    SECTION = "model"

    name_or_path: str | None = option(None, "HF hub id or local directory loaded with from_pretrained; null = the shipped embedded policy.")
    size: str = option("tiny", "Architecture of a freshly built embedded model: nano, micro, tiny or small (Qwen2).")
    vocab_size: int = option(2048, "Vocabulary of the byte-level BPE tokenizer trained on the corpus (embedded model only).")
    max_position_embeddings: int = option(1024, "Context length of the embedded model (prompt + completion).")
    dtype: str = option("float32", "Weights dtype when loading: float32, bfloat16 or float16 (CPU: float32).")
    lora: bool = option(False, "Wrap the model with a peft LoRA adapter (the paper profile).")
    lora_r: int = option(16, "LoRA rank.")
    lora_alpha: int = option(32, "LoRA scaling alpha.")
    lora_dropout: float = option(0.05, "LoRA dropout.")
    lora_target_modules: list[str] = option(["q_proj", "k_proj", "v_proj", "o_proj"], "Module names that receive LoRA adapters.")
    prompt_max_tokens: int | None = option(
        256, "Token budget of the whole prompt (instruction, API documentation, chat template and the "
             "serialized state, counted with the policy's tokenizer). Embedded model: 256 (short context, CPU "
             "cost); chat LLMs with the API documentation need more. null = 1024.")
    api_doc_in_prompt: bool | str | None = option(
        None, "Show the primitives API_DOC in the prompt: true (all of it), 'compact' (rules and the main "
              "signatures, ~260 tokens: small models on a CPU), 'example' (compact plus one valid program, ~40 tokens "
              "more: an in-context example of the answer's form), false; null = all of it for models with a chat template.")
    trust_remote_code: bool = option(False, "Passed to from_pretrained.")
    vocabulary: str = option(
        "full", "Program vocabulary: full (every net method) or primitives (no complete search: local_search, "
                "ils, anneal, tabu_search, restarts are left out of the pretraining grammar and the API "
                "documentation, and a program calling one earns the allow-list's rejection reward in GRPO).")

    def check(self) -> None:
        if self.vocabulary not in ("full", "primitives"):
            self.fail(f"vocabulary must be full or primitives, got {self.vocabulary!r}")
        if self.size not in SIZES:
            self.fail(f"size must be one of {', '.join(SIZES)}, got {self.size!r}")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            self.fail(f"dtype must be float32, bfloat16 or float16, got {self.dtype!r}")
        if not 256 <= self.vocab_size <= 65536:
            self.fail("vocab_size must be in [256, 65536]")
        if self.prompt_max_tokens is not None and self.prompt_max_tokens < 32:
            self.fail("prompt_max_tokens must be >= 32 or null")
        if isinstance(self.api_doc_in_prompt, str) and self.api_doc_in_prompt not in ("compact", "example"):
            self.fail(f"api_doc_in_prompt must be true, false, null, 'compact' or 'example', got {self.api_doc_in_prompt!r}")
        if self.lora_r < 1 or not 0 <= self.lora_dropout < 1:
            self.fail("need lora_r >= 1 and 0 <= lora_dropout < 1")


@dataclass(frozen=True)
class PretrainConfig(Section):
    """Causal-LM pretraining of the embedded model on the generated heuristic-program corpus."""

    SECTION = "pretrain"

    n_programs: int = option(12000, "Number of (prompt, program) pairs in the corpus.")
    n_instances: int = option(240, "Random instances whose serializations form the prompts (programs are paired at random).")
    instance_n: list[int] = option([10, 20, 30, 50, 100, 200], "Sizes N of the corpus instances.")
    instance_k: list[int] = option([3, 4, 6, 8], "Channel counts K of the corpus instances.")
    direct_share: float = option(0.0, "Share of corpus examples in the direct paradigm (0: the base model never saw channel lists).")
    epochs: float = option(2.0, "Passes over the corpus.")
    batch_size: int = option(16, "Sequences per optimizer step.")
    learning_rate: float = option(2.0e-3, "Peak AdamW learning rate (cosine decay, warmup 3 %).")
    weight_decay: float = option(0.01, "AdamW weight decay.")
    max_steps: int = option(-1, "Cap on optimizer steps (-1: from epochs).")
    seed: int = option(0, "Seed of corpus generation and training.")
    loss_on_prompt: bool = option(False, "Train on prompt tokens too (False: loss only on the program).")
    logging_steps: int = option(10, "Steps between log rows (loss).")
    torch_threads: int | None = option(None, "torch.set_num_threads during pretraining (null: torch default).")

    def check(self) -> None:
        if self.n_programs < 1 or self.n_instances < 1:
            self.fail("n_programs and n_instances must be >= 1")
        if not 0.0 <= self.direct_share <= 1.0:
            self.fail("direct_share must be in [0, 1]")
        if not self.instance_n or not self.instance_k or min(self.instance_n) < 1 or min(self.instance_k) < 1:
            self.fail("instance_n and instance_k must be non-empty lists of positive integers")
        if self.batch_size < 1 or self.learning_rate <= 0 or self.logging_steps < 1:
            self.fail("need batch_size >= 1, learning_rate > 0 and logging_steps >= 1")


@dataclass(frozen=True)
class GRPOConfig(Section):
    """GRPO with TRL's GRPOTrainer (docs/policy.md). Reward R = λ1·R_struct + λ2·R_perf + λ3·R_depth."""

    SECTION = "grpo"

    paradigm: str = option("code", "`code` (the model writes assign(net, rng)) or `direct` (the model writes the channel list).")
    num_generations: int = option(8, "Group size G (completions per prompt).")
    prompts_per_step: int = option(1, "Distinct prompts per optimizer step; the batch is prompts_per_step * G completions.")
    max_steps: int = option(300, "Optimizer steps.")
    learning_rate: float = option(1.0e-4, "AdamW learning rate.")
    beta: float = option(0.0, "KL coefficient to the reference model (0: no reference model is loaded).")
    temperature: float = option(0.7, "Sampling temperature of rollouts (TRL scales the log-probs by it too).")
    max_completion_length: int = option(224, "Max new tokens per completion.")
    lambda_struct: float = option(1.0, "λ1, weight of R_struct.")
    lambda_perf: float = option(1.0, "λ2, weight of R_perf.")
    lambda_depth: float = option(1.0, "λ3, weight of R_depth.")
    depth_free_nodes: int = option(120, "R_depth: AST nodes allowed free of penalty.")
    depth_scale_nodes: int = option(240, "R_depth: nodes beyond the free allowance that cost the full 0.5 node penalty.")
    perf_clip: list[float] = option([-1.0, 2.0], "R_perf is clipped to this range (-1 = random level, 0 = greedy, 1 = the strong reference).")
    perf_reference: list[str] = option(["local-search", "ils"], "The strong classical reference of R_perf: the best of these methods, each run on every training instance.")
    perf_reference_budget_s: float | None = option(None, "Budget of that reference run (s); null = exec_timeout_s, the time a program gets.")
    loss_type: str = option("dapo", "TRL loss aggregation (grpo, dr_grpo, dapo, bnpo...).")
    scale_rewards: str = option("group", "TRL advantage scaling: group, batch or none.")
    n_train_instances: int = option(64, "Training instances (prompts); the dataset cycles over them.")
    train_n: list[int] = option([20, 30, 50], "Sizes N of training instances.")
    train_k: list[int] = option([3, 4, 6], "Channel counts K of training instances.")
    train_regimes: list[str] = option(["sparse", "dense", "ultra-dense"], "Density regimes of training instances.")
    seed: int = option(0, "Seed of training instances (evaluation uses other seeds) and of the trainer.")
    exec_timeout_s: float = option(2.0, "Sandbox timeout per program during training (s).")
    exec_workers: int | None = option(2, "Parallel sandbox workers for the reward (null: all cores).")
    save_steps: int = option(50, "Checkpoint interval (resume after a kill restarts from the last one).")
    save_total_limit: int = option(2, "Checkpoints kept.")
    resume: bool = option(True, "Resume from the last checkpoint in the output directory when there is one.")
    bf16: bool = option(False, "bfloat16 mixed precision (GPU).")
    use_vllm: bool = option(False, "Generate with vLLM (GPU, paper profile; not installed here).")
    gradient_checkpointing: bool = option(False, "Trade compute for memory (large models).")
    torch_threads: int | None = option(None, "torch.set_num_threads during training (null: torch default).")
    validation_every: int = option(
        10, "Steps between validations of the policy on held-out instances (the last step is always validated); "
            "the run ships the weights of the validation with the best reward. 0: no validation, the last weights ship.")
    validation_instances: int = option(
        12, "Held-out validation instances: every (N, K, regime) cell of train_n x train_k x train_regimes in turn, "
            "with seeds disjoint from training and evaluation.")
    validation_generations: int = option(2, "Programs (completions) sampled per validation instance at each validation.")
    seed_programs: int = option(4, "Code paradigm: after training, record this many seed programs in the model directory (sampled from the trained policy on its training instances, scored with the training reward; `lsa-code` runs them first on every instance). 0: none.")
    seed_samples: int = option(8, "Programs sampled per training prompt when recording the seed programs.")
    seed_instances: int = option(8, "Training instances (the first ones) whose prompts are sampled and on which the candidate seed programs are scored.")
    seed_screen_instances: int = option(2, "Successive halving of the seed-program scoring: every candidate is first scored on this many of the seed_instances (spread over them); only the best seed_screen_keep go on to be scored on all. 0 (or >= seed_instances): every candidate on every instance.")
    seed_screen_keep: int = option(8, "Candidates that survive the screen (at least seed_programs).")

    def check(self) -> None:
        if self.paradigm not in PARADIGMS:
            self.fail(f"paradigm must be 'code' or 'direct', got {self.paradigm!r}")
        if self.num_generations < 2:
            self.fail("num_generations (G) must be >= 2")
        if self.prompts_per_step < 1 or self.max_steps < 1:
            self.fail("prompts_per_step and max_steps must be >= 1")
        for name in ("lambda_struct", "lambda_perf", "lambda_depth", "beta"):
            if getattr(self, name) < 0:
                self.fail(f"{name} must be >= 0")
        if not 0 < self.exec_timeout_s <= 600:
            self.fail("exec_timeout_s must be in (0, 600]")
        unknown = [m for m in self.perf_reference if m not in all_methods()]
        if not self.perf_reference or unknown:
            self.fail(f"perf_reference must list method names (see `lsa methods`), got {self.perf_reference!r}")
        if self.perf_reference_budget_s is not None and not 0 < self.perf_reference_budget_s <= 600:
            self.fail("perf_reference_budget_s must be in (0, 600] or null")
        if len(self.perf_clip) != 2 or self.perf_clip[0] >= self.perf_clip[1]:
            self.fail(f"perf_clip must be [low, high] with low < high, got {self.perf_clip}")
        for name in ("learning_rate", "temperature"):
            if getattr(self, name) <= 0:
                self.fail(f"{name} must be > 0, got {getattr(self, name)}")
        if not self.train_n or not self.train_k or not self.train_regimes or self.n_train_instances < 1:
            self.fail("train_n, train_k, train_regimes must be non-empty and n_train_instances >= 1")
        if self.validation_every < 0 or self.validation_instances < 1 or self.validation_generations < 1:
            self.fail("need validation_every >= 0 (0: off), validation_instances >= 1 and validation_generations >= 1")
        if self.n_train_instances + self.validation_instances > INSTANCE_SEED_STRIDE:
            self.fail(f"n_train_instances + validation_instances must be <= {INSTANCE_SEED_STRIDE}")
        if self.seed_programs < 0 or self.seed_samples < 1 or self.seed_instances < 1:
            self.fail("need seed_programs >= 0, seed_samples >= 1 and seed_instances >= 1")
        if self.seed_screen_instances < 0 or self.seed_screen_keep < max(1, self.seed_programs):
            self.fail("need seed_screen_instances >= 0 and seed_screen_keep >= max(1, seed_programs)")

    @property
    def batch(self) -> int:
        """Completions per optimizer step (over every process): prompts_per_step * G."""
        return self.prompts_per_step * self.num_generations

    def per_process_batch(self, processes: int) -> int:
        """Completions each of `processes` training processes (one per GPU) generates and trains on
        per step: the batch split evenly, so that a step is the same on 1 or several GPUs (TRL: the
        generation batch, prompts_per_step * G, must be a multiple of per-device batch x processes)."""
        if processes < 1 or self.batch % processes:
            self.fail(f"the batch of prompts_per_step * num_generations = {self.prompts_per_step} * "
                      f"{self.num_generations} = {self.batch} completions does not split evenly over {processes} "
                      "training processes (workflow.gpus.grpo): choose a number of GPUs that divides it")
        return self.batch // processes


@dataclass(frozen=True)
class SFTConfig(Section):
    """SFT warm start of the direct paradigm (TRL SFTTrainer) on exact optima of small instances."""

    SECTION = "sft"

    n_instances: int = option(400, "Small instances solved exactly (the targets).")
    instance_n: list[int] = option([6, 8, 10], "Sizes N of SFT instances (the exact optimum must be tractable).")
    instance_k: list[int] = option([3], "Channel counts K of SFT instances.")
    epochs: float = option(3.0, "Passes over the SFT set.")
    batch_size: int = option(16, "Sequences per step.")
    learning_rate: float = option(1.0e-3, "AdamW learning rate.")
    exact_budget_s: float = option(2.0, "Time budget of the exact solver per instance (s).")
    seed: int = option(0, "Seed of SFT instances.")
    max_steps: int = option(-1, "Cap on steps (-1: from epochs).")

    def check(self) -> None:
        if self.n_instances < 1:
            self.fail("n_instances must be >= 1")
        if not self.instance_n or max(self.instance_n) > 12:
            self.fail("instance_n must be a non-empty list of sizes <= 12 (exact optima)")


@dataclass(frozen=True)
class DirectConfig(Section):
    """How the direct paradigm's GRPO runs (cold start vs SFT warm start) differ from the code run."""

    SECTION = "direct"

    train_n: list[int] = option([6, 8, 10], "Sizes N of direct-paradigm GRPO instances (the model writes N integers).")
    train_k: list[int] = option([3], "Channel counts K.")
    max_steps: int = option(100, "GRPO steps of each direct run.")
    max_completion_length: int = option(64, "Max new tokens of a channel list.")
    beta: float = option(0.04, "KL coefficient to the starting model (keeps the SFT list format; 0: none).")

    def check(self) -> None:
        if self.max_steps < 1 or self.max_completion_length < 1:
            self.fail("max_steps and max_completion_length must be >= 1")
        if self.beta < 0:
            self.fail("beta must be >= 0")


#: how `lsa-code` divides its budget (lsa.policy.allocation) and where the model runs (lsa.policy.runtime)
ALLOCATIONS = ("relay", "incumbent")
RUNTIMES = ("auto", "transformers")


@dataclass(frozen=True)
class InferenceConfig(Section):
    """`lsa-code` / `lsa-direct` under the time-bounded protocol (docs/protocol.md)."""

    SECTION = "inference"

    batch_size: int = option(4, "Programs sampled per generate() call (best-of-n proceeds in batches while time remains).")
    max_new_tokens: int = option(224, "Max new tokens per program.")
    temperature: float = option(0.7, "Sampling temperature.")
    top_p: float = option(1.0, "Nucleus sampling.")
    exec_timeout_s: float = option(5.0, "Upper bound on a program's sandbox timeout (also capped by the remaining budget), s.")
    relay_programs: int = option(2, "Programs that share the remaining budget at a time; each starts from the incumbent (net.start()).")
    generate_share: float = option(0.5, "One generate() call may use at most this share of the remaining budget.")
    max_programs: int = option(64, "Stop after this many programs even if time remains.")
    seed_programs: int = option(3, "Run first this many of the model's seed programs (recorded after its training in lsa_seed_programs.json, the same for every instance; 0: none). Nothing is learnt across instances.")
    seed_share: float = option(0.2, "A seed program's time limit as a share of the budget (at least 0.3 s, at most its relay share).")
    torch_threads: int = option(1, "torch threads during generation (matched compute: the harness's thread count).")
    runtime: str = option("auto", "Where the model runs: 'auto' (a policy this project trained runs on the torch-only runtime, lsa.policy.runtime, without importing transformers; any other model on transformers) or 'transformers' (always).")
    allocation: str = option(
        "incumbent", "How the budget is divided (docs/policy.md, time allocation): incumbent (after the first offer, "
                     "the incumbent's program runs again from the incumbent while its gain per second in the second "
                     "half of its last run beats the gain per second other programs and their generation have "
                     "yielded in this solve; otherwise the next seed program runs or a batch is sampled) or relay "
                     "(the earlier rule: every program gets a share of the time left, sampling goes on while time remains).")
    continue_share: float = option(
        0.5, "allocation incumbent: a run of the incumbent's program gets this share of the time left (all of it "
             "when less than 0.6 s would remain), then the rule is checked again; 1: it keeps all the time.")

    def check(self) -> None:
        if self.allocation not in ALLOCATIONS:
            self.fail(f"allocation must be relay or incumbent, got {self.allocation!r}")
        if not 0 < self.continue_share <= 1:
            self.fail(f"continue_share must be in (0, 1], got {self.continue_share}")
        if self.batch_size < 1 or self.max_new_tokens < 1 or self.max_programs < 1:
            self.fail("batch_size, max_new_tokens and max_programs must be >= 1")
        if self.temperature <= 0 or not 0 < self.top_p <= 1:
            self.fail("need temperature > 0 and 0 < top_p <= 1")
        if not 0 < self.exec_timeout_s <= 600 or self.torch_threads < 1:
            self.fail("need exec_timeout_s in (0, 600] and torch_threads >= 1")
        if self.relay_programs < 1 or not 0 < self.generate_share <= 1:
            self.fail("need relay_programs >= 1 and 0 < generate_share <= 1")
        if self.seed_programs < 0 or not 0 < self.seed_share <= 1:
            self.fail("need seed_programs >= 0 and 0 < seed_share <= 1")
        if self.runtime not in RUNTIMES:
            self.fail(f"runtime must be 'auto' or 'transformers', got {self.runtime!r}")


@dataclass(frozen=True)
class PolicyConfig:
    """Every policy section of a profile."""

    model: ModelConfig
    pretrain: PretrainConfig
    grpo: GRPOConfig
    sft: SFTConfig
    direct: DirectConfig
    inference: InferenceConfig


def policy_config(config: dict | None) -> PolicyConfig:
    """Validate every policy section of a loaded YAML profile (missing sections take defaults)."""
    return PolicyConfig(model=section(config, ModelConfig), pretrain=section(config, PretrainConfig),
                        grpo=section(config, GRPOConfig), sft=section(config, SFTConfig),
                        direct=section(config, DirectConfig), inference=section(config, InferenceConfig))


def direct_variant(grpo: GRPOConfig, direct: DirectConfig) -> GRPOConfig:
    """The GRPO settings of a direct-paradigm run: the code run's, with the `direct:` differences."""
    return dataclasses.replace(grpo, paradigm="direct", train_n=direct.train_n, train_k=direct.train_k,
                               max_steps=direct.max_steps, max_completion_length=direct.max_completion_length,
                               beta=direct.beta)
