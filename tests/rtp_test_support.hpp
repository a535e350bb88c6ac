// Helpers shared by the RTP tests, the real-stream tool and the fuzzers.
#ifndef STREAMISO_TESTS_RTP_TEST_SUPPORT_HPP
#define STREAMISO_TESTS_RTP_TEST_SUPPORT_HPP

#include <cstdint>
#include <cstdio>
#include <initializer_list>
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

#ifdef DOCTEST_LIBRARY_INCLUDED  // the doctest tests only (the tool and fuzzers have no doctest)
// One RTP datagram with the given header fields and payload (a non-IDR slice by default).
inline bytes datagram(std::uint32_t ssrc, std::uint8_t pt, std::uint16_t seq, std::uint32_t ts,
                      bool marker = false,
                      std::initializer_list<std::uint8_t> payload = {0x41, 0x01}) {
  bytes out(12 + payload.size());
  const bytes pl(payload);
  streamiso::rtp_header_fields h;
  h.marker = streamiso::rtp_marker_of(marker);
  h.payload_type = pt;
  h.seq = seq;
  h.timestamp = ts;
  h.ssrc = ssrc;
  auto n = streamiso::write_rtp(h, {pl.data(), pl.size()}, {out.data(), out.size()});
  REQUIRE(n.has_value());
  return out;
}

// An FU piece the depacketizer must refuse (RFC 6184 5.8, RFC 7798 4.4.3), on the continuation
// fast path: after `whole` (a complete unit at timestamp 1, taken), `fu_start` and the `middle`
// pieces are pushed at timestamp 2 with consecutive sequence numbers, then `bad` (marker set)
// at `bad_ts`. `bad` must be refused malformed, once, and never appended: the unit at 2 comes
// out as one malformed discard of the packets before `bad`, plus `bad` itself when it carried
// timestamp 2; a `bad` with a new timestamp opens a unit of its own without a start, discarded
// too (a report, not a malformed packet). Nothing else is queued, the accounting adds up, and
// the next `whole` unit is delivered intact. F is either codec's test fixture:
// push(payload, ts, marker), take_bytes(), c, d.
template <class F>
void check_fu_piece_refused(F& f, const bytes& whole, const bytes& fu_start,
                            std::initializer_list<bytes> middle, const bytes& bad,
                            std::uint32_t bad_ts = 2) {
  namespace si = streamiso;
  CHECK(f.push(whole, 1, true).has_value());
  const bytes whole_out = f.take_bytes();
  CHECK(f.push(fu_start, 2, false).has_value());
  for (const bytes& m : middle) CHECK(f.push(m, 2, false).has_value());
  CHECK(f.push(bad, bad_ts, true).refused_for(si::refusal::malformed));
  const std::uint64_t before_bad = 1 + middle.size();
  auto g = f.c.try_pop();
  REQUIRE(is_discard(g));
  CHECK(g->timestamp == 2);
  CHECK(g->packets == (bad_ts == 2 ? before_bad + 1 : before_bad));
  CHECK(g->discard == si::au_discard_cause::malformed);
  if (bad_ts != 2) {
    auto b = f.c.try_pop();
    REQUIRE(is_discard(b));
    CHECK(b->timestamp == bad_ts);
    CHECK(b->packets == 1);
    CHECK(b->discard == si::au_discard_cause::malformed);
  }
  CHECK(f.c.try_pop().refused_for(si::refusal::empty));
  CHECK(f.d.stats().malformed_packets == 1);  // the refused piece; an unfinished unit is a report
  CHECK(f.d.counters().count(si::refusal::malformed) == 1);
  const auto& s = f.d.stats();
  CHECK(s.packets == s.packets_in_units + s.packets_discarded + f.d.packets_pending());
  CHECK(f.push(whole, bad_ts + 1, true).has_value());
  CHECK(f.take_bytes() == whole_out);
}
#endif

}  // namespace streamiso_test

#endif
