// tahoma serve: closed forms (one request alone, batch-1 decode bound by weight bytes), limits,
// monotonicity, conservation, determinism, preemption under a tight KV cache, bad input. Suites are
// named serve_* so that `ctest -R serve` selects them.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>

#include "../test_util.h"
#include "internal.h"
#include "layouts.h"
#include "tahoma/serve.h"

namespace tahoma {
namespace {

using testing::input_error;

ServeConfig config(const std::string& system, int chips, const std::string& model, int tp = 1) {
  ServeConfig c;
  c.system = load_system(system);
  c.system.chips = chips;
  c.model = load_model(model);
  c.layout.tp = tp;
  return c;
}

RequestSpec offline(long long n, int in, int out) {
  RequestSpec s;
  s.kind = ArrivalKind::kOffline;
  s.count = n;
  s.input = {LengthDistKind::kFixed, in, 0};
  s.output = {LengthDistKind::kFixed, out, 0};
  return s;
}

RequestSpec closed_loop(int clients, long long n, int in, int out) {
  RequestSpec s = offline(n, in, out);
  s.kind = ArrivalKind::kConcurrency;
  s.concurrency = clients;
  return s;
}

// --- Closed forms -----------------------------------------------------------------------------

// Decode of one sequence reads every weight once (the LM head, not the input table, which is
// gathered): time >= weight bytes / (HBM bandwidth x efficiency), and only the per-kernel and
// per-iteration overheads above it.
TEST(serve_cost, BatchOneDecodeIsBoundByWeightBytes) {
  const ServeConfig c = config("dgx-h100", 1, "llama3-8b");
  const ParamCount pc = count_params(c.model);
  const double weight_bytes = (pc.total - static_cast<double>(c.model.vocab) * c.model.hidden) * 2.0;
  const double bound = weight_bytes / (c.system.chip.hbm_bandwidth.value() * c.system.chip.memory_efficiency);
  const IterationCost cost(c);
  BatchShape b;
  b.decode_seqs = 1;
  b.decode_kv_full = 1000;
  const IterationTime t = cost.time(b);
  EXPECT_GT(t.total.value(), bound);
  EXPECT_LT(t.total.value(), 1.15 * bound) << "bound " << bound;
  EXPECT_NEAR(t.total.value(), (t.compute + t.comm + t.draft + t.host).value(), 1e-12);
}

// Decode becomes compute-bound at large batch: time per token falls with the batch, then flattens.
TEST(serve_cost, DecodeTimePerTokenFallsWithBatch) {
  const ServeConfig c = config("dgx-h100", 1, "llama3-8b");
  const IterationCost cost(c);
  double previous = 1e9;
  for (int seqs : {1, 8, 64, 256}) {
    BatchShape b;
    b.decode_seqs = seqs;
    b.decode_kv_full = 1000.0 * seqs;
    const double per_token = cost.time(b).total.value() / seqs;
    EXPECT_LT(per_token, previous) << seqs;
    previous = per_token;
  }
}

// One request alone: its TTFT is exactly the time of the iteration that prefills its prompt.
TEST(serve_sim, OneRequestAloneTtftIsThePrefillIteration) {
  ServeConfig c = config("dgx-h100", 1, "llama3-8b");
  const ServeResult r = simulate_serving(c, closed_loop(1, 1, 1000, 10), {});
  ASSERT_TRUE(r.servable) << r.reason;
  const IterationCost cost(c);
  BatchShape b;
  b.prefill_tokens = 1000;
  b.prefill_pairs_full = serve_internal::attention_pairs(0, 1000, 0);
  b.prefill_keys_full = 1000;
  b.prompts_done = 1;
  const double prefill = std::ceil(cost.time(b).total.value() * 1e9) * 1e-9;
  EXPECT_NEAR(r.ttft.p50, prefill, 1e-9);
  // The nine other tokens are one decode iteration each.
  EXPECT_EQ(r.iterations, 10);
}

// Full causal attention at block granularity is exactly half the score matrix for whole blocks; a
// window shorter than the prompt computes fewer pairs; a chunk after cached context sees it all.
TEST(serve_cost, AttentionPairsClosedForms) {
  EXPECT_DOUBLE_EQ(serve_internal::attention_pairs(0, 1024, 0), 1024.0 * 1024 / 2);
  EXPECT_DOUBLE_EQ(serve_internal::attention_pairs(1024, 128, 0), 128.0 * 1024 + 128.0 * 128 / 2);
  EXPECT_LT(serve_internal::attention_pairs(0, 4096, 128), serve_internal::attention_pairs(0, 4096, 0) / 10);
  EXPECT_DOUBLE_EQ(serve_internal::attention_pairs(0, 1024, 1e9), serve_internal::attention_pairs(0, 1024, 0));
}

TEST(serve_memory, KvBytesPerTokenGqaMlaAndWindow) {
  const Model llama = load_model("llama3-70b");  // 8 KV heads of 128, 80 layers
  EXPECT_DOUBLE_EQ(serve_internal::kv_bytes_per_token_layer(llama, 8, Precision::kBf16), 2.0 * 1 * 128 * 2);
  EXPECT_DOUBLE_EQ(serve_internal::kv_bytes_per_token_layer(llama, 1, Precision::kFp8), 2.0 * 8 * 128 * 1);
  // tp above the KV heads replicates them: still one head per rank.
  EXPECT_DOUBLE_EQ(serve_internal::kv_bytes_per_token_layer(llama, 16, Precision::kBf16), 2.0 * 1 * 128 * 2);
  const Model ds = load_model("deepseek-v3");  // MLA latent 512 + rope 64, replicated over TP
  EXPECT_DOUBLE_EQ(serve_internal::kv_bytes_per_token_layer(ds, 8, Precision::kBf16), 576.0 * 2);
  // A sliding-window layer keeps at most the window's blocks plus one.
  EXPECT_EQ(serve_internal::layer_blocks_for(100000, 1, 1, 128, 16), 6250 + 9);
}

TEST(serve_memory, KvCapacityIsFractionOfHbmMinusWeightsAndWorkspace) {
  ServeConfig c = config("dgx-h100", 8, "llama3-70b", 8);
  std::string reason;
  const ServeMemory m = size_memory(c, 2000, &reason);
  EXPECT_TRUE(reason.empty()) << reason;
  EXPECT_NEAR(m.kv_capacity.value(), 0.9 * m.hbm.value() - m.weights.value() - m.workspace.value(), 1.0);
  // 70.6 B parameters in bf16 over 8 ranks.
  EXPECT_NEAR(m.weights.value() / 1e9, 70.6 * 2 / 8, 0.5);
  EXPECT_EQ(m.kv_tokens, m.kv_blocks * 16);
  c.engine.mem_fraction = 0.5;
  EXPECT_LT(size_memory(c, 2000, &reason).kv_capacity, m.kv_capacity);
  // TensorRT-LLM's kv_cache_free_gpu_mem_fraction: a share of what weights and workspace leave.
  c.engine.fraction_of_free = true;
  const ServeMemory trt = size_memory(c, 2000, &reason);
  EXPECT_NEAR(trt.kv_capacity.value(), 0.5 * (trt.hbm.value() - trt.weights.value() - trt.workspace.value()), 1.0);
}

// A checkpoint that quantizes only its routed experts (gpt-oss: MXFP4 experts, BF16 attention): the
// experts' weights at 0.5 B, the rest at 2 B, on every rank layout; their GEMMs read fewer bytes, so
// a batch-1 decode (weight-bound) falls between all-bf16 and all-fp4.
TEST(serve_memory, ExpertPrecisionQuantizesOnlyTheRoutedExperts) {
  ServeConfig c = config("gb200-nvl72", 1, "gpt-oss-120b");
  const ParamCount pc = count_params(c.model);
  const double routed = serve_internal::routed_expert_params(c.model) * moe_layers(c.model);
  std::string reason;
  const double bf16 = size_memory(c, 2000, &reason).weights.value();
  c.expert_precision = Precision::kFp4;
  const double mixed = size_memory(c, 2000, &reason).weights.value();
  EXPECT_NEAR(bf16 - mixed, routed * (2.0 - 0.5), 1e-6 * bf16);
  EXPECT_GT(routed, 0.9 * (pc.total - pc.embedding));  // gpt-oss-120b is mostly experts
  // Attention DP on 4 ranks: each holds a quarter of the routed experts, at 0.5 B.
  ServeConfig dp = config("gb200-nvl72", 4, "gpt-oss-120b", 4);
  dp.layout.ep = 4;
  dp.layout.attention_dp = true;
  const double dp_bf16 = size_memory(dp, 2000, &reason).weights.value();
  dp.expert_precision = Precision::kFp4;
  EXPECT_NEAR(dp_bf16 - size_memory(dp, 2000, &reason).weights.value(), routed / 4 * 1.5, 1e-6 * dp_bf16);

  BatchShape one;
  one.decode_seqs = 1;
  one.decode_kv_full = one.decode_kv_window = 1000;
  ServeConfig all16 = config("gb200-nvl72", 1, "gpt-oss-120b");
  ServeConfig all4 = all16;
  all4.precision = Precision::kFp4;
  const double t16 = IterationCost(all16).time(one).total.value();
  const double t_mixed = IterationCost(c).time(one).total.value();
  const double t4 = IterationCost(all4).time(one).total.value();
  EXPECT_LT(t_mixed, t16);
  EXPECT_GT(t_mixed, t4);
}

// --- Results that are not errors --------------------------------------------------------------

TEST(serve_sim, WeightsThatDoNotFitAreAResult) {
  const ServeResult r = simulate_serving(config("dgx-h100", 8, "deepseek-v3", 8), offline(10, 1000, 100), {});
  EXPECT_FALSE(r.servable);
  EXPECT_CONTAINS(r.reason, "cannot serve: weights need");
}

TEST(serve_sim, OneRequestWhoseKvDoesNotFitIsAResult) {
  ServeConfig c = config("dgx-h100", 1, "llama3.1-8b");
  c.system = load_system("dgx-h100", {"chip.hbm_capacity=24GB"});
  c.system.chips = 1;
  const ServeResult r = simulate_serving(c, offline(1, 100000, 1000), {});
  EXPECT_FALSE(r.servable);
  EXPECT_CONTAINS(r.reason, "of KV per rank for one 101000-token request");
}

// --- Limits -----------------------------------------------------------------------------------

TEST(serve_sim, OneChipAndLayoutLimits) {
  const ServeResult r = simulate_serving(config("dgx-h100", 1, "llama3-8b"), offline(20, 500, 50), {});
  ASSERT_TRUE(r.servable);
  EXPECT_EQ(r.replicas, 1);
  EXPECT_EQ(r.chips_used, 1);
  EXPECT_CONTAINS(input_error([] { (void)simulate_serving(config("dgx-h100", 1, "llama3-8b", 2), offline(1, 10, 10), {}); }),
                  "--tp");
  EXPECT_CONTAINS(input_error([] { (void)simulate_serving(config("dgx-h100", 8, "llama3-8b", 3), offline(1, 10, 10), {}); }),
                  "does not divide");
}

// --- Conservation, determinism, monotonicity ----------------------------------------------------

TEST(serve_sim, EveryRequestFinishesAndTokensAreConserved) {
  ServeConfig c = config("dgx-h100", 1, "llama3-8b");
  RequestSpec s = offline(300, 800, 300);
  s.input.kind = s.output.kind = LengthDistKind::kLognormal;
  s.input.spread = s.output.spread = 0.8;
  s.seed = 7;
  const auto reqs = make_requests(s, c.model.max_seq);
  std::string reason;
  long long longest = 0, outputs = 0, inputs = 0;
  for (const auto& q : reqs) {
    longest = std::max<long long>(longest, q.input + q.output);
    outputs += q.output;
    inputs += q.input;
  }
  const ServeMemory mem = size_memory(c, longest, &reason);
  ASSERT_TRUE(reason.empty());
  const IterationCost cost(c);
  const GroupRun g = simulate_group(c, mem, cost, reqs, 0);
  EXPECT_EQ(g.ttft.size(), reqs.size());
  EXPECT_EQ(g.output_tokens, outputs);
  EXPECT_EQ(g.input_tokens, inputs);
  for (std::size_t i = 0; i < g.ttft.size(); ++i) EXPECT_LE(g.ttft[i], g.latency[i]);
}

TEST(serve_sim, SameSeedSameOutputOtherSeedOtherOutput) {
  const ServeConfig c = config("dgx-h100", 8, "llama3-70b", 8);
  RequestSpec s = offline(200, 1000, 200);
  s.kind = ArrivalKind::kPoisson;
  s.rate = 5;
  s.input.kind = s.output.kind = LengthDistKind::kUniform;
  s.input.spread = s.output.spread = 0.5;
  s.seed = 1;
  const auto a = serve_json(c, s, {}, simulate_serving(c, s, {})).dump();
  const auto b = serve_json(c, s, {}, simulate_serving(c, s, {})).dump();
  EXPECT_EQ(a, b);
  s.seed = 2;
  EXPECT_NE(a, serve_json(c, s, {}, simulate_serving(c, s, {})).dump());
}

TEST(serve_sim, MoreConcurrencyNeverLowersThroughputUntilSaturation) {
  const ServeConfig c = config("dgx-h100", 1, "llama3-8b");
  double previous = 0;
  for (int clients : {1, 2, 4, 8, 16, 32, 64, 128, 256}) {
    const ServeResult r = simulate_serving(c, closed_loop(clients, 4L * clients + 64, 500, 200), {});
    EXPECT_GE(r.output_tokens_per_s, previous * 0.999) << clients << " clients";
    previous = r.output_tokens_per_s;
  }
}

TEST(serve_sim, BiggerMaxBatchNeverLowersOfflineThroughput) {
  ServeConfig c = config("dgx-h100", 1, "llama3-8b");
  double previous = 0;
  for (int batch : {1, 4, 16, 64, 256}) {
    c.engine.max_num_seqs = batch;
    const ServeResult r = simulate_serving(c, offline(400, 500, 200), {});
    EXPECT_GE(r.output_tokens_per_s, previous * 0.999) << "max batch " << batch;
    previous = r.output_tokens_per_s;
  }
}

TEST(serve_sim, ReplicasScaleThroughputBySymmetry) {
  const ServeResult one = simulate_serving(config("dgx-h100", 1, "llama3-8b"), offline(100, 500, 100), {});
  const ServeResult eight = simulate_serving(config("dgx-h100", 8, "llama3-8b"), offline(800, 500, 100), {});
  EXPECT_EQ(eight.replicas, 8);
  EXPECT_NEAR(eight.output_tokens_per_s, 8 * one.output_tokens_per_s, 1e-6 * eight.output_tokens_per_s);
  EXPECT_NEAR(eight.output_tokens_per_s_per_chip, one.output_tokens_per_s_per_chip, 1e-6 * one.output_tokens_per_s);
}

// A KV cache too small for every admitted request at full length forces preemption by recompute;
// every request still finishes with all its tokens.
TEST(serve_sim, TightKvPreemptsAndEveryRequestStillFinishes) {
  ServeConfig c = config("dgx-h100", 1, "llama3.1-8b");
  c.system = load_system("dgx-h100", {"chip.hbm_capacity=22GB"});
  c.system.chips = 1;
  const ServeResult r = simulate_serving(c, offline(64, 2000, 2000), {});
  ASSERT_TRUE(r.servable) << r.reason;
  EXPECT_GT(r.preemptions, 0);
  EXPECT_EQ(r.requests, 64);
  EXPECT_EQ(r.output_tokens, 64 * 2000);
  EXPECT_GT(r.peak_kv_fraction, 0.9);
}

TEST(serve_sim, SpeculativeDecodingLowersBatchOneTpot) {
  ServeConfig c = config("dgx-h100", 8, "llama3-70b", 8);
  const ServeResult plain = simulate_serving(c, closed_loop(1, 4, 1000, 200), {});
  c.spec = {SpecMethod::kEagle, 3, 3.0, std::nullopt};
  const ServeResult eagle = simulate_serving(c, closed_loop(1, 4, 1000, 200), {});
  EXPECT_LT(eagle.tpot.mean, plain.tpot.mean / 2);
  c.spec.accept = 1.0;  // every proposal rejected: verification and drafts only cost
  EXPECT_GT(simulate_serving(c, closed_loop(1, 4, 1000, 200), {}).tpot.mean, plain.tpot.mean);
}

// Static batching (transformers-neuronx sample()): a batch is admitted only into an empty engine and
// its prompts are encoded together, so every member's TTFT is the one pass that encodes them all
// (b x one prompt's work), each batch of a closed loop starts after the last one ends, and the
// iteration count is exactly batches x (1 prefill + output - 1 decodes).
TEST(serve_sim, StaticBatchesEncodeTogetherAndRunToCompletion) {
  ServeConfig c = config("dgx-h100", 1, "llama3-8b");
  c.engine.chunked_prefill = false;
  c.engine.max_num_seqs = 4;
  c.engine.max_num_batched_tokens = 1100;  // one prompt per iteration if batches were continuous
  c.engine.batching = ServingBatching::kStatic;
  std::vector<GroupTimeline> tl;
  const ServeResult r = simulate_serving(c, closed_loop(4, 12, 1000, 50), {}, false, &tl);
  ASSERT_TRUE(r.servable) << r.reason;
  EXPECT_EQ(r.iterations, 3 * 50);  // 3 batches: one prefill pass, 49 decode steps each
  ASSERT_EQ(tl.size(), 1u);
  for (const IterationSpan& it : tl.front().iterations) {
    EXPECT_TRUE((it.prefill_tokens == 4000 && it.decode_seqs == 0) || (it.prefill_tokens == 0 && it.decode_seqs == 4))
        << it.prefill_tokens << " " << it.decode_seqs;
  }
  // Every request of a batch has its first token at the end of the batch's single encoding pass.
  EXPECT_DOUBLE_EQ(r.ttft.p50, r.ttft.p99);
  // That pass holds four prompts: at least three times one prompt's encoding alone.
  const ServeResult alone = simulate_serving(c, closed_loop(1, 1, 1000, 10), {});
  EXPECT_GT(r.ttft.p50, 3.0 * alone.ttft.p50);
  EXPECT_LT(r.ttft.p50, 4.5 * alone.ttft.p50);
  // Continuous batching under the same budget encodes one prompt per iteration: the first request
  // of each wave has its token after one prompt, so the median is lower.
  c.engine.batching = ServingBatching::kContinuous;
  const ServeResult cont = simulate_serving(c, closed_loop(4, 12, 1000, 50), {});
  EXPECT_LT(cont.ttft.p50, r.ttft.p50);
}

// Alternating batching (JetStream): no iteration both prefills and decodes, a prefill iteration
// encodes one prompt, and with prompts waiting the kinds alternate.
TEST(serve_sim, AlternatingBatchingSeparatesPrefillAndDecode) {
  ServeConfig c = config("dgx-h100", 1, "llama3-8b");
  c.engine.batching = ServingBatching::kAlternating;
  std::vector<GroupTimeline> tl;
  const ServeResult r = simulate_serving(c, offline(40, 300, 30), {}, false, &tl);
  ASSERT_TRUE(r.servable) << r.reason;
  EXPECT_EQ(r.output_tokens, 40 * 30);
  ASSERT_EQ(tl.size(), 1u);
  int prefills = 0;
  bool previous_prefill = false;
  for (const IterationSpan& it : tl.front().iterations) {
    const bool prefill = it.prefill_tokens > 0;
    EXPECT_FALSE(prefill && it.decode_seqs > 0);
    if (prefill) {
      EXPECT_EQ(it.prefill_tokens, 300);
      EXPECT_FALSE(previous_prefill && prefills > 0 && prefills < 40) << "two prefills in a row while decodes run";
      ++prefills;
    }
    previous_prefill = prefill;
  }
  EXPECT_EQ(prefills, 40);
  // Fusing prefill into the decode iterations (continuous) is never slower for the same work.
  c.engine.batching = ServingBatching::kContinuous;
  EXPECT_GE(simulate_serving(c, offline(40, 300, 30), {}).output_tokens_per_s, r.output_tokens_per_s);
}

// Issue 15's "done when": every scenario kind (offline, closed loop, Poisson, trace replay and the
// SLO search) runs on a Trainium, a TPU and an NVIDIA preset with the family's serving stack, every
// request finishes and the throughput and latencies are finite and positive.
TEST(serve_sim, EveryScenarioKindOnEveryFamily) {
  testing::TempDir dir;
  const auto trace = dir.write("trace.csv", "arrival_time,input_tokens,output_tokens\n0,300,40\n0.01,500,20\n"
                                            "0.05,200,60\n0.2,800,30\n0.25,100,10\n");
  for (const char* sys : {"trn2", "tpu-v7", "dgx-h100"}) {
    ServeConfig c = config(sys, 4, "llama3-8b", 4);
    c.engine = serve_engine_from(load_stack(*default_serving_stack(c.system)).serving);
    RequestSpec poisson = offline(60, 300, 40);
    poisson.kind = ArrivalKind::kPoisson;
    poisson.rate = 5;
    RequestSpec replay = offline(5, 1, 1);
    replay.kind = ArrivalKind::kTrace;
    replay.trace_file = trace;
    for (const RequestSpec& spec : {offline(60, 300, 40), closed_loop(8, 60, 300, 40), poisson, replay}) {
      const ServeResult r = simulate_serving(c, spec, {});
      ASSERT_TRUE(r.servable) << sys << " " << to_string(spec.kind) << ": " << r.reason;
      // The symmetric groups share the requests; the simulated representative serves its share.
      const long long all = spec.kind == ArrivalKind::kTrace ? 5 : 60;
      EXPECT_LE(r.requests, all) << sys;
      EXPECT_GE(r.requests * r.groups, all) << sys;
      for (double v : {r.output_tokens_per_s, r.ttft.p99, r.tpot.p50, r.latency.p90}) {
        EXPECT_TRUE(std::isfinite(v) && v > 0) << sys << " " << to_string(spec.kind);
      }
    }
    SloSpec slo;
    slo.ttft_s = 5.0;
    slo.tpot_s = 0.2;
    const ServeResult best = simulate_serving(c, offline(200, 300, 40), slo, true);
    ASSERT_TRUE(best.servable) << sys;
    EXPECT_GT(best.output_tokens_per_s, 0) << sys;
  }
}

TEST(serve_sim, SloSearchFindsARateThatMeetsTheLimits) {
  const ServeConfig c = config("dgx-h100", 1, "llama3-8b");
  SloSpec slo;
  slo.ttft_s = 0.5;
  slo.tpot_s = 0.02;
  RequestSpec s = offline(300, 500, 100);
  const ServeResult r = simulate_serving(c, s, slo, true);
  ASSERT_TRUE(r.slo_rate.has_value());
  EXPECT_GT(*r.slo_rate, 0);
  EXPECT_LE(r.ttft.p99, 0.5);
  EXPECT_LE(r.tpot.p99, 0.02);
}

// --- Requests -----------------------------------------------------------------------------------

TEST(serve_requests, PoissonGapsAndLognormalMeans) {
  RequestSpec s = offline(20000, 1000, 500);
  s.kind = ArrivalKind::kPoisson;
  s.rate = 4;
  s.input.kind = LengthDistKind::kLognormal;
  s.input.spread = 0.5;
  const auto reqs = make_requests(s, 1 << 20);
  const double span = static_cast<double>(reqs.back().arrival_ns) * 1e-9;
  EXPECT_NEAR(span / 20000, 0.25, 0.01);
  double mean = 0;
  for (const auto& q : reqs) mean += q.input;
  EXPECT_NEAR(mean / 20000, 1000, 20);
  // The draws are the generator's and this file's transforms only: fixed across platforms.
  const auto again = make_requests(s, 1 << 20);
  EXPECT_EQ(reqs[17].input, again[17].input);
  EXPECT_EQ(reqs[17].arrival_ns, again[17].arrival_ns);
}

TEST(serve_requests, AzureTraceCsvAndJsonl) {
  testing::TempDir dir;
  const auto csv = dir.write("azure.csv",
                             "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                             "2023-11-16 18:15:46.6805900,374,44\n"
                             "2023-11-16 18:15:50.9951690,396,109\n"
                             "2023-11-16 18:15:47.0000000,879,52\n");
  const auto reqs = read_trace(csv, kMaxRequests, 8192);
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].arrival_ns, 0);
  EXPECT_EQ(reqs[1].input, 879);  // sorted by time
  EXPECT_NEAR(static_cast<double>(reqs[2].arrival_ns) * 1e-9, 4.314579, 1e-6);
  const auto jsonl = dir.write("t.jsonl", "{\"arrival_time\": 0.5, \"input_tokens\": 10, \"output_tokens\": 5}\n"
                                          "{\"arrival_time\": 1.5, \"input_tokens\": 20, \"output_tokens\": 6}\n");
  const auto j = read_trace(jsonl, kMaxRequests, 8192);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1].arrival_ns, 1'000'000'000);
  const auto bad = dir.write("bad.csv", "arrival_time,input_tokens,output_tokens\n0,10,5\n1,abc,5\n");
  EXPECT_CONTAINS(input_error([&] { (void)read_trace(bad, kMaxRequests, 8192); }), "bad.csv:3");
  const auto long_row = dir.write("long.csv", "arrival_time,input_tokens,output_tokens\n0,9000,5\n");
  EXPECT_CONTAINS(input_error([&] { (void)read_trace(long_row, kMaxRequests, 8192); }), "context");
}

