#include "tahoma/search.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <nlohmann/json.hpp>

#include "tahoma/error.h"
#include "tahoma/memory.h"

#ifdef TAHOMA_HAVE_MPI
#include <mpi.h>
#endif

namespace tahoma {

const char* to_string(Objective o) {
  switch (o) {
    case Objective::kTokensPerS: return "tokens-per-s";
    case Objective::kCost: return "cost";
    case Objective::kMemoryHeadroom: return "memory-headroom";
  }
  return "?";
}

std::optional<Objective> parse_objective(std::string_view s) {
  for (Objective o : {Objective::kTokensPerS, Objective::kCost, Objective::kMemoryHeadroom}) {
    if (s == to_string(o)) return o;
  }
  return std::nullopt;
}

// ---- MPI (optional): processes launched by mpirun split the layouts; rank 0 merges ----

namespace {

#ifdef TAHOMA_HAVE_MPI
struct MpiSession {
  bool active = false;
  int rank = 0;
  int size = 1;
  MpiSession() {
    // Only under a launcher: a plain `tahoma search` never pays MPI's start-up.
    const char* n = std::getenv("OMPI_COMM_WORLD_SIZE");
    if (n == nullptr) n = std::getenv("PMI_SIZE");
    if (n == nullptr || std::atoi(n) <= 1) return;
    int init = 0;
    MPI_Initialized(&init);
    if (init == 0) MPI_Init(nullptr, nullptr);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    active = size > 1;
  }
  ~MpiSession() {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init != 0 && fin == 0) MPI_Finalize();
  }
};
MpiSession& mpi() {
  static MpiSession session;
  return session;
}

// Rank 0 receives every rank's string (its own included), in rank order.
std::vector<std::string> gather_strings(const std::string& mine) {
  const int size = mpi().size;
  int len = static_cast<int>(mine.size());
  std::vector<int> lens(static_cast<size_t>(size)), offsets(static_cast<size_t>(size));
  MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  int total = 0;
  for (int i = 0; i < size; ++i) {
    offsets[static_cast<size_t>(i)] = total;
    total += lens[static_cast<size_t>(i)];
  }
  std::string all(static_cast<size_t>(mpi().rank == 0 ? total : 0), '\0');
  MPI_Gatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), offsets.data(), MPI_CHAR, 0, MPI_COMM_WORLD);
  std::vector<std::string> out;
  if (mpi().rank == 0) {
    for (int i = 0; i < size; ++i)
      out.push_back(all.substr(static_cast<size_t>(offsets[static_cast<size_t>(i)]),
                               static_cast<size_t>(lens[static_cast<size_t>(i)])));
  }
  return out;
}

// Every rank receives every rank's string (its own included), in rank order.
std::vector<std::string> allgather_strings(const std::string& mine) {
  const int size = mpi().size;
  int len = static_cast<int>(mine.size());
  std::vector<int> lens(static_cast<size_t>(size)), offsets(static_cast<size_t>(size));
  MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD);
  int total = 0;
  for (int i = 0; i < size; ++i) {
    offsets[static_cast<size_t>(i)] = total;
    total += lens[static_cast<size_t>(i)];
  }
  std::string all(static_cast<size_t>(total), '\0');
  MPI_Allgatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), offsets.data(), MPI_CHAR, MPI_COMM_WORLD);
  std::vector<std::string> out;
  for (int i = 0; i < size; ++i) {
    out.push_back(all.substr(static_cast<size_t>(offsets[static_cast<size_t>(i)]),
                             static_cast<size_t>(lens[static_cast<size_t>(i)])));
  }
  return out;
}

// A double as the hexadecimal of its bits, so it crosses processes exactly.
std::string exact(double x) {
  return fmt::format("{:016x}", std::bit_cast<std::uint64_t>(x));
}
double from_exact(const nlohmann::json& j) {
  return std::bit_cast<double>(static_cast<std::uint64_t>(std::stoull(j.get<std::string>(), nullptr, 16)));
}

nlohmann::json outcome_json(size_t index, const EventsOutcome& o) {
  nlohmann::json parts = nlohmann::json::array();
  const StepBreakdown& b = o.breakdown;
  for (Seconds t : {o.step_time, b.compute, b.host_bound, b.offload_bound, b.exposed_comm, b.bubble, b.optimizer,
                    b.tp_comm, b.cp_comm, b.pp_comm, b.dp_comm, b.ep_comm}) {
    parts.push_back(exact(t.value()));
  }
  return {{"index", index}, {"times", parts}, {"tasks", o.tasks}, {"network", o.network}};
}

