#pragma once

// The data model's Math.random: xoshiro256** (Blackman and Vigna), seeded
// through splitmix64 so that any 64-bit seed, 0 included, gives a good state.
// The whole state is four words, which Serialize() stores.

#include <array>
#include <cstdint>

namespace orch::js {

class Prng {
 public:
  using State = std::array<uint64_t, 4>;

  void Seed(uint64_t seed) {
    for (uint64_t& word : state_) {
      seed += 0x9E3779B97F4A7C15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      word = z ^ (z >> 31);
    }
  }

  uint64_t Next() {
    const uint64_t result = Rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = Rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits, as Math.random needs.
  double NextDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  const State& state() const { return state_; }
  void set_state(const State& state) { state_ = state; }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  State state_ = {1, 2, 3, 4};
};

}  // namespace orch::js
