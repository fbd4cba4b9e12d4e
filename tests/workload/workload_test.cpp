// Model presets and loaders: parameter counts against the published sizes, Hugging Face
// config.json import (Llama, Mixtral, DeepSeek-V3, gpt-oss and Qwen3-MoE style), and the errors a
// bad file gives.
#include "tahoma/workload.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "../test_util.h"
#include "tahoma/error.h"

namespace tahoma {
namespace {

using testing::input_error;
using testing::TempDir;

double rel_err(double actual, double expected) {
  return std::abs(actual - expected) / expected;
}

TEST(ModelPresets, EveryPresetLoads) {
  std::set<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(testing::data_path("models"))) {
    if (entry.path().extension() == ".yaml") files.insert(entry.path().stem().string());
  }
  for (const char* name :
       {"gpt3-175b", "llama2-70b", "llama3-8b", "llama3.1-405b", "nemotron4-340b", "mixtral-8x7b", "deepseek-v3",
        "qwen3-30b-a3b", "qwen3-235b-a22b", "gpt-oss-120b", "gpt-oss-20b", "grok-1"}) {
    EXPECT_TRUE(files.count(name)) << name;
  }
  for (const auto& name : files) {
    SCOPED_TRACE(name);
    Model m;
    ASSERT_NO_THROW(m = load_model(name));
    EXPECT_EQ(m.name, name);
    EXPECT_GT(m.layers, 0);
    EXPECT_EQ(m.heads % m.kv_heads, 0);
    EXPECT_GT(m.head_dim, 0);
    const ParamCount pc = count_params(m);
    EXPECT_GT(pc.total, 1e8);
    EXPECT_LE(pc.active, pc.total);
    EXPECT_EQ(pc.active == pc.total, !m.is_moe());
  }
  const auto listed = list_model_presets();
  EXPECT_EQ(listed.size(), files.size());
  for (const auto& p : listed) EXPECT_EQ(p.description.find("(invalid"), std::string::npos) << p.name;
}

struct Published {
  const char* name;
  double total;
  double active;
};

TEST(ModelPresets, ParameterCountsMatchPublished) {
  // Brown et al. 2020; Llama 3 Herd 2024; Llama 2 HF checkpoint; DeepSeek-V3 report; Mixtral paper.
  const Published kPublished[] = {{"gpt3-175b", 175e9, 175e9},      {"llama3.1-405b", 405e9, 405e9},
                                  {"llama2-70b", 69e9, 69e9},       {"deepseek-v3", 671e9, 37e9},
                                  {"mixtral-8x7b", 46.7e9, 12.9e9}, {"llama3-8b", 8.03e9, 8.03e9},
                                  {"nemotron4-340b", 340e9, 340e9}};
  for (const auto& p : kPublished) {
    SCOPED_TRACE(p.name);
    const Model m = load_model(p.name);
    const ParamCount pc = count_params(m);
    // Published counts are of the main model: DeepSeek-V3's 671B / 37B exclude its MTP module.
    EXPECT_LT(rel_err(pc.total - m.mtp_depth * pc.mtp_per_module, p.total), 0.03) << pc.total;
    EXPECT_LT(rel_err(pc.active - m.mtp_depth * pc.mtp_active_per_module, p.active), 0.03) << pc.active;
  }
}

TEST(ModelPresets, MultiTokenPredictionAddsOneBlockAndAProjectionPerDepth) {
  // DeepSeek-V3 report Sec. 2.2; HF checkpoint 685B = 671B + 14B of MTP, of which 2 x 0.93B are
  // copies of the shared embedding and head (not counted again here): ~12.1B, with both 685B and
  // 671B rounded to the billion (+-1B on the difference) and norms not counted.
  Model m = load_model("deepseek-v3");
  EXPECT_EQ(m.mtp_depth, 1);
  const ParamCount one = count_params(m);
  EXPECT_LT(rel_err(one.mtp_per_module, 14e9 - 2 * 129280.0 * 7168), 0.08) << one.mtp_per_module;
  const double h = m.hidden;
  EXPECT_DOUBLE_EQ(one.mtp_per_module, 2 * h * h + one.attention_per_layer + one.moe_mlp_per_layer);
  m.mtp_depth = 3;
  const ParamCount three = count_params(m);
  EXPECT_DOUBLE_EQ(three.total - one.total, 2 * one.mtp_per_module);
  EXPECT_DOUBLE_EQ(three.active - one.active, 2 * one.mtp_active_per_module);
  m.mtp_depth = 0;
  EXPECT_DOUBLE_EQ(one.total - count_params(m).total, one.mtp_per_module);
}

TEST(ModelPresets, NegativeMtpDepthIsAnInputError) {
  TempDir dir;
  const std::string file = dir.write("m.yaml", "name: x\nlayers: 2\nhidden: 64\nheads: 4\nffn_hidden: 128\n"
                                               "vocab: 100\nmlp: gated\nmtp_depth: -1\n");
  try {
    load_model(file);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("mtp_depth"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("m.yaml"), std::string::npos) << e.what();
  }
}

TEST(HfConfig, ParallelBlockFlags) {
  TempDir dir;
  const std::string base = R"({"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
                              "vocab_size": 100, )";
  EXPECT_TRUE(load_model(dir.write("a/config.json", base + R"("model_type": "gpt_neox", "use_parallel_residual": true})")).parallel_block);
  EXPECT_FALSE(load_model(dir.write("b/config.json", base + R"("model_type": "gpt_neox", "use_parallel_residual": false})")).parallel_block);
  EXPECT_TRUE(load_model(dir.write("c/config.json", base + R"("model_type": "falcon", "parallel_attn": true})")).parallel_block);
  EXPECT_TRUE(load_model(dir.write("d/config.json", base + R"("model_type": "gptj"})")).parallel_block);
  EXPECT_FALSE(load_model(dir.write("e/config.json", base + R"("model_type": "llama"})")).parallel_block);
  EXPECT_EQ(load_model(dir.write("f/config.json", base + R"("model_type": "llama", "num_nextn_predict_layers": 2})")).mtp_depth, 2);
}

