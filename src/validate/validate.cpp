#include "internal/yaml_reader.h"
#include "tahoma/validate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <set>

#include "tahoma/error.h"

namespace tahoma {
namespace {

std::vector<std::string> split_csv_line(const std::string& line, const std::string& where) {
  std::vector<std::string> out;
  std::string cell;
  bool quoted = false;
  for (size_t idx = 0; idx < line.size(); ++idx) {
    const char ch = line[idx];
    if (quoted) {
      if (ch == '"' && idx + 1 < line.size() && line[idx + 1] == '"') {
        cell += '"';
        ++idx;
      } else if (ch == '"') {
        quoted = false;
      } else {
        cell += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      out.push_back(cell);
      cell.clear();
    } else if (ch != '\r') {
      cell += ch;
    }
  }
  if (quoted) throw InputError(where, "", "unterminated quoted field (line breaks inside fields are not allowed)");
  out.push_back(cell);
  return out;
}

// Why a well-formed row cannot be simulated (its layout does not fit the model or the system, or
// the step cannot be computed): the row is reported as skipped with this reason. A malformed row
// (a cell that is not of its column's type or range) is an InputError instead.
struct RowSkip {
  std::string reason;
};

// The largest value an integer cell may hold: every count fits an int.
constexpr double kMaxIntCell = 2147483647.0;

// Reads an optional integer cell (a whole number, "8" or "8.0" or "1e3"); empty = nullopt.
std::optional<int> int_cell(const std::map<std::string, std::string>& row, const std::string& key,
                            const std::string& where) {
  const auto it = row.find(key);
  if (it == row.end() || it->second.empty()) return std::nullopt;
  double v = 0;
  try {
    size_t used = 0;
    v = std::stod(it->second, &used);
    if (used != it->second.size() || !std::isfinite(v) || v != std::floor(v) || v < 0) {
      throw std::invalid_argument("x");
    }
  } catch (const std::exception&) {
    throw InputError(where, key, fmt::format("'{}' is not a non-negative integer (column {})", it->second, key));
  }
  if (v > kMaxIntCell) {
    throw InputError(where, key,
                     fmt::format("'{}' is out of range (column {}: expected a whole number from 0 to {:.0f})",
                                 it->second, key, kMaxIntCell));
  }
  return static_cast<int>(v);
}

std::string cell(const std::map<std::string, std::string>& row, const std::string& key) {
  const auto it = row.find(key);
  return it == row.end() ? std::string() : it->second;
}

// Maps the CSV's system_overrides (`hbm_capacity=96GB;tdp=500W`) onto system keys.
std::vector<std::string> system_overrides(const std::string& text, const std::string& where) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(';', start);
    if (end == std::string::npos) end = text.size();
    const std::string pair = text.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    if (eq == std::string::npos)
      throw InputError(where, "system_overrides", fmt::format("'{}' is not key=value", pair));
    const std::string key = pair.substr(0, eq);
    std::string value = pair.substr(eq + 1);
    if (key == "hbm_capacity") {
      out.push_back("chip.hbm_capacity=" + value);
    } else if (key == "hbm_bandwidth") {
      out.push_back("chip.hbm_bandwidth=" + value);
    } else if (key == "tdp") {
      // A part run below its rated power: the cap lowers its sustained clock (Chip::clock_fraction).
      out.push_back("chip.power_limit=" + value);
    } else if (key == "scaleout_bw_per_chip") {
      out.push_back("scale_out.bandwidth=" + value);
    } else if (key == "scaleout_fabric") {
      out.push_back("scale_out.name=" + value);
    } else {
      throw InputError(
          where, "system_overrides",
          fmt::format("unknown override '{}' (expected hbm_capacity, hbm_bandwidth, tdp, scaleout_fabric or "
                      "scaleout_bw_per_chip)",
                      key));
    }
  }
  return out;
}

Model row_model(const std::map<std::string, std::string>& row, const std::string& where) {
  Model m;
  m.name = cell(row, "model_name");
  m.description = m.name;
  m.source = cell(row, "source");
  auto required = [&](const char* key) {
    const auto v = int_cell(row, key, where);
    if (!v || *v < 1) throw InputError(where, key, fmt::format("missing or zero (column {} is needed for a simulable row)", key));
    return *v;
  };
  m.layers = required("layers");
  m.hidden = required("hidden");
  m.heads = required("heads");
  m.kv_heads = int_cell(row, "kv_heads", where).value_or(m.heads);
  if (m.kv_heads == 0) throw InputError(where, "kv_heads", "0 (column kv_heads: expected at least 1, or empty)");
  m.head_dim = int_cell(row, "head_dim", where).value_or(m.hidden / m.heads);
  m.ffn_hidden = required("ffn_hidden");
  m.vocab = required("vocab");
  m.mlp = cell(row, "mlp_type") == "plain" ? MlpType::kPlain : MlpType::kGated;
  if (const auto experts = int_cell(row, "moe_experts", where); experts && *experts > 0) {
    MoeConfig e;
    e.experts = *experts;
    e.topk = required("moe_topk");
    e.ffn_hidden = required("moe_ffn_hidden");
    e.shared_experts = int_cell(row, "moe_shared_experts", where).value_or(0);
    m.moe = e;
  }
  return m;
}

// Applies the `arch_overrides` cell (validation/README.md: key=value pairs separated by ';') to the
// model. Returns why the row cannot be simulated, or nothing.
std::optional<std::string> apply_arch_overrides(Model& m, const std::string& text, const std::string& where) {
  std::map<std::string, std::string> kv;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(';', start);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(start, end - start);
    start = end + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string::npos) throw InputError(where, "arch_overrides", fmt::format("'{}' is not key=value", item));
    kv[item.substr(0, eq)] = item.substr(eq + 1);
  }
  std::set<std::string> used;
  auto take = [&](const std::string& key) {
    used.insert(key);
    return kv.count(key) > 0;
  };
  // The pairs are parsed like the row's own cells (int_cell names the pair's key).
  auto integer = [&](const std::string& key) {
    used.insert(key);
    const auto v = int_cell(kv, key, where);
    if (!v) throw InputError(where, "arch_overrides", fmt::format("{} is missing", key));
    return *v;
  };
  if (take("attn")) {
    if (kv["attn"] == "mla") {
      MlaConfig a;
      a.q_lora_rank = integer("q_lora_rank");
      a.kv_lora_rank = integer("kv_lora_rank");
      a.qk_nope_head_dim = integer("qk_nope_head_dim");
      a.qk_rope_head_dim = integer("qk_rope_head_dim");
      a.v_head_dim = integer("v_head_dim");
      m.mla = a;
    } else if (kv["attn"] == "alternating_sliding_window") {
      used.insert("attention_sinks");  // one learned logit per head: negligible work
      m.sliding_window = integer("sliding_window");
      m.window_fraction = 0.5;
    } else {
      return "attention '" + kv["attn"] + "' is not modelled";
    }
  }
  if (take("first_k_dense")) {
    if (!m.moe) throw InputError(where, "arch_overrides", "first_k_dense needs moe_experts");
    m.moe->first_k_dense = integer("first_k_dense");
  }
  if (take("mtp_depth")) {
    m.mtp_depth = integer("mtp_depth");
    if (m.mtp_depth < 0 || m.mtp_depth > kMaxMtpDepth) {
      throw InputError(where, "arch_overrides", fmt::format("mtp_depth {} is outside 0 to {}", m.mtp_depth, kMaxMtpDepth));
    }
  }
  if (take("parallel_block")) m.parallel_block = integer("parallel_block") != 0;
  if (take("moe_capacity_factor")) {
    if (!m.moe) throw InputError(where, "arch_overrides", "moe_capacity_factor needs moe_experts");
    try {
      size_t pos = 0;
      const std::string& factor = kv["moe_capacity_factor"];
      m.moe->capacity_factor = std::stod(factor, &pos);
      if (pos != factor.size() || !(m.moe->capacity_factor >= 0 && m.moe->capacity_factor <= 64)) {
        throw std::invalid_argument("x");
      }
    } catch (const std::exception&) {
      throw InputError(where, "arch_overrides", "moe_capacity_factor is not a number from 0 to 64");
    }
  }
  // MaxText's dense-matmul MoE computes every expert on its capacity-padded buffer: the capacity
  // factor above already pads the expert GEMMs to that size.
  (void)take("moe_dense_matmul");
  for (const auto& [k, v] : kv) {
    if (!used.count(k)) return "arch_overrides key '" + k + "' is not modelled";
  }
  return std::nullopt;
}

