// Chrome trace-event JSON of a serving run (docs/serving.md 8), in the "Trace Event Format" (Google,
// docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU) that ui.perfetto.dev opens,
// with the training trace's conventions (src/engine/trace.cpp): named processes and threads with a
// sort index, complete ("X") slices, integer formatting only, so equal runs give identical files.
//   process 0 "iterations": one thread per simulated group, one slice per iteration;
//   process 1 + g "requests of group g": one thread per recorded request, its queued, prefill and
//   decode slices.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <string_view>

#include "tahoma/serve.h"

namespace tahoma {
namespace {

using Buffer = fmt::memory_buffer;

// Events separated by ",\n" (JSON allows no trailing comma).
class Events {
 public:
  Buffer& next() {
    if (count_++ > 0) buf_.append(std::string_view(",\n"));
    return buf_;
  }
  Buffer& buffer() { return buf_; }

 private:
  Buffer buf_;
  long long count_ = 0;
};

// Nanoseconds as microseconds with exactly three decimals ("12.345"); ns >= 0.
void append_us(Buffer& out, std::int64_t ns) { fmt::format_to(fmt::appender(out), "{}.{:03}", ns / 1000, ns % 1000); }

// A process or thread name and sort index; `name` holds no characters JSON must escape.
void metadata(Events& e, const char* what, int pid, long long tid, std::string_view name, long long sort_index) {
  fmt::format_to(fmt::appender(e.next()),
                 "{{\"name\":\"{}_name\",\"ph\":\"M\",\"pid\":{},\"tid\":{},\"args\":{{\"name\":\"{}\"}}}}", what, pid,
                 tid, name);
  fmt::format_to(fmt::appender(e.next()),
                 "{{\"name\":\"{}_sort_index\",\"ph\":\"M\",\"pid\":{},\"tid\":{},\"args\":{{\"sort_index\":{}}}}}",
                 what, pid, tid, sort_index);
}

// A complete slice from `start` to `end` (ns) with its args (a JSON object's members, or "").
void slice(Events& e, std::string_view name, std::string_view cat, int pid, long long tid, std::int64_t start,
           std::int64_t end, std::string_view args) {
  Buffer& b = e.next();
  fmt::format_to(fmt::appender(b), "{{\"name\":\"{}\",\"cat\":\"{}\",\"ph\":\"X\",\"pid\":{},\"tid\":{},\"ts\":", name,
                 cat, pid, tid);
  append_us(b, start);
  b.append(std::string_view(",\"dur\":"));
  append_us(b, end - start);
  if (!args.empty()) fmt::format_to(fmt::appender(b), ",\"args\":{{{}}}", args);
  b.push_back('}');
}

void iterations(Events& e, const std::vector<GroupTimeline>& timelines) {
  metadata(e, "process", 0, 0, "iterations", 0);
  for (std::size_t g = 0; g < timelines.size(); ++g) {
    const GroupTimeline& t = timelines[g];
    metadata(e, "thread", 0, static_cast<long long>(g),
             fmt::format("group {} (x{} like it)", g, t.multiplicity), static_cast<long long>(g));
    for (const IterationSpan& it : t.iterations) {
      slice(e, it.prefill_tokens > 0 ? (it.decode_seqs > 0 ? "mixed" : "prefill") : "decode", "iteration", 0,
            static_cast<long long>(g), it.start_ns, it.end_ns,
            fmt::format("\"tokens\":{},\"decode_seqs\":{},\"prefill_tokens\":{},\"prompts_done\":{}", it.tokens,
                        it.decode_seqs, it.prefill_tokens, it.prompts_done));
    }
  }
}

void requests(Events& e, const std::vector<GroupTimeline>& timelines) {
  for (std::size_t g = 0; g < timelines.size(); ++g) {
    const GroupTimeline& t = timelines[g];
    const int pid = 1 + static_cast<int>(g);
    metadata(e, "process", pid, 0, fmt::format("requests of group {}", g), pid);
    // The cap, said where the requests are.
    Buffer& note = e.next();
    fmt::format_to(fmt::appender(note),
                   "{{\"name\":\"recorded requests\",\"ph\":\"i\",\"s\":\"p\",\"pid\":{},\"tid\":0,\"ts\":0,"
                   "\"args\":{{\"recorded\":{},\"served\":{},\"cap\":{},\"note\":\"the first {} of the group's {} "
                   "requests (in arrival order) are drawn; the trace records at most {} requests in all\"}}}}",
                   pid, t.requests.size(), t.requests_total, t.request_cap, t.requests.size(), t.requests_total,
                   kTraceRequests);
    for (const RequestSpan& r : t.requests) {
      if (r.end_ns < 0) continue;  // not finished (cannot happen in a completed run)
      const long long tid = r.index;
      metadata(e, "thread", pid, tid, fmt::format("request {}", r.index), tid);
      const std::int64_t admitted = r.admitted_ns >= 0 ? r.admitted_ns : r.first_token_ns;
      const std::string args = fmt::format("\"request\":{},\"input\":{},\"output\":{},\"preemptions\":{}", r.index,
                                           r.input, r.output, r.preemptions);
      if (admitted > r.arrival_ns) slice(e, "queued", "request", pid, tid, r.arrival_ns, admitted, args);
      if (r.first_token_ns > admitted) slice(e, "prefill", "request", pid, tid, admitted, r.first_token_ns, args);
      if (r.end_ns > r.first_token_ns) slice(e, "decode", "request", pid, tid, r.first_token_ns, r.end_ns, args);
    }
  }
}

}  // namespace

std::string serve_trace_json(const ServeConfig& c, const ServeResult& r, const std::vector<GroupTimeline>& timelines) {
  Events e;
  e.buffer().append(std::string_view("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n"));
  iterations(e, timelines);
  requests(e, timelines);
  Buffer& b = e.buffer();
  fmt::format_to(fmt::appender(b),
                 "\n],\"otherData\":{{\"tool\":\"tahoma serve\",\"system\":{},\"model\":{},\"stack\":{},"
                 "\"simulated_groups\":{},\"groups\":{}}}}}\n",
                 nlohmann::json(c.system.name).dump(), nlohmann::json(c.model.name).dump(),
                 nlohmann::json(c.stack).dump(), timelines.size(), r.groups);
  return fmt::to_string(b);
}

}  // namespace tahoma