TEST(ModelPresets, RecentMoeParameterCountsMatchPublished) {
  // Qwen3 model cards (30.5B / 3.3B, 235B / 22B); gpt-oss model card Table 1 (116.83B / 5.13B,
  // 20.91B / 3.61B); Grok-1 README (314B; no active count published). The gpt-oss card counts
  // the active parameters without the input-embedding lookup (vocab * hidden), so that is taken
  // off Tahoma's active count (which has both embedding matrices) before comparing.
  struct Case {
    const char* name;
    double total;
    double active;  // 0 = not published
    bool active_without_input_embedding;
  };
  const Case kCases[] = {{"qwen3-30b-a3b", 30.5e9, 3.3e9, false},
                         {"qwen3-235b-a22b", 235e9, 22e9, false},
                         {"gpt-oss-120b", 116.83e9, 5.13e9, true},
                         {"gpt-oss-20b", 20.91e9, 3.61e9, true},
                         {"grok-1", 314e9, 0, false}};
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    const Model m = load_model(c.name);
    ASSERT_TRUE(m.is_moe());
    EXPECT_EQ(moe_layers(m), m.layers);  // every layer is MoE
    EXPECT_EQ(m.ffn_hidden, m.moe->ffn_hidden);
    EXPECT_EQ(m.moe->shared_experts, 0);
    const ParamCount pc = count_params(m);
    EXPECT_LT(rel_err(pc.total, c.total), 0.03) << pc.total;
    if (c.active > 0) {
      const double active =
          pc.active - (c.active_without_input_embedding ? static_cast<double>(m.vocab) * m.hidden : 0.0);
      EXPECT_LT(rel_err(active, c.active), 0.03) << active;
    }
  }
  // gpt-oss alternates 128-token windowed and full-attention layers; the others have no window.
  for (const char* name : {"gpt-oss-120b", "gpt-oss-20b"}) {
    const Model m = load_model(name);
    EXPECT_EQ(m.sliding_window, 128) << name;
    EXPECT_DOUBLE_EQ(m.window_fraction, 0.5) << name;
  }
  for (const char* name : {"qwen3-30b-a3b", "qwen3-235b-a22b", "grok-1"}) {
    const Model m = load_model(name);
    EXPECT_EQ(m.sliding_window, 0) << name;
    EXPECT_DOUBLE_EQ(m.window_fraction, 0.0) << name;
  }
  // Grok-1 ties the output head to the input embedding (model.py InOutEmbed.decode).
  EXPECT_TRUE(load_model("grok-1").tied_embeddings);
}

