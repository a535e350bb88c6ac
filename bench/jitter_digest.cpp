// A digest of everything the jitter buffer tells its caller over many traces: every push's
// result (refusal reason, flush report, displaced payload), every delivery and gap (with its
// playout time), the target delay and next_due after every call, the NACKs, keyframe
// requests, reclaimed payloads and the final statistics. Built against two versions of the
// headers, equal digests show that a change (an optimisation) did not change what the buffer
// learns or releases on these traces. `jitter_digest` prints one line per scenario and a
// total; `jitter_digest quick` runs a small subset. Not a test: nothing is asserted.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "streamiso/jitter_buffer.hpp"
#include "streamiso/testing/netsim.hpp"

namespace {

namespace si = streamiso;
namespace ns = streamiso::netsim;
using buffer = si::jitter_buffer<std::uint32_t>;
using packet = buffer::packet_type;
const si::owner cam{0xD16E, 3};

// FNV-1a over 64-bit words.
struct digest {
  std::uint64_t h = 1469598103934665603ULL;
  void add(std::uint64_t v) noexcept {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xFF;
      h *= 1099511628211ULL;
    }
  }
  void add_signed(std::int64_t v) noexcept { add(static_cast<std::uint64_t>(v)); }
};

struct event {
  std::int64_t at;
  packet p;
};

void add_flush(digest& d, const si::flush_report& f) {
  d.add(f.flushed);
  d.add(f.missing);
  d.add(f.first_seq);
  d.add(f.last_seq);
  d.add(static_cast<std::uint64_t>(f.cause));
}

void add_stats(digest& d, const si::jitter_stats& s) {
  for (const std::uint64_t v :
       {s.received, s.reordered, s.released, s.lost, s.discarded, s.flushed, s.recovered, s.held,
        s.gaps, s.duplicates, s.late, s.refused, s.nacks_sent, s.nacks_given_up,
        s.keyframe_requests, s.resets, s.handed_back, s.awaiting_handback}) {
    d.add(v);
  }
  d.add_signed(s.target_delay_us);
  d.add_signed(s.jitter_us);
}

// Pushes every event, pops at each arrival and on a 1 ms clock, takes NACKs and keyframe
// requests every 10 ms, reclaims every dropped payload.
std::uint64_t play(const si::jitter_config& cfg, const std::vector<event>& events) {
  digest d;
  buffer b{cam, cfg};
  auto in = *b.bind_producer(cam);
  auto out = *b.bind_consumer(si::as_requester(cam));
  std::int64_t clock = events.empty() ? 0 : events.front().at;
  std::int64_t next_ctl = clock;
  auto drain = [&](std::int64_t now) {
    for (auto r = out.try_pop(now); r; r = out.try_pop(now)) {
      d.add(static_cast<std::uint64_t>(r->kind));
      d.add(r->extended_seq);
      d.add(r->seq);
      d.add(r->timestamp);
      d.add_signed(r->arrival_us);
      d.add_signed(r->playout_us);
      d.add(r->payload);
      d.add(static_cast<std::uint64_t>(r->frame_first) * 2 + (r->frame_last ? 1 : 0));
      d.add(r->gap.first_extended_seq);
      d.add(r->gap.count);
      d.add(static_cast<std::uint64_t>(r->gap.cause));
    }
    const auto due = out.next_due(now);
    d.add_signed(due ? *due : -1);
    d.add_signed(b.target_delay_us());
    for (auto h = b.reclaim(); h; h = b.reclaim()) {
      d.add(h->payload);
      d.add(h->seq);
      d.add(static_cast<std::uint64_t>(h->reason));
    }
  };
  auto control = [&](std::int64_t now) {
    std::uint16_t nacks[32];
    const auto n = out.take_nacks(now, nacks);
    if (n) {
      for (std::size_t i = 0; i < *n; ++i) d.add(nacks[i]);
    }
    const auto k = out.take_keyframe_request(now);
    d.add(k ? k->attempt : 0);
  };
  for (const event& e : events) {
    while (clock + 1000 < e.at) {
      clock += 1000;
      drain(clock);
      if (clock >= next_ctl) {
        control(clock);
        next_ctl = clock + 10'000;
      }
    }
    packet p = e.p;
    p.arrival_us = e.at;
    const auto r = in.try_push(p);
    if (r) {
      d.add(1);
      d.add(static_cast<std::uint64_t>(r->flushed));
      if (r->flushed) add_flush(d, r->flush);
      d.add(static_cast<std::uint64_t>(r->handed_back));
      if (r->handed_back) d.add(r->displaced.payload);
    } else {
      d.add(100 + static_cast<std::uint64_t>(r.reason()));
    }
    d.add_signed(b.target_delay_us());
    drain(e.at);
  }
  drain(clock + 5'000'000);
  add_stats(d, b.stats());
  return d.h;
}

std::vector<event> from_netsim(const ns::profile& prof, std::uint64_t seed, std::uint64_t packets,
                               std::uint32_t rate, std::uint32_t per_frame, double pps) {
  ns::simulator sim{prof, seed};
  ns::stream_spec spec;
  spec.packets = packets;
  spec.packets_per_second = pps;
  spec.packets_per_frame = per_frame;
  spec.clock_rate_hz = rate;
  spec.keyframe_interval = 30;
  std::vector<event> ev;
  for (const auto& a : sim.run(spec)) {
    packet p;
    p.seq = a.packet.seq;
    p.timestamp = a.packet.timestamp;
    p.size_bytes = a.packet.size_bytes;
    if (a.packet.marker) p.flags = p.flags | si::packet_flags::marker;
    if (a.packet.keyframe) p.flags = p.flags | si::packet_flags::keyframe;
    p.payload = static_cast<std::uint32_t>(a.packet.index);
    ev.push_back({a.arrival_us, p});
  }
  return ev;
}

