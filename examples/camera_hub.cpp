// camera_hub: a multi-tenant camera relay under a degraded network, end to end.
//
//   cameras --(simulated poor network)--> per-stream jitter buffers (frame mode)
//           --> tagged buffer pool --> per-camera broadcast rings --> viewers
//                                  \-> session-bound still cache ---> smart displays
//
// Every payload byte encodes its true owner (the camera) and frame; every viewer checks every
// byte it is served. Reconnect storms move cameras onto recycled rings (rebinding them) and
// reopen cache sessions mid-run; viewers also probe other households' rings and stills, which
// must be refused. The hub exits non-zero if a single delivery crossed owners, a frame was
// torn, or the counts do not add up.
#include <streamiso/broadcast_ring.hpp>
#include <streamiso/buffer_pool.hpp>
#include <streamiso/jitter_buffer.hpp>
#include <streamiso/session_cache.hpp>
#include <streamiso/testing/netsim.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/cli.hpp"
#include "common/payload.hpp"

namespace {

namespace si = streamiso;
namespace ns = streamiso::netsim;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t chunk_bytes = 1200;  // payload bytes per packet
constexpr std::uint32_t min_chunks = 2;    // packets per frame: 2.4 KB .. 9.6 KB frames
constexpr std::uint32_t max_chunks = 8;
constexpr std::size_t max_frame_bytes = chunk_bytes * max_chunks;
constexpr std::size_t ring_capacity = 16;  // about half a second at 30 fps
constexpr std::size_t thumbnail_bytes = 256;
constexpr double fps = 30.0;
constexpr double max_cameras = 1024;
constexpr ns::usec trace_window_us = 10'000'000;  // traces longer than this loop (memory bound)
constexpr std::uint32_t none = 0xFFFFFFFFU;

// Exit codes (also in --help): 0 isolation held and frames were delivered; 2 a bad command
// line (example::exit_usage).
constexpr int exit_crossed = 1;            // a delivery crossed owners, was torn, or counts broke
constexpr int exit_nothing_delivered = 3;  // isolation held, but no frame reached a viewer
constexpr std::string_view exit_codes_help =
    "exit codes:\n"
    "  0  every delivery was its owner's, the counts add up, and frames were delivered\n"
    "  1  a delivery crossed owners or was torn, or the counts do not add up (a bug)\n"
    "  2  a bad option (one line on stderr says which)\n"
    "  3  isolation held but no frame reached a viewer (e.g. 50% loss with 1 s jitter)";

struct options {
  double cameras = 64;
  double viewers = 3;
  double households = 32;
  double seconds = 10;
  double loss = 2;
  double jitter_ms = 15;
  double reconnects = 2;
  double seed = 1;
  double threads = 3;
};

// ---- tags: a camera stream belongs to (household, camera) ----
si::owner camera_tag(std::uint32_t household, std::uint32_t camera) {
  return si::owner{household + 1ULL, camera + 1ULL};
}
si::owner tenant_tag(std::uint32_t household) { return si::owner{household + 1ULL, 0}; }
std::uint64_t payload_id(std::uint32_t household, std::uint32_t camera) {
  return (std::uint64_t{household + 1} << 32) | (camera + 1ULL);
}

// What a packet carries: which slice of which frame of which camera. The bytes themselves
// are regenerated from these fields (the example's stand-in for copying the packet).
struct chunk_ref {
  std::uint64_t owner = 0;
  std::uint64_t frame = 0;
  std::uint32_t chunk = 0;
  std::uint32_t chunks = 0;
};

struct ring_frame {
  si::pool_handle handle;
  std::uint64_t pub_seq = 0;  // per camera, across rings: lets viewers check their counts
};

using pool_type = si::buffer_pool<>;
using ring_type = si::broadcast_ring<ring_frame>;
using jitter_type = si::jitter_buffer<chunk_ref>;
using thumbnail = std::vector<std::uint8_t>;
using cache_type = si::concurrent_session_cache<std::uint32_t, thumbnail>;

// ---- shared, thread-safe counters for the progress line and the summary ----
struct totals {
  std::atomic<std::uint64_t> packets{0};
  std::atomic<std::uint64_t> frames_published{0};
  std::atomic<std::uint64_t> bytes_published{0};
  std::atomic<std::uint64_t> frames_delivered{0};
  std::atomic<std::uint64_t> bytes_delivered{0};
  std::atomic<std::uint64_t> stills_latest{0};
  std::atomic<std::uint64_t> stills_cache{0};
  std::atomic<std::uint64_t> cross_owner{0};
  std::atomic<std::uint64_t> torn{0};
  std::atomic<std::uint64_t> conservation_errors{0};
  std::atomic<std::uint64_t> reported_overrun{0};
  std::atomic<std::uint64_t> reported_stale{0};
  std::atomic<std::uint64_t> reported_recycled{0};
  std::atomic<std::uint64_t> probes{0};
  std::atomic<std::uint64_t> probes_refused{0};
  std::atomic<std::uint64_t> rebinds{0};
  std::atomic<std::uint64_t> session_reopens{0};
  std::atomic<std::uint64_t> storms_seen{0};