TEST(CountParams, ClosedFormDenseGqa) {
  Model m;
  m.layers = 2;
  m.hidden = 64;
  m.heads = 8;
  m.kv_heads = 2;
  m.head_dim = 16;
  m.ffn_hidden = 256;
  m.vocab = 1000;
  m.mlp = MlpType::kGated;
  m.tied_embeddings = false;
  const ParamCount pc = count_params(m);
  EXPECT_DOUBLE_EQ(pc.embedding, 2.0 * 1000 * 64);
  EXPECT_DOUBLE_EQ(pc.attention_per_layer, 64.0 * 16 * (2 * 8 + 2 * 2));  // q, o: h*a*d; k, v: h*a_kv*d
  EXPECT_DOUBLE_EQ(pc.dense_mlp_per_layer, 3.0 * 64 * 256);
  EXPECT_DOUBLE_EQ(pc.total, pc.embedding + 2 * (pc.attention_per_layer + pc.dense_mlp_per_layer));
  m.tied_embeddings = true;
  m.mlp = MlpType::kPlain;
  const ParamCount tied = count_params(m);
  EXPECT_DOUBLE_EQ(tied.embedding, 1000.0 * 64);
  EXPECT_DOUBLE_EQ(tied.dense_mlp_per_layer, 2.0 * 64 * 256);
}

TEST(CountParams, ClosedFormMoe) {
  Model m;
  m.layers = 4;
  m.hidden = 32;
  m.heads = 4;
  m.kv_heads = 4;
  m.head_dim = 8;
  m.ffn_hidden = 128;
  m.vocab = 100;
  m.moe = MoeConfig{8, 2, 64, 1, 1, 0.0};
  EXPECT_EQ(moe_layers(m), 3);
  const ParamCount pc = count_params(m);
  const double expert = 3.0 * 32 * 64;
  EXPECT_DOUBLE_EQ(pc.moe_mlp_per_layer, expert * (8 + 1) + 32.0 * 8);
  EXPECT_DOUBLE_EQ(pc.moe_active_per_layer, expert * (2 + 1) + 32.0 * 8);
  EXPECT_DOUBLE_EQ(pc.total - pc.active, 3 * expert * (8 - 2));
}

constexpr const char* kLlamaConfig = R"({
  "architectures": ["LlamaForCausalLM"],
  "hidden_act": "silu",
  "hidden_size": 4096,
  "intermediate_size": 14336,
  "max_position_embeddings": 8192,
  "model_type": "llama",
  "num_attention_heads": 32,
  "num_hidden_layers": 32,
  "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05,
  "rope_theta": 500000.0,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "vocab_size": 128256
})";

TEST(HfConfig, LlamaStyle) {
  TempDir dir;
  const std::string file = dir.write("Meta-Llama-3-8B/config.json", kLlamaConfig);
  const Model m = load_model(file);
  EXPECT_EQ(m.name, "Meta-Llama-3-8B");  // the directory name
  EXPECT_EQ(m.layers, 32);
  EXPECT_EQ(m.hidden, 4096);
  EXPECT_EQ(m.heads, 32);
  EXPECT_EQ(m.kv_heads, 8);
  EXPECT_EQ(m.head_dim, 128);
  EXPECT_EQ(m.ffn_hidden, 14336);
  EXPECT_EQ(m.vocab, 128256);
  EXPECT_EQ(m.max_seq, 8192);
  EXPECT_EQ(m.mlp, MlpType::kGated);
  EXPECT_FALSE(m.tied_embeddings);
  EXPECT_FALSE(m.is_moe());
  EXPECT_FALSE(m.mla.has_value());
  // Same numbers as the llama3-8b preset.
  EXPECT_DOUBLE_EQ(count_params(m).total, count_params(load_model("llama3-8b")).total);
}

constexpr const char* kMixtralConfig = R"({
  "architectures": ["MixtralForCausalLM"],
  "hidden_act": "silu",
  "hidden_size": 4096,
  "intermediate_size": 14336,
  "max_position_embeddings": 32768,
  "model_type": "mixtral",
  "num_attention_heads": 32,
  "num_experts_per_tok": 2,
  "num_hidden_layers": 32,
  "num_key_value_heads": 8,
  "num_local_experts": 8,
  "router_aux_loss_coef": 0.02,
  "tie_word_embeddings": false,
  "vocab_size": 32000
})";

