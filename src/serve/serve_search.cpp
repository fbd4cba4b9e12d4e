// `tahoma search --serve` (docs/serving.md 11; issue 15 item 9): enumerates serving layouts for a
// chip budget (TP x PP x EP x attention-DP x prefill/decode split x max batch; replicas fill the
// chips), drops the ones that cannot be valid or cannot meet the SLO by closed-form checks, runs
// tahoma serve's simulation on the rest in parallel (oneTBB) and ranks them by output tokens/s per
// chip, offline or at the highest Poisson rate within the SLO. Deterministic whatever the threads.
#include <fmt/format.h>

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <span>

#include "layouts.h"
#include "tahoma/error.h"
#include "tahoma/serve.h"

namespace tahoma {
namespace {

// Degrees tried: powers of two (the engines' TP and EP sizes divide heads and experts that way).
constexpr int kTpChoices[] = {1, 2, 4, 8, 16, 32, 64};
constexpr int kPpChoices[] = {1, 2, 4, 8};
// Shares of the chips a disaggregated layout gives its prefill pool (DistServe and Splitwise
// sweep prefill:decode instance ratios over this range).
constexpr double kPrefillShares[] = {0.125, 0.25, 0.375, 0.5, 0.625, 0.75};

// The degrees to try: the one the user fixed, else every choice up to `limit`.
std::vector<int> degrees(const std::optional<int>& fixed, std::span<const int> choices, long long limit) {
  if (fixed) return {*fixed};
  std::vector<int> out;
  for (int d : choices)
    if (d <= limit) out.push_back(d);
  return out;
}

// Prefill pool sizes for a layout: each share of the chips, rounded down to whole instances, both
// pools at least one instance; distinct values in increasing order.
std::vector<int> prefill_splits(const ServeConfig& c) {
  const int rpc = c.system.chip.ranks_per_chip;
  const long long instance_ranks = static_cast<long long>(c.layout.tp) * c.layout.pp;
  const int instance_chips = static_cast<int>((instance_ranks + rpc - 1) / rpc);
  const int chips = c.system.total_chips();
  std::vector<int> out;
  for (double share : kPrefillShares) {
    const int p = static_cast<int>(std::floor(share * chips / instance_chips)) * instance_chips;
    if (p < instance_chips || chips - p < instance_chips) continue;
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  }
  return out;
}

// Every layout of the space, in a fixed order.
std::vector<ServeConfig> enumerate(const ServeConfig& base, const ServeSearchOptions& o) {
  const Model& m = base.model;
  const long long ranks = static_cast<long long>(base.system.total_chips()) * base.system.chip.ranks_per_chip;
  std::vector<ServeConfig> out;
  for (int tp : degrees(o.tp, kTpChoices, ranks)) {
    for (int pp : degrees(o.pp, kPpChoices, ranks / tp)) {
      std::vector<int> eps = m.is_moe() ? degrees(o.ep, kTpChoices, tp) : std::vector<int>{o.ep.value_or(1)};
      for (int ep : eps) {
        for (bool adp : {false, true}) {
          if (adp && !(m.is_moe() && ep == tp && tp > 1 && pp == 1 && base.spec.method == SpecMethod::kNone)) continue;
          ServeConfig c = base;
          c.layout = ServeLayout{};
          c.layout.tp = tp;
          c.layout.pp = pp;
          c.layout.ep = ep;
          c.layout.attention_dp = adp;
          c.layout.kv_network = base.layout.kv_network;
          std::vector<int> splits{0};
          if (o.disagg) {
            const auto more = prefill_splits(c);
            splits.insert(splits.end(), more.begin(), more.end());
          }
          for (int prefill : splits) {
            for (int batch : o.max_batch) {
              ServeConfig v = c;
              v.layout.prefill_chips = prefill;
              v.engine.max_num_seqs = batch;
              out.push_back(std::move(v));
            }
          }
        }
      }
    }
  }
  return out;
}

// Closed-form checks before simulating: a valid layout whose weights, workspace and longest
// request fit, and (with a TPOT limit) whose one-sequence decode step alone is within it. Returns
// the reason a layout is dropped, or "" to simulate it.
std::string screen(const ServeConfig& c, const ServeSearchOptions& o, long long longest_tokens, int input) {
  try {
    validate_serve_config(c);
  } catch (const InputError& e) {
    return fmt::format("invalid layout ({})", e.where());
  }
  ServeConfig decode = c;
  if (c.layout.prefill_chips > 0) {
    try {
      decode = serve_internal::split_pools(c).decode;
    } catch (const InputError& e) {
      return fmt::format("invalid layout ({})", e.where());
    }
  }
  std::string why;
  (void)size_memory(decode, longest_tokens, &why);
  if (!why.empty()) return "does not fit";
  if (o.slo.tpot_s) {
    const serve_internal::GroupPricer pricer(decode);
    BatchShape one;
    one.decode_seqs = 1;
    one.decode_kv_full = input;
    one.decode_kv_window = std::min<double>(input, c.model.sliding_window);
    if (pricer.price(one).total.value() > *o.slo.tpot_s) return "one-sequence decode step over --slo-tpot";
  }
  return "";
}

struct Outcome {
  ServeCandidate candidate;
  std::string rejected;  // "" when ranked
};

Outcome evaluate(const ServeConfig& c, const ServeSearchOptions& o) {
  Outcome out;
  out.candidate.config = c;
  const bool slo = o.slo.ttft_s || o.slo.tpot_s;
  RequestSpec spec = o.requests;
  if (!slo) spec.kind = ArrivalKind::kOffline;
  try {
    out.candidate.result = simulate_serving(c, spec, o.slo, slo);
  } catch (const InputError& e) {
    out.rejected = fmt::format("invalid layout ({})", e.where());
    return out;
  }
  const ServeResult& r = out.candidate.result;
  if (!r.servable) {
    out.rejected = "does not fit";
  } else if (slo && r.slo_rate.value_or(0) <= 0) {
    out.rejected = "no rate meets the SLO";
  } else {
    out.candidate.objective = r.output_tokens_per_s_per_chip;
  }
  return out;
}

}  // namespace

ServeSearchReport search_serving(const ServeConfig& base, const ServeSearchOptions& o) {
  if (o.top < 1 || o.top > 1000) throw InputError("--top", "", fmt::format("{} is outside [1, 1000]", o.top));
  if (o.max_batch.empty()) throw InputError("--max-batch", "", "needs at least one value");
  if (o.slo.ttft_s && !(*o.slo.ttft_s > 0)) throw InputError("--slo-ttft", "", "must be > 0");
  if (o.slo.tpot_s && !(*o.slo.tpot_s > 0)) throw InputError("--slo-tpot", "", "must be > 0");
  ServeSearchReport report;
  const std::vector<ServeConfig> all = enumerate(base, o);
  report.considered = static_cast<long long>(all.size());
  const std::vector<Request> reqs = make_requests(
      [&] {
        RequestSpec s = o.requests;
        s.kind = ArrivalKind::kOffline;
        return s;
      }(),
      base.model.max_seq);
  long long longest = 0;
  for (const auto& q : reqs) longest = std::max<long long>(longest, static_cast<long long>(q.input) + q.output);
  const int input = reqs.front().input;

  // Screen (cheap, serial), cap, then simulate in parallel.
  std::vector<ServeConfig> chosen;
  for (const auto& c : all) {
    const std::string why = screen(c, o, longest, input);
    if (!why.empty()) {
      ++report.rejected[why];
    } else if (static_cast<long long>(chosen.size()) < o.max_candidates) {
      chosen.push_back(c);
    } else {
      ++report.skipped;
    }
  }
  std::vector<Outcome> outcomes(chosen.size());
  ServeSearchOptions per_layout = o;
  per_layout.slo.progress = {};
  std::atomic<long long> done{0};
  const auto total = static_cast<long long>(chosen.size());
  if (o.progress) o.progress(0, total);
  tbb::task_arena arena(o.threads > 0 ? o.threads : tbb::task_arena::automatic);
  arena.execute([&] {
    tbb::parallel_for(std::size_t{0}, chosen.size(), std::size_t{1}, [&](std::size_t i) {
      outcomes[i] = evaluate(chosen[i], per_layout);
      if (o.progress) o.progress(++done, total);
    });
  });
  report.simulated = static_cast<long long>(chosen.size());

  // Rank: objective (larger first), ties to fewer chips, then enumeration order.
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (outcomes[i].rejected.empty()) {
      order.push_back(i);
    } else {
      ++report.rejected[outcomes[i].rejected];
    }
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const double oa = outcomes[a].candidate.objective, ob = outcomes[b].candidate.objective;
    if (oa != ob) return oa > ob;
    return outcomes[a].candidate.result.chips_used < outcomes[b].candidate.result.chips_used;
  });
  for (std::size_t k = 0; k < order.size() && static_cast<int>(k) < o.top; ++k)
    report.results.push_back(std::move(outcomes[order[k]].candidate));
  return report;
}

