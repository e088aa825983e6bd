#pragma once
// Files the tools write for scripts to read: the sink's port file, the result files.
//
// Thread-safety: plain functions.

#include <string>
#include <string_view>

namespace funnel::loadtest {

// Writes `content` to `path` atomically: into a temporary file next to it, then renamed over it,
// so a reader sees either no file or the whole content. Throws std::runtime_error (one line).
void write_file_atomically(const std::string& path, std::string_view content);

} // namespace funnel::loadtest
