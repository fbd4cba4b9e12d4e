// Iteration-level continuous batching (docs/serving.md 5), as vLLM V1's scheduler does it (Yu et
// al. 2022, Orca; Kwon et al. 2023, vLLM; Agrawal et al. 2024, Sarathi-Serve for chunked prefill):
// every iteration first schedules the running requests in admission order (a decode needs 1 + k
// tokens, an unfinished prompt its next chunk), then admits waiting requests first-come first-served
// while the token budget, the sequence limit and the free KV blocks allow. When a running request
// needs a block and none is free, the most recently admitted request is preempted by recompute: its
// blocks are freed and it returns to the head of the queue, to prefill its prompt and the tokens
// generated so far again. With guaranteed admission (TensorRT-LLM's GUARANTEED_NO_EVICT) a request
// is admitted only when the blocks of its whole input and output are free, and they are reserved at
// once, so no request is ever preempted. Time is integer nanoseconds; ties follow request index order.
// A disaggregated decode instance receives requests with their prompt's KV and first token (SGLang
// PD, NVIDIA Dynamo; docs/serving.md 9): admitted when blocks are free, they decode at once;
// an attention-DP rank schedules its own requests under its share of the limits (docs/serving.md 10).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>

#include "internal.h"
#include "layouts.h"
#include "tahoma/error.h"
#include "tahoma/serve.h"

namespace tahoma {
namespace {

// The clock's horizon, well inside int64 nanoseconds (9.2e18).
constexpr std::int64_t kMaxSimulatedNs = 1'000'000'000'000'000'000;

struct Live {
  long long prompt = 0;    // tokens to prefill: the input, or input + generated after a preemption
  long long computed = 0;  // tokens whose KV is cached
  int generated = 0;
  double accepted = 0;     // speculative acceptance carried between iterations (fractional part)
  long long blocks = 0;    // layer-blocks held
  std::int64_t arrival = 0;
  std::int64_t first_token = -1;
  bool done = false;
};

struct Scheduled {
  int idx;
  long long tokens;
  bool prefill;
};

class Scheduler {
 public:
  Scheduler(const ServeConfig& c, const ServeMemory& mem, const IterationPricer& price,
            const std::vector<Request>& reqs, int concurrency, GroupTimeline* timeline = nullptr)
      : c_(c), mem_(mem), price_(price), reqs_(reqs), concurrency_(concurrency), live_(reqs.size()), tl_(timeline) {
    const int pp = serve_internal::virtual_engines(c);
    // One pipeline virtual engine: 1/pp of the KV blocks and of the sequence limit (vLLM V1 keeps
    // pp batches in flight under one scheduler's limits).
    pool_ = mem.layer_blocks / pp;
    free_ = pool_;
    max_seqs_ = serve_internal::seq_limit(c);
    budget_ = serve_internal::token_budget(c);
    query_ = 1 + (c.spec.method == SpecMethod::kNone ? 0 : c.spec.k);
    accept_ = c.spec.method == SpecMethod::kNone ? 1.0 : c.spec.accept;
  }

  GroupRun run() {
    issue_initial();
    while (finished_ < static_cast<long long>(reqs_.size())) {
      admit_arrivals();
      if (running_.empty() && waiting_.empty()) {
        now_ = std::max(now_, entry(next_));  // idle until the next arrival
        continue;
      }
      const long long finished_before = finished_;
      schedule();
      if (sched_.empty() && finished_ > finished_before) continue;  // hand-offs done on arrival
      if (sched_.empty()) throw Error("serve: the scheduler could not make progress (a request needs more KV than the pool)");
      advance_clock();
      apply();
    }
    out_.duration_s = static_cast<double>(now_ - first_arrival_) * 1e-9;
    return std::move(out_);
  }

 private:
  // Offline and open loop: requests in arrival order. Closed loop: `concurrency` clients start at 0.
  void issue_initial() {
    out_.first_token_ns.assign(reqs_.size(), -1);
    for (std::size_t i = 0; i < reqs_.size(); ++i) {
      live_[i].prompt = reqs_[i].input;
      live_[i].computed = reqs_[i].cached;
      if (reqs_[i].cached >= reqs_[i].input) live_[i].generated = 1;  // a hand-off brings its first token
      live_[i].arrival = concurrency_ > 0 ? 0 : reqs_[i].arrival_ns;
    }
    first_arrival_ = 0;
    for (std::size_t i = 0; i < reqs_.size(); ++i)
      first_arrival_ = i == 0 ? live_[i].arrival : std::min(first_arrival_, live_[i].arrival);
    if (concurrency_ > 0) {
      for (; next_ < reqs_.size() && next_ < static_cast<std::size_t>(concurrency_); ++next_) waiting_.push_back(static_cast<int>(next_));
    }
    if (tl_) {
      tl_->requests_total = static_cast<long long>(reqs_.size());
      tl_->requests.resize(static_cast<std::size_t>(std::min<long long>(tl_->request_cap, tl_->requests_total)));
      for (std::size_t i = 0; i < tl_->requests.size(); ++i) tl_->requests[i] = {static_cast<int>(i), reqs_[i].input, reqs_[i].output};
    }
  }