// --- Bad input --------------------------------------------------------------------------------

TEST(serve_input, BadNumbersAreInputErrors) {
  const ServeConfig c = config("dgx-h100", 1, "llama3-8b");
  RequestSpec s = offline(10, 100, 100);
  s.kind = ArrivalKind::kPoisson;
  s.rate = -1;
  EXPECT_CONTAINS(input_error([&] { (void)simulate_serving(c, s, {}); }), "--rate");
  s.rate = std::nan("");
  EXPECT_CONTAINS(input_error([&] { (void)simulate_serving(c, s, {}); }), "--rate");
  EXPECT_CONTAINS(input_error([&] { (void)simulate_serving(c, offline(0, 100, 100), {}); }), "--requests");
  EXPECT_CONTAINS(input_error([&] { (void)simulate_serving(c, offline(kMaxRequests + 1, 100, 100), {}); }),
                  "--requests");
  EXPECT_CONTAINS(input_error([&] { (void)simulate_serving(c, offline(1, 8000, 1000), {}); }), "context");
  ServeConfig bad = c;
  bad.engine.mem_fraction = 1.5;
  EXPECT_CONTAINS(input_error([&] { (void)simulate_serving(bad, offline(1, 10, 10), {}); }), "--mem-fraction");
  bad = c;
  bad.spec = {SpecMethod::kEagle, 3, 5.0, std::nullopt};
  EXPECT_CONTAINS(input_error([&] { (void)simulate_serving(bad, offline(1, 10, 10), {}); }), "--spec-accept");
  bad.spec = {SpecMethod::kMtp, 3, 2.0, std::nullopt};
  EXPECT_CONTAINS(input_error([&] { (void)simulate_serving(bad, offline(1, 10, 10), {}); }), "mtp");
}