TEST(HfConfig, MixtralStyle) {
  TempDir dir;
  const std::string file = dir.write("Mixtral-8x7B-v0.1/config.json", kMixtralConfig);
  const Model m = load_model(file);
  EXPECT_EQ(m.name, "Mixtral-8x7B-v0.1");
  ASSERT_TRUE(m.is_moe());
  EXPECT_EQ(m.moe->experts, 8);
  EXPECT_EQ(m.moe->topk, 2);
  EXPECT_EQ(m.moe->ffn_hidden, 14336);
  EXPECT_EQ(m.moe->shared_experts, 0);
  EXPECT_EQ(m.moe->first_k_dense, 0);
  EXPECT_EQ(moe_layers(m), 32);
  const ParamCount pc = count_params(m);
  EXPECT_LT(rel_err(pc.total, 46.7e9), 0.01);
  EXPECT_LT(rel_err(pc.active, 12.9e9), 0.01);
  EXPECT_DOUBLE_EQ(pc.total, count_params(load_model("mixtral-8x7b")).total);
}

TEST(HfConfig, Gpt2StyleIsPlainMlpWithDefaults) {
  TempDir dir;
  const std::string file = dir.write("gpt2/config.json",
                                     R"({"model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12,
                                         "n_positions": 1024, "vocab_size": 50257, "activation_function": "gelu_new"})");
  const Model m = load_model(file);
  EXPECT_EQ(m.mlp, MlpType::kPlain);
  EXPECT_EQ(m.ffn_hidden, 4 * 768);  // default 4h
  EXPECT_EQ(m.kv_heads, 12);         // default = heads
  EXPECT_EQ(m.head_dim, 64);
  EXPECT_EQ(m.max_seq, 1024);
}

TEST(HfConfig, MalformedJsonNamesFile) {
  TempDir dir;
  const std::string file = dir.write("broken/config.json", R"({"hidden_size": 4096,, })");
  const std::string msg = input_error([&] { (void)load_model(file); });
  EXPECT_CONTAINS(msg, "broken/config.json");
  EXPECT_CONTAINS(msg, "JSON syntax error");
}

TEST(HfConfig, MissingFieldNamesFileAndField) {
  TempDir dir;
  std::string text = kLlamaConfig;
  const std::string field = "\"vocab_size\": 128256";
  text.replace(text.find(field), field.size(), "\"unused\": 0");
  const std::string file = dir.write("novocab/config.json", text);
  const std::string msg = input_error([&] { (void)load_model(file); });
  EXPECT_CONTAINS(msg, "novocab/config.json");
  EXPECT_CONTAINS(msg, "vocab_size");
  EXPECT_CONTAINS(msg, "missing");

  const std::string no_layers = dir.write("nolayers/config.json", R"({"hidden_size": 64, "num_attention_heads": 4,
                                                                     "vocab_size": 10})");
  const std::string msg2 = input_error([&] { (void)load_model(no_layers); });
  EXPECT_CONTAINS(msg2, "nolayers/config.json");
  EXPECT_CONTAINS(msg2, "num_hidden_layers");
}

TEST(HfConfig, NotAnObjectOrNegative) {
  TempDir dir;
  EXPECT_CONTAINS(input_error([&] { (void)load_model(dir.write("arr/config.json", "[1, 2]")); }), "JSON object");
  const std::string neg = dir.write("neg/config.json", R"({"num_hidden_layers": -2, "hidden_size": 64,
                                                          "num_attention_heads": 4, "vocab_size": 10})");
  const std::string msg = input_error([&] { (void)load_model(neg); });
  EXPECT_CONTAINS(msg, "num_hidden_layers");
  EXPECT_CONTAINS(msg, "-2 is out of range (expected an integer from 1 to 10000");
}

