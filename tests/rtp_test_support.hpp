// Helpers shared by the RTP tests, the real-stream tool and the fuzzers.
#ifndef STREAMISO_TESTS_RTP_TEST_SUPPORT_HPP
#define STREAMISO_TESTS_RTP_TEST_SUPPORT_HPP

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "pool_calls.hpp"
#include "streamiso/buffer_pool.hpp"
#include "streamiso/rtp_depacketizer.hpp"
#include "streamiso/rtp_jitter_feed.hpp"
#include "streamiso/rtp_stream.hpp"

namespace streamiso_test {

using bytes = std::vector<std::uint8_t>;

// Reads a whole file; empty when it cannot be opened.
inline bytes read_file(const std::string& path) {
  bytes out;
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    std::uint8_t buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) != 0;)
      out.insert(out.end(), buf, buf + n);
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
        while (end > start && p[end - 1] == 0) --end;  // a 4-byte code's zero, trailing_zero_8bits
        out.emplace_back(p + start, p + end);
      }
      i += 3;
      start = i;
    } else {
      ++i;
    }
  }
  if (start != SIZE_MAX && start <= n) {
    std::size_t end = n;
    while (end > start && p[end - 1] == 0) --end;  // trailing_zero_8bits (Annex B)
    out.emplace_back(p + start, p + end);
  }
  return out;
}

// What a depacketizer consumer's try_pop() returned: a complete unit, or a discard report.
template <class R>
bool is_unit(const R& r) {
  return r.has_value() && !r->discarded();
}
template <class R>
bool is_discard(const R& r) {
  return r.has_value() && r->discarded();
}

// Copies an access unit out of the pool (and checks its decoder padding is zeroed).
template <class Pool>
bytes au_bytes(Pool& pool, const streamiso::access_unit& au, const streamiso::requester& who,
               bool* padding_zero = nullptr) {
  auto v = pool_read(pool, au.handle, who);
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

// One access unit as the pipeline delivered it.
struct delivered_unit {
  std::uint32_t timestamp = 0;
  bool keyframe = false;
  bool random_access = false;
  bool prepended = false;
  bool padding_zero = false;
  bytes data;
};

struct pipeline_output {
  std::vector<delivered_unit> units;
  std::uint64_t discarded_units = 0;  // gaps reported by take()
  std::uint64_t lost_packets = 0;     // gaps reported by the jitter buffer
  std::uint64_t accepted = 0;
  streamiso::depacketizer_stats depay{};
};

// The whole receive path: ingest bound to (owner, ssrc, pt) -> jitter feed -> depacketizer
// -> pool buffers, with datagram i arriving at arrivals[i] (microseconds).
template <template <class, class> class Depay>
pipeline_output run_pipeline(const std::vector<bytes>& datagrams,
                             const std::vector<std::int64_t>& arrivals, std::uint32_t ssrc,
                             std::uint8_t pt) {
  namespace si = streamiso;
  const si::owner cam{0x5EED, 7};
  const si::requester who = si::as_requester(cam);
  si::rtp_binding<> b;
  b.owner = cam;
  b.ssrc = ssrc;
  b.payload_type = pt;
  si::rtp_ingest<> in(b);
  si::jitter_config jc;
  jc.capacity = 1024;
  jc.delay_mode = si::jitter_delay_mode::fixed;
  jc.initial_delay_us = 100'000;
  jc.max_packet_bytes = 1500;
  si::rtp_jitter_feed<> feed(cam, jc);
  si::buffer_pool<> pool(pool_config(32, 256 * 1024));
  Depay<si::id128, si::exact_match> depay(pool, cam);
  auto consumer = *depay.bind_consumer(who);
  pipeline_output out;
  // Pop after every push: a push completes at most two units (the open one and its own),
  // so the output queue never overflows.
  auto take_all = [&] {
    while (auto au = consumer.try_pop()) {
      if (au->discarded()) {
        ++out.discarded_units;
      } else {
        delivered_unit u;
        u.timestamp = au->timestamp;
        u.keyframe = au->keyframe;
        u.random_access = au->random_access;
        u.prepended = au->parameter_sets_prepended;
        u.data = au_bytes(pool, *au, who, &u.padding_zero);
        (void)pool_release(pool, cam, au->handle);
        out.units.push_back(std::move(u));
      }
    }
  };
  auto drain = [&](std::int64_t now) {
    for (;;) {
      auto r = feed.try_pop(who, now);
      if (!r) break;
      if (r->is_gap()) {
        out.lost_packets += r->gap.count;
      } else {
        (void)depay.push({r->payload, r->seq, r->timestamp, si::rtp_marker_of(r->marker)});
        take_all();
      }
    }
  };
  for (std::size_t i = 0; i < datagrams.size(); ++i) {
    drain(arrivals[i]);
    if (auto a = in.accept({datagrams[i].data(), datagrams[i].size()}, arrivals[i])) {
      if (feed.try_push(*a)) ++out.accepted;
    }
  }
  drain(arrivals.empty() ? 0 : arrivals.back() + 10'000'000);
  out.depay = depay.stats();
  return out;
}

}  // namespace streamiso_test

#endif
