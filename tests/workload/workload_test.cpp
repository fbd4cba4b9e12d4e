// Model presets and loaders: parameter counts against the published sizes, Hugging Face
// config.json import (Llama and Mixtral style), and the errors a bad file gives.
#include "tahoma/workload.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>

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
       {"gpt3-175b", "llama2-70b", "llama3-8b", "llama3.1-405b", "nemotron4-340b", "mixtral-8x7b", "deepseek-v3"}) {
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
    const ParamCount pc = count_params(load_model(p.name));
    EXPECT_LT(rel_err(pc.total, p.total), 0.03) << pc.total;
    EXPECT_LT(rel_err(pc.active, p.active), 0.03) << pc.active;
  }
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
  EXPECT_CONTAINS(msg, "negative");
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

}  // namespace
}  // namespace tahoma