// The command: JSON keys, exit 2 with a message for bad flags.
int run_cli(const std::string& args, std::string* out) {
  testing::TempDir dir;
  const auto path = dir.path() / "out.txt";
  const std::string cmd = std::string("'") + TAHOMA_BINARY + "' " + args + " >'" + path.string() + "' 2>&1";
  const int status = std::system(cmd.c_str());
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return WEXITSTATUS(status);
}

TEST(serve_cli, JsonKeysAndExitCodes) {
  std::string out;
  ASSERT_EQ(run_cli("serve --system dgx-h100 --chips 8 --model llama3-70b --tp 8 --input-len 500 --output-len 100 "
                    "--concurrency 16 --requests 64 --format json",
                    &out),
            0)
      << out;
  const auto j = nlohmann::json::parse(out);
  for (const char* k : {"output_tokens_per_s", "output_tokens_per_s_per_chip", "total_tokens_per_s", "requests_per_s"})
    EXPECT_TRUE(j["throughput"].contains(k)) << k;
  for (const char* k : {"ttft_s", "tpot_s", "latency_s"}) {
    for (const char* s : {"mean", "p50", "p90", "p99"}) EXPECT_TRUE(j[k].contains(s)) << k << "." << s;
  }
  for (const char* k : {"memory", "layout", "iterations"}) EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(run_cli("serve --system dgx-h100 --model llama3-8b --offline --bogus", &out), 2);
  EXPECT_EQ(run_cli("serve --system dgx-h100 --model llama3-8b --rate -3", &out), 2);
  EXPECT_CONTAINS(out, "--rate");
  EXPECT_EQ(run_cli("serve --system dgx-h100 --model llama3-8b --offline --requests 0", &out), 2);
  EXPECT_EQ(run_cli("serve --system dgx-h100 --model llama3-8b --offline --input-len 9000", &out), 2);
  EXPECT_CONTAINS(out, "context");
  EXPECT_EQ(run_cli("serve --system dgx-h100 --model llama3-8b", &out), 2);
  EXPECT_CONTAINS(out, "--offline");
  EXPECT_EQ(run_cli("serve --system dgx-h100 --model llama3-8b --offline --slo-tpot 0ms --rate 1", &out), 2);
}

