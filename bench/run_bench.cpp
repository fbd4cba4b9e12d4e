// Speed of `tahoma run` (issue 16 target: any preset up to 1,048,576 chips in under a second). Each
// benchmark times the run model over a step simulated once outside the loop (the step's own speed is
// bench_step's), and the whole command path (scenario, closed-form step, run) at 1M chips.
#include <benchmark/benchmark.h>

#include "tahoma/run.h"

namespace {

using namespace tahoma;

Scenario scenario(const std::string& system, int chips, int global_batch) {
  ScenarioInput in;
  in.system = TAHOMA_SOURCE_DIR "/data/systems/" + system + ".yaml";
  in.chips = chips;
  in.model = TAHOMA_SOURCE_DIR "/data/models/llama3.1-405b.yaml";
  in.seq = 8192;
  in.global_batch = global_batch;
  in.tp = 8;
  in.pp = 16;
  in.zero = 1;
  in.account_for_embedding_and_loss = true;
  return resolve_scenario(in);
}

// The run model alone (4 strategies x `trials` Monte Carlo runs), over chips.
void BM_RunModel(benchmark::State& state) {
  const int chips = static_cast<int>(state.range(0));
  const Scenario sc = scenario("trn3-ultraserver", chips, chips / 64);
  const StepResult step = simulate_step_closed_form(sc);
  const ReliabilityModel m = reliability_for(sc.system);
  RunOptions opts;
  opts.trials = static_cast<int>(state.range(1));
  for (auto _ : state) {
    const RunResult r = run_training(sc, step, m, opts);
    benchmark::DoNotOptimize(r.best().days_to_train);
  }
}
BENCHMARK(BM_RunModel)
    ->Args({16384, 200})
    ->Args({131072, 200})
    ->Args({1048576, 200})
    ->Args({1048576, 2000})
    ->Unit(benchmark::kMillisecond);

// What `tahoma run` does at 1,048,576 Trainium3 chips: resolve, event-engine step, run model.
void BM_RunCommandPath1M(benchmark::State& state) {
  for (auto _ : state) {
    const Scenario sc = scenario("trn3-ultraserver", 1048576, 16384);
    const StepResult step = simulate_step(sc);  // the event engine, as tahoma run
    const RunResult r = run_training(sc, step, reliability_for(sc.system), RunOptions{});
    benchmark::DoNotOptimize(r.best().days_to_train);
  }
}
BENCHMARK(BM_RunCommandPath1M)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
