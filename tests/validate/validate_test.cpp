// `tahoma validate`: the CSV reader, the mapping of a row onto a scenario, the summary statistics,
// and the accuracy guard on the shipped data set (validation/published_runs.csv).
#include "tahoma/validate.h"

#include <fstream>
#include <iterator>

#include "tahoma/calibrate.h"
#include "tahoma/report.h"
#include "tahoma/serve.h"
#include "tahoma/serve_validate.h"
#include "tahoma/stack.h"
#include "../../src/validate/validate_rows.h"

#include <gtest/gtest.h>

#include <map>

#include <cmath>

#include "../test_util.h"

namespace tahoma {
namespace {

using testing::input_error;
using testing::TempDir;

const char* kHeader =
    "id,system,system_overrides,chips,ranks_per_chip,model_name,arch,layers,hidden,heads,kv_heads,head_dim,"
    "ffn_hidden,vocab,seq_len,global_batch,micro_batch,tp,pp,vpp,dp,cp,zero,recompute,precision,"
    "measured_tokens_per_s_per_chip,simulable,mlp_type,arch_overrides,notes\n";

// Issue 3's accuracy target on the dense rows of the shipped set: a MAPE of at most 10%. (Its other
// targets, every family under 15% and no row over 30%, are not met yet; see docs/validation.md.)
constexpr double kMapeGuardPct = 10.0;
constexpr double kMinSimulatedFraction = 0.95;
// Issue 14's targets over every row, MoE included, are 8% in-sample and 10% leave-one-source-out;
// they are not met yet (the Megatron-Bridge 26.02 MoE rows are over-predicted by 48-80%,
// docs/validation.md). Until they are, these guard the errors from regressing past their current
// values (10.6% in-sample, 12.3% cross-validated on 2026-12-04) with a little room.
constexpr double kAllRowsMapeGuardPct = 11.2;
constexpr double kCrossValidatedMapeGuardPct = 13.0;

TEST(Csv, QuotedFieldsAndEscapes) {
  TempDir dir;
  const std::string path = dir.write("t.csv",
                                     "id,system,chips,simulable,measured_tokens_per_s_per_chip,notes\n"
                                     "a,dgx-h100,8,no,1,\"x, \"\"quoted\"\", y\"\n");
  const CsvTable t = read_csv(path);
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0].at("notes"), "x, \"quoted\", y");
  EXPECT_EQ(t.lines[0], 2);
}

TEST(Csv, Errors) {
  TempDir dir;
  std::string msg = input_error([&] { (void)read_csv(dir.write("short.csv", std::string(kHeader) + "a,b\n")); });
  EXPECT_CONTAINS(msg, "short.csv:2");
  EXPECT_CONTAINS(msg, "fields");
  msg = input_error([&] { (void)read_csv(dir.write("cols.csv", "id,system\nx,y\n")); });
  EXPECT_CONTAINS(msg, "missing column");
  msg = input_error([&] { (void)read_csv(dir.write("q.csv", std::string(kHeader) + "\"open\n")); });
  EXPECT_CONTAINS(msg, "unterminated");
}

std::string row(const std::string& id, const std::string& overrides, const std::string& layout) {
  // Llama-3-8B-like dense model on 8 H100s.
  return id + ",dgx-h100," + overrides + ",8,1,m,dense,32,4096,32,8,128,14336,128256,8192,64," + layout +
         ",bf16,5000,yes,gated,,\n";
}