// --- Serving stacks (stack_engine.cpp) ----------------------------------------------------------

// Every knob of the stack reaches the engine.
TEST(serve_stack, EngineCarriesEveryStackKnob) {
  const Stack trt = load_stack("tensorrt-llm");
  const ServeEngine e = serve_engine_from(trt.serving);
  const ServingStack& s = trt.serving;
  EXPECT_EQ(e.max_num_seqs, s.max_num_seqs);
  EXPECT_EQ(e.max_num_batched_tokens, s.max_num_batched_tokens);
  EXPECT_EQ(e.block_size, s.block_size);
  EXPECT_EQ(e.mem_fraction, s.mem_fraction);
  EXPECT_EQ(e.fraction_of_free, s.fraction_of_free);
  EXPECT_EQ(e.chunked_prefill, s.chunked_prefill);
  EXPECT_EQ(e.guaranteed_admission, s.guaranteed_admission);
  EXPECT_EQ(e.batching, s.batching);
  EXPECT_EQ(e.cuda_graphs, s.cuda_graphs);
  EXPECT_EQ(e.cuda_graph_max_tokens, s.cuda_graph_max_tokens);
  EXPECT_EQ(e.graph_kernel_overhead.value(), s.graph_kernel_overhead.value());
  EXPECT_EQ(e.eager_kernel_overhead.value(), s.eager_kernel_overhead.value());
  EXPECT_EQ(e.iteration_overhead.value(), s.iteration_overhead.value());
  EXPECT_EQ(e.runtime_reserve.value(), s.runtime_reserve.value());
  EXPECT_EQ(e.attention_dp_limits_per_rank, s.attention_dp_limits_per_rank);
  // TensorRT-LLM differs from vLLM where its preset says so (blocks of 32, fraction of free memory).
  EXPECT_TRUE(e.fraction_of_free);
  EXPECT_TRUE(e.guaranteed_admission);
}

