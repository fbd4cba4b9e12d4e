// The `tahoma` binary: the command line of command_line.h on this process's streams.
#include "command_line.h"

int main(int argc, char** argv) { return tahoma::cli::run_command_line(argc, argv); }