TEST(Validate, RowBecomesItsScenario) {
  TempDir dir;
  const std::string path =
      dir.write("r.csv", std::string(kHeader) + row("r1", "hbm_capacity=96GB;tdp=500W", "1,1,1,,8,1,3,selective"));
  const ValidationReport rep = validate_file(path);
  ASSERT_EQ(rep.rows.size(), 1u);
  const ValidationRow& r = rep.rows[0];
  ASSERT_TRUE(r.simulated) << r.skip_reason;
  EXPECT_EQ(r.family, "NVIDIA Hopper");
  EXPECT_DOUBLE_EQ(r.scenario->system.chip.hbm_capacity.value(), 96e9);
  EXPECT_DOUBLE_EQ(r.scenario->system.chip.power_limit.value(), 500.0);
  EXPECT_EQ(r.scenario->plan.zero, 3);
  EXPECT_EQ(r.scenario->plan.recompute, Recompute::kSelective);
  EXPECT_EQ(r.scenario->model.kv_heads, 8);
  for (const auto& a : r.assumptions) {  // the row fixes its layout: only the stack and its defaults are assumed
    EXPECT_TRUE(a.field == "stack" || a.rule.rfind("stack ", 0) == 0) << a.field << ": " << a.rule;
  }
  EXPECT_NEAR(r.error_pct, (r.predicted - 5000.0) / 5000.0 * 100.0, 1e-9);
  EXPECT_EQ(rep.summary.simulated, 1);
  EXPECT_NEAR(rep.summary.mape_pct, std::abs(r.error_pct), 1e-9);
}

TEST(Validate, UnpublishedSettingsAreSearchedAndSaid) {
  TempDir dir;
  const std::string path = dir.write("u.csv", std::string(kHeader) + row("u1", "", ",1,1,,8,1,,"));
  const ValidationRow r = validate_file(path).rows.at(0);
  ASSERT_TRUE(r.simulated) << r.skip_reason;
  std::string said;
  for (const auto& a : r.assumptions) said += a.field + "=" + a.used + "|";
  EXPECT_CONTAINS(said, "micro_batch=");
  EXPECT_CONTAINS(said, "recompute=");
  EXPECT_CONTAINS(said, "zero=");
  EXPECT_TRUE(r.fits);
}

// The pp_schedule column is read through the schedule registry (tahoma/schedule.h): a schedule the
// engine plays is simulated with it, an unknown name is a malformed cell.
TEST(Validate, PipelineScheduleColumnUsesTheRegistry) {
  TempDir dir;
  std::string header = kHeader;
  header.insert(header.size() - 1, ",pp_schedule");
  auto with_schedule = [](std::string r, const std::string& schedule) {
    r.insert(r.size() - 1, "," + schedule);
    return r;
  };
  const std::string path =
      dir.write("s.csv", header + with_schedule(row("z1", "", "1,1,2,,4,1,1,selective"), "zero-bubble") +
                             with_schedule(row("o1", "", "1,1,2,,4,1,1,selective"), "1f1b"));
  const ValidationReport rep = validate_file(path);
  ASSERT_EQ(rep.rows.size(), 2u);
  ASSERT_TRUE(rep.rows[0].simulated) << rep.rows[0].skip_reason;
  ASSERT_TRUE(rep.rows[1].simulated) << rep.rows[1].skip_reason;
  EXPECT_EQ(rep.rows[0].scenario->plan.pp_schedule, PipelineSchedule::kZeroBubble);
  EXPECT_GE(rep.rows[0].predicted, rep.rows[1].predicted);  // the smaller bubble is never slower
  const std::string bad = dir.write("b.csv", header + with_schedule(row("b1", "", "1,1,2,,4,1,1,selective"), "2f2b"));
  EXPECT_CONTAINS(input_error([&] { (void)validate_file(bad); }), "pp_schedule");
}

// Issue 14 item 3: unpublished settings are searched, not taken in a preference order. With the
// closed form (which also ranks), no setting the row leaves open that fits is faster than the one
// chosen: every ZeRO stage, every micro-batch dividing the per-replica batch, every recompute.
TEST(Validate, UnpublishedSettingsAreTheFastestThatFit) {
  TempDir dir;
  const std::string path = dir.write("f.csv", std::string(kHeader) + row("f1", "", ",1,1,,8,1,,"));
  ValidationFilter f;
  f.engine = StepEngine::kClosedForm;
  const ValidationRow r = validate_file(path, f).rows.at(0);
  ASSERT_TRUE(r.simulated) << r.skip_reason;
  ASSERT_TRUE(r.fits);
  StepOptions o;
  o.engine = StepEngine::kClosedForm;
  int fitting = 0;
  for (int z = 0; z <= 3; ++z) {
    for (int mb : {1, 2, 4, 8}) {
      for (Recompute rc : {Recompute::kNone, Recompute::kSelective, Recompute::kFull}) {
        Scenario alt = *r.scenario;
        alt.plan.zero = z;
        alt.plan.micro_batch = mb;
        alt.plan.recompute = rc;
        alt.plan.recompute_num_layers = 0;
        const StepResult res = simulate_step(alt, o);
        if (!res.memory.fits) continue;
        ++fitting;
        EXPECT_LE(res.tokens_per_s_per_chip, r.predicted * (1 + 1e-9))
            << "zero " << z << " mb " << mb << " recompute " << to_string(rc) << " is faster than the chosen zero "
            << r.scenario->plan.zero << " mb " << r.scenario->plan.micro_batch;
      }
    }
  }
  EXPECT_GT(fitting, 1);
}

