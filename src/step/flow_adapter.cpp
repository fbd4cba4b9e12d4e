#include "flow_adapter.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "tahoma/error.h"

namespace tahoma::step_internal {

namespace eg = tahoma::engine;

std::uint32_t message_tag(Message kind, int from_stage, int to_stage, int stages) {
  const auto pair = static_cast<std::uint64_t>(from_stage) * static_cast<std::uint64_t>(stages) +
                    static_cast<std::uint64_t>(to_stage);
  const std::uint64_t tag = pair * 3 + static_cast<std::uint64_t>(kind);
  TAHOMA_ASSERT((tag < eg::kNoTask) && "too many pipeline stages to tag their messages");
  return static_cast<std::uint32_t>(tag);
}

FlowAdapter::FlowAdapter(const Scenario& sc, const CollectiveModel& comm, CollectiveKind reduce_kind,
                         std::vector<RankParams> bucket_params, double grad_bytes, double gather_bytes,
                         Bytes send_bytes, double flow_budget, long long sends)
    : sc_(sc),
      comm_(comm),
      reduce_kind_(reduce_kind),
      bucket_params_(std::move(bucket_params)),
      grad_bytes_(grad_bytes),
      gather_bytes_(gather_bytes),
      send_bytes_(send_bytes),
      net_(comm.topology(), false) {
  const Plan& plan = sc.plan;
  const net::Topology& topo = comm.topology();
  replica_ranks_ = stage_stride(plan) * plan.pp;  // replicas in ep_from_dp blocks
  // The period of the traffic: whole replicas on whole scale-up domains (or the whole system).
  const long long period = std::lcm(replica_ranks_, topo.domain_ranks());
  const long long covering = (replica_ranks_ + topo.domain_ranks() - 1) / topo.domain_ranks() * topo.domain_ranks();
  window_ = std::min(period <= kExactWindowRanks ? period : covering, topo.ranks());
  // Half the budget to the buckets (a reduce and a gather per layer), half to the sends.
  work_budget_ = kMaxStepWork * flow_budget / kMaxStepFlows;
  bucket_budget_ = static_cast<size_t>(std::max(1.0, flow_budget / 2 / (2.0 * std::max(1, sc.model.layers))));
  send_pairs_ = static_cast<long long>(
      std::clamp(flow_budget / 2 / static_cast<double>(std::max(1LL, sends)), 1.0, static_cast<double>(kMaxSendFlows)));
}

std::uint32_t FlowAdapter::template_for(std::uint32_t tag, bool analytical) {
  const std::uint64_t key = std::uint64_t{tag} * 2 + (analytical ? 1 : 0);
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) return static_cast<std::uint32_t>(i);
  }
  keys_.push_back(key);
  templates_.push_back(build(tag, analytical));
  return static_cast<std::uint32_t>(templates_.size() - 1);
}

