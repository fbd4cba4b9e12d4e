// LLM inference serving (docs/serving.md; issue 15): requests arrive, an iteration-level scheduler
// batches them as vLLM / TensorRT-LLM / SGLang do (continuous batching, chunked prefill, paged KV
// blocks, preemption by recompute), each iteration is priced from the compute and collective models,
// and the run reports throughput, TTFT, TPOT and end-to-end latency. Data flows forward only:
//   ServeConfig + RequestSpec -> make_requests -> size_memory -> simulate (scheduler + IterationCost)
//   -> ServeResult -> serve_json / serve_table.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tahoma/comm.h"
#include "tahoma/hw.h"
#include "tahoma/progress.h"
#include "tahoma/stack.h"
#include "tahoma/units.h"
#include "tahoma/workload.h"

namespace tahoma {

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

// The serving engine's scheduler and runtime knobs: what a serving stack preset (vLLM,
// TensorRT-LLM, SGLang, NxD Inference, JetStream) fills. Names follow vLLM's EngineArgs.
struct ServeEngine {
  int max_num_seqs = 256;              // vLLM max_num_seqs (TRT-LLM max_batch_size)
  int max_num_batched_tokens = 8192;   // vLLM max_num_batched_tokens (TRT-LLM max_num_tokens)
  int block_size = 16;                 // vLLM block_size (tokens per paged KV block)
  double mem_fraction = 0.9;           // vLLM gpu_memory_utilization
  // What mem_fraction is a share of: all of HBM (vLLM gpu_memory_utilization, SGLang
  // mem_fraction_static) or the memory weights and workspace leave free (TensorRT-LLM
  // kv_cache_free_gpu_mem_fraction).
  bool fraction_of_free = false;
  bool chunked_prefill = true;         // split prompts across iterations under the token budget
  ServingBatching batching = ServingBatching::kContinuous;  // how batches form (stack.h)
  // Attention DP: the two limits above bind each DP rank (true) or the instance, divided over its
  // ranks (false, SGLang); ServingStack::attention_dp_limits_per_rank.
  bool attention_dp_limits_per_rank = false;
  // Admission: vLLM admits while blocks are free and preempts by recompute when they run out;
  // TensorRT-LLM's GUARANTEED_NO_EVICT (and static-slot engines) admit a request only when the KV of
  // its whole input and output can be reserved, so nothing is ever preempted.
  bool guaranteed_admission = false;
  bool cuda_graphs = true;             // replay captured graphs (vLLM enforce_eager = !cuda_graphs)
  int cuda_graph_max_tokens = 512;     // vLLM max_capture_size: bigger batches run eagerly
  // Graphs for decode-only iterations only (ServingStack::cuda_graphs_decode_only).
  bool cuda_graphs_decode_only = false;
  // E: per-kernel device gap when replaying a CUDA graph (no host launch; ramp and tail only).
  Seconds graph_kernel_overhead{1.0e-6};
  // E: per-kernel cost launched eagerly, the training stacks' eager kernel_overhead (data/stacks,
  // torchtitan.yaml: CUDA launch ~2-3 us + tail).
  Seconds eager_kernel_overhead{4.0e-6};
  // E: host work per iteration not hidden behind the GPU: scheduling, input preparation, sampling
  // and output processing (vLLM V1 overlaps most of it in its engine-core process).
  Seconds iteration_overhead{300.0e-6};
  // E: memory outside the KV cache and the profiled activations: CUDA context, NCCL buffers and
  // captured graphs (vLLM counts it as non-torch memory).
  Bytes runtime_reserve{1.5e9};
};

// A serving layout. Ranks follow Chip::ranks_per_chip (a rank is a framework device).
struct ServeLayout {
  int tp = 1;        // tensor parallel ranks per replica (attention heads, MLP, vocab)
  int pp = 1;        // pipeline stages per replica (vLLM virtual engines: pp batches in flight)
  int ep = 1;        // expert parallel ranks inside the TP group (experts split over ep, each over tp/ep)
  int replicas = 0;  // data-parallel replicas behind a round-robin balancer; 0 = as many as fit
  // Attention data parallelism (DeepSeek-V3 inference, SGLang --enable-dp-attention, TensorRT-LLM
  // enable_attention_dp): each of the tp ranks runs attention for its own requests with its own KV
  // (no attention all-reduce, MLA latent not replicated); the experts are split over ep = tp ranks
  // and reached by all-to-all (docs/serving.md 10).
  bool attention_dp = false;
  // Disaggregated prefill/decode (DistServe, Splitwise, NVIDIA Dynamo; docs/serving.md 9): the first
  // prefill_chips chips run prefill-only instances of prefill_tp ranks (0 = tp), the rest decode;
  // each prompt's KV moves from a prefill rank to a decode rank, timed by kv_network. 0 = colocated.
  int prefill_chips = 0;
  int prefill_tp = 0;
  NetworkMode kv_network = NetworkMode::kAnalytical;
};

enum class SpecMethod : std::uint8_t { kNone, kDraft, kMtp, kEagle };
const char* to_string(SpecMethod m);  // none | draft | mtp | eagle
std::optional<SpecMethod> parse_spec_method(std::string_view s);

// Speculative decoding: `k` proposed tokens per step, `accept` tokens emitted per verification on
// average (the mean accepted length including the target's bonus token, 1 <= accept <= k + 1).
struct Speculation {
  SpecMethod method = SpecMethod::kNone;
  int k = 0;
  double accept = 1.0;
  std::optional<Model> draft;  // kDraft: the draft model
};

struct ServeConfig {
  System system;  // system.chips = the chips given to the run
  Model model;
  ServeLayout layout;
  ServeEngine engine;
  Precision precision = Precision::kBf16;  // weights and GEMMs
  // The routed experts' weights when the checkpoint quantizes them apart from the rest (gpt-oss:
  // MXFP4 experts, BF16 attention; Kimi K2: INT4 experts). Their GEMMs still run at `precision`'s
  // rate: the activations' dtype (W4A8 with fp8, W4A16 with bf16). nullopt: `precision`.
  std::optional<Precision> expert_precision;
  Precision kv_dtype = Precision::kBf16;   // KV cache (bf16, fp8 or fp4)
  Speculation spec;
  std::string stack;  // the serving stack preset `engine` started from, for reports ("" = none named)
};

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

enum class LengthDistKind : std::uint8_t { kFixed, kUniform, kNormal, kLognormal };
const char* to_string(LengthDistKind k);
std::optional<LengthDistKind> parse_length_dist(std::string_view s);

// A token-length distribution with mean `mean`: uniform on mean*(1 -/+ spread), normal with
// standard deviation spread*mean, lognormal with log-space sigma `spread` (mean preserved); every
// draw is rounded and clipped to [1, max].
struct LengthDist {
  LengthDistKind kind = LengthDistKind::kFixed;
  int mean = 1;
  double spread = 0.0;
};

enum class ArrivalKind : std::uint8_t { kOffline, kConcurrency, kPoisson, kTrace };
const char* to_string(ArrivalKind k);

struct RequestSpec {
  ArrivalKind kind = ArrivalKind::kOffline;
  long long count = 1000;   // requests (a trace: rows read, at most this many when given)
  bool count_given = false;
  int concurrency = 0;      // kConcurrency: clients in the closed loop
  double rate = 0;          // kPoisson: requests per second
  std::string trace_file;   // kTrace: CSV or JSONL
  LengthDist input, output;
  std::uint64_t seed = 0;
};

struct Request {
  std::int64_t arrival_ns = 0;  // kConcurrency: unused (a client sends when its previous one ends)
  int input = 1;
  int output = 1;
  // Disaggregated decode: the request enters the scheduler at ready_ns (its KV delivered; -1 = at
  // arrival_ns) with `cached` prompt tokens already in the KV cache; cached == input means the whole
  // prompt and its first token arrived (the client sees that token when the instance admits it).
  // TTFT and latency still count from arrival_ns.
  std::int64_t ready_ns = -1;
  int cached = 0;
};

inline constexpr long long kMaxRequests = 10'000'000;
inline constexpr long long kMaxIterations = 200'000'000;
inline constexpr long long kMaxTotalTokens = 100'000'000'000LL;  // sum of input + output over requests
inline constexpr double kMaxRate = 1e7;                          // requests per second
inline constexpr int kMaxConcurrency = 10'000'000;

// Builds the request list (throws InputError naming the flag, or the trace file and line). Every
// request's input + output must fit `max_context` tokens (the model's context).
std::vector<Request> make_requests(const RequestSpec& spec, int max_context);
// Reads a CSV (header naming the columns) or JSONL trace: arrival time in seconds, or a timestamp
// (the Azure LLM inference trace: TIMESTAMP,ContextTokens,GeneratedTokens), input and output tokens.
std::vector<Request> read_trace(const std::string& path, long long max_rows, int max_context);

// ---------------------------------------------------------------------------------------------
// Cost and memory
// ---------------------------------------------------------------------------------------------

// The work of one iteration on one replica (one pipeline virtual engine).
struct BatchShape {
  long long prefill_tokens = 0;      // prompt tokens computed this iteration (chunks)
  double prefill_pairs_full = 0;     // query-key pairs at the kernel's block granularity, full layers
  double prefill_pairs_window = 0;   // ... on sliding-window layers
  double prefill_keys_full = 0;      // keys read once per chunk (context + chunk), full layers
  double prefill_keys_window = 0;
  int prompts_done = 0;              // prompts whose last chunk runs now (each gets its first token)
  int decode_seqs = 0;               // sequences decoding
  int query_per_seq = 1;             // tokens verified per decoding sequence (1 + proposal length)
  double decode_kv_full = 0;         // KV tokens the decodes read, full layers (sum over sequences)
  double decode_kv_window = 0;       // ... sliding-window layers (capped at the window)
  [[nodiscard]] long long tokens() const { return prefill_tokens + static_cast<long long>(decode_seqs) * query_per_seq; }
};

// Whether an iteration of batch `b` replays captured graphs: graphs on, the batch within the largest
// capture, and no prompt tokens where the engine captures decode batches only.
bool replays_graph(const ServeEngine& engine, const BatchShape& b);

// Time of one iteration, by part (sums to `total`).
struct IterationTime {
  Seconds total{0};
  Seconds compute{0};  // GEMMs, attention and memory-bound kernels, kernel overheads included
  Seconds comm{0};     // TP all-reduce, EP all-to-all, PP hand-offs
  Seconds draft{0};    // speculative proposals
  Seconds host{0};     // per-iteration host overhead
};

// Memory per rank, as the engines size it: KV = mem_fraction x HBM - weights - workspace.
struct ServeMemory {
  Bytes hbm{0};                  // per rank
  Bytes weights{0};              // heaviest pipeline stage, per rank
  Bytes workspace{0};            // activations of the max token budget + logits + runtime reserve
  Bytes kv_capacity{0};          // per rank
  Bytes kv_bytes_per_token{0};   // per rank, every layer of the stage (windowed layers counted)
  long long kv_blocks = 0;       // blocks of block_size tokens for every layer of the stage
  long long kv_tokens = 0;
  long long layer_blocks = 0;    // the scheduler's pool: one block of one layer
  int full_layers = 0;           // layers of the heaviest stage with full attention (+ spec heads)
  int window_layers = 0;         // ... with sliding-window attention
  double kv_share = 1.0;         // the target's share of the KV pool (a draft model keeps the rest)
};

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

struct LatencyStats {
  double mean = 0, p50 = 0, p90 = 0, p99 = 0;  // seconds
};

struct SloSpec {
  std::optional<double> ttft_s;
  std::optional<double> tpot_s;
  double percentile = 99;
  // The rate search's (rates tried, rates it will try at most) as it goes (tahoma/progress.h).
  ProgressFn progress;
};

// The price of moving one prompt's KV cache from a prefill rank to a decode rank (send-recv).
struct KvTransfer {
  Seconds time{0};
  Bytes bytes_per_rank{0};  // the larger of what one prefill rank sends and one decode rank receives
  std::string level;        // the communication level that carries it (CommLevel::name)
  bool scale_up = true;     // inside one scale-up domain (else over the scale-out network)
  std::string algorithm;    // CollectiveModel's choice ("p2p")
};

// What a disaggregated run adds to ServeResult (the throughput, latency and memory fields there
// are the decode pool's; chips_used counts both pools).
struct DisaggResult {
  int prefill_chips = 0, decode_chips = 0;        // used by each pool
  int prefill_replicas = 0, decode_replicas = 0;  // instances
  int prefill_tp = 0;
  ServeMemory prefill_memory;
  long long prefill_iterations = 0;  // of the simulated prefill groups
  double prefill_mean_iteration_s = 0;
  double mean_prefill_s = 0;  // arrival to the prompt's last chunk (queueing + prefill)
  KvTransfer mean_transfer;   // at the mean prompt length
  double mean_transfer_s = 0;
};

struct ServeResult {
  bool servable = true;
  std::string reason;  // why not, when !servable ("cannot serve: ...")
  ServeMemory memory;
  // Layout
  int replicas = 0;
  int chips_per_replica = 0;
  int chips_used = 0;
  int groups = 0;  // replicas x pp virtual engines: the symmetric units simulated
  // Throughput (whole system)
  double output_tokens_per_s = 0;
  double output_tokens_per_s_per_chip = 0;
  double total_tokens_per_s = 0;
  double requests_per_s = 0;
  LatencyStats ttft, tpot, latency;
  double slo_fraction = -1;  // share of requests within the SLO limits (-1: no limits given)
  // Requests and iterations (the simulated group(s))
  long long requests = 0;
  long long output_tokens = 0;
  long long input_tokens = 0;
  long long iterations = 0;
  long long preemptions = 0;
  double mean_iteration_s = 0;
  double mean_batch_tokens = 0;
  double mean_decode_seqs = 0;
  double duration_s = 0;   // first arrival to last completion (the longest group)
  double peak_kv_fraction = 0;
  double batch1_decode_s = 0;  // one decode iteration of one sequence (closed form)
  // SLO search
  std::optional<double> slo_rate;  // highest Poisson rate meeting the limits (requests/s, whole system)
  bool slo_searched = false;
  // Attention data parallelism: the distinct KV tokens one instance holds (kv_tokens x tp, each
  // rank its own requests; kv_tokens otherwise, the TP ranks share one set of sequences).
  long long instance_kv_tokens = 0;
  std::optional<DisaggResult> disagg;  // set when the layout has a prefill pool
};

// Sizes memory; the result is servable = false with the reason when the weights, the workspace or
// one request of `longest_tokens` tokens does not fit. Throws InputError for a layout that does not
// divide the model or the system.
ServeMemory size_memory(const ServeConfig& config, long long longest_tokens, std::string* reason);

// Checks the layout and the engine settings (InputError naming the flag).
void validate_serve_config(const ServeConfig& config);

// Prices one iteration (O(layer kinds), memoised collectives). Not thread-safe (memo).
class IterationCost {
 public:
  explicit IterationCost(const ServeConfig& config);
  ~IterationCost();
  IterationCost(const IterationCost&) = delete;
  IterationCost& operator=(const IterationCost&) = delete;
  [[nodiscard]] IterationTime time(const BatchShape& batch) const;

