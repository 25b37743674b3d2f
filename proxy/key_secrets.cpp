#include "proxy/key_secrets.hpp"

#include <openssl/evp.h>
#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace switchyard::proxy {
namespace {

void fill_random(void* out, std::size_t size) {
  auto* p = static_cast<unsigned char*>(out);
  while (size > 0) {
    const ssize_t n = getrandom(p, size, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("getrandom failed: ") + std::strerror(errno));
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

struct DigestContext {
  DigestContext() : ctx(EVP_MD_CTX_new()), md(EVP_MD_fetch(nullptr, "SHA256", nullptr)) {
    if (!ctx || !md) throw std::runtime_error("OpenSSL has no SHA-256");
  }
  ~DigestContext() {
    EVP_MD_free(md);
    EVP_MD_CTX_free(ctx);
  }
  DigestContext(const DigestContext&) = delete;
  DigestContext& operator=(const DigestContext&) = delete;
  EVP_MD_CTX* ctx;
  EVP_MD* md;
};

}  // namespace

std::string new_key_secret() {
  std::array<std::uint8_t, 32> bytes{};
  fill_random(bytes.data(), bytes.size());
  return core::format_key_secret(bytes);
}

std::string new_record_id(std::string_view prefix) {
  std::uint64_t v = 0;
  fill_random(&v, sizeof v);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(prefix);
  for (int shift = 60; shift >= 0; shift -= 4) id += kHex[(v >> shift) & 0xf];
  return id;
}

core::KeyHash sha256_of(std::string_view text) {
  thread_local DigestContext digest;
  core::KeyHash out{};
  unsigned int size = 0;
  if (EVP_DigestInit_ex2(digest.ctx, digest.md, nullptr) != 1 ||
      EVP_DigestUpdate(digest.ctx, text.data(), text.size()) != 1 ||
      EVP_DigestFinal_ex(digest.ctx, out.data(), &size) != 1 || size != out.size()) {
    throw std::runtime_error("SHA-256 failed");
  }
  return out;
}

}  // namespace switchyard::proxy
