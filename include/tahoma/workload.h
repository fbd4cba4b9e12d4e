// Workload model (docs/design.md section 4): transformer dimensions, from a preset in data/models/, a
// YAML path, or a Hugging Face config.json path.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tahoma/hw.h"

namespace tahoma {

enum class MlpType { kGated, kPlain };

struct MoeConfig {
  int experts = 0;
  int topk = 0;
  int ffn_hidden = 0;
  int shared_experts = 0;
  int first_k_dense = 0;
  double capacity_factor = 0.0;  // 0 = dropless
};

struct MlaConfig {
  int q_lora_rank = 0;  // 0 = no query compression
  int kv_lora_rank = 0;
  int qk_nope_head_dim = 0;
  int qk_rope_head_dim = 0;
  int v_head_dim = 0;
};

struct Model {
  std::string name;
  std::string description;
  std::string source;
  int layers = 0;
  int hidden = 0;
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  int ffn_hidden = 0;
  int vocab = 0;
  MlpType mlp = MlpType::kGated;
  bool tied_embeddings = false;
  int max_seq = 0;
  std::optional<MoeConfig> moe;
  std::optional<MlaConfig> mla;
  // Sliding-window attention: a fraction of the layers attend to the last `sliding_window` tokens
  // only (gpt-oss alternates windowed and full layers: fraction 0.5; Mistral 7B v0.1: all layers).
  int sliding_window = 0;        // tokens; 0 = every layer attends to the whole sequence
  double window_fraction = 0.0;  // share of the layers that use the window
  // Multi-token prediction (DeepSeek-V3 report, Sec. 2.2): `mtp_depth` sequential modules after the
  // main model, each an RMSNorm'd concatenation of the previous depth's hidden state and the next
  // token's embedding, a 2h -> h projection, one transformer block (the kind of the model's last
  // layer), and the shared embedding, output head and loss. 0 = none.
  int mtp_depth = 0;
  // Parallel attention and MLP (GPT-J; PaLM, Chowdhery et al. 2022, Sec. 2; GPT-NeoX
  // use_parallel_residual): y = x + attn(norm(x)) + mlp(norm(x)), one norm per layer, and with TP the
  // two row-parallel outputs summed before one reduction.
  bool parallel_block = false;

  [[nodiscard]] bool is_moe() const { return moe.has_value() && moe->experts > 0; }
  [[nodiscard]] int mlp_matrices() const { return mlp == MlpType::kGated ? 3 : 2; }
};

// Parameter counts (matrices only; norms and biases are < 0.1% and ignored).
struct ParamCount {
  double embedding = 0;  // input embedding (+ LM head if untied)
  double attention_per_layer = 0;
  double dense_mlp_per_layer = 0;
  double moe_mlp_per_layer = 0;     // all experts + shared + router
  double moe_active_per_layer = 0;  // top-k + shared + router
  double mtp_per_module = 0;        // one MTP module: projection + block (all experts); head and table shared
  double mtp_active_per_module = 0;  // the same with the block's active experts
  double total = 0;
  double active = 0;  // per token
};
ParamCount count_params(const Model& m);

// Number of layers that carry an MoE MLP.
int moe_layers(const Model& m);

// Limits on a model's dimensions (every loader enforces them, with the limit in the message): far
// beyond any published model, small enough that the step's work stays bounded and products of
// dimensions stay finite and exact.
inline constexpr int kMaxLayers = 10'000;
inline constexpr int kMaxHidden = 1 << 18;     // 262,144
inline constexpr int kMaxHeads = 1 << 14;      // 16,384
inline constexpr int kMaxHeadDim = 1 << 14;    // 16,384
inline constexpr int kMaxFfn = 1 << 20;        // 1,048,576
inline constexpr int kMaxVocab = 1 << 24;      // 16,777,216
inline constexpr int kMaxExperts = 1 << 16;    // 65,536
inline constexpr int kMaxSeq = 1 << 24;        // 16,777,216 tokens (also the longest training sequence)
inline constexpr int kMaxMtpDepth = 64;        // DeepSeek-V3 trains with 1

// Loads a preset name, a model YAML or a Hugging Face config.json. A relative path is read from
// `base_dir` (the directory of the file that names it) when given. Throws InputError naming the
// file and key for a field of the wrong type or outside its range.
Model load_model(const std::string& name_or_path, const std::string& base_dir = "");

// Checks that `m` can be a model (every dimension positive and within the limits above, kv_heads
// dividing heads, top-k within the experts, dense prefix shorter than the layers); `where` names
// the source in the InputError.
void validate_model(const Model& m, const std::string& where);
std::vector<PresetInfo> list_model_presets();

}  // namespace tahoma
