// Pipeline schedules: the registry of names, descriptions and closed-form bubbles that the plan
// (`pp_schedule`), the closed-form step, the event engine (engine/schedule.cpp plays each order)
// and `tahoma list schedules` share. Header-only, so the plan needs no link to the engine.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tahoma {

enum class PipelineSchedule : std::uint8_t { kGPipe, k1F1B, kInterleaved1F1B, kZeroBubble, kDualPipe };

// Per-micro-batch times of one stage for the closed-form bubble: forward F, full backward B (input
// and weight gradients), and W, the weight-gradient part of B.
struct StageTimes {
  double f = 0, b = 0, w = 0;
};

struct PipelineScheduleInfo {
  PipelineSchedule schedule;
  const char* name;
  const char* description;
  const char* bubble;  // the closed-form bubble over p stages, DeepSeek-V3's notation (B = full backward)
  // The bubble as a fraction of 1F1B's (p - 1)(F + B), for p >= 2 stages.
  double (*bubble_factor)(int stages, StageTimes t);
  bool chunks;              // runs v > 1 model chunks per stage
  bool splits_weight_grad;  // the backward pass runs as B (input gradient) and W (weight gradient)
  int param_copies;         // model-parameter copies per pipeline rank (DualPipe: 2)
};

namespace schedule_detail {
inline double one(int, StageTimes) {
  return 1.0;
}
// ZB-H1 (Qi et al., "Zero Bubble Pipeline Parallelism", ICLR 2024, Sec. 3.1): with the backward
// split into B_in and W, and W passes deferred into the cool-down, the bubble is (p-1)(F + B_in - W)
// = (p-1)(F + B - 2W) with B the full backward (DeepSeek-V3 report Table 2, "ZB1P"), against
// 1F1B's (p-1)(F + B); activation memory as 1F1B's.
inline double zero_bubble(int, StageTimes t) {
  const double base = t.f + t.b;
  return base > 0 ? std::max(0.0, t.f + t.b - 2.0 * t.w) / base : 1.0;
}
// DualPipe (DeepSeek-V3 report Sec. 3.2.1, Table 2): micro-batches fed from both ends of the
// pipeline, each rank holding two stages' parameters, forward and backward chunks of the two
// directions overlapped in pairs; bubble (p/2 - 1)(F&B + B - 3W), with F&B, an overlapped forward +
// backward pair, taken as F + B (the EP all-to-all it hides is ep_comm_overlap's business).
inline double dualpipe(int stages, StageTimes t) {
  const double base = (stages - 1) * (t.f + t.b);
  const double bubble = (stages / 2.0 - 1.0) * std::max(0.0, t.f + 2.0 * t.b - 3.0 * t.w);
  return base > 0 ? std::max(0.0, bubble) / base : 1.0;
}
}  // namespace schedule_detail

inline constexpr PipelineScheduleInfo kPipelineSchedules[] = {
    {PipelineSchedule::kGPipe, "gpipe", "all forwards, then all backwards (Huang et al., GPipe, NeurIPS 2019)",
     "(p-1)(F+B); m micro-batches of activations", schedule_detail::one, false, false, 1},
    {PipelineSchedule::k1F1B, "1f1b",
     "one forward, one backward after a warm-up of p-s-1 forwards (PipeDream-flush; Narayanan et al., SC'21)",
     "(p-1)(F+B)", schedule_detail::one, false, false, 1},
    {PipelineSchedule::kInterleaved1F1B, "interleaved-1f1b",
     "1F1B over v model chunks per stage, bubble divided by v (Megatron-LM; Narayanan et al., SC'21)",
     "(p-1)(F+B)/v", schedule_detail::one, true, false, 1},
    {PipelineSchedule::kZeroBubble, "zero-bubble",
     "ZB-H1: backward split into B (input grad) and W (weight grad), W deferred into the bubbles (Qi et al., "
     "ICLR 2024)",
     "(p-1)(F+B-2W)", schedule_detail::zero_bubble, false, true, 1},
    {PipelineSchedule::kDualPipe, "dualpipe",
     "bidirectional 1F1B with overlapped forward/backward pairs and split W, 2x parameters per rank (DeepSeek-V3 "
     "report, Sec. 3.2.1)",
     "(p/2-1)(F&B+B-3W), F&B = F+B", schedule_detail::dualpipe, false, true, 2},
};

inline std::span<const PipelineScheduleInfo> pipeline_schedules() {
  return kPipelineSchedules;
}
inline const PipelineScheduleInfo& schedule_info(PipelineSchedule s) {
  for (const auto& info : kPipelineSchedules) {
    if (info.schedule == s) return info;
  }
  return kPipelineSchedules[1];
}
inline const char* to_string(PipelineSchedule s) {
  return schedule_info(s).name;
}
inline std::optional<PipelineSchedule> parse_pipeline_schedule(std::string_view s) {
  for (const auto& info : kPipelineSchedules) {
    if (s == info.name) return info.schedule;
  }
  return std::nullopt;
}
// "gpipe, 1f1b, ..." for messages.
inline std::string pipeline_schedule_names() {
  std::string out;
  for (const auto& info : kPipelineSchedules) out += (out.empty() ? "" : ", ") + std::string(info.name);
  return out;
}

}  // namespace tahoma