// The publication year in a citation ("Narayanan et al. 2021, ..."): the first 20xx, or 0.
int source_year(const std::string& source) {
  for (size_t idx = 0; idx + 4 <= source.size(); ++idx) {
    const bool boundary_before = idx == 0 || !std::isdigit(static_cast<unsigned char>(source[idx - 1]));
    const bool boundary_after = idx + 4 == source.size() || !std::isdigit(static_cast<unsigned char>(source[idx + 4]));
    if (boundary_before && boundary_after && source.compare(idx, 2, "20") == 0 &&
        std::isdigit(static_cast<unsigned char>(source[idx + 2])) &&
        std::isdigit(static_cast<unsigned char>(source[idx + 3]))) {
      return std::stoi(source.substr(idx, 4));
    }
  }
  return 0;
}

double number_cell(const std::map<std::string, std::string>& row, const std::string& key, const std::string& where) {
  const std::string text = cell(row, key);
  if (text.empty()) return 0.0;
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used != text.size() || !(v >= 0) || !std::isfinite(v)) throw std::invalid_argument("x");
    return v;
  } catch (const std::exception&) {
    throw InputError(where, key, fmt::format("'{}' is not a non-negative finite number (column {})", text, key));
  }
}

}  // namespace

CsvTable read_csv(const std::string& path) {
  std::istringstream in(internal::read_input_file(path));
  CsvTable t;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    // A UTF-8 byte-order mark (spreadsheet exports write one) is not part of the first column's name.
    if (line_no == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    if (line.empty() || line == "\r") continue;
    const std::string where = fmt::format("{}:{}", path, line_no);
    auto cells = split_csv_line(line, where);
    if (t.header.empty()) {
      t.header = cells;
      continue;
    }
    if (cells.size() != t.header.size()) {
      throw InputError(where, "", fmt::format("{} fields, but the header has {}", cells.size(), t.header.size()));
    }
    std::map<std::string, std::string> row;
    for (size_t idx = 0; idx < cells.size(); ++idx) row[t.header[idx]] = cells[idx];
    t.rows.push_back(std::move(row));
    t.lines.push_back(line_no);
  }
  if (t.header.empty()) throw InputError(path, "", "empty file (expected a header row)");
  for (const char* col : {"id", "system", "chips", "simulable", "measured_tokens_per_s_per_chip"}) {
    if (std::find(t.header.begin(), t.header.end(), col) == t.header.end()) {
      throw InputError(path, col, "missing column (see validation/README.md for the schema)");
    }
  }
  return t;
}

