// Fuzzes the Hugging Face config.json loader, then prices one step of the model on one chip.
#include <cstddef>
#include <cstdint>

#include "fuzz_input.h"
#include "tahoma/error.h"
#include "tahoma/report.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = tahoma::fuzz::write_input(data, size, "config.json");
  try {
    (void)tahoma::load_model(path);
    tahoma::ScenarioInput in;
    in.system = "dgx-h100";
    in.model = path;
    in.seq = 1024;
    in.global_batch = 8;
    const tahoma::Scenario sc = tahoma::resolve_scenario(in);
    tahoma::StepOptions opts;
    opts.engine = tahoma::StepEngine::kClosedForm;
    (void)tahoma::simulate_step(sc, opts);
  } catch (const tahoma::Error&) {
  }
  return 0;
}