  // The timeline's record of request idx, when it is among those recorded.
  [[nodiscard]] RequestSpan* span(int idx) const {
    return tl_ && static_cast<std::size_t>(idx) < tl_->requests.size() ? &tl_->requests[static_cast<std::size_t>(idx)] : nullptr;
  }

  // When request i joins the queue: its arrival, or when its KV reaches a disaggregated decode
  // instance (requests are given in this order).
  [[nodiscard]] std::int64_t entry(std::size_t i) const {
    return reqs_[i].ready_ns >= 0 ? reqs_[i].ready_ns : live_[i].arrival;
  }

  void admit_arrivals() {
    if (concurrency_ > 0) return;
    while (next_ < reqs_.size() && entry(next_) <= now_) waiting_.push_back(static_cast<int>(next_++));
  }

  [[nodiscard]] long long blocks_for(long long tokens) const {
    return serve_internal::layer_blocks_for(tokens, mem_.full_layers, mem_.window_layers, c_.model.sliding_window,
                                            c_.engine.block_size);
  }

  void release(Live& r) {
    free_ += r.blocks;
    r.blocks = 0;
  }

  // Preempts the most recently admitted running request by recompute.
  void preempt_last() {
    const int v = running_.back();
    running_.pop_back();
    Live& r = live_[static_cast<std::size_t>(v)];
    release(r);
    r.computed = 0;
    r.prompt = reqs_[static_cast<std::size_t>(v)].input + r.generated;
    waiting_.push_front(v);
    ++out_.preemptions;
    if (RequestSpan* sp = span(v)) ++sp->preemptions;
    preempted_ = true;
  }

  // Reserves blocks for `tokens` cached tokens of running request `idx`, preempting from the back;
  // false when `idx` itself had to go.
  bool reserve(int idx, long long tokens) {
    Live& r = live_[static_cast<std::size_t>(idx)];
    const long long need = std::max(0LL, blocks_for(tokens) - r.blocks);
    while (need > free_) {
      const bool self = running_.back() == idx;
      preempt_last();
      if (self) return false;
    }
    free_ -= need;
    r.blocks += need;
    return true;
  }

  // One iteration's work. Continuous batching (Orca, vLLM): the running requests' decodes and
  // prefill chunks first, in admission order, then new requests while the budget, the sequence
  // limit and the KV blocks allow. Static batching admits only into an empty engine, every waiting
  // prompt up to the batch size in one context-encoding pass. Alternating engines run a prefill
  // iteration or a decode iteration, never both: prefill when prompts wait and the last iteration
  // decoded (or nothing decodes), else decode, one prompt per prefill (JetStream's prefill takes one
  // request); a prefill turn that can admit nothing decodes.
  void schedule() {
    const ServingBatching mode = c_.engine.batching;
    if (mode != ServingBatching::kAlternating) {
      fill(true, true);
      return;
    }
    bool decodes = false, prefills = false;
    for (int idx : running_) {
      const Live& r = live_[static_cast<std::size_t>(idx)];
      (r.computed < r.prompt ? prefills : decodes) = true;
    }
    const bool room = !waiting_.empty() && static_cast<int>(running_.size()) < max_seqs_;
    const bool prefill_turn = (prefills || room) && (!last_prefill_ || !decodes);
    fill(prefill_turn, !prefill_turn);
    if (sched_.empty() && prefill_turn && decodes) fill(false, true);
    last_prefill_ = std::any_of(sched_.begin(), sched_.end(), [](const Scheduled& x) { return x.prefill; });
  }