std::string serve_layout_flags(const ServeConfig& c) {
  const ServeLayout& l = c.layout;
  std::string s = fmt::format("--tp {} --pp {} --ep {}", l.tp, l.pp, l.ep);
  if (l.attention_dp) s += " --attention-dp";
  if (l.prefill_chips > 0) {
    s += fmt::format(" --prefill-chips {}", l.prefill_chips);
    if (l.prefill_tp > 0) s += fmt::format(" --prefill-tp {}", l.prefill_tp);
    if (l.kv_network == NetworkMode::kFlow) s += " --kv-network flow";
  }
  s += fmt::format(" --max-batch {}", c.engine.max_num_seqs);
  return s;
}

namespace {

nlohmann::json stats(const LatencyStats& s) {
  return {{"mean", s.mean}, {"p50", s.p50}, {"p90", s.p90}, {"p99", s.p99}};
}

nlohmann::json candidate_json(const ServeCandidate& c, int rank) {
  const ServeResult& r = c.result;
  const ServeLayout& l = c.config.layout;
  nlohmann::json j = {{"rank", rank},
                      {"layout",
                       {{"tp", l.tp},
                        {"pp", l.pp},
                        {"ep", l.ep},
                        {"attention_dp", l.attention_dp},
                        {"replicas", r.replicas},
                        {"prefill_chips", l.prefill_chips},
                        {"max_batch", c.config.engine.max_num_seqs}}},
                      {"chips_used", r.chips_used},
                      {"output_tokens_per_s_per_chip", r.output_tokens_per_s_per_chip},
                      {"output_tokens_per_s", r.output_tokens_per_s},
                      {"requests_per_s", r.requests_per_s},
                      {"slo_rate", r.slo_rate ? nlohmann::json(*r.slo_rate) : nlohmann::json(nullptr)},
                      {"ttft_s", stats(r.ttft)},
                      {"tpot_s", stats(r.tpot)},
                      {"instance_kv_tokens", r.instance_kv_tokens},
                      {"flags", serve_layout_flags(c.config)}};
  return j;
}

}  // namespace

