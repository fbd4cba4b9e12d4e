// Chrome trace-event JSON of a run (engine.h), as documented in "Trace Event Format" (Google,
// docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU) and read by Perfetto.
// Integer formatting only, so equal runs give byte-identical files.
#include <fmt/format.h>

#include <ostream>

#include "tahoma/engine.h"
#include "tahoma/error.h"

namespace tahoma::engine {

namespace {

using Buffer = fmt::memory_buffer;

// Events go to a buffer that is handed to the stream every 64 KiB, each after a ",\n" separator
// but the first (JSON allows no trailing comma).
class EventWriter {
 public:
  explicit EventWriter(std::ostream& out) : out_(out) {}
  Buffer& begin_event() {
    if (buf_.size() >= kFlushBytes) flush();
    if (events_++ > 0) buf_.append(std::string_view(",\n"));
    return buf_;
  }
  void flush() {
    out_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
    buf_.clear();
  }
  Buffer& buffer() { return buf_; }

 private:
  static constexpr size_t kFlushBytes = 64 * 1024;
  std::ostream& out_;
  Buffer buf_;
  size_t events_ = 0;
};

// Picoseconds as microseconds with exactly six decimals ("12.000345"); p >= 0.
void append_us(Buffer& out, Picos p) {
  TAHOMA_ASSERT(p >= 0);
  fmt::format_to(fmt::appender(out), "{}.{:06}", p / 1000000, p % 1000000);
}

// `s` as a JSON string literal (RFC 8259 sec. 7): quotes, backslashes and control characters escaped.
void append_json_string(Buffer& out, std::string_view s) {
  out.push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"': fmt::format_to(fmt::appender(out), "\\\""); break;
      case '\\': fmt::format_to(fmt::appender(out), "\\\\"); break;
      case '\n': fmt::format_to(fmt::appender(out), "\\n"); break;
      case '\t': fmt::format_to(fmt::appender(out), "\\t"); break;
      case '\r': fmt::format_to(fmt::appender(out), "\\r"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(fmt::appender(out), "\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void append_metadata(EventWriter& w, const char* what, int pid, int tid, std::string_view name, int sort_index) {
  Buffer& out = w.begin_event();
  fmt::format_to(fmt::appender(out),
                 "{{\"name\":\"{}_name\",\"ph\":\"M\",\"pid\":{},\"tid\":{},\"args\":{{\"name\":", what, pid, tid);
  append_json_string(out, name);
  out.append(std::string_view("}}"));
  fmt::format_to(fmt::appender(w.begin_event()),
                 "{{\"name\":\"{}_sort_index\",\"ph\":\"M\",\"pid\":{},\"tid\":{},\"args\":{{\"sort_index\":{}}}}}",
                 what, pid, tid, sort_index);
}

}  // namespace

void write_chrome_trace(const TaskGraph& graph, const RunResult& result, const std::vector<std::string>& rank_names,
                        std::ostream& out) {
  const size_t n = graph.size();
  TAHOMA_ASSERT(result.start.size() == n && result.end.size() == n);
  EventWriter w(out);
  w.buffer().append(std::string_view("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n"));

  // Names for every rank and every stream that has a task.
  std::vector<bool> lane_used(static_cast<size_t>(graph.num_ranks()) * kNumStreams, false);
  for (const TaskSpec& t : graph.tasks()) {
    lane_used[static_cast<size_t>(t.rank) * kNumStreams + static_cast<size_t>(t.stream)] = true;
  }
  for (int rank = 0; rank < graph.num_ranks(); ++rank) {
    bool any = false;
    for (int s = 0; s < kNumStreams; ++s) any = any || lane_used[static_cast<size_t>(rank) * kNumStreams + s];
    if (!any) continue;
    const auto r = static_cast<size_t>(rank);
    append_metadata(w, "process", rank, 0, r < rank_names.size() ? rank_names[r] : fmt::format("rank {}", rank), rank);
    for (int s = 0; s < kNumStreams; ++s) {
      if (lane_used[r * kNumStreams + static_cast<size_t>(s)]) {
        append_metadata(w, "thread", rank, s, to_string(static_cast<StreamKind>(s)), s);
      }
    }
  }

  // One complete ("X") slice per task, in task order.
  for (TaskId id = 0; id < n; ++id) {
    const TaskSpec& t = graph.task(id);
    Buffer& buf = w.begin_event();
    buf.append(std::string_view("{\"name\":"));
    append_json_string(buf, graph.name(t.name));
    fmt::format_to(fmt::appender(buf),
                   ",\"cat\":\"{}\",\"ph\":\"X\",\"pid\":{},\"tid\":{},\"ts\":", to_string(t.category), t.rank,
                   static_cast<int>(t.stream));
    append_us(buf, result.start[id]);
    buf.append(std::string_view(",\"dur\":"));
    append_us(buf, result.end[id] - result.start[id]);
    if (t.microbatch >= 0 || t.chunk >= 0 || t.layer >= 0) {
      buf.append(std::string_view(",\"args\":{"));
      const char* sep = "";
      const std::pair<const char*, int> fields[] = {
          {"microbatch", t.microbatch}, {"chunk", t.chunk}, {"layer", t.layer}};
      for (const auto& [key, value] : fields) {
        if (value < 0) continue;
        fmt::format_to(fmt::appender(buf), "{}\"{}\":{}", sep, key, value);
        sep = ",";
      }
      buf.push_back('}');
    }
    buf.push_back('}');
  }

  // One flow per arrow: "s" at the send's start (inside its slice), "f" bound to the enclosing
  // slice ("bp":"e") at the receiver's start.
  const auto& arrows = graph.arrows();
  for (size_t i = 0; i < arrows.size(); ++i) {
    const auto [send, recv] = arrows[i];
    const TaskSpec& s = graph.task(send);
    const TaskSpec& r = graph.task(recv);
    Buffer& buf = w.begin_event();
    fmt::format_to(fmt::appender(buf),
                   "{{\"name\":\"message\",\"cat\":\"flow\",\"ph\":\"s\",\"id\":{},\"pid\":{},\"tid\":{},\"ts\":", i,
                   s.rank, static_cast<int>(s.stream));
    append_us(buf, result.start[send]);
    buf.push_back('}');
    Buffer& end = w.begin_event();
    fmt::format_to(
        fmt::appender(end),
        "{{\"name\":\"message\",\"cat\":\"flow\",\"ph\":\"f\",\"bp\":\"e\",\"id\":{},\"pid\":{},\"tid\":{},\"ts\":", i,
        r.rank, static_cast<int>(r.stream));
    append_us(end, result.start[recv]);
    end.push_back('}');
  }

  w.buffer().append(std::string_view("\n]}\n"));
  w.flush();
}

}  // namespace tahoma::engine
