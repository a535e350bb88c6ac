// Concurrency stress: writer and readers on separate threads, rebinds mid-stream. Run under
// ThreadSanitizer by the tsan preset. Every read is checked: owner stamp, integrity word
// (no torn frame), and sequence bookkeeping.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "pool_calls.hpp"
#include "streamiso/broadcast_ring.hpp"
#include "streamiso/buffer_pool.hpp"
#include "streamiso/spsc_queue.hpp"
#include "test_support.hpp"

namespace si = streamiso;

namespace {
constexpr std::uint64_t owners = 3;
si::owner owner_of(std::uint64_t id) { return si::owner{id}; }
si::requester requester_of(std::uint64_t id) { return si::requester{id}; }

std::uint64_t mix(std::uint64_t a, std::uint64_t b) noexcept {
  std::uint64_t x = a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL);
  x ^= x >> 31;
  return x * 0xBF58476D1CE4E5B9ULL;
}

// Six words so that a torn copy (half old frame, half new) is caught by the check word.
struct wide_frame {
  std::uint64_t owner_id;
  std::uint64_t seq;
  std::uint64_t pad[3];
  std::uint64_t check;
  static wide_frame make(std::uint64_t owner_id, std::uint64_t seq) noexcept {
    wide_frame f{owner_id, seq, {seq ^ 1, seq ^ 2, seq ^ 3}, 0};
    f.check = f.digest();
    return f;
  }
  std::uint64_t digest() const noexcept {
    return mix(mix(owner_id, seq), pad[0] ^ pad[1] ^ pad[2]);
  }
  bool whole() const noexcept {
    return check == digest() && pad[0] == (seq ^ 1) && pad[2] == (seq ^ 3);
  }
};

std::uint64_t owner_for_binding(std::uint64_t binding) { return 1 + binding % owners; }
}  // namespace

