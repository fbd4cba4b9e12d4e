// Disaggregated prefill/decode, attention data parallelism and `tahoma search --serve`: the KV
// transfer's closed form, identity with the colocated path when no chips prefill, the TTFT/TPOT
// trade, attention-DP KV capacity, and the search's winner and reproduce command. Suites are named
// serve_* so that `ctest -R serve` selects them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <numeric>
#include <sstream>

#include "../test_util.h"
#include "internal.h"
#include "tahoma/comm.h"
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

RequestSpec poisson(double rate, long long n, int in, int out) {
  RequestSpec s = offline(n, in, out);
  s.kind = ArrivalKind::kPoisson;
  s.rate = rate;
  s.seed = 3;
  return s;
}

// --- Disaggregated prefill/decode ---------------------------------------------------------------

// Llama 3 70B at TP 8 keeps 1 of its 8 KV heads per rank: 80 layers x 2 (K, V) x 128 x 2 bytes =
// 40,960 bytes per token per rank. Between two DGX H100 nodes the send-recv crosses InfiniBand:
// time = latency + bytes / bandwidth of that level (the p2p closed form).
TEST(serve_disagg, KvTransferIsBytesOverBandwidthPlusLatency) {
  ServeConfig c = config("dgx-h100", 16, "llama3-70b", 8);
  ServeConfig prefill = c, decode = c;
  prefill.system.chips = decode.system.chips = 8;
  const long long tokens = 4000;
  const KvTransfer t = kv_transfer(prefill, decode, tokens, 8 * c.system.chip.ranks_per_chip, NetworkMode::kAnalytical);
  const double bytes = 80.0 * 2 * 1 * 128 * 2 * tokens;
  EXPECT_DOUBLE_EQ(t.bytes_per_rank.value(), bytes);
  const CollectiveModel comm(c.system);
  const CommLevel& out = comm.levels().back();
  EXPECT_FALSE(t.scale_up);
  EXPECT_EQ(t.level, out.name);
  EXPECT_EQ(t.algorithm, "p2p");
  EXPECT_NEAR(t.time.value(), out.latency.value() + bytes / out.bandwidth.value(), 1e-12);

  // Inside one NVL72 rack the same pair is one NVLink hop: the scale-up level's closed form.
  ServeConfig rack = config("gb200-nvl72", 72, "llama3-70b", 8);
  ServeConfig p2 = rack, d2 = rack;
  p2.system.chips = 16;
  d2.system.chips = 56;
  const KvTransfer u = kv_transfer(p2, d2, tokens, 16, NetworkMode::kAnalytical);
  const CollectiveModel rack_comm(rack.system);
  std::size_t level = 0;
  while (rack_comm.levels()[level].ranks <= 16) ++level;
  const CommLevel& up = rack_comm.levels()[level];
  EXPECT_TRUE(u.scale_up);
  EXPECT_EQ(u.level, up.name);
  EXPECT_NEAR(u.time.value(), up.latency.value() + bytes / up.bandwidth.value(), 1e-12);
  EXPECT_LT(u.time.value(), t.time.value());

  // Flow mode times the same pair as one flow on the topology: positive, and no faster than the
  // link's raw (pre-efficiency) bandwidth allows.
  const KvTransfer f = kv_transfer(prefill, decode, tokens, 8, NetworkMode::kFlow);
  EXPECT_GT(f.time.value(), bytes / (out.bandwidth.value() / out.efficiency) * 0.999);
  EXPECT_DOUBLE_EQ(f.bytes_per_rank.value(), bytes);
}

// A layout without prefill chips runs the colocated groups exactly as before: the metrics equal
// one group simulated directly with IterationCost (1 replica), and the result has no pool split.
TEST(serve_disagg, NoPrefillChipsIsTheColocatedRun) {
  const ServeConfig c = config("dgx-h100", 1, "llama3-8b");
  const RequestSpec spec = offline(60, 700, 90);
  const ServeResult r = simulate_serving(c, spec, {});
  ASSERT_TRUE(r.servable) << r.reason;
  EXPECT_FALSE(r.disagg.has_value());
  const auto reqs = make_requests(spec, c.model.max_seq);
  std::string why;
  const ServeMemory mem = size_memory(c, 790, &why);
  const IterationCost cost(c);
  const GroupRun g = simulate_group(c, mem, cost, reqs, 0);
  EXPECT_EQ(r.iterations, g.iterations);
  EXPECT_EQ(r.output_tokens, g.output_tokens);
  EXPECT_DOUBLE_EQ(r.duration_s, g.duration_s);
  EXPECT_DOUBLE_EQ(r.ttft.mean, std::accumulate(g.ttft.begin(), g.ttft.end(), 0.0) / static_cast<double>(g.ttft.size()));
  EXPECT_DOUBLE_EQ(r.output_tokens_per_s, static_cast<double>(g.output_tokens) / g.duration_s);
}

