#include "tahoma/scenario.h"

#include <fmt/format.h>

#include <initializer_list>
#include <map>
#include <set>
#include <utility>

#include "internal/yaml_reader.h"
#include "tahoma/error.h"

namespace tahoma {

using internal::YamlMap;

namespace {

Recompute parse_recompute_or_throw(const std::string& s, const std::string& where, const std::string& key) {
  if (auto r = parse_recompute(s)) return *r;
  const std::string hint = nearest(s, {"none", "selective", "full"});
  throw InputError(where, key,
                   fmt::format("'{}' is not one of: none, selective, full{}", s,
                               hint.empty() ? "" : "; did you mean '" + hint + "'?"));
}

Precision parse_precision_or_throw(const std::string& s, const std::string& where, const std::string& key) {
  if (auto p = parse_precision(s)) return *p;
  const std::string hint = nearest(s, {"fp32", "bf16", "fp16", "fp8", "fp4"});
  throw InputError(where, key,
                   fmt::format("'{}' is not one of: fp32, bf16, fp16, fp8, fp4{}", s,
                               hint.empty() ? "" : "; did you mean '" + hint + "'?"));
}

// The value named `text` among `options`, or an InputError at `key` naming the accepted names.
template <typename E>
E parse_choice(const std::string& text, std::initializer_list<std::pair<const char*, E>> options,
               const std::string& where, const std::string& key) {
  std::string names;
  for (const auto& [name, value] : options) {
    if (text == name) return value;
    names += (names.empty() ? "" : " or ") + std::string(name);
  }
  throw InputError(where, key, fmt::format("'{}' is not {}", text, names));
}

// The command-line flag of each plan and training field validate_plan may name.
const char* flag_of(const std::string& key) {
  static const std::pair<const char*, const char*> kFlags[] = {
      {"tp", "--tp"},
      {"pp", "--pp"},
      {"vpp", "--vpp"},
      {"dp", "--dp"},
      {"cp", "--cp"},
      {"ep", "--ep"},
      {"etp", "--etp"},
      {"zero", "--zero"},
      {"micro_batch", "--micro-batch"},
      {"recompute", "--recompute"},
      {"recompute_num_layers", "--recompute-num-layers"},
      {"offload_activations", "--offload-activations"},
      {"pp_schedule", "--pp-schedule"},
      {"account_for_embedding_and_loss", "--pp-embedding-split"},
      {"uneven_pipeline", "--uneven-pipeline"},
      {"seq", "--seq"},
      {"global_batch", "--global-batch"},
      {"precision", "--precision"},
      {"moe_imbalance", "--moe-imbalance"},
      {"chips", "--chips"},
  };
  for (const auto& [k, flag] : kFlags) {
    if (key == k) return flag;
  }
  return nullptr;
}

// Where each field of the merged scenario came from, so an error names the flag the user typed or
// the line of the scenario file that set it.
struct Origins {
  std::string file;                                                 // "" without a scenario file
  std::map<std::string, std::pair<std::string, std::string>> in_file;  // field -> (FILE:LINE, key path)
  std::set<std::string> from_flag;

