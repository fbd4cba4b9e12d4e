// Fuzzes the YAML loaders: one input is read as a scenario, a system, a model, a software stack and
// a calibration-constants file.
#include <cstddef>
#include <cstdint>

#include "fuzz_input.h"
#include "tahoma/error.h"
#include "tahoma/calibrate.h"
#include "tahoma/report.h"
#include "tahoma/stack.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = tahoma::fuzz::write_input(data, size, "input.yaml");
  try {
    tahoma::ScenarioInput in;
    in.file = path;
    const tahoma::Scenario sc = tahoma::resolve_scenario(in);
    tahoma::StepOptions opts;
    opts.engine = tahoma::StepEngine::kClosedForm;
    (void)tahoma::simulate_step(sc, opts);
  } catch (const tahoma::Error&) {
  }
  try {
    (void)tahoma::load_system(path, {});
  } catch (const tahoma::Error&) {
  }
  try {
    (void)tahoma::load_model(path);
  } catch (const tahoma::Error&) {
  }
  try {
    (void)tahoma::load_stack(path);
  } catch (const tahoma::Error&) {
  }
  try {
    (void)tahoma::load_calibration(path);
  } catch (const tahoma::Error&) {
  }
  return 0;
}
