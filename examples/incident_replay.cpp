// incident_replay: the December 2019 failure, re-enacted twice on the same simulated night.
//
// Households stream cameras through a relay to their smart displays. Some are on extremely
// poor networks; everyone reconnects now and then. The relay recycles its stream slots: a
// slot freed by one household's reconnect goes to the next household that connects.
//
//  - The naive path is a "streaming-quality" still cache of the kind that fails this way: a
//    still per relay slot, keyed by the slot id only; packets are written into the slot as
//    they arrive, with no scrub on reuse, so a still is served as soon as anything is there;
//    late packets are routed by a stale SSRC table; responses on pooled connections are read
//    by whoever asks next.
//  - The streamiso path keeps the same relay, the same slot recycling and the same stale SSRC
//    table, but packets go through owner-bound jitter buffers (frame mode), frames into a
//    tagged buffer pool, stills into a session-bound cache, responses into request sessions.
//
// Every still served is checked byte by byte against the household that asked: each chunk
// of a payload names its true owner. The naive path's leaks are measured, not assumed; the
// program fails if the naive path does not leak (the replay would prove nothing) or if
// streamiso serves a single foreign byte.
#include <streamiso/buffer_pool.hpp>
#include <streamiso/jitter_buffer.hpp>
#include <streamiso/session_cache.hpp>
#include <streamiso/testing/netsim.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/cli.hpp"
#include "common/payload.hpp"