namespace {

ValidationRow simulate_row(const std::map<std::string, std::string>& row, const std::string& where,
                           const StepOptions& options) {
  ValidationRow out;
  out.id = cell(row, "id");
  out.system = cell(row, "system");
  out.chips = int_cell(row, "chips", where).value_or(0);
  out.measured = number_cell(row, "measured_tokens_per_s_per_chip", where);
  const std::string simulable = cell(row, "simulable");
  if (simulable != "yes" && simulable != "no") {
    throw InputError(where, "simulable", fmt::format("'{}' is not yes or no (column simulable)", simulable));
  }
  if (simulable != "yes") {
    out.skip_reason = "marked simulable=no in the file (hardware, batch or measurement not published)";
    return out;
  }
  if (!(out.measured > 0)) {
    throw InputError(where, "measured_tokens_per_s_per_chip",
                     "missing or zero (expected the measured tokens/s per chip of a simulable row)");
  }
  if (cell(row, "arch") != "dense" && cell(row, "arch") != "moe") {
    out.skip_reason = "architecture '" + cell(row, "arch") + "' is not a dense or MoE transformer";
    return out;
  }

  Scenario sc;
  sc.system_ref = out.system;
  sc.system_overrides = system_overrides(cell(row, "system_overrides"), where);
  if (const auto rpc = int_cell(row, "ranks_per_chip", where)) {
    sc.system_overrides.push_back(fmt::format("chip.ranks_per_chip={}", *rpc));
  }
  try {
    sc.system = load_system(out.system, sc.system_overrides);
  } catch (const InputError& e) {
    // Name the row first: the preset's own file and key follow.
    const bool in_override = e.where().rfind("--set", 0) == 0 || e.where().find("with --set") != std::string::npos;
    throw InputError(where, in_override ? "system_overrides" : "system", e.what());
  }
  out.family = sc.system.family;
  sc.system.chips = out.chips;
  sc.model = row_model(row, where);
  if (cell(row, "arch") == "moe" && !sc.model.is_moe()) {
    throw InputError(where, "moe_experts", "an MoE row needs moe_experts, moe_topk and moe_ffn_hidden");
  }
  if (const auto why = apply_arch_overrides(sc.model, cell(row, "arch_overrides"), where)) {
    out.skip_reason = *why;
    return out;
  }
  validate_model(sc.model, where);
  sc.model_ref = "(columns of " + out.id + ")";
  sc.training.seq = int_cell(row, "seq_len", where).value_or(0);
  sc.training.global_batch = int_cell(row, "global_batch", where).value_or(0);
  const std::string prec = cell(row, "precision").empty() ? "bf16" : cell(row, "precision");
  const auto p = parse_precision(prec);
  if (!p) throw InputError(where, "precision", fmt::format("'{}' is not bf16, fp16, fp8, fp4 or fp32", prec));
  sc.training.precision = *p;

  Plan& plan = sc.plan;
  // A degree given in the row is at least 1 (dp may be 0: derived from the others, as when empty).
  auto layout = [&](const char* key, int fallback, bool say) {
    const auto v = int_cell(row, key, where);
    if (!v && say) out.assumptions.push_back(fmt::format("{}={} (not published)", key, fallback));
    if (v && *v < 1 && fallback > 0) {
      throw InputError(where, key, fmt::format("'{}' is not a parallel degree (column {}: expected 1 or more)", *v, key));
    }
    return v.value_or(fallback);
  };
  plan.tp = layout("tp", 1, true);
  plan.pp = layout("pp", 1, true);
  plan.vpp = layout("vpp", 1, false);
  plan.cp = layout("cp", 1, false);
  plan.dp = layout("dp", 0, false);
  plan.ep = layout("ep", 1, sc.model.is_moe());
  if (sc.model.is_moe() && plan.tp > 1 && plan.ep > 1) {
    // EP larger than the data-parallel ranks can hold only spans the tensor-parallel ranks too:
    // the framework runs the experts without TP (expert_tensor_parallel_size 1, MoE folding).
    const long long dpcp = static_cast<long long>(plan.dp > 0 ? plan.dp : 1) * plan.cp;
    if (plan.dp > 0 && dpcp % plan.ep != 0) {
      plan.etp = 1;
      out.assumptions.push_back("expert TP 1 (ep spans the TP ranks)");
    }
  }
  const auto published_mb = int_cell(row, "micro_batch", where);
  plan.micro_batch = published_mb.value_or(1);
  const int chunks = plan.pp * plan.vpp;
  if (sc.model.layers % chunks != 0) {
    // Llama 3 405B style: 126 layers on 8 or 16 stages count embedding and loss as stages.
    plan.account_for_embedding_and_loss = plan.pp > 1;
    if ((sc.model.layers + 2) % chunks == 0 && plan.pp > 1) {
      out.assumptions.push_back("embedding and loss counted as pipeline stages (layers not divisible by pp)");
    } else {
      // DeepSeek-V3 style: 61 layers on 16 chunks; the recipes give stages unequal layer counts.
      plan.uneven_pipeline = true;
      out.assumptions.push_back("uneven pipeline stages (layers not divisible by pp x vpp)");
    }
  }
  const std::string rc = cell(row, "recompute");
  if (!rc.empty()) {
    const auto r = parse_recompute(rc);
    if (!r) throw InputError(where, "recompute", fmt::format("'{}' is not none, selective or full", rc));
    plan.recompute = *r;
  }
  const auto zero = int_cell(row, "zero", where);
  if (zero) plan.zero = *zero;

  // FlashAttention (Dao et al., May 2022) did not exist for runs published before 2022: they ran the
  // unfused softmax path that writes the s x s scores to HBM.
  if (const int year = source_year(cell(row, "source")); year > 0 && year < 2022) {
    plan.flash_attention = false;
    out.assumptions.push_back(fmt::format("unfused attention (source of {} predates FlashAttention)", year));
  }
  // NVIDIA's NeMo and Megatron-Bridge performance scripts (scripts/performance in both repositories)
  // keep gradient buffers in bf16 and reduce them in bf16 (grad_reduce_in_fp32 = False), where
  // Megatron-LM and FSDP2 default to fp32.
  const std::string notes = cell(row, "notes");
  if (notes.find("framework='NeMo 2") != std::string::npos ||
      notes.find("framework='Megatron-Bridge") != std::string::npos) {
    plan.grad_reduce_fp32 = false;
    out.assumptions.push_back("bf16 gradient reduction (the framework's performance recipes)");
    if (plan.tp > 1 && sc.training.precision != Precision::kFp4) {
      // The same scripts enable TP communication overlap (MegatronCommOverlapCallback /
      // CommOverlapConfig with tp_comm_overlap=True and tuned userbuffers), except for NVFP4
      // (Megatron-Bridge scripts/performance: tp_comm_overlap = False if precision == "nvfp4").
      plan.tp_comm_overlap = true;
      out.assumptions.push_back("TP communication overlapped with GEMMs (the framework's performance recipes)");
    }
  }
  // MaxText's host-offload recipes (remat_policy custom with decoder_layer_input and the Q/K/V/output
  // projections set to "offload", or qkv_proj_offloaded; tpu-recipes READMEs and
  // benchmarks/maxtext_trillium_model_configs.py) recompute everything they do not offload and keep
  // the offloaded tensors in host DRAM. Tahoma offloads full recompute's layer-input checkpoints and
  // recomputes the projections too (slightly more compute, less host traffic than the recipes).
  const std::string derivation = cell(row, "derivation");
  if (notes.find("host offload") != std::string::npos || derivation.find("remat offload") != std::string::npos) {
    plan.recompute = Recompute::kFull;
    plan.recompute_num_layers = 0;
    plan.offload_activations = true;
    out.assumptions.push_back(
        "recompute=full with the layer inputs offloaded to host memory (the recipe's host-offload remat policy)");
  }
  // Unpublished settings are chosen as validation/README.md prescribes: the least recompute that
  // fits (none, selective, then full recompute of 1, 2, ... layers per pipeline rank as Megatron's
  // block method does, then all), then the lowest ZeRO stage that fits.
  struct RecomputeChoice {
    Recompute mode;
    int layers;  // recompute_num_layers
  };
  std::vector<RecomputeChoice> recomputes{{plan.recompute, 0}};
  if (rc.empty()) {
    recomputes = {{Recompute::kNone, 0}, {Recompute::kSelective, 0}};
    const int per_rank = layers_on_stage(sc.model, plan, 0);
    for (int n = 1; n < per_rank; ++n) recomputes.push_back({Recompute::kFull, n});
    recomputes.push_back({Recompute::kFull, 0});
  }
  std::vector<int> zeros = !zero ? std::vector<int>{0, 1, 2, 3} : std::vector<int>{plan.zero};
  // An unpublished micro-batch follows the framework's convention (validation/README.md: "choose"):
  // FSDP without a pipeline runs the whole local batch at once (no gradient accumulation, as
  // MaxText, torchtitan and llm-foundry do), halved until it fits; everything else 1 (Megatron).
  int local_batch = 1;
  // A layout the model or the system cannot hold skips the row, naming the rule it breaks.
  auto check_layout = [&](Plan& layout_plan, const Scenario& candidate) {
    try {
      validate_plan(layout_plan, candidate.training, candidate.model, candidate.system, where);
    } catch (const InputError& e) {
      throw RowSkip{e.key_path().empty() ? e.problem() : e.key_path() + ": " + e.problem()};
    }
  };
  {
    Plan probe = plan;
    check_layout(probe, sc);
    local_batch = std::max(1, sc.training.global_batch / probe.dp);
  }
  auto micro_batches = [&](int z) {
    if (published_mb) return std::vector<int>{plan.micro_batch};
    if (z < 3 || plan.pp > 1) return std::vector<int>{1};
    std::vector<int> sizes;
    for (int mb = local_batch; mb >= 1; --mb) {
      if (local_batch % mb == 0) sizes.push_back(mb);
    }
    return sizes;
  };
  // The first candidate, in order of preference, that fits; the first one when none does.
  std::optional<Scenario> chosen;
  std::optional<StepResult> chosen_result;
  for (const RecomputeChoice& r : recomputes) {
    for (int z : zeros) {
      for (int mb : micro_batches(z)) {
        Scenario trial = sc;
        trial.plan.recompute = r.mode;
        trial.plan.recompute_num_layers = r.layers;
        trial.plan.zero = z;
        trial.plan.micro_batch = mb;
        check_layout(trial.plan, trial);
        StepResult res = [&] {
          try {
            return simulate_step(trial, options);
          } catch (const Error& e) {
            throw RowSkip{std::string("the step cannot be simulated: ") + e.what()};
          }
        }();
        if (!chosen || (res.memory.fits && !chosen_result->memory.fits)) {
          chosen = trial;
          chosen_result = res;
        }
        if (res.memory.fits) break;
      }
      if (chosen_result->memory.fits) break;
    }
    if (chosen_result->memory.fits) break;
  }
  if (!chosen) throw InputError(where, "micro_batch", "no micro-batch size gives a valid layout");
  if (!published_mb)
    out.assumptions.push_back(fmt::format("micro_batch={} (framework convention)", chosen->plan.micro_batch));
  if (rc.empty()) {
    const int n = chosen->plan.recompute_num_layers;
    out.assumptions.push_back(n > 0 ? fmt::format("recompute=full on {} layers per rank (least that fits)", n)
                                    : fmt::format("recompute={} (least that fits)", to_string(chosen->plan.recompute)));
  }
  if (!zero) out.assumptions.push_back(fmt::format("zero={} (lowest stage that fits)", chosen->plan.zero));
  out.simulated = true;
  out.scenario = chosen;
  out.result = chosen_result;
  out.fits = chosen_result->memory.fits;
  out.predicted = chosen_result->tokens_per_s_per_chip;
  out.error_pct = (out.predicted - out.measured) / out.measured * 100.0;
  return out;
}

bool family_matches(const std::string& family, const std::string& wanted) {
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
  };
  const std::string f = lower(family), w = lower(wanted);
  return f == w || f.find(w) != std::string::npos;
}

}  // namespace