  [[nodiscard]] InputError relocate(const InputError& e) const {
    const std::string& key = e.key_path();
    if (from_flag.count(key) != 0) {
      const char* flag = flag_of(key);
      return InputError("command line", flag != nullptr ? flag : key, e.problem());
    }
    if (const auto it = in_file.find(key); it != in_file.end()) {
      return InputError(it->second.first, it->second.second, e.problem());
    }
    // A default value (or a combination): name the field and, where there is one, its flag.
    const char* flag = flag_of(key);
    return InputError(file.empty() ? "command line" : file,
                      flag != nullptr && file.empty() ? std::string(flag) : key, e.problem());
  }
};

}  // namespace

Scenario resolve_scenario(const ScenarioInput& in, bool check_plan) {
  Scenario sc;
  ScenarioInput v = in;  // file values first, flags override
  std::optional<double> under_imbalance;
  std::string where = "command line";
  Origins origins;
  std::string file_dir;  // relative system: and model: paths in the file are read from here
  bool system_from_file = false, model_from_file = false, stack_from_file = false;
  size_t file_overrides = 0;
  if (in.file) {
    where = *in.file;
    origins.file = *in.file;
    file_dir = internal::directory_of(*in.file);
    YamlMap root(internal::load_yaml_file(*in.file), *in.file, "");
    root.declare({"system", "stack", "system_overrides", "chips", "model", "training", "plan"});
    if (root.has("stack") && !v.stack) {
      v.stack = root.string("stack");
      stack_from_file = true;
      origins.in_file["stack"] = {root.where_of("stack"), "stack"};
    }
    if (root.has("system")) {
      sc.system_ref = root.string("system");
      system_from_file = true;
    }
    sc.system_overrides = root.strings("system_overrides");
    file_overrides = sc.system_overrides.size();
    for (const char* key : {"system", "system_overrides", "model"}) {
      if (root.has(key)) origins.in_file[key] = {root.where_of(key), key};
    }
    std::optional<int> chips;
    if (root.has("chips")) {
      chips = root.integer("chips", std::nullopt, 1, kMaxChips);
      origins.in_file["chips"] = {root.where_of("chips"), "chips"};
    }
    if (root.has("model")) {
      sc.model_ref = root.string("model");
      model_from_file = true;
    }
    YamlMap tr = root.map("training");
    for (const char* key : {"seq", "global_batch", "precision", "moe_imbalance"}) {
      if (tr.has(key)) origins.in_file[key] = {tr.where_of(key), tr.key_path(key)};
    }
    tr.declare({"seq", "global_batch", "precision", "moe_imbalance"});
    std::optional<int> seq, gb;
    std::optional<std::string> prec;
    if (tr.has("moe_imbalance")) under_imbalance = tr.number("moe_imbalance", 1.0, 1.0, kMaxMoeImbalance);
    if (tr.has("seq")) seq = tr.integer("seq");
    if (tr.has("global_batch")) gb = tr.integer("global_batch");
    if (tr.has("precision")) prec = tr.string("precision");
    tr.finish();
    YamlMap pl = root.map("plan");
    pl.declare({"tp",
                "pp",
                "vpp",
                "dp",
                "cp",
                "ep",
                "zero",
                "micro_batch",
                "recompute",
                "sequence_parallel",
                "flash_attention",
                "account_for_embedding_and_loss",
                "grad_reduce_dtype",
                "tp_comm_overlap",
                "recompute_num_layers",
                "uneven_pipeline",
                "ep_comm_overlap",
                "cp_comm",
                "etp",
                "grouped_gemm",
                "offload_activations",
                "pp_schedule"});
    for (const char* key : {"tp", "pp", "vpp", "dp", "cp", "ep", "etp", "zero", "micro_batch", "recompute",
                            "recompute_num_layers", "offload_activations", "account_for_embedding_and_loss",
                            "uneven_pipeline"}) {
      if (pl.has(key)) origins.in_file[key] = {pl.where_of(key), pl.key_path(key)};
    }
    auto opt_int = [&](const char* key, int min) -> std::optional<int> {
      if (!pl.has(key)) return std::nullopt;
      return pl.integer(key, std::nullopt, min);
    };
    const auto tp = opt_int("tp", 1), pp = opt_int("pp", 1), vpp = opt_int("vpp", 1), dp = opt_int("dp", 1),
               cp = opt_int("cp", 1), ep = opt_int("ep", 1), zero = opt_int("zero", 0), mb = opt_int("micro_batch", 1),
               rnl = opt_int("recompute_num_layers", 0);
    std::optional<std::string> rc;
    if (pl.has("recompute")) rc = pl.string("recompute");
    std::optional<bool> sp, fa, emb, tpo;
    if (pl.has("tp_comm_overlap")) tpo = pl.boolean("tp_comm_overlap");
    if (pl.has("uneven_pipeline") && !v.uneven_pipeline) v.uneven_pipeline = pl.boolean("uneven_pipeline");
    if (pl.has("ep_comm_overlap") && !v.ep_comm_overlap) v.ep_comm_overlap = pl.boolean("ep_comm_overlap");
    if (pl.has("cp_comm") && !v.cp_comm) v.cp_comm = pl.string("cp_comm");
    if (pl.has("grouped_gemm") && !v.grouped_gemm) v.grouped_gemm = pl.string("grouped_gemm");
    if (pl.has("etp") && !v.etp) v.etp = pl.integer("etp");
    if (pl.has("pp_schedule") && !v.pp_schedule) v.pp_schedule = pl.string("pp_schedule");
    if (pl.has("pp_schedule")) origins.in_file["pp_schedule"] = {pl.where_of("pp_schedule"), pl.key_path("pp_schedule")};
    if (pl.has("offload_activations") && !v.offload_activations)
      v.offload_activations = pl.boolean("offload_activations");
    std::optional<std::string> grad_dtype;
    if (pl.has("grad_reduce_dtype")) grad_dtype = pl.string("grad_reduce_dtype");
    if (pl.has("sequence_parallel")) sp = pl.boolean("sequence_parallel");
    if (pl.has("account_for_embedding_and_loss")) emb = pl.boolean("account_for_embedding_and_loss");
    if (pl.has("flash_attention")) fa = pl.boolean("flash_attention");
    pl.finish();
    root.finish();
    // Fill the file's values under the flags.
    auto under = [](auto& flag, const auto& file_value) {
      if (!flag && file_value) flag = file_value;
    };
    under(v.chips, chips);
    under(v.seq, seq);
    under(v.global_batch, gb);
    under(v.precision, prec);
    under(v.tp, tp);
    under(v.pp, pp);
    under(v.vpp, vpp);
    under(v.dp, dp);
    under(v.cp, cp);
    under(v.ep, ep);
    under(v.zero, zero);
    under(v.micro_batch, mb);
    under(v.recompute, rc);
    under(v.sequence_parallel, sp);
    under(v.flash_attention, fa);
    under(v.account_for_embedding_and_loss, emb);
    under(v.grad_reduce_dtype, grad_dtype);
    under(v.tp_comm_overlap, tpo);
    under(v.recompute_num_layers, rnl);
  }
  if (in.system) {
    sc.system_ref = *in.system;
    system_from_file = false;
  }
  if (in.model) {
    sc.model_ref = *in.model;
    model_from_file = false;
  }
  // The fields the command line set (they override the file's).
  for (const auto& [key, set] : {std::pair{"chips", in.chips.has_value()},
                                 {"seq", in.seq.has_value()},
                                 {"global_batch", in.global_batch.has_value()},
                                 {"micro_batch", in.micro_batch.has_value()},
                                 {"tp", in.tp.has_value()},
                                 {"pp", in.pp.has_value()},
                                 {"vpp", in.vpp.has_value()},
                                 {"dp", in.dp.has_value()},
                                 {"cp", in.cp.has_value()},
                                 {"ep", in.ep.has_value()},
                                 {"etp", in.etp.has_value()},
                                 {"zero", in.zero.has_value()},
                                 {"recompute", in.recompute.has_value()},
                                 {"precision", in.precision.has_value()},
                                 {"recompute_num_layers", in.recompute_num_layers.has_value()},
                                 {"moe_imbalance", in.moe_imbalance.has_value()},
                                 {"offload_activations", in.offload_activations.has_value()},
                                 {"pp_schedule", in.pp_schedule.has_value()},
                                 {"account_for_embedding_and_loss", in.account_for_embedding_and_loss.has_value()},
                                 {"uneven_pipeline", in.uneven_pipeline.has_value()}}) {
    if (set) origins.from_flag.insert(key);
  }
  for (const auto& o : in.overrides) sc.system_overrides.push_back(o);
  if (sc.system_ref.empty())
    throw InputError(where, "system", "missing: give --system NAME (see `tahoma list systems`)");
  if (sc.model_ref.empty()) throw InputError(where, "model", "missing: give --model NAME (see `tahoma list models`)");

  // A system or model the scenario file names (or overrides it lists) that fails to load is blamed
  // on the file first: the loader's own file and key follow.
  const bool overrides_in_file = file_overrides > 0;
  auto from_file = [&](bool named_in_file, const std::string& key, auto&& load) {
    if (!named_in_file) return load();
    try {
      return load();
    } catch (const InputError& e) {
      // An error inside an override names "--set" or "(with --set overrides)": blame the list.
      const bool in_override = e.where().rfind("--set", 0) == 0 || e.where().find("with --set") != std::string::npos;
      const std::string blamed = in_override && overrides_in_file ? "system_overrides" : key;
      throw InputError(origins.in_file.count(blamed) != 0 ? origins.in_file.at(blamed).first : where, blamed, e.what());
    }
  };
  sc.system = from_file(system_from_file || overrides_in_file, system_from_file ? "system" : "system_overrides", [&] {
    return load_system(sc.system_ref, sc.system_overrides, system_from_file ? file_dir : "");
  });
  if (v.chips) {
    if (*v.chips < 1 || *v.chips > kMaxChips) {
      throw origins.relocate(InputError(where, "chips",
                                        fmt::format("{} is out of range (expected 1 to {} chips)", *v.chips, kMaxChips)));
    }
    sc.system.chips = *v.chips;
  } else {
    sc.system.chips = sc.system.scale_up.chips;
  }
  sc.model = from_file(model_from_file, "model", [&] { return load_model(sc.model_ref, model_from_file ? file_dir : ""); });
  sc.stack_ref = v.stack ? *v.stack : sc.system.default_stack;
  if (!sc.stack_ref.empty()) {
    try {
      sc.stack = load_stack(sc.stack_ref, stack_from_file ? file_dir : "");
    } catch (const InputError& e) {
      if (e.where() != "stack") throw;  // a problem inside the stack file names that file and key
      // The name itself is unknown: blame the flag, the scenario's key or the system's `stack:`.
      if (stack_from_file) throw InputError(origins.in_file.at("stack").first, "stack", e.problem());
      if (v.stack) throw InputError("--stack", "", e.problem());
      throw InputError(sc.system_ref, "stack", e.problem());
    }
  } else {
    sc.stack.name = "(none)";  // a system file that names no stack: the built-in defaults, no host costs
  }

  Training& t = sc.training;
  if (v.seq) t.seq = *v.seq;
  if (v.global_batch) t.global_batch = *v.global_batch;
  if (v.precision) t.precision = parse_precision_or_throw(*v.precision, where, "precision");
  if (!v.moe_imbalance) v.moe_imbalance = under_imbalance;
  if (v.moe_imbalance) {
    if (!(*v.moe_imbalance >= 1.0 && *v.moe_imbalance <= kMaxMoeImbalance)) {
      throw origins.relocate(InputError(
          where, "moe_imbalance",
          fmt::format("{} is outside [1, {}] (expected the MoE load imbalance moe_imbalance: the busiest rank's "
                      "tokens over the average; 1 = balanced)",
                      *v.moe_imbalance, kMaxMoeImbalance)));
    }
    t.moe_imbalance = *v.moe_imbalance;
  }
  Plan& p = sc.plan;
  apply_stack_defaults(sc.stack, t.precision, p);  // the flags and plan keys below override it
  if (v.tp) p.tp = *v.tp;
  if (v.pp) p.pp = *v.pp;
  if (v.vpp) p.vpp = *v.vpp;
  if (v.dp) p.dp = *v.dp;
  if (v.cp) p.cp = *v.cp;
  if (v.ep) p.ep = *v.ep;
  if (v.etp) p.etp = *v.etp;
  if (v.zero) p.zero = *v.zero;
  if (v.micro_batch) p.micro_batch = *v.micro_batch;
  if (v.recompute) p.recompute = parse_recompute_or_throw(*v.recompute, where, "recompute");
  if (v.sequence_parallel) p.sequence_parallel = *v.sequence_parallel;
  if (v.flash_attention) p.flash_attention = *v.flash_attention;
  if (v.account_for_embedding_and_loss) p.account_for_embedding_and_loss = *v.account_for_embedding_and_loss;
  if (v.tp_comm_overlap) p.tp_comm_overlap = *v.tp_comm_overlap;
  if (v.uneven_pipeline) p.uneven_pipeline = *v.uneven_pipeline;
  if (v.ep_comm_overlap) p.ep_comm_overlap = *v.ep_comm_overlap;
  if (v.cp_comm) {
    using C = Plan::CpComm;
    p.cp_comm = parse_choice<C>(
        *v.cp_comm, {{to_string(C::kRing), C::kRing}, {to_string(C::kAllGather), C::kAllGather}}, where, "cp_comm");
  }
  if (v.grouped_gemm) {
    using G = Plan::GroupedGemm;
    p.grouped_gemm = parse_choice<G>(
        *v.grouped_gemm, {{to_string(G::kPerGemm), G::kPerGemm}, {to_string(G::kSingleLaunch), G::kSingleLaunch}},
        where, "grouped_gemm");
  }
  if (v.recompute_num_layers) p.recompute_num_layers = *v.recompute_num_layers;
  if (v.offload_activations) p.offload_activations = *v.offload_activations;
  if (v.pp_schedule) {
    const auto s = parse_pipeline_schedule(*v.pp_schedule);
    if (!s) {
      const auto it = origins.in_file.find("pp_schedule");
      const bool in_file = !in.pp_schedule && it != origins.in_file.end();
      throw InputError(in_file ? it->second.first : "command line", in_file ? it->second.second : "--pp-schedule",
                       fmt::format("'{}' is not one of: {}", *v.pp_schedule, pipeline_schedule_names()));
    }
    p.pp_schedule = *s;
  }
  if (v.grad_reduce_dtype) {
    if (*v.grad_reduce_dtype != "fp32" && *v.grad_reduce_dtype != "bf16") {
      throw InputError(where, "grad_reduce_dtype", fmt::format("'{}' is not fp32 or bf16", *v.grad_reduce_dtype));
    }
    p.grad_reduce_fp32 = *v.grad_reduce_dtype == "fp32";
  }
  // An explicit --offload-activations false keeps the stack from turning selective into offload.
  if (!v.offload_activations || *v.offload_activations) apply_selective_recompute(sc.stack, p);
  if (check_plan) {
    try {
      validate_plan(p, t, sc.model, sc.system, where);
    } catch (const InputError& e) {
      throw origins.relocate(e);
    }
  }
  return sc;
}

}  // namespace tahoma