  void fill(bool prefill_work, bool decode_work) {
    sched_.clear();
    preempted_ = false;
    const bool whole_batches = c_.engine.batching == ServingBatching::kStatic;
    const bool admit = prefill_work && (!whole_batches || running_.empty());
    long long budget = budget_;
    for (std::size_t i = 0; i < running_.size() && budget > 0; ++i) {
      const int idx = running_[i];
      const Live& r = live_[static_cast<std::size_t>(idx)];
      const bool prefill = r.computed < r.prompt;
      if (prefill ? !prefill_work : !decode_work) continue;
      long long n = prefill ? r.prompt - r.computed : query_;
      if (prefill && c_.engine.chunked_prefill) n = std::min(n, budget);
      if (n > budget) continue;
      if (!reserve(idx, r.computed + n)) break;  // it preempted itself: nothing behind it runs
      sched_.push_back({idx, n, prefill});
      budget -= n;
    }
    // vLLM V1 admits nothing new in an iteration that had to preempt. A static batch's prompts are
    // encoded together whatever the token budget (the compiled context-encoding batch).
    while (admit && !preempted_ && !waiting_.empty() && (budget > 0 || whole_batches) &&
           static_cast<int>(running_.size()) < max_seqs_) {
      const int idx = waiting_.front();
      Live& r = live_[static_cast<std::size_t>(idx)];
      const int output = reqs_[static_cast<std::size_t>(idx)].output;
      // A disaggregated hand-off arrives with its prompt's KV and first token: it decodes at once.
      const bool handed_off = r.computed >= r.prompt;
      if (handed_off && r.generated >= output) {  // one output token: done on arrival
        waiting_.pop_front();
        r.first_token = now_;
        finish(idx);
        continue;
      }
      long long n = handed_off ? query_ : r.prompt - r.computed;
      if (whole_batches) {
        // the whole prompt, in this pass
      } else if (handed_off) {
        if (n > budget) break;
      } else if (c_.engine.chunked_prefill) {
        n = std::min(n, budget);
      } else if (n > budget && !sched_.empty()) {
        break;
      }
      // Guaranteed admission reserves the blocks of the whole request (prompt and every output
      // token) up front; greedy admission only those of this iteration's tokens.
      const long long need = c_.engine.guaranteed_admission
                                 ? blocks_for(r.prompt + reqs_[static_cast<std::size_t>(idx)].output)
                                 : blocks_for(r.computed + n);
      if (need > free_) break;
      waiting_.pop_front();
      running_.push_back(idx);
      if (RequestSpan* sp = span(idx); sp && sp->admitted_ns < 0) sp->admitted_ns = now_;
      free_ -= need;
      r.blocks = need;
      // The client has the first token once the decode instance takes the request in.
      if (handed_off && r.first_token < 0) r.first_token = now_;
      sched_.push_back({idx, n, !handed_off});
      budget -= n;
      if (c_.engine.batching == ServingBatching::kAlternating && !handed_off) break;  // one prompt per prefill call
    }
  }

  // The batch's shape, priced; the clock moves by the iteration time (integer ns, at least 1).
  void advance_clock() {
    BatchShape b;
    b.query_per_seq = query_;
    const double window = c_.model.sliding_window;
    for (const auto& s : sched_) {
      const Live& r = live_[static_cast<std::size_t>(s.idx)];
      const double cached = static_cast<double>(r.computed);
      if (s.prefill) {
        const double n = static_cast<double>(s.tokens);
        b.prefill_tokens += s.tokens;
        b.prefill_pairs_full += serve_internal::attention_pairs(cached, n, 0);
        b.prefill_keys_full += cached + n;
        if (mem_.window_layers > 0) {
          b.prefill_pairs_window += serve_internal::attention_pairs(cached, n, window);
          b.prefill_keys_window += std::min(cached, window) + n;
        }
        if (r.computed + s.tokens == r.prompt) ++b.prompts_done;
      } else {
        ++b.decode_seqs;
        b.decode_kv_full += cached;
        b.decode_kv_window += std::min(cached, window);
      }
    }
    const IterationTime t = price_(b);
    const double s = t.total.value();
    if (!(s > 0 && s < 1e6)) throw Error(fmt::format("serve: iteration time {} s is out of range", s));
    const auto dt = std::max<std::int64_t>(1, std::llround(std::ceil(s * 1e9)));
    if (tl_ && static_cast<long long>(tl_->iterations.size()) < tl_->iteration_cap) {
      tl_->iterations.push_back({now_, now_ + dt, b.prefill_tokens, b.decode_seqs, b.prompts_done, b.tokens()});
    }
    now_ += dt;
    if (now_ > kMaxSimulatedNs) {
      throw InputError("--requests", "", "the simulated time exceeds 1e18 ns (31 years); lower --requests or the lengths");
    }
    out_.busy_s += s;
    out_.batch_tokens_sum += static_cast<double>(b.tokens());
    out_.decode_seqs_sum += b.decode_seqs;
    out_.peak_kv_fraction = std::max(out_.peak_kv_fraction, pool_ > 0 ? 1.0 - static_cast<double>(free_) / static_cast<double>(pool_) : 0.0);
    if (++out_.iterations > kMaxIterations) {
      throw InputError("--requests", "",
                       fmt::format("the run needs more than {} iterations; lower --requests or the lengths",
                                   kMaxIterations));
    }
  }