// Megatron-Bridge's performance scripts reduce gradients in bf16 and overlap TP communication with
// the GEMMs, except in NVFP4 runs (tp_comm_overlap = False if precision == "nvfp4").
TEST(Validate, FrameworkRecipesOverlapTpExceptInNvfp4) {
  TempDir dir;
  auto line = [](const std::string& id, const std::string& precision) {
    return id + ",gb200-nvl72,,8,1,m,dense,32,4096,32,8,128,14336,128256,8192,64,1,2,1,,4,1,1,selective," + precision +
           ",5000,yes,gated,,,megatron-bridge\n";  // the stack comes from the framework column, not notes
  };
  const std::string header = std::string(kHeader).substr(0, std::string(kHeader).size() - 1) + ",framework\n";
  const ValidationReport rep = validate_file(dir.write("f.csv", header + line("fp8", "fp8") + line("fp4", "fp4")));
  ASSERT_EQ(rep.rows.size(), 2u);
  ASSERT_TRUE(rep.rows[0].simulated && rep.rows[1].simulated);
  EXPECT_TRUE(rep.rows[0].scenario->plan.tp_comm_overlap);
  EXPECT_FALSE(rep.rows[1].scenario->plan.tp_comm_overlap);
  EXPECT_FALSE(rep.rows[1].scenario->plan.grad_reduce_fp32);
}

// MaxText's Trillium recipes (the maxtext-trillium-recipes stack, chosen by framework maxtext on
// tpu-v6e) run full recompute with checkpoints in host DRAM: the row gets offloading and fits in a
// v6e's 32 GB, as the published run did.
TEST(Validate, HostOffloadRecipesOffloadTheCheckpoints) {
  TempDir dir;
  const std::string row =
      "offload,tpu-v6e,,256,1,m,dense,32,4096,32,8,128,14336,128256,8192,1024,4,1,1,,256,1,3,selective,bf16,"
      "7207,yes,gated,,,maxtext\n";
  const std::string header = std::string(kHeader).substr(0, std::string(kHeader).size() - 1) + ",framework\n";
  const ValidationReport rep = validate_file(dir.write("f.csv", header + row));
  ASSERT_EQ(rep.rows.size(), 1u);
  ASSERT_TRUE(rep.rows[0].simulated);
  EXPECT_TRUE(rep.rows[0].scenario->plan.offload_activations);
  EXPECT_EQ(rep.rows[0].scenario->plan.recompute, Recompute::kFull);
  EXPECT_TRUE(rep.rows[0].result->memory.fits);
  EXPECT_GT(rep.rows[0].result->memory.host_offload.value(), 0.0);
}

TEST(Validate, SkipsWhatItCannotSimulateWithAReason) {
  TempDir dir;
  std::string csv = std::string(kHeader) + row("ok", "", "1,1,1,,8,1,1,selective");
  std::string no = row("no", "", "1,1,1,,8,1,1,selective");
  no.replace(no.find(",yes,"), 5, ",no,");
  std::string bad_tp = row("badtp", "", "3,1,1,,,1,1,selective");
  csv += no + bad_tp;
  const ValidationReport rep = validate_file(dir.write("s.csv", csv));
  ASSERT_EQ(rep.rows.size(), 3u);
  EXPECT_TRUE(rep.rows[0].simulated);
  EXPECT_FALSE(rep.rows[1].simulated);
  EXPECT_CONTAINS(rep.rows[1].skip_reason, "simulable=no");
  EXPECT_FALSE(rep.rows[2].simulated);
  EXPECT_CONTAINS(rep.rows[2].skip_reason, "dp*micro_batch");  // names the rule, not just the row
  EXPECT_EQ(rep.summary.skipped, 2);
}