// Every field the simulator reads is the same (names, descriptions and sources differ).
void expect_same_model(const Model& a, const Model& b) {
  EXPECT_EQ(a.layers, b.layers);
  EXPECT_EQ(a.hidden, b.hidden);
  EXPECT_EQ(a.heads, b.heads);
  EXPECT_EQ(a.kv_heads, b.kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.ffn_hidden, b.ffn_hidden);
  EXPECT_EQ(a.vocab, b.vocab);
  EXPECT_EQ(a.mlp, b.mlp);
  EXPECT_EQ(a.tied_embeddings, b.tied_embeddings);
  EXPECT_EQ(a.max_seq, b.max_seq);
  EXPECT_EQ(a.sliding_window, b.sliding_window);
  EXPECT_DOUBLE_EQ(a.window_fraction, b.window_fraction);
  EXPECT_EQ(a.mtp_depth, b.mtp_depth);
  EXPECT_EQ(a.parallel_block, b.parallel_block);
  ASSERT_EQ(a.moe.has_value(), b.moe.has_value());
  if (a.moe) {
    EXPECT_EQ(a.moe->experts, b.moe->experts);
    EXPECT_EQ(a.moe->topk, b.moe->topk);
    EXPECT_EQ(a.moe->ffn_hidden, b.moe->ffn_hidden);
    EXPECT_EQ(a.moe->shared_experts, b.moe->shared_experts);
    EXPECT_EQ(a.moe->first_k_dense, b.moe->first_k_dense);
    EXPECT_DOUBLE_EQ(a.moe->capacity_factor, b.moe->capacity_factor);
  }
  ASSERT_EQ(a.mla.has_value(), b.mla.has_value());
  if (a.mla) {
    EXPECT_EQ(a.mla->q_lora_rank, b.mla->q_lora_rank);
    EXPECT_EQ(a.mla->kv_lora_rank, b.mla->kv_lora_rank);
    EXPECT_EQ(a.mla->qk_nope_head_dim, b.mla->qk_nope_head_dim);
    EXPECT_EQ(a.mla->qk_rope_head_dim, b.mla->qk_rope_head_dim);
    EXPECT_EQ(a.mla->v_head_dim, b.mla->v_head_dim);
  }
  const ParamCount pa = count_params(a);
  const ParamCount pb = count_params(b);
  EXPECT_DOUBLE_EQ(pa.total, pb.total);
  EXPECT_DOUBLE_EQ(pa.active, pb.active);
}

// The published config.json copies under tests/workload/hf/ (see the README there).
std::string hf_fixture(const std::string& model) {
  return std::string(TAHOMA_SOURCE_DIR) + "/tests/workload/hf/" + model + "/config.json";
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `text` with the one occurrence of `from` replaced by `to`.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) text.replace(pos, from.size(), to);
  return text;
}

TEST(HfConfig, GptOssMatchesPresets) {
  for (const char* name : {"gpt-oss-120b", "gpt-oss-20b"}) {
    SCOPED_TRACE(name);
    const Model m = load_model(hf_fixture(name));
    EXPECT_EQ(m.name, name);  // the directory name
    ASSERT_TRUE(m.is_moe());
    EXPECT_EQ(m.moe->topk, 4);
    EXPECT_EQ(m.moe->ffn_hidden, 2880);
    EXPECT_EQ(m.head_dim, 64);
    EXPECT_EQ(m.mlp, MlpType::kGated);
    EXPECT_EQ(m.sliding_window, 128);
    EXPECT_DOUBLE_EQ(m.window_fraction, 0.5);  // layer_types alternates sliding and full
    expect_same_model(m, load_model(name));
  }
}

TEST(HfConfig, Qwen3MoeMatchesPresets) {
  for (const char* name : {"qwen3-30b-a3b", "qwen3-235b-a22b"}) {
    SCOPED_TRACE(name);
    const Model m = load_model(hf_fixture(name));
    EXPECT_EQ(m.name, name);
    ASSERT_TRUE(m.is_moe());
    EXPECT_EQ(m.moe->experts, 128);
    EXPECT_EQ(m.moe->topk, 8);
    EXPECT_EQ(m.moe->first_k_dense, 0);  // decoder_sparse_step 1, mlp_only_layers []
    // intermediate_size is unused when every layer is MoE: ffn_hidden repeats the expert width.
    EXPECT_EQ(m.ffn_hidden, m.moe->ffn_hidden);
    EXPECT_EQ(m.sliding_window, 0);  // use_sliding_window false
    expect_same_model(m, load_model(name));
  }
}

TEST(HfConfig, DeepSeekV3MatchesPreset) {
  TempDir dir;
  const std::string file = dir.write("DeepSeek-V3/config.json", R"({
    "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "hidden_act": "silu",
    "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048,
    "num_hidden_layers": 61, "num_attention_heads": 128, "num_key_value_heads": 128,
    "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8,
    "first_k_dense_replace": 3, "moe_layer_freq": 1, "q_lora_rank": 1536, "kv_lora_rank": 512,
    "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "vocab_size": 129280,
    "max_position_embeddings": 163840, "tie_word_embeddings": false, "num_nextn_predict_layers": 1})");
  const Model m = load_model(file);
  EXPECT_EQ(m.moe->first_k_dense, 3);
  EXPECT_EQ(m.ffn_hidden, 18432);  // the dense layers keep intermediate_size
  EXPECT_EQ(m.head_dim, 128);      // v_head_dim, not 7168 / 128
  expect_same_model(m, load_model("deepseek-v3"));
}

