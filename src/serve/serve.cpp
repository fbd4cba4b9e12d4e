// The serving driver (docs/serving.md 1): checks the configuration, builds the requests, sizes
// memory, splits the load over the symmetric groups, simulates each distinct group once and turns
// the runs into metrics; the SLO search wraps it. A disaggregated layout runs its two pools
// (disagg.cpp) in place of the groups.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "internal.h"
#include "layouts.h"
#include "tahoma/error.h"
#include "tahoma/serve.h"

namespace tahoma {
namespace {

// Bisection stops when the bracket is within this ratio (1%).
constexpr double kRateTolerance = 1.01;
// The lowest rate the SLO search tries, as a fraction of the offline request rate.
constexpr double kLowestRateFraction = 1e-3;
// The highest rate the SLO search tries, as a multiple of the offline request rate.
constexpr double kRateCeilingFactor = 2.0;

void check_range(long long v, long long lo, long long hi, const char* flag) {
  if (v < lo || v > hi) throw InputError(flag, "", fmt::format("{} is outside [{}, {}]", v, lo, hi));
}

// One sample set per run, weighted by how many groups behave like it.
struct Weighted {
  std::vector<std::pair<double, double>> values;  // (value, weight)
  void add(const std::vector<double>& v, double w) {
    for (double x : v)
      if (x >= 0) values.emplace_back(x, w);  // -1: no inter-token time (one output token)
  }
  // Mean and nearest-rank percentiles (the smallest value with at least p% of the weight at or
  // below it, MLPerf LoadGen's convention).
  LatencyStats stats() {
    LatencyStats s;
    if (values.empty()) return s;
    std::stable_sort(values.begin(), values.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    double total = 0, sum = 0;
    for (const auto& [x, w] : values) {
      total += w;
      sum += x * w;
    }
    s.mean = sum / total;
    s.p50 = at(50, total);
    s.p90 = at(90, total);
    s.p99 = at(99, total);
    return s;
  }
  double at(double p, double total) const {
    const double target = p / 100.0 * total;
    double acc = 0;
    for (const auto& [x, w] : values) {
      acc += w;
      if (acc >= target * (1 - 1e-12)) return x;
    }
    return values.back().first;
  }
  double percentile(double p) {
    if (values.empty()) return 0;
    std::stable_sort(values.begin(), values.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    double total = 0;
    for (const auto& v : values) total += v.second;
    return at(p, total);
  }
};

// A distinct group: its requests, its closed-loop clients (0 = open loop) and how many groups run
// like it.
struct GroupPlan {
  std::vector<Request> requests;
  int concurrency = 0;
  int multiplicity = 0;
};

// Replicas behind a round-robin balancer, and the pp virtual engines of each replica, see the same
// request stream thinned by G: group g receives requests g, g + G, g + 2G, ... (exact round robin),
// so they are symmetric up to the random lengths, and one representative (group 0) stands for all
// of them. A closed loop of C clients gives floor(C / G) or ceil(C / G) clients to each group: one
// run per distinct count.
std::vector<GroupPlan> plan_groups(const std::vector<Request>& all, const RequestSpec& spec, int groups) {
  std::vector<GroupPlan> plans;
  auto thinned = [&](long long limit) {
    std::vector<Request> out;
    for (std::size_t i = 0; i < all.size() && static_cast<long long>(out.size()) < limit; i += static_cast<std::size_t>(groups))
      out.push_back(all[i]);
    return out;
  };
  if (spec.kind == ArrivalKind::kConcurrency) {
    const long long c = spec.concurrency, g = groups;
    const long long lo = c / g, hi = lo + (c % g != 0 ? 1 : 0);
    const long long n_hi = c % g, n_lo = g - n_hi;
    for (auto [clients, count] : {std::pair{hi, n_hi}, std::pair{lo, n_lo}}) {
      if (clients == 0 || count == 0) continue;
      // Each group serves its share of the requests, at least one per client.
      const double share = static_cast<double>(all.size()) * static_cast<double>(clients) / static_cast<double>(c);
      // More clients than requests: every request is in flight at once.
      const long long n = std::max(1LL, static_cast<long long>(std::ceil(share)));
      GroupPlan p{thinned(n), static_cast<int>(std::min(clients, n)), static_cast<int>(count)};
      if (static_cast<long long>(p.requests.size()) < n) {  // fewer thinned rows than needed: reuse from the start
        for (std::size_t i = 0; static_cast<long long>(p.requests.size()) < n; ++i) p.requests.push_back(all[i % all.size()]);
      }
      plans.push_back(std::move(p));
    }
    return plans;
  }
  const long long active = std::min<long long>(groups, static_cast<long long>(all.size()));
  plans.push_back({thinned(static_cast<long long>(all.size())), 0, static_cast<int>(active)});
  return plans;
}

using serve_internal::WeightedRun;

struct Layout {
  int replicas = 0, chips_per_replica = 0, chips_used = 0, groups = 0;
};

Layout derive_colocated(const ServeConfig& c) {
  const long long ranks = static_cast<long long>(c.system.total_chips()) * c.system.chip.ranks_per_chip;
  const long long per_replica = static_cast<long long>(c.layout.tp) * c.layout.pp;
  if (per_replica > ranks) {
    throw InputError("--tp", "",
                     fmt::format("tp {} x pp {} = {} ranks exceeds the {} ranks of {} chips ({} per chip); lower "
                                 "--tp/--pp or raise --chips",
                                 c.layout.tp, c.layout.pp, per_replica, ranks, c.system.total_chips(),
                                 c.system.chip.ranks_per_chip));
  }
  Layout l;
  l.replicas = c.layout.replicas > 0 ? c.layout.replicas : static_cast<int>(ranks / per_replica);
  if (static_cast<long long>(l.replicas) * per_replica > ranks) {
    throw InputError("--replicas", "",
                     fmt::format("{} replicas of {} ranks need {} ranks, more than the {} of --chips", l.replicas,
                                 per_replica, l.replicas * per_replica, ranks));
  }
  const int rpc = c.system.chip.ranks_per_chip;
  l.chips_per_replica = static_cast<int>((per_replica + rpc - 1) / rpc);
  l.chips_used = static_cast<int>((static_cast<long long>(l.replicas) * per_replica + rpc - 1) / rpc);
  l.groups = serve_internal::groups_of(c, l.replicas);
  return l;
}

// A disaggregated layout reports its decode pool's instances; chips_used counts both pools.
Layout derive_layout(const ServeConfig& c, const std::optional<serve_internal::Pools>& pools) {
  if (!pools) return derive_colocated(c);
  Layout l = derive_colocated(pools->decode);
  l.chips_used = pools->prefill_chips_used + pools->decode_chips_used;
  return l;
}

long long longest(const std::vector<Request>& reqs) {
  long long m = 0;
  for (const auto& r : reqs) m = std::max<long long>(m, static_cast<long long>(r.input) + r.output);
  return m;
}

// Runs the scenario's groups on a request list: each distinct group of a colocated layout once
// (with how many groups run like it), or the two pools of a disaggregated one.
class Runner {
 public:
  Runner(const ServeConfig& c, const ServeMemory& mem, const std::optional<serve_internal::Pools>& pools,
         const ServeMemory& prefill_mem, int groups)
      : c_(c), mem_(mem), pools_(pools), prefill_mem_(prefill_mem), groups_(groups),
        pricer_(pools ? pools->decode : c) {}

  // `timelines`: one per distinct colocated group, for the trace (the caps split between them).
  [[nodiscard]] std::vector<WeightedRun> runs(const std::vector<Request>& all, const RequestSpec& spec,
                                              DisaggResult* disagg = nullptr,
                                              std::vector<GroupTimeline>* timelines = nullptr) const {
    if (pools_) return serve_internal::run_disaggregated(*pools_, prefill_mem_, mem_, all, disagg);
    const std::vector<GroupPlan> plans = plan_groups(all, spec, groups_);
    if (timelines) timelines->assign(plans.size(), GroupTimeline{});
    std::vector<WeightedRun> out;
    for (std::size_t i = 0; i < plans.size(); ++i) {
      const GroupPlan& p = plans[i];
      GroupTimeline* record = timelines ? &(*timelines)[i] : nullptr;
      if (record) {
        const auto n = static_cast<long long>(plans.size());
        record->request_cap = kTraceRequests / n;
        record->iteration_cap = kTraceIterations / n;
        record->multiplicity = p.multiplicity;
      }
      out.push_back({simulate_group(c_, mem_, pricer_.price, p.requests, p.concurrency, record), p.multiplicity});
    }
    return out;
  }
  [[nodiscard]] const IterationPricer& price() const { return pricer_.price; }

 private:
  const ServeConfig& c_;
  const ServeMemory& mem_;
  const std::optional<serve_internal::Pools>& pools_;
  const ServeMemory& prefill_mem_;
  int groups_;
  serve_internal::GroupPricer pricer_;  // the colocated groups' (or the decode pool's, for batch1_decode_s)
};

// Fills the result's metrics from the runs.
void run_groups(const std::vector<WeightedRun>& runs, const SloSpec& slo, ServeResult& r) {
  Weighted ttft, tpot, lat;
  double within = 0, weight = 0;
  double out_tps = 0, total_tps = 0, rps = 0;
  r.requests = r.output_tokens = r.input_tokens = r.iterations = r.preemptions = 0;
  double busy = 0, batch_tokens = 0, decode_seqs = 0;
  r.duration_s = 0;
  r.peak_kv_fraction = 0;
  for (const auto& [g, multiplicity] : runs) {
    const double w = multiplicity;
    ttft.add(g.ttft, w);
    tpot.add(g.tpot, w);
    lat.add(g.latency, w);
    if (g.duration_s > 0) {
      out_tps += w * static_cast<double>(g.output_tokens) / g.duration_s;
      total_tps += w * static_cast<double>(g.output_tokens + g.input_tokens) / g.duration_s;
      rps += w * static_cast<double>(g.ttft.size()) / g.duration_s;
    }
    if (slo.ttft_s || slo.tpot_s) {
      // Requests within both limits (a one-token request has no inter-token time).
      std::size_t t = 0;
      for (std::size_t i = 0; i < g.ttft.size(); ++i) {
        const bool ok_ttft = !slo.ttft_s || g.ttft[i] <= *slo.ttft_s;
        const bool ok_tpot = !slo.tpot_s || g.tpot[i] < 0 || g.tpot[i] <= *slo.tpot_s;
        if (ok_ttft && ok_tpot) ++t;
      }
      within += w * static_cast<double>(t);
      weight += w * static_cast<double>(g.ttft.size());
    }
    r.requests += static_cast<long long>(g.ttft.size());
    r.output_tokens += g.output_tokens;
    r.input_tokens += g.input_tokens;
    r.iterations += g.iterations;
    r.preemptions += g.preemptions;
    busy += g.busy_s;
    batch_tokens += g.batch_tokens_sum;
    decode_seqs += g.decode_seqs_sum;
    r.duration_s = std::max(r.duration_s, g.duration_s);
    r.peak_kv_fraction = std::max(r.peak_kv_fraction, g.peak_kv_fraction);
  }
  r.ttft = ttft.stats();
  r.tpot = tpot.stats();
  r.latency = lat.stats();
  r.output_tokens_per_s = out_tps;
  r.total_tokens_per_s = total_tps;
  r.requests_per_s = rps;
  r.output_tokens_per_s_per_chip = r.chips_used > 0 ? out_tps / r.chips_used : 0;
  r.slo_fraction = weight > 0 ? within / weight : -1;
  const double iters = static_cast<double>(std::max(1LL, r.iterations));
  r.mean_iteration_s = busy / iters;
  r.mean_batch_tokens = batch_tokens / iters;
  r.mean_decode_seqs = decode_seqs / iters;
}

// Whether runs meet the SLO at its percentile.
bool meets(const std::vector<WeightedRun>& runs, const SloSpec& slo) {
  Weighted ttft, tpot;
  for (const auto& [g, multiplicity] : runs) {
    ttft.add(g.ttft, multiplicity);
    tpot.add(g.tpot, multiplicity);
  }
  return (!slo.ttft_s || ttft.percentile(slo.percentile) <= *slo.ttft_s) &&
         (!slo.tpot_s || tpot.percentile(slo.percentile) <= *slo.tpot_s);
}

}  // namespace

namespace {

// Attention data parallelism and the disaggregated pools (docs/serving.md 9-10).
void validate_parallel_layouts(const ServeConfig& c) {
  const ServeLayout& l = c.layout;
  if (l.attention_dp) {
    if (!c.model.is_moe()) {
      throw InputError("--attention-dp", "", "needs an MoE model (for a dense model it is --replicas)");
    }
    if (l.tp < 2) throw InputError("--attention-dp", "", "needs --tp of 2 or more (the data-parallel attention ranks)");
    if (l.ep != l.tp) {
      throw InputError("--attention-dp", "", fmt::format("needs --ep equal to --tp (experts over the {} attention ranks; "
                                                         "ep is {})",
                                                         l.tp, l.ep));
    }
    if (l.pp != 1) throw InputError("--attention-dp", "", "is modelled with --pp 1 only");
    if (c.spec.method != SpecMethod::kNone) {
      throw InputError("--attention-dp", "", "is modelled without --speculative only");
    }
  }
  if (l.prefill_chips != 0 || l.prefill_tp != 0) {
    if (l.prefill_chips == 0) throw InputError("--prefill-tp", "", "needs --prefill-chips");
    check_range(l.prefill_chips, 1, static_cast<long long>(c.system.total_chips()) - 1, "--prefill-chips");
    check_range(l.prefill_tp, 0, kMaxChips, "--prefill-tp");
    if (l.prefill_tp > 0) {
      ServeConfig prefill = c;
      prefill.layout.tp = l.prefill_tp;
      prefill.layout.prefill_chips = prefill.layout.prefill_tp = 0;
      try {
        validate_serve_config(prefill);
      } catch (const InputError& e) {
        throw InputError("--prefill-tp", "", e.problem());
      }
    }
  }
}

}  // namespace

const char* to_string(SpecMethod m) {
  switch (m) {
    case SpecMethod::kNone: return "none";
    case SpecMethod::kDraft: return "draft";
    case SpecMethod::kMtp: return "mtp";
    case SpecMethod::kEagle: return "eagle";
  }
  return "?";
}

std::optional<SpecMethod> parse_spec_method(std::string_view s) {
  for (auto m : {SpecMethod::kNone, SpecMethod::kDraft, SpecMethod::kMtp, SpecMethod::kEagle})
    if (s == to_string(m)) return m;
  return std::nullopt;
}

void validate_serve_config(const ServeConfig& c) {
  const Model& m = c.model;
  const ServeLayout& l = c.layout;
  check_range(l.tp, 1, kMaxChips, "--tp");
  check_range(l.pp, 1, m.layers, "--pp");
  check_range(l.ep, 1, l.tp, "--ep");
  check_range(l.replicas, 0, kMaxChips, "--replicas");
  if (m.heads % l.tp != 0) {
    throw InputError("--tp", "", fmt::format("tp {} does not divide the model's {} attention heads", l.tp, m.heads));
  }
  if (!m.mla && m.kv_heads % l.tp != 0 && l.tp % m.kv_heads != 0) {
    throw InputError("--tp", "",
                     fmt::format("tp {} and the model's {} KV heads must divide one another (vLLM shards or "
                                 "replicates KV heads)",
                                 l.tp, m.kv_heads));
  }
  if (l.tp % l.ep != 0) throw InputError("--ep", "", fmt::format("ep {} does not divide tp {}", l.ep, l.tp));
  if (l.ep > 1 && !m.is_moe()) throw InputError("--ep", "", "expert parallelism needs an MoE model");
  if (m.is_moe() && m.moe->experts % l.ep != 0) {
    throw InputError("--ep", "", fmt::format("ep {} does not divide the model's {} experts", l.ep, m.moe->experts));
  }
  validate_parallel_layouts(c);
  const ServeEngine& e = c.engine;
  check_range(e.max_num_seqs, 1, 1'000'000, "--max-batch");
  check_range(e.max_num_batched_tokens, 1, 10'000'000, "--max-tokens");
  check_range(e.block_size, 1, 4096, "--block-size");
  check_range(e.cuda_graph_max_tokens, 0, 10'000'000, "--cuda-graphs");
  if (!std::isfinite(e.mem_fraction) || e.mem_fraction <= 0 || e.mem_fraction > 1) {
    throw InputError("--mem-fraction", "", fmt::format("{} is outside (0, 1]", e.mem_fraction));
  }
  if (c.kv_dtype == Precision::kFp32) throw InputError("--kv-dtype", "", "expected bf16, fp16, fp8 or fp4");
  if (c.expert_precision) {
    if (*c.expert_precision == Precision::kFp32) throw InputError("--expert-precision", "", "expected bf16, fp16, fp8 or fp4");
    if (!m.is_moe()) {
      throw InputError("--expert-precision", "", fmt::format("model {} has no routed experts (drop the flag)", m.name));
    }
  }
  if (!c.system.chip.peak(c.precision) && !c.system.chip.peak(Precision::kBf16)) {
    throw InputError("--precision", "", "the chip has no matmul rate for it");
  }
  const Speculation& s = c.spec;
  if (s.method != SpecMethod::kNone) {
    check_range(s.k, 1, 16, "--spec-len");
    if (!std::isfinite(s.accept) || s.accept < 1 || s.accept > s.k + 1) {
      throw InputError("--spec-accept", "",
                       fmt::format("{} is outside [1, k + 1 = {}] (tokens emitted per verification step)", s.accept,
                                   s.k + 1));
    }
    if (s.k + 1 > e.max_num_batched_tokens) throw InputError("--max-tokens", "", "must hold k + 1 tokens");
    if (s.method == SpecMethod::kDraft && !s.draft) {
      throw InputError("--speculative", "", "draft needs --draft-model (a model preset, YAML or config.json)");
    }
    if (s.method == SpecMethod::kMtp && m.mtp_depth < 1) {
      throw InputError("--speculative", "",
                       fmt::format("mtp needs a model with multi-token-prediction modules ({} has mtp_depth 0); try "
                                   "eagle",
                                   m.name));
    }
  }
}

ServeResult simulate_serving(const ServeConfig& c, const RequestSpec& spec, const SloSpec& slo, bool search_rate) {
  return simulate_serving(c, spec, slo, search_rate, nullptr);
}

ServeResult simulate_serving(const ServeConfig& c, const RequestSpec& spec, const SloSpec& slo, bool search_rate,
                             std::vector<GroupTimeline>* timeline) {
  validate_serve_config(c);
  if (slo.ttft_s && !(std::isfinite(*slo.ttft_s) && *slo.ttft_s > 0)) throw InputError("--slo-ttft", "", "must be > 0");
  if (slo.tpot_s && !(std::isfinite(*slo.tpot_s) && *slo.tpot_s > 0)) throw InputError("--slo-tpot", "", "must be > 0");
  if (!(slo.percentile > 0 && slo.percentile <= 100)) throw InputError("--percentile", "", "must be in (0, 100]");
  std::optional<serve_internal::Pools> pools;
  if (c.layout.prefill_chips > 0) {
    if (spec.kind == ArrivalKind::kConcurrency) {
      throw InputError("--prefill-chips", "",
                       "a closed loop (--concurrency) couples the two pools and is not modelled; use --offline, "
                       "--rate, --trace or an SLO search");
    }
    pools = serve_internal::split_pools(c);
  }
  ServeResult r;
  const Layout layout = derive_layout(c, pools);
  r.replicas = layout.replicas;
  r.chips_per_replica = layout.chips_per_replica;
  r.chips_used = layout.chips_used;
  r.groups = layout.groups;

  RequestSpec first = spec;
  if (search_rate) first.kind = ArrivalKind::kOffline;  // the search sets the rate itself
  const std::vector<Request> all = make_requests(first, c.model.max_seq);
  long long tokens = 0;
  for (const auto& q : all) tokens += static_cast<long long>(q.input) + q.output;
  if (tokens > kMaxTotalTokens) {
    throw InputError("--requests", "", fmt::format("{} tokens in all exceed the cap of {}", tokens, kMaxTotalTokens));
  }
  if (!c.engine.chunked_prefill) {
    const long long budget = serve_internal::token_budget(c);
    for (const auto& q : all) {
      if (q.input > budget) {
        throw InputError("--max-tokens", "",
                         fmt::format("{} is below a {}-token prompt{}; raise it or enable chunked prefill", budget,
                                     q.input, serve_internal::limit_divisor(c) > 1 ? " (per attention-DP rank: --max-tokens / tp)" : ""));
      }
    }
  }
  const ServeConfig& decode = pools ? pools->decode : c;
  r.memory = size_memory(decode, longest(all), &r.reason);
  r.instance_kv_tokens = r.memory.kv_tokens * serve_internal::attention_ranks(decode);
  ServeMemory prefill_memory;
  if (pools) {
    r.disagg.emplace();
    long long prompt = 0;
    for (const auto& q : all) prompt = std::max<long long>(prompt, q.input + 1LL);
    std::string why;
    prefill_memory = size_memory(pools->prefill, prompt, &why);
    if (r.reason.empty() && !why.empty()) r.reason = "prefill pool: " + why;
  }
  if (!r.reason.empty()) {
    r.servable = false;
    return r;
  }
  const Runner runner(c, r.memory, pools, prefill_memory, layout.groups);
  {
    BatchShape one;
    one.decode_seqs = 1;
    one.decode_kv_full = all.front().input;
    one.decode_kv_window = std::min<double>(all.front().input, c.model.sliding_window);
    r.batch1_decode_s = runner.price()(one).total.value();
  }
  DisaggResult* disagg = r.disagg ? &*r.disagg : nullptr;
  if (!search_rate) {
    run_groups(runner.runs(all, spec, disagg, timeline), slo, r);
    return r;
  }

  // SLO search (MLPerf Inference server scenario): the highest Poisson rate whose percentile TTFT
  // and TPOT meet the limits, by bisection on a log scale between a small fraction of the offline
  // request rate and twice it (beyond saturation the queue grows without bound).
  r.slo_searched = true;
  RequestSpec offline = spec;
  offline.kind = ArrivalKind::kOffline;
  ServeResult peak = r;
  run_groups(runner.runs(make_requests(offline, c.model.max_seq), offline), slo, peak);
  auto runs_at = [&](double rate, DisaggResult* d = nullptr, std::vector<GroupTimeline>* t = nullptr) {
    RequestSpec s = spec;
    s.kind = ArrivalKind::kPoisson;
    s.rate = rate;
    return runner.runs(make_requests(s, c.model.max_seq), s, d, t);
  };
  // Per-group rate = rate / groups; the search runs on the whole system's rate.
  // The offline rate of a finite run includes its drain tail, so it understates the sustainable
  // rate; the bracket's top is twice it (well past saturation, where the queue and TTFT grow).
  double hi = kRateCeilingFactor * peak.requests_per_s, lo = peak.requests_per_s * kLowestRateFraction;
  // Rates tried at most: the two ends, the bisection steps (each halves the log-width) and the final run.
  const auto steps =
      static_cast<long long>(std::ceil(std::log2(std::log(hi / lo) / std::log(kRateTolerance)))) + 3;
  long long tried = 0;
  auto tick = [&] {
    if (slo.progress) slo.progress(std::min(++tried, steps - 1), steps);
  };
  std::optional<double> best;
  const bool top_meets = meets(runs_at(hi), slo);
  tick();
  if (top_meets) {
    best = hi;
  } else if (meets(runs_at(lo), slo)) {
    tick();
    while (hi / lo > kRateTolerance) {
      const double mid = std::sqrt(hi * lo);
      (meets(runs_at(mid), slo) ? lo : hi) = mid;
      tick();
    }
    best = lo;
  }
  r.slo_rate = best.value_or(0.0);
  run_groups(runs_at(best.value_or(lo), disagg, timeline), slo, r);
  if (slo.progress) slo.progress(steps, steps);
  return r;
}

}  // namespace tahoma