EventsOutcome outcome_from_json(const nlohmann::json& j) {
  EventsOutcome o;
  StepBreakdown& b = o.breakdown;
  Seconds* fields[] = {&o.step_time,  &b.compute,   &b.host_bound, &b.offload_bound, &b.exposed_comm, &b.bubble,
                       &b.optimizer, &b.tp_comm, &b.cp_comm,    &b.pp_comm,       &b.dp_comm,      &b.ep_comm};
  const auto& times = j["times"];
  TAHOMA_ASSERT(times.size() == std::size(fields));
  for (size_t i = 0; i < std::size(fields); ++i) *fields[i] = Seconds(from_exact(times[i]));
  o.tasks = j["tasks"].get<long long>();
  o.network = j["network"].get<std::string>();
  return o;
}
#endif

}  // namespace

bool mpi_active() {
#ifdef TAHOMA_HAVE_MPI
  return mpi().active;
#else
  return false;
#endif
}

int mpi_rank() {
#ifdef TAHOMA_HAVE_MPI
  return mpi().rank;
#else
  return 0;
#endif
}

namespace {

// Why a layout was not priced. The names are what `rejected` reports.
enum class Reason : std::uint8_t {
  kRanks,       // tp x cp does not divide the ranks
  kHeads,       // tp vs attention / KV heads
  kLayers,      // layers (+ embedding and loss) not divisible by pp x vpp
  kSequence,    // cp vs sequence length
  kBatch,       // global batch vs dp x micro-batch
  kInterleave,  // interleaved 1F1B: micro-batches not a multiple of pp
  kExperts,     // ep vs experts, cp and dp x cp
  kFit,         // does not fit in memory
  kOther,       // validate_plan refused it for another reason
  kCount
};
constexpr std::array<const char*, static_cast<size_t>(Reason::kCount)> kReasonNames = {
    "tp x cp does not divide the ranks",
    "tp does not divide the attention heads",
    "layers not divisible by pp x vpp",
    "cp does not divide the sequence",
    "global batch not divisible by dp x micro-batch",
    "interleaving needs micro-batches divisible by pp",
    "ep does not divide the experts or dp x cp",
    "does not fit in memory",
    "refused by the plan checks",
};
using Counts = std::array<long long, static_cast<size_t>(Reason::kCount)>;

// The part of a layout fixed per task of the parallel loop.
struct Shape {
  int tp, cp, pp, vpp, dp;
  bool split;  // embedding and loss counted as pipeline layers
};

std::vector<int> powers_of_two(long long limit) {
  std::vector<int> out;
  for (long long v = 1; v <= limit && v <= (1 << 20); v *= 2) out.push_back(static_cast<int>(v));
  return out;
}

std::vector<int> divisors(long long n, long long limit) {
  std::vector<int> out;
  for (long long d = 1; d <= n && d <= limit; ++d) {
    if (n % d == 0) out.push_back(static_cast<int>(d));
  }
  return out;
}

template <typename T>
std::vector<T> restrict_to(std::vector<T> values, const std::optional<T>& only) {
  if (only) return {*only};
  return values;
}

// A total order on plans, for deterministic tie-breaking: smaller degrees first.
auto plan_tuple(const Plan& p) {
  return std::tuple(p.tp, p.pp, p.vpp, p.cp, p.ep, expert_tp(p), p.dp, p.micro_batch, p.zero,
                    static_cast<int>(p.recompute), p.account_for_embedding_and_loss);
}

struct Entry {
  Plan plan;
  StepResult result;
  double objective = 0;
};

// The order of layouts: the objective's bin (larger first), then the smaller memory footprint, then
// the smaller layout tuple. A total order, so merging per-thread and per-rank bests in any order
// gives the same answer.
template <typename T>
bool ranks_before(double obj_a, const T& a, double obj_b, const T& b) {
  if (obj_a != obj_b) return obj_a > obj_b;
  if (a.result.memory.total != b.result.memory.total) return a.result.memory.total < b.result.memory.total;
  return plan_tuple(a.plan) < plan_tuple(b.plan);
}
bool better(const Entry& a, const Entry& b) {
  return ranks_before(a.objective, a, b.objective, b);
}

// The objective on a grid of 0.01% (larger is better): layouts closer than that tie, and the tie
// goes to the smaller footprint. A model's step time is not known to 0.01%, and a user offered two
// layouts of the same speed wants the one with memory to spare. Tokens/s and cost bin on a
// logarithmic grid (relative steps), headroom (a fraction of capacity) on a linear one.
double objective_of(Objective o, const StepResult& r) {
  constexpr double kStep = 1e-4;
  switch (o) {
    case Objective::kTokensPerS: return std::round(std::log(std::max(r.tokens_per_s, 1e-300)) / kStep);
    case Objective::kCost:
      return r.cost_usd_per_million_tokens ? -std::round(std::log(*r.cost_usd_per_million_tokens) / kStep) : -INFINITY;
    case Objective::kMemoryHeadroom:
      return std::round((r.memory.capacity.value() - r.memory.total.value()) /
                        std::max(1.0, r.memory.capacity.value()) / kStep);
  }
  return 0;
}

// Keeps the best `n` entries, sorted best first. Layouts that are indistinguishable (the same step
// time and memory, e.g. selective recompute where fused attention already recomputes the attention
// core) count once, as the smaller layout.
void keep_best(std::vector<Entry>& best, Entry e, size_t n) {
  const auto same = std::find_if(best.begin(), best.end(), [&](const Entry& b) {
    return b.result.step_time == e.result.step_time && b.result.memory.total == e.result.memory.total;
  });
  if (same != best.end()) {
    if (!better(e, *same)) return;
    best.erase(same);
  }
  if (best.size() >= n && !better(e, best.back())) return;
  const auto at = std::lower_bound(best.begin(), best.end(), e, better);
  best.insert(at, std::move(e));
  if (best.size() > n) best.pop_back();
}

// The layout that came closest to fitting: the smallest footprint, ties to the smaller layout.
using Smallest = std::optional<std::pair<double, Plan>>;
void keep_smallest(Smallest& kept, const Smallest& candidate) {
  if (candidate && (!kept || candidate->first < kept->first ||
                    (candidate->first == kept->first && plan_tuple(candidate->second) < plan_tuple(kept->second)))) {
    kept = candidate;
  }
}

struct Local {
  explicit Local(const Scenario& base) : eval(std::make_unique<StepEvaluator>(base)) {}
  std::unique_ptr<StepEvaluator> eval;
  std::vector<Entry> best;
  Counts rejected{};
  long long priced = 0;
  Smallest smallest;  // for the answer when none fits
};

std::string describe(const Plan& p) {
  return fmt::format("tp {} pp {} vpp {} cp {} dp {}{}{} | mb {} | zero {} | recompute {}", p.tp, p.pp, p.vpp, p.cp,
                     p.dp, p.ep > 1 ? fmt::format(" ep {}", p.ep) : "",
                     expert_tp(p) != p.tp ? fmt::format(" etp {}", expert_tp(p)) : "", p.micro_batch, p.zero,
                     to_string(p.recompute));
}

// Why `a` beat `b`: the objective's margin and the parts of the step that moved most.
std::string explain(Objective o, const SearchResult& a, const SearchResult& b) {
  const StepBreakdown &x = a.result.breakdown, &y = b.result.breakdown;
  // Seconds the winner saves on each part of the step (negative: spends more).
  std::array<std::pair<const char*, double>, 8> moved = {{
      {"compute", (y.compute - x.compute).value()},
      {"exposed TP communication", (y.tp_comm - x.tp_comm).value()},
      {"exposed CP communication", (y.cp_comm - x.cp_comm).value()},
      {"exposed EP communication", (y.ep_comm - x.ep_comm).value()},
      {"exposed PP communication", (y.pp_comm - x.pp_comm).value()},
      {"exposed DP communication", (y.dp_comm - x.dp_comm).value()},
      {"pipeline bubble", (y.bubble - x.bubble).value()},
      {"optimizer", (y.optimizer - x.optimizer).value()},
  }};
  std::stable_sort(moved.begin(), moved.end(),
                   [](const auto& l, const auto& r) { return std::abs(l.second) > std::abs(r.second); });
  std::string gains, losses;
  for (const auto& [name, saved] : moved) {
    if (std::abs(saved) < 1e-4 * a.result.step_time.value()) continue;
    std::string& into = saved > 0 ? gains : losses;
    if (std::count(into.begin(), into.end(), ',') >= 1) continue;  // the two largest of each sign
    into +=
        fmt::format("{}{:.3f} s {} {}", into.empty() ? "" : ", ", std::abs(saved), saved > 0 ? "less" : "more", name);
  }
  std::string margin;
  if (a.objective == b.objective) {
    return fmt::format("{} ties the runner-up ({}) on {} (within 0.01%) and needs {:.1f} GB less memory per chip",
                       describe(a.plan), describe(b.plan), to_string(o),
                       (b.result.memory.total.value() - a.result.memory.total.value()) / 1e9);
  }
  {
    switch (o) {
      case Objective::kTokensPerS:
        margin = fmt::format("{:.1f}% more tokens/s", 100.0 * (a.result.tokens_per_s / b.result.tokens_per_s - 1.0));
        break;
      case Objective::kCost:
        margin = fmt::format("{:.1f}% lower cost per token", 100.0 * (1.0 - *a.result.cost_usd_per_million_tokens /
                                                                                *b.result.cost_usd_per_million_tokens));
        break;
      case Objective::kMemoryHeadroom:
        margin = fmt::format("{:.1f} GB more memory headroom",
                             (b.result.memory.total.value() - a.result.memory.total.value()) / 1e9);
        break;
    }
  }
  std::string out = fmt::format("{} beats the runner-up ({}) by {}", describe(a.plan), describe(b.plan), margin);
  if (!gains.empty()) out += ": per step it spends " + gains;
  if (!losses.empty()) out += (gains.empty() ? ": per step it spends " : ", and ") + losses;
  if (o == Objective::kTokensPerS && a.objective != b.objective &&
      a.result.memory.total.value() > b.result.memory.total.value()) {
    out += fmt::format(" (at {:.1f} GB per chip instead of {:.1f} GB)", a.result.memory.total.value() / 1e9,
                       b.result.memory.total.value() / 1e9);
  }
  return out;
}

#ifdef TAHOMA_HAVE_MPI
// A layout as an MPI message.
nlohmann::json layout_json(const Plan& p) {
  return {{"tp", p.tp},
          {"pp", p.pp},
          {"vpp", p.vpp},
          {"cp", p.cp},
          {"dp", p.dp},
          {"ep", p.ep},
          {"etp", p.etp},
          {"micro_batch", p.micro_batch},
          {"zero", p.zero},
          {"recompute", to_string(p.recompute)},
          {"account_for_embedding_and_loss", p.account_for_embedding_and_loss}};
}

Plan plan_from_json(const nlohmann::json& j, Plan p) {
  p.tp = j.at("tp");
  p.pp = j.at("pp");
  p.vpp = j.at("vpp");
  p.cp = j.at("cp");
  p.dp = j.at("dp");
  p.ep = j.at("ep");
  p.etp = j.at("etp");
  p.micro_batch = j.at("micro_batch");
  p.zero = j.at("zero");
  p.recompute = *parse_recompute(j.at("recompute").get<std::string>());
  p.account_for_embedding_and_loss = j.at("account_for_embedding_and_loss");
  return p;
}
#endif

}  // namespace