TEST(Validate, FiltersAndBadOverrides) {
  TempDir dir;
  const std::string path = dir.write(
      "f.csv", std::string(kHeader) + row("a", "", "1,1,1,,8,1,1,selective") + row("b", "", "2,1,1,,4,1,1,selective"));
  ValidationFilter only;
  only.only = "b";
  EXPECT_EQ(validate_file(path, only).rows.size(), 1u);
  only.only = "zzz";
  EXPECT_CONTAINS(input_error([&] { (void)validate_file(path, only); }), "no row has id 'zzz'");
  ValidationFilter fam;
  fam.family = "hopper";
  EXPECT_EQ(validate_file(path, fam).rows.size(), 2u);
  fam.family = "TPU";
  EXPECT_TRUE(validate_file(path, fam).rows.empty());

  // An unknown override is a malformed row: exit 2 naming file, line and column, not a skip.
  const std::string bad = dir.write("o.csv", std::string(kHeader) + row("o", "warp_drive=9", "1,1,1,,8,1,1,selective"));
  const std::string msg = input_error([&] { (void)validate_file(bad); });
  EXPECT_CONTAINS(msg, "o.csv:2 (o): system_overrides");
  EXPECT_CONTAINS(msg, "unknown override 'warp_drive'");
}

// The guard CI runs: the shipped set keeps its accuracy and its coverage.
TEST(ShippedSet, AccuracyDoesNotRegress) {
  const std::string path = testing::data_path("../validation/published_runs.csv");
  const CsvTable table = read_csv(path);
  int dense_simulable = 0;
  for (const auto& r : table.rows) {
    if (r.at("simulable") == "yes" && r.at("arch") == "dense") ++dense_simulable;
  }
  const ValidationReport rep = validate_file(path);
  std::map<std::string, std::string> arch;
  int simulable = 0;
  for (const auto& r : table.rows) {
    arch[r.at("id")] = r.at("arch");
    if (r.at("simulable") == "yes") ++simulable;
  }
  int dense_simulated = 0, simulated = 0;
  double dense_abs = 0;
  for (const auto& r : rep.rows) {
    if (!r.simulated) continue;
    ++simulated;
    if (arch[r.id] == "dense") {
      ++dense_simulated;
      dense_abs += std::abs(r.error_pct);
    }
  }
  EXPECT_GE(dense_simulated, kMinSimulatedFraction * dense_simulable);
  EXPECT_LE(dense_abs / dense_simulated, kMapeGuardPct) << "dense validation error regressed; see docs/validation.md";
  // Every simulable row, MoE included: coverage (issue 6: >= 95%) and the all-rows error.
  EXPECT_GE(simulated, 0.95 * simulable);
  EXPECT_LE(rep.summary.mape_pct, kAllRowsMapeGuardPct) << "validation error regressed; see docs/validation.md";
  EXPECT_GT(rep.summary.mape_pct, 0.0);
}

// The error to expect on runs Tahoma was never tuned on: leave-one-source-out (Release only: it
// re-derives the calibrated constants once per source).
TEST(ShippedSet, CrossValidatedAccuracyDoesNotRegress) {
#ifdef TAHOMA_SANITIZED
  GTEST_SKIP() << "cross-validation re-simulates the data set dozens of times; Release builds only";
#endif
  const std::string path = testing::data_path("../validation/published_runs.csv");
  ValidationReport rep = validate_file(path);
  cross_validate(path, rep);
  ASSERT_TRUE(rep.summary.cv_mape_pct.has_value());
  EXPECT_LE(*rep.summary.cv_mape_pct, kCrossValidatedMapeGuardPct) << "cross-validated error regressed";
  // Out of sample is never better than in sample on average by more than noise: the constants
  // were fitted with the held-out rows in the in-sample case.
  EXPECT_GE(*rep.summary.cv_mape_pct, rep.summary.mape_pct - 0.5);
}


