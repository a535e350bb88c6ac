// The jitter buffer on simulated bad networks: many seeds, every named profile. Each run
// checks conservation, in-order release, zero foreign releases and decodable frames.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "streamiso/jitter_buffer.hpp"
#include "streamiso/testing/netsim.hpp"
#include "test_support.hpp"

namespace si = streamiso;
namespace ns = streamiso::netsim;

namespace {
// The payload is the sender's stamp: owner, epoch and send index.
struct stamp {
  std::uint64_t owner_lo = 0;
  std::uint32_t epoch = 0;
  std::uint64_t index = 0;
};
using buffer = si::jitter_buffer<stamp>;

const si::owner alice{0xA11CE, 1};
const si::owner bob{0xB0B, 2};

struct tagged_arrival {
  ns::arrival a;
  si::owner who;
};

// Per sent packet: what became of it.
struct fate {
  bool accepted = false;
  int released = 0;
  int discarded = 0;
  int lost = 0;
  int flushed = 0;
};

struct run_result {
  std::vector<std::uint64_t> released_indices;  // in release order
  si::jitter_stats stats{};
  std::uint64_t foreign_released = 0;
  std::uint64_t late_arrivals_of_arrived = 0;  // arrived, but after its gap was declared
  std::uint64_t unique_arrivals = 0;
  double mean_added_delay_us = 0.0;
};

std::vector<tagged_arrival> tag(const std::vector<ns::arrival>& t, const si::owner& who) {
  std::vector<tagged_arrival> out;
  out.reserve(t.size());
  for (const auto& a : t) out.push_back(tagged_arrival{a, who});
  return out;
}

// Drives one buffer (bound to alice) through a trace and checks every invariant on the way.
run_result drive(const std::vector<ns::sent_packet>& sent, const std::vector<tagged_arrival>& trace,
                 const si::jitter_config& cfg) {
  buffer b{alice, cfg};
  // The receiver's sessions: the simulator's epoch it is in, and one producer per epoch seen
  // (a demultiplexer keeps the endpoint of each session; an older session's is stale).
  std::uint32_t session = sent.front().epoch;
  std::map<std::uint32_t, buffer::producer> producers;
  producers.emplace(session, *b.bind_producer(alice));
  auto out = *b.bind_consumer(si::as_requester(alice));
  std::vector<fate> fates(sent.size());
  // Sequence number -> send index, per epoch (each epoch is far shorter than 65536 packets).
  std::map<std::uint32_t, std::pair<std::uint16_t, std::uint64_t>> epoch_base;
  for (const auto& p : sent) epoch_base.emplace(p.epoch, std::make_pair(p.seq, p.index));
  auto index_of = [&](std::uint32_t epoch, std::uint64_t ext_seq_or_seq) {
    const auto& base = epoch_base.at(epoch);
    return base.second +
           static_cast<std::uint16_t>(static_cast<std::uint16_t>(ext_seq_or_seq) - base.first);
  };

  run_result res;
  double added_delay_sum = 0.0;
  std::uint64_t expected_next = 0;  // extended seq the next event must start at
  bool have_expected = false;
  bool chain_ok = false;         // frame mode: a decoder could decode the next delta frame
  std::uint64_t frame_open = 0;  // packets of the frame being released
  std::uint32_t frame_ts = 0;
  std::uint16_t nacks[64];

  auto mark_flush = [&](const si::flush_report& f, std::uint32_t flushed_epoch) {
    have_expected = false;  // a new sequence space starts
    chain_ok = false;
    if (f.flushed + f.missing == 0) return;
    for (std::uint16_t s = f.first_seq;; s = static_cast<std::uint16_t>(s + 1)) {
      const auto i = index_of(flushed_epoch, s);
      if (i < fates.size() && sent[i].epoch == flushed_epoch) ++fates[i].flushed;
      if (s == f.last_seq) break;
    }
    have_expected = false;
    chain_ok = false;
  };

  auto pop_all = [&](std::int64_t now) {
    for (;;) {
      auto r = out.try_pop(now);
      if (r && !r->is_gap()) {
        const auto& d = *r;
        if (!(d.owner == alice) || d.payload.owner_lo != alice.id().lo) ++res.foreign_released;
        REQUIRE(d.payload.epoch == session);
        REQUIRE(d.generation == b.current_generation());
        REQUIRE(d.payload.index < sent.size());
        const auto& orig = sent[d.payload.index];
        CHECK(orig.seq == d.seq);  // the packet is the one sent under this sequence number
        CHECK(orig.epoch == session);
        CHECK(index_of(session, d.seq) == d.payload.index);
        if (have_expected) CHECK(d.extended_seq == expected_next);  // in order, no skips
        expected_next = d.extended_seq + 1;
        have_expected = true;
        CHECK(fates[d.payload.index].accepted);
        ++fates[d.payload.index].released;
        res.released_indices.push_back(d.payload.index);
        added_delay_sum += static_cast<double>(now - d.arrival_us);
        if (cfg.mode == si::jitter_mode::frame) {
          if (d.frame_first) {
            CHECK(frame_open == 0);
            CHECK((si::has(d.flags, si::packet_flags::keyframe) ||
                   chain_ok));  // never a frame that depends on lost data
            frame_ts = d.timestamp;
          }
          CHECK(d.timestamp == frame_ts);
          ++frame_open;
          if (d.frame_last) {
            frame_open = 0;
            chain_ok = true;
          }
        }
      } else if (r) {
        const auto& g = r->gap;
        CHECK(r->owner == alice);
        if (have_expected) CHECK(g.first_extended_seq == expected_next);
        expected_next = g.first_extended_seq + g.count;
        have_expected = true;
        chain_ok = false;
        CHECK(frame_open == 0);
        for (std::uint64_t k = 0; k < g.count; ++k) {
          const auto i = index_of(session, g.first_extended_seq + k);
          if (i >= fates.size() || sent[i].epoch != session) continue;
          if (g.cause == si::gap_cause::missing) {
            CHECK_FALSE(fates[i].accepted);  // a gap never hides a packet that was accepted
            ++fates[i].lost;
          } else {
            CHECK(fates[i].accepted);
            ++fates[i].discarded;
          }
        }
      } else {
        REQUIRE(r.reason() == si::refusal::empty);
        return;
      }
    }
  };

  std::int64_t next_nack = 0;
  for (const auto& t : trace) {
    const auto& a = t.a;
    const std::int64_t now = a.arrival_us;
    pop_all(now);
    if (t.who == alice && a.packet.epoch > session) {  // the receiver learnt of a reconnect
      (void)b.reset();
      mark_flush(b.last_flush(), session);
      session = a.packet.epoch;
      producers.emplace(session, *b.bind_producer(alice));
      out = *b.bind_consumer(si::as_requester(alice));
    }
    if (t.who == bob) {  // the socket's demultiplexer asks for a door for bob's packets
      CHECK(b.bind_producer(bob).refused_for(si::refusal::owner_mismatch));
      continue;
    }
    buffer::packet_type p;
    p.seq = a.packet.seq;
    p.timestamp = a.packet.timestamp;
    p.arrival_us = a.arrival_us;
    p.size_bytes = a.packet.size_bytes;
    p.flags = (a.packet.marker ? si::packet_flags::marker : si::packet_flags::none) |
              (a.packet.keyframe ? si::packet_flags::keyframe : si::packet_flags::none);
    p.payload = stamp{t.who.id().lo, a.packet.epoch, a.packet.index};
    const auto before = b.stats();
    const auto door = producers.find(a.packet.epoch);
    // A straggler of a session the receiver never saw start has no door at all.
    const auto r = door != producers.end()
                       ? door->second.try_push(p)
                       : si::result<buffer::push_outcome>{si::refused{si::refusal::stale_binding}};
    if (!a.duplicate) ++res.unique_arrivals;
    if (r) {
      CHECK_FALSE(fates[a.packet.index].accepted);  // accepted at most once
      fates[a.packet.index].accepted = true;
      if (r->flushed) {
        CHECK(b.stats().resets == before.resets + 1);
        CHECK(b.last_flush().cause == si::flush_cause::sequence_jump);
        mark_flush(r->flush, session);
      }
    } else {
      const auto why = r.reason();
      const bool known = why == si::refusal::duplicate || why == si::refusal::late ||
                         why == si::refusal::stale_binding || why == si::refusal::out_of_range;
      CHECK_MESSAGE(known, std::string(si::to_string(why)).c_str());
      if (why == si::refusal::duplicate) CHECK(fates[a.packet.index].accepted);
      if (why == si::refusal::late && !a.duplicate && !fates[a.packet.index].accepted) {
        ++res.late_arrivals_of_arrived;
      }
      if (why == si::refusal::stale_binding) CHECK(a.packet.epoch < session);
    }
    if (now >= next_nack) {
      (void)out.take_nacks(now, nacks);
      (void)out.take_keyframe_request(now);
      next_nack = now + 10'000;
    }
  }
  pop_all(trace.back().a.arrival_us + 5'000'000);
  CHECK(frame_open == 0);

  res.stats = b.stats();
  const auto& s = res.stats;
  CHECK(s.held == 0);
  CHECK(s.received == s.released + s.discarded + s.flushed + s.held);
  std::uint64_t accepted = 0;
  std::uint64_t released = 0;
  for (const auto& f : fates) {
    CHECK(f.released + f.discarded + f.lost <= 1);
    if (f.accepted) {
      ++accepted;
      CHECK(f.released + f.discarded + f.flushed == 1);  // every accepted packet is accounted
    }
    released += static_cast<std::uint64_t>(f.released);
  }
  CHECK(accepted == s.received);
  CHECK(released == s.released);
  res.mean_added_delay_us =
      s.released == 0 ? 0.0 : added_delay_sum / static_cast<double>(s.released);
  return res;
}

ns::stream_spec video(std::uint64_t packets, std::uint32_t per_frame) {
  ns::stream_spec s;
  s.packets = packets;
  s.packets_per_second = 100.0 * per_frame;
  s.packets_per_frame = per_frame;
  s.keyframe_interval = 50;
  return s;
}

si::jitter_config sim_config(si::jitter_mode mode) {
  si::jitter_config c;
  c.capacity = 1024;
  c.mode = mode;
  c.min_delay_us = 5'000;
  c.max_delay_us = 800'000;
  c.initial_delay_us = 40'000;
  return c;
}
}  // namespace

