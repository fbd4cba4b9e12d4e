// Flow-network speed (issue 13 item 3): a flow-mode training step and a flow-mode collective over
// every rank, from 1,152 to 1,048,576 chips. Targets (docs/performance.md, "Flow mode"): the
// 1M-chip step under 2 s, the 1,152-GPU all-reduce sweep under 1 s, cost flat in chips.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <iterator>

#include <fmt/format.h>

#include "bench_scenarios.h"
#include "tahoma/comm.h"
#include "tahoma/step.h"

namespace {

// Llama 3.1 405B on trn3-ultraserver, TP 16 x PP 16 x CP 4 (the layout), 128 sequences
// per data-parallel replica (the global batch grows with the chips).
tahoma::Scenario llama405b_cp4(int chips) {
  tahoma::ScenarioInput in = tahoma_bench::llama405b_on_trn3(chips);
  in.tp = 16;
  in.pp = 16;
  in.cp = 4;
  in.account_for_embedding_and_loss = true;
  in.micro_batch = 1;
  in.global_batch = chips / 1024 * 128;
  return tahoma::resolve_scenario(in);
}

void run_flow_step(benchmark::State& state, const tahoma::Scenario& sc) {
  tahoma::StepOptions o;
  o.network = tahoma::NetworkMode::kFlow;
  size_t warnings = 0;
  for (auto _ : state) {
    tahoma::StepResult r = tahoma::simulate_step(sc, o);
    warnings = r.warnings.size();
    benchmark::DoNotOptimize(r.step_time);
  }
  state.counters["warnings"] = static_cast<double>(warnings);
}

void BM_FlowStep(benchmark::State& state) {
  run_flow_step(state, llama405b_cp4(static_cast<int>(state.range(0))));
  state.SetLabel("llama3.1-405b tp16 pp16 cp4 on trn3-ultraserver, flow network");
}
BENCHMARK(BM_FlowStep)->Arg(9216)->Arg(1048576)->Unit(benchmark::kMillisecond)->Iterations(1);

// "Any layout" on 1,048,576 chips: the layouts that cost the most before the step's flow and work
// budgets (FlowAdapter::kMaxStepFlows, kMaxStepWork): 1,024-rank stages, interleaved schedules with
// context parallelism, a torus, expert parallelism.
struct Layout {
  const char* system;
  const char* model;
  int seq, global_batch, tp, pp, vpp, cp, ep;
  bool split, uneven;
};
constexpr Layout kLayouts[] = {
    {"trn3-ultraserver", "llama3.1-405b", 8192, 16384, 16, 16, 1, 64, 1, true, false},
    {"trn3-ultraserver", "llama3.1-405b", 8192, 16384, 16, 16, 1, 16, 1, true, false},
    {"gb200-nvl72", "llama3-70b", 8192, 65536, 8, 16, 5, 8, 1, false, false},
    {"tpu-v7", "llama3-70b", 8192, 65536, 2, 16, 1, 2, 1, false, false},
    {"gb200-nvl72", "deepseek-v3", 4096, 65536, 1, 16, 1, 1, 64, false, true},
};

void BM_FlowStepLayouts(benchmark::State& state) {
  tahoma_bench::use_source_data();
  const Layout& l = kLayouts[state.range(0)];
  tahoma::ScenarioInput in;
  in.system = l.system;
  in.model = l.model;
  in.chips = 1048576;
  in.seq = l.seq;
  in.global_batch = l.global_batch;
  in.tp = l.tp;
  in.pp = l.pp;
  in.vpp = l.vpp;
  in.cp = l.cp;
  in.ep = l.ep;
  in.account_for_embedding_and_loss = l.split;
  in.uneven_pipeline = l.uneven;
  run_flow_step(state, tahoma::resolve_scenario(in));
  state.SetLabel(fmt::format("{} {} tp{} pp{} vpp{} cp{} ep{}", l.system, l.model, l.tp, l.pp, l.vpp, l.cp, l.ep));
}
BENCHMARK(BM_FlowStepLayouts)->DenseRange(0, std::size(kLayouts) - 1)->Unit(benchmark::kMillisecond)->Iterations(1);

// `tahoma collective --system gb200-nvl72 --op all-reduce --network flow` (7 sizes, 1 KB - 1 GB).
void BM_FlowAllReduceSweep(benchmark::State& state) {
  tahoma_bench::use_source_data();
  tahoma::System s = tahoma::load_system("gb200-nvl72");
  s.chips = static_cast<int>(state.range(0));
  tahoma::CollectiveRequest req;
  req.network = tahoma::NetworkMode::kFlow;
  for (double b = 1e3; b <= 1e9; b *= 10) req.sizes.emplace_back(b);
  for (auto _ : state) benchmark::DoNotOptimize(tahoma::run_collective(s, req));
  state.SetLabel("all-reduce over every rank of gb200-nvl72, flow network, 7 sizes");
}
BENCHMARK(BM_FlowAllReduceSweep)->Arg(1152)->Arg(16384)->Arg(1048576)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