namespace {

namespace si = streamiso;
namespace ns = streamiso::netsim;

constexpr std::size_t chunk_bytes = 1000;  // payload bytes per packet
constexpr std::uint32_t max_chunks = 8;    // packets per frame, at most
constexpr std::size_t still_bytes = chunk_bytes * max_chunks;
constexpr std::size_t relay_connections = 8;  // pooled connections that carry still responses
constexpr ns::usec response_timeout_us = 1'000'000;
// Pooled connections are closed and reopened after this many requests (a keep-alive limit),
// which is what bounds a cascade of misdelivered responses on one connection.
constexpr std::size_t max_requests_per_connection = 32;

// Exit codes (also in --help); 2 is a bad command line (example::exit_usage).
constexpr int exit_crossed = 1;         // streamiso served a foreign byte
constexpr int exit_proves_nothing = 3;  // the naive path did not leak, or streamiso served nothing
constexpr double max_household_seconds =
    20480;  // households x simulated seconds: 4096 x 5 s is ~300 MB
constexpr std::string_view exit_codes_help =
    "exit codes:\n"
    "  0  the naive cache leaked and streamiso served no foreign byte\n"
    "  1  streamiso served a foreign byte (a bug)\n"
    "  2  a bad option or combination (one line on stderr says which)\n"
    "  3  the night proves nothing: the naive cache did not leak, or streamiso served no still";

struct options {
  double households = 32;
  double seconds = 60;
  double poor_percent = 30;
  double reconnect_every_s = 4;
  double seed = 1;
  double spare_slots = 1;
};

// ---- the scenario: identical input for both paths ----

// What a packet carries, as the sender wrote it. The relay copies the chunk's bytes; they are
// regenerated here from the sender's own fields (the example's stand-in for a memcpy).
struct chunk_ref {
  std::uint64_t owner = 0;   // the sender household's payload id (never the relay's idea of it)
  std::uint64_t frame = 0;   // global frame number within the household
  std::uint32_t chunk = 0;   // position in the frame
  std::uint32_t chunks = 0;  // chunks in this frame
};

void write_chunk(std::uint8_t* dst, const chunk_ref& c) noexcept {
  example::fill_payload(dst, chunk_bytes, c.owner, c.frame * 256 + c.chunk);
}

enum class event_kind : std::uint8_t { assign, arrival, request };

struct event {
  ns::usec at = 0;
  event_kind kind = event_kind::arrival;
  std::uint32_t household = 0;
  ns::arrival packet{};  // arrival
  chunk_ref ref{};       // arrival
};

struct household {
  std::uint64_t payload_id = 0;  // what the household's bytes say
  si::owner tag;
  bool poor = false;
  std::uint32_t chunks_per_frame = 1;
};

ns::profile network_for(bool poor, std::uint64_t seed, const options& o) {
  ns::profile p = poor ? ns::bursty() : ns::good();
  if (poor) {
    // Extremely poor: bursty loss plus stragglers that arrive long after their neighbours.
    p.name = "poor";
    p.reorder_probability = 0.05;
    p.reorder_delay_us = 250'000;
    p.duplicate_probability = 0.01;
    p.duplicate_delay_us = 200'000;
    p.base_delay_us = 120'000;
  }
  ns::rng r(seed ^ 0xA5A5A5A5ULL);
  const double mean_us = o.reconnect_every_s * 1e6;
  for (double t = mean_us * (0.25 + r.uniform()); t < o.seconds * 1e6;) {
    const ns::usec start = static_cast<ns::usec>(t);
    const ns::usec down = 30'000 + static_cast<ns::usec>(r.uniform() * 270'000);
    p.script.push_back(ns::outage{start, down, true});
    // The next outage starts after this one ends (the simulator refuses overlapping events):
    // with short means the link is up for at least 20 ms between two reconnects.
    t = std::max(t + mean_us * (0.5 + r.uniform()), static_cast<double>(start + down + 20'000));
  }
  return p;
}

// Builds every household's stream, its arrivals, the reconnect signalling and the display's
// still requests, merged in time order.
std::vector<event> build_scenario(const options& o, std::vector<household>& homes) {
  std::vector<event> events;
  const auto n = static_cast<std::uint32_t>(o.households);
  const auto seed = static_cast<std::uint64_t>(o.seed);
  ns::rng pick(seed * 7919 + 1);
  for (std::uint32_t h = 0; h < n; ++h) {
    household home;
    home.payload_id = 0x1000 + h;
    home.tag = si::owner{0xC0FFEE, home.payload_id};
    home.poor = pick.uniform() * 100.0 < o.poor_percent;
    home.chunks_per_frame = 2 + static_cast<std::uint32_t>(pick.next() % (max_chunks - 1));
    homes.push_back(home);

    ns::simulator sim(network_for(home.poor, seed * 1000 + h, o), seed * 1000 + h);
    ns::stream_spec spec;
    spec.packets_per_frame = home.chunks_per_frame;
    spec.packets_per_second = 10.0 * home.chunks_per_frame;  // 10 fps
    spec.packets = static_cast<std::uint64_t>(o.seconds * spec.packets_per_second);
    spec.keyframe_interval = 20;
    spec.size_bytes = chunk_bytes;
    spec.start_us = static_cast<ns::usec>(pick.next() % 100'000);
    const std::vector<ns::sent_packet> sent = sim.make_stream(spec);

    // Frame and chunk of every sent packet; the relay learns of each session by signalling,
    // ahead of its media.
    std::vector<chunk_ref> refs(sent.size());
    std::uint64_t frame = 0;
    std::uint32_t in_frame = 0;
    std::uint32_t epoch = 0;
    for (std::size_t i = 0; i < sent.size(); ++i) {
      if (i == 0 || sent[i].epoch != epoch) {
        if (i != 0 && in_frame != 0) ++frame;
        in_frame = 0;
        epoch = sent[i].epoch;
        events.push_back(event{sent[i].send_us + 5'000, event_kind::assign, h, {}, {}});
        // The display is told "camera back online" and refreshes its still at once.
        events.push_back(event{sent[i].send_us + 25'000, event_kind::request, h, {}, {}});
      }
      refs[i] = chunk_ref{home.payload_id, frame, in_frame, home.chunks_per_frame};
      if (++in_frame == home.chunks_per_frame) {
        in_frame = 0;
        ++frame;
      }
    }
    for (const ns::arrival& a : sim.transmit(sent)) {
      events.push_back(event{a.arrival_us, event_kind::arrival, h, a, refs[a.packet.index]});
    }
    // Periodic refreshes, about once a second.
    for (ns::usec t = 300'000 + static_cast<ns::usec>(pick.next() % 700'000);
         t < static_cast<ns::usec>(o.seconds * 1e6);
         t += 700'000 + static_cast<ns::usec>(pick.next() % 600'000)) {
      events.push_back(event{t, event_kind::request, h, {}, {}});
    }
  }
  std::stable_sort(events.begin(), events.end(), [](const event& a, const event& b) {
    return a.at != b.at ? a.at < b.at : a.kind < b.kind;
  });
  return events;
}

// Response latency of a still request on a pooled connection: heavy-tailed on poor networks.
ns::usec response_latency(const household& h, ns::rng& r) {
  if (!h.poor) return 20'000 + static_cast<ns::usec>(r.uniform() * 40'000);
  const double u = std::max(r.uniform(), 1e-6);
  return 150'000 + static_cast<ns::usec>(std::min(250'000.0 / std::pow(u, 0.8), 5e6));
}

// ---- the relay's slot bookkeeping, shared by both paths ----

struct connection {
  std::uint32_t household;
  std::uint32_t epoch;
  std::uint32_t slot;
};

class relay {
 public:
  relay(std::size_t households, std::size_t spare)
      : slot_owner_(households + spare, none), slot_of_(households, none) {
    for (std::uint32_t s = 0; s < households + spare; ++s) free_.push_back(s);
  }

  // A household's camera reconnected: its old slot goes to the back of the free queue, it
  // takes the slot at the front, which another household used last. The SSRC table is never
  // cleaned, so stragglers of the old session still route to the old slot.
  std::uint32_t assign(std::uint32_t h) {
    if (slot_of_[h] != none) {
      slot_owner_[slot_of_[h]] = none;
      free_.push_back(slot_of_[h]);
    }
    const std::uint32_t s = free_.front();
    free_.pop_front();
    slot_owner_[s] = h;
    slot_of_[h] = s;
    return s;
  }

  // Routes a packet by its SSRC; a new SSRC joins the household's current slot.
  connection route(std::uint32_t h, const ns::sent_packet& p) {
    auto it = ssrc_.find(p.ssrc);
    if (it == ssrc_.end()) it = ssrc_.emplace(p.ssrc, connection{h, p.epoch, slot_of_[h]}).first;
    return it->second;
  }

  [[nodiscard]] std::uint32_t slot_of(std::uint32_t h) const { return slot_of_[h]; }
  [[nodiscard]] std::uint32_t owner_of(std::uint32_t s) const { return slot_owner_[s]; }
  [[nodiscard]] std::size_t slots() const { return slot_owner_.size(); }
  static constexpr std::uint32_t none = 0xFFFFFFFFU;

 private:
  std::vector<std::uint32_t> slot_owner_;
  std::vector<std::uint32_t> slot_of_;
  std::deque<std::uint32_t> free_;
  std::unordered_map<std::uint32_t, connection> ssrc_;
};

// ---- what each path reports ----

enum failure_class : std::size_t { f1_f2, f4, f5, f6, f8, class_count };
constexpr std::array<const char*, class_count> class_names = {
    "F1+F2 stale slot, reused slot id as key", "F4 late packet of an earlier session",
    "F5 timed-out response read by next user", "F6 lost chunk concealed with foreign data",
    "F8 tail of the previous owner's frame"};

struct report {
  std::uint64_t requests = 0;
  std::uint64_t served = 0;
  std::uint64_t wrong_household = 0;  // stills with at least one foreign chunk
  std::uint64_t foreign_chunks = 0;
  std::uint64_t glitched = 0;  // stills with blank or broken chunks (own stream only)
  std::uint64_t timeouts = 0;
  std::array<std::uint64_t, class_count> by_class{};
};

// Checks a still chunk by chunk against the household that asked. Returns the number of
// foreign chunks; sets `glitch` when a chunk is neither the requester's nor anyone's.
std::uint64_t check_still(const std::uint8_t* bytes, std::size_t length, std::uint64_t requester,
                          bool& glitch, std::vector<std::size_t>* foreign_positions) {
  std::uint64_t foreign = 0;
  for (std::size_t off = 0; off + chunk_bytes <= length; off += chunk_bytes) {
    const auto c = example::check_payload(bytes + off, chunk_bytes, requester);
    if (c.verdict == example::payload_check::foreign) {
      ++foreign;
      if (foreign_positions != nullptr) foreign_positions->push_back(off / chunk_bytes);
    } else if (c.verdict == example::payload_check::corrupt) {
      glitch = true;
    }
  }
  if (length % chunk_bytes != 0) glitch = true;
  return foreign;
}

// ===================== the naive "streaming-quality" still cache =====================

class naive_path {
 public:
  naive_path(const std::vector<household>& homes, std::size_t spare, std::uint64_t seed)
      : homes_(homes), relay_(homes.size(), spare), slots_(relay_.slots()), rng_(seed) {}

  void on_assign(std::uint32_t h) {
    const std::uint32_t s = relay_.assign(h);
    slots_[s].owner_wrote = false;  // bookkeeping for the report only; nothing is scrubbed
  }

  void on_arrival(const event& e) {
    const connection c = relay_.route(e.household, e.packet.packet);
    slot& s = slots_[c.slot];
    // Show whatever arrived as soon as it arrives: that is the streaming-quality "feature".
    write_chunk(s.bytes.data() + e.ref.chunk * chunk_bytes, e.ref);
    s.extent = std::max<std::size_t>(s.extent, (e.ref.chunk + 1) * chunk_bytes);
    s.has_still = true;
    s.stale_route[e.ref.chunk] = relay_.owner_of(c.slot) != e.household;
    if (relay_.owner_of(c.slot) == e.household) s.owner_wrote = true;
  }

  void on_request(std::uint32_t h, ns::usec now) {
    ++report_.requests;
    const std::size_t conn = next_conn_++ % relay_connections;
    if (++uses_[conn] > max_requests_per_connection) {
      uses_[conn] = 1;  // a fresh connection: nothing buffered on it
      mailbox_[conn].clear();
      pending_[conn].clear();
    }
    deliver_due(conn, now);
    response mine = snapshot(h, now + response_latency(homes_[h], rng_));
    std::deque<response>& box = mailbox_[conn];
    if (!box.empty()) {
      // The client reads "the next message on its connection" as its answer (F5).
      response got = box.front();
      box.pop_front();
      pending_[conn].push_back(mine);
      serve(h, got, got.requester != h);
      return;
    }
    if (mine.arrives - now > response_timeout_us) {
      ++report_.timeouts;  // the client gives up; the response still comes
      pending_[conn].push_back(mine);
      return;
    }
    serve(h, mine, false);
  }

  [[nodiscard]] const report& result() const { return report_; }

 private:
  struct slot {
    std::array<std::uint8_t, still_bytes> bytes{};
    std::size_t extent = 0;
    bool has_still = false;
    bool owner_wrote = false;
    std::array<bool, max_chunks> stale_route{};
  };

  struct response {
    std::uint32_t requester;
    ns::usec arrives;
    std::size_t length;
    std::array<std::uint8_t, still_bytes> bytes;
    // Ground truth for the report: why each chunk is what it is.
    std::array<failure_class, max_chunks> cause;
  };

  response snapshot(std::uint32_t h, ns::usec arrives) const {
    response r{h, arrives, 0, {}, {}};
    const std::uint32_t s_index = relay_.slot_of(h);
    if (s_index == relay::none) return r;
    const slot& s = slots_[s_index];
    if (!s.has_still) return r;
    r.length = s.extent;
    std::memcpy(r.bytes.data(), s.bytes.data(), s.extent);
    for (std::uint32_t k = 0; k < max_chunks; ++k) {
      if (s.stale_route[k]) {
        r.cause[k] = f4;
      } else if (!s.owner_wrote) {
        r.cause[k] = f1_f2;
      } else if (k < homes_[h].chunks_per_frame) {
        r.cause[k] = f6;
      } else {
        r.cause[k] = f8;
      }
    }
    return r;
  }

  void deliver_due(std::size_t conn, ns::usec now) {
    auto& p = pending_[conn];
    for (auto it = p.begin(); it != p.end();) {
      if (it->arrives <= now) {
        mailbox_[conn].push_back(*it);
        it = p.erase(it);
      } else {
        ++it;
      }
    }
  }

  void serve(std::uint32_t h, const response& r, bool other_requesters_response) {
    if (r.length == 0) return;  // nothing to show yet
    ++report_.served;
    bool glitch = false;
    std::vector<std::size_t> positions;
    const std::uint64_t foreign =
        check_still(r.bytes.data(), r.length, homes_[h].payload_id, glitch, &positions);
    if (glitch) ++report_.glitched;
    if (foreign == 0) return;
    ++report_.wrong_household;
    report_.foreign_chunks += foreign;
    std::array<bool, class_count> hit{};
    if (other_requesters_response) {
      hit[f5] = true;  // a response meant for another requester, whatever its chunks are
    } else {
      for (std::size_t k : positions) hit[r.cause[k]] = true;
    }
    for (std::size_t c = 0; c < class_count; ++c) report_.by_class[c] += hit[c] ? 1U : 0U;
  }

  const std::vector<household>& homes_;
  relay relay_;
  std::vector<slot> slots_;
  ns::rng rng_;
  std::size_t next_conn_ = 0;
  std::array<std::size_t, relay_connections> uses_{};
  std::array<std::deque<response>, relay_connections> mailbox_;
  std::array<std::vector<response>, relay_connections> pending_;
  report report_;
};

// ============================ the streamiso path ============================

class streamiso_path {
 public:
  using jitter = si::jitter_buffer<chunk_ref>;
  using cache = si::session_cache<std::uint64_t, si::pool_handle, si::id128,
                                  std::hash<std::uint64_t>, si::value_bytes, si::manual_clock>;

  streamiso_path(const std::vector<household>& homes, std::size_t spare, std::uint64_t seed)
      : homes_(homes),
        relay_(homes.size(), spare),
        slots_(relay_.slots()),
        owned_(homes.size()),
        pool_(pool_config(relay_.slots())),
        cache_(cache_config(homes.size()), clock_),
        rng_(seed) {
    for (const household& h : homes_) display_.push_back(cache_.open_session(h.tag).value());
  }

  void on_assign(std::uint32_t h, ns::usec now) {
    advance(now);
    const std::uint32_t s_index = relay_.assign(h);
    slot& s = slots_[s_index];
    drain(s, now);  // what the previous owner completed by now still reaches its cache
    retire(s_index);
    // A new binding: the slot's jitter buffer rebound to (household, session) -- what it held
    // for the previous household is flushed, never delivered -- and a fresh cache session.
    s.owner = h;
    owned_[h].push_back(s_index);
    if (s.jb) {
      (void)s.jb->rebind(homes_[h].tag);  // every door the relay holds into it goes stale
    } else {
      s.jb.emplace(homes_[h].tag, jitter_config_);
    }
    s.out.reset();
    if (auto out = s.jb->bind_consumer(si::as_requester(homes_[h].tag))) s.out.emplace(*out);
    s.camera = cache_.open_session(homes_[h].tag).value();
  }

  void on_arrival(const event& e) {
    advance(e.at);
    const connection c = relay_.route(e.household, e.packet.packet);
    slot& s = slots_[c.slot];
    if (!s.jb) return;
    drain(s, e.at);  // what was due before this packet leaves first
    // The relay pushes through the door its (stale) connection table holds for this
    // connection; the buffer checks it.
    auto door = door_of(c, s);
    if (!door) return;  // the slot belongs to another household now: refused, counted
    si::jitter_packet<chunk_ref> p;
    p.seq = e.packet.packet.seq;
    p.timestamp = e.packet.packet.timestamp;
    p.arrival_us = e.at;
    p.size_bytes = e.packet.packet.size_bytes;
    p.flags = (e.packet.packet.marker ? si::packet_flags::marker : si::packet_flags::none) |
              (e.packet.packet.keyframe ? si::packet_flags::keyframe : si::packet_flags::none);
    p.payload = e.ref;        // a plain value: a dropped one needs no hand-back
    (void)door->try_push(p);  // a refusal is counted by the buffer; nothing else to do here
  }

  void on_request(std::uint32_t h, ns::usec now) {
    advance(now);
    for (const std::uint32_t s_index : owned_[h]) drain(slots_[s_index], now);
    ++report_.requests;
    const std::size_t conn = next_conn_++ % relay_connections;
    deliver_due(now);
    // Each request gets its own session: its response can only land in that session.
    auto req = cache_.open_session(homes_[h].tag);
    if (!req) return;
    const std::uint32_t s_index = relay_.slot_of(h);
    si::pool_handle still{};
    bool have = false;
    if (s_index != relay::none) {
      auto got = cache_.get(display_[h], s_index, si::cache_scope::owner);
      if (got) {
        still = **got;
        have = true;
      }
    }
    const ns::usec latency = response_latency(homes_[h], rng_);
    const std::uint64_t key = response_key + conn;
    if (latency > response_timeout_us) {
      ++report_.timeouts;
      (void)cache_.close_session(*req);  // the client gives up: its session ends
      if (have) late_.push(late_response{*req, key, still, now + latency});
      return;
    }
    if (!have) {
      (void)cache_.close_session(*req);
      return;
    }
    // In time: the response lands in the request's session and is read back from there.
    if (cache_.put(*req, key, still)) {
      auto answer = cache_.get(*req, key);
      if (answer) serve(h, **answer);
    }
    (void)cache_.close_session(*req);
  }

  void finish(ns::usec now) {
    advance(now);
    for (slot& s : slots_) drain(s, now);
    deliver_due(now + 10 * response_timeout_us);
  }

  [[nodiscard]] const report& result() const { return report_; }

  // All refusals by reason, over every component.
  [[nodiscard]] std::array<std::uint64_t, si::refusal_count> refusals() const {
    std::array<std::uint64_t, si::refusal_count> out{};
    for (const slot& s : slots_) {
      if (s.jb) add(out, s.jb->counters().snapshot());
    }
    add(out, pool_.counters().snapshot());
    add(out, cache_.counters().snapshot());
    return out;
  }

  [[nodiscard]] std::uint64_t frames_published() const { return frames_published_; }
  [[nodiscard]] std::uint64_t gaps() const { return gaps_; }

 private:
  static constexpr std::uint64_t response_key = 1'000'000;

  struct slot {
    std::uint32_t owner = relay::none;
    std::optional<jitter> jb;
    std::optional<jitter::consumer> out;
    std::optional<cache::session> camera;
    std::optional<si::buffer_pool<>::writable_buffer> building;
    si::pool_handle current{};
    bool has_current = false;
  };

  struct late_response {
    cache::session session;
    std::uint64_t key;
    si::pool_handle still;
    ns::usec arrives;
  };
  struct arrives_later {
    bool operator()(const late_response& a, const late_response& b) const noexcept {
      return a.arrives > b.arrives;
    }
  };

  static si::jitter_config frame_mode() {
    si::jitter_config c;
    c.mode = si::jitter_mode::frame;  // stills are whole frames, never partial ones
    // 256 packets are five seconds of a 10 fps camera: ample, and a quarter of the default
    // footprint, which matters with thousands of slots.
    c.capacity = 256;
    c.max_misorder = 128;
    return c;
  }

  static si::session_cache_config cache_config(std::size_t households) {
    si::session_cache_config c;
    c.max_entries = households * 8 + 64;
    c.max_sessions = households * 4 + 64;
    c.max_owners = households + 8;
    return c;
  }

  static void add(std::array<std::uint64_t, si::refusal_count>& a,
                  const std::array<std::uint64_t, si::refusal_count>& b) {
    for (std::size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  }

  // The producer the relay keeps for a connection into a slot, bound the first time the
  // connection's packets reach that slot: when the slot has been rebound since, it is stale.
  jitter::producer* door_of(const connection& c, slot& s) {
    const auto key = std::make_pair(key_of(c), static_cast<std::uint32_t>(&s - slots_.data()));
    const auto it = doors_.find(key);
    if (it != doors_.end()) return &it->second;
    auto in = s.jb->bind_producer(homes_[c.household].tag);
    if (!in) return nullptr;
    return &doors_.emplace(key, *in).first->second;
  }
  static std::uint64_t key_of(const connection& c) {
    return (std::uint64_t{c.household} << 32) | c.epoch;
  }

  // The camera's session ends with its binding: every still it wrote is unreadable at once.
  void retire(std::uint32_t s_index) {
    slot& s = slots_[s_index];
    if (s.owner != relay::none) {
      auto& mine = owned_[s.owner];
      mine.erase(std::find(mine.begin(), mine.end(), s_index));
    }
    // The jitter buffer stays: on_assign rebinds it (its refusal counts stay cumulative).
    s.building.reset();
    if (s.camera) (void)cache_.close_session(*s.camera);
    s.camera.reset();
    if (s.has_current) give_back(homes_[s.owner].tag, s.current);
    s.has_current = false;
    s.owner = relay::none;
  }

  // Moves the cache's clock to `now`. Slots are drained where it matters -- before a packet
  // goes into a slot, before a household's request reads its stills, before a slot is
  // reassigned -- and all of them every sweep_us of simulated time, so a still reaches the
  // cache at most sweep_us after it became due (its TTL counts from there). Draining every
  // slot on every event made a run quadratic in the number of households.
  void advance(ns::usec now) {
    while (next_sweep_us_ <= now) {
      set_clock(next_sweep_us_);
      for (slot& s : slots_) drain(s, next_sweep_us_);
      next_sweep_us_ += sweep_us;
    }
    set_clock(now);
  }

  void set_clock(ns::usec now) {
    if (now > clock_now_) {
      clock_.advance(std::chrono::microseconds(now - clock_now_));
      clock_now_ = now;
    }
  }

  // Complete frames leave the jitter buffer into a pool buffer, then into the cache.
  void drain(slot& s, ns::usec now) {
    if (!s.out) return;
    while (auto d = s.out->try_pop(now)) {
      if (d->is_gap()) {
        ++gaps_;
        continue;
      }
      if (d->frame_first) {
        auto writer = pool_.bind_producer(homes_[s.owner].tag);
        auto buf = writer ? writer->try_acquire() : si::refused{writer.reason()};
        if (buf) s.building.emplace(std::move(*buf));
      }
      if (!s.building) continue;
      std::array<std::uint8_t, chunk_bytes> bytes{};
      write_chunk(bytes.data(), d->payload);
      if (d->payload.chunk * chunk_bytes != s.building->size() ||
          !s.building->append(bytes.data(), bytes.size())) {
        s.building.reset();  // not the chunk expected next: drop the frame, never patch it
        continue;
      }
      if (d->frame_last) publish(s);
    }
  }

  void publish(slot& s) {
    auto handle = s.building->publish();
    s.building.reset();
    if (!handle) return;
    const si::owner& who = homes_[s.owner].tag;
    cache::put_options opts;
    opts.scope = si::cache_scope::owner;  // every device of the household may read the still
    opts.ttl = std::chrono::seconds(3);   // a stale still is a leak of the past
    const std::uint64_t key = relay_.slot_of(s.owner);
    if (!cache_.put(*s.camera, key, *handle, opts)) {
      give_back(who, *handle);
      return;
    }
    ++frames_published_;
    if (s.has_current) give_back(who, s.current);
    s.current = *handle;
    s.has_current = true;
  }

  // Responses that come back after their request gave up: the put names the request's
  // session, which is closed, so the cache refuses it (F5).
  void deliver_due(ns::usec now) {
    while (!late_.empty() && late_.top().arrives <= now) {
      (void)cache_.put(late_.top().session, late_.top().key, late_.top().still);
      late_.pop();
    }
  }

  // The owner gives a buffer back; refusals are counted by the pool.
  void give_back(const si::owner& who, const si::pool_handle& h) {
    if (auto w = pool_.bind_producer(who)) (void)w->release(h);
  }
  static si::buffer_pool_config pool_config(std::size_t slots) {
    si::buffer_pool_config c;
    c.buffer_count = slots * 2 + 16;
    c.buffer_size = still_bytes;
    return c;
  }

  void serve(std::uint32_t h, const si::pool_handle& still) {
    auto reader = pool_.bind_consumer(si::as_requester(homes_[h].tag));
    if (!reader) return;
    auto view = reader->try_read(still);
    if (!view) return;  // refused (stale handle, foreign owner): counted by the pool
    ++report_.served;
    bool glitch = false;
    const std::uint64_t foreign =
        check_still(view->data(), view->size(), homes_[h].payload_id, glitch, nullptr);
    if (glitch) ++report_.glitched;
    if (foreign != 0) {
      ++report_.wrong_household;
      report_.foreign_chunks += foreign;
    }
  }

  const std::vector<household>& homes_;
  relay relay_;
  std::vector<slot> slots_;
  std::vector<std::vector<std::uint32_t>> owned_;  // by household: slots bound to it
  si::buffer_pool<> pool_;
  si::manual_clock clock_;
  ns::usec clock_now_ = 0;
  cache cache_;
  std::vector<cache::session> display_;
  si::jitter_config jitter_config_ = frame_mode();
  std::map<std::pair<std::uint64_t, std::uint32_t>, jitter::producer> doors_;
  std::priority_queue<late_response, std::vector<late_response>, arrives_later> late_;
  static constexpr ns::usec sweep_us = 20'000;
  ns::usec next_sweep_us_ = 0;
  ns::rng rng_;
  std::size_t next_conn_ = 0;
  std::uint64_t frames_published_ = 0;
  std::uint64_t gaps_ = 0;
  report report_;
};

void print_row(const char* label, std::uint64_t naive, const std::string& streamiso) {
  std::printf("  %-44s %12llu   %12s\n", label, static_cast<unsigned long long>(naive),
              streamiso.c_str());
}

std::string num(std::uint64_t v) { return std::to_string(v); }

int run(const options& o) {
  std::vector<household> homes;
  const std::vector<event> events = build_scenario(o, homes);
  const auto spare = static_cast<std::size_t>(o.spare_slots);
  const auto seed = static_cast<std::uint64_t>(o.seed);
  naive_path naive(homes, spare, seed);
  streamiso_path safe(homes, spare, seed);
  ns::usec last = 0;
  for (const event& e : events) {
    switch (e.kind) {
      case event_kind::assign:
        naive.on_assign(e.household);
        safe.on_assign(e.household, e.at);
        break;
      case event_kind::arrival:
        naive.on_arrival(e);
        safe.on_arrival(e);
        break;
      case event_kind::request:
        naive.on_request(e.household, e.at);
        safe.on_request(e.household, e.at);
        break;
    }
    last = e.at;
  }
  safe.finish(last);

  const report& n = naive.result();
  const report& s = safe.result();
  const auto poor = static_cast<std::size_t>(
      std::count_if(homes.begin(), homes.end(), [](const household& h) { return h.poor; }));
  std::printf(
      "incident_replay: %zu households (%zu on extremely poor networks), %.0f simulated s, seed "
      "%llu\n",
      homes.size(), poor, o.seconds, static_cast<unsigned long long>(seed));
  std::printf(
      "  relay: %zu slots recycled first-in first-out, %zu pooled response connections, %zu "
      "events\n\n",
      homes.size() + spare, relay_connections, events.size());
  std::printf("  %-44s %12s   %12s\n", "", "naive cache", "streamiso");
  print_row("still requests", n.requests, num(s.requests));
  print_row("stills served", n.served, num(s.served));
  print_row("stills served to the WRONG household", n.wrong_household, num(s.wrong_household));
  print_row("  foreign chunks in them (1000 bytes each)", n.foreign_chunks, num(s.foreign_chunks));
  print_row("stills with graphical glitches (blank chunks)", n.glitched, num(s.glitched));
  print_row("requests that timed out", n.timeouts, num(s.timeouts));
  std::printf("\n  failure classes the naive path hit (stills; one still may hit several):\n");
  for (std::size_t c = 0; c < class_count; ++c) print_row(class_names[c], n.by_class[c], "-");
  std::printf("\n  what streamiso refused instead (counted, never served):\n");
  const auto refusals = safe.refusals();
  for (std::size_t i = 0; i < refusals.size(); ++i) {
    const auto r = static_cast<si::refusal>(i);
    if (r == si::refusal::empty || refusals[i] == 0) continue;
    const std::string label = std::string(si::to_string(r));
    std::printf("  %-44s %12s   %12llu\n", label.c_str(), "-",
                static_cast<unsigned long long>(refusals[i]));
  }
  std::printf("  %-44s %12s   %12llu\n", "(frames published through the pool)", "-",
              static_cast<unsigned long long>(safe.frames_published()));

  if (s.wrong_household != 0 || s.foreign_chunks != 0) {
    std::printf("\nFAIL: streamiso served %llu foreign stills\n",
                static_cast<unsigned long long>(s.wrong_household));
    return exit_crossed;
  }
  if (n.wrong_household == 0 || s.served == 0) {
    std::printf("\nproves nothing: %s\n", n.wrong_household == 0
                                              ? "the naive path did not leak on this night"
                                              : "streamiso served no stills at all");
    return exit_proves_nothing;
  }
  std::printf("\ncross-owner stills: naive %llu, streamiso 0\n",
              static_cast<unsigned long long>(n.wrong_household));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  example::cli cli(
      "incident_replay",
      "Replays the 2019 still-cache incident through a naive cache and through streamiso.",
      exit_codes_help);
  cli.add("households", "households, one camera and one smart display each", &o.households, 2, 4096,
          true);
  cli.add("seconds", "simulated seconds (--households x --seconds at most 20480)", &o.seconds, 1,
          3600, false);
  cli.add("poor", "percent of households on extremely poor networks", &o.poor_percent, 0, 100,
          false);
  cli.add("reconnect-every", "mean seconds between a camera's reconnects", &o.reconnect_every_s,
          0.5, 3600, false);
  cli.add("spare-slots", "relay slots beyond one per household", &o.spare_slots, 1, 1024, true);
  cli.add("seed", "seed of the simulated night", &o.seed, 0, 1e15, true);
  if (const auto code = cli.exit_code(argc, argv)) return *code;
  if (o.households * o.seconds > max_household_seconds) {
    char why[128];
    std::snprintf(why, sizeof why,
                  "--households x --seconds is %.15g, above %.15g (the night is built in memory)",
                  o.households * o.seconds, max_household_seconds);
    return cli.refuse(why);
  }
  if (cli.dry_run()) {
    cli.print_values(stdout);
    return 0;
  }
  try {
    return run(o);
  } catch (const std::exception& e) {
    return cli.refuse(std::string("cannot run this configuration: ") + e.what());
  }
}