SearchReport search(const Scenario& base, const SearchOptions& options) {
  const Model& model = base.model;
  const System& sys = base.system;
  const Training& training = base.training;
  if (options.objective == Objective::kCost && !sys.price_usd_per_chip_hour) {
    throw InputError("--objective", "",
                     fmt::format("cost needs a price per chip-hour and {} has none; add one with --set "
                                 "price_usd_per_chip_hour=VALUE or pick --objective tokens-per-s",
                                 sys.name));
  }
  if (options.top < 1) throw InputError("--top", "", "must be at least 1");
  const long long ranks = sys.total_ranks();
  const SearchSpace& sp = options.space;

  // The grid: powers of two for TP, CP, EP and the micro-batch, every divisor of the remaining ranks
  // for PP, interleaving depths 1-8, every ZeRO stage and recompute mode.
  const std::vector<int> tps = restrict_to(powers_of_two(std::min<long long>(ranks, model.heads)), sp.tp);
  const std::vector<int> cps = restrict_to(powers_of_two(std::min<long long>(ranks, 64)), sp.cp);
  const std::vector<int> eps =
      restrict_to(model.is_moe() ? powers_of_two(model.moe->experts) : std::vector<int>{1}, sp.ep);
  const std::vector<int> mbs = restrict_to(std::vector<int>{1, 2, 4, 8, 16}, sp.micro_batch);
  const std::vector<int> zeros = restrict_to(std::vector<int>{0, 1, 2, 3}, sp.zero);
  const std::vector<Recompute> rcs =
      restrict_to(std::vector<Recompute>{Recompute::kNone, Recompute::kSelective, Recompute::kFull}, sp.recompute);
  // Expert TP (MoE with TP > 1): the TP degree (Megatron's default) or none (the experts whole on
  // each rank, EP spanning the TP ranks).
  auto etps = [&](int tp) { return model.is_moe() && tp > 1 ? std::vector<int>{0, 1} : std::vector<int>{0}; };
  auto inner_of = [&](int tp) {
    return static_cast<long long>(eps.size() * etps(tp).size() * mbs.size() * zeros.size() * rcs.size());
  };

  SearchReport report;
  Counts rejected{};
  std::vector<Shape> shapes;
  for (int tp : tps) {
    for (int cp : cps) {
      const long long tc = static_cast<long long>(tp) * cp;
      // PP: every divisor of what TP x CP leave, up to one layer per stage (plus embedding and loss).
      const std::vector<int> pps =
          ranks % tc == 0 ? restrict_to(divisors(ranks / tc, model.layers + 2), sp.pp) : std::vector<int>{1};
      for (int pp : pps) {
        const std::vector<int> vpps = pp == 1 ? std::vector<int>{1} : restrict_to(divisors(8, 8), sp.vpp);
        for (int vpp : vpps) {
          const long long inner = inner_of(tp);
          report.considered += inner;
          auto reject = [&](Reason r) { rejected[static_cast<size_t>(r)] += inner; };
          if (ranks % (tc * pp) != 0) {
            reject(Reason::kRanks);
            continue;
          }
          if (model.heads % tp != 0 || (model.kv_heads % tp != 0 && tp % model.kv_heads != 0)) {
            reject(Reason::kHeads);
            continue;
          }
          if (training.seq % cp != 0 || (cp > 1 && training.seq % (2 * cp) != 0)) {
            reject(Reason::kSequence);
            continue;
          }
          // The embedding and loss count as layers only where that makes the split even (Megatron's
          // account_for_embedding_and_loss_in_pipeline_split, as the 405B recipe on 126 layers);
          // with the base plan's uneven_pipeline (--uneven-pipeline) stages may differ by one layer.
          bool split = false;
          if (model.layers % (pp * vpp) != 0) {
            if (pp > 1 && (model.layers + 2) % (pp * vpp) == 0) {
              split = true;
            } else if (!(base.plan.uneven_pipeline && pp * vpp <= model.layers)) {
              reject(Reason::kLayers);
              continue;
            }
          }
          const long long dp = ranks / (tc * pp);
          shapes.push_back({tp, cp, pp, vpp, static_cast<int>(std::min<long long>(dp, INT32_MAX)), split});
        }
      }
    }
  }

  // The share of this process (all of them without MPI).
  int rank = 0, size = 1;
  if (mpi_active()) {
    rank = mpi_rank();
#ifdef TAHOMA_HAVE_MPI
    size = mpi().size;
#endif
  }
  std::vector<Shape> mine;
  for (size_t i = 0; i < shapes.size(); ++i) {
    if (static_cast<int>(i % static_cast<size_t>(size)) == rank) mine.push_back(shapes[i]);
  }

  const size_t keep = static_cast<size_t>(std::max(options.top, options.resimulate));
  tbb::enumerable_thread_specific<Local> locals([&] { return Local(base); });
  std::atomic<long long> done{0};
  long long total = 0;
  for (const Shape& s : mine) total += inner_of(s.tp);

  auto evaluate_shape = [&](const Shape& s, Local& L) {
    for (int ep : eps) {
      for (int etp : etps(s.tp)) {
        for (int mb : mbs) {
          for (int zero : zeros) {
            for (Recompute rc : rcs) {
              Plan plan = base.plan;
              plan.tp = s.tp;
              plan.cp = s.cp;
              plan.pp = s.pp;
              plan.vpp = s.vpp;
              plan.dp = s.dp;
              plan.ep = ep;
              plan.etp = etp;
              plan.micro_batch = mb;
              plan.zero = zero;
              plan.recompute = rc;
              plan.recompute_num_layers = 0;
              // Offloading (a flag the search does not explore) applies to full recompute's checkpoints.
              plan.offload_activations = base.plan.offload_activations && rc == Recompute::kFull;
              plan.account_for_embedding_and_loss = s.split;
              auto reject = [&](Reason r) { ++L.rejected[static_cast<size_t>(r)]; };
              const long long per_step = static_cast<long long>(s.dp) * mb;
              if (training.global_batch % per_step != 0) {
                reject(Reason::kBatch);
                continue;
              }
              if (s.vpp > 1 && (training.global_batch / per_step) % s.pp != 0) {
                reject(Reason::kInterleave);
                continue;
              }
              const long long moe_ranks = static_cast<long long>(expert_tp(plan)) * ep;
              const long long tc = static_cast<long long>(s.tp) * s.cp;
              if (model.is_moe() &&
                  (model.moe->experts % ep != 0 || (moe_ranks > tc ? moe_ranks % tc != 0 : tc % moe_ranks != 0) ||
                   (tc * s.dp) % moe_ranks != 0)) {
                reject(Reason::kExperts);
                continue;
              }
              try {
                validate_plan(plan, training, model, sys, "search");
              } catch (const InputError&) {
                reject(Reason::kOther);
                continue;
              }
              const MemoryBreakdown mem = memory_per_chip(model, plan, training, sys);
              if (!mem.fits) {
                reject(Reason::kFit);
                keep_smallest(L.smallest, std::pair{mem.total.value(), plan});
                continue;
              }
              Entry e;
              e.plan = plan;
              e.result = L.eval->evaluate(plan);
              e.objective = objective_of(options.objective, e.result);
              ++L.priced;
              keep_best(L.best, std::move(e), keep);
            }
          }
        }
      }
    }
    done.fetch_add(inner_of(s.tp), std::memory_order_relaxed);
  };

  // Progress, from a watcher thread, only while the search runs.
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::thread watcher;
  if (options.progress) {
    watcher = std::thread([&] {
      std::unique_lock lock(mu);
      while (!cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return finished; })) {
        options.progress(done.load(std::memory_order_relaxed), total);
      }
    });
  }
  tbb::task_arena arena(options.threads > 0 ? options.threads : tbb::task_arena::automatic);
  arena.execute([&] {
    tbb::parallel_for(tbb::blocked_range<size_t>(0, mine.size(), 1), [&](const tbb::blocked_range<size_t>& r) {
      Local& L = locals.local();
      for (size_t i = r.begin(); i != r.end(); ++i) evaluate_shape(mine[i], L);
    });
  });
  if (watcher.joinable()) {
    {
      std::lock_guard lock(mu);
      finished = true;
    }
    cv.notify_all();
    watcher.join();
    options.progress(total, total);
  }

  // Merge the workers (a total order: the same answer whatever the thread count).
  std::vector<Entry> best;
  Smallest smallest;
  auto merge_smallest = [&](const Smallest& s) { keep_smallest(smallest, s); };
  for (Local& L : locals) {
    for (Entry& e : L.best) keep_best(best, std::move(e), keep);
    for (size_t i = 0; i < rejected.size(); ++i) rejected[i] += L.rejected[i];
    report.priced += L.priced;
    merge_smallest(L.smallest);
  }