// Issue 13: a malformed row (a cell not of its column's type or range) is an input error naming
// file, line and column; a well-formed row that cannot be simulated is skipped with its reason.
TEST(ValidateInput, MalformedRowsAreErrorsNotSkips) {
  TempDir dir;
  const std::string good = row("r", "", "1,1,1,,8,1,1,selective");
  struct Case {
    std::string from, to;
    const char* says;
  };
  int idx = 0;
  for (const Case& c : {Case{",8,1,m,", ",1e20,1,m,", "chips: '1e20' is out of range (column chips"},
                        Case{",8192,64,", ",2147483648,64,", "seq_len: '2147483648' is out of range"},
                        Case{",4096,32,", ",4096.5,32,", "hidden: '4096.5' is not a non-negative integer (column hidden)"},
                        Case{",4096,32,", ",inf,32,", "hidden: 'inf' is not a non-negative integer"},
                        Case{",5000,yes,", ",inf,yes,", "measured_tokens_per_s_per_chip: 'inf' is not a non-negative finite"},
                        Case{",5000,yes,", ",0,yes,", "measured_tokens_per_s_per_chip: missing or zero"},
                        Case{",5000,yes,", ",5000,maybe,", "simulable: 'maybe' is not yes or no"},
                        Case{"r,dgx-h100,", "r,dgx-h1000,", "system: system: 'dgx-h1000' is neither"},
                        Case{"r,dgx-h100,,", "r,dgx-h100,tdp=0.001W,", "system_overrides:"},
                        Case{",32,8,128,", ",32,7,128,", "heads 32 is not a multiple of kv_heads 7"},
                        Case{",32,4096,", ",100000000,4096,", "layers: 100000000 is out of range"}}) {
    std::string text = good;
    const auto at = text.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    text.replace(at, c.from.size(), c.to);
    std::string name = "m";  // built in steps: GCC 12's -Wrestrict misfires on "m" + to_string(...)
    name += std::to_string(idx++);
    name += ".csv";
    const std::string file = dir.write(name, std::string(kHeader) + text);
    const std::string msg = input_error([&] { (void)validate_file(file); });
    EXPECT_CONTAINS(msg, ".csv:2 (r): ");
    EXPECT_CONTAINS(msg, c.says);
  }
}

TEST(ValidateInput, SkippedRowsSayWhy) {
  TempDir dir;
  std::string huge = row("huge", "", "1,1,1,,8,1,1,selective");
  huge.replace(huge.find(",8192,64,"), 9, ",100000000,64,");
  const ValidationReport rep = validate_file(dir.write("s.csv", std::string(kHeader) + huge));
  ASSERT_EQ(rep.rows.size(), 1u);
  EXPECT_FALSE(rep.rows[0].simulated);
  EXPECT_CONTAINS(rep.rows[0].skip_reason, "seq: 100000000 is out of range (expected 1 to 16777216 tokens");
}

TEST(ValidateInput, ByteOrderMarkIsIgnored) {
  TempDir dir;
  const std::string path = dir.write("bom.csv", "\xEF\xBB\xBF" + std::string(kHeader) + row("b", "", "1,1,1,,8,1,1,selective"));
  const CsvTable t = read_csv(path);
  EXPECT_EQ(t.header.at(0), "id");
  const ValidationReport rep = validate_file(path);
  ASSERT_EQ(rep.rows.size(), 1u);
  EXPECT_EQ(rep.rows[0].id, "b");
  EXPECT_TRUE(rep.rows[0].simulated) << rep.rows[0].skip_reason;
}

}  // namespace
}  // namespace tahoma