ValidationReport validate_file(const std::string& path, const ValidationFilter& filter) {
  const CsvTable table = read_csv(path);
  ValidationReport report;
  report.file = path;
  for (size_t idx = 0; idx < table.rows.size(); ++idx) {
    const auto& row = table.rows[idx];
    if (filter.only && cell(row, "id") != *filter.only) continue;
    const std::string where = fmt::format("{}:{} ({})", path, table.lines[idx], cell(row, "id"));
    ValidationRow vr;
    try {
      vr = simulate_row(row, where, StepOptions{filter.engine, filter.network, nullptr});
    } catch (const RowSkip& skip) {
      // A well-formed row the model cannot represent (an indivisible layout) is reported with the
      // rule it breaks; a malformed row (a bad cell, an unknown preset) ends the run as an InputError.
      vr.id = cell(row, "id");
      vr.system = cell(row, "system");
      vr.chips = int_cell(row, "chips", where).value_or(0);
      vr.simulated = false;
      vr.skip_reason = skip.reason;
    }
    if (vr.family.empty() && !vr.system.empty()) {
      try {
        vr.family = load_system(vr.system).family;
      } catch (const Error&) {
        vr.family = "unknown";
      }
    }
    if (filter.family && !family_matches(vr.family, *filter.family)) continue;
    report.rows.push_back(std::move(vr));
  }
  if (filter.only && report.rows.empty())
    throw InputError(path, "--only", fmt::format("no row has id '{}'", *filter.only));

  ValidationSummary& s = report.summary;
  std::vector<double> errs;
  std::map<std::string, std::vector<double>> by_family;
  double signed_sum = 0;
  for (const auto& r : report.rows) {
    if (!r.simulated) {
      ++s.skipped;
      continue;
    }
    ++s.simulated;
    const double e = std::abs(r.error_pct);
    errs.push_back(e);
    signed_sum += r.error_pct;
    by_family[r.family].push_back(e);
    if (e >= s.max_abs_err_pct) {
      s.max_abs_err_pct = e;
      s.max_row = r.id;
    }
  }
  auto mean = [](const std::vector<double>& v) {
    double sum = 0;
    for (double x : v) sum += x;
    return v.empty() ? 0.0 : sum / static_cast<double>(v.size());
  };
  s.mape_pct = mean(errs);
  s.mean_signed_err_pct = errs.empty() ? 0.0 : signed_sum / static_cast<double>(errs.size());
  if (!errs.empty()) {
    std::vector<double> sorted = errs;
    std::sort(sorted.begin(), sorted.end());
    const size_t n = sorted.size();
    s.median_abs_err_pct = n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  }
  for (const auto& [family, v] : by_family) {
    s.families.push_back({family, static_cast<int>(v.size()), mean(v), *std::max_element(v.begin(), v.end())});
  }
  return report;
}

}  // namespace tahoma