TEST(HfConfig, LayerTypesGiveWindowFraction) {
  TempDir dir;
  const std::string base = R"({"model_type": "test", "num_hidden_layers": 4, "hidden_size": 64,
                              "num_attention_heads": 4, "vocab_size": 100)";
  auto load = [&](const std::string& name, const std::string& extra) {
    return load_model(dir.write(name + "/config.json", base + extra + "}"));
  };
  Model m = load("three-of-four", R"(, "sliding_window": 512, "layer_types": ["sliding_attention",
      "sliding_attention", "sliding_attention", "full_attention"])");
  EXPECT_EQ(m.sliding_window, 512);
  EXPECT_DOUBLE_EQ(m.window_fraction, 0.75);

  m = load("all-full", R"(, "sliding_window": 512, "layer_types": ["full_attention", "full_attention",
      "full_attention", "full_attention"])");
  EXPECT_EQ(m.sliding_window, 0);
  EXPECT_DOUBLE_EQ(m.window_fraction, 0.0);

  // Mistral 7B v0.1: a window and no layer_types, so every layer is windowed.
  m = load("mistral", R"(, "sliding_window": 4096)");
  EXPECT_EQ(m.sliding_window, 4096);
  EXPECT_DOUBLE_EQ(m.window_fraction, 1.0);

  // Qwen2/3 ship a sliding_window they switch off; Mixtral ships a null one.
  m = load("qwen", R"(, "sliding_window": 4096, "use_sliding_window": false)");
  EXPECT_EQ(m.sliding_window, 0);
  EXPECT_DOUBLE_EQ(m.window_fraction, 0.0);
  m = load("mixtral", R"(, "sliding_window": null)");
  EXPECT_EQ(m.sliding_window, 0);

  std::string msg =
      input_error([&] { (void)load("short", R"(, "sliding_window": 8, "layer_types": ["full_attention"])"); });
  EXPECT_CONTAINS(msg, "short/config.json");
  EXPECT_CONTAINS(msg, "layer_types");
  EXPECT_CONTAINS(msg, "1 entries for 4 layers");

  msg = input_error([&] {
    (void)load("chunked", R"(, "sliding_window": 8, "layer_types": ["full_attention", "chunked_attention",
        "full_attention", "full_attention"])");
  });
  EXPECT_CONTAINS(msg, "layer_types");
  EXPECT_CONTAINS(msg, "chunked_attention");

  msg = input_error([&] {
    (void)load("nowindow", R"(, "layer_types": ["sliding_attention", "full_attention", "sliding_attention",
        "full_attention"])");
  });
  EXPECT_CONTAINS(msg, "nowindow/config.json");
  EXPECT_CONTAINS(msg, "sliding_window");
  EXPECT_CONTAINS(msg, "missing");
}

TEST(HfConfig, Qwen3MoeDenseLayers) {
  TempDir dir;
  const std::string text = read_text(hf_fixture("qwen3-30b-a3b"));

  // Only every 2nd layer sparse: not a leading block of dense layers.
  const std::string step2 =
      dir.write("step2/config.json", replaced(text, R"("decoder_sparse_step": 1)", R"("decoder_sparse_step": 2)"));
  std::string msg = input_error([&] { (void)load_model(step2); });
  EXPECT_CONTAINS(msg, "step2/config.json");
  EXPECT_CONTAINS(msg, "decoder_sparse_step");
  EXPECT_CONTAINS(msg, "first_k_dense");

  // Dense layers 0..k-1 (in any order) become first_k_dense = k.
  const Model m = load_model(
      dir.write("prefix/config.json", replaced(text, R"("mlp_only_layers": [])", R"("mlp_only_layers": [1, 0])")));
  EXPECT_EQ(m.moe->first_k_dense, 2);
  EXPECT_EQ(moe_layers(m), 46);
  EXPECT_EQ(m.ffn_hidden, 6144);  // the dense layers use intermediate_size
  EXPECT_EQ(m.moe->ffn_hidden, 768);

  // Dense layers elsewhere cannot be modelled.
  const std::string gap =
      dir.write("gap/config.json", replaced(text, R"("mlp_only_layers": [])", R"("mlp_only_layers": [0, 5])"));
  msg = input_error([&] { (void)load_model(gap); });
  EXPECT_CONTAINS(msg, "gap/config.json");
  EXPECT_CONTAINS(msg, "mlp_only_layers");
  EXPECT_CONTAINS(msg, "layer 5");
}