namespace tahoma {
namespace {

// docs/validation.md is generated by the tool; a model change that moves the numbers must
// regenerate it (the command is in the file's first lines).
TEST(ShippedSet, GeneratedReportIsCurrent) {
#ifdef TAHOMA_SANITIZED
  GTEST_SKIP() << "cross-validation re-simulates the data set dozens of times; Release builds only";
#endif
  const std::string root = TAHOMA_SOURCE_DIR;
  const std::string command = "tahoma validate validation/published_runs.csv --cv source --format markdown";
  ValidationReport rep = validate_file(root + "/validation/published_runs.csv");
  cross_validate(root + "/validation/published_runs.csv", rep);
  // The report names the file as given on the command line.
  ValidationReport relative = rep;
  relative.file = "validation/published_runs.csv";
  std::ifstream in(root + "/docs/validation.md");
  ASSERT_TRUE(in) << "docs/validation.md is missing";
  const std::string committed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(validation_markdown(relative, command), committed)
      << "docs/validation.md is stale: run `build/bin/" << command << " -o docs/validation.md`";
}

}  // namespace
}  // namespace tahoma

namespace tahoma {
namespace {

// Issue 14: the stack comes from the framework columns and no rule reads `notes`, `source` or
// `derivation`: changing their text changes nothing; changing `framework` does.
const char* kStackHeader =
    "id,system,chips,model_name,arch,layers,hidden,heads,kv_heads,head_dim,ffn_hidden,vocab,seq_len,global_batch,"
    "micro_batch,tp,pp,zero,recompute,precision,measured_tokens_per_s_per_chip,simulable,source,derivation,notes,"
    "framework,framework_version\n";

std::string stack_row(const std::string& source, const std::string& notes, const std::string& framework,
                      const std::string& version) {
  return "s1,dgx-h100,16,m,dense,32,4096,32,8,128,14336,128256,4096,64,1,8,1,1,selective,bf16,5000,yes," + source +
         ",remat offload," + notes + "," + framework + "," + version + "\n";
}

TEST(ValidateStack, NotesSourceAndDerivationDoNotChangeThePrediction) {
  testing::TempDir dir;
  const auto predict = [&](const std::string& r) {
    const ValidationRow v = validate_file(dir.write("s.csv", std::string(kStackHeader) + r)).rows.at(0);
    EXPECT_TRUE(v.simulated) << v.skip_reason;
    return v.predicted;
  };
  const double plain = predict(stack_row("Someone 2024", "", "megatron-bridge", "26.02"));
  EXPECT_DOUBLE_EQ(predict(stack_row("Narayanan et al. 2021", "framework='NeMo 2' host offload", "megatron-bridge",
                                     "26.02")),
                   plain);
  EXPECT_NE(predict(stack_row("Someone 2024", "", "megatron-lm", "2021")), plain);
}

TEST(ValidateStack, AssumptionsAreTyped) {
  testing::TempDir dir;
  const ValidationRow v =
      validate_file(dir.write("s.csv", std::string(kStackHeader) + stack_row("x", "", "megatron-bridge", "26.02")))
          .rows.at(0);
  ASSERT_TRUE(v.simulated) << v.skip_reason;
  EXPECT_EQ(v.stack, "megatron-bridge-26.02");
  bool saw_stack = false, saw_grad = false;
  for (const auto& a : v.assumptions) {
    if (a.field == "stack") {
      saw_stack = true;
      EXPECT_EQ(a.published, "megatron-bridge 26.02");
      EXPECT_EQ(a.used, "megatron-bridge-26.02");
      EXPECT_CONTAINS(a.rule, "frameworks.yaml");
    }
    if (a.field == "grad_reduce_dtype") {
      saw_grad = true;
      EXPECT_EQ(a.published, "");
      EXPECT_EQ(a.used, "bf16");
    }
  }
  EXPECT_TRUE(saw_stack);
  EXPECT_TRUE(saw_grad);
}

// Serving files (validation/README.md, "Inference"): a row becomes a serving run; text columns
// (notes, source, derivation, dataset) never change a prediction; bad cells name the column.
const char* kServingHeader =
    "id,system,system_overrides,chips,ranks_per_chip,model_name,arch,layers,hidden,heads,kv_heads,head_dim,"
    "ffn_hidden,vocab,moe_experts,moe_topk,moe_ffn_hidden,moe_shared_experts,tp,pp,ep,precision,scenario,"
    "concurrency,input_len,output_len,measured_output_tokens_per_s_total,measured_output_tokens_per_s_per_chip,"
    "measured_ttft_ms,measured_tpot_ms,derivation,simulable,source,notes,mlp_type,arch_overrides,ttft_limit_ms,"
    "tpot_limit_ms,target_qps,dataset,mean_input_len,mean_output_len,kv_cache_dtype,framework,speculative\n";

std::string serving_row(const std::string& id, const std::string& scenario, const std::string& concurrency,
                        const std::string& notes, const std::string& tp = "1") {
  return id + ",dgx-h100,,1,1,Llama 3.1 8B,dense,32,4096,32,8,128,14336,128256,,,,," + tp + ",1,,fp8," + scenario +
         "," + concurrency + ",1000,1000,10000,10000,120,8,d,yes,s," + notes + ",gated,,,,,random,,,,tensorrt-llm,none\n";
}

TEST(ValidateServing, RowsBecomeServingRunsAndTextNeverMatters) {
  TempDir dir;
  const std::string a = dir.write("a.csv", std::string(kServingHeader) + serving_row("off", "offline_max_throughput", "", "n1") +
                                               serving_row("cl", "fixed_concurrency", "8", "n1"));
  const std::string b = dir.write("b.csv", std::string(kServingHeader) + serving_row("off", "offline_max_throughput", "", "other words") +
                                               serving_row("cl", "fixed_concurrency", "8", "tp=8 fp4 whatever"));
  EXPECT_TRUE(is_serving_csv(read_csv(a)));
  const auto ra = validate_serving_file(a), rb = validate_serving_file(b);
  ASSERT_EQ(ra.rows.size(), 2u);
  for (size_t idx = 0; idx < 2; ++idx) {
    ASSERT_TRUE(ra.rows[idx].simulated) << ra.rows[idx].skip_reason;
    EXPECT_EQ(ra.rows[idx].stack, "tensorrt-llm");
    EXPECT_GT(ra.rows[idx].predicted_tokens_per_s_per_chip, 0);
    EXPECT_DOUBLE_EQ(ra.rows[idx].predicted_tokens_per_s_per_chip, rb.rows[idx].predicted_tokens_per_s_per_chip);
  }
  // Offline (all requests at once) outruns a closed loop of 8 clients; only the closed loop has latencies to compare.
  EXPECT_GT(ra.rows[0].predicted_tokens_per_s_per_chip, ra.rows[1].predicted_tokens_per_s_per_chip);
  EXPECT_EQ(ra.summary.simulated, 2);
  EXPECT_EQ(ra.summary.ttft_rows, 2);
  const auto j = serving_validation_json(ra);
  for (const char* key : {"throughput_mape_pct", "ttft_mape_pct", "tpot_mape_pct", "simulated"}) {
    EXPECT_TRUE(j["summary"].contains(key)) << key;
  }
  // Every assumption is typed.
  for (const auto& row : j["rows"]) {
    for (const auto& as : row["assumptions"]) {
      for (const char* key : {"field", "published", "used", "rule"}) EXPECT_TRUE(as.contains(key));
    }
  }
}

TEST(ValidateServing, BadCellsNameTheColumnAndOddLayoutsAreSkipped) {
  TempDir dir;
  const std::string bad = dir.write("bad.csv", std::string(kServingHeader) + serving_row("x", "fixed_concurrency", "-3", "n"));
  EXPECT_CONTAINS(input_error([&] { (void)validate_serving_file(bad); }), "concurrency");
  const std::string odd = dir.write("odd.csv", std::string(kServingHeader) + serving_row("x", "fixed_concurrency", "4", "n", "3"));
  const auto r = validate_serving_file(odd);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_FALSE(r.rows[0].simulated);
  EXPECT_CONTAINS(r.rows[0].skip_reason, "tp x pp");
}

// An MoE row whose instance could run attention data-parallel (ep = tp, pp 1) does not publish
// whether it did: both are simulated, the faster kept and said (issue 14 item 3's rule). A dense
// row, or an MoE row with ep != tp, has no such assumption.
TEST(ValidateServing, AttentionDataParallelismIsSearched) {
  TempDir dir;
  const std::string moe_row =
      "m,dgx-h100,,8,1,Qwen3 30B-A3B,moe,48,2048,32,4,128,6144,151936,128,8,768,0,8,1,8,fp8,offline_max_throughput,,"
      "1000,1000,10000,10000,,,d,yes,s,n,gated,,,,,random,,,,tensorrt-llm,none\n";
  const std::string path = dir.write("m.csv", std::string(kServingHeader) + moe_row + serving_row("d", "offline_max_throughput", "", "n"));
  const auto rep = validate_serving_file(path);
  ASSERT_EQ(rep.rows.size(), 2u);
  const auto& m = rep.rows[0];
  ASSERT_TRUE(m.simulated) << m.skip_reason;
  const auto it = std::find_if(m.assumptions.begin(), m.assumptions.end(),
                               [](const auto& a) { return a.field == "attention_dp"; });
  ASSERT_NE(it, m.assumptions.end());
  EXPECT_EQ(m.layout["attention_dp"].get<bool>(), it->used == "on");
  for (const auto& a : rep.rows[1].assumptions) EXPECT_NE(a.field, "attention_dp");
  // The kept layout is the faster: the same run with the other setting is not faster.
  ServeConfig c;
  c.system = load_system("dgx-h100");
  c.system.chips = 8;
  const Stack trt = load_stack("tensorrt-llm");
  c.engine = serve_engine_from(trt.serving);
  c.model = validate_rows::row_model(read_csv(path).rows[0], path);
  c.layout.tp = c.layout.ep = 8;
  c.precision = Precision::kFp8;
  c.kv_dtype = Precision::kFp8;
  c.engine.max_num_batched_tokens = 8 * 1000 + c.engine.max_num_seqs;  // the per-rank prompt rule
  c.layout.attention_dp = it->used != "on";
  RequestSpec s;
  s.kind = ArrivalKind::kOffline;
  s.count = 3000;
  s.input = {LengthDistKind::kFixed, 1000, 0};
  s.output = {LengthDistKind::kFixed, 1000, 0};
  s.seed = 1;
  c.model.max_seq = std::max(c.model.max_seq, 2001);
  const ServeResult other = simulate_serving(c, s, {});
  if (other.servable) {
    EXPECT_LE(other.output_tokens_per_s_per_chip, m.predicted_tokens_per_s_per_chip * (1 + 1e-9));
  }
}

// --family matches serving rows as it matches training rows: a case-insensitive part of the family.
TEST(ValidateServing, FamilyFilterIsCaseInsensitive) {
  TempDir dir;
  const std::string path = dir.write("f.csv", std::string(kServingHeader) + serving_row("a", "offline_max_throughput", "", "n"));
  for (const char* wanted : {"hopper", "NVIDIA Hopper", "nvidia"}) {
    ValidationFilter f;
    f.family = wanted;
    EXPECT_EQ(validate_serving_file(path, f).summary.simulated, 1) << wanted;
  }
  ValidationFilter tpu;
  tpu.family = "tpu";
  EXPECT_EQ(validate_serving_file(path, tpu).summary.simulated, 0);
}

// Issue 15's serving targets (throughput MAPE <= 10%, TTFT and TPOT <= 15%) are not met yet
// (docs/validation-serving.md: gpt-oss and Qwen3 MoE rows over-predicted, Trainium TTFTs under).
// Until they are, this guards the shipped serving set's errors and coverage from regressing past
// their values on 2026-12-03 (throughput 19.7%, TTFT 19.7%, TPOT 16.7%, 72 rows) with a little room.
TEST(ShippedServingSet, AccuracyDoesNotRegress) {
#ifdef TAHOMA_SANITIZED
  GTEST_SKIP() << "re-simulates 72 serving rows; Release builds only";
#endif
  const auto rep = validate_serving_file(testing::data_path("../validation/published_serving.csv"));
  EXPECT_GE(rep.summary.simulated, 72);
  EXPECT_LE(rep.summary.throughput_mape_pct, 21.0) << "serving throughput error regressed; see docs/validation-serving.md";
  EXPECT_LE(rep.summary.ttft_mape_pct, 21.0) << "serving TTFT error regressed";
  EXPECT_LE(rep.summary.tpot_mape_pct, 18.0) << "serving TPOT error regressed";
  EXPECT_GT(rep.summary.throughput_mape_pct, 0.0);
}

}  // namespace
}  // namespace tahoma