  void add(std::atomic<std::uint64_t>& c, std::uint64_t v = 1) {
    c.fetch_add(v, std::memory_order_relaxed);  // relaxed: statistics, read after join()
  }
  static std::uint64_t get(const std::atomic<std::uint64_t>& c) {
    return c.load(std::memory_order_relaxed);  // relaxed: statistics
  }
};

// One recycled ring and the pool handles its frames hold.
struct ring_slot {
  explicit ring_slot(const si::owner& unassigned) : ring(ring_capacity, unassigned) {}
  ring_type ring;
  si::owner bound{};
  std::optional<pool_type::producer> bound_writer;  // gives the bound owner's buffers back
  std::array<si::pool_handle, ring_capacity> live{};
  std::array<bool, ring_capacity> occupied{};
  std::size_t next = 0;
};

// The hub's shared state: rings, the directory camera -> ring, the pool and the still cache.
class hub {
 public:
  hub(std::size_t cameras, std::size_t households)
      : pool_(pool_config(cameras)),
        cache_(cache_config(cameras, households)),
        directory_(new std::atomic<std::uint32_t>[cameras]) {
    for (std::size_t i = 0; i < cameras_plus_spare(cameras); ++i) {
      rings_.push_back(std::make_unique<ring_slot>(si::owner{0, 0}));
      free_rings_.push_back(static_cast<std::uint32_t>(i));
    }
    for (std::size_t c = 0; c < cameras; ++c)
      directory_[c].store(none, std::memory_order_relaxed);  // relaxed: before threads start
  }

  // A camera (re)connects: it leaves its ring (releasing what the ring held) and takes the
  // ring at the front of the free queue, which another camera used last; rebinding it makes
  // everything of the previous owner unreadable at once.
  std::uint32_t move_camera(std::uint32_t camera, const si::owner& tag, std::uint32_t old_ring) {
    directory_[camera].store(none, std::memory_order_release);  // release: viewers re-look-up
    std::lock_guard<std::mutex> lock(rings_mutex_);  // also hands the ring's writer role over
    if (old_ring != none) {
      release_all(*rings_[old_ring]);
      free_rings_.push_back(old_ring);
    }
    const std::uint32_t r = free_rings_.front();
    free_rings_.pop_front();
    ring_slot& slot = *rings_[r];
    slot.ring.rebind(tag);
    slot.bound = tag;
    slot.bound_writer.reset();
    if (auto w = pool_.bind_producer(tag)) slot.bound_writer.emplace(*w);
    // release: pairs with the viewers' acquire load; the rebind happened before.
    directory_[camera].store(r, std::memory_order_release);
    return r;
  }

  // Publishes a frame on the camera's ring; the handle it displaces goes back to the pool.
  void publish(std::uint32_t r, const si::owner& tag, const ring_frame& f, bool keyframe) {
    ring_slot& slot = *rings_[r];
    auto producer = slot.ring.bind_producer(tag);
    if (!producer ||
        !producer->try_push(f, keyframe ? si::frame_kind::keyframe : si::frame_kind::delta)) {
      if (auto w = pool_.bind_producer(tag)) (void)w->release(f.handle);  // refused: give it back
      return;
    }
    const std::size_t i = slot.next++ % ring_capacity;
    if (slot.occupied[i] && slot.bound_writer) (void)slot.bound_writer->release(slot.live[i]);
    slot.live[i] = f.handle;
    slot.occupied[i] = true;
  }

  [[nodiscard]] std::uint32_t ring_of(std::uint32_t camera) const {
    return directory_[camera].load(std::memory_order_acquire);  // acquire: see move_camera
  }
  [[nodiscard]] ring_type& ring(std::uint32_t r) { return rings_[r]->ring; }
  [[nodiscard]] std::size_t ring_count() const { return rings_.size(); }
  [[nodiscard]] pool_type& pool() { return pool_; }
  [[nodiscard]] cache_type& cache() { return cache_; }

  void release_everything() {
    std::lock_guard<std::mutex> lock(rings_mutex_);
    for (auto& r : rings_) release_all(*r);
  }

 private:
  static std::size_t cameras_plus_spare(std::size_t cameras) { return cameras + cameras / 8 + 2; }

  static si::buffer_pool_config pool_config(std::size_t cameras) {
    si::buffer_pool_config c;
    c.buffer_count = cameras_plus_spare(cameras) * (ring_capacity + 2) + 64;
    c.buffer_size = max_frame_bytes;
    return c;
  }
  static si::session_cache_config cache_config(std::size_t cameras, std::size_t households) {
    si::session_cache_config c;
    c.max_entries = cameras * 4 + 64;
    c.max_sessions = cameras * 2 + households * 4 + 64;
    c.max_owners = households + 16;
    c.shards = 8;
    return c;
  }

  void release_all(ring_slot& slot) {
    for (std::size_t i = 0; i < ring_capacity; ++i) {
      if (slot.occupied[i] && slot.bound_writer) (void)slot.bound_writer->release(slot.live[i]);
      slot.occupied[i] = false;
    }
  }

