// Private to the serve library: what attention data parallelism and disaggregated prefill/decode
// change in a layout (docs/serving.md 9-10), shared by the driver (serve.cpp), the scheduler, the
// pool split (disagg.cpp) and the layout search.
#pragma once

#include <algorithm>
#include <memory>
#include <vector>

#include "tahoma/serve.h"

namespace tahoma::serve_internal {

// Ranks that each schedule their own requests inside one instance: tp under attention data
// parallelism (one scheduler per attention-DP rank, as SGLang's DP controller runs them), else 1.
inline int attention_ranks(const ServeConfig& c) { return c.layout.attention_dp ? c.layout.tp : 1; }

// The DP ranks an instance-wide limit is divided over: attention_ranks, unless the engine applies
// its limits to each DP rank (ServeEngine::attention_dp_limits_per_rank: TensorRT-LLM, vLLM).
inline int limit_divisor(const ServeConfig& c) {
  return c.engine.attention_dp_limits_per_rank ? 1 : attention_ranks(c);
}

// Sequences one scheduler may run: max_num_seqs over the pp virtual engines and, under attention
// DP, over the DP ranks where the stack divides it. E: SGLang divides its per-instance
// running-request limit over the DP ranks (server_args.py, enable_dp_attention); vLLM V1 gives its
// pp virtual engines one shared limit.
inline int seq_limit(const ServeConfig& c) {
  return std::max(1, c.engine.max_num_seqs / (c.layout.pp * limit_divisor(c)));
}

// Tokens one scheduler may batch per iteration: SGLang divides chunked_prefill_size by the DP size
// under attention DP (server_args.py, enable_dp_attention); otherwise max_num_batched_tokens.
inline long long token_budget(const ServeConfig& c) {
  return std::max(1, c.engine.max_num_batched_tokens / limit_divisor(c));
}

// Groups of one pool simulated as symmetric units: replicas x pp virtual engines x attention-DP ranks.
inline int groups_of(const ServeConfig& c, int replicas) { return replicas * c.layout.pp * attention_ranks(c); }

// The iteration price of one group of `c`: the replica's pass, or one attention-DP rank's. Owns the
// cost model; `price` refers to it (not movable).
class GroupPricer {
 public:
  explicit GroupPricer(const ServeConfig& c) {
    if (c.layout.attention_dp) {
      dp_ = std::make_unique<AttentionDpCost>(c);
      price = [dp = dp_.get()](const BatchShape& b) { return dp->time(b); };
    } else {
      standard_ = std::make_unique<IterationCost>(c);
      price = [cost = standard_.get()](const BatchShape& b) { return cost->time(b); };
    }
  }
  IterationPricer price;

 private:
  std::unique_ptr<IterationCost> standard_;
  std::unique_ptr<AttentionDpCost> dp_;
};

// A disaggregated layout's two pools: each a whole ServeConfig on its own chips (the prefill pool
// on the first ones), with the instances each holds.
struct Pools {
  ServeConfig prefill, decode;
  int prefill_replicas = 0, decode_replicas = 0;
  int prefill_chips_used = 0, decode_chips_used = 0;
  long long distance_ranks = 0;  // from rank 0 of the prefill pool to rank 0 of the decode pool
};

// Splits c's chips into the pools (InputError naming --prefill-chips, --prefill-tp or --replicas).
Pools split_pools(const ServeConfig& c);

// Runs of the decode pool's representative groups, each with its multiplicity, after the prefill
// pool has run every prompt and each prompt's KV has been moved; fills `out` with the prefill side.
struct WeightedRun {
  GroupRun run;
  int multiplicity = 0;
};
std::vector<WeightedRun> run_disaggregated(const Pools& pools, const ServeMemory& prefill_memory,
                                           const ServeMemory& decode_memory, const std::vector<Request>& requests,
                                           DisaggResult* out);

}  // namespace tahoma::serve_internal
