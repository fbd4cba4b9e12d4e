// Scenarios the benchmarks share: Llama 3.1 405B at sequence 8192 on Trn3 UltraServers, the
// project's headline workload (issues 5 and 13 state their speed targets on it).
#pragma once

#include <cstdlib>

#include "tahoma/scenario.h"

namespace tahoma_bench {

// Presets come from the source tree's data/ unless TAHOMA_DATA says otherwise.
inline void use_source_data() { setenv("TAHOMA_DATA", TAHOMA_SOURCE_DIR "/data", 0); }

// The workload on `chips` chips, every layout field left to the caller (or to the defaults).
inline tahoma::ScenarioInput llama405b_on_trn3(int chips) {
  use_source_data();
  tahoma::ScenarioInput in;
  in.system = "trn3-ultraserver";
  in.model = "llama3.1-405b";
  in.chips = chips;
  in.seq = 8192;
  return in;
}

}  // namespace tahoma_bench
