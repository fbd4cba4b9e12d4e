// The `tahoma` command line (command_line.h): the binary (tahoma_main.cpp) and the Python module run
// it. Only this file chooses exit codes: 0 success (a layout that does not fit is a result), 2 bad
// input, 1 internal error.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <iostream>
#include <sstream>

#include <tbb/global_control.h>

#include "internal/yaml_reader.h"
#include "command_line.h"
#include "field_options.h"
#include "output.h"
#include "progress.h"
#include "report_command.h"
#include "run_command.h"
#include "serve_command.h"
#include "serve_search_command.h"
#include "tahoma/csv.h"
#include "tahoma/serve_validate.h"
#include "tahoma/error.h"
#include "tahoma/plan.h"
#include "tahoma/report.h"
#include "tahoma/search.h"

namespace {

using namespace tahoma;
using cli::kExitInput;

// Largest number of rows a `collective` size sweep prints (nccl-tests' default sweep has about 30).
constexpr int kMaxSweepRows = 1000;
// Largest buffer a `collective` sweep prices: 1 EB, far beyond any chip's memory.
constexpr double kMaxCollectiveBytes = 1e18;

// An input path: an existing file, or "-" for standard input.
CLI::Validator existing_file_or_stdin() {
  return CLI::Validator(
      [](std::string& path) { return path == "-" ? std::string() : CLI::ExistingFile(path); }, "FILE|-");
}

// "-" in an error's location reads better as <stdin>.
std::string for_user(const std::string& message) {
  return message.rfind("-:", 0) == 0 ? "<stdin>" + message.substr(1) : message;
}

// --set KEY=VALUE, repeatable; each takes exactly one value, so `--set k=v SCENARIO.yaml` leaves the
// scenario to the positional argument.
void add_set_option(CLI::App* cmd, std::vector<std::string>& overrides) {
  cmd->add_option("--set", overrides, "override a system field, e.g. --set chip.hbm_capacity=288GB (repeatable)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

// --stack NAME: the software stack whose defaults the plan takes (explicit flags still win).
void add_stack_option(CLI::App* cmd, ScenarioInput& in) {
  cmd->add_option("--stack", in.stack,
                  "software stack preset or YAML path (tahoma list stacks; default: the system's stack)");
}

void add_scenario_options(CLI::App* cmd, ScenarioInput& in) {
  cmd->add_option("scenario", in.file,
                  "scenario YAML (system, chips, model, training, plan), or - for stdin; flags override it")
      ->check(existing_file_or_stdin());
  cmd->add_option("--system", in.system, "system preset name or YAML path (tahoma list systems)");
  add_stack_option(cmd, in);
  cmd->add_option("--chips", in.chips, "number of chips (default: one scale-up domain)");
  cmd->add_option("--model", in.model, "model preset name, YAML path or Hugging Face config.json");
  cli::add_field_options(cmd, in);
  add_set_option(cmd, in.overrides);
}

std::string render_list(const std::vector<PresetInfo>& items, const std::string& format) {
  if (format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& i : items) j.push_back({{"name", i.name}, {"description", i.description}});
    return j.dump(2) + "\n";
  }
  std::string out;
  for (const auto& i : items) out += fmt::format("{:<24} {}\n", i.name, i.description);
  return out;
}

std::string run_demo(const std::string& format) {
  // The headline comparison: one scenario file per system under data/scenarios/.
  const std::vector<std::string> names = {"demo-llama3.1-405b-trn3-ultraserver", "demo-llama3.1-405b-trn2-ultraserver",
                                          "demo-llama3.1-405b-tpu-v7", "demo-llama3.1-405b-gb300-nvl72"};
  std::vector<ComparisonRow> rows;
  nlohmann::json all = nlohmann::json::array();
  for (const auto& name : names) {
    ScenarioInput in;
    in.file = internal::data_dir() + "/scenarios/" + name + ".yaml";
    ComparisonRow row{resolve_scenario(in), {}};
    row.result = simulate_step(row.scenario);
    all.push_back(result_json(row.scenario, row.result));
    rows.push_back(std::move(row));
  }
  if (format == "json") return all.dump(2) + "\n";
  const auto& sc = rows.front().scenario;
  std::string out =
      fmt::format("Llama 3.1 405B pre-training, seq {}, global batch {} ({:.1f}M tokens/step), {}\n\n", sc.training.seq,
                  sc.training.global_batch, sc.training.seq * static_cast<double>(sc.training.global_batch) / 1e6,
                  to_string(sc.training.precision));
  out += comparison_table(rows);
  out += "\nLayouts come from data/scenarios/demo-*.yaml; `tahoma simulate FILE` shows the full breakdown of one.\n";
  out += "\n" + cli::serving_demo_table();  // serve_command.cpp
  out += "\n" + cli::run_demo_table();      // run_command.cpp
  return out;
}

// The degrees given on the command line restrict the search to them.
SearchSpace space_from(const ScenarioInput& in) {
  SearchSpace s;
  s.tp = in.tp;
  s.pp = in.pp;
  s.vpp = in.vpp;
  s.cp = in.cp;
  s.ep = in.ep;
  s.micro_batch = in.micro_batch;
  s.zero = in.zero;
  if (in.recompute) {
    const auto r = parse_recompute(*in.recompute);
    if (!r) throw InputError("--recompute", "", fmt::format("'{}' is not none, selective or full", *in.recompute));
    s.recompute = *r;
  }
  if (in.dp) throw InputError("--dp", "", "search derives dp from the other degrees; drop --dp");
  return s;
}

// The scenario `tahoma simulate` runs. With no layout given (no scenario file, no degree, micro-batch
// or ZeRO flag), the default of one data-parallel replica per rank is used when it divides the batch;
// otherwise the layout the search ranks first, even pipelines before uneven ones (Megatron's
// num_layers_in_first/last_pipeline_stage), so a question without a layout gets an answer.
// `searched` says which happened ("" when the layout was given or the default).
Scenario simulate_scenario(const ScenarioInput& in, std::string& searched) {
  searched.clear();
  const bool layout_given = in.file || in.tp || in.pp || in.vpp || in.dp || in.cp || in.ep || in.etp ||
                            in.micro_batch || in.zero || in.uneven_pipeline;
  if (layout_given) return resolve_scenario(in);
  Scenario sc = resolve_scenario(in, false);
  std::string why_not_default;
  try {
    Plan trial = sc.plan;
    validate_plan(trial, sc.training, sc.model, sc.system, "command line");
    sc.plan = trial;
    return sc;
  } catch (const InputError& e) {
    // Only a batch that one replica per rank does not divide is the layout's to fix; any other
    // error (a flag that needs another, a system field) is the input's, raised as the flags name it.
    if (e.key_path() != "global_batch" && e.key_path() != "dp") return resolve_scenario(in);
    why_not_default = e.problem();
  }
  SearchOptions options;
  options.top = 1;
  options.resimulate = 3;
  options.space = space_from(in);  // what the flags fix (--recompute) the search keeps
  for (bool uneven : {false, true}) {
    Scenario base = sc;
    base.plan.uneven_pipeline = uneven;
    const SearchReport report = search(base, options);
    if (report.results.empty()) continue;
    sc.plan = report.results.front().plan;
    validate_plan(sc.plan, sc.training, sc.model, sc.system, "command line");
    searched = fmt::format("no layout was given and the default, one data-parallel replica per rank, does not run "
                           "({}); this is the layout `tahoma search` ranks first{}",
                           why_not_default, uneven ? " once pipeline stages may differ by one layer" : "");
    return sc;
  }
  // Nothing runs: the default's own error, located as the flags name it.
  try {
    return resolve_scenario(in);
  } catch (const InputError& e) {
    throw InputError(e.where(), e.key_path(),
                     e.problem() + "; no layout the search enumerates runs this batch on these chips either");
  }
}

void add_search_options(CLI::App* cmd, SearchOptions& opts, std::string& objective) {
  cmd->add_option("--objective", objective, "what to optimise: tokens-per-s (default), cost or memory-headroom")
      ->check(CLI::IsMember({"tokens-per-s", "cost", "memory-headroom"}));
  cmd->add_option("--top", opts.top, "how many layouts to report (default 5)")->check(CLI::Range(1, 1000));
  cmd->add_option("--threads", opts.threads, "worker threads (default: every core); results do not depend on it")
      ->check(CLI::Range(0, 4096));
}

}  // namespace

int tahoma::cli::run_command_line(int argc, const char* const* argv, const CommandIo& io) {
  std::ostream& err = io.err != nullptr ? *io.err : std::cerr;
  std::ostream& out = io.out != nullptr ? *io.out : std::cout;
  CLI::App app{"Tahoma: a simulator of AI supercomputers (training steps of dense and MoE transformers)", "tahoma"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("tahoma ") + TAHOMA_VERSION);
  app.option_defaults()->always_capture_default();
  std::string format = "table";
  std::string output;
  bool quiet = false;
  auto add_quiet = [&](CLI::App* cmd) {
    cmd->add_flag("-q,--quiet", quiet, "no progress line on stderr (it shows only on a terminal, after a second)");
  };
  auto add_format = [&](CLI::App* cmd) {
    cmd->add_option("--format", format, "output format: table, json or csv (docs/csv.md)")
        ->check(CLI::IsMember({"table", "json", "csv"}));
    cmd->add_option("-o,--output", output, "write the output to FILE instead of stdout");
    add_quiet(cmd);
  };

  auto* list = app.add_subcommand("list", "list presets and registries: tahoma list systems|models|stacks|...");
  std::string list_what;
  list->add_option("what", list_what, "systems, models, stacks, schedules, algorithms or fields")
      ->required()
      ->check(CLI::IsMember({"systems", "models", "stacks", "schedules", "algorithms", "fields"}));
  add_format(list);

  auto* show = app.add_subcommand("show", "show one preset with totals: tahoma show system|model|stack NAME");
  std::string show_what, show_name;
  std::vector<std::string> show_set;
  std::optional<int> show_chips;
  show->add_option("what", show_what, "system, model or stack")
      ->required()
      ->check(CLI::IsMember({"system", "model", "stack"}));
  show->add_option("name", show_name, "preset name or file path")->required();
  add_set_option(show, show_set);
  show->add_option("--chips", show_chips, "number of chips (default: one scale-up domain)");
  add_format(show);

  auto* simulate = app.add_subcommand("simulate", "simulate one training step of a scenario");
  ScenarioInput sim_in;
  add_scenario_options(simulate, sim_in);
  add_format(simulate);
  std::string sim_engine = "events", sim_network = "analytical", sim_trace;
  simulate->add_option("--engine", sim_engine, "events (discrete-event task graph) or closed-form (flow-shop formula)")
      ->check(CLI::IsMember({"events", "closed-form"}));
  simulate->add_option("--network", sim_network, "analytical (alpha-beta) or flow (max-min fair link sharing)")
      ->check(CLI::IsMember({"analytical", "flow"}));
  simulate->add_option("--trace", sim_trace, "write a Chrome/Perfetto trace (JSON) of the simulated ranks to FILE");

  auto* demo = app.add_subcommand("demo", "headline comparison: Llama 3.1 405B on ~16K chips of four systems");
  add_format(demo);

  auto* validate = app.add_subcommand("validate", "compare predictions with published training runs (CSV)");
  std::string validate_file_path;
  ValidationFilter filter;
  validate->add_option("file", validate_file_path, "CSV in the schema of validation/README.md, or - for stdin")
      ->required()
      ->check(existing_file_or_stdin());
  validate->add_option("--only", filter.only, "simulate only the row with this id");
  validate->add_option("--family", filter.family, "only rows of this hardware family (e.g. 'NVIDIA Hopper', 'TPU')");
  validate->add_option("--format", format, "output format: table, json, csv or markdown (docs/validation.md)")
      ->check(CLI::IsMember({"table", "json", "csv", "markdown"}));
  validate->add_option("-o,--output", output, "write the output to FILE instead of stdout");
  add_quiet(validate);
  std::string validate_engine = "events";
  validate->add_option("--engine", validate_engine, "events (default) or closed-form")
      ->check(CLI::IsMember({"events", "closed-form"}));
  std::string validate_network = "analytical";
  validate->add_option("--network", validate_network, "analytical (default) or flow (max-min fair link sharing)")
      ->check(CLI::IsMember({"analytical", "flow"}));
  std::string validate_cv;
  validate->add_option("--cv", validate_cv,
                       "cross-validate: 'source' predicts each row with the calibrated constants re-derived "
                       "without its source's rows (leave-one-source-out), beside the in-sample error")
      ->check(CLI::IsMember({"source"}));

  auto* calibrate_cmd = app.add_subcommand(
      "calibrate", "re-derive every calibrated constant (data/calibration.yaml) by its rule from published runs");
  std::string calibrate_file_path, calibrate_constants;
  calibrate_cmd->add_option("file", calibrate_file_path, "CSV in the schema of validation/README.md, or - for stdin")
      ->required()
      ->check(existing_file_or_stdin());
  calibrate_cmd->add_option("--constants", calibrate_constants, "the constants and their rules (default: data/calibration.yaml)");
  calibrate_cmd->add_option("--format", format, "output format: table, json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}));
  calibrate_cmd->add_option("-o,--output", output, "write the output to FILE instead of stdout");
  add_quiet(calibrate_cmd);

  auto* collective = app.add_subcommand(
      "collective",
      "time one collective over a size sweep, like nccl-tests: tahoma collective --system S --op all-reduce");
  std::string coll_system, coll_op = "all-reduce", coll_min = "1 KB", coll_max = "1 GB", coll_network = "analytical";
  std::optional<int> coll_chips;
  std::vector<std::string> coll_set;
  double coll_factor = 10.0;
  CollectiveRequest coll;
  collective->add_option("--system", coll_system, "system preset name or YAML path (tahoma list systems)")->required();
  collective->add_option("--chips", coll_chips, "number of chips (default: one scale-up domain)");
  collective->add_option("--op", coll_op, "all-reduce, all-gather, reduce-scatter, all-to-all or send-recv")
      ->check(CLI::IsMember({"all-reduce", "all-gather", "reduce-scatter", "all-to-all", "send-recv"}));
  collective->add_option("--group", coll.group, "ranks in the group (default: every rank)");
  collective->add_option("--stride", coll.stride, "distance between consecutive members in ranks (placement)");
  collective->add_option("-b,--min-bytes", coll_min, "smallest buffer, e.g. 8B, 1KB (nccl-tests -b)");
  collective->add_option("-e,--max-bytes", coll_max, "largest buffer, e.g. 1GB (nccl-tests -e)");
  collective->add_option("-f,--step-factor", coll_factor, "multiply the size by this each row (nccl-tests -f)")
      ->check(CLI::Range(1.0001, 1e6));
  collective->add_option("--algorithm", coll.algorithm, "force one algorithm (default: the fastest valid one)");
  collective->add_option("--network", coll_network, "analytical (alpha-beta) or flow (max-min fair link sharing)")
      ->check(CLI::IsMember({"analytical", "flow"}));
  collective->add_flag("--all-groups", coll.all_groups,
                       "flow mode: every group of this shape in the system runs at once and shares links");
  add_set_option(collective, coll_set);
  add_format(collective);

  auto* search_cmd = app.add_subcommand(
      "search", "find the best parallel layout: tahoma search --system S --chips N --model M --seq L --global-batch B");
  ScenarioInput search_in;
  add_scenario_options(search_cmd, search_in);
  add_format(search_cmd);
  SearchOptions search_opts;
  std::string search_objective = "tokens-per-s";
  add_search_options(search_cmd, search_opts, search_objective);
  cli::ServeSearchCommand serve_search(search_cmd);  // search --serve (serve_search_command.cpp)

  auto* compare_cmd = app.add_subcommand(
      "compare", "search several systems for the same work, side by side: tahoma compare --systems a,b,c ...");
  std::vector<std::string> compare_systems;
  ScenarioInput compare_in;
  compare_cmd->add_option("--systems", compare_systems, "system presets or YAML paths, comma-separated")
      ->required()
      ->delimiter(',');
  compare_cmd->add_option("--chips", compare_in.chips, "number of chips of each system")->required();
  add_stack_option(compare_cmd, compare_in);
  compare_cmd->add_option("--model", compare_in.model, "model preset name, YAML path or Hugging Face config.json")
      ->required();
  for (const char* key : {"seq", "global_batch", "precision"})
    cli::add_field_option(compare_cmd, compare_in, *find_plan_field_by_key(key));
  add_format(compare_cmd);
  SearchOptions compare_opts;
  std::string compare_objective = "tokens-per-s";
  add_search_options(compare_cmd, compare_opts, compare_objective);
  std::string compare_tokens, compare_rank_by = "time";  // run level (run_command.cpp)
  compare_cmd->add_option("--tokens", compare_tokens, "also run each best layout for this many tokens with failures, e.g. 15T");
  compare_cmd->add_option("--rank-by", compare_rank_by, "with --tokens: rank by time or cost to train");

  cli::ServeCommand serve_cmd(app);  // tahoma serve (serve_command.cpp)
  add_format(serve_cmd.app());
  cli::RunCommand run_cmd(app);  // tahoma run (run_command.cpp)
  add_scenario_options(run_cmd.app(), run_cmd.scenario());
  add_format(run_cmd.app());
  cli::ReportCommand report_cmd(app);  // tahoma report (report_command.cpp)

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, out, err);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, out, err);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e, out, err);
  } catch (const CLI::ParseError& e) {
    const std::string cmd = argc > 1 && argv[1][0] != '-' ? std::string(argv[1]) + " " : "";
    err << "error: command line: " << e.what() << " (see tahoma " << cmd << "--help)\n";
    return kExitInput;
  }
  // CSV is rendered from the JSON result (tahoma/csv.h), so its columns are the JSON's keys.
  const bool csv = format == "csv";
  if (csv) format = "json";
  // The command's name, for the CSV shape ("search", "compare", ...).
  std::string command;
  for (const auto* sub : app.get_subcommands()) command = sub->get_name();

  // --threads N raises oneTBB's worker limit to N (otherwise it caps at the core count and warns).
  std::optional<tbb::global_control> threads;
  try {
    std::string text;
    if (*list) {
      if (list_what == "fields") {
        // The field tables: scenario (plan_fields.h), stack (stack.h) and chip (hw.h).
        text = format == "json" ? fields_json().dump(2) + "\n" : fields_table();
      } else if (list_what == "algorithms") {
        // The collective-algorithm registry (tahoma/comm.h).
        text = format == "json" ? algorithms_json().dump(2) + "\n" : algorithms_table();
      } else if (list_what == "schedules") {
        // The pipeline-schedule registry (tahoma/schedule.h), with each closed-form bubble.
        std::vector<PresetInfo> schedules;
        for (const auto& s : pipeline_schedules())
          schedules.push_back({s.name, fmt::format("{}; bubble {}", s.description, s.bubble)});
        text = render_list(schedules, format);
      } else if (list_what == "stacks") {
        std::vector<PresetInfo> stacks;
        for (const auto& st : list_stack_presets()) stacks.push_back({st.name, st.description});
        text = render_list(stacks, format);
      } else {
        text = render_list(list_what == "systems" ? list_system_presets() : list_model_presets(), format);
      }
    } else if (*show) {
      if (show_what == "system") {
        System s = load_system(show_name, show_set);
        if (show_chips) {
          if (*show_chips < 1 || *show_chips > kMaxChips) {
          throw InputError("--chips", "", fmt::format("{} is not a number of chips in [1, {}]", *show_chips, kMaxChips));
        }
          s.chips = *show_chips;
        }
        text = format == "json" ? system_json(s).dump(2) + "\n" : system_table(s);
      } else if (show_what == "stack") {
        const Stack st = load_stack(show_name);
        text = format == "json" ? stack_json(st).dump(2) + "\n" : stack_table(st);
      } else {
        const Model m = load_model(show_name);
        text = format == "json" ? model_json(m).dump(2) + "\n" : model_table(m);
      }
    } else if (*simulate) {
      std::string searched;
      const Scenario sc = simulate_scenario(sim_in, searched);
      StepOptions opts;
      opts.engine = sim_engine == "closed-form" ? StepEngine::kClosedForm : StepEngine::kEvents;
      opts.network = *parse_network_mode(sim_network);
      if (!sim_trace.empty() && opts.engine != StepEngine::kEvents) {
        throw InputError("--trace", "", "a trace needs the event engine (drop --engine closed-form)");
      }
      std::ostringstream trace;
      if (!sim_trace.empty()) opts.trace = &trace;
      const StepResult r = simulate_step(sc, opts);
      if (format == "json") {
        nlohmann::json j = result_json(sc, r);
        j["layout_source"] = searched.empty() ? "given" : "searched";  // docs/python.md
        if (!searched.empty()) j["layout_note"] = searched;
        text = j.dump(2) + "\n";
      } else {
        text = (searched.empty() ? "" : "Layout searched: " + searched + ".\n\n") + result_table(sc, r);
      }
      if (!sim_trace.empty()) cli::write_output(trace.str(), sim_trace, "--trace");
    } else if (*demo) {
      text = run_demo(format);
    } else if (*collective) {
      System s = load_system(coll_system, coll_set);
      if (coll_chips) {
        if (*coll_chips < 1 || *coll_chips > kMaxChips) {
          throw InputError("--chips", "", fmt::format("{} is not a number of chips in [1, {}]", *coll_chips, kMaxChips));
        }
        s.chips = *coll_chips;
      }
      coll.kind = *parse_collective_kind(coll_op);
      coll.network = *parse_network_mode(coll_network);
      auto size = [](const std::string& value, const char* flag) {
        try {
          return parse_quantity(value, Dimension::kBytes);
        } catch (const std::invalid_argument& e) {
          throw InputError(flag, "", e.what());
        }
      };
      const double lo = size(coll_min, "--min-bytes"), hi = size(coll_max, "--max-bytes");
      if (!(lo > 0) || !(hi >= lo)) throw InputError("--max-bytes", "", "needs 0 < --min-bytes <= --max-bytes");
      if (hi > kMaxCollectiveBytes) {
        throw InputError("--max-bytes", "", fmt::format("{} B is beyond the largest buffer priced, {:g} B (1 EB)", hi,
                                                        kMaxCollectiveBytes));
      }
      // Rows in the sweep: lo * f^k <= hi, counted before any is made.
      const double sweep_rows = std::floor(std::log(hi / lo) / std::log(coll_factor) + 1e-9) + 1;
      if (sweep_rows > kMaxSweepRows) {
        throw InputError("--step-factor", "",
                         fmt::format("the sweep from {} B to {} B by x{} has {:.0f} rows, more than {} (raise -f or "
                                     "narrow -b/-e)",
                                     lo, hi, coll_factor, sweep_rows, kMaxSweepRows));
      }
      for (double b = lo; b <= hi * (1 + 1e-12); b *= coll_factor) coll.sizes.emplace_back(b);
      const auto rows = run_collective(s, coll);
      text = format == "json" ? collective_json(s, coll, rows).dump(2) + "\n" : collective_table(s, coll, rows);
    } else if (*search_cmd && serve_search.enabled()) {
      cli::ProgressLine progress("searching serving", "layouts", cli::stderr_sink(quiet));
      text = serve_search.run(search_in, search_opts, format, progress.callback());
    } else if (*search_cmd) {
      if (search_opts.threads > 0) threads.emplace(tbb::global_control::max_allowed_parallelism, search_opts.threads);
      search_opts.space = space_from(search_in);
      search_opts.objective = *parse_objective(search_objective);
      const Scenario base = resolve_scenario(search_in, false);
      cli::ProgressLine progress("searching", "layouts", cli::stderr_sink(quiet || mpi_rank() != 0));
      search_opts.progress = progress.callback();
      const SearchReport report = search(base, search_opts);
      if (mpi_rank() != 0) return 0;  // under mpirun, rank 0 answers
      text = format == "json" ? search_json(base, search_opts, report).dump(2) + "\n"
                              : search_table(base, search_opts, report);
    } else if (*compare_cmd) {
      if (compare_opts.threads > 0) threads.emplace(tbb::global_control::max_allowed_parallelism, compare_opts.threads);
      compare_opts.objective = *parse_objective(compare_objective);
      std::vector<Scenario> bases;
      for (const auto& name : compare_systems) {
        ScenarioInput in = compare_in;
        in.system = name;
        bases.push_back(resolve_scenario(in, false));
      }
      cli::ProgressLine progress("comparing: searching", "layouts", cli::stderr_sink(quiet || mpi_rank() != 0));
      compare_opts.progress = progress.callback();
      const auto rows = compare(bases, compare_opts);
      if (mpi_rank() != 0) return 0;
      text = format == "json" ? compare_json(bases, compare_opts, rows).dump(2) + "\n"
                              : compare_table(bases, compare_opts, rows);
      if (!compare_tokens.empty()) text = cli::with_run_ranking(text, bases, rows, compare_tokens, compare_rank_by, format);
    } else if (*serve_cmd.app()) {
      cli::ProgressLine progress("searching the SLO rate:", "rates", cli::stderr_sink(quiet));
      text = serve_cmd.run(format, progress.callback());
    } else if (*run_cmd.app()) {
      text = run_cmd.run(format);
    } else if (*report_cmd.app()) {
      if (io.captured != nullptr) {
        throw InputError("report", "",
                         "runs the tahoma binary again, so it is not available in process (from Python: "
                         "tahoma.plots and tahoma.report draw the dicts tahoma.simulate etc. return)");
      }
      return report_cmd.run();  // writes its own output (the HTML) or returns the failed command's status
    } else if (*validate) {
      filter.engine = validate_engine == "closed-form" ? StepEngine::kClosedForm : StepEngine::kEvents;
      filter.network = *parse_network_mode(validate_network);
      cli::ProgressLine progress("validating", "rows", cli::stderr_sink(quiet));
      filter.progress = progress.callback();
      const CsvTable table = read_csv(validate_file_path);
      if (is_serving_csv(table)) {
        // A serving file (validation/README.md, "Inference"): serving runs, not training steps.
        const ServingValidationReport report = validate_serving_table(table, validate_file_path, filter);
        if (format == "json") {
          text = serving_validation_json(report).dump(2) + "\n";
        } else if (format == "markdown") {
          text = serving_validation_markdown(report, "tahoma validate " + validate_file_path + " --format markdown");
        } else {
          text = serving_validation_table(report);
        }
      } else {
      ValidationReport report = validate_table(table, validate_file_path, filter);
      if (!validate_cv.empty()) {
        progress.finish();
        cli::ProgressLine folds("cross-validating", "held-out sources", cli::stderr_sink(quiet));
        filter.progress = folds.callback();
        cross_validate(validate_file_path, report, CalibrationOptions{filter, ""});
      }
      if (format == "json") {
        text = validation_json(report).dump(2) + "\n";
      } else if (format == "markdown") {
        text = validation_markdown(report, "tahoma validate " + validate_file_path +
                                               (validate_cv.empty() ? "" : " --cv " + validate_cv) + " --format markdown");
      } else {
        text = validation_table(report);
      }
      }
    }
    if (*calibrate_cmd) {
      const auto results = calibrate(calibrate_file_path, CalibrationOptions{{}, calibrate_constants});
      text = format == "json" ? calibration_json(calibrate_file_path, results).dump(2) + "\n"
                              : calibration_table(calibrate_file_path, results);
    }
    if (csv) text = csv_from_json(command, nlohmann::json::parse(text));
    if (io.captured != nullptr && (output.empty() || output == "-")) {
      *io.captured = std::move(text);
    } else {
      cli::write_output(text, output, "--output");
    }
    return cli::kExitOk;
  } catch (const InputError& e) {
    err << "error: " << for_user(e.what()) << "\n";
    return kExitInput;
  } catch (const Error& e) {
    err << "error: " << for_user(e.what()) << "\n";
    return kExitInput;
  } catch (const std::exception& e) {
    err << "tahoma: internal error: " << e.what() << "\n";
    return cli::kExitInternal;
  }
}