TEST_CASE("F6: every profile and many seeds: conservation, order, own data only (packet mode)") {
  const std::uint64_t seeds = streamiso_test::scaled(24, 4);
  for (const auto& prof : ns::all_profiles()) {
    for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
      CAPTURE(prof.name);
      CAPTURE(seed);
      ns::simulator sim{prof, seed};
      const auto sent = sim.make_stream(video(3000, 1));
      const auto trace = sim.transmit(sent);
      const auto r = drive(sent, tag(trace, alice), sim_config(si::jitter_mode::packet));
      CHECK(r.foreign_released == 0);
      CHECK(r.stats.released > 0);
      if (prof.name == "good") CHECK(r.stats.lost <= 10);
    }
  }
}

TEST_CASE("F6: every profile and many seeds: only complete, decodable frames (frame mode)") {
  const std::uint64_t seeds = streamiso_test::scaled(16, 3);
  for (const auto& prof : ns::all_profiles()) {
    for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
      CAPTURE(prof.name);
      CAPTURE(seed);
      ns::simulator sim{prof, seed + 1000};
      const auto sent = sim.make_stream(video(4500, 3));
      const auto trace = sim.transmit(sent);
      const auto r = drive(sent, tag(trace, alice), sim_config(si::jitter_mode::frame));
      CHECK(r.foreign_released == 0);
      CHECK(r.stats.released > 0);
    }
  }
}