 private:
  struct Impl;
  Impl* impl_;
};

// Runs the scenario: builds the requests, sizes memory, simulates one representative group per
// distinct load (replicas x pipeline virtual engines are symmetric under round-robin balancing) and
// reports. With `slo` limits and a Poisson rate absent (`search_rate`), finds the highest rate whose
// `percentile` TTFT and TPOT meet them (bisection; MLPerf server semantics).
ServeResult simulate_serving(const ServeConfig& config, const RequestSpec& spec, const SloSpec& slo,
                             bool search_rate = false);

// Simulates one group on an explicit request list (arrival times used unless `concurrency` > 0: a
// closed loop of that many clients). Exposed for tests.
struct GroupRun {
  // Per finished request in completion order, seconds; tpot is -1 for a one-token output.
  std::vector<double> ttft, tpot, latency;
  long long output_tokens = 0, input_tokens = 0, iterations = 0, preemptions = 0;
  double duration_s = 0;
  double busy_s = 0;
  double batch_tokens_sum = 0, decode_seqs_sum = 0;
  double peak_kv_fraction = 0;
  // Per request, by index: when its first token was emitted (ns; -1 if it never finished).
  std::vector<std::int64_t> first_token_ns;
};
GroupRun simulate_group(const ServeConfig& config, const ServeMemory& memory, const IterationCost& cost,
                        const std::vector<Request>& requests, int concurrency);

// ---------------------------------------------------------------------------------------------
// Serving stacks (stack_engine.cpp)
// ---------------------------------------------------------------------------------------------

// The engine a serving stack's knobs give (data/stacks/*.yaml with kind: serving).
ServeEngine serve_engine_from(const ServingStack& stack);
// The serving stack preset a system serves on when none is named, by hardware family (vllm,
// vllm-a100, vllm-tpu, nxd-inference); nullopt for a family without one.
std::optional<std::string> default_serving_stack(const System& system);
// The batch limits TensorRT-LLM's offline benchmark (trtllm-bench throughput) builds its engine with
// when none are given (ServingStack::offline_limits = trtllm-bench; docs/serving.md 6): the requests
// the KV cache holds at the dataset's input + output length, rounded up, and that many requests'
// worth of prompt and decode tokens per iteration. nullopt when not one request fits (trtllm-bench
// refuses to run; the engine's own limits are kept and the run reports what does not fit).
struct BatchLimits {
  int max_num_seqs = 0;
  int max_num_batched_tokens = 0;
};
std::optional<BatchLimits> trtllm_bench_limits(const ServeConfig& config, int input_len, int output_len);
// The limits an offline run of `spec` gets from its stack: trtllm-bench's, for this layout and the
// requests' mean lengths, where the stack says offline_limits: trtllm-bench; nullopt for any other
// stack or arrival pattern, or when not one request fits.
std::optional<BatchLimits> offline_batch_limits(const ServingStack& stack, const ServeConfig& config,
                                                const RequestSpec& spec);

// The KV cache's dtype when none is named: fp8 when the weights are fp8 or fp4 and the stack reads
// the quantized checkpoint's fp8 KV scheme (ServingStack::quantized_kv_cache), else bf16.
Precision default_kv_dtype(const ServingStack& stack, Precision weights);

// ---------------------------------------------------------------------------------------------
// Energy and cost (energy.cpp)
// ---------------------------------------------------------------------------------------------

// A serving run's power, energy and cost, whole system. Power per chip follows the training model
// (docs/model.md 7.8): idle + (tdp - idle) x activity x busy, where a busy chip's activity is
// min(1, compute_busy + 0.4 memory_busy) and busy is the share of time its group iterates.
struct ServeEnergy {
  double compute_busy = 0;  // the mean iteration's FLOPs / (sustained matmul rate x its time), per rank
  double memory_busy = 0;   // its HBM bytes / (sustained HBM bandwidth x its time), per rank
  double busy = 0;          // share of the run's time a group is iterating
  double avg_power_w_per_chip = 0;          // 0 when the chip has no tdp
  double joules_per_output_token = 0;       // every used chip's energy / output tokens
  double kwh_per_million_output_tokens = 0;
  std::optional<double> usd_per_million_output_tokens;  // where the system has price_usd_per_chip_hour
};
// Zero (and no price) for a run that cannot serve.
ServeEnergy serve_energy(const ServeConfig& config, const ServeResult& result);

// Report (docs/serving.md lists the keys).
nlohmann::json serve_json(const ServeConfig& config, const RequestSpec& spec, const SloSpec& slo,
                          const ServeResult& result);
std::string serve_table(const ServeConfig& config, const RequestSpec& spec, const SloSpec& slo,
                        const ServeResult& result);

// ---------------------------------------------------------------------------------------------
// Disaggregated prefill/decode, attention data parallelism, layout search
// (disagg.cpp, cost.cpp, serve_search.cpp; docs/serving.md 9-11)
// ---------------------------------------------------------------------------------------------

// Prices the send-recv of the KV of `prompt_tokens` tokens from a rank of the prefill pool (laid
// out on the first chips) to a rank of the decode pool, `distance_ranks` apart, with `mode`
// (analytical alpha-beta, or a flow on the topology's links).
KvTransfer kv_transfer(const ServeConfig& prefill, const ServeConfig& decode, long long prompt_tokens,
                       long long distance_ranks, NetworkMode mode);
// The report's "disaggregation" object and table lines (docs/serving.md 9).
nlohmann::json disagg_json(const DisaggResult& d);
std::string disagg_table(const DisaggResult& d);

// An iteration's price for one group: the replica's forward pass (IterationCost) or one
// attention-DP rank's (AttentionDpCost).
using IterationPricer = std::function<IterationTime(const BatchShape&)>;
GroupRun simulate_group(const ServeConfig& config, const ServeMemory& memory, const IterationPricer& price,
                        const std::vector<Request>& requests, int concurrency);

// One attention-DP rank's iteration (ServeLayout::attention_dp): `batch` is the rank's own
// requests; the tp ranks are symmetric, so the experts see tp x its tokens. Not thread-safe (memo).
class AttentionDpCost {
 public:
  explicit AttentionDpCost(const ServeConfig& config);
  ~AttentionDpCost();
  AttentionDpCost(const AttentionDpCost&) = delete;
  AttentionDpCost& operator=(const AttentionDpCost&) = delete;
  [[nodiscard]] IterationTime time(const BatchShape& batch) const;

