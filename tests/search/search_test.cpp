// tahoma search: the answer equals an exhaustive enumeration's best, does not depend on the thread
// count, adds up (considered = priced + rejected), and a result fed back to simulate_step gives
// the same numbers.
#include "tahoma/search.h"

#include <gtest/gtest.h>

#include <cmath>

#include "../test_util.h"
#include "tahoma/error.h"
#include "tahoma/memory.h"
#include "tahoma/report.h"

namespace tahoma {
namespace {

Scenario base(const char* system, int chips, const char* model, int seq, int global_batch) {
  ScenarioInput in;
  in.system = system;
  in.chips = chips;
  in.model = model;
  in.seq = seq;
  in.global_batch = global_batch;
  return resolve_scenario(in, false);
}

auto tuple_of(const Plan& p) {
  return std::tuple(p.tp, p.pp, p.vpp, p.cp, p.ep, p.dp, p.micro_batch, p.zero, static_cast<int>(p.recompute));
}

// Every layout of the search's grid, priced independently of the search's code: the best by the
// closed form and the best by the event engine, in the documented order (tokens/s on a 0.01% log
// grid, then less memory, then the smaller layout).
struct Best {
  double bin = 0;
  double memory = 0;
  double tokens_per_s = 0;
  Plan plan;
};
struct Exhaustive {
  std::optional<Best> closed, events;
  long long fitting = 0;
};
Exhaustive exhaustive(const Scenario& sc) {
  Exhaustive out;
  const long long ranks = sc.system.total_ranks();
  auto consider = [](std::optional<Best>& best, const StepResult& r, const Plan& p) {
    const Best b{std::round(std::log(r.tokens_per_s) / 1e-4), r.memory.total.value(), r.tokens_per_s, p};
    if (!best || std::tuple(-b.bin, b.memory, tuple_of(p)) < std::tuple(-best->bin, best->memory, tuple_of(best->plan)))
      best = b;
  };
  for (int tp = 1; tp <= std::min<long long>(ranks, sc.model.heads); tp *= 2) {
    for (int cp = 1; cp <= std::min<long long>(ranks, 64); cp *= 2) {
      for (int pp = 1; pp <= ranks; ++pp) {
        for (int vpp = 1; vpp <= (pp == 1 ? 1 : 8); ++vpp) {
          if (pp > 1 && 8 % vpp != 0) continue;
          for (int mb : {1, 2, 4, 8, 16}) {
            for (int zero = 0; zero <= 3; ++zero) {
              for (Recompute rc : {Recompute::kNone, Recompute::kSelective, Recompute::kFull}) {
                Plan p = sc.plan;
                p.tp = tp;
                p.cp = cp;
                p.pp = pp;
                p.vpp = vpp;
                p.dp = 0;
                p.micro_batch = mb;
                p.zero = zero;
                p.recompute = rc;
                p.account_for_embedding_and_loss = sc.model.layers % (pp * vpp) != 0;
                try {
                  validate_plan(p, sc.training, sc.model, sc.system, "test");
                } catch (const InputError&) {
                  continue;
                }
                if (!memory_per_chip(sc.model, p, sc.training, sc.system).fits) continue;
                ++out.fitting;
                Scenario s = sc;
                s.plan = p;
                consider(out.closed, simulate_step_closed_form(s), p);
                consider(out.events, simulate_step(s), p);
              }
            }
          }
        }
      }
    }
  }
  return out;
}

TEST(Search, EqualsTheExhaustiveBest) {
  for (const Scenario& sc : {base("dgx-h100", 8, "llama3-8b", 4096, 16), base("tpu-v5e", 16, "llama3-8b", 4096, 16)}) {
    SCOPED_TRACE(sc.system.name);
    const Exhaustive ex = exhaustive(sc);
    ASSERT_TRUE(ex.events.has_value());
    // The fast path's ranking: its best is the exhaustive closed-form best.
    SearchOptions one;
    one.top = 1;
    one.resimulate = 1;
    const SearchReport fast = search(sc, one);
    ASSERT_EQ(fast.results.size(), 1u);
    EXPECT_EQ(fast.priced, ex.fitting);
    EXPECT_EQ(fast.results[0].closed_form.tokens_per_s, ex.closed->tokens_per_s);
    EXPECT_EQ(tuple_of(fast.results[0].plan), tuple_of(ex.closed->plan));
    // Re-simulating every fitting layout with the event engine finds the exhaustive events best.
    SearchOptions all;
    all.top = 1;
    all.resimulate = static_cast<int>(ex.fitting);
    const SearchReport full = search(sc, all);
    EXPECT_EQ(full.results[0].result.tokens_per_s, ex.events->tokens_per_s);
    EXPECT_EQ(tuple_of(full.results[0].plan), tuple_of(ex.events->plan));
  }
}

TEST(Search, ConsideredIsPricedPlusRejected) {
  const SearchReport r = search(base("dgx-h100", 64, "llama3-70b", 8192, 128), {});
  long long rejected = 0;
  for (const auto& [reason, n] : r.rejected) {
    EXPECT_GT(n, 0) << reason;
    rejected += n;
  }
  EXPECT_EQ(r.considered, r.priced + rejected);
  EXPECT_GT(r.rejected.at("does not fit in memory"), 0);
  EXPECT_EQ(r.results.size(), 5u);
  for (size_t i = 1; i < r.results.size(); ++i) {
    EXPECT_GE(r.results[i - 1].result.tokens_per_s, r.results[i].result.tokens_per_s);
  }
  EXPECT_NE(r.why.find("beats the runner-up"), std::string::npos) << r.why;
}

TEST(Search, TheThreadCountDoesNotChangeTheAnswer) {
  const Scenario sc = base("trn3-ultraserver", 16384, "llama3.1-405b", 8192, 2048);
  std::string first;
  for (int threads : {1, 2, 4}) {
    SearchOptions o;
    o.threads = threads;
    const std::string j = search_json(sc, o, search(sc, o)).dump();
    if (first.empty()) first = j;
    EXPECT_EQ(j, first) << threads << " threads";
  }
}

TEST(Search, AResultFedBackToSimulateGivesTheSameNumbers) {
  const Scenario sc = base("dgx-h100", 64, "llama3-70b", 8192, 128);
  const SearchReport r = search(sc, {});
  ASSERT_FALSE(r.results.empty());
  for (const auto& res : r.results) {
    Scenario s = sc;
    s.plan = res.plan;
    const StepResult again = simulate_step(s);
    EXPECT_EQ(again.step_time, res.result.step_time);
    EXPECT_EQ(again.tokens_per_s, res.result.tokens_per_s);
    EXPECT_EQ(again.memory.total, res.result.memory.total);
    // And the fast path it was ranked by is the closed form.
    EXPECT_EQ(simulate_step_closed_form(s).step_time, res.closed_form.step_time);
  }
}

TEST(Search, NothingFitsIsAnAnswer) {
  const SearchReport r = search(base("dgx-h100", 8, "llama3.1-405b", 8192, 8), {});
  EXPECT_TRUE(r.results.empty());
  EXPECT_EQ(r.priced, 0);
  EXPECT_NE(r.why.find("no layout fits"), std::string::npos) << r.why;
  EXPECT_NE(r.why.find("GB of 80.0 GB"), std::string::npos) << r.why;
}

TEST(Search, RestrictionsAndObjectives) {
  const Scenario sc = base("dgx-h100", 64, "llama3-70b", 8192, 128);
  SearchOptions o;
  o.space.tp = 8;
  o.space.zero = 1;
  const SearchReport r = search(sc, o);
  ASSERT_FALSE(r.results.empty());
  for (const auto& res : r.results) {
    EXPECT_EQ(res.plan.tp, 8);
    EXPECT_EQ(res.plan.zero, 1);
  }
  // Memory headroom: the winner uses no more memory than the tokens/s winner.
  SearchOptions h;
  h.objective = Objective::kMemoryHeadroom;
  const SearchReport roomy = search(sc, h);
  const SearchReport fast = search(sc, {});
  EXPECT_LE(roomy.results[0].result.memory.total, fast.results[0].result.memory.total);
  // Cost needs a price; the message says how to give one.
  SearchOptions c;
  c.objective = Objective::kCost;
  Scenario unpriced = sc;
  unpriced.system.price_usd_per_chip_hour.reset();
  EXPECT_THROW(search(unpriced, c), InputError);
  Scenario priced = sc;
  priced.system.price_usd_per_chip_hour = 2.0;
  const SearchReport cheap = search(priced, c);
  EXPECT_EQ(cheap.results[0].plan.tp, fast.results[0].plan.tp);  // fixed chips: cheapest = fastest
}

TEST(Search, EvaluatorEqualsTheClosedForm) {
  const Scenario sc = base("dgx-h100", 64, "mixtral-8x7b", 4096, 64);
  StepEvaluator eval(sc);
  int checked = 0;
  for (int tp : {1, 2, 4, 8}) {
    for (int pp : {1, 2, 4}) {
      for (int ep : {1, 2, 8}) {
        for (Recompute rc : {Recompute::kSelective, Recompute::kFull}) {
          Plan p = sc.plan;
          p.tp = tp;
          p.pp = pp;
          p.ep = ep;
          p.dp = 0;
          p.recompute = rc;
          try {
            validate_plan(p, sc.training, sc.model, sc.system, "test");
          } catch (const InputError&) {
            continue;
          }
          Scenario s = sc;
          s.plan = p;
          const StepResult a = simulate_step_closed_form(s);
          const StepResult b = eval.evaluate(p);
          EXPECT_EQ(a.step_time, b.step_time);
          EXPECT_EQ(a.mfu, b.mfu);
          EXPECT_EQ(a.memory.total, b.memory.total);
          EXPECT_EQ(a.breakdown.dp_comm, b.breakdown.dp_comm);
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 20);
  EXPECT_LT(eval.cached_layer_prices(), static_cast<size_t>(checked));  // pp and dp reuse the layer prices
}

}  // namespace
}  // namespace tahoma