struct Point {
  double ttft_p99, tpot_p99, tokens_per_chip;
};
Point run_split(int prefill_chips, int in, int out) {
  ServeConfig c = config("dgx-h100", 8, "llama3-8b");
  c.layout.prefill_chips = prefill_chips;
  const ServeResult r = simulate_serving(c, poisson(20, 400, in, out), {});
  EXPECT_TRUE(r.servable) << r.reason;
  return {r.ttft.p99, r.tpot.p99, r.output_tokens_per_s_per_chip};
}

// Long prompts and short outputs: colocated, every decode iteration carries prefill chunks, so
// TPOT suffers (the interference DistServe removes); splitting 4 + 4 chips lowers TPOT and pays in
// TTFT (fewer chips prefill, and the KV moves). Short prompts and long outputs: decode dominates, so
// the 4 decode chips give a worse TPOT than 8 colocated ones and TTFT hardly moves.
TEST(serve_disagg, PrefillHeavyTradesTtftForTpot) {
  const Point colocated = run_split(0, 4000, 64);
  const Point split = run_split(4, 4000, 64);
  EXPECT_LT(split.tpot_p99, 0.8 * colocated.tpot_p99);
  EXPECT_GT(split.ttft_p99, colocated.ttft_p99);
  const Point decode_colocated = run_split(0, 200, 1000);
  const Point decode_split = run_split(4, 200, 1000);
  EXPECT_GT(decode_split.tpot_p99, decode_colocated.tpot_p99);
  EXPECT_NEAR(decode_split.ttft_p99, decode_colocated.ttft_p99, 0.5 * decode_colocated.ttft_p99);
}

// Every request crosses both pools: tokens are conserved, each TTFT covers its prefill and
// transfer, and the pool split is reported.
TEST(serve_disagg, EveryRequestCrossesBothPools) {
  ServeConfig c = config("dgx-h100", 16, "llama3-70b", 8);
  c.layout.prefill_chips = 8;
  const RequestSpec spec = offline(40, 3000, 20);
  const ServeResult r = simulate_serving(c, spec, {});
  ASSERT_TRUE(r.servable) << r.reason;
  ASSERT_TRUE(r.disagg.has_value());
  EXPECT_EQ(r.requests, 40);
  EXPECT_EQ(r.output_tokens, 40 * 20);
  EXPECT_EQ(r.chips_used, 16);
  EXPECT_EQ(r.disagg->prefill_chips, 8);
  EXPECT_EQ(r.disagg->decode_chips, 8);
  EXPECT_FALSE(r.disagg->mean_transfer.scale_up);
  EXPECT_GT(r.ttft.p50, r.disagg->mean_transfer_s);
  EXPECT_GE(r.ttft.mean, r.disagg->mean_prefill_s + r.disagg->mean_transfer_s - 1e-9);
}

TEST(serve_disagg, BadSplitsAreInputErrors) {
  ServeConfig c = config("dgx-h100", 8, "llama3-8b");
  c.layout.prefill_chips = 8;
  EXPECT_CONTAINS(input_error([&] { (void)simulate_serving(c, offline(4, 10, 10), {}); }), "--prefill-chips");
  c.layout.prefill_chips = 0;
  c.layout.prefill_tp = 2;
  EXPECT_CONTAINS(input_error([&] { (void)simulate_serving(c, offline(4, 10, 10), {}); }), "--prefill-tp");
  c.layout.prefill_chips = 2;
  c.layout.prefill_tp = 3;
  EXPECT_CONTAINS(input_error([&] { (void)simulate_serving(c, offline(4, 10, 10), {}); }), "--prefill-tp");
  c.layout.prefill_tp = 0;
  RequestSpec loop = offline(4, 10, 10);
  loop.kind = ArrivalKind::kConcurrency;
  loop.concurrency = 2;
  EXPECT_CONTAINS(input_error([&] { (void)simulate_serving(c, loop, {}); }), "--prefill-chips");
}

