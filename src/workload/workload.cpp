#include "tahoma/workload.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <filesystem>
#include <fstream>

#include "internal/yaml_reader.h"
#include "tahoma/error.h"

namespace tahoma {

using internal::YamlMap;

namespace {

void check_range(const std::string& file, const std::string& key, long long v, long long min, long long max) {
  if (v < min || v > max) {
    throw InputError(file, key, fmt::format("{} is out of range (expected {} to {}{})", v, min, max,
                                            max == kMaxLayers ? "; Tahoma's limit on layers" : ""));
  }
}

}  // namespace

void validate_model(const Model& m, const std::string& file) {
  check_range(file, "layers", m.layers, 1, kMaxLayers);
  check_range(file, "hidden", m.hidden, 1, kMaxHidden);
  check_range(file, "heads", m.heads, 1, kMaxHeads);
  check_range(file, "kv_heads", m.kv_heads, 1, m.heads);
  check_range(file, "head_dim", m.head_dim, 1, kMaxHeadDim);
  check_range(file, "ffn_hidden", m.ffn_hidden, 1, kMaxFfn);
  check_range(file, "vocab", m.vocab, 1, kMaxVocab);
  check_range(file, "max_seq", m.max_seq, 0, kMaxSeq);
  check_range(file, "sliding_window", m.sliding_window, 0, kMaxSeq);
  check_range(file, "mtp_depth", m.mtp_depth, 0, kMaxMtpDepth);
  if (!(m.window_fraction >= 0.0 && m.window_fraction <= 1.0)) {
    throw InputError(file, "window_fraction", fmt::format("{} is outside [0, 1]", m.window_fraction));
  }
  if (m.moe) {
    check_range(file, "moe.experts", m.moe->experts, 1, kMaxExperts);
    check_range(file, "moe.topk", m.moe->topk, 1, kMaxExperts);
    check_range(file, "moe.ffn_hidden", m.moe->ffn_hidden, 1, kMaxFfn);
    check_range(file, "moe.shared_experts", m.moe->shared_experts, 0, kMaxExperts);
    check_range(file, "moe.first_k_dense", m.moe->first_k_dense, 0, kMaxLayers);
    if (!(m.moe->capacity_factor >= 0.0 && m.moe->capacity_factor <= 64.0)) {
      throw InputError(file, "moe.capacity_factor", fmt::format("{} is outside [0, 64]", m.moe->capacity_factor));
    }
  }
  if (m.mla) {
    check_range(file, "attention.q_lora_rank", m.mla->q_lora_rank, 0, kMaxHidden);
    check_range(file, "attention.kv_lora_rank", m.mla->kv_lora_rank, 1, kMaxHidden);
    check_range(file, "attention.qk_nope_head_dim", m.mla->qk_nope_head_dim, 0, kMaxHeadDim);
    check_range(file, "attention.qk_rope_head_dim", m.mla->qk_rope_head_dim, 0, kMaxHeadDim);
    check_range(file, "attention.v_head_dim", m.mla->v_head_dim, 1, kMaxHeadDim);
    if (m.mla->qk_nope_head_dim + m.mla->qk_rope_head_dim < 1) {
      throw InputError(file, "attention.qk_nope_head_dim",
                       "qk_nope_head_dim + qk_rope_head_dim is 0 (expected a query/key head of at least 1)");
    }
  }
  if (m.heads % m.kv_heads != 0) {
    throw InputError(file, "kv_heads", fmt::format("heads {} is not a multiple of kv_heads {}", m.heads, m.kv_heads));
  }
  if (m.moe) {
    if (m.moe->topk > m.moe->experts) {
      throw InputError(file, "moe.topk", fmt::format("{} exceeds the {} experts", m.moe->topk, m.moe->experts));
    }
    if (m.moe->first_k_dense >= m.layers) throw InputError(file, "moe.first_k_dense", "must be less than layers");
  }
}

namespace {

Model parse_yaml_model(const std::string& file) {
  YamlMap m(internal::load_yaml_file(file), file, "");
  m.declare({"name", "description", "source", "layers", "hidden", "heads", "kv_heads", "head_dim", "ffn_hidden",
             "vocab", "mlp", "tied_embeddings", "max_seq", "moe", "attention", "mtp_depth", "parallel_block"});
  Model model;
  model.name = m.string("name");
  model.description = m.string("description", "");
  model.source = m.string("source", "");
  model.layers = m.integer("layers", std::nullopt, 1, kMaxLayers);
  model.hidden = m.integer("hidden", std::nullopt, 1, kMaxHidden);
  model.heads = m.integer("heads", std::nullopt, 1, kMaxHeads);
  model.kv_heads = m.integer("kv_heads", model.heads, 1, model.heads);
  if (!m.has("head_dim") && model.hidden % model.heads != 0) {
    throw m.error("heads", fmt::format("hidden {} is not divisible by {} heads; give head_dim explicitly", model.hidden,
                                       model.heads));
  }
  model.head_dim = m.integer("head_dim", model.hidden / model.heads, 1, kMaxHeadDim);
  model.ffn_hidden = m.integer("ffn_hidden", std::nullopt, 1, kMaxFfn);
  model.vocab = m.integer("vocab", std::nullopt, 1, kMaxVocab);
  model.mlp = m.choice<MlpType>("mlp", {{"gated", MlpType::kGated}, {"plain", MlpType::kPlain}});
  model.tied_embeddings = m.boolean("tied_embeddings", false);
  model.max_seq = m.integer("max_seq", 0, 0, kMaxSeq);
  model.mtp_depth = m.integer("mtp_depth", 0, 0, kMaxMtpDepth);
  model.parallel_block = m.boolean("parallel_block", false);
  if (m.has("moe")) {
    YamlMap e = m.map("moe");
    e.declare({"experts", "topk", "ffn_hidden", "shared_experts", "first_k_dense", "capacity_factor"});
    MoeConfig moe;
    moe.experts = e.integer("experts", std::nullopt, 1, kMaxExperts);
    moe.topk = e.integer("topk", std::nullopt, 1, moe.experts);
    moe.ffn_hidden = e.integer("ffn_hidden", std::nullopt, 1, kMaxFfn);
    moe.shared_experts = e.integer("shared_experts", 0, 0, kMaxExperts);
    moe.first_k_dense = e.integer("first_k_dense", 0, 0, model.layers - 1);
    moe.capacity_factor = e.number("capacity_factor", 0.0, 0.0, 64.0);
    e.finish();
    model.moe = moe;
  }
  if (m.has("attention")) {
    YamlMap a = m.map("attention");
    a.declare({"type", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
               "sliding_window", "window_fraction"});
    enum class Kind { kStandard, kMla };
    const Kind kind = a.choice<Kind>("type", {{"standard", Kind::kStandard}, {"mla", Kind::kMla}});
    if (kind == Kind::kMla) {
      MlaConfig mla;
      mla.q_lora_rank = a.integer("q_lora_rank", 0, 0, kMaxHidden);
      mla.kv_lora_rank = a.integer("kv_lora_rank", std::nullopt, 1, kMaxHidden);
      mla.qk_nope_head_dim = a.integer("qk_nope_head_dim", std::nullopt, 0, kMaxHeadDim);
      mla.qk_rope_head_dim = a.integer("qk_rope_head_dim", std::nullopt, 0, kMaxHeadDim);
      mla.v_head_dim = a.integer("v_head_dim", std::nullopt, 1, kMaxHeadDim);
      model.mla = mla;
    }
    model.sliding_window = a.integer("sliding_window", 0, 0, kMaxSeq);
    model.window_fraction = a.number("window_fraction", model.sliding_window > 0 ? 1.0 : 0.0, 0.0, 1.0);
    a.finish();
  }
  m.finish();
  validate_model(model, file);
  return model;
}

using Json = nlohmann::json;

// The value of `key` in a config.json object, or nullptr when absent or null (Hugging Face writes
// null for "not used").
const Json* field(const Json& j, const char* key) {
  const auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

// What a JSON value is, for messages about the wrong type.
std::string json_type(const Json& v) {
  return fmt::format("{} {}", v.type_name(), v.dump().substr(0, 40));
}

// An integer field within [min, max]: a JSON integer, or a number with no fractional part. A
// string, a boolean or a value beyond the range is an InputError naming the key (never truncated).
long long json_int(const Json& v, const std::string& file, const std::string& key, long long min, long long max) {
  long long out = 0;
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(max)) {
      throw InputError(file, key, fmt::format("{} is out of range (expected an integer from {} to {}{})", u, min, max,
                                              max == kMaxLayers ? ", Tahoma's limit on layers" : ""));
    }
    out = static_cast<long long>(u);
  } else if (v.is_number_integer()) {
    out = v.get<long long>();
  } else if (v.is_number_float() && std::isfinite(v.get<double>()) && std::floor(v.get<double>()) == v.get<double>() &&
             std::abs(v.get<double>()) < 9e15) {
    out = static_cast<long long>(v.get<double>());
  } else {
    throw InputError(file, key, fmt::format("expected an integer, got {}", json_type(v)));
  }
  if (out < min || out > max) {
    throw InputError(file, key, fmt::format("{} is out of range (expected an integer from {} to {}{})", out, min, max,
                                            max == kMaxLayers ? ", Tahoma's limit on layers" : ""));
  }
  return out;
}

std::string json_string(const Json& j, const std::string& file, const char* key, const std::string& fallback) {
  const Json* v = field(j, key);
  if (!v) return fallback;
  if (!v->is_string()) throw InputError(file, key, fmt::format("expected a string, got {}", json_type(*v)));
  return v->get<std::string>();
}

bool json_bool(const Json& j, const std::string& file, const char* key, bool fallback) {
  const Json* v = field(j, key);
  if (!v) return fallback;
  if (!v->is_boolean()) throw InputError(file, key, fmt::format("expected true or false, got {}", json_type(*v)));
  return v->get<bool>();
}

// Which layers of a Hugging Face MoE config carry experts, as Tahoma's `first_k_dense`: the dense
// layers must be a contiguous block at the start. Qwen2/3-MoE mark dense layers with
// `mlp_only_layers` and make only every `decoder_sparse_step`-th layer sparse; DeepSeek-V2/V3 use
// `first_k_dense_replace` and `moe_layer_freq`.
int hf_first_k_dense(const Json& j, const std::string& file, int layers) {
  auto step_of = [&](const char* key) {
    const Json* v = field(j, key);
    return v ? static_cast<int>(json_int(*v, file, key, 1, kMaxLayers)) : 1;
  };
  const char* kContiguous = "Tahoma models a contiguous block of dense layers first (first_k_dense)";
  for (const char* key : {"decoder_sparse_step", "moe_layer_freq"}) {
    const int step = step_of(key);
    if (step <= 0) throw InputError(file, key, "must be positive");
    if (step != 1) {
      throw InputError(file, key,
                       fmt::format("{} is not supported (experts on one layer in {}): {}", step, step, kContiguous));
    }
  }
  int first_k = 0;
  if (const Json* v = field(j, "first_k_dense_replace")) {
    first_k = static_cast<int>(json_int(*v, file, "first_k_dense_replace", 0, kMaxLayers));
  }
  if (const Json* dense = field(j, "mlp_only_layers")) {
    if (!dense->is_array()) throw InputError(file, "mlp_only_layers", "expected an array of layer indices");
    std::vector<int> idx;
    for (const auto& v : *dense) idx.push_back(static_cast<int>(json_int(v, file, "mlp_only_layers", 0, layers - 1)));
    std::sort(idx.begin(), idx.end());
    idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
    for (std::size_t i = 0; i < idx.size(); ++i) {
      if (idx[i] != static_cast<int>(i)) {
        throw InputError(
            file, "mlp_only_layers",
            fmt::format("dense layers that are not 0..k-1 are not supported (layer {}): {}", idx[i], kContiguous));
      }
    }
    if (!idx.empty()) first_k = std::max(first_k, static_cast<int>(idx.size()));
  }
  if (first_k >= layers) {
    throw InputError(file, "mlp_only_layers/first_k_dense_replace",
                     fmt::format("{} dense layers leave no MoE layer of {}", first_k, layers));
  }
  return first_k;
}

// Sliding-window attention of a Hugging Face config: `sliding_window` tokens on the layers that
// `layer_types` marks "sliding_attention" (gpt-oss alternates them with "full_attention"), on every
// layer when there is no `layer_types` (Mistral 7B v0.1), and on none when `use_sliding_window` is
// false (Qwen2/3 ship a `sliding_window` they do not use) or `sliding_window` is null (Mixtral).
void hf_sliding_window(const Json& j, const std::string& file, Model& m) {
  if (!json_bool(j, file, "use_sliding_window", true)) return;
  int window = 0;
  if (const Json* v = field(j, "sliding_window")) {
    // A window beyond any sequence is no window limit at all: clamp it to the largest sequence.
    const long long tokens = json_int(*v, file, "sliding_window", 0, std::numeric_limits<long long>::max());
    window = static_cast<int>(std::min<long long>(tokens, kMaxSeq));
  }
  double fraction = window > 0 ? 1.0 : 0.0;
  if (j.contains("layer_types") && !j["layer_types"].is_null()) {
    const auto& types = j["layer_types"];
    if (!types.is_array()) throw InputError(file, "layer_types", "expected an array of attention types");
    if (static_cast<int>(types.size()) != m.layers) {
      throw InputError(file, "layer_types",
                       fmt::format("has {} entries for {} layers (num_hidden_layers)", types.size(), m.layers));
    }
    int sliding = 0;
    for (const auto& t : types) {
      const std::string s = t.is_string() ? t.get<std::string>() : std::string();
      if (s == "sliding_attention") {
        ++sliding;
      } else if (s != "full_attention") {
        throw InputError(file, "layer_types",
                         fmt::format("'{}' is not one of: sliding_attention, full_attention", t.dump()));
      }
    }
    if (sliding > 0 && window == 0) {
      throw InputError(file, "sliding_window",
                       fmt::format("missing: layer_types has {} sliding_attention layers", sliding));
    }
    fraction = static_cast<double>(sliding) / m.layers;
  }
  if (fraction > 0.0) {
    m.sliding_window = window;
    m.window_fraction = fraction;
  }
}

// Hugging Face config.json (Llama, Mistral/Mixtral, Qwen2/3(-MoE), DeepSeek-V2/V3, gpt-oss, GPT-2,
// GPT-NeoX).
Model parse_hf_config(const std::string& file) {
  const std::string text = internal::read_input_file(file);
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Json::exception& e) {
    throw InputError(file, "", std::string("JSON syntax error: ") + e.what());
  }
  if (!j.is_object()) throw InputError(file, "", "expected a JSON object (a Hugging Face config.json)");
  // The first of `keys` present (aliases across model families), as an integer in [min, max].
  auto get_int = [&](std::initializer_list<const char*> keys, std::optional<int> fallback, long long min,
                     long long max) -> int {
    for (const char* k : keys) {
      if (const Json* v = field(j, k)) return static_cast<int>(json_int(*v, file, k, min, max));
    }
    if (fallback) return *fallback;
    std::string names;
    for (const char* k : keys) names += std::string(names.empty() ? "" : " or ") + k;
    throw InputError(file, names, "missing (required integer)");
  };
  Model m;
  m.name = std::filesystem::path(file).parent_path().filename().string();
  if (m.name.empty()) m.name = std::filesystem::path(file).stem().string();
  m.description = "from Hugging Face config " + file;
  m.source = file;
  m.layers = get_int({"num_hidden_layers", "n_layer"}, std::nullopt, 1, kMaxLayers);
  m.hidden = get_int({"hidden_size", "n_embd", "d_model"}, std::nullopt, 1, kMaxHidden);
  m.heads = get_int({"num_attention_heads", "n_head"}, std::nullopt, 1, kMaxHeads);
  m.kv_heads = get_int({"num_key_value_heads"}, m.heads, 0, m.heads);
  if (m.kv_heads == 0) m.kv_heads = m.heads;
  if (!field(j, "head_dim") && m.hidden % m.heads != 0) {
    throw InputError(
        file, "num_attention_heads",
        fmt::format("hidden_size {} is not divisible by {} heads and head_dim is not given", m.hidden, m.heads));
  }
  m.head_dim = get_int({"head_dim"}, m.hidden / m.heads, 1, kMaxHeadDim);
  m.ffn_hidden = get_int({"intermediate_size", "n_inner", "ffn_dim"}, std::min(4 * m.hidden, kMaxFfn), 1, kMaxFfn);
  m.vocab = get_int({"vocab_size"}, std::nullopt, 1, kMaxVocab);
  // Rotary models may declare contexts far beyond what Tahoma simulates: clamp, it is informative.
  m.max_seq = static_cast<int>(std::min<long long>(
      [&]() -> long long {
        for (const char* k : {"max_position_embeddings", "n_positions"}) {
          if (const Json* v = field(j, k)) return json_int(*v, file, k, 0, std::numeric_limits<long long>::max());
        }
        return 0;
      }(),
      kMaxSeq));
  m.tied_embeddings = json_bool(j, file, "tie_word_embeddings", false);
  const std::string act = json_string(j, file, "hidden_act", json_string(j, file, "activation_function", "silu"));
  // SiLU/SwiGLU-style models gate the MLP; GPT-2/NeoX-style GELU MLPs have two matrices.
  const std::string type = json_string(j, file, "model_type", "");
  const bool plain = type == "gpt2" || type == "gpt_neox" || type == "gptj" || type == "opt" || type == "nemotron" ||
                     act == "relu2" || act == "gelu_new";
  m.mlp = plain ? MlpType::kPlain : MlpType::kGated;
  const int experts = get_int({"num_local_experts", "n_routed_experts", "num_experts"}, 0, 0, kMaxExperts);
  if (experts > 0) {
    MoeConfig moe;
    moe.experts = experts;
    moe.topk = get_int({"num_experts_per_tok", "experts_per_token", "moe_topk"}, 1, 1, experts);
    moe.ffn_hidden = get_int({"moe_intermediate_size"}, m.ffn_hidden, 1, kMaxFfn);
    moe.shared_experts = get_int({"n_shared_experts"}, 0, 0, kMaxExperts);
    if (const Json* v = field(j, "shared_expert_intermediate_size")) {
      moe.shared_experts = static_cast<int>(
          json_int(*v, file, "shared_expert_intermediate_size", 0, static_cast<long long>(kMaxExperts) * kMaxFfn) /
          moe.ffn_hidden);
      check_range(file, "shared_expert_intermediate_size / moe_intermediate_size", moe.shared_experts, 0,
                  kMaxExperts);
    }
    moe.first_k_dense = hf_first_k_dense(j, file, m.layers);
    // With no dense layer, intermediate_size is either the expert width (Mixtral, gpt-oss) or
    // unused (Qwen2/3-MoE): ffn_hidden repeats the expert width, as in the presets.
    if (moe.first_k_dense == 0) m.ffn_hidden = moe.ffn_hidden;
    m.moe = moe;
  }
  hf_sliding_window(j, file, m);
  // DeepSeek-V3's MTP modules (num_nextn_predict_layers); parallel attention + MLP blocks
  // (GPT-J and PaLM-style configs say parallel_attn, GPT-NeoX use_parallel_residual; GPT-J has
  // no flag and is always parallel).
  m.mtp_depth = get_int({"num_nextn_predict_layers"}, 0, 0, kMaxMtpDepth);
  m.parallel_block = type == "gptj" || json_bool(j, file, "parallel_attn", false) ||
                     json_bool(j, file, "use_parallel_residual", false);
  if (field(j, "kv_lora_rank")) {
    MlaConfig mla;
    mla.q_lora_rank = get_int({"q_lora_rank"}, 0, 0, kMaxHidden);
    mla.kv_lora_rank = get_int({"kv_lora_rank"}, std::nullopt, 1, kMaxHidden);
    mla.qk_nope_head_dim = get_int({"qk_nope_head_dim"}, std::nullopt, 0, kMaxHeadDim);
    mla.qk_rope_head_dim = get_int({"qk_rope_head_dim"}, std::nullopt, 0, kMaxHeadDim);
    mla.v_head_dim = get_int({"v_head_dim"}, std::nullopt, 1, kMaxHeadDim);
    // As in the deepseek-v3 preset: head_dim is the value-head width (hidden / heads means
    // nothing under MLA, e.g. 7168 / 128 = 56 for DeepSeek-V3).
    m.head_dim = mla.v_head_dim;
    m.mla = mla;
  }
  validate_model(m, file);
  return m;
}

}  // namespace

