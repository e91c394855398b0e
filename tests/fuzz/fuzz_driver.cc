// A main() for fuzz targets when libFuzzer is not in use (g++ builds, CI):
// runs the target on every seed file given, then on a fixed number of
// deterministic mutations of them (byte flips, insertions, deletions,
// splices), so crash-freedom is checked on every test run. With clang,
// -DORCH_FUZZ=ON links libFuzzer instead for real coverage-guided fuzzing.
//
//   <target> [--iterations N] SEED_FILE...

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  long iterations = 20000;
  std::vector<std::string> seeds;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--iterations" && i + 1 < argc) {
      iterations = std::stol(argv[++i]);
      continue;
    }
    std::ifstream in(arg, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "cannot read seed %s\n", arg.c_str());
      return 2;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    seeds.push_back(ss.str());
  }
  if (seeds.empty()) seeds.push_back("");
  auto run = [](const std::string& s) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  for (const auto& s : seeds) run(s);
  std::mt19937_64 rng(20261123);  // fixed: a failure reproduces
  static const char kInteresting[] = "[]=\"'\\\n#.,:{}0123456789-+eEtrufalsnTZ \t\x00\xff";
  for (long i = 0; i < iterations; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
      switch (rng() % 5) {
        case 0: if (!s.empty() && pos < s.size()) s[pos] = static_cast<char>(rng()); break;
        case 1: s.insert(pos, 1, kInteresting[rng() % (sizeof kInteresting - 1)]); break;
        case 2: if (pos < s.size()) s.erase(pos, 1 + rng() % 4); break;
        case 3: {
          const std::string& other = seeds[rng() % seeds.size()];
          if (!other.empty()) {
            size_t from = rng() % other.size();
            s.insert(pos, other.substr(from, 1 + rng() % 32));
          }
          break;
        }
        case 4: s.insert(pos, std::string(1 + rng() % 64, kInteresting[rng() % (sizeof kInteresting - 1)])); break;
      }
    }
    run(s);
  }
  std::printf("ok: %zu seeds, %ld mutations\n", seeds.size(), iterations);
  return 0;
}