  // Emits the tokens of the iteration and retires finished requests (in running order).
  void apply() {
    bool any_done = false;
    for (const auto& s : sched_) {
      Live& r = live_[static_cast<std::size_t>(s.idx)];
      const int output = reqs_[static_cast<std::size_t>(s.idx)].output;
      if (s.prefill) {
        r.computed += s.tokens;
        if (r.computed < r.prompt) continue;
        r.generated += 1;  // the prompt's last position samples the next token
        if (r.first_token < 0) r.first_token = now_;
      } else {
        // Speculative decoding emits `accept` tokens per verification on average; the fractional
        // part carries over, so the count is deterministic and its mean exact.
        r.accepted += accept_;
        int e = static_cast<int>(r.accepted);
        r.accepted -= e;
        e = std::max(1, std::min(e, output - r.generated));
        r.generated += e;
        r.computed += e;
      }
      if (r.generated >= output) {
        finish(s.idx);
        any_done = true;
      }
    }
    if (any_done) {
      std::erase_if(running_, [&](int i) { return live_[static_cast<std::size_t>(i)].done; });
    }
  }

  void finish(int idx) {
    Live& r = live_[static_cast<std::size_t>(idx)];
    const Request& q = reqs_[static_cast<std::size_t>(idx)];
    r.done = true;
    release(r);
    out_.first_token_ns[static_cast<std::size_t>(idx)] = r.first_token;
    if (RequestSpan* sp = span(idx)) {
      sp->arrival_ns = r.arrival;
      sp->first_token_ns = r.first_token;
      sp->end_ns = now_;
    }
    ++finished_;
    const double ttft = static_cast<double>(r.first_token - r.arrival) * 1e-9;
    const double e2e = static_cast<double>(now_ - r.arrival) * 1e-9;
    out_.ttft.push_back(ttft);
    out_.latency.push_back(e2e);
    out_.tpot.push_back(q.output > 1 ? (e2e - ttft) / (q.output - 1) : -1.0);
    out_.output_tokens += q.output;
    out_.input_tokens += q.input;
    // Closed loop: the client sends its next request now.
    if (concurrency_ > 0 && next_ < reqs_.size()) {
      live_[next_].arrival = now_;
      waiting_.push_back(static_cast<int>(next_++));
    }
  }

  const ServeConfig& c_;
  const ServeMemory& mem_;
  const IterationPricer& price_;
  const std::vector<Request>& reqs_;
  int concurrency_;
  std::vector<Live> live_;
  std::deque<int> waiting_;
  std::vector<int> running_;  // admission order
  std::vector<Scheduled> sched_;
  long long pool_ = 0, free_ = 0;
  int max_seqs_ = 1, query_ = 1;
  long long budget_ = 1;
  GroupTimeline* tl_;  // nullptr: nothing recorded
  double accept_ = 1;
  bool preempted_ = false;
  bool last_prefill_ = false;  // alternating batching: the last iteration was a prefill
  std::size_t next_ = 0;
  long long finished_ = 0;
  std::int64_t now_ = 0, first_arrival_ = 0;
  GroupRun out_;
};

}  // namespace

GroupRun simulate_group(const ServeConfig& config, const ServeMemory& memory, const IterationPricer& price,
                        const std::vector<Request>& requests, int concurrency) {
  return Scheduler(config, memory, price, requests, concurrency).run();
}

GroupRun simulate_group(const ServeConfig& config, const ServeMemory& memory, const IterationPricer& price,
                        const std::vector<Request>& requests, int concurrency, GroupTimeline* timeline) {
  return Scheduler(config, memory, price, requests, concurrency, timeline).run();
}

GroupRun simulate_group(const ServeConfig& config, const ServeMemory& memory, const IterationCost& cost,
                        const std::vector<Request>& requests, int concurrency) {
  if (config.layout.attention_dp) throw Error("serve: an attention-DP layout is priced by AttentionDpCost");
  const IterationPricer price = [&cost](const BatchShape& b) { return cost.time(b); };
  return simulate_group(config, memory, price, requests, concurrency);
}

}  // namespace tahoma
