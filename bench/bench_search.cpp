// Speed of the layout search (issue 5's target: >= 100,000 layouts evaluated per second per core
// for Llama 3.1 405B on 16,384 chips; Calculon, a Python peer, takes 14-20 ms per evaluation).
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "bench_scenarios.h"
#include "tahoma/search.h"

namespace {

tahoma::Scenario llama405b_on_trn3(int chips) {
  tahoma::ScenarioInput in = tahoma_bench::llama405b_on_trn3(chips);
  in.global_batch = 2048;
  return tahoma::resolve_scenario(in, false);
}

// The whole search on one core: enumerate, prune, price every surviving layout with the closed
// form, re-simulate the best 10 with the event engine.
void BM_Search(benchmark::State& state) {
  const tahoma::Scenario base = llama405b_on_trn3(static_cast<int>(state.range(0)));
  tahoma::SearchOptions opts;
  opts.threads = 1;
  tahoma::SearchReport report;
  for (auto _ : state) {
    report = tahoma::search(base, opts);
    benchmark::DoNotOptimize(report.results);
  }
  state.counters["considered_per_s"] = benchmark::Counter(
      static_cast<double>(report.considered) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["priced_per_s"] = benchmark::Counter(
      static_cast<double>(report.priced) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["priced"] = static_cast<double>(report.priced);
  state.SetLabel("llama3.1-405b on trn3-ultraserver, 1 thread");
}
BENCHMARK(BM_Search)->Arg(16384)->Unit(benchmark::kMillisecond);

// The fast path alone on a warm evaluator (layer prices cached): one layout's closed form.
void BM_EvaluateLayout(benchmark::State& state) {
  const tahoma::Scenario base = llama405b_on_trn3(16384);
  tahoma::StepEvaluator eval(base);
  tahoma::Plan plan = base.plan;
  plan.tp = 8;
  plan.pp = 16;
  plan.vpp = 1;
  plan.zero = 1;
  plan.account_for_embedding_and_loss = true;
  plan.dp = 0;
  tahoma::validate_plan(plan, base.training, base.model, base.system, "bench");
  for (auto _ : state) {
    auto r = eval.evaluate(plan);
    benchmark::DoNotOptimize(r.step_time);
  }
}
BENCHMARK(BM_EvaluateLayout)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
