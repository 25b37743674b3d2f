#pragma once

// Temporary directories for tests: each test's files (databases, logs, configs) in a fresh one.

#include <string>
#include <string_view>

namespace switchyard::testing {

// A new directory under the temporary directory ($TMPDIR, else /tmp) named from `prefix`;
// the caller removes it. Throws std::runtime_error when it cannot be made.
std::string make_temp_dir(std::string_view prefix);

// The same, removed with everything in it when this goes.
struct TempDir {
  explicit TempDir(std::string_view prefix) : path(make_temp_dir(prefix)) {}
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path;
};

}  // namespace switchyard::testing
