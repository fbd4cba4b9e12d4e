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
#include "tahoma/stack.h"
#include "validate_rows.h"

namespace tahoma {
namespace validate_rows {

bool family_matches(const std::string& family, const std::string& wanted) {
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
  };
  const std::string f = lower(family), w = lower(wanted);
  return f == w || f.find(w) != std::string::npos;
}

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

}  // namespace validate_rows

namespace {

using namespace validate_rows;

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

// Records a typed assumption: a field the row does not fix, or one changed from the row.
void assume(ValidationRow& out, std::string field, std::string published, std::string used, std::string rule) {
  out.assumptions.push_back({std::move(field), std::move(published), std::move(used), std::move(rule)});
}

const char* yes_no(bool b) { return b ? "yes" : "no"; }

// The software stack that ran the row: data/frameworks.yaml maps its `framework` and
// `framework_version` columns (and, where the recipes differ by hardware, its system) to a stack
// preset; a framework with no preset runs the system's default stack.
Stack row_stack(const std::map<std::string, std::string>& row, const System& system, const std::string& system_ref,
                const std::string& where, ValidationRow& out) {
  const std::string framework = cell(row, "framework"), version = cell(row, "framework_version");
  const std::string published = version.empty() ? framework : framework + " " + version;
  const auto match = stack_for_framework(framework, version, system_ref);
  const std::string name = match ? match->stack : system.default_stack;
  Stack stack;
  stack.name = "(none)";
  if (!name.empty()) {
    try {
      stack = load_stack(name);
    } catch (const InputError& e) {
      throw InputError(where, "framework", e.what());
    }
  }
  assume(out, "stack", published, stack.name,
         match ? "data/frameworks.yaml: " + match->rule
               : fmt::format("no stack preset for framework '{}': the system's default", framework));
  return stack;
}

// The stack's software defaults the row's columns do not fix, reported as assumptions (only those
// that matter for the row's layout and model).
void assume_stack_defaults(const Stack& stack, const Scenario& sc, bool sp_published, ValidationRow& out) {
  const Plan& p = sc.plan;
  const std::string rule = "stack " + stack.name;
  assume(out, "flash_attention", "", yes_no(p.flash_attention), rule);
  if (p.tp > 1 && !sp_published) assume(out, "sequence_parallel", "", yes_no(p.sequence_parallel), rule);
  if (p.tp > 1) assume(out, "tp_comm_overlap", "", yes_no(p.tp_comm_overlap), rule);
  assume(out, "grad_reduce_dtype", "", p.grad_reduce_fp32 ? "fp32" : "bf16", rule);
  if (sc.model.is_moe()) {
    assume(out, "ep_comm_overlap", "", yes_no(p.ep_comm_overlap), rule);
    assume(out, "grouped_gemm", "", to_string(p.grouped_gemm), rule);
  }
  if (p.cp > 1) assume(out, "cp_comm", "", to_string(p.cp_comm), rule);
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
  // The training schema measures tokens/s per chip, the serving schema output tokens/s per chip.
  const bool serving = std::find(t.header.begin(), t.header.end(), "scenario") != t.header.end();
  for (const char* col : {"id", "system", "chips", "simulable",
                          serving ? "measured_output_tokens_per_s_per_chip" : "measured_tokens_per_s_per_chip"}) {
    if (std::find(t.header.begin(), t.header.end(), col) == t.header.end()) {
      throw InputError(path, col, "missing column (see validation/README.md for the schema)");
    }
  }
  return t;
}

namespace {

// The micro-batches a gradient-accumulation stack's recipe may have used when the row does not
// publish one: the divisors of the per-replica batch up to this many sequences (Megatron recipes
// use 1-8; a micro-batch past 16 sequences of thousands of tokens no longer raises GEMM efficiency).
constexpr int kMaxSearchedMicroBatch = 16;
// Candidates the closed form ranks that the step's own engine re-simulates to pick the winner.
constexpr int kSettingFinalists = 3;

// Searches the settings the row leaves open for one layout (issue 14 item 3, validation/README.md:
// "not published: search"). A published recipe is tuned, so the row runs with the fastest settings
// that fit among those consistent with what it fixes: every ZeRO stage and micro-batch it leaves
// open, each with the least recompute that fits (none, selective, then full recompute of 1, 2, ...
// layers per pipeline rank as Megatron's block method does, then all: for a given stage and
// micro-batch more recompute only adds work, so the least that fits is the fastest). Micro-batches:
// a gradient-accumulation stack's divisors of the per-replica batch up to kMaxSearchedMicroBatch; a
// stack that runs the whole local batch (no accumulation) keeps that convention, halved until it
// fits. "Selective" means what the stack says. The closed form ranks the candidates and the best
// kSettingFinalists are re-simulated with the step's engine, which picks; when nothing fits, the
// candidate that needs the least memory is reported (as not fitting). Throws RowSkip for a layout
// the model or system cannot hold.
template <class CheckLayout>
void choose_settings(Scenario& sc, StepResult& result, std::vector<Assumption>& assumed, bool search_recompute,
                     bool zero_published, bool mb_published, CheckLayout& check_layout, const StepOptions& options) {
  Plan& plan = sc.plan;
  const int chunks = plan.pp * plan.vpp;
  if (sc.model.layers % chunks != 0) {
    // Llama 3 405B style: 126 layers on 8 or 16 stages count embedding and loss as stages.
    plan.account_for_embedding_and_loss = plan.pp > 1;
    if ((sc.model.layers + 2) % chunks == 0 && plan.pp > 1) {
      assumed.push_back({"account_for_embedding_and_loss", "", "yes", "layers not divisible by pp x vpp"});
    } else {
      // DeepSeek-V3 style: 61 layers on 16 chunks; the recipes give stages unequal layer counts.
      plan.uneven_pipeline = true;
      assumed.push_back({"uneven_pipeline", "", "yes", "layers not divisible by pp x vpp"});
    }
  }
  struct RecomputeChoice {
    Recompute mode;
    int layers;  // recompute_num_layers
  };
  std::vector<RecomputeChoice> recomputes{{plan.recompute, 0}};
  if (search_recompute) {
    recomputes = {{Recompute::kNone, 0}, {Recompute::kSelective, 0}};
    const int per_rank = layers_on_stage(sc.model, plan, 0);
    for (int n = 1; n < per_rank; ++n) recomputes.push_back({Recompute::kFull, n});
    recomputes.push_back({Recompute::kFull, 0});
  }
  const std::vector<int> zeros = zero_published ? std::vector<int>{plan.zero} : std::vector<int>{0, 1, 2, 3};
  int local_batch = 1;
  {
    Plan probe = plan;
    check_layout(probe, sc);
    local_batch = std::max(1, sc.training.global_batch / probe.dp);
  }
  const bool whole_batch = sc.stack.micro_batching != MicroBatching::kGradientAccumulation && plan.pp == 1;
  std::vector<int> micro_batches;
  if (mb_published) {
    micro_batches = {plan.micro_batch};
  } else if (whole_batch) {
    micro_batches = {local_batch};  // halved below until it fits
  } else {
    for (int mb = 1; mb <= std::min(local_batch, kMaxSearchedMicroBatch); ++mb) {
      if (local_batch % mb == 0) micro_batches.push_back(mb);
    }
  }
  StepOptions ranking = options;
  ranking.engine = StepEngine::kClosedForm;
  ranking.network = NetworkMode::kAnalytical;
  // With the closed form and the analytical network the ranking is already the step's own result.
  const bool ranked_is_final = options.engine == ranking.engine && options.network == ranking.network &&
                               options.trace == nullptr && !options.every_microbatch;
  auto simulate = [&](const Scenario& trial, const StepOptions& o) {
    try {
      return simulate_step(trial, o);
    } catch (const Error& e) {
      throw RowSkip{std::string("the step cannot be simulated: ") + e.what()};
    }
  };
  struct Candidate {
    Scenario scenario;
    StepResult ranked;  // closed form
  };
  std::vector<Candidate> candidates;
  // The least recompute that fits at this stage and micro-batch: none, then selective, then full
  // recompute of the fewest layers per rank. Memory falls as more layers are recomputed, so the
  // fewest is found by bisection (O(log layers) steps, not one per layer: a 10,000-layer model
  // would otherwise price 10,000 candidates per row). Every candidate priced that does not fit, and
  // the first that does, are kept.
  auto consider = [&](int z, int mb) {
    auto price = [&](const RecomputeChoice& r) {
      Scenario trial = sc;
      trial.plan.recompute = r.mode;
      trial.plan.recompute_num_layers = r.layers;
      trial.plan.zero = z;
      trial.plan.micro_batch = mb;
      apply_selective_recompute(trial.plan);
      check_layout(trial.plan, trial);
      StepResult res = simulate(trial, ranking);
      return Candidate{std::move(trial), std::move(res)};
    };
    const size_t ordered = std::min<size_t>(recomputes.size(), search_recompute ? 2 : recomputes.size());
    for (size_t i = 0; i < ordered; ++i) {
      Candidate c = price(recomputes[i]);
      const bool fits = c.ranked.memory.fits;
      candidates.push_back(std::move(c));
      if (fits) return true;
    }
    if (ordered == recomputes.size()) return false;
    // recomputes[ordered .. last]: full recompute on 1, 2, ... layers per rank, then on all of them.
    size_t lo = ordered, hi = recomputes.size() - 1;
    Candidate at_hi = price(recomputes[hi]);
    if (!at_hi.ranked.memory.fits) {
      candidates.push_back(std::move(at_hi));
      return false;
    }
    std::optional<Candidate> first_fit = std::move(at_hi);
    while (lo < hi) {  // invariant: recomputes[hi] fits, everything below lo does not
      const size_t mid = lo + (hi - lo) / 2;
      Candidate c = price(recomputes[mid]);
      if (c.ranked.memory.fits) {
        hi = mid;
        first_fit = std::move(c);
      } else {
        lo = mid + 1;
        candidates.push_back(std::move(c));
      }
    }
    candidates.push_back(std::move(*first_fit));
    return true;
  };
  // A searched micro-batch the layout cannot hold (e.g. too few micro-batches for an interleaved
  // schedule) is not a candidate; the row is skipped only when no candidate is valid.
  std::optional<RowSkip> invalid;
  auto try_consider = [&](int z, int mb) {
    try {
      return consider(z, mb);
    } catch (const RowSkip& e) {
      if (!invalid) invalid = e;
      return false;
    }
  };
  for (int z : zeros) {
    for (int mb : micro_batches) {
      if (!whole_batch || mb_published) {
        try_consider(z, mb);
        continue;
      }
      for (int m = mb; m >= 1; m /= 2) {  // the whole local batch, halved until it fits
        if (local_batch % m == 0 && try_consider(z, m)) break;
      }
    }
  }
  if (candidates.empty()) throw invalid.value_or(RowSkip{"no setting gives a valid layout"});
  std::vector<const Candidate*> fitting;
  for (const Candidate& c : candidates) {
    if (c.ranked.memory.fits) fitting.push_back(&c);
  }
  std::optional<Scenario> chosen;
  std::optional<StepResult> chosen_result;
  if (fitting.empty()) {
    const Candidate* least = &candidates.front();
    for (const Candidate& c : candidates) {
      if (c.ranked.memory.total < least->ranked.memory.total) least = &c;
    }
    chosen = least->scenario;
    chosen_result = ranked_is_final ? least->ranked : simulate(*chosen, options);
  } else {
    std::stable_sort(fitting.begin(), fitting.end(), [](const Candidate* a, const Candidate* b) {
      return a->ranked.tokens_per_s_per_chip > b->ranked.tokens_per_s_per_chip;
    });
    for (size_t i = 0; i < fitting.size() && i < static_cast<size_t>(kSettingFinalists); ++i) {
      StepResult res = ranked_is_final ? fitting[i]->ranked : simulate(fitting[i]->scenario, options);
      if (!chosen_result || res.tokens_per_s_per_chip > chosen_result->tokens_per_s_per_chip) {
        chosen = fitting[i]->scenario;
        chosen_result = std::move(res);
      }
    }
  }
  if (!mb_published) {
    assumed.push_back({"micro_batch", "", std::to_string(chosen->plan.micro_batch),
                       whole_batch ? fmt::format("stack convention: {}, halved until it fits",
                                                 to_string(sc.stack.micro_batching))
                                   : fmt::format("searched: fastest settings that fit (divisors of the {} sequences "
                                                 "per replica up to {})",
                                                 local_batch, kMaxSearchedMicroBatch)});
  }
  const Plan& p = chosen->plan;
  const std::string used_recompute =
      p.offload_activations ? "full, layer inputs offloaded to host"
      : p.recompute_num_layers > 0 ? fmt::format("full on {} layers per rank", p.recompute_num_layers)
                                   : std::string(to_string(p.recompute));
  if (search_recompute) {
    assumed.push_back({"recompute", "", used_recompute, "searched: fastest settings that fit"});
  } else if (p.offload_activations && sc.plan.recompute == Recompute::kSelective) {
    assumed.push_back({"recompute", "selective", used_recompute,
                       fmt::format("stack {}: selective means {}", sc.stack.name, to_string(sc.stack.selective_recompute))});
  }
  if (!zero_published) assumed.push_back({"zero", "", std::to_string(p.zero), "searched: fastest settings that fit"});
  sc = *chosen;
  result = *chosen_result;
}

// `extra_sets`: `--set` overrides applied to the row's system after its own (calibration).
ValidationRow simulate_row(const std::map<std::string, std::string>& row, const std::string& where,
                           const StepOptions& options, const std::vector<std::string>& extra_sets) {
  ValidationRow out;
  out.id = cell(row, "id");
  out.system = cell(row, "system");
  out.source = cell(row, "source");
  out.framework = cell(row, "framework");
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
  sc.system_overrides.insert(sc.system_overrides.end(), extra_sets.begin(), extra_sets.end());
  try {
    sc.system = load_system(out.system, sc.system_overrides);
  } catch (const InputError& e) {
    // Name the row first: the preset's own file and key follow.
    const bool in_override = e.where().rfind("--set", 0) == 0 || e.where().find("with --set") != std::string::npos;
    throw InputError(where, in_override ? "system_overrides" : "system", e.what());
  }
  out.family = sc.system.family;
  out.power_capped = sc.system.chip.power_limit.value() > 0;  // a part run below its rated power
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

  sc.stack = row_stack(row, sc.system, out.system, where, out);
  sc.stack_ref = sc.stack.name;
  out.stack = sc.stack.name;
  Plan& plan = sc.plan;
  apply_stack_defaults(sc.stack, sc.training.precision, plan);
  // A degree given in the row is at least 1 (dp may be 0: derived from the others, as when empty).
  auto layout = [&](const char* key, int fallback, bool say, const char* rule) {
    const auto v = int_cell(row, key, where);
    if (!v && say) assume(out, key, "", std::to_string(fallback), rule);
    if (v && *v < 1 && fallback > 0) {
      throw InputError(where, key, fmt::format("'{}' is not a parallel degree (column {}: expected 1 or more)", *v, key));
    }
    return v.value_or(fallback);
  };
  plan.tp = layout("tp", 1, true, "not published: 1 (validation/README.md)");
  plan.pp = layout("pp", 1, true, "not published: 1 (validation/README.md)");
  plan.vpp = layout("vpp", 1, false, "");
  plan.cp = layout("cp", 1, false, "");
  plan.dp = layout("dp", 0, false, "");
  plan.ep = layout("ep", 1, sc.model.is_moe(), "not published: 1 (validation/README.md)");
  if (const std::string sp = cell(row, "sequence_parallel"); !sp.empty()) {
    if (sp != "yes" && sp != "no") {
      throw InputError(where, "sequence_parallel", fmt::format("'{}' is not yes or no (column sequence_parallel)", sp));
    }
    plan.sequence_parallel = sp == "yes";
  }
  if (const auto etp = int_cell(row, "etp", where)) {
    if (*etp < 1) throw InputError(where, "etp", "0 is not a parallel degree (column etp: expected 1 or more)");
    plan.etp = *etp;
  } else if (sc.model.is_moe() && plan.tp > 1 && plan.ep > 1) {
    // EP larger than the data-parallel ranks can hold only spans the tensor-parallel ranks too:
    // the framework runs the experts without TP (expert_tensor_parallel_size 1, MoE folding).
    const long long dpcp = static_cast<long long>(plan.dp > 0 ? plan.dp : 1) * plan.cp;
    if (plan.dp > 0 && dpcp % plan.ep != 0) {
      plan.etp = 1;
      assume(out, "etp", "", "1", "ep spans the TP ranks (MoE parallel folding)");
    }
  }
  const std::string schedule = cell(row, "pp_schedule");
  std::vector<int> vpps{plan.vpp};
  if (!schedule.empty()) {
    // The schedule registry (tahoma/schedule.h) names the schedules the step engine plays.
    const auto parsed = parse_pipeline_schedule(schedule);
    if (!parsed) {
      throw InputError(where, "pp_schedule",
                       fmt::format("'{}' is not one of: {} (or empty)", schedule, pipeline_schedule_names()));
    }
    const bool interleaved = schedule_info(*parsed).chunks;
    // Interleaving is the plan's 1f1b with vpp > 1 (effective_schedule); the others are named.
    if (!interleaved) plan.pp_schedule = *parsed;
    const bool vpp_published = int_cell(row, "vpp", where).has_value();
    if (vpp_published && (plan.vpp > 1) != interleaved) {
      throw InputError(where, "pp_schedule",
                       fmt::format("'{}' contradicts vpp {} (interleaved 1F1B needs vpp > 1, 1F1B vpp 1)", schedule,
                                   plan.vpp));
    }
    if (interleaved && !vpp_published) {
      // Interleaved without a published vpp: every virtual-stage count the layers allow is tried
      // and the fastest layout that fits is kept (validation/README.md: "left to be chosen").
      vpps.clear();
      for (int v = 2; static_cast<long long>(v) * plan.pp <= sc.model.layers + 2; ++v) {
        const int chunks = v * plan.pp;
        if (sc.model.layers % chunks == 0 || (sc.model.layers + 2) % chunks == 0) vpps.push_back(v);
      }
      if (vpps.empty()) {
        out.skip_reason = fmt::format("interleaved 1F1B: no vpp > 1 divides {} layers on pp {}", sc.model.layers,
                                      plan.pp);
        return out;
      }
    }
  }
  const auto published_mb = int_cell(row, "micro_batch", where);
  plan.micro_batch = published_mb.value_or(1);
  const std::string rc = cell(row, "recompute");
  if (!rc.empty()) {
    const auto r = parse_recompute(rc);
    if (!r) throw InputError(where, "recompute", fmt::format("'{}' is not none, selective or full", rc));
    plan.recompute = *r;
  }
  const auto zero = int_cell(row, "zero", where);
  if (zero) plan.zero = *zero;
  assume_stack_defaults(sc.stack, sc, !cell(row, "sequence_parallel").empty(), out);

  // A layout the model or the system cannot hold skips the row, naming the rule it breaks.
  auto check_layout = [&](Plan& layout_plan, const Scenario& candidate) {
    try {
      validate_plan(layout_plan, candidate.training, candidate.model, candidate.system, where);
    } catch (const InputError& e) {
      throw RowSkip{e.key_path().empty() ? e.problem() : e.key_path() + ": " + e.problem()};
    }
  };
  struct Choice {
    Scenario scenario;
    StepResult result;
    std::vector<Assumption> assumptions;
  };
  std::optional<Choice> best;
  for (int vpp : vpps) {
    Scenario base = sc;
    base.plan.vpp = vpp;
    Choice c{base, {}, {}};
    try {
      choose_settings(c.scenario, c.result, c.assumptions, rc.empty(), zero.has_value(), published_mb.has_value(),
                      check_layout, options);
    } catch (const RowSkip&) {
      if (vpps.size() == 1) throw;
      continue;  // one of several vpp candidates the layout cannot hold
    }
    if (vpps.size() > 1)
      c.assumptions.push_back({"vpp", "", std::to_string(vpp), "interleaved, vpp not published: fastest that fits"});
    const bool better = !best || (c.result.memory.fits && !best->result.memory.fits) ||
                        (c.result.memory.fits == best->result.memory.fits &&
                         c.result.tokens_per_s_per_chip > best->result.tokens_per_s_per_chip);
    if (better) best = std::move(c);
  }
  if (!best) throw RowSkip{"interleaved 1F1B: no vpp gives a valid layout"};
  out.assumptions.insert(out.assumptions.end(), best->assumptions.begin(), best->assumptions.end());
  const std::optional<Scenario> chosen = best->scenario;
  const std::optional<StepResult> chosen_result = best->result;
  out.simulated = true;
  out.scenario = chosen;
  out.result = chosen_result;
  out.fits = chosen_result->memory.fits;
  out.predicted = chosen_result->tokens_per_s_per_chip;
  out.error_pct = (out.predicted - out.measured) / out.measured * 100.0;
  return out;
}

double mean_of(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0.0 : sum / static_cast<double>(v.size());
}

// In-sample and (where every row of the group has one) leave-one-source-out MAPE of the simulated
// rows, grouped by `key`.
std::vector<FamilySummary> grouped(const std::vector<ValidationRow>& rows,
                                   const std::function<std::string(const ValidationRow&)>& key) {
  std::map<std::string, std::vector<const ValidationRow*>> groups;
  for (const auto& r : rows) {
    if (r.simulated) groups[key(r)].push_back(&r);
  }
  std::vector<FamilySummary> out;
  for (const auto& [name, members] : groups) {
    std::vector<double> err, cv;
    for (const ValidationRow* r : members) {
      err.push_back(std::abs(r->error_pct));
      if (r->cv_predicted >= 0) cv.push_back(std::abs(r->cv_error_pct));
    }
    FamilySummary f{name, static_cast<int>(members.size()), mean_of(err), *std::max_element(err.begin(), err.end()),
                    std::nullopt};
    if (cv.size() == err.size()) f.cv_mape_pct = mean_of(cv);
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace

double median_of(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void summarize(ValidationReport& report) {
  ValidationSummary& s = report.summary;
  s = ValidationSummary{};
  std::vector<double> errs, cv;
  double signed_sum = 0;
  for (const auto& r : report.rows) {
    if (!r.simulated) {
      ++s.skipped;
      continue;
    }
    ++s.simulated;
    const double e = std::abs(r.error_pct);
    errs.push_back(e);
    if (r.cv_predicted >= 0) cv.push_back(std::abs(r.cv_error_pct));
    signed_sum += r.error_pct;
    if (e >= s.max_abs_err_pct) {
      s.max_abs_err_pct = e;
      s.max_row = r.id;
    }
  }
  s.mape_pct = mean_of(errs);
  s.mean_signed_err_pct = errs.empty() ? 0.0 : signed_sum / static_cast<double>(errs.size());
  s.median_abs_err_pct = median_of(errs);
  if (!errs.empty() && cv.size() == errs.size()) {
    s.cv_mape_pct = mean_of(cv);
    s.cv_median_abs_err_pct = median_of(cv);
  }
  s.families = grouped(report.rows, [](const ValidationRow& r) { return r.family; });
  s.frameworks = grouped(report.rows, [](const ValidationRow& r) { return r.framework.empty() ? "(none)" : r.framework; });
}

ValidationReport validate_file(const std::string& path, const ValidationFilter& filter) {
  return validate_table(read_csv(path), path, filter);
}

ValidationReport validate_table(const CsvTable& table, const std::string& path, const ValidationFilter& filter) {
  ValidationReport report;
  report.file = path;
  const auto rows = static_cast<long long>(table.rows.size());
  for (size_t idx = 0; idx < table.rows.size(); ++idx) {
    const auto& row = table.rows[idx];
    if (filter.progress) filter.progress(static_cast<long long>(idx), rows);
    if (filter.only && cell(row, "id") != *filter.only) continue;
    if (!filter.systems.empty() && !filter.systems.count(cell(row, "system"))) continue;
    if (filter.skip_row && filter.skip_row(row)) continue;
    const std::string where = fmt::format("{}:{} ({})", path, table.lines[idx], cell(row, "id"));
    ValidationRow vr;
    try {
      const auto sets = filter.system_sets.find(cell(row, "system"));
      vr = simulate_row(row, where, StepOptions{filter.engine, filter.network, nullptr},
                        sets == filter.system_sets.end() ? std::vector<std::string>{} : sets->second);
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
    if (filter.family && !validate_rows::family_matches(vr.family, *filter.family)) continue;
    report.rows.push_back(std::move(vr));
  }
  if (filter.progress) filter.progress(rows, rows);
  if (filter.only && report.rows.empty())
    throw InputError(path, "--only", fmt::format("no row has id '{}'", *filter.only));

  summarize(report);
  return report;
}

}  // namespace tahoma