#ifdef TAHOMA_HAVE_MPI
  if (size > 1) {
    // Every rank sends its counts and its best layouts to every rank; each re-prices those (the
    // closed form is deterministic) and merges them alike, so all ranks hold the same finalists and
    // can share their re-simulation. The structural rejections were counted by every rank alike.
    nlohmann::json j;
    j["priced"] = report.priced;
    j["rejected"] = rejected;
    j["best"] = nlohmann::json::array();
    for (const Entry& e : best) j["best"].push_back(layout_json(e.plan));
    if (smallest) j["smallest"] = {{"bytes", smallest->first}, {"plan", layout_json(smallest->second)}};
    const auto all = allgather_strings(j.dump());
    StepEvaluator eval(base);
    best.clear();
    report.priced = 0;
    Counts structural = rejected;
    for (size_t i = static_cast<size_t>(Reason::kBatch); i < structural.size(); ++i) structural[i] = 0;
    // Per-layout rejections are summed over ranks; structural ones (counted before the split) once.
    Counts merged = structural;
    for (const std::string& s : all) {
      const auto r = nlohmann::json::parse(s);
      report.priced += r["priced"].get<long long>();
      const Counts c = r["rejected"].get<Counts>();
      for (size_t i = static_cast<size_t>(Reason::kBatch); i < merged.size(); ++i) merged[i] += c[i];
      for (const auto& p : r["best"]) {
        Entry e;
        e.plan = plan_from_json(p, base.plan);
        e.result = eval.evaluate(e.plan);
        e.objective = objective_of(options.objective, e.result);
        keep_best(best, std::move(e), keep);
      }
      if (r.contains("smallest")) {
        merge_smallest(
            std::pair{r["smallest"]["bytes"].get<double>(), plan_from_json(r["smallest"]["plan"], base.plan)});
      }
    }
    rejected = merged;
    report.ranks = size;
  }