Model load_model(const std::string& name_or_path, const std::string& base_dir) {
  const std::string file = internal::resolve_preset("models", name_or_path, "model", base_dir);
  if (std::filesystem::path(file).extension() == ".json") {
    try {
      return parse_hf_config(file);
    } catch (const nlohmann::json::exception& e) {
      // Every field is read through the typed helpers above; this names any that was missed.
      throw InputError(file, "", fmt::format("a field has the wrong JSON type ({})", e.what()));
    }
  }
  return parse_yaml_model(file);
}

std::vector<PresetInfo> list_model_presets() {
  return internal::list_presets<PresetInfo>("models", [](const std::string& n) { return load_model(n).description; });
}

int moe_layers(const Model& m) {
  return m.is_moe() ? m.layers - m.moe->first_k_dense : 0;
}

ParamCount count_params(const Model& m) {
  ParamCount p;
  const double h = m.hidden;
  p.embedding = static_cast<double>(m.vocab) * h * (m.tied_embeddings ? 1 : 2);
  if (m.mla) {
    const auto& a = *m.mla;
    const double qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
    const double q =
        a.q_lora_rank > 0 ? h * a.q_lora_rank + static_cast<double>(a.q_lora_rank) * m.heads * qk : h * m.heads * qk;
    const double kv = h * (a.kv_lora_rank + a.qk_rope_head_dim) +
                      static_cast<double>(a.kv_lora_rank) * m.heads * (a.qk_nope_head_dim + a.v_head_dim);
    p.attention_per_layer = q + kv + static_cast<double>(m.heads) * a.v_head_dim * h;
  } else {
    p.attention_per_layer = h * m.head_dim * (2.0 * m.heads + 2.0 * m.kv_heads);
  }
  p.dense_mlp_per_layer = m.mlp_matrices() * h * m.ffn_hidden;
  const int n_moe = moe_layers(m);
  if (m.is_moe()) {
    const double expert = m.mlp_matrices() * h * m.moe->ffn_hidden;
    const double router = h * m.moe->experts;
    p.moe_mlp_per_layer = expert * (m.moe->experts + m.moe->shared_experts) + router;
    p.moe_active_per_layer = expert * (m.moe->topk + m.moe->shared_experts) + router;
  }
  const int n_dense = m.layers - n_moe;
  // An MTP module (DeepSeek-V3 Sec. 2.2): the 2h -> h projection M_k and one block of the kind of
  // the last layer; the embedding and the output head are shared with the main model.
  const bool mtp_moe = n_moe > 0;
  const double mtp_block = p.attention_per_layer + (mtp_moe ? p.moe_mlp_per_layer : p.dense_mlp_per_layer);
  const double mtp_block_active = p.attention_per_layer + (mtp_moe ? p.moe_active_per_layer : p.dense_mlp_per_layer);
  p.mtp_per_module = 2.0 * h * h + mtp_block;
  p.mtp_active_per_module = 2.0 * h * h + mtp_block_active;
  p.total = p.embedding + m.layers * p.attention_per_layer + n_dense * p.dense_mlp_per_layer +
            n_moe * p.moe_mlp_per_layer + m.mtp_depth * p.mtp_per_module;
  p.active = p.embedding + m.layers * p.attention_per_layer + n_dense * p.dense_mlp_per_layer +
             n_moe * p.moe_active_per_layer + m.mtp_depth * p.mtp_active_per_module;
  return p;
}

}  // namespace tahoma
