// Disaggregated prefill/decode (docs/serving.md 9; Zhong et al. 2024, DistServe, OSDI; Patel et
// al. 2024, Splitwise, ISCA; NVIDIA Dynamo; SGLang PD disaggregation): prefill instances on the
// first chips run prompts only, each prompt's KV cache moves to a decode instance over the network,
// and the decode instance generates every output token. The prefill pool is simulated group by
// group (prompts only, so it is cheap) to give each request the time its KV is ready; the decode
// pool's groups are symmetric under round robin, so one representative is simulated.
//
// The prefill instance computes the prompt's KV and samples the first token; both move to a decode
// instance (SGLang PD and NVIDIA Dynamo send the KV and the first token; the decode instance streams
// every token to the client). TTFT here is what that client sees: queueing and prefill on the prefill
// pool + the KV transfer + queueing on the decode pool until it admits the request (KV blocks free).
// DistServe's TTFT stops at the prefill instance's first token; ours is the later, client-visible one.
// TPOT is the decode pool's inter-token time from then on.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "internal.h"
#include "layouts.h"
#include "tahoma/comm.h"
#include "tahoma/error.h"
#include "tahoma/serve.h"

namespace tahoma {
namespace {

// KV bytes one rank holds for `tokens` tokens of one sequence: every layer of its pipeline stage,
// sliding-window layers capped at the window. An attention-DP rank holds whole sequences (tp 1).
double kv_bytes_per_rank(const ServeConfig& c, long long tokens) {
  const int attention_tp = c.layout.attention_dp ? 1 : c.layout.tp;
  const double per_layer = serve_internal::kv_bytes_per_token_layer(c.model, attention_tp, c.kv_dtype);
  const auto lc = serve_internal::layer_counts(c.model);
  const int pp = c.layout.pp;
  const double full = (lc.full + pp - 1) / pp, window = (lc.window + pp - 1) / pp;
  const double t = static_cast<double>(tokens);
  const double windowed = c.model.sliding_window > 0 ? std::min(t, static_cast<double>(c.model.sliding_window)) : 0;
  return per_layer * (full * t + window * windowed);
}

// The link between the pools: the prefill pool's rank 0 and the decode pool's rank 0,
// `distance_ranks` apart, on the whole system. The level that carries the pair is the innermost whose
// aligned blocks hold both (CommLevel::ranks): inside the scale-up domain when the pools share one,
// else the scale-out network. Each prompt's transfer is priced alone on an idle network (concurrent
// transfers and their contention with the pools' collectives are not modelled).
class KvLink {
 public:
  KvLink(const ServeConfig& prefill, const ServeConfig& decode, long long distance_ranks, NetworkMode mode)
      : prefill_(prefill), decode_(decode), comm_(whole(prefill, decode)), pair_{{{2, std::max(1LL, distance_ranks)}}},
        mode_(mode) {
    const auto& levels = comm_.levels();
    level_ = levels.size() - 1;
    for (std::size_t i = 0; i < levels.size(); ++i) {
      if (levels[i].ranks > distance_ranks) {
        level_ = i;
        break;
      }
    }
  }

  [[nodiscard]] KvTransfer price(long long prompt_tokens) const {
    KvTransfer t;
    t.bytes_per_rank =
        Bytes(std::max(kv_bytes_per_rank(prefill_, prompt_tokens), kv_bytes_per_rank(decode_, prompt_tokens)));
    const CollectiveCost cost = mode_ == NetworkMode::kFlow
                                    ? comm_.cost_flow(CollectiveKind::kSendRecv, t.bytes_per_rank, pair_)
                                    : comm_.cost(CollectiveKind::kSendRecv, t.bytes_per_rank, pair_);
    t.time = cost.time;
    t.algorithm = cost.algorithm;
    t.level = comm_.levels()[level_].name;
    t.scale_up = level_ + 1 < comm_.levels().size();
    return t;
  }