#endif

  for (size_t i = 0; i < rejected.size(); ++i) {
    if (rejected[i] > 0) report.rejected[kReasonNames[i]] = rejected[i];
  }

  // The event engine has the last word on the best few: each process re-simulates every size-th
  // finalist (all of them without MPI), its threads one finalist each; rank 0 collects the others'
  // outcomes, exact to the bit, and rebuilds their results from the closed form.
  std::vector<SearchResult> finals(best.size());
  std::vector<size_t> my_finals;
  for (size_t i = 0; i < best.size(); ++i) {
    if (static_cast<int>(i % static_cast<size_t>(size)) == rank) my_finals.push_back(i);
  }
  arena.execute([&] {
    tbb::parallel_for(size_t{0}, my_finals.size(), size_t{1}, [&](size_t k) {
      const size_t i = my_finals[k];
      Scenario sc = base;
      sc.plan = best[i].plan;
      finals[i].result = simulate_step(sc);
    });
  });
#ifdef TAHOMA_HAVE_MPI
  if (size > 1) {
    nlohmann::json outcomes = nlohmann::json::array();
    for (size_t i : my_finals) outcomes.push_back(outcome_json(i, events_outcome(finals[i].result)));
    const auto all = gather_strings(outcomes.dump());
    if (rank != 0) return report;  // rank 0 answers
    for (size_t r = 1; r < all.size(); ++r) {
      for (const auto& o : nlohmann::json::parse(all[r])) {
        const size_t i = o["index"].get<size_t>();
        Scenario sc = base;
        sc.plan = best[i].plan;
        finals[i].result = with_events_outcome(sc, simulate_step_closed_form(sc), outcome_from_json(o));
      }
    }
  }