TEST(serve_stack, DefaultServingStackByFamily) {
  EXPECT_EQ(default_serving_stack(load_system("dgx-h100")), "vllm");
  EXPECT_EQ(default_serving_stack(load_system("gb300-nvl72")), "vllm");
  EXPECT_EQ(default_serving_stack(load_system("dgx-a100")), "vllm-a100");
  EXPECT_EQ(default_serving_stack(load_system("dgx-h100", {"chip.hbm_capacity=40GB"})), "vllm-a100");
  EXPECT_EQ(default_serving_stack(load_system("tpu-v7")), "vllm-tpu");
  EXPECT_EQ(default_serving_stack(load_system("trn3-ultraserver")), "nxd-inference");
  EXPECT_EQ(default_serving_stack(load_system("trn1")), "nxd-inference");
  System other = load_system("dgx-h100");
  other.family = "Cerebras";
  EXPECT_FALSE(default_serving_stack(other).has_value());
  // Each default names a serving stack preset.
  for (const char* sys : {"dgx-h100", "dgx-a100", "tpu-v7", "trn3-ultraserver"}) {
    EXPECT_EQ(load_stack(*default_serving_stack(load_system(sys))).kind, StackKind::kServing) << sys;
  }
}

// trtllm-bench's engine settings, worked by hand for Llama 3 70B in FP8 with an FP8 KV cache on one
// H200 (141 GB = 131.32 GiB), 128 tokens in and 2,048 out: the checkpoint is 70.55e9 x 1 B = 65.71
// GiB; 0.95 x (131.32 - 65.71) = 62.33 GiB hold 62.33 / (2 x 80 x 8 x 128 x 1 B x 2,176 tokens) =
// 187.7 requests, rounded up to 32: 192; 187.7 x (1 + 128 / 2048) = 199 tokens, raised to 2,048.
TEST(serve_stack, TrtllmBenchLimitsWorkedExample) {
  ServeConfig c = config("dgx-h200", 1, "llama3-70b");
  c.precision = c.kv_dtype = Precision::kFp8;
  const auto l = trtllm_bench_limits(c, 128, 2048);
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->max_num_seqs, 192);
  EXPECT_EQ(l->max_num_batched_tokens, 2048);
  // 2,048 in and 128 out: the same 187.7 requests, 187.7 x (1 + 2048 / 128) = 3,191 tokens, rounded
  // up to 256: 3,328.
  const auto long_prompts = trtllm_bench_limits(c, 2048, 128);
  ASSERT_TRUE(long_prompts.has_value());
  EXPECT_EQ(long_prompts->max_num_seqs, 192);
  EXPECT_EQ(long_prompts->max_num_batched_tokens, 3328);
}

