// Speed of the discrete-event engine on one pipeline-parallel training step: p = 16 stages, v = 2
// model chunks, m = 64 micro-batches, 8 layers per chunk, each layer 3 compute tasks each followed
// by a tensor-parallel collective on the scale-up stream (6 tasks), plus a send per stage boundary:
// about 200,000 tasks. Reports tasks per second (items/s). The reuse variants keep the graph's and
// the engine's memory between iterations, as a search loop would; the fresh ones pay for new memory.
#include <benchmark/benchmark.h>

#include <fstream>

#include "tahoma/engine.h"

namespace {

namespace eg = tahoma::engine;

constexpr int kStages = 16;
constexpr int kChunks = 2;
constexpr int kMicrobatches = 64;
constexpr int kLayersPerChunk = 8;
constexpr int kPiecesPerLayer = 3;  // compute + collective pairs per layer

// Fills `g` (cleared first) with the step.
void build_step(eg::TaskGraph& g) {
  g.clear();
  const size_t ops = 2ULL * kStages * kChunks * kMicrobatches;
  g.reserve(ops * kLayersPerChunk * kPiecesPerLayer * 2 + ops, ops * kLayersPerChunk * kPiecesPerLayer * 2 + 3 * ops);
  const eg::NameId names[2][2] = {{g.intern("layer forward"), g.intern("tp all-reduce forward")},
                                  {g.intern("layer backward"), g.intern("tp all-reduce backward")}};
  const eg::NameId send_name = g.intern("pp send");
  eg::PipelineCallbacks cb;
  cb.op = [&](eg::TaskGraph& graph, int stage, const eg::PipeOp& op) {
    eg::TaskId first = eg::kNoTask;
    eg::TaskId last = eg::kNoTask;
    for (int layer = 0; layer < kLayersPerChunk; ++layer) {
      for (int piece = 0; piece < kPiecesPerLayer; ++piece) {
        eg::TaskSpec compute;
        compute.name = names[op.backward][0];
        compute.rank = stage;
        compute.category = op.backward ? eg::Category::kBackward : eg::Category::kForward;
        compute.duration = (op.backward ? 2'000'000 : 1'000'000) + 1000 * piece;
        compute.microbatch = op.microbatch;
        compute.chunk = op.chunk;
        compute.layer = op.chunk * kLayersPerChunk + layer;
        const eg::TaskId c = graph.add(compute);
        if (last != eg::kNoTask) graph.depend(last, c);
        eg::TaskSpec comm = compute;
        comm.name = names[op.backward][1];
        comm.stream = eg::StreamKind::kScaleUp;
        comm.category = eg::Category::kTp;
        comm.duration = 300'000;
        last = graph.add(comm);
        graph.depend(c, last);
        if (first == eg::kNoTask) first = c;
      }
    }
    return std::pair{first, last};
  };
  cb.send = [&](eg::TaskGraph& graph, int from, int, const eg::PipeOp& op) -> std::optional<eg::TaskId> {
    eg::TaskSpec send;
    send.name = send_name;
    send.rank = from;
    send.stream = eg::StreamKind::kScaleOut;
    send.category = eg::Category::kPp;
    send.duration = 50'000;
    send.microbatch = op.microbatch;
    return graph.add(send);
  };
  eg::build_pipeline(g, eg::PipelineSchedule::kInterleaved1F1B, kStages, kChunks, kMicrobatches, cb);
}

eg::TaskGraph step_graph() {
  eg::TaskGraph g;
  build_step(g);
  return g;
}

void BM_BuildAndRun(benchmark::State& state) {
  eg::TaskGraph g;
  eg::Engine engine;
  for (auto _ : state) {
    build_step(g);
    benchmark::DoNotOptimize(engine.run(g).makespan);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(g.size()));
  state.counters["tasks"] = static_cast<double>(g.size());
}
BENCHMARK(BM_BuildAndRun)->Unit(benchmark::kMillisecond);

void BM_BuildAndRunFresh(benchmark::State& state) {
  size_t tasks = 0;
  for (auto _ : state) {
    const eg::TaskGraph g = step_graph();
    benchmark::DoNotOptimize(eg::run(g).makespan);
    tasks = g.size();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(tasks));
}
BENCHMARK(BM_BuildAndRunFresh)->Unit(benchmark::kMillisecond);

void BM_Run(benchmark::State& state) {
  const eg::TaskGraph g = step_graph();
  eg::Engine engine;
  for (auto _ : state) benchmark::DoNotOptimize(engine.run(g).makespan);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(g.size()));
}
BENCHMARK(BM_Run)->Unit(benchmark::kMillisecond);

void BM_RunFresh(benchmark::State& state) {
  const eg::TaskGraph g = step_graph();
  for (auto _ : state) benchmark::DoNotOptimize(eg::run(g).makespan);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(g.size()));
}
BENCHMARK(BM_RunFresh)->Unit(benchmark::kMillisecond);

void BM_WriteTrace(benchmark::State& state) {
  const eg::TaskGraph g = step_graph();
  const eg::RunResult r = eg::run(g);
  std::ofstream out("/dev/null");
  for (auto _ : state) eg::write_chrome_trace(g, r, {}, out);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(g.size()));
}
BENCHMARK(BM_WriteTrace)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