// A drifting sender clock with timestamp jumps, encoder restarts, stalls and stray packets
// (the soak test's stream, shortened, plus arrival stalls and garbage timestamps).
std::vector<event> drifting(double ppm, std::uint64_t seed, std::int64_t minutes) {
  ns::rng rng{seed};
  const std::int64_t period = 20'000;
  const auto packets = static_cast<std::uint64_t>(minutes * 60'000'000 / period);
  std::vector<event> ev;
  auto seq = static_cast<std::uint16_t>(rng.next());
  auto ts_base = static_cast<std::uint32_t>(rng.next());
  double ts_acc = 0;
  std::int64_t stall_until = 0;
  for (std::uint64_t n = 0; n < packets; ++n) {
    const auto send = static_cast<std::int64_t>(n) * period;
    const std::uint64_t roll = rng.next() % 100'000;
    if (roll < 20) {  // encoder restart
      seq = static_cast<std::uint16_t>(rng.next());
      ts_base = static_cast<std::uint32_t>(rng.next());
    } else if (roll < 60) {  // timestamp jump, either way
      ts_base += static_cast<std::uint32_t>(rng.next() % 400'000) - 200'000u;
    } else if (roll < 90) {  // a stall: everything waits for it
      stall_until = send + static_cast<std::int64_t>(rng.next() % 3'000'000);
    }
    ts_acc += 1800.0 * (1.0 + ppm * 1e-6);
    packet p;
    p.seq = seq++;
    p.timestamp = ts_base + static_cast<std::uint32_t>(static_cast<std::uint64_t>(ts_acc));
    p.size_bytes = 200;
    p.flags = si::packet_flags::marker;
    p.payload = static_cast<std::uint32_t>(n);
    if (rng.next() % 100 == 0) continue;  // lost
    std::int64_t at = send + 20'000 + static_cast<std::int64_t>(rng.next() % 15'000);
    if (rng.next() % 20 == 0) at += 60'000;
    at = std::max(at, stall_until);
    if (rng.next() % 5000 == 0) p.timestamp = static_cast<std::uint32_t>(rng.next());  // stray
    ev.push_back({at, p});
    if (rng.next() % 200 == 0) ev.push_back({at + 5'000, p});
  }
  std::stable_sort(ev.begin(), ev.end(),
                   [](const event& x, const event& y) { return x.at < y.at; });
  return ev;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "quick") == 0;
  const std::uint64_t n = quick ? 4000 : 30'000;
  digest total;
  auto report = [&](const std::string& name, std::uint64_t h) {
    std::printf("%-48s %016llx\n", name.c_str(), static_cast<unsigned long long>(h));
    total.add(h);
  };
  std::vector<ns::profile> profiles = ns::all_profiles();
  for (const double r : {0.0, 0.05, 0.2}) profiles.push_back(ns::reordering(r));
  struct variant {
    const char* name;
    si::jitter_config cfg;
  };
  std::vector<variant> variants;
  variants.push_back({"default", si::jitter_config{}});
  variants.push_back({"video", si::jitter_config::video()});
  {
    si::jitter_config c;
    c.max_delay_us = 50'000;
    c.min_delay_us = 10'000;
    c.initial_delay_us = 10'000;
    c.delay_percentile = 50;
    variants.push_back({"p50-50ms", c});
    c.max_delay_us = 60'000'000;
    c.delay_percentile = 99;
    c.decrease_step_us = 0;
    variants.push_back({"p99-60s", c});
    si::jitter_config f;
    f.delay_mode = si::jitter_delay_mode::fixed;
    variants.push_back({"fixed", f});
  }
  for (const std::uint32_t rate : {90'000u, 48'000u, 8'000u, 1'000u, 10'000'000u, 12'347u}) {
    for (const auto& v : variants) {
      if (rate != 90'000 && std::strcmp(v.name, "default") != 0 &&
          std::strcmp(v.name, "video") != 0) {
        continue;
      }
      si::jitter_config cfg = v.cfg;
      cfg.clock_rate_hz = rate;
      for (const auto& prof : profiles) {
        const bool frame = cfg.mode == si::jitter_mode::frame;
        report(std::string(prof.name) + "/" + v.name + "/" + std::to_string(rate),
               play(cfg, from_netsim(prof, 7, n, rate, frame ? 8 : 1, frame ? 240.0 : 200.0)));
      }
    }
  }
  for (const double ppm : {100.0, -100.0, 1000.0, -1000.0, 0.0}) {
    for (const auto& v : variants) {
      report(
          std::string("drift") + std::to_string(static_cast<int>(ppm)) + "/" + v.name,
          play(v.cfg, drifting(ppm, 11 + static_cast<std::uint64_t>(ppm + 5000), quick ? 2 : 20)));
    }
  }
  std::printf("%-48s %016llx\n", "total", static_cast<unsigned long long>(total.h));
  return 0;
}
