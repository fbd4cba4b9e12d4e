// Where the `tahoma` command writes its results (-o FILE, --trace FILE). Private to the cli folder.
#pragma once

#include <string>
#include <string_view>

namespace tahoma::cli {

// Writes `text` to `target` without ever destroying what the target points at:
//  - "" or "-": standard output;
//  - a symbolic link: followed (through every level) to the file it names, which is then treated
//    as below, so the link itself survives;
//  - an existing non-regular file (character or block device, FIFO, socket): opened and written
//    through, never replaced;
//  - a regular file, or a path that does not exist yet: written to a unique temporary file in the
//    same directory and renamed over it (atomic: readers see the old or the new file, never half of
//    one); the old file's permission bits are kept; the temporary is removed on every failure.
// Throws InputError naming `flag` and the path (a directory, a missing directory, no permission, a
// full device). Writes nothing when it throws, except what a device or FIFO already accepted.
void write_output(std::string_view text, const std::string& target, std::string_view flag);

// Reads all of standard input (for a "-" input path). Throws InputError when it cannot be read or
// holds more than `limit_bytes`.
std::string read_stdin(std::string_view flag, std::size_t limit_bytes);

}  // namespace tahoma::cli
