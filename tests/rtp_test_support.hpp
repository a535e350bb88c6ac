// Helpers shared by the RTP tests, the real-stream tool and the fuzzers.
#ifndef STREAMISO_TESTS_RTP_TEST_SUPPORT_HPP
#define STREAMISO_TESTS_RTP_TEST_SUPPORT_HPP

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "streamiso/buffer_pool.hpp"
#include "streamiso/rtp_depacketizer.hpp"

namespace streamiso_test {

using bytes = std::vector<std::uint8_t>;

// Reads a whole file; empty when it cannot be opened.
inline bytes read_file(const std::string& path) {
  bytes out;
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    std::uint8_t buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) != 0;) out.insert(out.end(), buf, buf + n);
    std::fclose(f);
  }
  return out;
}

// tests/data/rtp/*.rtp: records of a 2-byte big-endian length, then the datagram.
inline std::vector<bytes> read_capture(const std::string& path) {
  const bytes f = read_file(path);
  std::vector<bytes> out;
  for (std::size_t i = 0; i + 2 <= f.size();) {
    const std::size_t n = (std::size_t{f[i]} << 8) | f[i + 1];
    if (n > f.size() - i - 2) break;
    out.emplace_back(f.begin() + static_cast<std::ptrdiff_t>(i + 2),
                     f.begin() + static_cast<std::ptrdiff_t>(i + 2 + n));
    i += 2 + n;
  }
  return out;
}

// The NAL units of an Annex-B stream (3- or 4-byte start codes), without start codes.
inline std::vector<bytes> split_annex_b(const std::uint8_t* p, std::size_t n) {
  std::vector<bytes> out;
  std::size_t i = 0;
  std::size_t start = SIZE_MAX;
  while (i + 3 <= n) {
    if (p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1) {
      if (start != SIZE_MAX) {
        std::size_t end = i;
        while (end > start && p[end - 1] == 0) --end;  // trailing zero of a 4-byte code
        out.emplace_back(p + start, p + end);
      }
      i += 3;
      start = i;
    } else {
      ++i;
    }
  }
  if (start != SIZE_MAX && start <= n) out.emplace_back(p + start, p + n);
  return out;
}

// Copies an access unit out of the pool (and checks its decoder padding is zeroed).
template <class Pool>
bytes au_bytes(Pool& pool, const streamiso::access_unit& au, const streamiso::requester& who,
               bool* padding_zero = nullptr) {
  auto v = pool.read(au.handle, who);
  if (!v) return {};
  bytes out(v->data(), v->data() + v->size());
  if (padding_zero != nullptr) {
    *padding_zero = v->size() + streamiso::decoder_padding_bytes <= pool.buffer_size();
    for (std::size_t k = 0; *padding_zero && k < streamiso::decoder_padding_bytes; ++k) {
      *padding_zero = v->data()[v->size() + k] == 0;
    }
  }
  return out;
}

}  // namespace streamiso_test

#endif
