#include "tahoma/plan_fields.h"

#include <fmt/format.h>

#include <type_traits>

namespace tahoma {

namespace {

// The struct a member pointer points into (Training or Plan) and the member's type.
template <class M>
struct MemberOf;
template <class C, class T>
struct MemberOf<T C::*> {
  using Owner = C;
  using Type = T;
};

template <auto M>
auto& member(auto& training, auto& plan) {
  using Owner = typename MemberOf<decltype(M)>::Owner;
  if constexpr (std::is_same_v<Owner, Plan>) {
    return plan.*M;
  } else {
    return training.*M;
  }
}

// get/set for a member stored as it is read (int, bool, double).
template <auto M>
FieldValue get_plain(const Training& t, const Plan& p) {
  return member<M>(t, p);
}
template <auto M>
void set_plain(const FieldValue& v, Training& t, Plan& p) {
  member<M>(t, p) = std::get<typename MemberOf<decltype(M)>::Type>(v);
}

// get/set for an enum member named by to_string(); `kValues` lists the enum's values in the order
// of the field's choices.
template <auto M, auto... kValues>
FieldValue get_enum(const Training& t, const Plan& p) {
  return std::string(to_string(member<M>(t, p)));
}
template <auto M, auto... kValues>
void set_enum(const FieldValue& v, Training& t, Plan& p) {
  const auto& name = std::get<std::string>(v);
  // The first value whose name matches (the names were checked against the field's choices).
  (void)((name == to_string(kValues) ? (member<M>(t, p) = kValues, true) : false) || ...);
}
template <auto... kValues>
std::vector<std::string> names() {
  return {to_string(kValues)...};
}

std::vector<std::string> schedule_names() {
  std::vector<std::string> out;
  for (const auto& s : pipeline_schedules()) out.emplace_back(s.name);
  return out;
}

using S = ScenarioInput;
using enum FieldSection;
using enum FieldKind;
using enum FieldDefault;
using enum Reproduce;
using R = Recompute;
using P = Precision;
using C = Plan::CpComm;
using G = Plan::GroupedGemm;
using SR = SelectiveRecompute;
using PS = PipelineSchedule;

// Special cases kept visible here rather than forced into a generic rule:
// - etp: 0 means "the TP degree"; JSON and the reproduce command show the degree in effect
//   (expert_tp), so a plan that sets etp = tp prints nothing.
// - dp: derived from the chips when 0, so the reproduce command never prints it.
// - grad_reduce_dtype: the Plan keeps a bool (grad_reduce_fp32); users name the dtype.
// - seq, global_batch, precision: the work, printed by simulate_command's head with the system and
//   model; precision is applied before the stack's defaults (the fp4 TP-overlap variant depends on it).
// - moe_imbalance: its range message (resolve_scenario) explains the quantity.
// - offload_activations: its default is the stack's (a stack whose selective recompute offloads the
//   layer inputs turns it on, apply_selective_recompute), so it prints among the software settings.
const std::vector<PlanField>& table() {
  static const std::vector<PlanField> kFields = {
      {"seq", "--seq", "sequence length in tokens", kTraining, kInt, kBuiltIn, kWithWork, 1, 0, {}, &S::seq,
       get_plain<&Training::seq>, set_plain<&Training::seq>},
      {"global_batch", "--global-batch", "sequences per optimizer step", kTraining, kInt, kBuiltIn, kWithWork, 1, 0,
       {}, &S::global_batch, get_plain<&Training::global_batch>, set_plain<&Training::global_batch>},
      {"tp", "--tp", "tensor-parallel degree (ranks)", kPlan, kInt, kBuiltIn, kAlways, 1, 0, {}, &S::tp,
       get_plain<&Plan::tp>, set_plain<&Plan::tp>},
      {"pp", "--pp", "pipeline-parallel degree", kPlan, kInt, kBuiltIn, kAlways, 1, 0, {}, &S::pp, get_plain<&Plan::pp>,
       set_plain<&Plan::pp>},
      {"vpp", "--vpp", "virtual pipeline stages per rank (interleaved 1F1B)", kPlan, kInt, kBuiltIn, kAlways, 1, 0, {},
       &S::vpp, get_plain<&Plan::vpp>, set_plain<&Plan::vpp>},
      {"dp", "--dp", "data-parallel degree (default: ranks / (tp*pp*cp))", kPlan, kInt, kBuiltIn, kNever, 1, 0, {},
       &S::dp, get_plain<&Plan::dp>, set_plain<&Plan::dp>},
      {"cp", "--cp", "context-parallel degree", kPlan, kInt, kBuiltIn, kAlways, 1, 0, {}, &S::cp, get_plain<&Plan::cp>,
       set_plain<&Plan::cp>},
      {"ep", "--ep", "expert-parallel degree (MoE)", kPlan, kInt, kBuiltIn, kAlways, 1, 0, {}, &S::ep,
       get_plain<&Plan::ep>, set_plain<&Plan::ep>},
      {"etp", "--etp", "expert tensor-parallel degree (MoE; default: the TP degree)", kPlan, kInt, kBuiltIn, kIfChanged,
       1, 0, {}, &S::etp, [](const Training&, const Plan& p) -> FieldValue { return expert_tp(p); },
       set_plain<&Plan::etp>},
      {"micro_batch", "--micro-batch", "sequences per micro-batch per data-parallel rank", kPlan, kInt, kBuiltIn,
       kAlways, 1, 0, {}, &S::micro_batch, get_plain<&Plan::micro_batch>, set_plain<&Plan::micro_batch>},
      {"zero", "--zero", "ZeRO stage 0-3 (1 = Megatron distributed optimizer, 3 = FSDP)", kPlan, kInt, kBuiltIn,
       kAlways, 0, 0, {}, &S::zero, get_plain<&Plan::zero>, set_plain<&Plan::zero>},
      {"recompute", "--recompute", "activation recomputation: none, selective, full", kPlan, kChoice, kBuiltIn, kAlways,
       0, 0, names<R::kNone, R::kSelective, R::kFull>(), &S::recompute,
       get_enum<&Plan::recompute, R::kNone, R::kSelective, R::kFull>,
       set_enum<&Plan::recompute, R::kNone, R::kSelective, R::kFull>},
      {"precision", "--precision", "matmul precision: bf16, fp16, fp8, fp4, fp32", kTraining, kChoice, kBuiltIn,
       kWithWork, 0, 0, names<P::kFp32, P::kBf16, P::kFp16, P::kFp8, P::kFp4>(), &S::precision,
       get_enum<&Training::precision, P::kFp32, P::kBf16, P::kFp16, P::kFp8, P::kFp4>,
       set_enum<&Training::precision, P::kFp32, P::kBf16, P::kFp16, P::kFp8, P::kFp4>},
      {"sequence_parallel", "--sequence-parallel", "Megatron sequence parallelism with TP (true/false)", kPlan, kBool,
       kStack, kIfChanged, 0, 0, {}, &S::sequence_parallel, get_plain<&Plan::sequence_parallel>,
       set_plain<&Plan::sequence_parallel>},
      {"flash_attention", "--flash-attention", "fused attention kernels (true/false)", kPlan, kBool, kStack, kIfChanged,
       0, 0, {}, &S::flash_attention, get_plain<&Plan::flash_attention>, set_plain<&Plan::flash_attention>},
      {"account_for_embedding_and_loss", "--pp-embedding-split",
       "count embedding and loss as pipeline layers ((layers+2) divisible by pp*vpp)", kPlan, kSwitch, kBuiltIn,
       kIfChanged, 0, 0, {}, &S::account_for_embedding_and_loss, get_plain<&Plan::account_for_embedding_and_loss>,
       set_plain<&Plan::account_for_embedding_and_loss>},
      {"uneven_pipeline", "--uneven-pipeline",
       "let stages differ by one layer when the layers do not divide by pp*vpp (DeepSeek-V3 recipes)", kPlan, kSwitch,
       kBuiltIn, kIfChanged, 0, 0, {}, &S::uneven_pipeline, get_plain<&Plan::uneven_pipeline>,
       set_plain<&Plan::uneven_pipeline>},
      {"recompute_num_layers", "--recompute-num-layers",
       "with --recompute full: recompute only N layers per pipeline rank (0 = all)", kPlan, kInt, kBuiltIn, kIfChanged,
       0, 0, {}, &S::recompute_num_layers, get_plain<&Plan::recompute_num_layers>,
       set_plain<&Plan::recompute_num_layers>},
      {"tp_comm_overlap", "--tp-comm-overlap", "overlap TP collectives with GEMMs (true/false)", kPlan, kBool, kStack,
       kIfChanged, 0, 0, {}, &S::tp_comm_overlap, get_plain<&Plan::tp_comm_overlap>, set_plain<&Plan::tp_comm_overlap>},
      {"ep_comm_overlap", "--ep-comm-overlap",
       "MoE: overlap the all-to-all with another micro-batch's compute (DualPipe; true/false)", kPlan, kBool, kStack,
       kIfChanged, 0, 0, {}, &S::ep_comm_overlap, get_plain<&Plan::ep_comm_overlap>, set_plain<&Plan::ep_comm_overlap>},
      {"offload_activations", "--offload-activations",
       "with --recompute full: keep the layer-input checkpoints in host memory, copied over the chip's host link "
       "(true/false)",
       kPlan, kBool, kStack, kIfChanged, 0, 0, {}, &S::offload_activations, get_plain<&Plan::offload_activations>,
       set_plain<&Plan::offload_activations>},
      {"selective_recompute", "--selective-recompute",
       "what --recompute selective recomputes: core-attention (Megatron), op-level (torchtitan: every 2nd matmul of "
       "a layer and the cheap ops) or offload-layer-inputs (MaxText: the layer, its input kept in host memory)",
       kPlan, kChoice, kStack, kIfChanged, 0, 0, names<SR::kCoreAttention, SR::kOffloadLayerInputs, SR::kOpLevel>(),
       &S::selective_recompute,
       get_enum<&Plan::selective_recompute, SR::kCoreAttention, SR::kOffloadLayerInputs, SR::kOpLevel>,
       set_enum<&Plan::selective_recompute, SR::kCoreAttention, SR::kOffloadLayerInputs, SR::kOpLevel>},
      {"pp_schedule", "--pp-schedule",
       "pipeline schedule: 1f1b (interleaved with --vpp > 1), interleaved-1f1b, zero-bubble, dualpipe, gpipe (see "
       "`tahoma list schedules`)",
       kPlan, kChoice, kBuiltIn, kIfChanged, 0, 0, schedule_names(), &S::pp_schedule,
       [](const Training&, const Plan& p) -> FieldValue { return std::string(to_string(p.pp_schedule)); },
       [](const FieldValue& v, Training&, Plan& p) { p.pp_schedule = *parse_pipeline_schedule(std::get<std::string>(v)); }},
      {"cp_comm", "--cp-comm", "context-parallel KV exchange: ring (default) or all-gather", kPlan, kChoice, kStack,
       kIfChanged, 0, 0, names<C::kRing, C::kAllGather>(), &S::cp_comm, get_enum<&Plan::cp_comm, C::kRing, C::kAllGather>,
       set_enum<&Plan::cp_comm, C::kRing, C::kAllGather>},
      {"grouped_gemm", "--grouped-gemm",
       "MoE expert GEMMs: per-gemm (one host-issued GEMM per expert, Transformer Engine; default) or single-launch "
       "(one grouped kernel)",
       kPlan, kChoice, kStack, kIfChanged, 0, 0, names<G::kPerGemm, G::kSingleLaunch>(), &S::grouped_gemm,
       get_enum<&Plan::grouped_gemm, G::kPerGemm, G::kSingleLaunch>,
       set_enum<&Plan::grouped_gemm, G::kPerGemm, G::kSingleLaunch>},
      {"grad_reduce_dtype", "--grad-reduce-dtype", "gradient buffers and their reduction: fp32 or bf16", kPlan, kChoice,
       kStack, kIfChanged, 0, 0, {"fp32", "bf16"}, &S::grad_reduce_dtype,
       [](const Training&, const Plan& p) -> FieldValue { return std::string(p.grad_reduce_fp32 ? "fp32" : "bf16"); },
       [](const FieldValue& v, Training&, Plan& p) { p.grad_reduce_fp32 = std::get<std::string>(v) == "fp32"; }},
      {"moe_imbalance", "--moe-imbalance",
       "MoE: tokens on the busiest expert-parallel rank over the average (default 1 = balanced)", kTraining, kNumber,
       kBuiltIn, kIfChanged, 1.0, kMaxMoeImbalance, {}, &S::moe_imbalance, get_plain<&Training::moe_imbalance>,
       set_plain<&Training::moe_imbalance>},
  };
  return kFields;
}

}  // namespace

std::span<const PlanField> plan_fields() {
  return table();
}

const PlanField* find_plan_field_by_key(std::string_view key) {
  for (const auto& f : table()) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

const PlanField* find_plan_field_by_flag(std::string_view flag) {
  for (const auto& f : table()) {
    if (f.flag == flag) return &f;
  }
  return nullptr;
}

bool is_set(const PlanField& f, const ScenarioInput& in) {
  return std::visit([&](auto m) { return (in.*m).has_value(); }, f.input);
}

void fill_under(const PlanField& f, ScenarioInput& to, const ScenarioInput& from) {
  std::visit(
      [&](auto m) {
        if (!(to.*m) && (from.*m)) to.*m = from.*m;
      },
      f.input);
}

void store(const PlanField& f, const FieldValue& value, ScenarioInput& in) {
  std::visit(
      [&](auto m) {
        using T = typename std::remove_reference_t<decltype(in.*m)>::value_type;
        in.*m = std::get<T>(value);
      },
      f.input);
}

std::optional<FieldValue> input_value(const PlanField& f, const ScenarioInput& in) {
  return std::visit(
      [&](auto m) -> std::optional<FieldValue> {
        if (!(in.*m)) return std::nullopt;
        return FieldValue(*(in.*m));
      },
      f.input);
}

std::string to_text(const FieldValue& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::string>) {
          return x;
        } else {
          return fmt::format("{}", x);
        }
      },
      v);
}

}  // namespace tahoma