FlowAdapter::Template FlowAdapter::build(std::uint32_t tag, bool force_analytical) const {
  const Plan& plan = sc_.plan;
  const int p = plan.pp;
  const auto kind = static_cast<Message>(tag % 3);
  const int from = static_cast<int>((tag / 3) / static_cast<std::uint32_t>(p));
  const int to = static_cast<int>((tag / 3) % static_cast<std::uint32_t>(p));
  const long long tc = stage_stride(plan);  // ranks of one stage in a block of replicas
  const net::Topology& topo = comm_.topology();
  Template tpl;
  net::Path path;
  auto add_flow = [&](Step& st, long long src, long long dst, double bytes) {
    topo.route(src, dst, path);
    for (int h = 0; h < path.hops; ++h) {
      auto& l = path.links[static_cast<size_t>(h)];
      l = topo.fold(l, window_);
    }
    path.latency = st.latency;  // the step's alpha, paid before its bytes move
    st.paths.push_back(path);
    st.bytes.push_back(bytes);
  };

  if (kind == Message::kSend) {
    // Every window rank of stage `from` sends its slice to its peer on stage `to`.
    Step st;
    const long long lo = std::min(from, to) * tc, distance = std::abs(to - from) * tc;
    const auto pair = comm_.flow_steps("p2p", CollectiveKind::kSendRecv, send_bytes_, GroupShape{{{2, distance}}}, lo);
    if (pair && !pair->empty()) st.latency = (*pair)[0].latency;
    // Bounded work: past send_pairs_ pairs, every k-th pair stands for its k neighbours (its own
    // links only; see kMaxSendFlows).
    const long long replicas = (window_ + replica_ranks_ - 1) / replica_ranks_;
    const long long pairs = replicas * tc;
    const long long stride = (pairs + send_pairs_ - 1) / send_pairs_;
    send_stride_ = std::max(send_stride_, stride);
    for (long long i = 0; i < pairs; i += stride) {
      const long long base = i / tc * replica_ranks_, j = i % tc;
      add_flow(st, base + from * tc + j, base + to * tc + j, send_bytes_.value());
    }
    tpl.steps.push_back(std::move(st));
    return tpl;
  }

  // A data-parallel bucket of stage `from`: the collective the analytical model chooses, as flows
  // of every group that has members in the window, keeping those the window's ranks send.
  // The dense parameters' collective runs over DP x CP, then the routed experts' over the replicas
  // of each expert (as Pricer::data_parallel prices them).
  const CollectiveKind ck = kind == Message::kDpReduce ? reduce_kind_ : CollectiveKind::kAllGather;
  const RankParams& params = bucket_params_[static_cast<size_t>(from)];
  const double per_param = kind == Message::kDpReduce ? grad_bytes_ : gather_bytes_;
  bool& analytical = analytical_[kind == Message::kDpReduce ? 0 : 1];
  size_t kept = 0;
  Seconds analytical_time{0};  // the bucket's collectives as the analytical model prices them
  auto append = [&](GroupKind group, double param_count, long long bases) {
    const Bytes bytes(param_count * per_param);
    const GroupShape shape = group_shape(group, plan);
    const CollectiveCost cost = comm_.cost(ck, bytes, shape);
    analytical_time += cost.time;
    const std::string& algorithm = cost.algorithm;
    if (algorithm == "none" || analytical || force_analytical) return;
    const size_t first = tpl.steps.size();
    for (long long b = 0; b < bases; ++b) {  // group bases: every digit of the group's factors zero
      const auto steps = comm_.flow_steps(algorithm, ck, bytes, shape, from * tc + b, 0, window_);
      TAHOMA_ASSERT(steps.has_value() && "the chosen algorithm is valid for its group");
      for (const auto& st : *steps) kept += st.flows.size();
      if (kept > bucket_budget_) {  // bounded work: price the bucket analytically, route nothing
        analytical = true;
        return;
      }
      if (tpl.steps.size() == first) tpl.steps.resize(first + steps->size());
      TAHOMA_ASSERT(tpl.steps.size() == first + steps->size());
      for (size_t i = 0; i < steps->size(); ++i) {
        Step& st = tpl.steps[first + i];
        st.latency = (*steps)[i].latency;
        for (const auto& f : (*steps)[i].flows) {
          if (f.src_rank < window_) add_flow(st, f.src_rank, f.dst_rank, f.bytes.value());
        }
      }
    }
  };
  append(GroupKind::kDpCp, params.dense, plan.tp);
  if (params.expert > 0) {
    append(GroupKind::kEdp, params.expert, static_cast<long long>(expert_tp(plan)) * plan.ep);
  }
  if (analytical || force_analytical) {  // one timed step of the analytical duration, sharing no link
    Template timed;
    Step st;
    st.latency = analytical_time;
    timed.steps.push_back(std::move(st));
    return timed;
  }
  return tpl;
}