#endif
  for (size_t i = 0; i < best.size(); ++i) {
    finals[i].plan = best[i].plan;
    finals[i].closed_form = best[i].result;
    finals[i].objective = objective_of(options.objective, finals[i].result);
  }
  std::sort(finals.begin(), finals.end(),
            [](const SearchResult& a, const SearchResult& b) { return ranks_before(a.objective, a, b.objective, b); });
  if (finals.size() > static_cast<size_t>(options.top)) finals.resize(static_cast<size_t>(options.top));
  report.results = std::move(finals);
  if (report.results.size() >= 2) {
    report.why = explain(options.objective, report.results[0], report.results[1]);
  } else if (report.results.size() == 1) {
    report.why = describe(report.results[0].plan) + " is the only layout that fits";
  } else if (smallest) {
    report.why = fmt::format(
        "no layout fits: the smallest footprint ({}) needs {:.1f} GB of {:.1f} GB per chip; try "
        "more chips, a lower precision or a shorter sequence",
        describe(smallest->second), smallest->first / 1e9, sys.chip.hbm_capacity.value() / 1e9);
  } else {
    report.why = "no layout divides this model, batch and cluster (see the rejection counts)";
  }
  return report;
}

std::vector<Comparison> compare(const std::vector<Scenario>& bases, const SearchOptions& options) {
  std::vector<Comparison> out;
  for (const Scenario& b : bases) out.push_back({b.system.name, search(b, options)});
  return out;
}

}  // namespace tahoma