TEST_CASE(
    "F1 F3: spsc stress, producer rebinds mid-stream; no cross-owner pop, delivered + stale == "
    "pushed") {
  const std::uint64_t total = streamiso_test::scaled(1'000'000, 20'000);
  constexpr std::uint64_t per_binding = 5000;
  si::spsc_queue<wide_frame> q(256);
  q.rebind(owner_of(owner_for_binding(0)));
  std::atomic<bool> done{false};
  std::uint64_t pushed = 0;
  std::thread producer([&] {
    std::uint64_t binding = 0;
    for (std::uint64_t i = 0; i < total; ++i) {
      if (i != 0 && i % per_binding == 0) q.rebind(owner_of(owner_for_binding(++binding)));
      const std::uint64_t o = owner_for_binding(binding);
      while (!q.try_push(owner_of(o), wide_frame::make(o, i))) std::this_thread::yield();
      ++pushed;
    }
    done.store(true, std::memory_order_release);
  });
  std::uint64_t delivered = 0, stale = 0, cross = 0, torn = 0, disorder = 0;
  std::uint64_t last_seq = 0;
  bool any = false;
  auto drain_once = [&]() -> bool {
    bool progressed = false;
    for (std::uint64_t who = 1; who <= owners; ++who) {
      auto r = q.try_pop(requester_of(who));
      if (r) {
        progressed = true;
        ++delivered;
        if (r->owner_id != who) ++cross;
        if (!r->whole()) ++torn;
        if (any && r->seq <= last_seq) ++disorder;
        last_seq = r->seq;
        any = true;
      } else if (r.reason() == si::refusal::stale_binding) {
        progressed = true;
        stale += r.detail();
      }
    }
    return progressed;
  };
  while (!done.load(std::memory_order_acquire)) {
    if (!drain_once()) std::this_thread::yield();
  }
  producer.join();
  while (drain_once()) {
  }
  CHECK(cross == 0);
  CHECK(torn == 0);
  CHECK(disorder == 0);
  CHECK(delivered + stale == pushed);
  CHECK(delivered > 0);
  CHECK(q.empty());
}

// Everything the consumer side offers with strict freshness (per-call pops, strict
// endpoints), mixed on one consumer thread, against a producer that
// rebinds often (both rebind forms, sometimes twice in a row, sometimes to the same owner),
// pushes through both forms, and hands over consumer endpoints it made itself (through a
// second queue, which orders them). Capacity 2 keeps windows short and wraps constantly.
// Checked on every delivery: the requester matches the stamp (no cross-owner pop), the frame
// is whole, sequences grow, and no frame of a binding the consumer knows was replaced (the
// producer announces each finished rebind with a release store) is ever delivered.
TEST_CASE(
    "F1 F3: spsc stress, per-call pops and endpoints (some made on the producer thread) mixed; no "
    "cross-owner or post-rebind delivery, counts add up") {
  using wq = si::spsc_queue<wide_frame>;
  const std::uint64_t total = streamiso_test::scaled(100'000, 10'000);
  wq q(2);
  q.rebind(owner_of(1));
  si::spsc_queue<wq::strict_consumer> handoff(4);
  handoff.rebind(owner_of(99));
  std::atomic<std::uint64_t> rebinds_done{0};
  std::atomic<bool> done{false};
  std::uint64_t pushed = 0;
  std::uint64_t producer_errors = 0;
  std::thread producer([&] {
    streamiso_test::rng rng(0x5eed5c0e);
    std::uint64_t o = 1;
    std::uint64_t binding = 0;
    auto in = q.bind_producer(owner_of(o)).value();
    for (std::uint64_t i = 0; i < total; ++i) {
      while (rng.chance(2)) {
        o = 1 + rng.below(owners);
        if (rng.chance(50)) {
          q.rebind(owner_of(o));
          if (in.current()) ++producer_errors;  // the old door must be shut
          in = q.bind_producer(owner_of(o)).value();
        } else {
          in.rebind(owner_of(o));
        }
        // release: pairs with the consumer's acquire; the rebind happens-before its next pop.
        rebinds_done.store(++binding, std::memory_order_release);
        if (rng.chance(30)) {
          auto c = q.bind_strict_consumer(requester_of(o));
          if (c) (void)handoff.try_push(owner_of(99), std::move(c).value());
        }
      }
      wide_frame f = wide_frame::make(o, i);
      f.pad[1] = binding;  // the binding the frame was pushed under (whole() leaves pad[1] free)
      f.check = f.digest();
      for (;;) {
        const si::status s = rng.chance(50) ? in.try_push(f) : q.try_push(owner_of(o), f);
        if (s) break;
        if (!s.refused_for(si::refusal::full)) ++producer_errors;
        std::this_thread::yield();
      }
      ++pushed;
    }
    done.store(true, std::memory_order_release);  // release: pairs with the acquire below
  });
  std::uint64_t delivered = 0, dropped = 0, cross = 0, torn = 0, disorder = 0, late = 0, handed = 0;
  std::uint64_t last_seq = 0;
  bool any = false;
  streamiso_test::rng crng(0xc0c0a);
  auto bind_any = [&]() {
    for (;;) {
      for (std::uint64_t who = 1; who <= owners; ++who) {
        auto c = q.bind_strict_consumer(requester_of(who));
        if (c) return std::move(c).value();
      }
      std::this_thread::yield();
    }
  };
  auto out = bind_any();
  auto step = [&]() -> bool {
    // acquire: pairs with the producer's release after each rebind.
    const std::uint64_t known = rebinds_done.load(std::memory_order_acquire);
    const bool per_call = crng.chance(40);
    const si::requester who = per_call ? requester_of(1 + crng.below(owners)) : out.who();
    auto r = per_call ? q.try_pop(who) : out.try_pop();
    if (r) {
      ++delivered;
      if (requester_of(r->owner_id) != who) ++cross;
      if (!r->whole()) ++torn;
      if (r->pad[1] < known) ++late;
      if (any && r->seq <= last_seq) ++disorder;
      last_seq = r->seq;
      any = true;
      return true;
    }
    if (r.refused_for(si::refusal::stale_binding)) {
      dropped += r.detail();
      if (!per_call && r.detail() == 0) {
        auto h = handoff.try_pop(requester_of(99));
        if (h) {
          out = std::move(h).value();
          ++handed;
        } else {
          out = bind_any();
        }
      }
      return true;
    }
    if (!per_call && crng.chance(1)) out = bind_any();  // a fresh window (limit 0) now and then
    return false;  // empty, or a per-call requester that is not the owner: no progress
  };
  while (!done.load(std::memory_order_acquire)) {
    if (!step()) std::this_thread::yield();
  }
  producer.join();
  for (int idle = 0; idle < 64;) idle = step() ? 0 : idle + 1;
  CHECK(producer_errors == 0);
  CHECK(cross == 0);
  CHECK(torn == 0);
  CHECK(disorder == 0);
  CHECK(late == 0);
  CHECK(delivered + dropped + q.size() == pushed);
  CHECK(q.empty());
  CHECK(delivered > 0);
  CHECK(dropped > 0);
  CHECK(handed > 0);
}

TEST_CASE(
    "F1 F3 F7: broadcast stress, 2 readers vs a writer that rebinds; no torn or foreign frame, "
    "gaps == reported overruns") {
  const std::uint64_t total = streamiso_test::scaled(1'000'000, 20'000);
  constexpr std::uint64_t per_binding = 20000;
  using ring_t = si::broadcast_ring<wide_frame>;
  ring_t ring(16, owner_of(owner_for_binding(0)));
  std::atomic<bool> done{false};
  std::thread writer([&] {
    std::uint64_t binding = 0;
    auto p = ring.bind_producer(owner_of(owner_for_binding(0))).value();
    for (std::uint64_t i = 0; i < total; ++i) {
      if (i != 0 && i % per_binding == 0) {
        ring.rebind(owner_of(owner_for_binding(++binding)));
        REQUIRE(p.try_push(wide_frame{}).refused_for(si::refusal::stale_binding));
        p = ring.bind_producer(owner_of(owner_for_binding(binding))).value();
      }
      const std::uint64_t o = owner_for_binding(binding);
      const auto kind = i % 30 == 0 ? si::frame_kind::keyframe : si::frame_kind::delta;
      REQUIRE(p.try_push(wide_frame::make(o, i), kind));
      if (i % 64 == 0) std::this_thread::yield();  // let the readers keep up sometimes
    }
    done.store(true, std::memory_order_release);
  });
  struct stats {
    std::uint64_t delivered = 0, cross = 0, torn = 0, bad_gap = 0, overruns = 0, latest = 0,
                  bindings = 0, foreign_latest = 0;
  };
  auto reader = [&](stats& st, si::resync_policy policy) {
    while (!done.load(std::memory_order_acquire)) {
      // Ask who owns the ring now; the answer may be outdated by the time it is used.
      const si::owner now = ring.owner();
      for (std::uint64_t who = 1; who <= owners; ++who) {
        if (now != owner_of(who)) continue;
        auto l = ring.read_latest(requester_of(who));
        if (l) {
          ++st.latest;
          if (l->owner_id != who) ++st.cross;
          if (!l->whole()) ++st.torn;
        } else if (l.reason() == si::refusal::owner_mismatch) {
          ++st.foreign_latest;  // a rebind landed after owner(): refused, counted as an alarm
        }
        auto sub = ring.bind_consumer(requester_of(who), policy);
        if (!sub) continue;
        ++st.bindings;
        bool have_prev = false;
        std::uint64_t prev = 0, missed = 0;
        while (!done.load(std::memory_order_acquire)) {
          auto r = sub->try_pop();
          if (r) {
            ++st.delivered;
            if (r->owner_id != who) ++st.cross;
            if (!r->whole()) ++st.torn;
            // Every gap between two delivered frames was reported as an overrun, exactly.
            if (have_prev && r->seq - prev - 1 != missed) ++st.bad_gap;
            prev = r->seq;
            have_prev = true;
            missed = 0;
          } else if (r.reason() == si::refusal::overrun) {
            ++st.overruns;
            missed += r.detail();
          } else if (r.reason() == si::refusal::stale_binding) {
            break;
          }
        }
      }
    }
  };
  stats a, b;
  std::thread ra(reader, std::ref(a), si::resync_policy::newest);
  std::thread rb(reader, std::ref(b), si::resync_policy::newest_keyframe);
  writer.join();
  ra.join();
  rb.join();
  for (const stats* st : {&a, &b}) {
    CHECK(st->cross == 0);
    CHECK(st->torn == 0);
    CHECK(st->bad_gap == 0);
    CHECK(st->delivered > 0);
    CHECK(st->bindings > 1);  // rebinds forced new consumers
  }
  // Readers that ask owner() first raise no alarm but the few races they saw themselves.
  CHECK(ring.counters().count(si::refusal::owner_mismatch) == a.foreign_latest + b.foreign_latest);
  CHECK(ring.counters().count(si::refusal::unset_id) == 0);
}

TEST_CASE(
    "F1 F3 F7: broadcast wait stress, consumers sleep in pop_for and bind_consumer_for across "
    "rebinds; every wake delivers or reports") {
  const std::uint64_t total = streamiso_test::scaled(200'000, 10'000);
  constexpr std::uint64_t per_binding = 2000;
  using ring_t = si::broadcast_ring<wide_frame>;
  ring_t ring(16, owner_of(owner_for_binding(0)), si::waits::enabled);
  std::atomic<bool> done{false};
  std::atomic<int> finished{0};
  std::thread writer([&] {
    std::uint64_t binding = 0;
    auto p = ring.bind_producer(owner_of(owner_for_binding(0))).value();
    for (std::uint64_t i = 0; i < total; ++i) {
      if (i != 0 && i % per_binding == 0) {
        ring.rebind(owner_of(owner_for_binding(++binding)));
        p = ring.bind_producer(owner_of(owner_for_binding(binding))).value();
      }
      REQUIRE(p.try_push(wide_frame::make(owner_for_binding(binding), i)));
      if (i % 16 == 0) std::this_thread::yield();  // readers fall asleep often
    }
    done.store(true, std::memory_order_seq_cst);
    // Keep handing the camera round until every display has left, so that each one, asleep in
    // a bind or a pop, is woken and learns the stream is over.
    for (std::uint64_t k = 0; finished.load(std::memory_order_seq_cst) != 3; ++k) {
      ring.rebind(owner_of(1 + k % owners));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  struct stats {
    std::uint64_t delivered = 0, cross = 0, torn = 0, bad_gap = 0, bindings = 0, stale = 0;
  };
  // Each reader stands for one household's display: it waits for its own camera.
  auto reader = [&](stats& st, std::uint64_t who) {
    while (!done.load(std::memory_order_seq_cst)) {
      auto sub = ring.bind_consumer_for(requester_of(who), std::chrono::seconds(60));
      if (!sub) continue;
      ++st.bindings;
      bool have_prev = false;
      std::uint64_t prev = 0, missed = 0;
      for (;;) {
        auto r = sub->pop_for(std::chrono::seconds(60));
        if (r) {
          ++st.delivered;
          if (r->owner_id != who) ++st.cross;
          if (!r->whole()) ++st.torn;
          if (have_prev && r->seq - prev - 1 != missed) ++st.bad_gap;
          prev = r->seq;
          have_prev = true;
          missed = 0;
        } else if (r.reason() == si::refusal::overrun) {
          missed += r.detail();
        } else if (r.reason() == si::refusal::stale_binding) {
          ++st.stale;
          break;
        }
      }
    }
    finished.fetch_add(1, std::memory_order_seq_cst);
  };
  stats s1, s2, s3;
  std::thread r1(reader, std::ref(s1), 1);
  std::thread r2(reader, std::ref(s2), 2);
  std::thread r3(reader, std::ref(s3), 3);
  writer.join();
  r1.join();
  r2.join();
  r3.join();
  for (const stats* st : {&s1, &s2, &s3}) {
    CHECK(st->cross == 0);
    CHECK(st->torn == 0);
    CHECK(st->bad_gap == 0);
    CHECK(st->bindings >= 1);
  }
  CHECK(s1.delivered + s2.delivered + s3.delivered > 0);
  // Waiting for a camera is never an alarm; the only ones are the single stale report each
  // consumer gets when its binding ends.
  CHECK(ring.counters().count(si::refusal::owner_mismatch) == 0);
  CHECK(ring.counters().count(si::refusal::unset_id) == 0);
  CHECK(ring.counters().count(si::refusal::stale_binding) == s1.stale + s2.stale + s3.stale);
  CHECK(ring.counters().alarms() == s1.stale + s2.stale + s3.stale);
}

TEST_CASE(
    "F7 F8 F3: pool stress, readers pin handles while the writer releases and recycles them") {
  const std::uint64_t total = streamiso_test::scaled(150'000, 5'000);
  constexpr std::size_t buf_size = 256;
  si::buffer_pool<> pool(pool_config(6, buf_size, si::scrub_policy::on_release));
  si::broadcast_ring<si::pool_handle> ring(4, owner_of(owner_for_binding(0)));
  std::atomic<bool> done{false};
  std::thread writer([&] {
    std::uint64_t binding = 0;
    std::vector<si::pool_handle> live;
    unsigned char bytes[buf_size];
    for (std::uint64_t i = 0; i < total; ++i) {
      if (i != 0 && i % 3000 == 0) {
        for (const auto& h : live)
          REQUIRE(pool_release(pool, owner_of(owner_for_binding(binding)), h));
        live.clear();
        ring.rebind(owner_of(owner_for_binding(++binding)));
      }
      const std::uint64_t o = owner_for_binding(binding);
      // Variable lengths so short frames land in buffers that held longer ones (F8).
      const std::size_t len = 16 + static_cast<std::size_t>(mix(i, 7) % (buf_size - 16));
      std::memcpy(bytes, &o, 8);
      std::memcpy(bytes + 8, &i, 8);
      for (std::size_t k = 16; k < len; ++k) bytes[k] = static_cast<unsigned char>(o * 37 + i);
      for (;;) {
        auto w = pool_acquire(pool, owner_of(o));
        if (!w) {  // readers hold pins on everything: release the oldest and retry
          if (!live.empty()) {
            REQUIRE(pool_release(pool, owner_of(o), live.front()));
            live.erase(live.begin());
          }
          std::this_thread::yield();
          continue;
        }
        REQUIRE(w->append(bytes, len));
        auto h = w->publish();
        REQUIRE(h);
        REQUIRE(ring.bind_producer(owner_of(o))->try_push(*h));
        live.push_back(*h);
        break;
      }
      if (live.size() > 3) {
        REQUIRE(pool_release(pool, owner_of(o), live.front()));
        live.erase(live.begin());
      }
    }
    for (const auto& h : live) REQUIRE(pool_release(pool, owner_of(owner_for_binding(binding)), h));
    done.store(true, std::memory_order_release);
  });
  struct stats {
    std::uint64_t reads = 0, stale = 0, cross = 0, bad_bytes = 0, wrong_frame = 0;
  };
  auto reader = [&](stats& st) {
    while (!done.load(std::memory_order_acquire)) {
      for (std::uint64_t who = 1; who <= owners; ++who) {
        auto h = ring.read_latest(requester_of(who));
        if (!h) continue;
        auto v = pool_read(pool, *h, requester_of(who));
        if (!v) {
          if (v.reason() == si::refusal::stale_handle)
            ++st.stale;
          else
            ++st.cross;  // a handle of the current binding must never be someone else's
          continue;
        }
        ++st.reads;
        std::uint64_t o = 0, seq = 0;
        REQUIRE(v->size() >= 16);
        std::memcpy(&o, v->data(), 8);
        std::memcpy(&seq, v->data() + 8, 8);
        if (o != who) ++st.cross;
        // The handle names one use of one buffer: a pin that landed on a later use (same owner,
        // other frame) shows up as a length other than the one published with the handle.
        if (v->size() != h->length) ++st.wrong_frame;
        const auto fill = static_cast<unsigned char>(o * 37 + seq);
        for (std::size_t k = 16; k < v->size(); ++k) {
          if (v->data()[k] != fill) {
            ++st.bad_bytes;
            break;
          }
        }
        std::this_thread::yield();  // hold the pin across a writer step now and then
      }
    }
  };
  stats a, b;
  std::thread ra(reader, std::ref(a));
  std::thread rb(reader, std::ref(b));
  writer.join();
  ra.join();
  rb.join();
  for (const stats* st : {&a, &b}) {
    CHECK(st->cross == 0);
    CHECK(st->bad_bytes == 0);
    CHECK(st->wrong_frame == 0);
    CHECK(st->reads > 0);
  }
  // Everything was released and unpinned: the whole pool is free again.
  std::vector<si::buffer_pool<>::writable_buffer> all;
  for (std::size_t i = 0; i < pool.buffer_count(); ++i) {
    auto w = pool_acquire(pool, owner_of(1));
    REQUIRE(w);
    all.push_back(std::move(*w));
  }
  CHECK(pool_acquire(pool, owner_of(1)).refused_for(si::refusal::full));
}