std::vector<std::string> FlowAdapter::notes() const {
  std::vector<std::string> out;
  const char* names[2] = {"gradient reductions", "parameter all-gathers"};
  for (int k = 0; k < 2; ++k) {
    if (analytical_[k]) {
      out.push_back(fmt::format(
          "flow network: the data-parallel {} need more than {} flows per bucket (the step's budget is {:.0e} "
          "flows); they keep their analytical time and share no links",
          names[k], bucket_budget_, kMaxStepFlows));
    }
  }
  if (work_limited_) {
    out.push_back(fmt::format(
        "flow network: solving the rates of this step's flows passed its work limit ({:.2g} flow-hop and link visits); "
        "the data-parallel buckets that started after it keep their analytical time and share no links",
        kMaxStepWork));
  }
  if (send_stride_ > 1) {
    out.push_back(fmt::format(
        "flow network: a pipeline send has more than {} rank pairs; one pair in {} runs as a flow and stands for "
        "its neighbours, whose links carry no send traffic (exact where sends share no links, as on a non-blocking "
        "fabric)",
        send_pairs_, send_stride_));
  }
  return out;
}

void FlowAdapter::start(eg::TaskId task, std::uint32_t tag, eg::Picos now) {
  if (running_.size() <= task) running_.resize(static_cast<size_t>(task) + 1);
  // Bounded work: once re-solving rates has cost this run's share of kMaxStepWork, the buckets
  // still to start keep their analytical time (the sends still run as flows).
  const bool dp = static_cast<Message>(tag % 3) != Message::kSend;
  const bool over = dp && net_.work() > work_budget_;
  work_limited_ = work_limited_ || over;
  running_[task] = Running{template_for(tag, over), 0, 0};
  now_ = std::max(now_, now);
  begin_step(task, now);
}

void FlowAdapter::begin_step(eg::TaskId task, eg::Picos now) {
  Running& r = running_[task];
  const Template& tpl = templates_[r.message];
  while (r.step < tpl.steps.size()) {
    const Step& st = tpl.steps[r.step];
    if (st.paths.empty()) {
      if (st.latency.value() > 0) {  // no window rank sends in this step: it still takes its alpha
        timers_.emplace(now + eg::to_picos(st.latency), task);
        return;
      }
      ++r.step;
      continue;
    }
    const Seconds t = eg::to_seconds(now);
    for (size_t i = 0; i < st.paths.size(); ++i) {
      const net::FlowNetwork::FlowId id = net_.start(st.paths[i], Bytes(st.bytes[i]), t);
      if (owner_.size() <= id) owner_.resize(static_cast<size_t>(id) + 1, eg::kNoTask);
      owner_[id] = task;
    }
    r.outstanding = static_cast<std::uint32_t>(st.paths.size());
    return;
  }
  finished_.emplace(now, task);
}

std::optional<std::pair<eg::Picos, eg::TaskId>> FlowAdapter::next_completion() {
  std::optional<Event> best;
  auto consider = [&](Event e) {
    if (!best || e < *best) best = e;
  };
  if (!finished_.empty()) consider(finished_.top());
  if (!timers_.empty()) consider({timers_.top().first, eg::kNoTask});
  if (const auto flow = net_.next_completion()) {
    const double ps = std::ceil(flow->first.value() * 1e12);  // never before the flow's true end
    if (!std::isfinite(ps)) throw Error("flow network: a flow can never finish (a link has no capacity)");
    consider({std::max(now_, static_cast<eg::Picos>(ps)), eg::kNoTask});
  }
  return best;
}

void FlowAdapter::complete(eg::TaskId task, eg::Picos now) {
  now_ = std::max(now_, now);
  if (task != eg::kNoTask) {
    TAHOMA_ASSERT(!finished_.empty() && finished_.top().second == task);
    finished_.pop();
    return;
  }
  while (!timers_.empty() && timers_.top().first <= now) {
    const eg::TaskId t = timers_.top().second;
    timers_.pop();
    ++running_[t].step;
    begin_step(t, now);
  }
  // Owners first: starting a task's next step may reuse the ids just retired.
  retired_owners_.clear();
  for (const net::FlowNetwork::FlowId id : net_.retire(eg::to_seconds(now))) retired_owners_.push_back(owner_[id]);
  for (const eg::TaskId t : retired_owners_) {
    Running& r = running_[t];
    TAHOMA_ASSERT(r.outstanding > 0);
    if (--r.outstanding == 0) {
      ++r.step;
      begin_step(t, now);
    }
  }
}

}  // namespace tahoma::step_internal