constexpr const char* kTinyModel =
    "name: tiny\n"
    "layers: 4\n"
    "hidden: 256\n"
    "heads: 8\n"
    "kv_heads: 2\n"
    "ffn_hidden: 1024\n"
    "vocab: 1000\n"
    "mlp: gated\n";

TEST(YamlModel, LoadsAndDefaults) {
  TempDir dir;
  const Model m = load_model(dir.write("tiny.yaml", kTinyModel));
  EXPECT_EQ(m.name, "tiny");
  EXPECT_EQ(m.head_dim, 32);  // default hidden / heads
  EXPECT_FALSE(m.tied_embeddings);
  EXPECT_EQ(m.mlp_matrices(), 3);
}

TEST(YamlModel, Errors) {
  TempDir dir;
  std::string msg =
      input_error([&] { (void)load_model(dir.write("typo.yaml", std::string(kTinyModel) + "kv_head: 2\n")); });
  EXPECT_CONTAINS(msg, "typo.yaml");
  EXPECT_CONTAINS(msg, "kv_head");
  EXPECT_CONTAINS(msg, "did you mean");

  std::string bad_kv = kTinyModel;
  bad_kv.replace(bad_kv.find("kv_heads: 2"), 11, "kv_heads: 3");
  msg = input_error([&] { (void)load_model(dir.write("kv.yaml", bad_kv)); });
  EXPECT_CONTAINS(msg, "kv_heads");

  msg = input_error([&] {
    (void)load_model(dir.write("moe.yaml", std::string(kTinyModel) + "moe: {experts: 4, topk: 8, ffn_hidden: 64}\n"));
  });
  EXPECT_CONTAINS(msg, "moe.topk");

  std::string bad_mlp = kTinyModel;
  bad_mlp.replace(bad_mlp.find("mlp: gated"), 10, "mlp: gatd");
  msg = input_error([&] { (void)load_model(dir.write("mlp.yaml", bad_mlp)); });
  EXPECT_CONTAINS(msg, "did you mean 'gated'");

  std::string odd_heads = kTinyModel;
  odd_heads.replace(odd_heads.find("kv_heads: 2"), 11, "kv_heads: 3");
  odd_heads.replace(odd_heads.find("\nheads: 8"), 9, "\nheads: 3");  // 256 is not divisible by 3
  msg = input_error([&] { (void)load_model(dir.write("heads.yaml", odd_heads)); });
  EXPECT_CONTAINS(msg, "not divisible by 3 heads");

  msg = input_error([] { (void)load_model("llama3-8"); });
  EXPECT_CONTAINS(msg, "did you mean");
}