 private:
  static System whole(const ServeConfig& prefill, const ServeConfig& decode) {
    System s = decode.system;
    s.chips = prefill.system.total_chips() + decode.system.total_chips();
    return s;
  }
  const ServeConfig& prefill_;
  const ServeConfig& decode_;
  CollectiveModel comm_;
  GroupShape pair_;
  NetworkMode mode_;
  std::size_t level_ = 0;
};

// A pool of `chips` chips: its instances of tp x pp ranks (--replicas caps the decode pool's).
struct PoolSize {
  int replicas = 0, chips_used = 0;
};
PoolSize pool_size(const ServeConfig& c, int chips, int replicas_asked, const char* pool) {
  const long long rpc = c.system.chip.ranks_per_chip;
  const long long ranks = static_cast<long long>(chips) * rpc;
  const long long per = static_cast<long long>(c.layout.tp) * c.layout.pp;
  const long long fit = ranks / per;
  if (fit < 1) {
    throw InputError("--prefill-chips", "",
                     fmt::format("the {} pool's {} chips ({} ranks) hold no instance of tp {} x pp {} ranks", pool,
                                 chips, ranks, c.layout.tp, c.layout.pp));
  }
  if (replicas_asked > fit) {
    throw InputError("--replicas", "",
                     fmt::format("{} decode replicas of {} ranks need more than the decode pool's {} ranks",
                                 replicas_asked, per, ranks));
  }
  PoolSize p;
  p.replicas = replicas_asked > 0 ? replicas_asked : static_cast<int>(fit);
  p.chips_used = static_cast<int>((p.replicas * per + rpc - 1) / rpc);
  return p;
}

}  // namespace

namespace serve_internal {

Pools split_pools(const ServeConfig& c) {
  const int chips = c.system.total_chips();
  const ServeLayout& l = c.layout;
  if (l.prefill_chips < 1 || l.prefill_chips >= chips) {
    throw InputError("--prefill-chips", "",
                     fmt::format("{} is outside [1, {}]: both pools need chips out of --chips {}", l.prefill_chips,
                                 chips - 1, chips));
  }
  if (l.prefill_tp < 0 || l.prefill_tp > kMaxChips) {
    throw InputError("--prefill-tp", "", fmt::format("{} is outside [0, {}]", l.prefill_tp, kMaxChips));
  }
  Pools p;
  p.decode = c;
  p.decode.layout.prefill_chips = 0;
  p.decode.layout.prefill_tp = 0;
  p.decode.system.chips = chips - l.prefill_chips;
  p.prefill = p.decode;
  p.prefill.system.chips = l.prefill_chips;
  p.prefill.layout.replicas = 0;
  if (l.prefill_tp > 0) {
    p.prefill.layout.tp = l.prefill_tp;
    if (l.prefill_tp % l.ep != 0) {
      throw InputError("--prefill-tp", "", fmt::format("ep {} does not divide prefill tp {}", l.ep, l.prefill_tp));
    }
  }
  const PoolSize pre = pool_size(p.prefill, l.prefill_chips, 0, "prefill");
  const PoolSize dec = pool_size(p.decode, chips - l.prefill_chips, l.replicas, "decode");
  p.prefill.layout.replicas = p.prefill_replicas = pre.replicas;
  p.decode.layout.replicas = p.decode_replicas = dec.replicas;
  p.prefill_chips_used = pre.chips_used;
  p.decode_chips_used = dec.chips_used;
  p.distance_ranks = static_cast<long long>(l.prefill_chips) * c.system.chip.ranks_per_chip;
  return p;
}

std::vector<WeightedRun> run_disaggregated(const Pools& pools, const ServeMemory& prefill_memory,
                                           const ServeMemory& decode_memory, const std::vector<Request>& requests,
                                           DisaggResult* out) {
  const auto n = static_cast<long long>(requests.size());
  // 1. The prefill pool: every group runs its round-robin share as prompts (one output token).
  const GroupPricer prefill_price(pools.prefill);
  const long long gp = std::min<long long>(groups_of(pools.prefill, pools.prefill_replicas), n);
  std::vector<std::int64_t> prefilled(requests.size(), -1);
  long long prefill_iterations = 0;
  double prefill_busy = 0;
  for (long long g = 0; g < gp; ++g) {
    std::vector<Request> prompts;
    for (long long i = g; i < n; i += gp) {
      Request q = requests[static_cast<std::size_t>(i)];
      q.output = 1;
      prompts.push_back(q);
    }
    const GroupRun run = simulate_group(pools.prefill, prefill_memory, prefill_price.price, prompts, 0);
    for (std::size_t k = 0; k < prompts.size(); ++k)
      prefilled[static_cast<std::size_t>(g) + k * static_cast<std::size_t>(gp)] = run.first_token_ns[k];
    prefill_iterations += run.iterations;
    prefill_busy += run.busy_s;
  }

  // 2. The KV hand-off, priced once per prompt length; the request is ready on the decode side
  //    with its whole prompt cached and its first token sampled.
  const KvLink link(pools.prefill, pools.decode, pools.distance_ranks, pools.decode.layout.kv_network);
  std::unordered_map<int, std::int64_t> transfer_ns;
  double prefill_sum = 0, transfer_sum = 0, input_sum = 0;
  std::vector<Request> ready(requests.begin(), requests.end());
  for (std::size_t i = 0; i < ready.size(); ++i) {
    Request& q = ready[i];
    auto it = transfer_ns.find(q.input);
    if (it == transfer_ns.end()) {
      const KvTransfer t = link.price(q.input);
      it = transfer_ns.emplace(q.input, std::llround(std::ceil(t.time.value() * 1e9))).first;
    }
    q.ready_ns = prefilled[i] + it->second;
    q.cached = q.input;
    prefill_sum += static_cast<double>(prefilled[i] - q.arrival_ns) * 1e-9;
    transfer_sum += static_cast<double>(it->second) * 1e-9;
    input_sum += q.input;
  }
  std::stable_sort(ready.begin(), ready.end(), [](const Request& a, const Request& b) { return a.ready_ns < b.ready_ns; });

  // 3. The decode pool: round robin in ready order; group 0 stands for the symmetric others.
  const long long gd = std::min<long long>(groups_of(pools.decode, pools.decode_replicas), n);
  std::vector<Request> mine;
  for (long long i = 0; i < n; i += gd) mine.push_back(ready[static_cast<std::size_t>(i)]);
  const GroupPricer decode_price(pools.decode);
  std::vector<WeightedRun> runs;
  runs.push_back({simulate_group(pools.decode, decode_memory, decode_price.price, mine, 0), static_cast<int>(gd)});

  if (out != nullptr) {
    out->prefill_chips = pools.prefill_chips_used;
    out->decode_chips = pools.decode_chips_used;
    out->prefill_replicas = pools.prefill_replicas;
    out->decode_replicas = pools.decode_replicas;
    out->prefill_tp = pools.prefill.layout.tp;
    out->prefill_memory = prefill_memory;
    out->prefill_iterations = prefill_iterations;
    out->prefill_mean_iteration_s = prefill_busy / static_cast<double>(std::max(1LL, prefill_iterations));
    out->mean_prefill_s = prefill_sum / static_cast<double>(n);
    out->mean_transfer_s = transfer_sum / static_cast<double>(n);
    out->mean_transfer = link.price(std::llround(input_sum / static_cast<double>(n)));
  }
  return runs;
}

}  // namespace serve_internal

nlohmann::json disagg_json(const DisaggResult& d) {
  const KvTransfer& t = d.mean_transfer;
  return {{"prefill_chips", d.prefill_chips},
          {"decode_chips", d.decode_chips},
          {"prefill_replicas", d.prefill_replicas},
          {"decode_replicas", d.decode_replicas},
          {"prefill_tp", d.prefill_tp},
          {"prefill_kv_tokens_per_rank", d.prefill_memory.kv_tokens},
          {"prefill_iterations", d.prefill_iterations},
          {"prefill_mean_iteration_s", d.prefill_mean_iteration_s},
          {"mean_prefill_s", d.mean_prefill_s},
          {"mean_kv_transfer_s", d.mean_transfer_s},
          {"kv_transfer",
           {{"bytes_per_rank_at_mean_input", t.bytes_per_rank.value()},
            {"seconds_at_mean_input", t.time.value()},
            {"level", t.level},
            {"scale_up", t.scale_up},
            {"algorithm", t.algorithm}}}};
}

std::string disagg_table(const DisaggResult& d) {
  const KvTransfer& t = d.mean_transfer;
  return fmt::format(
      "Disaggregated: prefill {} chips ({} instances of tp {}), decode {} chips ({} instances); mean prefill {:.1f} ms "
      "(queueing included), KV transfer {:.3f} ms ({:.1f} MB per rank at the mean input, over {}, {}); TTFT and TPOT "
      "above are the decode pool's, counted from arrival\n",
      d.prefill_chips, d.prefill_replicas, d.prefill_tp, d.decode_chips, d.decode_replicas, d.mean_prefill_s * 1e3,
      d.mean_transfer_s * 1e3, t.bytes_per_rank.value() / 1e6, t.level, t.scale_up ? "scale-up" : "scale-out");
}

KvTransfer kv_transfer(const ServeConfig& prefill, const ServeConfig& decode, long long prompt_tokens,
                       long long distance_ranks, NetworkMode mode) {
  return KvLink(prefill, decode, distance_ranks, mode).price(prompt_tokens);
}

}  // namespace tahoma