// --- Attention data parallelism -------------------------------------------------------------------

// DeepSeek-V3's MLA latent is replicated on every TP rank without attention DP; with it each rank
// holds its own sequences, so one instance holds tp x the tokens per rank. The per-token bytes are
// the same in both; the ranks' KV bytes differ only by the attention weights DP replicates, so with
// that taken out the instance's capacity grows by exactly the TP degree (to block rounding).
TEST(serve_attention_dp, MlaKvCapacityPerInstanceGrowsByTp) {
  ServeConfig c = config("gb200-nvl72", 8, "deepseek-v3", 8);
  c.layout.ep = 8;
  c.precision = Precision::kFp8;
  const RequestSpec spec = offline(64, 1000, 100);
  const ServeResult tp = simulate_serving(c, spec, {});
  c.layout.attention_dp = true;
  const ServeResult dp = simulate_serving(c, spec, {});
  ASSERT_TRUE(tp.servable && dp.servable) << tp.reason << dp.reason;
  EXPECT_DOUBLE_EQ(dp.memory.kv_bytes_per_token.value(), tp.memory.kv_bytes_per_token.value());
  EXPECT_EQ(tp.instance_kv_tokens, tp.memory.kv_tokens);
  EXPECT_EQ(dp.instance_kv_tokens, 8 * dp.memory.kv_tokens);
  const double bytes_ratio = dp.memory.kv_capacity.value() / tp.memory.kv_capacity.value();
  EXPECT_NEAR(static_cast<double>(dp.instance_kv_tokens) / static_cast<double>(tp.instance_kv_tokens),
              8.0 * bytes_ratio, 1e-4 * 8.0);
  EXPECT_GT(dp.instance_kv_tokens, 6 * tp.instance_kv_tokens);
  // One instance of 8 attention-DP ranks: 8 groups, each scheduling its own requests.
  EXPECT_EQ(dp.groups, 8);
  EXPECT_EQ(tp.groups, 1);
}

// No attention all-reduce: an attention-DP rank's communication is the MoE layers' dispatch and
// combine only, while the TP layout all-reduces twice per layer; every token of the batch is
// priced and the parts add up.
TEST(serve_attention_dp, CommIsTheExpertAllToAllOnly) {
  ServeConfig c = config("gb200-nvl72", 8, "deepseek-v3", 8);
  c.layout.ep = 8;
  c.layout.attention_dp = true;
  const AttentionDpCost dp(c);
  BatchShape b;
  b.decode_seqs = 32;
  b.decode_kv_full = 32 * 2000.0;
  const IterationTime t = dp.time(b);
  const CollectiveModel comm(c.system);
  const double a2a = comm.cost(CollectiveKind::kAllToAll, Bytes(32.0 * 8 * 7168 * 2), GroupShape{{{8, 1}}}).time.value();
  EXPECT_NEAR(t.comm.value(), 58 * 2 * a2a, 1e-12);
  EXPECT_NEAR(t.total.value(), (t.compute + t.comm + t.draft + t.host).value(), 1e-12);
}

TEST(serve_attention_dp, LayoutLimitsAreInputErrors) {
  ServeConfig dense = config("dgx-h100", 8, "llama3-8b", 8);
  dense.layout.attention_dp = true;
  EXPECT_CONTAINS(input_error([&] { (void)simulate_serving(dense, offline(4, 10, 10), {}); }), "--attention-dp");
  ServeConfig moe = config("gb200-nvl72", 8, "deepseek-v3", 8);
  moe.layout.attention_dp = true;
  moe.layout.ep = 4;
  EXPECT_CONTAINS(input_error([&] { (void)simulate_serving(moe, offline(4, 10, 10), {}); }), "--attention-dp");
}

// --- tahoma search --serve ------------------------------------------------------------------------

ServeSearchOptions small_search() {
  ServeSearchOptions o;
  o.requests = offline(200, 800, 200);
  o.max_batch = {32, 256};
  return o;
}