// The limits never fall as memory grows, stay within trtllm-bench's caps (4,096 requests, 32,768
// tokens) and floors (64 requests, 2,048 tokens), and are absent when not one request fits.
TEST(serve_stack, TrtllmBenchLimitsBoundsAndMonotonicity) {
  ServeConfig c = config("dgx-h100", 1, "llama3-8b");
  c.precision = c.kv_dtype = Precision::kFp8;
  int last_seqs = 0;
  for (double gb : {20.0, 40.0, 80.0, 160.0, 640.0, 5000.0}) {
    c.system.chip.hbm_capacity = Bytes(gb * 1e9);
    const auto l = trtllm_bench_limits(c, 1000, 1000);
    ASSERT_TRUE(l.has_value()) << gb;
    EXPECT_GE(l->max_num_seqs, std::max(64, last_seqs)) << gb;
    EXPECT_LE(l->max_num_seqs, 4096) << gb;
    EXPECT_GE(l->max_num_batched_tokens, 2048) << gb;
    EXPECT_LE(l->max_num_batched_tokens, 32768) << gb;
    last_seqs = l->max_num_seqs;
  }
  EXPECT_EQ(last_seqs, 4096);
  c.system.chip.hbm_capacity = Bytes(8e9);  // 8 GB: the weights alone do not fit
  EXPECT_FALSE(trtllm_bench_limits(c, 1000, 1000).has_value());
  EXPECT_FALSE(trtllm_bench_limits(c, 0, 1000).has_value());
}

// Under attention DP each rank sizes its own batch: the memory is one rank's, less its share of the
// checkpoint, so the per-rank limit is below the TP instance's.
TEST(serve_stack, TrtllmBenchLimitsPerAttentionDpRank) {
  ServeConfig c = config("dgx-h100", 8, "qwen3-235b-a22b", 8);
  c.precision = c.kv_dtype = Precision::kFp8;
  c.layout.ep = 8;
  const auto tp = trtllm_bench_limits(c, 1024, 1024);
  c.layout.attention_dp = true;
  const auto dp = trtllm_bench_limits(c, 1024, 1024);
  ASSERT_TRUE(tp && dp);
  EXPECT_LT(dp->max_num_seqs, tp->max_num_seqs);
}

// TensorRT-LLM and vLLM apply their limits to each attention-DP rank; SGLang divides them.
TEST(serve_stack, AttentionDpLimitsPerRankOrDivided) {
  ServeConfig c = config("dgx-h100", 8, "qwen3-235b-a22b", 8);
  c.layout.ep = 8;
  c.layout.attention_dp = true;
  c.engine = serve_engine_from(load_stack("sglang").serving);
  EXPECT_EQ(serve_internal::token_budget(c), c.engine.max_num_batched_tokens / 8);
  c.engine = serve_engine_from(load_stack("tensorrt-llm").serving);
  EXPECT_EQ(serve_internal::token_budget(c), c.engine.max_num_batched_tokens);
  EXPECT_EQ(serve_internal::seq_limit(c), c.engine.max_num_seqs);
  EXPECT_TRUE(load_stack("vllm").serving.attention_dp_limits_per_rank);
}

// Graph replay: any batch up to the largest capture, or (TensorRT-LLM, SGLang) decode-only batches;
// an iteration that runs eagerly pays the eager per-kernel cost, so it is never faster.
TEST(serve_stack, CudaGraphScopeDecodeOnly) {
  ServeEngine e = serve_engine_from(load_stack("tensorrt-llm").serving);
  EXPECT_TRUE(e.cuda_graphs_decode_only);
  EXPECT_FALSE(serve_engine_from(load_stack("vllm").serving).cuda_graphs_decode_only);
  EXPECT_TRUE(serve_engine_from(load_stack("sglang").serving).cuda_graphs_decode_only);
  BatchShape decode;
  decode.decode_seqs = 8;
  BatchShape mixed = decode;
  mixed.prefill_tokens = 100;
  mixed.prompts_done = 1;
  EXPECT_TRUE(replays_graph(e, decode));
  EXPECT_FALSE(replays_graph(e, mixed));
  e.cuda_graphs_decode_only = false;
  EXPECT_TRUE(replays_graph(e, mixed));
  e.cuda_graph_max_tokens = 50;
  EXPECT_FALSE(replays_graph(e, mixed));  // beyond the largest capture
  e.cuda_graphs = false;
  EXPECT_FALSE(replays_graph(e, decode));

  ServeConfig c = config("dgx-h100", 1, "llama3-8b");
  c.engine = serve_engine_from(load_stack("tensorrt-llm").serving);
  ServeConfig any = c;
  any.engine.cuda_graphs_decode_only = false;
  EXPECT_GT(IterationCost(c).time(mixed).total.value(), IterationCost(any).time(mixed).total.value());
  EXPECT_EQ(IterationCost(c).time(decode).total.value(), IterationCost(any).time(decode).total.value());
}

