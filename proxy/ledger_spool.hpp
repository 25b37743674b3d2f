#pragma once
// Ledger batches kept on disk while a shared store (PostgreSQL) cannot take them, and written
// when it answers again (issue 14): a database restart loses no ledger row. One file per
// batch, named so that names sort in the order the batches were kept, each written to a
// temporary name, flushed to disk and renamed, so a crash leaves whole files only. A batch
// keeps the id it was first sent with: if its first write did land (the answer was lost), the
// store recognises the id and counts it once.
//
// Bounded: past max_bytes a batch is refused (the caller drops and counts it). Used by the
// ledger's commit thread only.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/ledger.hpp"

namespace switchyard::proxy {

class LedgerSpool {
 public:
  // Creates `directory` when missing and takes over the batches a previous process left there.
  // Throws std::filesystem::filesystem_error when the directory cannot be made or read.
  LedgerSpool(std::filesystem::path directory, std::uint64_t max_bytes);

  bool empty() const { return files_.empty(); }
  std::uint64_t rows() const { return rows_; }
  std::uint64_t bytes() const { return bytes_; }
  const std::filesystem::path& directory() const { return directory_; }

  // Keeps the batch on disk. False when it would pass max_bytes or cannot be written; then
  // nothing of it is kept.
  bool keep(std::string_view batch_id, std::span<const core::LedgerRow> rows);

  using Write = std::function<void(std::span<const core::LedgerRow>, std::string_view batch_id)>;
  // Sends the kept batches through `write`, oldest first, removing each once written; stops at
  // the first that throws (a StoreError: the store is still away) and rethrows it. A file that
  // cannot be read back whole is set aside as <name>.unreadable and its rows counted in
  // `unreadable_rows`.
  void replay(const Write& write);
  std::uint64_t unreadable_rows() const { return unreadable_rows_; }

 private:
  struct File {
    std::filesystem::path path;
    std::string batch_id;
    std::uint64_t rows = 0;
    std::uint64_t bytes = 0;
  };
  void forget_front();

  std::filesystem::path directory_;
  std::uint64_t max_bytes_;
  std::vector<File> files_;  // oldest first
  std::uint64_t rows_ = 0;
  std::uint64_t bytes_ = 0;
  std::uint64_t next_number_ = 0;
  std::uint64_t unreadable_rows_ = 0;
};

}  // namespace switchyard::proxy
