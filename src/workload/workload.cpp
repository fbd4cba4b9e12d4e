#include "tahoma/workload.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "internal/yaml_reader.h"
#include "tahoma/error.h"

namespace tahoma {

using internal::YamlMap;

namespace {

void check_model(const Model& m, const std::string& file) {
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

Model parse_yaml_model(const std::string& file) {
  YamlMap m(internal::load_yaml_file(file), file, "");
  m.declare({"name", "description", "source", "layers", "hidden", "heads", "kv_heads", "head_dim", "ffn_hidden",
             "vocab", "mlp", "tied_embeddings", "max_seq", "moe", "attention"});
  Model model;
  model.name = m.string("name");
  model.description = m.string("description", "");
  model.source = m.string("source", "");
  model.layers = m.integer("layers");
  model.hidden = m.integer("hidden");
  model.heads = m.integer("heads");
  model.kv_heads = m.integer("kv_heads", model.heads);
  if (!m.has("head_dim") && model.hidden % model.heads != 0) {
    throw m.error("heads", fmt::format("hidden {} is not divisible by {} heads; give head_dim explicitly", model.hidden,
                                       model.heads));
  }
  model.head_dim = m.integer("head_dim", model.hidden / model.heads);
  model.ffn_hidden = m.integer("ffn_hidden");
  model.vocab = m.integer("vocab");
  model.mlp = m.choice<MlpType>("mlp", {{"gated", MlpType::kGated}, {"plain", MlpType::kPlain}});
  model.tied_embeddings = m.boolean("tied_embeddings", false);
  model.max_seq = m.integer("max_seq", 0, 0);
  if (m.has("moe")) {
    YamlMap e = m.map("moe");
    e.declare({"experts", "topk", "ffn_hidden", "shared_experts", "first_k_dense", "capacity_factor"});
    MoeConfig moe;
    moe.experts = e.integer("experts");
    moe.topk = e.integer("topk");
    moe.ffn_hidden = e.integer("ffn_hidden");
    moe.shared_experts = e.integer("shared_experts", 0, 0);
    moe.first_k_dense = e.integer("first_k_dense", 0, 0);
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
      mla.q_lora_rank = a.integer("q_lora_rank", 0, 0);
      mla.kv_lora_rank = a.integer("kv_lora_rank");
      mla.qk_nope_head_dim = a.integer("qk_nope_head_dim");
      mla.qk_rope_head_dim = a.integer("qk_rope_head_dim");
      mla.v_head_dim = a.integer("v_head_dim");
      model.mla = mla;
    }
    model.sliding_window = a.integer("sliding_window", 0, 0);
    model.window_fraction = a.number("window_fraction", model.sliding_window > 0 ? 1.0 : 0.0, 0.0, 1.0);
    a.finish();
  }
  m.finish();
  check_model(model, file);
  return model;
}

// Which layers of a Hugging Face MoE config carry experts, as Tahoma's `first_k_dense`: the dense
// layers must be a contiguous block at the start. Qwen2/3-MoE mark dense layers with
// `mlp_only_layers` and make only every `decoder_sparse_step`-th layer sparse; DeepSeek-V2/V3 use
// `first_k_dense_replace` and `moe_layer_freq`.
int hf_first_k_dense(const nlohmann::json& j, const std::string& file, int layers) {
  auto step_of = [&](const char* key) { return j.contains(key) && j[key].is_number_integer() ? j[key].get<int>() : 1; };
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
  if (j.contains("first_k_dense_replace") && j["first_k_dense_replace"].is_number_integer()) {
    first_k = j["first_k_dense_replace"].get<int>();
    if (first_k < 0) throw InputError(file, "first_k_dense_replace", "must not be negative");
  }
  if (j.contains("mlp_only_layers") && !j["mlp_only_layers"].is_null()) {
    const auto& dense = j["mlp_only_layers"];
    if (!dense.is_array()) throw InputError(file, "mlp_only_layers", "expected an array of layer indices");
    std::vector<int> idx;
    for (const auto& v : dense) {
      if (!v.is_number_integer()) throw InputError(file, "mlp_only_layers", "expected an array of layer indices");
      idx.push_back(v.get<int>());
    }
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
void hf_sliding_window(const nlohmann::json& j, const std::string& file, Model& m) {
  if (j.contains("use_sliding_window") && j["use_sliding_window"].is_boolean() &&
      !j["use_sliding_window"].get<bool>()) {
    return;
  }
  int window = 0;
  if (j.contains("sliding_window") && !j["sliding_window"].is_null()) {
    if (!j["sliding_window"].is_number_integer() || j["sliding_window"].get<long long>() < 0) {
      throw InputError(file, "sliding_window", "expected a non-negative integer (tokens) or null");
    }
    window = static_cast<int>(std::min<long long>(j["sliding_window"].get<long long>(), 1LL << 30));
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
  std::ifstream in(file);
  if (!in) throw InputError(file, "", "cannot open file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(file, "", std::string("JSON syntax error: ") + e.what());
  }
  if (!j.is_object()) throw InputError(file, "", "expected a JSON object (a Hugging Face config.json)");
  auto get_int = [&](std::initializer_list<const char*> keys, std::optional<int> fallback) -> int {
    for (const char* k : keys) {
      if (j.contains(k) && j[k].is_number_integer()) {
        const int v = j[k].get<int>();
        if (v < 0) throw InputError(file, k, "must not be negative");
        return v;
      }
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
  m.layers = get_int({"num_hidden_layers", "n_layer"}, std::nullopt);
  m.hidden = get_int({"hidden_size", "n_embd", "d_model"}, std::nullopt);
  m.heads = get_int({"num_attention_heads", "n_head"}, std::nullopt);
  if (m.layers <= 0 || m.hidden <= 0 || m.heads <= 0)
    throw InputError(file, "num_hidden_layers/hidden_size/num_attention_heads", "must be positive");
  m.kv_heads = get_int({"num_key_value_heads"}, m.heads);
  if (m.kv_heads == 0) m.kv_heads = m.heads;
  if (!j.contains("head_dim") && m.hidden % m.heads != 0) {
    throw InputError(
        file, "num_attention_heads",
        fmt::format("hidden_size {} is not divisible by {} heads and head_dim is not given", m.hidden, m.heads));
  }
  m.head_dim = get_int({"head_dim"}, m.hidden / m.heads);
  m.ffn_hidden = get_int({"intermediate_size", "n_inner", "ffn_dim"}, 4 * m.hidden);
  m.vocab = get_int({"vocab_size"}, std::nullopt);
  m.max_seq = get_int({"max_position_embeddings", "n_positions"}, 0);
  m.tied_embeddings = j.value("tie_word_embeddings", false);
  const std::string act = j.value("hidden_act", j.value("activation_function", std::string("silu")));
  // SiLU/SwiGLU-style models gate the MLP; GPT-2/NeoX-style GELU MLPs have two matrices.
  const std::string type = j.value("model_type", std::string());
  const bool plain = type == "gpt2" || type == "gpt_neox" || type == "gptj" || type == "opt" || type == "nemotron" ||
                     act == "relu2" || act == "gelu_new";
  m.mlp = plain ? MlpType::kPlain : MlpType::kGated;
  const int experts = get_int({"num_local_experts", "n_routed_experts", "num_experts"}, 0);
  if (experts > 0) {
    MoeConfig moe;
    moe.experts = experts;
    moe.topk = get_int({"num_experts_per_tok", "experts_per_token", "moe_topk"}, 1);
    moe.ffn_hidden = get_int({"moe_intermediate_size"}, m.ffn_hidden);
    moe.shared_experts = get_int({"n_shared_experts"}, 0);
    if (j.contains("shared_expert_intermediate_size") && j["shared_expert_intermediate_size"].is_number_integer() &&
        moe.ffn_hidden > 0) {
      moe.shared_experts = j["shared_expert_intermediate_size"].get<int>() / moe.ffn_hidden;
    }
    moe.first_k_dense = hf_first_k_dense(j, file, m.layers);
    // With no dense layer, intermediate_size is either the expert width (Mixtral, gpt-oss) or
    // unused (Qwen2/3-MoE): ffn_hidden repeats the expert width, as in the presets.
    if (moe.first_k_dense == 0) m.ffn_hidden = moe.ffn_hidden;
    m.moe = moe;
  }
  hf_sliding_window(j, file, m);
  if (j.contains("kv_lora_rank") && j["kv_lora_rank"].is_number_integer()) {
    MlaConfig mla;
    mla.q_lora_rank = get_int({"q_lora_rank"}, 0);
    mla.kv_lora_rank = get_int({"kv_lora_rank"}, std::nullopt);
    mla.qk_nope_head_dim = get_int({"qk_nope_head_dim"}, std::nullopt);
    mla.qk_rope_head_dim = get_int({"qk_rope_head_dim"}, std::nullopt);
    mla.v_head_dim = get_int({"v_head_dim"}, std::nullopt);
    // As in the deepseek-v3 preset: head_dim is the value-head width (hidden / heads means
    // nothing under MLA, e.g. 7168 / 128 = 56 for DeepSeek-V3).
    m.head_dim = mla.v_head_dim;
    m.mla = mla;
  }
  check_model(m, file);
  return m;
}

}  // namespace

Model load_model(const std::string& name_or_path) {
  const std::string file = internal::resolve_preset("models", name_or_path, "model");
  if (std::filesystem::path(file).extension() == ".json") return parse_hf_config(file);
  return parse_yaml_model(file);
}

std::vector<PresetInfo> list_model_presets() {
  std::vector<PresetInfo> out;
  for (const auto& name : internal::preset_names("models")) {
    PresetInfo info{name, ""};
    try {
      info.description = load_model(name).description;
    } catch (const Error& e) {
      info.description = std::string("(invalid: ") + e.what() + ")";
    }
    out.push_back(info);
  }
  return out;
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
  p.total =
      p.embedding + m.layers * p.attention_per_layer + n_dense * p.dense_mlp_per_layer + n_moe * p.moe_mlp_per_layer;
  p.active =
      p.embedding + m.layers * p.attention_per_layer + n_dense * p.dense_mlp_per_layer + n_moe * p.moe_active_per_layer;
  return p;
}

}  // namespace tahoma
