// Fuzzes the validation CSV reader and the row-to-scenario rules (closed form, so each input stays
// fast).
#include <cstddef>
#include <cstdint>

#include "fuzz_input.h"
#include "tahoma/error.h"
#include "tahoma/report.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = tahoma::fuzz::write_input(data, size, "runs.csv");
  try {
    tahoma::ValidationFilter filter;
    filter.engine = tahoma::StepEngine::kClosedForm;
    (void)tahoma::validate_file(path, filter);
  } catch (const tahoma::Error&) {
  }
  return 0;
}
