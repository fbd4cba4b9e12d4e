// Speed of `tahoma serve` (issue 15 target: 10,000 requests on 72 chips in under a second; an SLO
// search in under 10 s). Each benchmark runs the whole driver: requests, memory, the scheduler and
// the iteration costs. Reports requests simulated per second (items/s).
#include <benchmark/benchmark.h>

#include "tahoma/serve.h"

namespace {

using namespace tahoma;

ServeConfig nvl72(const std::string& model, int tp, int ep, Precision precision) {
  ServeConfig c;
  c.system = load_system(TAHOMA_SOURCE_DIR "/data/systems/gb200-nvl72.yaml");
  c.system.chips = 72;
  c.model = load_model(TAHOMA_SOURCE_DIR "/data/models/" + model + ".yaml");
  c.layout.tp = tp;
  c.layout.ep = ep;
  c.precision = precision;
  return c;
}

RequestSpec requests(ArrivalKind kind, long long n) {
  RequestSpec s;
  s.kind = kind;
  s.count = n;
  s.concurrency = 576;
  s.input = {LengthDistKind::kLognormal, 1000, 0.5};
  s.output = {LengthDistKind::kLognormal, 1000, 0.5};
  s.seed = 1;
  return s;
}

void run(benchmark::State& state, const ServeConfig& c, const RequestSpec& s, const SloSpec& slo, bool search) {
  for (auto _ : state) {
    const ServeResult r = simulate_serving(c, s, slo, search);
    benchmark::DoNotOptimize(r.output_tokens_per_s);
  }
  state.SetItemsProcessed(state.iterations() * s.count);
}

// Llama 3.1 70B, TP 8: 9 replicas, one simulated with 1,112 of the 10,000 requests.
void BM_Serve10kOffline72ChipsLlama70B(benchmark::State& state) {
  run(state, nvl72("llama3.1-70b", 8, 1, Precision::kBf16), requests(ArrivalKind::kOffline, 10'000), {}, false);
}
// DeepSeek-V3 fp8, TP 8 x EP 8, closed loop of 576 clients.
void BM_Serve10kConcurrency72ChipsDeepSeekV3(benchmark::State& state) {
  run(state, nvl72("deepseek-v3", 8, 8, Precision::kFp8), requests(ArrivalKind::kConcurrency, 10'000), {}, false);
}
// The worst case for one group: one replica of TP 8 takes all 10,000 requests.
void BM_Serve10kOneReplica(benchmark::State& state) {
  ServeConfig c = nvl72("llama3.1-70b", 8, 1, Precision::kBf16);
  c.layout.replicas = 1;
  run(state, c, requests(ArrivalKind::kOffline, 10'000), {}, false);
}
// SLO search: the highest Poisson rate with p99 TTFT <= 2 s and TPOT <= 50 ms.
void BM_SloSearch72Chips(benchmark::State& state) {
  SloSpec slo;
  slo.ttft_s = 2.0;
  slo.tpot_s = 0.05;
  run(state, nvl72("llama3.1-70b", 8, 1, Precision::kBf16), requests(ArrivalKind::kPoisson, 10'000), slo, true);
}

BENCHMARK(BM_Serve10kOffline72ChipsLlama70B)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Serve10kConcurrency72ChipsDeepSeekV3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Serve10kOneReplica)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SloSearch72Chips)->Unit(benchmark::kMillisecond);

// search --serve: Llama 3.1 70B fp8 on 72 GB200s, SLO p99 TTFT <= 2 s and TPOT <= 50 ms, 500
// requests per layout, every TP x PP x max-batch layout that fits, each an SLO search.
void BM_ServeSearch72ChipsSlo(benchmark::State& state) {
  const ServeConfig c = nvl72("llama3.1-70b", 1, 1, Precision::kFp8);
  ServeSearchOptions o;
  o.requests = requests(ArrivalKind::kOffline, 500);
  o.slo.ttft_s = 2.0;
  o.slo.tpot_s = 0.05;
  long long simulated = 0;
  for (auto _ : state) {
    const ServeSearchReport r = search_serving(c, o);
    simulated = r.simulated;
    benchmark::DoNotOptimize(r.results.size());
  }
  state.SetItemsProcessed(state.iterations() * simulated);  // layouts simulated per second
}
BENCHMARK(BM_ServeSearch72ChipsSlo)->Unit(benchmark::kMillisecond)->UseRealTime();  // oneTBB workers

}  // namespace

BENCHMARK_MAIN();