TEST_CASE("F4: two owners interleaved on one socket: zero foreign releases, output unchanged") {
  const std::uint64_t seeds = streamiso_test::scaled(12, 3);
  for (const auto& prof : ns::all_profiles()) {
    for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
      CAPTURE(prof.name);
      CAPTURE(seed);
      ns::simulator sim_a{prof, seed};
      ns::simulator sim_b{prof, seed + 77};
      const auto sent_a = sim_a.make_stream(video(2000, 1));
      const auto trace_a = sim_a.transmit(sent_a);
      auto sent_b = sim_b.make_stream(video(2000, 1));
      // The worst case: bob's stream uses alice's sequence numbers, epochs and timestamps.
      for (std::size_t i = 0; i < sent_b.size(); ++i) {
        sent_b[i].seq = sent_a[i].seq;
        sent_b[i].epoch = sent_a[i].epoch;
        sent_b[i].timestamp = sent_a[i].timestamp;
      }
      const auto trace_b = sim_b.transmit(sent_b);
      auto mixed = tag(trace_a, alice);
      for (const auto& t : tag(trace_b, bob)) mixed.push_back(t);
      std::stable_sort(mixed.begin(), mixed.end(),
                       [](const tagged_arrival& x, const tagged_arrival& y) {
                         return x.a.arrival_us < y.a.arrival_us;
                       });
      const auto cfg = sim_config(si::jitter_mode::packet);
      const auto alone = drive(sent_a, tag(trace_a, alice), cfg);
      const auto together = drive(sent_a, mixed, cfg);
      CHECK(together.foreign_released == 0);
      CHECK(together.released_indices == alone.released_indices);
      CHECK(together.stats.lost == alone.stats.lost);
    }
  }
}

