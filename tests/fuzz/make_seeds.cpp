// Writes the seed corpora of the fuzzers, one directory per fuzzer, from the test fixtures
// (tests/fixtures/**), the shipped config, the configs in tests/core/test_config.cpp and the
// few hand-picked payloads in tests/fuzz/seeds/<fuzzer>/. Generated at test time rather than
// committed, so seeds follow the fixtures as they change.
//   make_seeds SOURCE_ROOT OUT_DIR
// Inputs with a header (see fuzz_input.hpp) are written once per variant worth starting from:
// each protocol pair a stream or body can meet, each framing, a few ways of cutting reads.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/fuzz_input.hpp"

namespace fs = std::filesystem;
using switchyard::fuzz::make_input;

namespace {

// The pair indices of fuzz_pairs.hpp by upstream protocol (the seed tool stays free of the
// libraries, so the table is repeated here by index).
enum class Upstream { chat, responses, messages, gemini };
const std::map<Upstream, std::vector<int>> kPairsByUpstream = {
    {Upstream::chat, {0, 4, 7}},
    {Upstream::responses, {3}},
    {Upstream::messages, {1, 5, 8}},
    {Upstream::gemini, {2, 6, 9}},
};

// Split seeds: one read, one byte per read, reads of up to 16 bytes, reads of up to ~1 KB.
constexpr std::uint32_t kSplits[] = {0, 1, 0x0f02, 0x8f03};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class Writer {
 public:
  explicit Writer(fs::path root) : root_(std::move(root)) {}

  void write(const std::string& fuzzer, const std::string& name, std::string_view bytes) {
    const fs::path dir = root_ / fuzzer;
    fs::create_directories(dir);
    std::string file = name;
    std::replace_if(
        file.begin(), file.end(), [](char c) { return c == '/' || c == ' '; }, '_');
    std::ofstream(dir / file, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ++counts_[fuzzer];
  }
  void report() const {
    for (const auto& [fuzzer, n] : counts_) std::cout << fuzzer << ": " << n << " seeds\n";
  }

 private:
  fs::path root_;
  std::map<std::string, int> counts_;
};

Upstream stream_protocol(std::string_view text) {
  if (text.find("message_start") != std::string_view::npos) return Upstream::messages;
  if (text.find("response.created") != std::string_view::npos) return Upstream::responses;
  if (text.find("candidates") != std::string_view::npos) return Upstream::gemini;
  return Upstream::chat;
}

// A response body's protocol, or nothing when the JSON is not a response.
bool response_protocol(std::string_view text, Upstream& out) {
  if (text.find("\"candidates\"") != std::string_view::npos)
    out = Upstream::gemini;
  else if (text.find("\"choices\"") != std::string_view::npos)
    out = Upstream::chat;
  else if (text.find("\"stop_reason\"") != std::string_view::npos)
    out = Upstream::messages;
  else if (text.find("\"output\"") != std::string_view::npos)
    out = Upstream::responses;
  else
    return false;
  return true;
}

bool is_request(std::string_view text) {
  return text.find("\"model\"") != std::string_view::npos &&
         (text.find("\"messages\"") != std::string_view::npos ||
          text.find("\"input\"") != std::string_view::npos);
}

// The data of each event of an SSE text (enough of the format for seeds: "data:" lines).
std::vector<std::string> event_data(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  bool has = false;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (has) out.push_back(current);
      current.clear();
      has = false;
    } else if (line.substr(0, 5) == "data:") {
      std::string_view value = line.substr(5);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      if (has) current += '\n';
      current.append(value);
      has = true;
    }
    at = end + 1;
  }
  return out;
}

std::string chunk_encode(std::string_view body, std::size_t chunk) {
  static const char* digits = "0123456789abcdef";
  std::string wire;
  for (std::size_t at = 0; at < body.size(); at += chunk) {
    const std::size_t n = std::min(chunk, body.size() - at);
    std::string hex;
    for (std::size_t v = n; v > 0; v >>= 4) hex.insert(hex.begin(), digits[v & 15]);
    wire += hex + "\r\n";
    wire.append(body.substr(at, n));
    wire += "\r\n";
  }
  return wire + "0\r\n\r\n";
}

// The R"( ... )" raw strings of a C++ source: the configs the config tests load.
std::vector<std::string> raw_strings(std::string_view source) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while ((at = source.find("R\"(", at)) != std::string_view::npos) {
    const std::size_t begin = at + 3;
    const std::size_t end = source.find(")\"", begin);
    if (end == std::string_view::npos) break;
    std::string text(source.substr(begin, end - begin));
    if (!text.empty() && text.front() == '\n') text.erase(0, 1);
    out.push_back(std::move(text));
    at = end + 2;
  }
  return out;
}

struct Fixtures {
  std::vector<std::pair<std::string, std::string>> streams;  // name, SSE text
  std::vector<std::pair<std::string, std::string>> json;     // name, JSON text
};

Fixtures load_fixtures(const fs::path& dir) {
  Fixtures f;
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& path : files) {
    const std::string name = fs::relative(path, dir).string();
    const std::string ext = path.extension().string();
    if (ext == ".sse" || ext == ".txt")
      f.streams.emplace_back(name, read_file(path));
    else if (ext == ".json")
      f.json.emplace_back(name, read_file(path));
  }
  return f;
}

