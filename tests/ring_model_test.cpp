// Randomized model test: >= 1M random operations on the three ring components, checked
// step by step against a plain reference model. Every payload encodes its true owner.
#include <doctest/doctest.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "pool_calls.hpp"
#include "streamiso/broadcast_ring.hpp"
#include "streamiso/buffer_pool.hpp"
#include "streamiso/spsc_queue.hpp"
#include "test_support.hpp"

namespace si = streamiso;
using streamiso_test::rng;

namespace {
constexpr std::uint64_t owners = 4;

struct frame {
  std::uint64_t owner_id;
  std::uint64_t seq;
};

// Model ids start at 0; tag ids at 1 (the unset id 0 names nobody and matches nothing).
si::owner owner_of(std::uint64_t id) { return si::owner{id + 1}; }
si::requester requester_of(std::uint64_t id) { return si::requester{id + 1}; }

struct tally {
  std::uint64_t accepted = 0;
  std::uint64_t delivered = 0;
  std::uint64_t reported_lost = 0;
  std::uint64_t cross_owner = 0;
  std::uint64_t unread =
      0;  // still waiting for a reader at the end, or dropped unread: booked by the model
};

// ---------------- spsc_queue ----------------
// Per-call pushes and pops, and pushes and pops through endpoints, interleaved on one queue.
// The model keeps every frame's queue index and binding; for a consumer endpoint it keeps
// the window the queue promises ([head, limit) holds only frames of the endpoint's binding)
// and checks, at every pop from it, that the promise holds. After a rebind, a strict
// endpoint is stale on its next pop, window or not; a window endpoint may finish its window
// (its own binding's frames, to its own requester) and is stale at its next refresh.
void run_spsc(rng& g, std::uint64_t ops, tally& t) {
  constexpr std::size_t cap = 8;
  using queue_t = si::spsc_queue<frame>;
  queue_t q(cap);
  q.rebind(owner_of(0));
  struct entry {
    frame f;
    std::uint64_t binding;
  };
  std::deque<entry> model;
  std::uint64_t bound = 0;
  std::uint64_t binding = 0;
  std::uint64_t seq = 0;
  std::uint64_t head_index = 0;  // queue index of model.front()
  std::uint64_t tail_index = 0;  // queue index of the next accepted frame
  auto pe = q.bind_producer(owner_of(0)).value();
  std::uint64_t pe_binding = 0;
  struct consumer_model {
    std::uint64_t who;
    std::uint64_t binding;
    std::uint64_t limit;
  };
  auto ce = q.bind_consumer(requester_of(0)).value();
  consumer_model cm{0, 0, 0};
  auto se = q.bind_strict_consumer(requester_of(0)).value();
  consumer_model sm{0, 0, 0};
  auto drop_stale = [&]() {
    std::uint64_t stale = 0;
    while (stale < model.size() && model[stale].binding != binding) ++stale;
    model.erase(model.begin(), model.begin() + static_cast<std::ptrdiff_t>(stale));
    head_index += stale;
    t.reported_lost += stale;
    return stale;
  };
  auto deliver = [&](const si::result<frame>& r, std::uint64_t who) {
    REQUIRE(r);
    if (r->owner_id != who) ++t.cross_owner;
    REQUIRE(r->seq == model.front().f.seq);
    model.pop_front();
    ++head_index;
    ++t.delivered;
  };
  for (std::uint64_t op = 0; op < ops; ++op) {
    const std::uint64_t kind = g.below(100);
    const std::uint64_t who = g.below(100) < 80 ? bound : g.below(owners);
    if (kind < 45) {
      const bool through_endpoint = kind >= 25;
      const frame f{through_endpoint ? bound : who, seq};
      const auto s = through_endpoint ? pe.try_push(f) : q.try_push(owner_of(who), f);
      if (through_endpoint && pe_binding != binding) {
        REQUIRE(s.refused_for(si::refusal::stale_binding));
      } else if (!through_endpoint && who != bound) {
        REQUIRE(s.refused_for(si::refusal::owner_mismatch));
      } else if (model.size() == cap) {
        REQUIRE(s.refused_for(si::refusal::full));
      } else {
        REQUIRE(s);
        model.push_back({f, binding});
        ++seq;
        ++tail_index;
        ++t.accepted;
      }
    } else if (kind < 70) {
      auto r = q.try_pop(requester_of(who));
      if (who != bound) {
        REQUIRE(r.refused_for(si::refusal::owner_mismatch));
        continue;
      }
      if (!model.empty() && model.front().binding != binding) {
        REQUIRE(r.refused_for(si::refusal::stale_binding));
        REQUIRE(r.detail() == drop_stale());
      } else if (model.empty()) {
        REQUIRE(r.refused_for(si::refusal::empty));
      } else {
        deliver(r, who);
      }
    } else if (kind < 93) {
      const bool strict = kind >= 82;
      consumer_model& m = strict ? sm : cm;
      auto r = strict ? se.try_pop() : ce.try_pop();
      if (strict && m.binding != binding) {
        // Strict: rebound since the endpoint was made, so stale at once, even in its window.
        REQUIRE(r.refused_for(si::refusal::stale_binding));
        REQUIRE(r.detail() == 0);
      } else if (head_index < m.limit) {
        // The window (the only thing the window form delivers after a rebind): the frame
        // must be of the endpoint's own binding, for its own requester.
        REQUIRE(model.front().binding == m.binding);
        deliver(r, m.who);
      } else if (m.binding != binding) {
        // Window form: the refresh sees the rebind; nothing consumed.
        REQUIRE(r.refused_for(si::refusal::stale_binding));
        REQUIRE(r.detail() == 0);
      } else if (!model.empty() && model.front().binding != binding) {
        REQUIRE(r.refused_for(si::refusal::stale_binding));
        REQUIRE(r.detail() == drop_stale());
      } else {
        m.limit = tail_index;
        if (model.empty()) {
          REQUIRE(r.refused_for(si::refusal::empty));
        } else {
          deliver(r, m.who);
        }
      }
    } else if (kind < 95) {
      const bool strict = kind == 94;
      if (who != bound) {
        if (strict) {
          REQUIRE(q.bind_strict_consumer(requester_of(who)).refused_for(si::refusal::not_bound));
        } else {
          REQUIRE(q.bind_consumer(requester_of(who)).refused_for(si::refusal::not_bound));
        }
      } else if (strict) {
        se = q.bind_strict_consumer(requester_of(who)).value();
        sm = consumer_model{who, binding, 0};
      } else {
        ce = q.bind_consumer(requester_of(who)).value();
        cm = consumer_model{who, binding, 0};
      }
    } else if (kind < 96) {
      auto p = q.bind_producer(owner_of(who));
      if (who != bound) {
        REQUIRE(p.refused_for(si::refusal::owner_mismatch));
      } else {
        REQUIRE(p);
        pe = std::move(p).value();
        pe_binding = binding;
      }
    } else {
      bound = g.below(owners);
      ++binding;
      if (kind < 98) {
        q.rebind(owner_of(bound));
      } else {
        pe.rebind(owner_of(bound));
        pe_binding = binding;
      }
    }
  }
  // What is still queued is neither delivered nor lost yet: count it through a final rebind.
  q.rebind(owner_of(bound));
  auto r = q.try_pop(requester_of(bound));
  if (!model.empty()) {
    REQUIRE(r.refused_for(si::refusal::stale_binding));
    t.reported_lost += r.detail();
  }
}

// ---------------- broadcast_ring ----------------
void run_broadcast(rng& g, std::uint64_t ops, tally& t) {
  constexpr std::size_t cap = 8;
  using ring_t = si::broadcast_ring<frame>;
  ring_t ring(cap, owner_of(0));
  struct published {
    frame f;
    std::uint64_t binding;
  };
  std::vector<published> log;  // every frame ever published, by index
  std::uint64_t bound = 0;
  std::uint64_t binding = 0;
  std::uint64_t binding_start = 0;
  std::uint64_t last_key = 0;  // index + 1
  std::optional<ring_t::producer> prod;
  std::uint64_t prod_owner = 0;
  std::uint64_t prod_binding = 0;
  struct reader {
    ring_t::consumer sub;
    std::uint64_t who;
    std::uint64_t binding;
    std::uint64_t start;
    std::uint64_t cursor;
    bool keyframes;
    bool stale_reported;
    std::uint64_t delivered;
    std::uint64_t lost;
    std::uint64_t unread;
  };
  std::vector<reader> readers;
  std::vector<std::uint64_t> binding_end;  // binding -> first index of the next binding
  // Closes a reader's books: every frame of its binding since it bound was delivered,
  // reported lost by the component, or is still unread (lag, or stale beyond one rebind).
  auto settle = [&](reader& rd) {
    const std::uint64_t end = rd.binding == binding ? log.size() : binding_end[rd.binding];
    REQUIRE(rd.cursor <= end);
    rd.unread += end - rd.cursor;
    REQUIRE(rd.delivered + rd.lost + rd.unread == end - rd.start);
    t.delivered += rd.delivered;
    t.reported_lost += rd.lost;
    t.unread += rd.unread;
    t.accepted += end - rd.start;
  };
  for (std::uint64_t op = 0; op < ops; ++op) {
    const std::uint64_t kind = g.below(100);
    const std::uint64_t who = g.below(100) < 80 ? bound : g.below(owners);
    if (kind < 40) {
      const bool key = g.below(6) == 0;
      // The writer keeps its producer across pushes and binds a new one now and then; one
      // kept across a rebind must be refused stale.
      if (!prod || g.below(5) == 0) {
        auto p = ring.bind_producer(owner_of(who));
        if (who != bound) {
          REQUIRE(p.refused_for(si::refusal::owner_mismatch));
          continue;
        }
        REQUIRE(p);
        prod = *p;
        prod_owner = who;
        prod_binding = binding;
      }
      const frame f{prod_owner, log.size()};
      const auto s = prod->try_push(f, key ? si::frame_kind::keyframe : si::frame_kind::delta);
      if (prod_binding != binding) {
        REQUIRE(s.refused_for(si::refusal::stale_binding));
      } else {
        REQUIRE(s);
        log.push_back({f, binding});
        if (key) last_key = log.size();
      }
    } else if (kind < 45) {
      const bool keyframes = g.below(2) == 0;
      auto s = ring.bind_consumer(requester_of(who), keyframes ? si::resync_policy::newest_keyframe
                                                               : si::resync_policy::newest);
      if (who != bound) {
        REQUIRE(s.refused_for(si::refusal::not_bound));
        continue;
      }
      REQUIRE(s);
      const std::uint64_t w = log.size();
      reader rd{std::move(*s), who, binding, w, w, keyframes, false, 0, 0, 0};
      if (readers.size() < 6) {
        readers.push_back(std::move(rd));
      } else {
        reader& victim = readers[g.below(readers.size())];
        settle(victim);
        victim = std::move(rd);
      }
    } else if (kind < 90) {
      if (readers.empty()) continue;
      reader& rd = readers[g.below(readers.size())];
      auto r = rd.sub.try_pop();
      const std::uint64_t w = log.size();
      if (rd.binding != binding) {
        REQUIRE(r.refused_for(si::refusal::stale_binding));
        // Reported once, exactly, up to stale_history rebinds later; after more, as unknown
        // (then the model's own books say what was lost).
        std::uint64_t expect = 0;
        std::uint64_t lost = 0;
        if (!rd.stale_reported) {
          rd.stale_reported = true;
          lost = binding_end[rd.binding] - rd.cursor;
          expect = binding - rd.binding <= ring_t::stale_history ? lost : ring_t::lost_unknown;
        }
        REQUIRE(r.detail() == expect);
        rd.lost += lost;
        rd.cursor += lost;
      } else if (rd.cursor == w) {
        REQUIRE(r.refused_for(si::refusal::empty));
      } else if (w - rd.cursor >= cap) {
        REQUIRE(r.refused_for(si::refusal::overrun));
        std::uint64_t target = w - 1;
        if (rd.keyframes && last_key != 0 && last_key - 1 > rd.cursor && w - (last_key - 1) < cap) {
          target = last_key - 1;
        }
        REQUIRE(r.detail() == target - rd.cursor);
        rd.lost += target - rd.cursor;
        rd.cursor = target;
      } else {
        REQUIRE(r);
        if (r->owner_id != rd.who) ++t.cross_owner;
        REQUIRE(r->seq == rd.cursor);
        REQUIRE(log[rd.cursor].binding == rd.binding);
        ++rd.cursor;
        ++rd.delivered;
      }
    } else if (kind < 98) {
      auto r = ring.read_latest(requester_of(who));
      if (who != bound) {
        REQUIRE(r.refused_for(si::refusal::owner_mismatch));
      } else if (log.size() == binding_start) {
        REQUIRE(r.refused_for(si::refusal::empty));
      } else {
        REQUIRE(r);
        if (r->owner_id != who) ++t.cross_owner;
        REQUIRE(r->seq == log.size() - 1);
      }
    } else {
      binding_end.push_back(log.size());
      bound = g.below(owners);
      ++binding;
      binding_start = log.size();
      last_key = 0;
      ring.rebind(owner_of(bound));
    }
  }
  for (auto& rd : readers) settle(rd);
}

// ---------------- buffer_pool ----------------
void run_pool(rng& g, std::uint64_t ops, tally& t) {
  constexpr std::size_t count = 4;
  constexpr std::size_t size = 64;
  si::buffer_pool<> pool(pool_config(
      count, size, g.below(2) == 0 ? si::scrub_policy::none : si::scrub_policy::on_release));
  struct issued {
    si::pool_handle h;
    std::uint64_t owner_id;
    std::size_t length;
    unsigned char stamp;
    bool released;
  };
  std::vector<issued> handles;
  std::size_t in_use = 0;
  unsigned char out[size];
  for (std::uint64_t op = 0; op < ops; ++op) {
    const std::uint64_t kind = g.below(100);
    const std::uint64_t who = g.below(owners);
    if (kind < 25) {
      auto w = pool_acquire(pool, owner_of(who));
      if (in_use == count) {
        REQUIRE(w.refused_for(si::refusal::full));
        continue;
      }
      REQUIRE(w);
      const std::size_t len = static_cast<std::size_t>(g.below(size + 1));
      const auto stamp = static_cast<unsigned char>(0x10 * who + (op & 0xF));
      unsigned char bytes[size];
      for (std::size_t i = 0; i < len; ++i) bytes[i] = stamp;
      REQUIRE(w->append(bytes, len));
      if (g.below(20) == 0) continue;  // abandoned: returns to the pool, never readable
      auto h = w->publish();
      REQUIRE(h);
      ++in_use;
      ++t.accepted;
      handles.push_back({*h, who, len, stamp, false});
      if (handles.size() > 64) handles.erase(handles.begin());
    } else if (kind < 80) {
      if (handles.empty()) continue;
      const issued& is = handles[g.below(handles.size())];
      const std::uint64_t reader_id = g.below(100) < 70 ? is.owner_id : g.below(owners);
      auto n = pool_copy_out(pool, is.h, requester_of(reader_id), out, size);
      if (is.released) {
        REQUIRE(n.refused_for(si::refusal::stale_handle));
      } else if (reader_id != is.owner_id) {
        REQUIRE(n.refused_for(si::refusal::owner_mismatch));
      } else {
        REQUIRE(n);
        REQUIRE(*n == is.length);
        for (std::size_t i = 0; i < *n; ++i) {
          if (out[i] != is.stamp) ++t.cross_owner;
        }
        ++t.delivered;
      }
    } else {
      if (handles.empty()) continue;
      issued& is = handles[g.below(handles.size())];
      const std::uint64_t releaser = g.below(100) < 80 ? is.owner_id : g.below(owners);
      const auto s = pool_release(pool, owner_of(releaser), is.h);
      if (is.released) {
        REQUIRE(s.refused_for(si::refusal::stale_handle));
      } else if (releaser != is.owner_id) {
        REQUIRE(s.refused_for(si::refusal::owner_mismatch));
      } else {
        REQUIRE(s);
        is.released = true;
        --in_use;
      }
    }
  }
}
}  // namespace