TEST(serve_stack, KvDtypeFollowsQuantizedCheckpointRule) {
  const ServingStack trt = load_stack("tensorrt-llm").serving;
  const ServingStack vllm = load_stack("vllm").serving;
  EXPECT_EQ(default_kv_dtype(trt, Precision::kFp8), Precision::kFp8);
  EXPECT_EQ(default_kv_dtype(trt, Precision::kFp4), Precision::kFp8);
  EXPECT_EQ(default_kv_dtype(trt, Precision::kBf16), Precision::kBf16);
  EXPECT_EQ(default_kv_dtype(vllm, Precision::kFp8), Precision::kBf16);
}

// --stack sets the engine, explicit flags win, the JSON names the stack and the admission policy.
TEST(serve_cli, StackThenFlags) {
  const std::string base = "serve --system dgx-h100 --model llama3-8b --offline --requests 16 --input-len 200 "
                           "--output-len 20 --format json ";
  std::string out;
  ASSERT_EQ(run_cli(base + "--stack tensorrt-llm --precision fp8", &out), 0) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["engine"]["stack"], "tensorrt-llm");
  EXPECT_EQ(j["engine"]["admission"], "guaranteed");
  EXPECT_EQ(j["engine"]["block_size"], load_stack("tensorrt-llm").serving.block_size);
  EXPECT_EQ(j["engine"]["kv_dtype"], "fp8");
  ASSERT_EQ(run_cli(base + "--stack tensorrt-llm --precision fp8 --kv-dtype bf16 --max-batch 7 --block-size 64 "
                           "--admission greedy",
                    &out),
            0)
      << out;
  j = nlohmann::json::parse(out);
  EXPECT_EQ(j["engine"]["kv_dtype"], "bf16");
  EXPECT_EQ(j["engine"]["max_num_seqs"], 7);
  EXPECT_EQ(j["engine"]["block_size"], 64);
  EXPECT_EQ(j["engine"]["admission"], "greedy");
  // No --stack: the family's default (vLLM on an H100), named in the table too.
  ASSERT_EQ(run_cli(base + "--precision fp8", &out), 0) << out;
  j = nlohmann::json::parse(out);
  EXPECT_EQ(j["engine"]["stack"], "vllm");
  EXPECT_EQ(j["engine"]["max_num_seqs"], load_stack("vllm").serving.max_num_seqs);
  EXPECT_EQ(j["engine"]["kv_dtype"], "bf16");
  ASSERT_EQ(run_cli("serve --system tpu-v7 --chips 4 --model llama3-8b --offline --requests 4 --output-len 10", &out), 0)
      << out;
  EXPECT_CONTAINS(out, "stack vllm-tpu");
  // A training stack, an unknown one and a bad admission name exit 2 naming the flag.
  EXPECT_EQ(run_cli(base + "--stack torchtitan", &out), 2);
  EXPECT_CONTAINS(out, "--stack");
  EXPECT_CONTAINS(out, "training");
  EXPECT_EQ(run_cli(base + "--stack no-such-stack", &out), 2);
  EXPECT_CONTAINS(out, "--stack");
  EXPECT_EQ(run_cli(base + "--admission lottery", &out), 2);
  EXPECT_CONTAINS(out, "--admission");
}

// --- Energy and cost (energy.cpp) --------------------------------------------------------------

// On the same chips, a bigger batch raises throughput more than power: energy per token falls.
TEST(serve_energy, BatchingLowersEnergyPerToken) {
  ServeConfig c = config("dgx-h100", 8, "llama3-70b", 8);
  const RequestSpec load = closed_loop(64, 256, 1000, 200);
  c.engine.max_num_seqs = 1;
  const ServeResult one = simulate_serving(c, load, {});
  c.engine.max_num_seqs = 64;
  const ServeResult many = simulate_serving(c, load, {});
  ASSERT_GT(many.output_tokens_per_s, 5 * one.output_tokens_per_s);
  const ServeEnergy e1 = serve_energy(c, one), e64 = serve_energy(c, many);
  EXPECT_LT(e64.joules_per_output_token, e1.joules_per_output_token / 4);
  EXPECT_GE(e64.avg_power_w_per_chip, e1.avg_power_w_per_chip);  // busier chips draw more
  for (const ServeEnergy& e : {e1, e64}) {
    EXPECT_GE(e.avg_power_w_per_chip, c.system.chip.idle_power.value());
    EXPECT_LE(e.avg_power_w_per_chip, c.system.chip.tdp.value());
    EXPECT_NEAR(e.kwh_per_million_output_tokens, e.joules_per_output_token * 1e6 / 3.6e6, 1e-12);
  }
}

// Batch-1 decode streams the weights: memory busy near weight bytes / (sustained bandwidth x
// iteration), compute busy near zero; energy per token = power x chips / tokens per second.
TEST(serve_energy, SingleStreamIsMemoryBusy) {
  const ServeConfig c = config("dgx-h100", 1, "llama3-8b");
  const ServeResult r = simulate_serving(c, closed_loop(1, 4, 100, 400), {});
  const ServeEnergy e = serve_energy(c, r);
  const double weights = count_params(c.model).total * 2.0;
  const double expected =
      weights / (c.system.chip.hbm_bandwidth.value() * c.system.chip.memory_efficiency) / r.mean_iteration_s;
  EXPECT_NEAR(e.memory_busy, expected, 0.05 * expected);
  EXPECT_LT(e.compute_busy, 0.05);
  EXPECT_NEAR(e.busy, 1.0, 0.02);
  EXPECT_NEAR(e.joules_per_output_token, e.avg_power_w_per_chip * r.chips_used / r.output_tokens_per_s, 1e-9);
}

// Cost is price x chips / throughput: proportional to the price, absent without one.
TEST(serve_energy, CostScalesWithThePrice) {
  ServeConfig c = config("dgx-h100", 8, "llama3-8b");
  const ServeResult r = simulate_serving(c, offline(200, 500, 100), {});
  c.system.price_usd_per_chip_hour = 2.0;
  const ServeEnergy e2 = serve_energy(c, r);
  c.system.price_usd_per_chip_hour = 6.0;
  const ServeEnergy e6 = serve_energy(c, r);
  ASSERT_TRUE(e2.usd_per_million_output_tokens && e6.usd_per_million_output_tokens);
  EXPECT_NEAR(*e6.usd_per_million_output_tokens, 3 * *e2.usd_per_million_output_tokens, 1e-9);
  EXPECT_NEAR(*e2.usd_per_million_output_tokens, 2.0 * r.chips_used / 3600.0 / r.output_tokens_per_s * 1e6, 1e-9);
  EXPECT_EQ(e2.joules_per_output_token, e6.joules_per_output_token);
  c.system.price_usd_per_chip_hour.reset();
  EXPECT_FALSE(serve_energy(c, r).usd_per_million_output_tokens.has_value());
}