// Hand-picked payloads committed under tests/fuzz/seeds/<fuzzer>/, by file name.
std::vector<std::pair<std::string, std::string>> hand_picked(const fs::path& root,
                                                             const std::string& fuzzer) {
  std::vector<std::pair<std::string, std::string>> out;
  const fs::path dir = root / "tests/fuzz/seeds" / fuzzer;
  if (!fs::is_directory(dir)) return out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file())
      out.emplace_back(entry.path().filename().string(), read_file(entry.path()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: make_seeds SOURCE_ROOT OUT_DIR\n";
    return 2;
  }
  const fs::path root = argv[1];
  const fs::path out = argv[2];
  fs::remove_all(out);
  Writer w(out);
  const Fixtures fixtures = load_fixtures(root / "tests/fixtures");

  // Raw inputs: heads and configs are the payload itself.
  for (const auto& [name, text] : hand_picked(root, "fuzz_http_response_head"))
    w.write("fuzz_http_response_head", name, text);
  w.write("fuzz_config", "deploy-switchyard.yaml", read_file(root / "deploy/switchyard.yaml"));
  int n = 0;
  for (const std::string& text : raw_strings(read_file(root / "tests/core/test_config.cpp"))) {
    w.write("fuzz_config", "test_config-" + std::to_string(n++) + ".yaml", text);
  }
  for (const auto& [name, text] : hand_picked(root, "fuzz_config"))
    w.write("fuzz_config", name, text);

  // Event streams: the SSE decoder, the body decoder around them, and the relays.
  for (const auto& [name, text] : fixtures.streams) {
    for (std::uint32_t split : kSplits) {
      w.write("fuzz_sse", name + "-split" + std::to_string(split), make_input(0, 0, split, text));
    }
    w.write("fuzz_http_body", name + "-chunked", make_input(0, 0, 0x0f02, chunk_encode(text, 100)));
    w.write("fuzz_http_body", name + "-chunked-eof", make_input(4, 0, 1, chunk_encode(text, 1000)));
    w.write("fuzz_http_body", name + "-length",
            make_input(1, static_cast<std::uint32_t>(text.size()), 0x0f02, text));
    w.write("fuzz_http_body", name + "-close", make_input(6, 0, 0x8f03, text));
    w.write("fuzz_http_body", name + "-encoded", make_input(3, 12345, 0x0f02, text));
    for (int pair : kPairsByUpstream.at(stream_protocol(text))) {
      for (std::uint8_t flags : {0, 16, 32, 64}) {
        const std::uint8_t selector = static_cast<std::uint8_t>(pair | flags);
        w.write("fuzz_stream_relays", name + "-pair" + std::to_string(selector),
                make_input(selector, 0, kSplits[(pair + flags) % 4], text));
      }
    }
    int event = 0;
    for (const std::string& data : event_data(text)) {
      const std::string id = name + "-event" + std::to_string(event++);
      w.write("fuzz_json_cursor", id, data);
      // Chat chunks are also what usage extraction reads.
      if (stream_protocol(text) == Upstream::chat)
        w.write("fuzz_codec_responses", id, make_input(0, 0, 0, data));
    }
  }
  for (const auto& [name, text] : hand_picked(root, "fuzz_http_body")) {
    for (std::uint8_t selector : {0, 4}) {
      w.write("fuzz_http_body", name + "-" + std::to_string(selector),
              make_input(selector, 0, 0x0f02, text));
    }
  }
  for (const auto& [name, text] : hand_picked(root, "fuzz_stream_relays")) {
    for (std::uint8_t selector = 0; selector < 10; ++selector) {
      w.write("fuzz_stream_relays", name + "-pair" + std::to_string(selector),
              make_input(selector, 0, 0x0f02, text));
    }
  }

  // JSON documents: the cursor, request envelopes and decoders, response decoders.
  std::vector<std::pair<std::string, std::string>> requests;
  for (const auto& [name, text] : fixtures.json) {
    w.write("fuzz_json_cursor", name, text);
    if (is_request(text)) requests.emplace_back(name, text);
    Upstream protocol;
    if (response_protocol(text, protocol)) {
      for (int pair : kPairsByUpstream.at(protocol)) {
        for (std::uint8_t flags : {0, 128}) {
          const std::uint8_t selector = static_cast<std::uint8_t>(pair | flags);
          w.write("fuzz_codec_responses", name + "-pair" + std::to_string(selector),
                  make_input(selector, 0, 0, text));
        }
      }
    }
  }
  for (const auto& picked : hand_picked(root, "fuzz_request_envelope")) requests.push_back(picked);
  for (const auto& [name, text] : requests) {
    for (std::uint8_t selector = 0; selector < 8; ++selector) {
      w.write("fuzz_request_envelope", name + "-" + std::to_string(selector),
              make_input(selector, 0, 0, text));
    }
    for (std::uint8_t client = 0; client < 3; ++client) {
      for (std::uint8_t upstream = 0; upstream < 3; ++upstream) {
        const std::uint8_t selector =
            static_cast<std::uint8_t>(client | upstream << 2 | (client == upstream ? 16 : 0));
        w.write("fuzz_codec_requests", name + "-" + std::to_string(selector),
                make_input(selector, 0, 0, text));
      }
    }
  }
  // Error bodies: every pair, a few statuses (param indexes the fuzzer's common statuses).
  for (const auto& [name, text] : hand_picked(root, "fuzz_codec_responses")) {
    for (std::uint8_t pair = 0; pair < 10; ++pair) {
      w.write("fuzz_codec_responses", name + "-pair" + std::to_string(pair),
              make_input(pair, pair, 0, text));
    }
  }
  w.report();
  return 0;
}