  pool_type pool_;
  cache_type cache_;
  std::unique_ptr<std::atomic<std::uint32_t>[]> directory_;
  std::vector<std::unique_ptr<ring_slot>> rings_;
  std::mutex rings_mutex_;
  std::deque<std::uint32_t> free_rings_;
};

// ---------------------------------- cameras ----------------------------------

struct camera {
  std::uint32_t id = 0;
  std::uint32_t household = 0;
  si::owner tag;
  std::uint64_t payload = 0;
  std::uint32_t chunks_per_frame = 1;
  std::vector<ns::arrival> trace;  // one window; replayed with an offset when the run is longer
  std::vector<chunk_ref> refs;     // by sent packet index
  std::uint32_t epochs_per_window = 1;
  std::size_t next = 0;
  std::uint64_t loop = 0;
  std::uint32_t epoch = 0;  // the session the jitter buffer is bound to
  std::optional<jitter_type> jb;
  std::optional<jitter_type::producer> in;        // this session's door
  std::optional<jitter_type::producer> stale_in;  // the previous session's: refused, counted
  std::optional<jitter_type::consumer> out;
  std::uint32_t ring = none;
  std::optional<pool_type::writable_buffer> building;
  std::array<std::uint8_t, thumbnail_bytes> thumb{};
  bool building_keyframe = false;
  std::uint64_t pub_seq = 0;
  std::optional<cache_type::session> session;
};

ns::profile camera_network(const options& o, std::uint64_t seed) {
  ns::profile p;
  p.name = "camera";
  p.base_delay_us = 30'000;
  p.jitter_us = static_cast<ns::usec>(o.jitter_ms * 1000.0);
  // Half the loss is independent, half comes in bursts (the chain is bad 0.66 % of the time).
  p.loss = o.loss / 100.0 * 0.5;
  const double bad_fraction = 0.002 / (0.002 + 0.3);
  p.burst =
      ns::gilbert_elliott{0.002, 0.3, 0.0, std::min(1.0, o.loss / 100.0 * 0.5 / bad_fraction)};
  p.reorder_probability = 0.01;
  p.reorder_delay_us = 20'000;
  p.duplicate_probability = 0.005;
  p.duplicate_delay_us = 10'000;
  p.spike_probability = 0.002;
  p.spike_scale_us = 30'000;
  p.spike_alpha = 1.5;
  p.spike_cap_us = 400'000;
  // Reconnect storms, spread evenly over the trace window: every camera drops within 300 ms
  // of the storm for 50-250 ms and comes back. When storms are closer together than that, the
  // jitter and the outage shrink to a quarter and a half of the spacing, so outages never
  // overlap (the simulator refuses overlapping script events).
  ns::rng r(seed);
  const double window_us = std::min(o.seconds * 1e6, static_cast<double>(trace_window_us));
  const double spacing_us = window_us / (o.reconnects + 1.0);
  for (int k = 1; k <= static_cast<int>(o.reconnects); ++k) {
    const double start_us = spacing_us * k + r.uniform() * std::min(300'000.0, spacing_us / 4);
    const double down_us = std::min(50'000 + r.uniform() * 200'000, spacing_us / 2);
    p.script.push_back(
        ns::outage{static_cast<ns::usec>(start_us), static_cast<ns::usec>(down_us), true});
  }
  return p;
}

void build_camera(camera& c, const options& o) {
  const auto seed = static_cast<std::uint64_t>(o.seed) * 100'003 + c.id;
  ns::simulator sim(camera_network(o, seed), seed);
  ns::stream_spec spec;
  spec.packets_per_frame = c.chunks_per_frame;
  spec.packets_per_second = fps * c.chunks_per_frame;
  const double window_s = std::min(o.seconds, trace_window_us / 1e6);
  spec.packets = static_cast<std::uint64_t>(window_s * spec.packets_per_second);
  spec.keyframe_interval = 15;  // half a second: a loss costs at most that much video
  spec.size_bytes = static_cast<std::uint32_t>(chunk_bytes);
  spec.start_us = static_cast<ns::usec>(seed % 33'000);
  const std::vector<ns::sent_packet> sent = sim.make_stream(spec);
  c.refs.resize(sent.size());
  std::uint64_t frame = 0;
  std::uint32_t in_frame = 0;
  std::uint32_t epoch = sent.empty() ? 1 : sent.front().epoch;
  for (std::size_t i = 0; i < sent.size(); ++i) {
    if (sent[i].epoch != epoch) {  // a reconnect restarts the frame
      if (in_frame != 0) ++frame;
      in_frame = 0;
      epoch = sent[i].epoch;
    }
    c.refs[i] = chunk_ref{c.payload, frame, in_frame, c.chunks_per_frame};
    if (++in_frame == c.chunks_per_frame) {
      in_frame = 0;
      ++frame;
    }
  }
  c.epochs_per_window = sent.empty() ? 1 : sent.back().epoch - sent.front().epoch + 1;
  c.trace = sim.transmit(sent);
}

// Added delay (playout - arrival) histogram, 0.5 ms buckets up to 2 s.
struct delay_histogram {
  static constexpr std::size_t buckets = 4000;
  std::vector<std::uint64_t> count = std::vector<std::uint64_t>(buckets + 1, 0);
  std::uint64_t total = 0;
  void add(ns::usec d) {
    const auto b = static_cast<std::size_t>(std::clamp<ns::usec>(d / 500, 0, buckets));
    ++count[b];
    ++total;
  }
  void merge(const delay_histogram& o) {
    for (std::size_t i = 0; i <= buckets; ++i) count[i] += o.count[i];
    total += o.total;
  }
  [[nodiscard]] double percentile_ms(double p) const {
    if (total == 0) return 0.0;
    const auto want = static_cast<std::uint64_t>(p * static_cast<double>(total - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i <= buckets; ++i) {
      seen += count[i];
      if (seen >= want) return static_cast<double>(i) * 0.5 + 0.25;
    }
    return static_cast<double>(buckets) * 0.5;
  }
};

class ingest_worker {
 public:
  ingest_worker(hub& h, totals& t, std::vector<camera*> cams)
      : hub_(h), totals_(t), cams_(std::move(cams)) {}

  // Epoch 0 is "not connected yet": the camera's first packet connects it like a reconnect.
  void start() {
    for (camera* c : cams_) {
      si::jitter_config cfg;
      cfg.mode = si::jitter_mode::frame;
      cfg.capacity = 512;
      cfg.max_misorder = 256;  // must stay below the capacity
      cfg.initial_delay_us = 40'000;
      cfg.max_delay_us = 500'000;
      c->jb.emplace(c->tag, cfg);
      c->epoch = 0;
    }
  }

  // One pass: everything that has arrived by `now` goes in; everything due comes out.
  void step(ns::usec now) {
    for (camera* c : cams_) {
      feed(*c, now);
      drain(*c, now);
    }
  }

  void finish() {
    for (camera* c : cams_) {
      if (c->session) (void)hub_.cache().close_session(*c->session);
      c->building.reset();
    }
  }

  [[nodiscard]] const delay_histogram& delays() const { return delays_; }

 private:
  void feed(camera& c, ns::usec now) {
    while (!c.trace.empty()) {
      const ns::arrival& a = c.trace[c.next];
      const ns::usec offset = static_cast<ns::usec>(c.loop) * trace_window_us;
      if (a.arrival_us + offset > now) return;
      const std::uint32_t epoch =
          a.packet.epoch + static_cast<std::uint32_t>(c.loop) * c.epochs_per_window;
      if (epoch > c.epoch) reconnect(c, epoch);
      si::jitter_packet<chunk_ref> p;
      p.seq = a.packet.seq;
      p.timestamp = a.packet.timestamp;
      p.arrival_us = a.arrival_us + offset;
      p.size_bytes = a.packet.size_bytes;
      p.flags = (a.packet.marker ? si::packet_flags::marker : si::packet_flags::none) |
                (a.packet.keyframe ? si::packet_flags::keyframe : si::packet_flags::none);
      p.payload = c.refs[a.packet.index];
      // Stragglers of an old session (through its stale door), duplicates, late: refused,
      // counted. chunk_ref is a plain value, so dropped payloads need no hand-back.
      auto& door = epoch == c.epoch ? c.in : c.stale_in;
      if (door) (void)door->try_push(p);
      totals_.add(totals_.packets);
      if (++c.next == c.trace.size()) {
        c.next = 0;
        ++c.loop;
      }
    }
  }

  // A new session of the camera: flush the old epoch (reported), move to a recycled ring,
  // and replace the camera's cache session.
  void reconnect(camera& c, std::uint32_t epoch) {
    (void)c.jb->reset();  // the flush report also lands in the buffer's stats
    c.stale_in = c.in;
    c.in.reset();
    c.out.reset();
    if (auto in = c.jb->bind_producer(c.tag)) c.in.emplace(*in);
    if (auto out = c.jb->bind_consumer(si::as_requester(c.tag))) c.out.emplace(*out);
    c.epoch = epoch;
    c.building.reset();
    c.ring = hub_.move_camera(c.id, c.tag, c.ring);
    if (c.session) (void)hub_.cache().close_session(*c.session);
    auto s = hub_.cache().open_session(tenant_tag(c.household));
    c.session.reset();
    if (s) c.session.emplace(*s);
    totals_.add(totals_.rebinds);
  }

  void drain(camera& c, ns::usec now) {
    if (c.ring == none || !c.out) return;
    // After a loss, dependent frames are held back; the sender would be asked for a keyframe
    // (the simulated sender follows its own script, so the buffer's count is all that happens).
    (void)c.out->take_keyframe_request(now);
    while (auto d = c.out->try_pop(now)) {
      if (d->is_gap()) continue;  // reported in the buffer's stats
      delays_.add(d->playout_us - d->arrival_us);
      if (d->frame_first) begin_frame(c, si::has(d->flags, si::packet_flags::keyframe));
      if (!c.building) continue;
      append_chunk(c, d->payload);
      if (d->frame_last && c.building) end_frame(c);
    }
  }

  void begin_frame(camera& c, bool keyframe) {
    c.building.reset();
    c.building_keyframe = keyframe;
    auto writer = hub_.pool().bind_producer(c.tag);
    if (!writer) return;
    auto b = writer->try_acquire();  // refused when full: counted by the pool
    if (b) c.building.emplace(std::move(*b));
  }

  void append_chunk(camera& c, const chunk_ref& ref) {
    std::array<std::uint8_t, chunk_bytes> bytes{};
    const std::size_t length = std::size_t{ref.chunks} * chunk_bytes;
    const std::size_t offset = std::size_t{ref.chunk} * chunk_bytes;
    // Only the next slice of the frame may follow; anything else drops the frame.
    if (offset != c.building->size() || ref.chunks == 0 || ref.chunks > max_chunks) {
      c.building.reset();
      return;
    }
    example::fill_payload_range(bytes.data(), offset, chunk_bytes, length, ref.owner, ref.frame);
    if (offset == 0) std::copy(bytes.begin(), bytes.begin() + thumbnail_bytes, c.thumb.begin());
    if (!c.building->append(bytes.data(), bytes.size())) c.building.reset();
  }

  void end_frame(camera& c) {
    auto handle = c.building->publish();
    c.building.reset();
    if (!handle) return;
    const ring_frame f{*handle, ++c.pub_seq};
    hub_.publish(c.ring, c.tag, f, c.building_keyframe);
    totals_.add(totals_.frames_published);
    totals_.add(totals_.bytes_published, handle->length);
    if (c.building_keyframe && c.session) {
      cache_type::put_options opts;
      opts.scope = si::cache_scope::owner;  // the household's displays share the still
      opts.ttl = std::chrono::seconds(2);   // an old still is a leak of the past
      (void)hub_.cache().put(*c.session, c.id, thumbnail(c.thumb.begin(), c.thumb.end()), opts);
    }
  }

  hub& hub_;
  totals& totals_;
  std::vector<camera*> cams_;
  delay_histogram delays_;
};

// ---------------------------------- viewers ----------------------------------

enum class viewer_kind : std::uint8_t { app, display, recorder };

struct viewer {
  std::uint32_t camera = 0;
  std::uint32_t household = 0;
  viewer_kind kind = viewer_kind::app;
  si::requester who;
  std::uint64_t payload = 0;
  std::uint32_t ring = none;
  std::optional<ring_type::consumer> sub;
  std::optional<pool_type::consumer> reader;  // the viewer's door into the pool, bound once
  bool have_last = false;
  std::uint64_t last_pub = 0;
  std::uint64_t reported = 0;  // frames reported lost since the last delivery
  std::optional<cache_type::session> session;
  std::uint64_t storms_seen = 0;
  clock_type::time_point next_still{};  // displays: next still; recorders: next visit
};

class viewer_worker {
 public:
  viewer_worker(hub& h, totals& t, std::vector<viewer*> vs, std::size_t cameras,
                std::size_t households, std::uint64_t seed)
      : hub_(h),
        totals_(t),
        viewers_(std::move(vs)),
        cameras_(cameras),
        households_(households),
        rng_(seed) {}

  void step(clock_type::time_point now) {
    for (viewer* v : viewers_) {
      if (v->kind == viewer_kind::display) {
        if (now >= v->next_still) {
          still(*v);
          probe(*v);
          v->next_still = now + std::chrono::milliseconds(100);
        }
      } else if (v->kind == viewer_kind::app) {
        stream(*v);
      } else if (now >= v->next_still) {
        // The recorder flushes to slow storage and comes back every 700 ms: longer than the
        // ring holds, so it is lapped, told how many frames it missed, and resyncs.
        stream(*v);
        v->next_still = now + std::chrono::milliseconds(700);
      }
    }
  }

  void finish() {
    for (viewer* v : viewers_) {
      if (v->session) (void)hub_.cache().close_session(*v->session);
      v->sub.reset();
    }
  }

 private:
  si::result<pool_type::pinned_view> read_frame(viewer& v, const si::pool_handle& h) {
    if (!v.reader) {
      auto c = hub_.pool().bind_consumer(v.who);
      if (!c) return si::refused{c.reason(), c.detail()};
      v.reader.emplace(*c);
    }
    return v.reader->try_read(h);
  }

  // App and recorder: every frame, in order, checked byte by byte; every skipped frame must
  // have been reported (overrun detail or a recycled buffer), so the counts add up.
  void stream(viewer& v) {
    const std::uint32_t r = hub_.ring_of(v.camera);
    if (r == none) return;
    if (!v.sub || v.ring != r) {
      v.sub.reset();
      const auto policy = v.kind == viewer_kind::app ? si::resync_policy::newest_keyframe
                                                     : si::resync_policy::newest;
      auto s = hub_.ring(r).bind_consumer(v.who, policy);
      if (!s) return;  // the camera moved on meanwhile: look it up again next time
      v.sub.emplace(std::move(*s));
      v.ring = r;
      v.have_last = false;
      v.reported = 0;
    }
    for (int i = 0; i < 64; ++i) {
      auto f = v.sub->try_pop();
      if (!f) {
        if (f.reason() == si::refusal::overrun) {
          v.reported += f.detail();
          totals_.add(totals_.reported_overrun, f.detail());
          continue;
        }
        if (f.reason() == si::refusal::stale_binding) {
          totals_.add(totals_.reported_stale, f.detail());
          v.sub.reset();
        }
        return;  // empty, stale (bind again next time), torn
      }
      // Every frame since the last one read was either skipped with a report or is this one.
      if (v.have_last && f->pub_seq != v.last_pub + 1 + v.reported)
        totals_.add(totals_.conservation_errors);
      v.have_last = true;
      v.last_pub = f->pub_seq;
      v.reported = 0;
      auto view = read_frame(v, f->handle);
      if (!view) {
        // The ring lapped the frame and its buffer went back to the pool: reported, not served.
        totals_.add(totals_.reported_recycled);
      } else {
        check(v, view->data(), view->size());
      }
    }
  }

  void check(viewer& v, const std::uint8_t* data, std::size_t size) {
    const auto c = example::check_payload(data, size, v.payload);
    if (c.verdict == example::payload_check::ok) {
      totals_.add(totals_.frames_delivered);
      totals_.add(totals_.bytes_delivered, size);
    } else if (c.verdict == example::payload_check::foreign) {
      totals_.add(totals_.cross_owner);
    } else {
      totals_.add(totals_.torn);
    }
  }

  // Smart display: the newest frame of its camera, and the household's cached still.
  void still(viewer& v) {
    const std::uint64_t storms = totals_.get(totals_.storms_seen);
    if (!v.session || storms != v.storms_seen) {  // the display reconnects with the storm
      if (v.session) (void)hub_.cache().close_session(*v.session);
      v.session.reset();
      auto s = hub_.cache().open_session(tenant_tag(v.household));
      if (s) v.session.emplace(*s);
      v.storms_seen = storms;
      totals_.add(totals_.session_reopens);
    }
    const std::uint32_t r = hub_.ring_of(v.camera);
    if (r != none) {
      auto latest = hub_.ring(r).read_latest(v.who);
      if (latest) {
        auto view = read_frame(v, latest->handle);
        if (view) {
          totals_.add(totals_.stills_latest);
          check_still(v, view->data(), view->size(), true);
        }
      }
    }
    if (v.session) {
      auto cached = hub_.cache().get(*v.session, v.camera, si::cache_scope::owner);
      if (cached) {
        totals_.add(totals_.stills_cache);
        check_still(v, (*cached)->data(), (*cached)->size(), false);
      }
    }
  }

  void check_still(viewer& v, const std::uint8_t* data, std::size_t size, bool whole) {
    const auto c = whole ? example::check_payload(data, size, v.payload)
                         : example::check_payload_prefix(data, size, v.payload);
    if (c.verdict == example::payload_check::foreign) totals_.add(totals_.cross_owner);
    if (c.verdict == example::payload_check::corrupt) totals_.add(totals_.torn);
  }

  // A misconfigured display asks for another household's camera: ring consumer, latest
  // frame and cached still must all be refused.
  void probe(viewer& v) {
    if (households_ < 2) return;
    const auto other = static_cast<std::uint32_t>(rng_.next() % cameras_);
    if (other % households_ == v.household) return;
    totals_.add(totals_.probes);
    bool served = false;
    const std::uint32_t r = hub_.ring_of(other);
    if (r != none) {
      if (hub_.ring(r).bind_consumer(v.who)) served = true;
      if (hub_.ring(r).read_latest(v.who)) served = true;
    }
    if (v.session && hub_.cache().get(*v.session, other, si::cache_scope::owner)) served = true;
    if (served) {
      totals_.add(totals_.cross_owner);
    } else {
      totals_.add(totals_.probes_refused);
    }
  }

  hub& hub_;
  totals& totals_;
  std::vector<viewer*> viewers_;
  std::size_t cameras_;
  std::size_t households_;
  ns::rng rng_;
};

// ---------------------------------- main ----------------------------------

void add(std::array<std::uint64_t, si::refusal_count>& a,
         const std::array<std::uint64_t, si::refusal_count>& b) {
  for (std::size_t i = 0; i < a.size(); ++i) a[i] += b[i];
}

double mb(std::uint64_t bytes) { return static_cast<double>(bytes) / 1e6; }

int run(const options& o) {
  const auto n_cameras = static_cast<std::uint32_t>(o.cameras);
  const auto n_households = static_cast<std::uint32_t>(o.households);
  const auto n_threads = static_cast<std::uint32_t>(o.threads);
  const std::uint32_t n_ingest = std::max<std::uint32_t>(1, n_threads / 3);
  const std::uint32_t n_viewer_threads = std::max<std::uint32_t>(1, n_threads - n_ingest);
  const auto seed = static_cast<std::uint64_t>(o.seed);

  // Cameras, their networks and traces (built before the clock starts).
  std::vector<camera> cams(n_cameras);
  ns::rng pick(seed * 31 + 7);
  for (std::uint32_t c = 0; c < n_cameras; ++c) {
    cams[c].id = c;
    cams[c].household = c % n_households;
    cams[c].tag = camera_tag(cams[c].household, c);
    cams[c].payload = payload_id(cams[c].household, c);
    cams[c].chunks_per_frame =
        min_chunks + static_cast<std::uint32_t>(pick.next() % (max_chunks - min_chunks + 1));
    build_camera(cams[c], o);
  }
  std::vector<viewer> viewers;
  for (std::uint32_t c = 0; c < n_cameras; ++c) {
    for (std::uint32_t k = 0; k < static_cast<std::uint32_t>(o.viewers); ++k) {
      viewer v;
      v.camera = c;
      v.household = cams[c].household;
      v.kind = static_cast<viewer_kind>(k % 3);
      v.who = si::as_requester(cams[c].tag);
      v.payload = cams[c].payload;
      viewers.push_back(std::move(v));
    }
  }

  hub h(n_cameras, n_households);
  totals t;
  std::vector<std::unique_ptr<ingest_worker>> ingest;
  for (std::uint32_t i = 0; i < n_ingest; ++i) {
    std::vector<camera*> mine;
    for (std::uint32_t c = i; c < n_cameras; c += n_ingest) mine.push_back(&cams[c]);
    ingest.push_back(std::make_unique<ingest_worker>(h, t, std::move(mine)));
    ingest.back()->start();
  }
  std::vector<std::unique_ptr<viewer_worker>> watchers;
  for (std::uint32_t i = 0; i < n_viewer_threads; ++i) {
    std::vector<viewer*> mine;
    for (std::size_t v = i; v < viewers.size(); v += n_viewer_threads) mine.push_back(&viewers[v]);
    watchers.push_back(
        std::make_unique<viewer_worker>(h, t, std::move(mine), n_cameras, n_households, seed + i));
  }

  const auto start = clock_type::now();
  const auto end = start + std::chrono::microseconds(static_cast<std::int64_t>(o.seconds * 1e6));
  std::atomic<bool> ingest_done{false};
  std::vector<std::thread> threads;
  for (auto& w : ingest) {
    threads.emplace_back([&, wp = w.get()] {
      for (;;) {
        const auto now = clock_type::now();
        if (now >= end) break;
        wp->step(std::chrono::duration_cast<std::chrono::microseconds>(now - start).count());
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      wp->finish();
    });
  }
  for (auto& w : watchers) {
    threads.emplace_back([&, wp = w.get()] {
      // release/acquire: the ingest threads' last frames are visible once the flag is seen.
      while (!ingest_done.load(std::memory_order_acquire)) {
        wp->step(clock_type::now());
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
      wp->step(clock_type::now());  // read what is left
      wp->finish();
    });
  }

  // Storm counter for the displays, and the live progress line.
  const bool tty = isatty(STDOUT_FILENO) != 0;
  std::uint64_t storms = 0;
  for (;;) {
    const auto now = clock_type::now();
    if (now >= end) break;
    const double elapsed = std::chrono::duration<double>(now - start).count();
    const double window = std::min(o.seconds, trace_window_us / 1e6);
    const double in_window = elapsed - window * std::floor(elapsed / window);
    const auto due =
        static_cast<std::uint64_t>(std::floor(elapsed / window)) *
            static_cast<std::uint64_t>(o.reconnects) +
        static_cast<std::uint64_t>(std::floor(in_window * (o.reconnects + 1.0) / window));
    if (due > storms) {
      storms = due;
      t.add(t.storms_seen);
    }
    if (tty) {
      std::printf(
          "\r[%5.1fs] packets %9llu  frames %8llu  delivered %9llu  stills %7llu  rebinds %5llu  "
          "cross-owner %llu ",
          elapsed, static_cast<unsigned long long>(totals::get(t.packets)),
          static_cast<unsigned long long>(totals::get(t.frames_published)),
          static_cast<unsigned long long>(totals::get(t.frames_delivered)),
          static_cast<unsigned long long>(totals::get(t.stills_latest) +
                                          totals::get(t.stills_cache)),
          static_cast<unsigned long long>(totals::get(t.rebinds)),
          static_cast<unsigned long long>(totals::get(t.cross_owner)));
      std::fflush(stdout);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(tty ? 250 : 50));
  }
  for (std::size_t i = 0; i < ingest.size(); ++i) threads[i].join();
  ingest_done.store(true, std::memory_order_release);  // release: pairs with the viewers' acquire
  for (std::size_t i = ingest.size(); i < threads.size(); ++i) threads[i].join();
  const double wall = std::chrono::duration<double>(clock_type::now() - start).count();
  if (tty) std::printf("\n");

  // ---- the books ----
  delay_histogram delays;
  for (auto& w : ingest) delays.merge(w->delays());
  si::jitter_stats js{};
  std::array<std::uint64_t, si::refusal_count> refusals{};
  bool jitter_adds_up = true;
  for (camera& c : cams) {
    const si::jitter_stats s = c.jb->stats();
    js.received += s.received;
    js.released += s.released;
    js.lost += s.lost;
    js.discarded += s.discarded;
    js.flushed += s.flushed;
    js.recovered += s.recovered;
    js.held += s.held;
    js.duplicates += s.duplicates;
    js.late += s.late;
    js.keyframe_requests += s.keyframe_requests;
    js.reordered += s.reordered;
    if (s.received != s.released + s.discarded + s.flushed + s.held) jitter_adds_up = false;
    add(refusals, c.jb->counters().snapshot());
  }
  for (std::uint32_t r = 0; r < h.ring_count(); ++r) add(refusals, h.ring(r).counters().snapshot());
  add(refusals, h.pool().counters().snapshot());
  add(refusals, h.cache().counters().snapshot());
  h.release_everything();

  const std::uint64_t cross = totals::get(t.cross_owner);
  const std::uint64_t torn = totals::get(t.torn);
  const std::uint64_t conservation = totals::get(t.conservation_errors);
  const std::uint64_t delivered = totals::get(t.frames_delivered);
  const std::uint64_t bytes = totals::get(t.bytes_delivered);

  std::printf(
      "camera_hub: %u cameras in %u households, %u viewers per camera, %.1f s, loss %.1f%%, jitter "
      "%.0f ms, "
      "%u reconnect storms, seed %llu, %u ingest + %u viewer threads\n",
      n_cameras, n_households, static_cast<unsigned>(o.viewers), wall, o.loss, o.jitter_ms,
      static_cast<unsigned>(o.reconnects), static_cast<unsigned long long>(seed), n_ingest,
      n_viewer_threads);
  std::printf("  %-34s %12llu   (%llu reordered, %llu duplicates, %llu late)\n", "packets received",
              static_cast<unsigned long long>(totals::get(t.packets)),
              static_cast<unsigned long long>(js.reordered),
              static_cast<unsigned long long>(js.duplicates),
              static_cast<unsigned long long>(js.late));
  std::printf("  %-34s %12llu   (%.1f MB)\n", "frames published",
              static_cast<unsigned long long>(totals::get(t.frames_published)),
              mb(totals::get(t.bytes_published)));
  std::printf("  %-34s %12llu   (%.1f MB, %.1f frames/s, %.1f MB/s, every byte checked)\n",
              "frames delivered to viewers", static_cast<unsigned long long>(delivered), mb(bytes),
              static_cast<double>(delivered) / wall, mb(bytes) / wall);
  std::printf(
      "  %-34s %12llu   (latest frame %llu, cached still %llu)\n", "stills served to displays",
      static_cast<unsigned long long>(totals::get(t.stills_latest) + totals::get(t.stills_cache)),
      static_cast<unsigned long long>(totals::get(t.stills_latest)),
      static_cast<unsigned long long>(totals::get(t.stills_cache)));
  std::printf("  %-34s   p50 %6.1f ms   p99 %6.1f ms   (jitter buffer, simulated network time)\n",
              "added delay", delays.percentile_ms(0.50), delays.percentile_ms(0.99));
  std::printf("  %-34s %12llu   (sequence numbers; %llu recovered, %llu flushed at reconnects)\n",
              "gaps reported", static_cast<unsigned long long>(js.lost),
              static_cast<unsigned long long>(js.recovered),
              static_cast<unsigned long long>(js.flushed));
  std::printf("  %-34s %12llu\n", "keyframe requests",
              static_cast<unsigned long long>(js.keyframe_requests));
  std::printf("  %-34s %12llu   (rebinds %llu, display session reopens %llu)\n", "reconnects",
              static_cast<unsigned long long>(totals::get(t.rebinds)),
              static_cast<unsigned long long>(totals::get(t.rebinds)),
              static_cast<unsigned long long>(totals::get(t.session_reopens)));
  std::printf("  %-34s   overrun %llu, stale after rebind %llu, buffer recycled %llu (frames)\n",
              "losses reported to viewers",
              static_cast<unsigned long long>(totals::get(t.reported_overrun)),
              static_cast<unsigned long long>(totals::get(t.reported_stale)),
              static_cast<unsigned long long>(totals::get(t.reported_recycled)));
  std::printf("  %-34s %12llu   (all refused: %llu)\n", "cross-household probes",
              static_cast<unsigned long long>(totals::get(t.probes)),
              static_cast<unsigned long long>(totals::get(t.probes_refused)));
  std::printf("  refusals by reason:");
  for (std::size_t i = 0; i < refusals.size(); ++i) {
    if (refusals[i] == 0 || static_cast<si::refusal>(i) == si::refusal::empty) continue;
    const auto name = si::to_string(static_cast<si::refusal>(i));
    std::printf(" %.*s %llu", static_cast<int>(name.size()), name.data(),
                static_cast<unsigned long long>(refusals[i]));
  }
  std::printf("\n");
  std::printf("  %-34s %s\n", "counts add up",
              (jitter_adds_up && conservation == 0)
                  ? "yes (jitter: received = released + discarded + flushed + held; "
                    "viewers: delivered + reported = published)"
                  : "NO");
  std::printf("  %-34s %12llu   (torn or corrupt: %llu)\n", "cross-owner deliveries",
              static_cast<unsigned long long>(cross), static_cast<unsigned long long>(torn));

  if (cross != 0 || torn != 0) {
    std::printf("FAIL: a delivery crossed owners or was torn\n");
    return exit_crossed;
  }
  if (!jitter_adds_up || conservation != 0) {
    std::printf("FAIL: counts do not add up (%llu viewer mismatches)\n",
                static_cast<unsigned long long>(conservation));
    return exit_crossed;
  }
  if (delivered == 0) {
    std::printf("nothing was delivered: the network or the run was too poor to show anything\n");
    return exit_nothing_delivered;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  example::cli cli(
      "camera_hub",
      "A multi-tenant camera relay under a degraded network; every viewer checks every byte.",
      exit_codes_help);
  cli.add("cameras", "cameras", &o.cameras, 1, max_cameras, true);
  cli.add("viewers", "viewers per camera (app, smart display, recorder, ...)", &o.viewers, 1, 16,
          true);
  cli.add("households", "households the cameras belong to (at most --cameras)", &o.households, 1,
          max_cameras, true);
  cli.add("seconds", "wall-clock seconds to run", &o.seconds, 0.2, 3600, false);
  cli.add("loss", "packet loss, percent (part of it bursty)", &o.loss, 0, 50, false);
  cli.add("jitter-ms", "network jitter, milliseconds", &o.jitter_ms, 0, 1000, false);
  cli.add(
      "reconnects",
      "reconnect storms (every camera reconnects), spread evenly over each min(--seconds, 10) s",
      &o.reconnects, 0, 100, true);
  cli.add("seed", "seed of the simulated networks", &o.seed, 0, 1e15, true);
  cli.add("threads", "worker threads (a third ingest, the rest viewers)", &o.threads, 2, 64, true);
  if (const auto code = cli.exit_code(argc, argv)) return *code;
  if (o.households > o.cameras) {
    return cli.refuse("--households " + std::to_string(static_cast<unsigned>(o.households)) +
                      " exceeds --cameras " + std::to_string(static_cast<unsigned>(o.cameras)));
  }
  if (cli.dry_run()) {
    cli.print_values(stdout);
    return 0;
  }
  try {
    return run(o);
  } catch (const std::exception& e) {  // a configuration the components refused to build
    return cli.refuse(std::string("cannot run this configuration: ") + e.what());
  }
}