// The ranking is a total order on the objective: the winner is at least as good as every listed
// layout, the list is non-increasing, and the answer does not depend on the thread count.
TEST(serve_search, WinnerIsAtLeastAsGoodAsEveryListedLayout) {
  const ServeConfig base = config("dgx-h100", 8, "llama3-8b");
  ServeSearchOptions o = small_search();
  o.top = 50;
  o.threads = 1;
  const ServeSearchReport one = search_serving(base, o);
  ASSERT_GT(one.results.size(), 3u);
  for (std::size_t i = 1; i < one.results.size(); ++i) {
    EXPECT_GE(one.results[0].objective, one.results[i].objective);
    EXPECT_GE(one.results[i - 1].objective, one.results[i].objective);
    EXPECT_DOUBLE_EQ(one.results[i].objective, one.results[i].result.output_tokens_per_s_per_chip);
  }
  EXPECT_LE(one.simulated + one.skipped, one.considered);
  EXPECT_LE(static_cast<long long>(one.results.size()), one.simulated);
  o.threads = 2;
  const ServeSearchReport two = search_serving(base, o);
  ASSERT_EQ(two.results.size(), one.results.size());
  for (std::size_t i = 0; i < one.results.size(); ++i) {
    EXPECT_EQ(serve_layout_flags(two.results[i].config), serve_layout_flags(one.results[i].config));
    EXPECT_DOUBLE_EQ(two.results[i].objective, one.results[i].objective);
  }
}

// The cap bounds the simulations; what is over it is counted, not silently dropped.
TEST(serve_search, CandidatesOverTheCapAreCounted) {
  const ServeConfig base = config("dgx-h100", 8, "llama3-8b");
  ServeSearchOptions o = small_search();
  o.max_candidates = 3;
  const ServeSearchReport r = search_serving(base, o);
  EXPECT_EQ(r.simulated, 3);
  EXPECT_GT(r.skipped, 0);
  EXPECT_LE(r.results.size(), 3u);
}

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

// The winner's reproduce command, run through `tahoma serve`, prints the numbers the search ranked
// it by (at the SLO, with a disaggregated split among the candidates).
TEST(serve_search, ReproduceCommandGivesTheSameNumbers) {
  std::string out;
  ASSERT_EQ(run_cli("search --serve --system dgx-h100 --chips 16 --model llama3-8b --input-len 2000 --output-len 100 "
                    "--requests 150 --slo-ttft 1s --slo-tpot 30ms --disagg --max-batch 64,256 --top 5 --format json",
                    &out),
            0)
      << out;
  const auto j = nlohmann::json::parse(out);
  ASSERT_TRUE(j.contains("results") && j.contains("best"));
  ASSERT_FALSE(j["best"].is_null());
  EXPECT_LE(j["results"].size(), 5u);
  for (const auto& r : j["results"])
    EXPECT_GE(j["best"]["output_tokens_per_s_per_chip"].get<double>(), r["output_tokens_per_s_per_chip"].get<double>());
  std::string cmd = j["best"]["reproduce"].get<std::string>();
  ASSERT_EQ(cmd.rfind("tahoma serve ", 0), 0u) << cmd;
  std::string served;
  ASSERT_EQ(run_cli(cmd.substr(7) + " --format json", &served), 0) << served;
  const auto s = nlohmann::json::parse(served);
  EXPECT_DOUBLE_EQ(s["throughput"]["output_tokens_per_s_per_chip"].get<double>(),
                   j["best"]["output_tokens_per_s_per_chip"].get<double>());
  EXPECT_DOUBLE_EQ(s["ttft_s"]["p99"].get<double>(), j["best"]["ttft_s"]["p99"].get<double>());
  EXPECT_DOUBLE_EQ(s["tpot_s"]["p99"].get<double>(), j["best"]["tpot_s"]["p99"].get<double>());
  EXPECT_DOUBLE_EQ(s["slo"]["max_rate_per_s"].get<double>(), j["best"]["slo_rate"].get<double>());
}

TEST(serve_search, BadInputExitsTwo) {
  std::string out;
  EXPECT_EQ(run_cli("search --serve --system dgx-h100 --chips 8 --input-len 100", &out), 2) << out;
  EXPECT_CONTAINS(out, "--model");
  EXPECT_EQ(run_cli("search --serve --system dgx-h100 --chips 8 --model llama3-8b --max-batch 0", &out), 2) << out;
  EXPECT_CONTAINS(out, "--max-batch");
  EXPECT_EQ(run_cli("search --serve --system dgx-h100 --chips 8 --model llama3-8b --slo-tpot fast", &out), 2) << out;
  EXPECT_CONTAINS(out, "--slo-tpot");
}

}  // namespace
}  // namespace tahoma