TEST_CASE("F1 F3 F8: randomized model, spsc_queue: zero cross-owner, delivered + lost == pushed") {
  rng g(0x5eed'0001);
  tally t;
  run_spsc(g, streamiso_test::scaled(1'000'000), t);
  CHECK(t.cross_owner == 0);
  CHECK(t.delivered + t.reported_lost == t.accepted);
  CHECK(t.delivered > 0);
  CHECK(t.reported_lost > 0);
}

TEST_CASE(
    "F1 F3: randomized model, broadcast_ring: zero cross-owner, delivered + lost + unread == "
    "published") {
  rng g(0x5eed'0002);
  tally t;
  run_broadcast(g, streamiso_test::scaled(1'000'000), t);
  CHECK(t.cross_owner == 0);
  CHECK(t.delivered + t.reported_lost + t.unread == t.accepted);
  CHECK(t.reported_lost > 0);
  CHECK(t.delivered > 0);
}

TEST_CASE("F3 F8: randomized model, buffer_pool: stale handles refused, only the owner's bytes") {
  for (std::uint64_t seed = 3; seed < 5; ++seed) {
    rng g(0x5eed'0000 + seed);
    tally t;
    run_pool(g, streamiso_test::scaled(500'000), t);
    CHECK(t.cross_owner == 0);
    CHECK(t.delivered > 0);
  }
}