nlohmann::json serve_search_json(const ServeSearchOptions& o, const ServeSearchReport& report,
                                 const std::string& reproduce) {
  const bool slo = o.slo.ttft_s || o.slo.tpot_s;
  nlohmann::json j;
  j["objective"] = slo ? "output_tokens_per_s_per_chip at the highest Poisson rate meeting the SLO"
                       : "output_tokens_per_s_per_chip offline";
  j["considered"] = report.considered;
  j["simulated"] = report.simulated;
  j["skipped_over_cap"] = report.skipped;
  j["max_candidates"] = o.max_candidates;
  j["rejected"] = report.rejected;
  j["results"] = nlohmann::json::array();
  for (std::size_t i = 0; i < report.results.size(); ++i)
    j["results"].push_back(candidate_json(report.results[i], static_cast<int>(i) + 1));
  if (report.results.empty()) {
    j["best"] = nullptr;
  } else {
    j["best"] = j["results"][0];
    j["best"]["reproduce"] = reproduce;
  }
  return j;
}

std::string serve_search_table(const ServeSearchOptions& o, const ServeSearchReport& report,
                               const std::string& reproduce) {
  const bool slo = o.slo.ttft_s || o.slo.tpot_s;
  const double pct = o.slo.percentile;
  std::string out = fmt::format(
      "Serving layouts ranked by output tokens/s per chip {}\n{} layouts considered, {} simulated{}\n\n",
      slo ? fmt::format("at the highest Poisson rate meeting p{:g} TTFT <= {} and TPOT <= {}", pct,
                        o.slo.ttft_s ? fmt::format("{:g} s", *o.slo.ttft_s) : "-",
                        o.slo.tpot_s ? fmt::format("{:g} ms", *o.slo.tpot_s * 1e3) : "-")
          : "offline",
      report.considered, report.simulated,
      report.skipped > 0 ? fmt::format(" ({} more over the cap of {} not simulated)", report.skipped, o.max_candidates)
                         : "");
  out += fmt::format("{:>4} {:>4} {:>3} {:>3} {:>4} {:>8} {:>8} {:>6} {:>5} {:>11} {:>10} {:>9} {:>10} {:>10}\n", "rank",
                     "tp", "pp", "ep", "adp", "replicas", "prefill", "batch", "chips", "tok/s/chip", "tok/s",
                     slo ? "rate/s" : "req/s", "TTFT p99", "TPOT p99");
  for (std::size_t i = 0; i < report.results.size(); ++i) {
    const ServeCandidate& c = report.results[i];
    const ServeResult& r = c.result;
    const ServeLayout& l = c.config.layout;
    out += fmt::format("{:>4} {:>4} {:>3} {:>3} {:>4} {:>8} {:>8} {:>6} {:>5} {:>11.1f} {:>10.0f} {:>9.3f} {:>8.1f}ms {:>8.1f}ms\n",
                       i + 1, l.tp, l.pp, l.ep, l.attention_dp ? "yes" : "no", r.replicas,
                       l.prefill_chips > 0 ? std::to_string(l.prefill_chips) : "-", c.config.engine.max_num_seqs,
                       r.chips_used, r.output_tokens_per_s_per_chip, r.output_tokens_per_s,
                       slo ? r.slo_rate.value_or(0) : r.requests_per_s, r.ttft.p99 * 1e3, r.tpot.p99 * 1e3);
  }
  if (report.results.empty()) out += "  (no layout qualifies)\n";
  if (!report.rejected.empty()) {
    out += "\nNot ranked:";
    for (const auto& [why, n] : report.rejected) out += fmt::format(" {} {};", n, why);
    out.back() = '\n';
  }
  if (!report.results.empty()) out += fmt::format("\nReproduce the winner:\n  {}\n", reproduce);
  return out;
}

}  // namespace tahoma