TEST_CASE("F6: the adaptive target tracks the simulated jitter and keeps late loss low") {
  std::map<std::string, double> target_ms;
  for (const auto& prof : ns::all_profiles()) {
    double sum_target = 0.0;
    double late_rate = 0.0;
    const std::uint64_t seeds = 4;
    for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
      ns::simulator sim{prof, seed};
      const auto sent = sim.make_stream(video(6000, 1));
      const auto trace = sim.transmit(sent);
      const auto r = drive(sent, tag(trace, alice), sim_config(si::jitter_mode::packet));
      sum_target += static_cast<double>(r.stats.target_delay_us) / 1000.0;
      late_rate +=
          static_cast<double>(r.late_arrivals_of_arrived) / static_cast<double>(r.unique_arrivals);
    }
    target_ms[std::string(prof.name)] = sum_target / seeds;
    CAPTURE(prof.name);
    CAPTURE(sum_target / seeds);
    CHECK(late_rate / seeds < 0.05);  // about 1 - delay_percentile
  }
  // Calm network: a small target. Noisier networks: a larger one, roughly their jitter span.
  CHECK(target_ms["good"] < 8.0);
  CHECK(target_ms["lossy"] > 2.0 * target_ms["good"]);
  CHECK(target_ms["lossy"] >= 15.0);  // the profile's uniform jitter is 15 ms wide
  CHECK(target_ms["bursty"] >= 20.0);
  CHECK(target_ms["spiky"] > target_ms["good"]);
}

TEST_CASE(
    "F6: a fixed short delay on a jittery network loses packets late; the adaptive one does not") {
  ns::simulator sim{ns::lossy(), 3};
  const auto sent = sim.make_stream(video(6000, 1));
  const auto trace = sim.transmit(sent);
  auto fixed = sim_config(si::jitter_mode::packet);
  fixed.delay_mode = si::jitter_delay_mode::fixed;
  fixed.min_delay_us = 0;
  fixed.initial_delay_us = 5'000;
  const auto f = drive(sent, tag(trace, alice), fixed);
  const auto a = drive(sent, tag(trace, alice), sim_config(si::jitter_mode::packet));
  CHECK(f.late_arrivals_of_arrived > a.late_arrivals_of_arrived + a.late_arrivals_of_arrived / 2);
  CHECK(a.mean_added_delay_us > f.mean_added_delay_us);  // the price: a longer wait
}