// Issue 13: config.json fields of the wrong JSON type, values that cannot be a model and values
// beyond the limits are input errors naming the file and key; nothing is truncated or ignored.
TEST(HfConfigInput, WrongTypesAndImpossibleValues) {
  TempDir dir;
  const std::string base = R"("num_hidden_layers": 4, "hidden_size": 1024, "num_attention_heads": 8,
                               "vocab_size": 32000, "intermediate_size": 4096)";
  struct Case {
    const char* extra;
    const char* says;
  };
  int idx = 0;
  for (const Case& c : {Case{R"("hidden_act": 5)", "hidden_act: expected a string, got number 5"},
                        Case{R"("model_type": ["llama"])", "model_type: expected a string"},
                        Case{R"("tie_word_embeddings": "yes")", "tie_word_embeddings: expected true or false"},
                        Case{R"("head_dim": 0)", "head_dim: 0 is out of range"},
                        Case{R"("head_dim": "64")", "head_dim: expected an integer, got string"},
                        Case{R"("num_local_experts": 8, "num_experts_per_tok": 0)", "num_experts_per_tok: 0 is out of range"},
                        Case{R"("num_local_experts": 8, "num_experts_per_tok": 9)", "num_experts_per_tok: 9 is out of range (expected an integer from 1 to 8)"},
                        Case{R"("n_routed_experts": 8, "first_k_dense_replace": "1")", "first_k_dense_replace: expected an integer, got string"},
                        Case{R"("n_routed_experts": 8, "moe_layer_freq": "1")", "moe_layer_freq: expected an integer"},
                        Case{R"("kv_lora_rank": "256")", "kv_lora_rank: expected an integer"},
                        Case{R"("kv_lora_rank": 256, "qk_nope_head_dim": 64, "qk_rope_head_dim": 32, "v_head_dim": 0)", "v_head_dim: 0 is out of range"},
                        Case{R"("use_sliding_window": "no")", "use_sliding_window: expected true or false"}}) {
    const std::string file = dir.write("c" + std::to_string(idx++) + "/config.json", "{" + base + ", " + c.extra + "}");
    const std::string msg = input_error([&] { (void)load_model(file); });
    EXPECT_CONTAINS(msg, "config.json: ");
    EXPECT_CONTAINS(msg, c.says);
  }
  for (const auto& [field, says] :
       {std::pair{R"("hidden_size": 4294971392)", "hidden_size: 4294971392 is out of range"},
        std::pair{R"("hidden_size": "1024")", "hidden_size: expected an integer, got string"},
        std::pair{R"("intermediate_size": 0)", "intermediate_size: 0 is out of range"},
        std::pair{R"("intermediate_size": "4096")", "intermediate_size: expected an integer"},
        std::pair{R"("vocab_size": -1)", "vocab_size: -1 is out of range"},
        std::pair{R"("num_hidden_layers": 100000000)", "from 1 to 10000, Tahoma's limit on layers"},
        std::pair{R"("num_hidden_layers": 4.5)", "num_hidden_layers: expected an integer, got number 4.5"}}) {
    std::string text = "{" + base + "}";
    const std::string key = std::string(field).substr(0, std::string(field).find(':'));
    const auto at = text.find(key);
    text.replace(at, text.find_first_of(",}", at) - at, field);
    const std::string file = dir.write("r" + std::to_string(idx++) + "/config.json", text);
    EXPECT_CONTAINS(input_error([&] { (void)load_model(file); }), says);
  }
  // Integral floats and nulls are fine.
  const Model m = load_model(dir.write("ok/config.json", "{" + base + R"(, "head_dim": null, "max_position_embeddings": 4096.0})"));
  EXPECT_EQ(m.head_dim, 128);
  EXPECT_EQ(m.max_seq, 4096);
}

TEST(ModelYamlInput, ImpossibleModelsAndLimits) {
  TempDir dir;
  const std::string base = "name: m\nlayers: 4\nhidden: 1024\nheads: 8\nffn_hidden: 4096\nvocab: 32000\nmlp: gated\n";
  for (const auto& [from, to, says] :
       {std::tuple{"layers: 4", "layers: 100000000", "layers: 100000000 is out of range (expected a whole number from 1 to 10000)"},
        std::tuple{"ffn_hidden: 4096", "ffn_hidden: 0", "ffn_hidden: 0 is out of range"},
        std::tuple{"vocab: 32000", "vocab: -1", "vocab: -1 is out of range"},
        std::tuple{"hidden: 1024", "hidden: 4294971392", "hidden: 4294971392 is out of range"},
        std::tuple{"heads: 8", "heads: 8\nhead_dim: 0", "head_dim: 0 is out of range"},
        std::tuple{"mlp: gated", "mlp: [gated]", "mlp: expected one of: gated, plain, got a list"},
        std::tuple{"mlp: gated", "mlp: gated\nmoe: {experts: 8, topk: 0, ffn_hidden: 512}", "moe.topk: 0 is out of range"},
        std::tuple{"mlp: gated", "mlp: gated\nmoe: {experts: 8, topk: 9, ffn_hidden: 512}", "moe.topk: 9 is out of range (expected a whole number from 1 to 8)"},
        std::tuple{"mlp: gated", "mlp: gated\nattention: {type: mla, kv_lora_rank: 64, qk_nope_head_dim: 32, qk_rope_head_dim: 16, v_head_dim: 0}",
                   "attention.v_head_dim: 0 is out of range"}}) {
    std::string text = base;
    text.replace(text.find(from), std::string(from).size(), to);
    const std::string file = dir.write("m.yaml", text);
    const std::string msg = input_error([&] { (void)load_model(file); });
    EXPECT_CONTAINS(msg, "m.yaml:");
    EXPECT_CONTAINS(msg, says);
  }
  // validate_model guards models built in code (the validation CSV's rows).
  Model m = load_model(dir.write("ok.yaml", base));
  m.ffn_hidden = 0;
  EXPECT_CONTAINS(input_error([&] { validate_model(m, "row"); }), "row: ffn_hidden: 0 is out of range");
}

}  // namespace
}  // namespace tahoma