TEST(serve_cli, EnergyAndCostKeys) {
  std::string out;
  const std::string base = "serve --system {} --chips 8 --model llama3-8b --offline --requests 32 --input-len 200 "
                           "--output-len 50 --format json";
  ASSERT_EQ(run_cli(fmt::format(fmt::runtime(base), "dgx-h100"), &out), 0) << out;
  auto j = nlohmann::json::parse(out);
  for (const char* k : {"joules_per_output_token", "kwh_per_million_output_tokens", "avg_power_w_per_chip"})
    EXPECT_GT(j["energy"][k].get<double>(), 0) << k;
  EXPECT_GT(j["cost"]["usd_per_million_output_tokens"].get<double>(), 0);
  ASSERT_EQ(run_cli(fmt::format(fmt::runtime(base), "tpu-v7"), &out), 0) << out;
  j = nlohmann::json::parse(out);
  EXPECT_TRUE(j["cost"]["usd_per_million_output_tokens"].is_null());  // no price in the preset
  ASSERT_EQ(run_cli("serve --system tpu-v7 --chips 8 --model llama3-8b --offline --requests 8 --output-len 20", &out), 0);
  EXPECT_CONTAINS(out, "Cost: - per million");
}

// --- Timeline and trace (scheduler.cpp records, serve_trace.cpp writes) --------------------------

// Recording changes nothing; the timeline holds every iteration of the group, each request's spans
// in order, and at most kTraceRequests requests.
TEST(serve_trace, TimelineMatchesTheRunAndIsCapped) {
  const ServeConfig c = config("dgx-h100", 1, "llama3-8b");
  RequestSpec load = offline(2500, 200, 20);
  load.kind = ArrivalKind::kPoisson;
  load.rate = 100;
  std::vector<GroupTimeline> timelines;
  const ServeResult with = simulate_serving(c, load, {}, false, &timelines);
  const ServeResult without = simulate_serving(c, load, {});
  EXPECT_EQ(with.iterations, without.iterations);
  EXPECT_EQ(with.ttft.p99, without.ttft.p99);
  ASSERT_EQ(timelines.size(), 1u);  // one replica: one group
  const GroupTimeline& t = timelines.front();
  EXPECT_EQ(static_cast<long long>(t.iterations.size()), with.iterations);
  EXPECT_EQ(t.requests_total, 2500);
  EXPECT_EQ(static_cast<long long>(t.requests.size()), kTraceRequests);
  for (std::size_t i = 1; i < t.iterations.size(); ++i) EXPECT_GE(t.iterations[i].start_ns, t.iterations[i - 1].end_ns);
  for (const RequestSpan& r : t.requests) {
    EXPECT_LE(r.arrival_ns, r.admitted_ns) << r.index;
    EXPECT_LE(r.admitted_ns, r.first_token_ns) << r.index;
    EXPECT_LT(r.first_token_ns, r.end_ns) << r.index;
  }
  // A closed loop over more groups than clients divide evenly: two distinct groups, two tracks.
  ServeConfig eight = config("dgx-h100", 8, "llama3-8b");
  std::vector<GroupTimeline> two;
  (void)simulate_serving(eight, closed_loop(12, 96, 100, 10), {}, false, &two);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].multiplicity + two[1].multiplicity, 8);
  EXPECT_LE(static_cast<long long>(two[0].requests.size() + two[1].requests.size()), kTraceRequests);
}

TEST(serve_trace, JsonHasIterationsAndRequestLifetimes) {
  const ServeConfig c = config("dgx-h100", 1, "llama3-8b");
  RequestSpec load = offline(50, 300, 30);
  load.kind = ArrivalKind::kPoisson;
  load.rate = 20;
  std::vector<GroupTimeline> timelines;
  const ServeResult r = simulate_serving(c, load, {}, false, &timelines);
  const auto j = nlohmann::json::parse(serve_trace_json(c, r, timelines));
  long long iterations = 0;
  std::map<std::string, long long> spans;
  for (const auto& e : j["traceEvents"]) {
    if (e.value("cat", "") == "iteration") {
      ++iterations;
      for (const char* k : {"tokens", "decode_seqs", "prefill_tokens"}) EXPECT_TRUE(e["args"].contains(k)) << k;
    }
    if (e.value("cat", "") == "request") ++spans[e["name"].get<std::string>()];
  }
  EXPECT_EQ(iterations, r.iterations);
  EXPECT_EQ(spans["prefill"], 50);
  EXPECT_EQ(spans["decode"], 50);
  EXPECT_GT(spans["queued"], 0);
  EXPECT_EQ(j["otherData"]["system"], "dgx-h100");
}

TEST(serve_cli, TraceOut) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "serve.json").string();
  std::string out;
  ASSERT_EQ(run_cli("serve --system dgx-h100 --model llama3-8b --rate 50 --requests 40 --input-len 200 --output-len 20 "
                    "--trace-out " + path,
                    &out),
            0)
      << out;
  std::ifstream in(path);
  const auto j = nlohmann::json::parse(in);
  bool iteration = false, request = false;
  for (const auto& e : j["traceEvents"]) {
    iteration = iteration || e.value("cat", "") == "iteration";
    request = request || e.value("cat", "") == "request";
  }
  EXPECT_TRUE(iteration);
  EXPECT_TRUE(request);
  EXPECT_EQ(run_cli("serve --system dgx-h100 --model llama3-8b --offline --requests 4 --trace-out " +
                        (dir.path() / "missing" / "t.json").string(),
                    &out),
            2);
  EXPECT_CONTAINS(out, "--trace-out");
}

TEST(serve_cli, ExpertPrecisionNeedsExpertsAndAServingDtype) {
  std::string out;
  EXPECT_EQ(run_cli("serve --system dgx-h100 --model llama3-8b --offline --requests 10 --expert-precision fp4", &out), 2);
  EXPECT_CONTAINS(out, "no routed experts");
  EXPECT_EQ(run_cli("serve --system dgx-h100 --model mixtral-8x7b --offline --requests 10 --expert-precision fp32", &out),
            2);
  EXPECT_CONTAINS(out, "--expert-precision");
  EXPECT_EQ(run_cli("serve --system dgx-h100 --model mixtral-8x7b --offline --requests 10 --expert-precision fp6", &out),
            2);
  ASSERT_EQ(run_cli("serve --system dgx-h100 --model mixtral-8x7b --offline --requests 10 --expert-precision fp4 "
                    "--format json",
                    &out),
            0)
      << out;
  EXPECT_CONTAINS(out, "\"expert_precision\": \"fp4\"");
}

}  // namespace
}  // namespace tahoma
