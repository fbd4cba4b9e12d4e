#include "tahoma/plan.h"

#include <fmt/format.h>

#include <algorithm>

#include <limits>

#include "tahoma/error.h"

namespace tahoma {

const char* to_string(Recompute r) {
  switch (r) {
    case Recompute::kNone: return "none";
    case Recompute::kSelective: return "selective";
    case Recompute::kFull: return "full";
  }
  return "?";
}

void apply_stack_defaults(const Stack& stack, Precision precision, Plan& plan) {
  plan.flash_attention = stack.flash_attention;
  plan.sequence_parallel = stack.sequence_parallel;
  plan.tp_comm_overlap = precision == Precision::kFp4 ? stack.tp_comm_overlap_fp4 : stack.tp_comm_overlap;
  plan.ep_comm_overlap = stack.ep_comm_overlap;
  plan.grad_reduce_fp32 = stack.grad_reduce_fp32;
  plan.grouped_gemm = stack.grouped_gemm;
  plan.cp_comm = stack.cp_comm;
  plan.selective_recompute = stack.selective_recompute;
}

void apply_selective_recompute(Plan& plan) {
  if (plan.selective_recompute != SelectiveRecompute::kOffloadLayerInputs || plan.recompute != Recompute::kSelective)
    return;
  plan.recompute = Recompute::kFull;
  plan.recompute_num_layers = 0;
  plan.offload_activations = true;
}

std::optional<Recompute> parse_recompute(std::string_view s) {
  for (Recompute r : {Recompute::kNone, Recompute::kSelective, Recompute::kFull}) {
    if (s == to_string(r)) return r;
  }
  return std::nullopt;
}

Plan without_full_recompute(const Plan& plan) {
  Plan out = plan;
  if (out.recompute == Recompute::kFull) {
    out.recompute = Recompute::kSelective;
    out.recompute_num_layers = 0;
  }
  return out;
}

void validate_plan(Plan& plan, const Training& training, const Model& model, const System& system,
                   const std::string& where) {
  auto fail = [&](const char* key, const std::string& problem) { throw InputError(where, key, problem); };
  for (auto [key, value] : {std::pair{"tp", plan.tp},
                            {"pp", plan.pp},
                            {"vpp", plan.vpp},
                            {"cp", plan.cp},
                            {"ep", plan.ep},
                            {"micro_batch", plan.micro_batch}}) {
    if (value < 1) fail(key, fmt::format("{} must be a positive integer", value));
  }
  if (plan.dp < 0) fail("dp", "must be positive (or omitted to derive it)");
  if (training.seq < 1 || training.seq > kMaxSeq) {
    fail("seq", fmt::format("{} is out of range (expected 1 to {} tokens, Tahoma's limit)", training.seq, kMaxSeq));
  }
  if (training.global_batch < 1 || training.global_batch > kMaxGlobalBatch) {
    fail("global_batch", fmt::format("{} is out of range (expected 1 to {} sequences, Tahoma's limit)",
                                     training.global_batch, kMaxGlobalBatch));
  }
  if (!(training.moe_imbalance >= 1.0 && training.moe_imbalance <= kMaxMoeImbalance)) {
    fail("moe_imbalance", fmt::format("{} is outside [1, {}] (expected the MoE load imbalance moe_imbalance: the "
                                      "busiest rank's tokens over the average)",
                                      training.moe_imbalance, kMaxMoeImbalance));
  }
  if (system.total_chips() < 1 || system.total_chips() > kMaxChips) {
    fail("chips", fmt::format("{} is out of range (expected 1 to {} chips)", system.total_chips(), kMaxChips));
  }
  // Every degree is bounded by the ranks before any product is formed: products of two or three
  // degrees then fit in 64 bits, and a degree beyond the ranks is named as such.
  const long long ranks = static_cast<long long>(system.total_chips()) * system.chip.ranks_per_chip;
  for (auto [key, value] : {std::pair{"tp", plan.tp},
                            {"pp", plan.pp},
                            {"cp", plan.cp},
                            {"ep", plan.ep},
                            {"etp", plan.etp},
                            {"dp", plan.dp}}) {
    if (value > ranks) {
      fail(key, fmt::format("{} is larger than the {} ranks ({} chips x {} ranks per chip)", value, ranks,
                            system.total_chips(), system.chip.ranks_per_chip));
    }
  }
  if (plan.pp > model.layers) {
    fail("pp", fmt::format("{} pipeline stages is more than the model's {} layers", plan.pp, model.layers));
  }
  if (plan.vpp > model.layers) {
    fail("vpp", fmt::format("{} virtual stages per rank is more than the model's {} layers", plan.vpp, model.layers));
  }
  if (plan.micro_batch > training.global_batch) {
    fail("micro_batch", fmt::format("{} sequences is more than the global batch of {}", plan.micro_batch,
                                    training.global_batch));
  }
  if (plan.recompute_num_layers > model.layers) {
    fail("recompute_num_layers",
         fmt::format("{} is more than the model's {} layers", plan.recompute_num_layers, model.layers));
  }
  if (plan.recompute_num_layers < 0) fail("recompute_num_layers", "must be 0 (all layers) or positive");
  if (plan.recompute_num_layers > 0 && plan.recompute != Recompute::kFull) {
    fail("recompute_num_layers", "only applies to recompute: full");
  }
  if (plan.offload_activations && plan.recompute != Recompute::kFull) {
    fail("offload_activations",
         "moves full recomputation's layer-input checkpoints to host memory; set recompute: full with it");
  }
  if (plan.offload_activations && plan.recompute_num_layers > 0) {
    fail("offload_activations", "offloads every layer's checkpoint; it does not combine with recompute_num_layers");
  }
  if (plan.offload_activations && system.chip.host_bandwidth.value() <= 0) {
    fail("offload_activations", fmt::format("system '{}' gives no chip.host_bandwidth (the link to host memory); "
                                            "add it to the system file or --set chip.host_bandwidth=32GB/s",
                                            system.name));
  }
  if (plan.zero < 0 || plan.zero > 3)
    fail("zero", fmt::format("stage {} does not exist (expected 0, 1, 2 or 3)", plan.zero));

  const long long inner = static_cast<long long>(plan.tp) * plan.pp * plan.cp;  // each <= ranks <= 2^30
  if (plan.dp == 0) {
    if (ranks % inner != 0) {
      fail("tp",
           fmt::format("tp*pp*cp = {}*{}*{} = {} does not divide the {} ranks ({} chips x {} ranks per chip)", plan.tp,
                       plan.pp, plan.cp, inner, ranks, system.total_chips(), system.chip.ranks_per_chip));
    }
    if (ranks / inner > std::numeric_limits<int>::max()) {
      fail("chips", fmt::format("{} data-parallel ranks is beyond what Tahoma represents ({}); use fewer chips",
                                ranks / inner, std::numeric_limits<int>::max()));
    }
    plan.dp = static_cast<int>(ranks / inner);
  } else if (inner * plan.dp != ranks) {
    fail("dp", fmt::format("tp*pp*cp*dp = {}*{}*{}*{} = {} but the system has {} ranks ({} chips x {} ranks per chip); "
                           "omit dp to derive it",
                           plan.tp, plan.pp, plan.cp, plan.dp, inner * plan.dp, ranks, system.total_chips(),
                           system.chip.ranks_per_chip));
  }
  if (plan.tp > model.heads) fail("tp", fmt::format("{} exceeds the model's {} attention heads", plan.tp, model.heads));
  if (model.heads % plan.tp != 0)
    fail("tp", fmt::format("{} does not divide the {} attention heads", plan.tp, model.heads));
  if (model.kv_heads % plan.tp != 0 && plan.tp % model.kv_heads != 0) {
    fail("tp", fmt::format("{} neither divides nor is a multiple of the {} KV heads", plan.tp, model.kv_heads));
  }
  const long long slots = model.layers + (plan.account_for_embedding_and_loss ? 2 : 0);
  const long long chunks = static_cast<long long>(plan.pp) * plan.vpp;  // each <= layers
  if (chunks > slots) {
    fail(plan.vpp > 1 ? "vpp" : "pp", fmt::format("pp*vpp = {}*{} = {} model chunks is more than the model's {} layers",
                                                  plan.pp, plan.vpp, chunks, model.layers));
  }
  if (plan.uneven_pipeline && slots < chunks + (plan.account_for_embedding_and_loss ? 2 : 0)) {
    fail("pp", fmt::format("the model's {} layers cannot give every one of pp*vpp = {}*{} chunks a layer", model.layers,
                           plan.pp, plan.vpp));
  }
  if (!plan.uneven_pipeline && slots % chunks != 0) {
    fail(plan.vpp > 1 ? "vpp" : "pp",
         fmt::format("the model's {} layers{} are not divisible by pp*vpp = {}*{}{}", model.layers,
                     plan.account_for_embedding_and_loss ? " + embedding + loss" : "", plan.pp, plan.vpp,
                     plan.account_for_embedding_and_loss || (model.layers + 2) % chunks != 0
                         ? "; or let stages differ by one layer (uneven_pipeline, --uneven-pipeline)"
                         : "; try account_for_embedding_and_loss (--pp-embedding-split), which makes it divisible"));
  }
  if (plan.vpp > 1 && !schedule_info(plan.pp_schedule).chunks && plan.pp_schedule != PipelineSchedule::k1F1B) {
    fail("pp_schedule", fmt::format("'{}' runs one model chunk per stage (got vpp {}); use vpp 1 or "
                                    "interleaved-1f1b", to_string(plan.pp_schedule), plan.vpp));
  }
  if (plan.pp_schedule == PipelineSchedule::kDualPipe && plan.pp > 1 && plan.pp % 2 != 0) {
    fail("pp_schedule", fmt::format("dualpipe feeds micro-batches from both ends and needs an even pp (got {})",
                                    plan.pp));
  }
  if (plan.account_for_embedding_and_loss && plan.pp < 2) {
    fail("pp", "account_for_embedding_and_loss needs pipeline parallelism (pp > 1)");
  }
  if (plan.vpp > 1 && plan.pp == 1) fail("vpp", "interleaving (vpp > 1) needs pipeline parallelism (pp > 1)");
  if (training.seq % plan.cp != 0)
    fail("cp", fmt::format("{} does not divide the sequence length {}", plan.cp, training.seq));
  if (plan.cp > 1 && training.seq % (2 * plan.cp) != 0) {
    fail("cp", fmt::format("causal load balancing splits the sequence into 2*cp = {} chunks; {} is not divisible",
                           2 * plan.cp, training.seq));
  }
  const long long per_step = static_cast<long long>(plan.dp) * plan.micro_batch;
  if (training.global_batch % per_step != 0) {
    fail("global_batch", fmt::format("{} sequences is not a multiple of dp*micro_batch = {}*{} = {}",
                                     training.global_batch, plan.dp, plan.micro_batch, per_step));
  }
  if (plan.vpp > 1 && num_microbatches(plan, training) % plan.pp != 0) {
    fail("vpp", fmt::format("interleaved 1F1B needs the {} micro-batches to be a multiple of pp = {}",
                            num_microbatches(plan, training), plan.pp));
  }
  if (plan.etp < 0) fail("etp", "must be positive (or 0 for the TP degree)");
  if (plan.etp > 0 && !model.is_moe()) fail("etp", "expert tensor parallelism needs a mixture-of-experts model");
  if (plan.ep > 1 && !model.is_moe()) fail("ep", "expert parallelism needs a mixture-of-experts model");
  if (model.is_moe() && (plan.ep > 1 || plan.etp > 0)) {
    if (model.moe->experts % plan.ep != 0) {
      fail("ep", fmt::format("{} does not divide the {} experts", plan.ep, model.moe->experts));
    }
    // MoE parallel folding: the stage's tp*cp*dp ranks regroup as etp x ep x expert-DP, expert
    // groups contiguous, so etp*ep and tp*cp must nest.
    const long long moe = static_cast<long long>(expert_tp(plan)) * plan.ep;
    const long long tc = static_cast<long long>(plan.tp) * plan.cp;
    if (moe > tc ? moe % tc != 0 : tc % moe != 0) {
      fail("ep", fmt::format("etp*ep = {}*{} and tp*cp = {}*{} must divide one another (expert groups fold over the "
                             "tensor and context ranks)",
                             expert_tp(plan), plan.ep, plan.tp, plan.cp));
    }
    if ((tc * plan.dp) % moe != 0) {
      fail("ep", fmt::format("etp*ep = {}*{} must divide tp*cp*dp = {} (experts are sharded within a stage's ranks)",
                             expert_tp(plan), plan.ep, tc * plan.dp));
    }
  }
  if (!system.chip.peak(training.precision)) {
    fail("precision", fmt::format("{} has no {} matrix rate; pick one it supports", system.chip.name,
                                  to_string(training.precision)));
  }
}

int layers_on_stage(const Model& model, const Plan& plan, int stage) {
  const int slots = model.layers + (plan.account_for_embedding_and_loss ? 2 : 0);
  int per_stage = slots / plan.pp;
  if (plan.uneven_pipeline) {
    // The remainder goes one slot each to the stages after the first.
    const int extra = slots % plan.pp;
    if (stage >= 1 && stage <= extra) ++per_stage;
    if (extra == plan.pp && stage == 0) ++per_stage;  // (cannot happen: extra < pp)
  }
  if (!plan.account_for_embedding_and_loss) return per_stage;
  return per_stage - (stage == 0 ? 1 : 0) - (stage == plan.pp - 1 ? 1 : 0);
}

int first_layer_of_stage(const Model& model, const Plan& plan, int stage) {
  if (!plan.uneven_pipeline) {
    if (!plan.account_for_embedding_and_loss) return stage * (model.layers / plan.pp);
    const int per_stage = (model.layers + 2) / plan.pp;
    return stage == 0 ? 0 : stage * per_stage - 1;
  }
  int first = 0;
  for (int s = 0; s < stage; ++s) first += layers_on_stage(model, plan, s);
  return first;
}

int recomputed_layers(const Model& model, const Plan& plan, int stage) {
  if (plan.recompute != Recompute::kFull) return 0;
  const int n = layers_on_stage(model, plan, stage);
  return plan.recompute_num_layers > 0 ? std::min(n, plan.recompute_num_layers) : n;
}

int expert_tp(const Plan& plan) {
  return plan.etp > 0 ? plan.etp : plan.tp;
}

double expert_load(const Model& model, const Training& training) {
  return model.moe && model.moe->capacity_factor > 0 ? model.moe->capacity_factor : training.moe_imbalance;
}

double expert_replicas(const Plan& plan) {
  return static_cast<double>(plan.tp) * plan.cp * plan.dp / (static_cast<double>(expert_tp(plan)) * plan.ep);
}

int ep_from_dp(const Plan& plan) {
  // An expert group (etp x ep ranks) is contiguous: the data-parallel ranks it needs beyond the
  // stage's tp x cp come next to them.
  const long long moe = static_cast<long long>(expert_tp(plan)) * plan.ep;
  const long long tc = static_cast<long long>(plan.tp) * plan.cp;
  return moe > tc ? static_cast<int>(moe / tc) : 1;
}

long long stage_stride(const Plan& plan) {
  return static_cast<long long>(plan.tp) * plan.cp * ep_from_dp(plan);
}

int num_microbatches(const Plan& plan, const Training& training) {
  const long long per_step = static_cast<long long>(plan.dp) * plan.micro_batch;
  TAHOMA_ASSERT(per_step > 0);
  return static_cast<int>(training.global_batch / per_step);
}

}  // namespace tahoma