 private:
  struct Impl;
  Impl* impl_;
};

// `tahoma search --serve`: serving layouts for a chip budget ranked by output tokens/s per chip,
// offline or at the highest Poisson rate that meets the SLO.
struct ServeSearchOptions {
  RequestSpec requests;     // lengths, count and seed (kind: offline, or the SLO search's)
  SloSpec slo;              // limits given: rank by the SLO rate; none: by offline throughput
  bool disagg = false;      // also split the chips into prefill and decode pools
  std::vector<int> max_batch{64, 256, 1024};  // max_num_seqs values tried
  std::optional<int> tp, pp, ep;              // fixed degrees (else searched)
  int top = 10;
  int max_candidates = 512;  // layouts simulated at most (the rest, in enumeration order, skipped)
  int threads = 0;           // oneTBB workers (0: every core); results do not depend on it
  // (layouts simulated, layouts to simulate), from any worker thread, serialised by the caller's
  // callback (tahoma/progress.h); slo.progress is not used per layout.
  ProgressFn progress;
};

struct ServeCandidate {
  ServeConfig config;
  ServeResult result;
  double objective = 0;  // output tokens/s per chip (at the SLO rate when limits are given)
};

struct ServeSearchReport {
  long long considered = 0;  // layouts enumerated
  long long simulated = 0;   // layouts simulated (within the cap, past the closed-form checks)
  long long skipped = 0;     // over max_candidates
  std::map<std::string, long long> rejected;  // reason -> layouts
  std::vector<ServeCandidate> results;        // best first, at most `top`
};

ServeSearchReport search_serving(const ServeConfig& base, const ServeSearchOptions& options);
// The layout and engine flags of `tahoma serve` that reproduce one candidate ("--tp 8 --pp 1 ...").
std::string serve_layout_flags(const ServeConfig& config);
nlohmann::json serve_search_json(const ServeSearchOptions& options, const ServeSearchReport& report,
                                 const std::string& reproduce);
std::string serve_search_table(const ServeSearchOptions& options, const ServeSearchReport& report,
                               const std::string& reproduce);

// ---------------------------------------------------------------------------------------------
// Timeline and trace (scheduler.cpp records, serve_trace.cpp writes)
// ---------------------------------------------------------------------------------------------

// One iteration of a group: its span on the group's clock and its batch.
struct IterationSpan {
  std::int64_t start_ns = 0, end_ns = 0;
  long long prefill_tokens = 0;
  int decode_seqs = 0;
  int prompts_done = 0;
  long long tokens = 0;  // prefill tokens + decode sequences x tokens verified each
};
// One request of a group: queued from arrival to its first admission, prefilling until its first
// token, decoding until its last (-1: not reached).
struct RequestSpan {
  int index = 0;  // in the group's request list
  int input = 0, output = 0;
  std::int64_t arrival_ns = -1, admitted_ns = -1, first_token_ns = -1, end_ns = -1;
  int preemptions = 0;
};
// Requests and iterations a trace records at most, all simulated groups together.
inline constexpr long long kTraceRequests = 2000;
inline constexpr long long kTraceIterations = 1'000'000;
// What one simulated group did, iteration by iteration and request by request (the first
// request_cap requests by index, the first iteration_cap iterations).
struct GroupTimeline {
  long long request_cap = kTraceRequests;
  long long iteration_cap = kTraceIterations;
  int multiplicity = 1;  // groups that run like this one
  std::vector<IterationSpan> iterations;
  std::vector<RequestSpan> requests;
  long long requests_total = 0;  // requests the group served
};
// As simulate_group, recording the group's timeline into `timeline`.
GroupRun simulate_group(const ServeConfig& config, const ServeMemory& memory, const IterationPricer& price,
                        const std::vector<Request>& requests, int concurrency, GroupTimeline* timeline);
// As simulate_serving, also recording the timelines of the reported run's representative groups, one
// per distinct group, the caps split between them (a colocated layout's; a disaggregated layout
// records none).
ServeResult simulate_serving(const ServeConfig& config, const RequestSpec& spec, const SloSpec& slo, bool search_rate,
                             std::vector<GroupTimeline>* timelines);
// A Chrome trace-event JSON of the timelines (opens in ui.perfetto.dev): one track per simulated
// group with its iterations, one per recorded request with its queued, prefill and decode spans.
std::string serve_trace_json(const ServeConfig& config, const ServeResult& result,
                             const std::vector<GroupTimeline>& timelines);

}  // namespace tahoma
