#include "proxy/ledger_spool.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

namespace switchyard::proxy {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSuffix = ".batch";

// <16-digit number>-<rows>-<batch id>.batch: the number orders the files, across restarts too.
std::string file_name(std::uint64_t number, std::uint64_t rows, std::string_view batch_id) {
  std::array<char, 17> digits{};
  std::snprintf(digits.data(), digits.size(), "%016llu", static_cast<unsigned long long>(number));
  return std::string(digits.data()) + "-" + std::to_string(rows) + "-" + std::string(batch_id) +
         std::string(kSuffix);
}

bool parse_name(std::string_view name, std::uint64_t& number, std::uint64_t& rows,
                std::string& batch_id) {
  if (!name.ends_with(kSuffix)) return false;
  name.remove_suffix(kSuffix.size());
  const std::size_t first = name.find('-');
  const std::size_t second = first == std::string_view::npos ? first : name.find('-', first + 1);
  if (second == std::string_view::npos) return false;
  const auto a = std::from_chars(name.data(), name.data() + first, number);
  const auto b = std::from_chars(name.data() + first + 1, name.data() + second, rows);
  if (a.ec != std::errc() || a.ptr != name.data() + first || b.ec != std::errc() ||
      b.ptr != name.data() + second)
    return false;
  batch_id = std::string(name.substr(second + 1));
  return !batch_id.empty();
}

// Writes `text` to `path` through a temporary file, flushed to disk before the rename.
bool write_whole(const fs::path& path, std::string_view text) {
  const fs::path temporary = path.string() + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  const bool ok = done == text.size() && ::fsync(fd) == 0;
  ::close(fd);
  std::error_code ec;
  if (ok) fs::rename(temporary, path, ec);
  if (!ok || ec) {
    fs::remove(temporary, ec);
    return false;
  }
  return true;
}

}  // namespace

LedgerSpool::LedgerSpool(fs::path directory, std::uint64_t max_bytes)
    : directory_(std::move(directory)), max_bytes_(max_bytes) {
  fs::create_directories(directory_);
  for (const auto& entry : fs::directory_iterator(directory_)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(".tmp")) {
      // A batch being written when the process died, perhaps cut short: never a whole batch.
      std::error_code ec;
      fs::remove(entry.path(), ec);
      continue;
    }
    File f;
    std::uint64_t number = 0;
    if (!entry.is_regular_file() || !parse_name(name, number, f.rows, f.batch_id)) continue;
    f.path = entry.path();
    f.bytes = entry.file_size();
    next_number_ = std::max(next_number_, number + 1);
    rows_ += f.rows;
    bytes_ += f.bytes;
    files_.push_back(std::move(f));
  }
  std::sort(files_.begin(), files_.end(),
            [](const File& a, const File& b) { return a.path.filename() < b.path.filename(); });
}

bool LedgerSpool::keep(std::string_view batch_id, std::span<const core::LedgerRow> rows) {
  const std::string text = core::ledger_rows_to_text(rows);
  if (bytes_ + text.size() > max_bytes_) return false;
  File f;
  f.batch_id = batch_id;
  f.rows = rows.size();
  f.bytes = text.size();
  f.path = directory_ / file_name(next_number_, f.rows, batch_id);
  if (!write_whole(f.path, text)) return false;
  ++next_number_;
  rows_ += f.rows;
  bytes_ += f.bytes;
  files_.push_back(std::move(f));
  return true;
}

void LedgerSpool::forget_front() {
  rows_ -= files_.front().rows;
  bytes_ -= files_.front().bytes;
  files_.erase(files_.begin());
}

void LedgerSpool::replay(const Write& write) {
  while (!files_.empty()) {
    const File& f = files_.front();
    std::ifstream in(f.path, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto rows = in.bad() ? std::nullopt : core::ledger_rows_from_text(text);
    std::error_code ec;
    if (!rows || rows->size() != f.rows) {
      unreadable_rows_ += f.rows;
      fs::rename(f.path, f.path.string() + ".unreadable", ec);
      std::fprintf(stderr, "switchyard: ledger: the spooled batch %s cannot be read: set aside\n",
                   f.path.filename().c_str());
      forget_front();
      continue;
    }
    write(*rows, f.batch_id);  // throws while the store is away: the file stays
    fs::remove(f.path, ec);
    forget_front();
  }
}

}  // namespace switchyard::proxy
