// Speed of the analytical training-step model: one Llama 3.1 405B step, from one UltraServer-scale
// cluster to a million chips (the cost must not grow with the chip count), and one collective.
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "bench_scenarios.h"
#include "tahoma/step.h"

namespace {

tahoma::Scenario llama405b_on_trn3(int chips) {
  tahoma::ScenarioInput in = tahoma_bench::llama405b_on_trn3(chips);
  in.tp = 8;
  in.pp = 16;
  in.vpp = 2;
  in.account_for_embedding_and_loss = true;
  in.micro_batch = 1;
  // 16 micro-batches per data-parallel replica at every scale.
  in.global_batch = chips / 128 * 16;
  return tahoma::resolve_scenario(in);
}

// The default: the discrete-event engine over the representative replica (analytical network).
void BM_SimulateStep(benchmark::State& state) {
  const tahoma::Scenario sc = llama405b_on_trn3(static_cast<int>(state.range(0)));
  long long tasks = 0;
  for (auto _ : state) {
    tahoma::StepResult r = tahoma::simulate_step(sc);
    tasks = r.tasks;
    benchmark::DoNotOptimize(r.step_time);
  }
  state.counters["tasks"] = static_cast<double>(tasks);
  state.SetLabel("llama3.1-405b on trn3-ultraserver, events, analytical");
}
BENCHMARK(BM_SimulateStep)->Arg(1024)->Arg(16384)->Arg(1048576)->Unit(benchmark::kMillisecond);

// Event-engine cost against the micro-batch count (issue 13: it must be flat): Llama 3 8B on 64 DGX
// H100 at TP 8 x PP 4 (dp 2), global batch 2 m. Past a few periods of the 1F1B schedule the step is
// extrapolated from three short runs, so the tasks and the time stop growing with m.
void BM_SimulateStepMicrobatches(benchmark::State& state) {
  tahoma_bench::use_source_data();
  tahoma::ScenarioInput in;
  in.system = "dgx-h100";
  in.model = "llama3-8b";
  in.chips = 64;
  in.seq = 4096;
  in.tp = 8;
  in.pp = 4;
  in.micro_batch = 1;
  in.global_batch = static_cast<int>(2 * state.range(0));
  const tahoma::Scenario sc = tahoma::resolve_scenario(in);
  long long tasks = 0;
  for (auto _ : state) {
    tahoma::StepResult r = tahoma::simulate_step(sc);
    tasks = r.tasks;
    benchmark::DoNotOptimize(r.step_time);
  }
  state.counters["tasks"] = static_cast<double>(tasks);
  state.SetLabel("llama3-8b on 64 dgx-h100, tp 8 pp 4, events");
}
BENCHMARK(BM_SimulateStepMicrobatches)
    ->Arg(16)
    ->Arg(64)
    ->Arg(1024)
    ->Arg(16384)
    ->Arg(262144)
    ->Unit(benchmark::kMicrosecond);

// Flow mode: pipeline sends and data-parallel buckets as flows sharing the links max-min fairly,
// over one period of the traffic (whole replicas on whole UltraServers), folded by symmetry.
void BM_SimulateStepFlow(benchmark::State& state) {
  const tahoma::Scenario sc = llama405b_on_trn3(static_cast<int>(state.range(0)));
  tahoma::StepOptions opts;
  opts.network = tahoma::NetworkMode::kFlow;
  long long tasks = 0;
  for (auto _ : state) {
    tahoma::StepResult r = tahoma::simulate_step(sc, opts);
    tasks = r.tasks;
    benchmark::DoNotOptimize(r.step_time);
  }
  state.counters["tasks"] = static_cast<double>(tasks);
  state.SetLabel("llama3.1-405b on trn3-ultraserver, events, flow");
}
BENCHMARK(BM_SimulateStepFlow)->Arg(1024)->Arg(16384)->Arg(1048576)->Unit(benchmark::kMillisecond);

// The closed-form fast path that searches rank layouts with.
void BM_SimulateStepClosedForm(benchmark::State& state) {
  const tahoma::Scenario sc = llama405b_on_trn3(static_cast<int>(state.range(0)));
  tahoma::StepOptions opts;
  opts.engine = tahoma::StepEngine::kClosedForm;
  for (auto _ : state) {
    tahoma::StepResult r = tahoma::simulate_step(sc, opts);
    benchmark::DoNotOptimize(r.step_time);
  }
  state.SetLabel("llama3.1-405b on trn3-ultraserver, closed form");
}
BENCHMARK(BM_SimulateStepClosedForm)->Arg(1024)->Arg(16384)->Arg(1048576)->Unit(benchmark::kMicrosecond);

void BM_AllReduceCost(benchmark::State& state) {
  const tahoma::Scenario sc = llama405b_on_trn3(16384);
  const tahoma::CollectiveModel model(sc.system);
  const tahoma::GroupShape dp{{{128, 128}}};
  for (auto _ : state) {
    auto c = model.cost(tahoma::CollectiveKind::kAllReduce, tahoma::Bytes(1e9), dp);
    benchmark::DoNotOptimize(c.time);
  }
}
BENCHMARK(BM_AllReduceCost)->Unit(benchmark::kNanosecond);

}  // namespace

BENCHMARK_MAIN();
