// Software stacks (docs/model.md section 3.5): what the framework that runs a training job does by
// default, as a sourced preset beside the system preset. Loaded from data/stacks/*.yaml (or any
// YAML path) with `extends:`. A stack supplies the plan's software defaults (explicit flags and
// scenario keys still win) and the per-op host costs the compute model charges.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tahoma/units.h"

namespace tahoma {

// How the MoE experts' GEMMs are launched: one GEMM per local expert, each issued by the host
// (Transformer Engine's GroupedLinear, Megatron's default TEGroupedMLP), or one grouped kernel for
// all of them (CUTLASS / cuBLAS grouped GEMM, XLA's ragged dot). Plan::GroupedGemm names it.
enum class GroupedGemmLaunch : std::uint8_t { kPerGemm, kSingleLaunch };
const char* to_string(GroupedGemmLaunch g);  // per-gemm | single-launch
// How context parallelism moves the KV (Plan::CpComm names it): ring (p2p) or all-gather.
enum class CpCommType : std::uint8_t { kRing, kAllGather };
const char* to_string(CpCommType c);  // ring | all-gather

// What the stack's "selective" activation recompute means.
enum class SelectiveRecompute : std::uint8_t {
  // Megatron's --recompute-granularity selective: recompute the core attention (the s x s scores
  // and softmax) and keep every other activation (Korthikanti et al. 2022, Sec. 5).
  kCoreAttention,
  // MaxText's Trillium recipes (remat_policy custom, decoder_layer_input: offload): recompute the
  // layer and keep its input in host DRAM; Tahoma prices it as full recompute with offloaded layer
  // inputs (Plan::offload_activations).
  kOffloadLayerInputs,
  // torchtitan's op-level selective activation checkpointing (activation_checkpoint.mode selective,
  // selective_ac_option "op"; torchtitan/distributed/activation_checkpoint.py _get_custom_policy):
  // save the outputs of the matmuls and of the attention kernel but recompute every second matmul
  // of a layer (counted in execution order: wq, wk, wv, wo, w1, w3, w2 -> wk, wo and w3) and every
  // cheap op (norms, RoPE, SwiGLU, residual adds).
  kOpLevel,
};
const char* to_string(SelectiveRecompute s);

// How a data-parallel rank runs its share of the global batch when the micro-batch is not given.
enum class MicroBatching : std::uint8_t {
  // Gradient accumulation over micro-batches of one sequence (Megatron: --micro-batch-size 1 in
  // the published recipes).
  kGradientAccumulation,
  // The whole per-device batch in one pass, no accumulation (MaxText per_device_batch_size,
  // torchtitan local_batch_size, llm-foundry device_train_microbatch_size = the device batch).
  kWholeLocalBatch,
};
const char* to_string(MicroBatching m);

// How a serving engine forms its batches (docs/serving.md 5):
//   continuous   iteration-level batching: decodes and prefill work share every iteration and a
//                request joins or leaves at any iteration (Orca; vLLM, SGLang, TensorRT-LLM
//                in-flight batching, NxD Inference continuous batching);
//   static       a batch is admitted only into an empty engine, its prompts context-encoded
//                together in one pass, then decoded in lock-step until every sequence is done
//                (transformers-neuronx `sample()` on a model compiled for batch b);
//   alternating  prefill and decode are separate compiled programs: an iteration is either the
//                prefill of one waiting prompt or one decode step of the running slots, alternating
//                while prompts wait (JetStream's orchestrator: prefill one request, insert its KV
//                into a decode slot, generate).
enum class ServingBatching : std::uint8_t { kContinuous, kStatic, kAlternating };
const char* to_string(ServingBatching b);  // continuous | static | alternating
std::optional<ServingBatching> parse_serving_batching(std::string_view s);

// Where an offline benchmark run's batch limits come from (docs/serving.md 6):
//   engine        the engine's max_num_seqs and max_num_batched_tokens, as under any load;
//   trtllm-bench  TensorRT-LLM's offline benchmark (trtllm-bench throughput) sizes both from the KV
//                 cache's capacity for the dataset's lengths (tensorrt_llm/bench/tuning/heuristics.py;
//                 trtllm_bench_limits in include/tahoma/serve.h).
enum class OfflineLimits : std::uint8_t { kEngine, kTrtllmBench };
const char* to_string(OfflineLimits l);  // engine | trtllm-bench

// A serving stack's scheduler and runtime defaults (docs/serving.md): what vLLM, TensorRT-LLM,
// SGLang, NxD Inference or JetStream do when the command line does not say. Names follow vLLM's
// EngineArgs; `tahoma serve` copies them into its ServeEngine (include/tahoma/serve.h).
struct ServingStack {
  int max_num_seqs = 256;              // sequences in one iteration's batch (TRT-LLM max_batch_size)
  int max_num_batched_tokens = 8192;   // tokens in one iteration (TRT-LLM max_num_tokens)
  int block_size = 16;                 // tokens per paged KV block (TRT-LLM tokens_per_block)
  double mem_fraction = 0.9;           // share of memory the engine may fill (see fraction_of_free)
  // What mem_fraction is a share of: all of HBM, weights and activations included (vLLM
  // gpu_memory_utilization, SGLang mem_fraction_static), or what weights and activations leave free
  // (TensorRT-LLM kv_cache_free_gpu_mem_fraction).
  bool fraction_of_free = false;
  bool chunked_prefill = true;         // prompts split across iterations under the token budget
  ServingBatching batching = ServingBatching::kContinuous;  // how batches form (see ServingBatching)
  OfflineLimits offline_limits = OfflineLimits::kEngine;    // an offline run's batch limits (see OfflineLimits)
  // Under attention data parallelism, whether max_num_seqs and max_num_batched_tokens bind each DP
  // rank's scheduler (TensorRT-LLM: every rank has its own executor; vLLM: one engine core per DP
  // rank) or are the instance's, divided over its ranks (SGLang, server_args.py enable_dp_attention).
  bool attention_dp_limits_per_rank = false;
  // Admission: greedy while blocks are free, preempting by recompute when they run out (vLLM), or
  // only with the whole request's KV reserved (TensorRT-LLM GUARANTEED_NO_EVICT, static slots).
  bool guaranteed_admission = false;
  // With fp8 or fp4 weights, the KV cache is fp8 unless told otherwise: the engine reads the
  // quantized checkpoint's KV scheme (ModelOpt's hf_quant_config.json kv_cache_quant_algo "FP8").
  bool quantized_kv_cache = false;
  bool cuda_graphs = true;             // decode iterations replay captured graphs (or compiled programs)
  int cuda_graph_max_tokens = 512;     // the largest captured batch; bigger ones run eagerly
  // Which iterations replay graphs: any batch up to the largest capture (vLLM V1's piecewise graphs
  // around attention; compiled programs on TPU and Neuron), or decode-only batches, an iteration
  // with prompt tokens running eagerly (TensorRT-LLM's DecodingCUDAGraphRunner, SGLang's decode
  // graphs).
  bool cuda_graphs_decode_only = false;
  Seconds graph_kernel_overhead{1e-6};  // per kernel inside a replayed graph (ramp and tail)
  Seconds eager_kernel_overhead{4e-6};  // per kernel launched eagerly (host launch + ramp and tail)
  Seconds iteration_overhead{300e-6};   // host work per iteration not hidden behind the device
  Bytes runtime_reserve{1.5e9};         // memory outside weights, activations and KV (context, NCCL, graphs)
};

// What a stack runs: training jobs (the training knobs) or inference serving (the serving knobs).
enum class StackKind : std::uint8_t { kTraining, kServing };
const char* to_string(StackKind k);  // training | serving

struct Stack {
  std::string name;
  std::string description;
  std::string file;                // where it was loaded from
  StackKind kind = StackKind::kTraining;
  ServingStack serving;            // kServing: the engine's defaults
  bool flash_attention = true;     // fused attention (FlashAttention / cuDNN / NKI / Splash)
  bool sequence_parallel = true;   // Megatron sequence parallelism with TP > 1
  bool tp_comm_overlap = false;    // TP collectives pipelined with their GEMMs (userbuffers)
  bool tp_comm_overlap_fp4 = false;  // the same with fp4 (NVFP4) matmuls; the key defaults to tp_comm_overlap
  bool ep_comm_overlap = false;    // MoE all-to-all hidden under another micro-batch's compute
  bool grad_reduce_fp32 = true;    // gradient buffers and their DP reduction in fp32 (else bf16)
  SelectiveRecompute selective_recompute = SelectiveRecompute::kCoreAttention;
  MicroBatching micro_batching = MicroBatching::kGradientAccumulation;
  // Fixed cost of one launched op: host launch plus the kernel's ramp and tail (docs/model.md 4).
  Seconds kernel_overhead{0};
  GroupedGemmLaunch grouped_gemm = GroupedGemmLaunch::kPerGemm;
  // Host time to issue one expert GEMM when the stack launches them one by one, added to the
  // GEMMs' device time (docs/model.md 3.5 says why it is added, not overlapped).
  Seconds grouped_gemm_dispatch{0};
  CpCommType cp_comm = CpCommType::kRing;
};

// Limits (InputError names them): kernel_overhead and grouped_gemm_dispatch 0 .. 1 ms; the
// serving knobs as stack.cpp's table states them.
inline constexpr double kMaxStackOverheadSeconds = 1e-3;

// The table of stack knobs (STYLE.md 3, "one declaration per field"): the preset reader, `show
// stack` (table and JSON) and `list fields` walk it, so a new knob is one line in stack.cpp plus
// its physics. Values travel as a bool (kBool), a name (kChoice) or a number (kSeconds, kBytes,
// kInteger, kNumber), within [min, max]. A training stack states the training knobs, a serving
// stack (kind: serving) the serving knobs.
enum class StackFieldKind { kBool, kChoice, kSeconds, kBytes, kInteger, kNumber };
using StackValue = std::variant<bool, std::string, double>;
struct StackField {
  std::string_view key;       // YAML key and `show stack` row
  std::string_view json_key;  // key in the JSON of the stack (seconds carry a _s suffix)
  std::string_view help;      // what the knob means in the runtime
  StackFieldKind kind;
  StackKind section = StackKind::kTraining;  // the kind of stack that states it
  double min = 0, max = 0;                   // the numeric kinds
  std::vector<std::string> choices;  // kChoice, in the order messages list them
  // Every stack states each knob (a parent may state it for it), except a knob that defaults to an
  // earlier knob's value (tp_comm_overlap_fp4 to tp_comm_overlap).
  std::string_view defaults_to;
  StackValue (*get)(const Stack&);
  void (*set)(Stack&, const StackValue&);
};
std::span<const StackField> stack_fields();
// "yes", "per-gemm", "33 us": a knob's value as `show stack` prints it.
std::string stack_value_text(const StackField& f, const Stack& s);

// Loads a stack by preset name (data/stacks/NAME.yaml) or YAML path, resolving `extends:` (a
// relative path is read from the directory of the file that names it). Throws InputError naming
// file and key for an unknown key, a value of the wrong type or outside its range, or a cycle.
Stack load_stack(const std::string& name_or_path, const std::string& base_dir = "");

struct StackInfo {
  std::string name;
  std::string description;
};
// Stack presets in the data directory, sorted, with their one-line descriptions.
std::vector<StackInfo> list_stack_presets();

// The stack preset a published run used, from its `framework` and `framework_version` columns and
// its system preset, by the first matching rule of data/frameworks.yaml; nullopt when no rule
// matches (a framework without a stack preset). Throws InputError for a malformed rules file.
struct FrameworkMatch {
  std::string stack;
  std::string rule;  // the rule that matched, for reports ("megatron-bridge >= 26.0")
};
std::optional<FrameworkMatch> stack_for_framework(const std::string& framework, const std::string& version,
                                                  const std::string& system);

// Orders dotted version strings numerically ("24.07" < "25.4" < "2021"; a leading 'v' ignored):
// negative, 0 or positive. Non-numeric parts compare as text.
int compare_versions(const std::string& a, const std::string& b);

}  // namespace tahoma
